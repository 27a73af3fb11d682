//! The whole-file integrity check (contract item 15): every page in `2..page_count` is
//! reachable exactly once or free, every checksum verifies, every B-tree is ordered and
//! well formed, and the last commit's journal window matches the pages on disk.
//!
//! The check reads one pinned snapshot ([`Engine::begin_read_pinned`]): writers in every
//! process go on, but none reuses or cuts a page the snapshot can reach until it ends.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use super::Engine;
use super::ReadTransaction;
use super::txn::{EXTENTS_TREE, decode_extent_key, decode_extent_len, decode_root};
use crate::btree::{self, PageUse};
use crate::error::{Error, PageId, Result};
use crate::page::BlobPtr;
use crate::page::slot::Journal;
use crate::pager::{Pager, ReadTxn};

/// One problem found by [`Admin::check`](crate::Admin::check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The page concerned, where one is known.
    pub page: Option<PageId>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.page {
            Some(p) => write!(f, "{p}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

/// What [`Admin::check`](crate::Admin::check) found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The file's page size.
    pub page_size: u32,
    /// The committed page count (pages `0..page_count` are in use or free).
    pub page_count: u32,
    /// The commit that was checked.
    pub txn: u64,
    /// Pages by what holds them: `header`, `branch`, `leaf`, `overflow`, `free-list`,
    /// `journal`, `free`.
    pub pages_by_kind: BTreeMap<&'static str, u64>,
    /// Number of named trees.
    pub tree_count: u64,
    /// Number of entries across all named trees.
    pub entry_count: u64,
    /// Everything found wrong. Empty for a clean file.
    pub problems: Vec<Problem>,
    /// What recovery did when the file was opened by this handle (see
    /// [`Brooklet::recovery_report`](crate::Brooklet::recovery_report)): not problems of the file as it is now, but commits
    /// that were lost before it.
    pub recovery: crate::RecoveryReport,
}

impl CheckReport {
    /// True when no problem was found.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Free pages in the file.
    #[must_use]
    pub fn free_pages(&self) -> u64 {
        self.pages_by_kind.get("free").copied().unwrap_or(0)
    }
}

/// Tracks which pages have been accounted for.
struct Marks {
    owner: Vec<Option<&'static str>>,
    report: CheckReport,
}

impl Marks {
    fn mark(&mut self, first: PageId, count: u32, kind: &'static str) {
        let end = u64::from(first.0) + u64::from(count);
        let page_count = self.owner.len() as u64;
        if end > page_count {
            // One problem for the whole run: a count read from disk may be near 2^32.
            self.problem(
                Some(first),
                format!(
                    "{kind} pages {}..{end} pass the end of the file ({page_count} pages)",
                    first.0
                ),
            );
        }
        for id in u64::from(first.0)..end.min(page_count) {
            let index = id as usize;
            if let Some(prev) = self.owner[index] {
                let page = PageId(u32::try_from(id).expect("below the page count"));
                self.problem(Some(page), format!("used twice: as {prev} and as {kind}"));
            } else {
                self.owner[index] = Some(kind);
                *self.report.pages_by_kind.entry(kind).or_insert(0) += 1;
            }
        }
    }

    fn problem(&mut self, page: Option<PageId>, message: String) {
        self.report.problems.push(Problem { page, message });
    }

    fn error(&mut self, err: &Error) {
        let page = match err {
            Error::Corrupt { page, .. } => *page,
            _ => None,
        };
        self.problem(page, err.to_string());
    }
}

impl Engine {
    /// Verifies the whole file and reports what it found; see [`CheckReport`].
    ///
    /// Returns `Err` only when the check itself cannot run (I/O error, busy writer);
    /// damage is reported in [`CheckReport::problems`].
    ///
    /// The check reads one pinned snapshot, so it sees one committed state while writers
    /// in other processes go on. Where the storage cannot pin for other processes
    /// ([`ReadTransaction::is_pinned`] is false), a check that found problems while the
    /// file moved on is run again, a few times, so that only problems of one committed
    /// state are reported.
    pub fn check(&self) -> Result<CheckReport> {
        self.check_with(|_, _| {})
    }

    /// [`Engine::check`], with `more` adding the checks of the layers above (the event
    /// log's partitions and groups) on the same pinned snapshot.
    pub(crate) fn check_with(
        &self,
        mut more: impl FnMut(&ReadTransaction, &mut CheckReport),
    ) -> Result<CheckReport> {
        const ATTEMPTS: usize = 4;
        let mut attempt = 0;
        loop {
            let read = self.begin_read_pinned()?;
            let mut report = check_snapshot(&self.pager, read.pager_txn());
            more(&read, &mut report);
            attempt += 1;
            if report.is_clean()
                || read.is_pinned()
                || attempt >= ATTEMPTS
                || self.latest_txn()? == read.txn_id()
            {
                return Ok(report);
            }
        }
    }
}

fn check_snapshot(pager: &Pager, read: &ReadTxn) -> CheckReport {
    let state = read.state();
    let slot = &state.slot;
    let mut marks = Marks {
        owner: vec![None; slot.page_count as usize],
        report: CheckReport {
            page_size: pager.page_size(),
            page_count: slot.page_count,
            txn: slot.txn.0,
            recovery: pager.recovery_report(),
            ..CheckReport::default()
        },
    };
    marks.mark(PageId(0), 2, "header");
    check_free_list(pager, read, &mut marks);
    check_journal(pager, read, &mut marks);
    check_tree(read, slot.master_root, &mut marks);
    for (name, root) in master_entries(read, &mut marks) {
        if name == EXTENTS_TREE {
            mark_extents(read, &root, &mut marks);
            continue;
        }
        marks.report.tree_count += 1;
        match decode_root(&root) {
            Ok(ptr) => {
                let entries = check_tree(read, Some(ptr), &mut marks);
                marks.report.entry_count += entries;
            }
            Err(e) => marks.problem(None, format!("tree {name:?}: bad root pointer: {e}")),
        }
    }
    // Pending data goes into data extents only.
    let page_size = u64::from(pager.page_size());
    for run in &slot.pending_data {
        for id in run.at / page_size..=(run.end() - 1) / page_size {
            let owner = usize::try_from(id)
                .ok()
                .and_then(|i| marks.owner.get(i))
                .copied();
            if owner != Some(Some("data")) {
                let page = PageId(u32::try_from(id).unwrap_or(u32::MAX));
                marks.problem(
                    Some(page),
                    "pending data in the slot for a page outside every data extent".to_owned(),
                );
            }
        }
    }
    let leaked: Vec<usize> = marks
        .owner
        .iter()
        .enumerate()
        .filter(|(_, o)| o.is_none())
        .map(|(i, _)| i)
        .collect();
    for id in leaked {
        let page = PageId(u32::try_from(id).expect("page index fits u32"));
        marks.problem(Some(page), "neither reachable nor free".to_owned());
    }
    marks.report
}

/// Walks one tree, marking its pages and recording its problems; returns its entry count.
fn check_tree(read: &ReadTxn, root: Option<crate::page::NodePtr>, marks: &mut Marks) -> u64 {
    let mut problems = Vec::new();
    let stats = btree::check_tree(
        read,
        root,
        &mut |page, count, usage| {
            let kind = match usage {
                PageUse::Leaf => "leaf",
                PageUse::Branch => "branch",
                PageUse::Blob => "overflow",
            };
            marks.mark(page, count, kind);
        },
        &mut problems,
    );
    for p in &problems {
        marks.error(p);
    }
    stats.entries
}

/// The master tree's entries: tree names and encoded roots.
fn master_entries(read: &ReadTxn, marks: &mut Marks) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let all: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Unbounded);
    for item in btree::range(read, read.master_root(), all) {
        match item {
            Ok((name, value)) => out.push((String::from_utf8_lossy(&name).into_owned(), value)),
            Err(e) => {
                marks.error(&e);
                break;
            }
        }
    }
    out
}

/// Walks the extents tree and marks every data extent.
fn mark_extents(read: &ReadTxn, root: &[u8], marks: &mut Marks) {
    let root = match decode_root(root) {
        Ok(root) => root,
        Err(e) => return marks.error(&e),
    };
    check_tree(read, Some(root), marks);
    let all: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Unbounded);
    for item in btree::range(read, Some(root), all) {
        let parsed = item.and_then(|(key, value)| {
            let first = decode_extent_key(&key)?;
            Ok((first, decode_extent_len(&value, first)?))
        });
        match parsed {
            Ok((first, count)) => marks.mark(first, count, "data"),
            Err(e) => {
                marks.error(&e);
                break;
            }
        }
    }
}

fn check_free_list(pager: &Pager, read: &ReadTxn, marks: &mut Marks) {
    let slot = &read.state().slot;
    if let Some(ptr) = slot.freelist {
        mark_blob(ptr, "free-list", marks);
    }
    match pager.load_free_list(slot) {
        Ok(extents) => {
            for e in extents {
                marks.mark(PageId(e.first), e.count, "free");
            }
        }
        Err(e) => marks.error(&e),
    }
}

fn check_journal(pager: &Pager, read: &ReadTxn, marks: &mut Marks) {
    let slot = &read.state().slot;
    if let Journal::Blob { ptr, .. } = slot.journal {
        mark_blob(ptr, "journal", marks);
    }
    match pager.window_nodes(slot) {
        Ok(nodes) => {
            for (node, _) in nodes {
                mark_blob(node, "journal", marks);
            }
        }
        Err(e) => return marks.error(&e),
    }
    match pager.entries_to_verify(slot) {
        Ok(entries) => {
            for entry in entries {
                if let Err(e) = pager.check_journal_entry(entry, slot.page_count) {
                    marks.error(&e);
                }
            }
        }
        Err(e) => marks.error(&e),
    }
}

fn mark_blob(ptr: BlobPtr, kind: &'static str, marks: &mut Marks) {
    marks.mark(ptr.first, ptr.page_count, kind);
}
