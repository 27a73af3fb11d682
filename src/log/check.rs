//! The event log's part of the integrity check, modelled on `PRAGMA integrity_check`:
//! every key and value of the log's trees is decoded and compared with what it refers to,
//! and every record of every batch is decoded with the parser the readers use, so that
//! whatever a reader would refuse, `check` reports first.
//!
//! - `log.meta`: the counters have their sizes, the catalog version and the leader epoch can
//!   still rise, and the next topic id is above every topic's.
//! - `log.topics`: 4-byte keys equal to the id of metadata that decodes; unique names.
//! - `log.partitions`, `log.segments`, `log.offsets`, `log.times`: keys of their length that
//!   name a partition of an existing topic, and values that decode. Every partition has a
//!   state. Segments lie inside the file; each is a data extent of its size that no other
//!   segment holds, and every data extent is a segment's.
//! - Per partition: the batches (framing, CRC, every record) rise strictly to the log end,
//!   and only the first segment holds records below the log start (it must still end at or
//!   above it); the state's end, log start, counts, active base, largest
//!   timestamp and index positions agree with the segments; every offset-index entry names
//!   the batch that starts at its offset; time-index entries name offsets below the end,
//!   rising with their timestamps.
//!
//! Segments are read a chunk at a time, so memory stays bounded whatever their sizes say.
//! What the check holds is per topic, partition and segment, never per batch or index
//! entry: the index trees are read alongside the partitions (`check_index.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::check_index::{Cursor, OffsetIndex, PartitionId, error_problem};
use super::compact::for_each_batch;
use super::meta::{
    IndexEntry, PartitionState, Segment, TREE_OFFSETS, TREE_PARTITIONS, TREE_SEGMENTS, TREE_TIMES,
    decode_time_entry, split_offset_key, split_partition_key, time_from_suffix,
};
use crate::catalog::{TREE_TOPICS, TopicMeta, split_topic_key};
use crate::counters;
use crate::engine::{CheckReport, Problem, ReadTransaction};
use crate::error::{Error, PageId};
use crate::kafka::batch::BatchHeader;
use crate::kafka::records::for_each_record;

/// Checks the log's trees and every partition of every topic, adding problems to `report`.
pub(crate) fn check_partitions(read: &ReadTransaction, report: &mut CheckReport) {
    let mut log = LogCheck {
        read,
        problems: Vec::new(),
        topics: BTreeMap::new(),
        bad_topics: BTreeSet::new(),
        damaged: BTreeSet::new(),
    };
    let next_topic_id = log.meta();
    log.topics(next_topic_id);
    let states = log.states();
    let segments = log.segments();
    log.extents(&segments);
    let mut offsets = Cursor::open(read, TREE_OFFSETS);
    let mut times = Cursor::open(read, TREE_TIMES);
    // Topics by id and partitions in order: the order of the index trees' keys.
    let topics: Vec<TopicMeta> = log.topics.values().cloned().collect();
    for topic in &topics {
        for partition in 0..topic.partitions {
            let id = (topic.id, partition);
            log.skip_to(&mut offsets, Some(id));
            log.skip_to(&mut times, Some(id));
            let name = format!("{}/{partition}", topic.name);
            let Some(state) = states.get(&id) else {
                log.decode_only(&mut offsets, id, &name);
                log.decode_only(&mut times, id, &name);
                continue;
            };
            let partition = Partition {
                id,
                name: &name,
                state,
                segments: segments.get(&id).map_or(&[], Vec::as_slice),
                damaged: log.damaged.contains(&id),
            };
            log.partition(&partition, &mut offsets, &mut times);
        }
    }
    for cursor in [&mut offsets, &mut times] {
        log.skip_to(cursor, None);
        log.problems.append(&mut cursor.problems);
    }
    report.problems.extend(log.problems);
}

/// The check's state: the snapshot, what was found so far, and the problems.
struct LogCheck<'r> {
    read: &'r ReadTransaction,
    problems: Vec<Problem>,
    /// The topics whose metadata decodes, by id.
    topics: BTreeMap<u32, TopicMeta>,
    /// Topic ids whose metadata does not decode: their entries are not reported again.
    bad_topics: BTreeSet<u32>,
    /// Partitions with an entry that does not decode: their counts are not compared.
    damaged: BTreeSet<PartitionId>,
}

/// One partition's entries, gathered from the log's trees (its index entries are read
/// as it is checked).
struct Partition<'p> {
    id: PartitionId,
    name: &'p str,
    state: &'p PartitionState,
    segments: &'p [(u64, Segment)],
    damaged: bool,
}

/// What the batches of a partition showed, segment after segment.
#[derive(Debug, Default)]
struct Batches {
    /// One past the last offset of the last batch read.
    next: Option<u64>,
    /// A segment's batches could not all be read.
    broken: bool,
}

impl LogCheck<'_> {
    fn problem(&mut self, page: Option<PageId>, message: String) {
        self.problems.push(Problem { page, message });
    }

    /// Reports an error met while reading, naming its page.
    fn error(&mut self, context: &str, err: &Error) {
        self.problems.push(error_problem(context, err));
    }

    /// Calls `visit` with every entry of `tree`. An entry that cannot be read ends the walk
    /// (the engine's check names the damaged page).
    fn walk(&mut self, tree: &'static str, mut visit: impl FnMut(&mut Self, Vec<u8>, Vec<u8>)) {
        let read = self.read;
        let entries = match read.range(tree, ..) {
            Ok(entries) => entries,
            Err(e) => return self.error(tree, &e),
        };
        for item in entries {
            match item {
                Ok((key, value)) => visit(self, key, value),
                Err(e) => return self.error(tree, &e),
            }
        }
    }

    /// `log.meta`: the counters decode, and the catalog version can still rise. Returns
    /// the next topic id (1 when absent), or `None` if it does not decode.
    fn meta(&mut self) -> Option<u32> {
        let read = self.read;
        let next_topic_id = match counters::next_topic_id(read) {
            Ok(next) => Some(next.unwrap_or(1)),
            Err(e) => {
                self.error("next-topic-id", &e);
                None
            }
        };
        match counters::catalog_version(read) {
            Ok(u64::MAX) => self.problem(
                None,
                "catalog-version is at its largest value: no topic can change".to_owned(),
            ),
            Ok(_) => {}
            Err(e) => self.error("catalog-version", &e),
        }
        match counters::leader_epoch(read) {
            Ok(i32::MAX) => self.problem(
                None,
                "leader-epoch is at its largest value: it cannot rise after a rollback".to_owned(),
            ),
            Ok(_) => {}
            Err(e) => self.error("leader-epoch", &e),
        }
        next_topic_id
    }

    /// `log.topics`: keys, metadata, ids and names.
    fn topics(&mut self, next_topic_id: Option<u32>) {
        let mut names: BTreeMap<String, u32> = BTreeMap::new();
        self.walk(TREE_TOPICS, |log, key, value| {
            let id = match split_topic_key(&key) {
                Ok(id) => id,
                Err(e) => return log.error(TREE_TOPICS, &e),
            };
            let meta = match TopicMeta::decode(&value) {
                Ok(meta) => meta,
                Err(e) => {
                    log.bad_topics.insert(id);
                    return log.error(&format!("topic id {id}"), &e);
                }
            };
            if meta.id != id {
                log.problem(
                    None,
                    format!(
                        "topic {}: key names id {id}, metadata id {}",
                        meta.name, meta.id
                    ),
                );
            }
            if next_topic_id.is_some_and(|next| id >= next) {
                log.problem(
                    None,
                    format!("topic {}: id {id} is not below next-topic-id", meta.name),
                );
            }
            if let Some(other) = names.insert(meta.name.clone(), id) {
                log.problem(
                    None,
                    format!("topic {}: ids {other} and {id} share the name", meta.name),
                );
            }
            log.topics.insert(id, meta);
        });
    }

    /// The partition an entry of `tree` belongs to, if it exists; otherwise reports the
    /// entry (unless its topic's metadata was reported already).
    fn owner(&mut self, tree: &str, id: PartitionId) -> Option<PartitionId> {
        let (topic_id, partition) = id;
        match self.topics.get(&topic_id) {
            Some(topic) if partition < topic.partitions => Some(id),
            _ if self.bad_topics.contains(&topic_id) => None,
            _ => {
                self.problem(
                    None,
                    format!("{tree}: entry of topic id {topic_id} partition {partition}, which does not exist"),
                );
                None
            }
        }
    }

    /// `log.partitions`: every partition's state, and no state of another.
    fn states(&mut self) -> BTreeMap<PartitionId, PartitionState> {
        let mut states = BTreeMap::new();
        self.walk(TREE_PARTITIONS, |log, key, value| {
            let id = match split_partition_key(TREE_PARTITIONS, &key) {
                Ok(id) => id,
                Err(e) => return log.error(TREE_PARTITIONS, &e),
            };
            let Some(id) = log.owner(TREE_PARTITIONS, id) else {
                return;
            };
            match PartitionState::decode(&value) {
                Ok(state) => {
                    states.insert(id, state);
                }
                Err(e) => {
                    log.damaged.insert(id);
                    let name = log.partition_name(id);
                    log.error(&name, &e);
                }
            }
        });
        let missing: Vec<PartitionId> = self
            .topics
            .values()
            .flat_map(|t| (0..t.partitions).map(move |p| (t.id, p)))
            .filter(|id| !states.contains_key(id))
            .collect();
        for id in missing {
            let name = self.partition_name(id);
            if !self.damaged.contains(&id) {
                self.problem(None, format!("{name}: partition state missing"));
            }
        }
        states
    }

    /// `log.segments`: every segment by partition, in offset order.
    fn segments(&mut self) -> BTreeMap<PartitionId, Vec<(u64, Segment)>> {
        let bounds = self.read.bounds();
        let mut segments: BTreeMap<PartitionId, Vec<(u64, Segment)>> = BTreeMap::new();
        self.walk(TREE_SEGMENTS, |log, key, value| {
            let (topic_id, partition, base) = match split_offset_key(TREE_SEGMENTS, &key) {
                Ok(parts) => parts,
                Err(e) => return log.error(TREE_SEGMENTS, &e),
            };
            let Some(id) = log.owner(TREE_SEGMENTS, (topic_id, partition)) else {
                return;
            };
            match Segment::decode(&value, bounds) {
                Ok(seg) => segments.entry(id).or_default().push((base, seg)),
                Err(e) => {
                    log.damaged.insert(id);
                    let name = log.partition_name(id);
                    log.error(&format!("{name}: segment {base}"), &e);
                }
            }
        });
        segments
    }

    /// Reports the entries of `cursor` before partition `id` (to the end for `None`): they
    /// belong to partitions that do not exist, as every partition before `id` is checked.
    fn skip_to(&mut self, cursor: &mut Cursor<'_>, id: Option<PartitionId>) {
        while let Some(next) = cursor.peek() {
            if id.is_some_and(|id| next >= id) {
                return;
            }
            cursor.take();
            self.owner(cursor.tree, next);
        }
    }

    /// Decodes the index entries of a partition without a state, reporting values that
    /// do not decode; nothing else can be compared.
    fn decode_only(&mut self, cursor: &mut Cursor<'_>, id: PartitionId, name: &str) {
        while let Some((suffix, value)) = cursor.take_of(id) {
            let result = if cursor.tree == TREE_TIMES {
                decode_time_entry(&value).map(|_| ())
            } else {
                IndexEntry::decode(&value).map(|_| ())
            };
            if let Err(e) = result {
                let context = if cursor.tree == TREE_TIMES {
                    format!("{name}: time index entry for {}", time_from_suffix(suffix))
                } else {
                    format!("{name}: offset index entry for {suffix}")
                };
                self.error(&context, &e);
            }
        }
    }

    /// Every segment is a data extent of its size, held by no other segment, and every
    /// data extent is a segment's.
    fn extents(&mut self, segments: &BTreeMap<PartitionId, Vec<(u64, Segment)>>) {
        let extents = match self.read.extents() {
            Ok(extents) => extents,
            Err(e) => return self.error("data extents", &e),
        };
        let mut unclaimed: HashMap<u32, u32> = extents
            .into_iter()
            .map(|(first, count)| (first.0, count))
            .collect();
        // The segment that claimed each extent, named only when a problem needs it.
        let mut claimed: HashMap<u32, (PartitionId, u64)> = HashMap::new();
        for (&id, list) in segments {
            for (base, seg) in list {
                let name = |log: &Self| format!("{}: segment {base}", log.partition_name(id));
                let page = Some(PageId(seg.first_page));
                if let Some(&(other_id, other_base)) = claimed.get(&seg.first_page) {
                    let other = self.partition_name(other_id);
                    let message = format!(
                        "{}: its extent is also {other}: segment {other_base}'s",
                        name(self)
                    );
                    self.problem(page, message);
                    continue;
                }
                match unclaimed.remove(&seg.first_page) {
                    None => self.problem(page, format!("{}: not a data extent", name(self))),
                    Some(count) if count != seg.page_count => self.problem(
                        page,
                        format!(
                            "{}: names {} pages, its data extent has {count}",
                            name(self),
                            seg.page_count
                        ),
                    ),
                    Some(_) => {}
                }
                claimed.insert(seg.first_page, (id, *base));
            }
        }
        let mut leaked: Vec<(u32, u32)> = unclaimed.into_iter().collect();
        leaked.sort_unstable();
        for (first, count) in leaked {
            self.problem(
                Some(PageId(first)),
                format!("data extent of {count} pages belongs to no segment"),
            );
        }
    }

    fn partition_name(&self, (topic_id, partition): PartitionId) -> String {
        match self.topics.get(&topic_id) {
            Some(topic) => format!("{}/{partition}", topic.name),
            None => format!("topic id {topic_id}/{partition}"),
        }
    }

    /// One partition: its batches, and its state and indexes against them.
    fn partition(&mut self, p: &Partition<'_>, offsets: &mut Cursor<'_>, times: &mut Cursor<'_>) {
        let (name, state) = (p.name, p.state);
        let mut index = OffsetIndex::new(offsets, p.id, name, state.log_start, state.next_offset);
        let mut batches = Batches::default();
        let mut bytes_total = 0u64;
        for (base, seg) in p.segments {
            bytes_total = bytes_total.saturating_add(u64::from(seg.bytes_used));
            self.segment(name, *base, seg, &mut batches, &mut index);
            if seg.timestamp_max > state.timestamp_max {
                self.problem(
                    Some(PageId(seg.first_page)),
                    format!(
                        "{name}: segment {base} holds timestamp {}, above the partition's \
                         largest {}",
                        seg.timestamp_max, state.timestamp_max
                    ),
                );
            }
        }
        if !p.damaged && !batches.broken {
            self.state_against_batches(p, &batches, bytes_total);
        }
        self.problems.extend(index.finish());
        self.times(p, times);
    }

    /// Reads and decodes every batch of one segment.
    fn segment(
        &mut self,
        name: &str,
        base: u64,
        seg: &Segment,
        batches: &mut Batches,
        index: &mut OffsetIndex<'_, '_>,
    ) {
        let read = self.read;
        let reader = |first: PageId, at: u64, buf: &mut [u8]| read.read_data(first, at, buf);
        let page_size = read.page_size();
        // Inside the extent, which lies inside the file: no overflow.
        let page_at = |pos: u32| PageId(seg.first_page + pos / page_size);
        let mut problems: Vec<Problem> = Vec::new();
        let mut found = |page: PageId, message: String| {
            problems.push(Problem {
                page: Some(page),
                message: format!("{name}: segment {base}: {message}"),
            });
        };
        let mut timestamp_max = i64::MIN;
        let mut last = None;
        let result = for_each_batch(&reader, seg, |pos, bytes| {
            // The CRC, the header and every record, exactly as readers decode them.
            let header = for_each_record(bytes, |_, _| {})?;
            let page = page_at(pos);
            let first_in_segment = last.is_none();
            for message in batch_problems(&header, base, pos, first_in_segment, batches, index) {
                found(page, message);
            }
            // A parsed header's last offset is a Kafka offset: no overflow.
            batches.next = Some(header.offset_last() + 1);
            timestamp_max = timestamp_max.max(header.timestamp_max_ms);
            last = Some(header.offset_last());
            Ok(())
        });
        if let Err(e) = result {
            batches.broken = true;
            let page = match &e {
                Error::Corrupt { page, .. } => *page,
                _ => None,
            };
            found(page.unwrap_or(PageId(seg.first_page)), e.to_string());
        }
        for message in segment_end_problems(seg, last, timestamp_max, batches.broken) {
            found(PageId(seg.first_page), message);
        }
        self.problems.extend(problems);
    }

    /// The partition state against what its segments hold.
    fn state_against_batches(&mut self, p: &Partition<'_>, batches: &Batches, bytes_total: u64) {
        let (name, state) = (p.name, p.state);
        let segment_count = u32::try_from(p.segments.len()).unwrap_or(u32::MAX);
        if segment_count != state.segment_count || bytes_total != state.bytes_total {
            self.problem(
                None,
                format!(
                    "{name}: partition state counts {} segments / {} bytes, found \
                     {segment_count} / {bytes_total}",
                    state.segment_count, state.bytes_total
                ),
            );
        }
        match batches.next {
            Some(next) if next != state.next_offset => self.problem(
                None,
                format!(
                    "{name}: batches end at offset {next}, partition end is {}",
                    state.next_offset
                ),
            ),
            None if state.log_start != state.next_offset => self.problem(
                None,
                format!(
                    "{name}: holds no batch but its offsets run {}..{}",
                    state.log_start, state.next_offset
                ),
            ),
            _ => {}
        }
        // Records below the log start (moved by `DeleteRecords`) may stay in the first
        // segment only: a segment wholly below it is dropped in the same commit.
        if let Some((base, first)) = p.segments.first()
            && first.offset_last < state.log_start
        {
            self.problem(
                Some(PageId(first.first_page)),
                format!(
                    "{name}: segment {base} ends at offset {}, below the log start {}",
                    first.offset_last, state.log_start
                ),
            );
        }
        if let Some((base, active)) = p.segments.last() {
            if *base != state.active_base {
                self.problem(
                    None,
                    format!(
                        "{name}: the last segment is {base}, the state's active segment {}",
                        state.active_base
                    ),
                );
            }
            if state.indexed_pos > active.bytes_used || state.timed_pos > active.bytes_used {
                self.problem(
                    None,
                    format!(
                        "{name}: index positions {} / {} lie past the active segment's {} bytes",
                        state.indexed_pos, state.timed_pos, active.bytes_used
                    ),
                );
            }
        }
    }

    /// Time-index entries: offsets below the end, rising with their timestamps.
    fn times(&mut self, p: &Partition<'_>, times: &mut Cursor<'_>) {
        let (name, state) = (p.name, p.state);
        let mut previous: Option<u64> = None;
        while let Some((suffix, value)) = times.take_of(p.id) {
            let timestamp = time_from_suffix(suffix);
            let offset = match decode_time_entry(&value) {
                Ok(offset) => offset,
                Err(e) => {
                    self.error(&format!("{name}: time index entry for {timestamp}"), &e);
                    continue;
                }
            };
            if offset >= state.next_offset {
                self.problem(
                    None,
                    format!(
                        "{name}: time index entry for {timestamp} names offset {offset}, past \
                         the end {}",
                        state.next_offset
                    ),
                );
            }
            if previous.is_some_and(|p| offset <= p) {
                self.problem(
                    None,
                    format!(
                        "{name}: time index entry for {timestamp} names offset {offset}, not \
                         above the entry before"
                    ),
                );
            }
            previous = Some(offset);
        }
    }
}

/// What is wrong with one batch (its decoded `header`, at byte `pos` of the segment at
/// `base`) against the batches read before it and the offset index, whose entries up to
/// the batch's offset are consumed. `first_in_segment` says no batch of this segment came before.
fn batch_problems(
    header: &BatchHeader,
    base: u64,
    pos: u32,
    first_in_segment: bool,
    batches: &Batches,
    index: &mut OffsetIndex<'_, '_>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if first_in_segment && header.offset_base < base {
        problems.push(format!(
            "first batch offset {} is below the segment's base",
            header.offset_base
        ));
    }
    if let Some(next) = batches.next
        && header.offset_base < next
    {
        problems.push(format!(
            "batch offset {} does not rise above {}",
            header.offset_base,
            next - 1
        ));
    }
    problems.extend(index.batch(base, pos, header.offset_base));
    problems
}

/// What is wrong with a segment's entry (its last offset and largest timestamp) against
/// its batches, once they are read: `last` is the last offset of the last batch and
/// `timestamp_max` the batches' largest timestamp. The last offset is compared only while
/// every batch could be read (`broken` is false).
fn segment_end_problems(
    seg: &Segment,
    last: Option<u64>,
    timestamp_max: i64,
    broken: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    match last {
        None if !broken => problems.push("holds no batch".to_owned()),
        Some(last) if !broken && last != seg.offset_last => problems.push(format!(
            "records offset_last {} but its batches end at {last}",
            seg.offset_last
        )),
        _ => {}
    }
    if timestamp_max > seg.timestamp_max {
        problems.push(format!(
            "records largest timestamp {} but holds a batch of {timestamp_max}",
            seg.timestamp_max
        ));
    }
    problems
}
