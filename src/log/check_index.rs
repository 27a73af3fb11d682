//! The log check's walk of the per-partition index trees (`log.offsets`, `log.times`):
//! each tree is read once, in key order, alongside the partitions in the same order, so
//! the check holds one entry at a time whatever the number of entries (an offset-index
//! entry per 4 KiB of batches would otherwise be a figure per data page).
//!
//! The offset index is compared with a partition's batches by merging two rising
//! sequences: entries by offset, batches as read. A healthy entry names the batch that
//! starts at its offset; anything else is reported when the merge passes it.

use super::meta::{IndexEntry, split_offset_key};
use crate::engine::{Entries, Problem, ReadTransaction};
use crate::error::Error;

/// A partition: topic id and partition number.
pub(super) type PartitionId = (u32, u32);

/// A problem about an error met while reading, naming its page.
pub(super) fn error_problem(context: &str, err: &Error) -> Problem {
    let page = match err {
        Error::Corrupt { page, .. } => *page,
        _ => None,
    };
    Problem {
        page,
        message: format!("{context}: {err}"),
    }
}

/// One per-partition tree, read in key order (topic id, partition, suffix).
pub(super) struct Cursor<'r> {
    pub(super) tree: &'static str,
    /// `None` once the walk ended or failed.
    entries: Option<Entries<'r>>,
    /// The next entry whose key splits: its partition, key suffix and value.
    next: Option<(PartitionId, u64, Vec<u8>)>,
    /// Keys that do not split, and a read error that ended the walk.
    pub(super) problems: Vec<Problem>,
}

impl<'r> Cursor<'r> {
    pub(super) fn open(read: &'r ReadTransaction, tree: &'static str) -> Self {
        let mut problems = Vec::new();
        let entries = match read.range(tree, ..) {
            Ok(entries) => Some(entries),
            Err(e) => {
                problems.push(error_problem(tree, &e));
                None
            }
        };
        Self {
            tree,
            entries,
            next: None,
            problems,
        }
    }

    /// The partition of the next entry; `None` at the end. An entry that cannot be read
    /// ends the walk (the engine's check names the damaged page).
    pub(super) fn peek(&mut self) -> Option<PartitionId> {
        while self.next.is_none() {
            match self.entries.as_mut()?.next() {
                None => self.entries = None,
                Some(Err(e)) => {
                    self.problems.push(error_problem(self.tree, &e));
                    self.entries = None;
                }
                Some(Ok((key, value))) => match split_offset_key(self.tree, &key) {
                    Ok((topic_id, partition, suffix)) => {
                        self.next = Some(((topic_id, partition), suffix, value));
                    }
                    Err(e) => self.problems.push(error_problem(self.tree, &e)),
                },
            }
        }
        self.next.as_ref().map(|(id, _, _)| *id)
    }

    /// Takes the next entry: its partition, key suffix and value.
    pub(super) fn take(&mut self) -> Option<(PartitionId, u64, Vec<u8>)> {
        self.peek()?;
        self.next.take()
    }

    /// Takes the next entry if it is partition `id`'s: its key suffix and value.
    pub(super) fn take_of(&mut self, id: PartitionId) -> Option<(u64, Vec<u8>)> {
        if self.peek()? != id {
            return None;
        }
        self.take().map(|(_, suffix, value)| (suffix, value))
    }
}

/// One partition's offset index, merged with its batches as the check reads them.
pub(super) struct OffsetIndex<'c, 'r> {
    cursor: &'c mut Cursor<'r>,
    id: PartitionId,
    name: &'c str,
    /// The partition's offsets: log start and end.
    log_start: u64,
    next_offset: u64,
    /// An entry read ahead: its offset is past the batch the merge is at.
    ahead: Option<(u64, IndexEntry)>,
    /// The batch the entry before named: segment base and position.
    last_named: Option<(u64, u32)>,
    /// Problems of entries alone: values that do not decode, offsets out of range.
    problems: Vec<Problem>,
}

impl<'c, 'r> OffsetIndex<'c, 'r> {
    pub(super) fn new(
        cursor: &'c mut Cursor<'r>,
        id: PartitionId,
        name: &'c str,
        log_start: u64,
        next_offset: u64,
    ) -> Self {
        Self {
            cursor,
            id,
            name,
            log_start,
            next_offset,
            ahead: None,
            last_named: None,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, message: &str) {
        self.problems.push(Problem {
            page: None,
            message: format!("{}: {message}", self.name),
        });
    }

    /// The next entry of the partition whose value decodes and that names another batch
    /// than the entry before; reports those that do not.
    fn pull(&mut self) -> Option<(u64, IndexEntry)> {
        if let Some(ahead) = self.ahead.take() {
            return Some(ahead);
        }
        loop {
            let (offset, value) = self.cursor.take_of(self.id)?;
            let entry = match IndexEntry::decode(&value) {
                Ok(entry) => entry,
                Err(e) => {
                    let context = format!("{}: offset index entry for {offset}", self.name);
                    self.problems.push(error_problem(&context, &e));
                    continue;
                }
            };
            if offset < self.log_start || offset >= self.next_offset {
                self.problem(&format!(
                    "offset index entry for {offset} lies outside the offsets {}..{}",
                    self.log_start, self.next_offset
                ));
            }
            let named = (entry.segment_base, entry.position);
            if self.last_named == Some(named) {
                self.problem(&format!(
                    "two offset index entries name the batch of {offset}"
                ));
                continue;
            }
            self.last_named = Some(named);
            return Some((offset, entry));
        }
    }

    /// The batch at byte `pos` of the segment at `base` starts at `offset_base`: what is
    /// wrong with the entries up to its offset (offsets rise batch after batch).
    pub(super) fn batch(&mut self, base: u64, pos: u32, offset_base: u64) -> Vec<String> {
        let mut problems = Vec::new();
        while let Some((offset, entry)) = self.pull() {
            let names_it = (entry.segment_base, entry.position) == (base, pos);
            if offset > offset_base {
                self.ahead = Some((offset, entry));
                break;
            }
            if offset < offset_base && names_it {
                problems.push(format!(
                    "offset index entry for {offset} names the batch at byte {pos}, which \
                     starts at {offset_base}"
                ));
            } else if offset < offset_base {
                problems.push(format!(
                    "offset index entry for {offset} points at no batch"
                ));
            } else if !names_it {
                problems.push(format!(
                    "offset index entry for {offset} names byte {} of segment {}, but its \
                     batch is at byte {pos}",
                    entry.position, entry.segment_base
                ));
            }
            if offset == offset_base {
                break;
            }
        }
        problems
    }

    /// Ends the merge once every batch is read: the entries left point at no batch.
    /// Returns every problem of the partition's entries found outside a batch.
    pub(super) fn finish(mut self) -> Vec<Problem> {
        while let Some((offset, _)) = self.pull() {
            self.problem(&format!(
                "offset index entry for {offset} points at no batch"
            ));
        }
        self.problems
    }
}
