//! Compaction (Kafka's log cleaner): in a topic with `cleanup.policy` `compact` or
//! `compact,delete`, only the latest record of each key is kept, and tombstones (null
//! values) go once they are older than `delete.retention.ms`.
//!
//! A pass over a partition has two halves:
//! 1. [`plan`] reads a snapshot, without the writer lock. The *cleanable* segments are every
//!    segment before the active (last) one, up to the first whose newest record is younger
//!    than `min.compaction.lag.ms`. It maps each key to its latest offset among them, then
//!    groups them into *runs*: consecutive segments whose kept bytes fit one segment of
//!    `segment.bytes` and whose input is at most [`RUN_INPUT_FACTOR`] segments' worth.
//! 2. [`apply_run`], once per run in offset order, each in its own write transaction:
//!    checks that the run's segments are unchanged, copies their kept records into one new
//!    extent, frees the old extents and rewrites the run's offset-index entries. Readers see
//!    the old segments or the new one, never a mix; a crash loses nothing.
//!
//! Kept records keep their offsets, timestamps, keys, values and headers byte for byte;
//! batches keep their base offset and last offset delta, as Kafka's cleaner writes them
//! (see [`filter_batch`]). The active segment is never touched, and neither are the
//! records of keys superseded only in it. Records without a key are kept.
//!
//! Runs are applied in offset order and a pass stops at the first run that changed under
//! it, so a tombstone is never removed while an older value of its key survives in an
//! earlier segment.

use std::collections::HashMap;
use std::ops::Range;

use super::meta::INDEX_INTERVAL;
use super::meta::{
    IndexEntry, PartitionState, Segment, TREE_OFFSETS, TREE_PARTITIONS, TREE_SEGMENTS, key_suffix,
    offset_key, partition_key,
};
use super::producers::{Aborted, is_aborted};
use crate::catalog::TopicMeta;
use crate::engine::{TreeRead, WriteTransaction};
use crate::error::{Error, PageId, Result};
use crate::kafka::RecordRef;
use crate::kafka::batch::{BATCH_HEADER_SIZE, BatchHeader};
use crate::kafka::records::{filter_batch, for_each_record};

/// A run reads at most this many times `segment.bytes` of input.
pub(crate) const RUN_INPUT_FACTOR: u64 = 4;
/// Bytes read from a segment at a time.
const READ_CHUNK: usize = 256 << 10;

/// Reads bytes of a data extent: `(first page, byte offset, buffer)`.
pub(crate) type ReadData<'a> = &'a dyn Fn(PageId, u64, &mut [u8]) -> Result<()>;

/// The segments of a compaction pass and what to do with them.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The cleanable segments, in offset order.
    segments: Vec<(u64, Segment)>,
    /// Each key's latest offset among them.
    latest: HashMap<Vec<u8>, u64>,
    /// The partition's aborted transactions, whose batches are dropped.
    aborted: Vec<Aborted>,
    /// Tombstones older than this (and not superseded) are removed.
    horizon_ms: i64,
    /// The partition's log start when planned: records below it are removed.
    log_start: u64,
    /// Runs of `segments` to rewrite, in offset order.
    pub runs: Vec<Range<usize>>,
    /// When a pass could next remove more, if nothing is appended: the first tombstone
    /// expiry or the first segment leaving the compaction lag. `i64::MAX` if never.
    pub due_ms: i64,
    /// The cleanable segments' identity, to tell whether they changed since.
    pub fingerprint: Vec<(u64, u32, u32)>,
    /// Bytes of batches in the planned segments.
    pub bytes_cleanable: u64,
    /// Bytes of batches a pass over them would keep.
    pub bytes_kept: u64,
}

#[cfg(test)]
impl Plan {
    /// A plan with nothing to apply and these sizes.
    pub(crate) fn sizes_only(bytes_cleanable: u64, bytes_kept: u64) -> Self {
        Self {
            segments: Vec::new(),
            latest: HashMap::new(),
            aborted: Vec::new(),
            horizon_ms: i64::MIN,
            log_start: 0,
            runs: Vec::new(),
            due_ms: i64::MAX,
            fingerprint: Vec::new(),
            bytes_cleanable,
            bytes_kept,
        }
    }
}

/// What one applied run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunDone {
    /// Segments replaced.
    pub segments: u64,
    /// Records removed.
    pub records_removed: u64,
    /// Bytes of batches before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// A partition's cleanable segments as last found clean, and the time until which nothing
/// more can be removed from them (see [`Plan::fingerprint`] and [`Plan::due_ms`]).
pub(crate) type KnownClean = (Vec<(u64, u32, u32)>, i64);

/// Which of a partition's cleanable segments a pass plans over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// All of them.
    All,
    /// The newest of them whose bytes add up to at most this many: a bounded pass. Unless
    /// that is all of them, the pass keeps every tombstone, since an older value of its
    /// key may survive in a segment before the window.
    Newest(u64),
}

/// Reads the cleanable segments of one partition (or the newest of them, see [`Scope`])
/// and plans a pass over them. `None` if
/// the topic is not compacted, the partition has nothing but its active segment, or its
/// cleanable segments are still those of `known_clean` and its time has not come.
pub(crate) fn plan(
    read: &impl TreeRead,
    topic: &TopicMeta,
    partition: u32,
    now_ms: i64,
    known_clean: Option<&KnownClean>,
    scope: Scope,
) -> Result<Option<Plan>> {
    if !topic.config.cleanup_policy.compacts() {
        return Ok(None);
    }
    let state = super::read::partition_state(read, topic.id, partition)?;
    if state.segment_count < 2 {
        return Ok(None);
    }
    let config = &topic.config;
    let lag = i64::try_from(config.min_compaction_lag_ms).unwrap_or(i64::MAX);
    let (mut segments, lag_due_ms) =
        cleanable_segments(read, topic.id, partition, state.active_base, lag, now_ms)?;
    // Records of open transactions are not cleaned (their fate is not known yet), and
    // aborted ones are dropped without counting as any key's latest value.
    let stable = super::read::last_stable(read, topic.id, partition, &state)?;
    segments.retain(|(_, seg)| seg.offset_last < stable);
    let whole = match scope {
        Scope::All => true,
        Scope::Newest(budget) => {
            let start = window_start(&segments, budget);
            segments.drain(..start);
            start == 0
        }
    };
    let aborted = super::producers::aborted_between(read, (topic.id, partition), 0, stable)?;
    let fingerprint: Vec<(u64, u32, u32)> = segments
        .iter()
        .map(|(base, seg)| (*base, seg.first_page, seg.bytes_used))
        .collect();
    if known_clean.is_some_and(|(print, due)| *print == fingerprint && now_ms < *due) {
        return Ok(None);
    }
    let reader = |first: PageId, at: u64, buf: &mut [u8]| read.read_data(first, at, buf);
    let latest = latest_offsets(&reader, &segments, &aborted)?;
    let (delete_retention, horizon_ms) = if whole {
        let delete_retention = i64::try_from(config.delete_retention_ms).unwrap_or(i64::MAX);
        (delete_retention, now_ms.saturating_sub(delete_retention))
    } else {
        // A window keeps its tombstones: no time makes them removable.
        (i64::MAX, i64::MIN)
    };
    let (sizes, tombstone_due_ms) = segment_sizes(
        &reader,
        &segments,
        (&latest, &aborted),
        (horizon_ms, state.log_start),
        delete_retention,
    )?;
    let runs = runs(&segments, &sizes, u64::from(config.segment_bytes));
    let bytes_cleanable = segments.iter().map(|(_, s)| u64::from(s.bytes_used)).sum();
    let bytes_kept = sizes.iter().map(|(_, kept)| kept).sum();
    Ok(Some(Plan {
        bytes_cleanable,
        bytes_kept,
        segments,
        latest,
        aborted,
        horizon_ms,
        log_start: state.log_start,
        runs,
        due_ms: lag_due_ms.min(tombstone_due_ms),
        fingerprint,
    }))
}

/// The cleanable segments of a partition whose active segment starts at `active_base`:
/// every segment before it, up to the first whose newest record is younger than the
/// compaction `lag`. Also returns when that first segment leaves the lag (`i64::MAX` if
/// none stopped the walk).
fn cleanable_segments(
    read: &impl TreeRead,
    topic_id: u32,
    partition: u32,
    active_base: u64,
    lag: i64,
    now_ms: i64,
) -> Result<(Vec<(u64, Segment)>, i64)> {
    let lag_limit = now_ms.saturating_sub(lag);
    let mut due_ms = i64::MAX;
    let low = offset_key(topic_id, partition, 0);
    let below_active = offset_key(topic_id, partition, active_base);
    let mut segments = Vec::new();
    for item in read.range(TREE_SEGMENTS, &low[..]..&below_active[..])? {
        let (key, value) = item?;
        let seg = Segment::decode(&value, read.bounds())?;
        if lag > 0 && seg.timestamp_max > lag_limit {
            due_ms = seg.timestamp_max.saturating_add(lag);
            break;
        }
        segments.push((key_suffix(TREE_SEGMENTS, &key)?, seg));
    }
    Ok((segments, due_ms))
}

/// The index of the first of the newest `segments` whose bytes add up to at most
/// `budget` (`segments.len()` if not even the newest fits).
fn window_start(segments: &[(u64, Segment)], budget: u64) -> usize {
    let mut bytes = 0u64;
    let mut start = segments.len();
    while start > 0 {
        bytes += u64::from(segments[start - 1].1.bytes_used);
        if bytes > budget {
            break;
        }
        start -= 1;
    }
    start
}

/// Each key's latest offset among `segments`.
fn latest_offsets(
    read: ReadData<'_>,
    segments: &[(u64, Segment)],
    aborted: &[Aborted],
) -> Result<HashMap<Vec<u8>, u64>> {
    let mut latest: HashMap<Vec<u8>, u64> = HashMap::new();
    for (_, seg) in segments {
        for_each_batch(read, seg, |_, bytes| {
            let header = BatchHeader::parse(bytes)?;
            if header.is_control() || is_aborted(aborted, &header) {
                return Ok(());
            }
            for_each_record(bytes, |view, _| {
                if let Some(key) = view.key {
                    if let Some(offset) = latest.get_mut(key) {
                        *offset = view.offset;
                    } else {
                        latest.insert(key.to_vec(), view.offset);
                    }
                }
            })
            .map(drop)
        })?;
    }
    Ok(latest)
}

/// Per segment: the records compaction would remove, and the bytes of batches left after
/// filtering. Also returns when the first kept tombstone expires (`i64::MAX` if none).
fn segment_sizes(
    read: ReadData<'_>,
    segments: &[(u64, Segment)],
    (latest, aborted): (&HashMap<Vec<u8>, u64>, &[Aborted]),
    (horizon_ms, log_start): (i64, u64),
    delete_retention: i64,
) -> Result<(Vec<(u64, u64)>, i64)> {
    let mut due_ms = i64::MAX;
    let mut sizes = Vec::with_capacity(segments.len());
    for (_, seg) in segments {
        let mut removable = 0u64;
        let mut kept_bytes = 0u64;
        for_each_batch(read, seg, |_, bytes| {
            let header = BatchHeader::parse(bytes)?;
            if is_aborted(aborted, &header) {
                removable += u64::from(header.record_count);
                return Ok(());
            }
            let mut batch_kept = 0u64;
            // Control batches are kept whole, below the log start too.
            let log_start = if header.is_control() { 0 } else { log_start };
            let header = for_each_record(bytes, |view, raw| {
                if keeps(latest, (horizon_ms, log_start), &view) {
                    batch_kept += raw.len() as u64;
                    if view.value.is_none() {
                        let expiry = view.timestamp_ms.saturating_add(delete_retention);
                        due_ms = due_ms.min(expiry);
                    }
                } else {
                    removable += 1;
                }
            })?;
            if header.is_control() {
                kept_bytes += header.size() as u64;
            } else if batch_kept > 0 {
                kept_bytes += BATCH_HEADER_SIZE as u64 + batch_kept;
            }
            Ok(())
        })?;
        sizes.push((removable, kept_bytes));
    }
    Ok((sizes, due_ms))
}

/// Groups segments into runs worth rewriting: consecutive segments whose kept bytes fit one
/// segment and whose input is bounded, kept if they remove records or merge segments.
fn runs(
    segments: &[(u64, Segment)],
    sizes: &[(u64, u64)],
    segment_bytes: u64,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let mut end = start;
        let (mut input, mut kept, mut removable) = (0u64, 0u64, 0u64);
        while end < segments.len() {
            let seg_input = u64::from(segments[end].1.bytes_used);
            let (seg_removable, seg_kept) = sizes[end];
            if end > start
                && (kept + seg_kept > segment_bytes
                    || input + seg_input > segment_bytes * RUN_INPUT_FACTOR)
            {
                break;
            }
            input += seg_input;
            kept += seg_kept;
            removable += seg_removable;
            end += 1;
        }
        if removable > 0 || end - start > 1 {
            out.push(start..end);
        }
        start = end;
    }
    out
}

/// Whether compaction keeps a record, given each key's latest offset, the tombstone
/// horizon and the log start (records below it were deleted, and go with any key).
fn keeps(
    latest: &HashMap<Vec<u8>, u64>,
    (horizon_ms, log_start): (i64, u64),
    view: &RecordRef<'_>,
) -> bool {
    if view.offset < log_start {
        return false;
    }
    let Some(key) = view.key else {
        return true;
    };
    if latest.get(key).is_some_and(|&last| last > view.offset) {
        return false;
    }
    !(view.value.is_none() && view.timestamp_ms < horizon_ms)
}

/// Rewrites run `run` of `plan` in `txn`. Returns `None`, changing nothing, if the run's
/// segments changed since the plan was made (the rest of the plan must then be dropped).
pub(crate) fn apply_run(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    plan: &Plan,
    run: usize,
) -> Result<Option<RunDone>> {
    let segments = &plan.segments[plan.runs[run].clone()];
    let pkey = partition_key(topic.id, partition);
    let Some(mut state) = state_if_unchanged(txn, topic.id, partition, &pkey, segments)? else {
        return Ok(None);
    };
    if state.log_start != plan.log_start {
        return Ok(None);
    }
    let (first_base, _) = segments[0];
    let mut compacted = filter_run(txn, plan, segments)?;
    remove_run(txn, topic.id, partition, segments)?;
    let bad = |why| Error::bad_value(TREE_PARTITIONS, why);
    state.segment_count = u32::try_from(segments.len())
        .ok()
        .and_then(|count| state.segment_count.checked_sub(count))
        .ok_or_else(|| bad("fewer segments counted than found"))?;
    state.bytes_total = state
        .bytes_total
        .checked_sub(compacted.done.bytes_before)
        .ok_or_else(|| bad("fewer bytes counted than found"))?;
    if let Some(offset_last) = compacted.offset_last {
        let bytes_used = store_compacted(
            txn,
            topic.id,
            partition,
            first_base,
            offset_last,
            &compacted,
        )?;
        // Both went down by at least as much just above.
        state.segment_count += 1;
        state.bytes_total += u64::from(bytes_used);
        compacted.done.bytes_after = u64::from(bytes_used);
    }
    txn.insert(TREE_PARTITIONS, &pkey, &state.encode())?;
    Ok(Some(compacted.done))
}

/// A run's kept batches, filtered into one new segment's bytes, not yet stored.
struct Compacted {
    /// The new segment's bytes.
    out: Vec<u8>,
    /// Offset-index entries for it: a batch's base offset and its position in `out`.
    index: Vec<(u64, u32)>,
    /// The last offset of the last kept batch; `None` if no batch is kept.
    offset_last: Option<u64>,
    /// The largest timestamp of the run's segments.
    timestamp_max: i64,
    /// The counts so far (`bytes_after` is set once the segment is stored).
    done: RunDone,
}

/// The partition's state at `pkey`, if the run's `segments` are still all there as
/// planned and below the active segment; `None` if anything changed.
fn state_if_unchanged(
    txn: &WriteTransaction,
    topic_id: u32,
    partition: u32,
    pkey: &[u8],
    segments: &[(u64, Segment)],
) -> Result<Option<PartitionState>> {
    let Some(state_bytes) = txn.get(TREE_PARTITIONS, pkey)? else {
        return Ok(None);
    };
    let state = PartitionState::decode(&state_bytes)?;
    for (base, seg) in segments {
        let current = txn.get(TREE_SEGMENTS, &offset_key(topic_id, partition, *base))?;
        if *base >= state.active_base || current.as_deref() != Some(&seg.encode()[..]) {
            return Ok(None);
        }
    }
    Ok(Some(state))
}

/// Reads the run's `segments` and filters their batches into one new segment's bytes,
/// indexing a batch at least every [`INDEX_INTERVAL`] bytes.
fn filter_run(
    txn: &WriteTransaction,
    plan: &Plan,
    segments: &[(u64, Segment)],
) -> Result<Compacted> {
    let mut out: Vec<u8> = Vec::new();
    let mut index: Vec<(u64, u32)> = Vec::new();
    let mut indexed_pos: Option<usize> = None;
    let mut done = RunDone::default();
    let mut offset_last = None;
    let mut timestamp_max = i64::MIN;
    let reader = |first: PageId, at: u64, buf: &mut [u8]| txn.read_data(first, at, buf);
    for (_, seg) in segments {
        done.segments += 1;
        done.bytes_before += u64::from(seg.bytes_used);
        timestamp_max = timestamp_max.max(seg.timestamp_max);
        for_each_batch(&reader, seg, |_, bytes| {
            let position = out.len();
            let header = BatchHeader::parse(bytes)?;
            if is_aborted(&plan.aborted, &header) {
                done.records_removed += u64::from(header.record_count);
                return Ok(());
            }
            // Control batches are kept whole, below the log start too.
            let log_start = if header.is_control() {
                0
            } else {
                plan.log_start
            };
            let filtered = filter_batch(bytes, &mut out, |view| {
                keeps(&plan.latest, (plan.horizon_ms, log_start), view)
            })?;
            done.records_removed += u64::from(filtered.removed);
            if filtered.bytes > 0 {
                let header = BatchHeader::parse(&out[position..])?;
                // No index entry below the log start: a batch that straddles it is
                // found from the segment's start.
                if header.offset_base >= plan.log_start
                    && indexed_pos.is_none_or(|p| position - p >= INDEX_INTERVAL as usize)
                {
                    let at = u32::try_from(position)
                        .map_err(|_| Error::invalid("compacted segment passes 4 GiB"))?;
                    index.push((header.offset_base, at));
                    indexed_pos = Some(position);
                }
                offset_last = Some(header.offset_last());
            }
            Ok(())
        })?;
    }
    Ok(Compacted {
        out,
        index,
        offset_last,
        timestamp_max,
        done,
    })
}

/// Frees the run's old extents and removes their segment and offset-index entries.
fn remove_run(
    txn: &mut WriteTransaction,
    topic_id: u32,
    partition: u32,
    segments: &[(u64, Segment)],
) -> Result<()> {
    for (base, seg) in segments {
        txn.free_extent(PageId(seg.first_page))?;
        txn.remove(TREE_SEGMENTS, &offset_key(topic_id, partition, *base))?;
    }
    let (first_base, _) = segments[0];
    let (_, last) = segments[segments.len() - 1];
    let low = offset_key(topic_id, partition, first_base);
    let high = offset_key(topic_id, partition, last.offset_last);
    txn.remove_range(TREE_OFFSETS, &low[..]..=&high[..])?;
    Ok(())
}

/// Writes the compacted bytes into a new extent and records it as the segment at
/// `first_base`, with its offset-index entries. Returns its bytes used.
fn store_compacted(
    txn: &mut WriteTransaction,
    topic_id: u32,
    partition: u32,
    first_base: u64,
    offset_last: u64,
    compacted: &Compacted,
) -> Result<u32> {
    let out = &compacted.out;
    let page_size = u64::from(txn.page_size());
    let bytes_used =
        u32::try_from(out.len()).map_err(|_| Error::invalid("compacted segment passes 4 GiB"))?;
    let page_count = u32::try_from((out.len() as u64).div_ceil(page_size))
        .map_err(|_| Error::invalid("compacted segment passes 4 GiB"))?;
    let first = txn.alloc_extent(page_count)?;
    txn.write_data(first, 0, out)?;
    let seg = Segment {
        first_page: first.0,
        page_count,
        bytes_used,
        offset_last,
        timestamp_max: compacted.timestamp_max,
    };
    txn.insert(
        TREE_SEGMENTS,
        &offset_key(topic_id, partition, first_base),
        &seg.encode(),
    )?;
    for &(offset, position) in &compacted.index {
        let entry = IndexEntry {
            segment_base: first_base,
            position,
        };
        txn.insert(
            TREE_OFFSETS,
            &offset_key(topic_id, partition, offset),
            &entry.encode(),
        )?;
    }
    Ok(bytes_used)
}

/// Calls `visit` with the position and bytes of each whole batch of `seg`, reading the
/// segment a chunk at a time. The framing is checked (a header at every batch start,
/// every batch inside the segment's bytes); `visit` checks the rest.
pub(crate) fn for_each_batch(
    read: ReadData<'_>,
    seg: &Segment,
    mut visit: impl FnMut(u32, &[u8]) -> Result<()>,
) -> Result<()> {
    let page = PageId(seg.first_page);
    let damaged = |why| Error::corrupt(page, crate::CorruptionKind::BadBatch(why));
    let end = seg.bytes_used as usize;
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_pos = 0usize;
    let mut pos = 0usize;
    while pos < end {
        if end - pos < BATCH_HEADER_SIZE {
            return Err(damaged("segment ends inside a batch header"));
        }
        fill(
            read,
            page,
            &mut buf,
            &mut buf_pos,
            pos,
            BATCH_HEADER_SIZE,
            end,
        )?;
        let header = BatchHeader::parse(&buf[pos - buf_pos..]).map_err(|e| match e {
            Error::Corrupt { kind, .. } => Error::corrupt(page, kind),
            other => other,
        })?;
        let size = header.size();
        if size > end - pos {
            return Err(damaged("batch runs past the segment's end"));
        }
        fill(read, page, &mut buf, &mut buf_pos, pos, size, end)?;
        let at = u32::try_from(pos).expect("positions are below bytes_used, a u32");
        visit(at, &buf[pos - buf_pos..pos - buf_pos + size]).map_err(|e| match e {
            Error::Corrupt { page: None, kind } => Error::Corrupt {
                page: Some(page),
                kind,
            },
            other => other,
        })?;
        pos += size;
    }
    Ok(())
}

/// Makes `buf` (which starts at segment byte `buf_pos`) hold `len` bytes from `pos`,
/// reading ahead up to [`READ_CHUNK`] bytes but never past `end`.
fn fill(
    read: ReadData<'_>,
    page: PageId,
    buf: &mut Vec<u8>,
    buf_pos: &mut usize,
    pos: usize,
    len: usize,
    end: usize,
) -> Result<()> {
    if *buf_pos <= pos && buf.len() >= pos - *buf_pos + len {
        return Ok(());
    }
    let want = len.max(READ_CHUNK).min(end - pos);
    buf.clear();
    buf.resize(want, 0);
    *buf_pos = pos;
    read(page, pos as u64, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(bytes_used: u32) -> (u64, Segment) {
        (
            0,
            Segment {
                first_page: 2,
                page_count: 1000,
                bytes_used,
                offset_last: 0,
                timestamp_max: 0,
            },
        )
    }

    #[test]
    fn runs_merge_until_a_segment_is_full_and_skip_clean_singles() {
        let segments = vec![seg(100), seg(100), seg(100), seg(100), seg(100)];
        // Kept bytes 60 each with a 150-byte target: pairs.
        let sizes = vec![(1, 60), (0, 60), (0, 60), (0, 60), (0, 60)];
        assert_eq!(runs(&segments, &sizes, 150), vec![0..2, 2..4]);
        // Nothing removable and nothing to merge: no run.
        let sizes = vec![(0, 100); 5];
        assert!(runs(&segments, &sizes, 100).is_empty());
        // Input is bounded even when everything goes.
        let sizes = vec![(5, 0); 5];
        assert_eq!(runs(&segments, &sizes, 100), vec![0..4, 4..5]);
    }
}
