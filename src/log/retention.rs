//! Retention: whole segments are dropped from the head of a partition once they are past
//! `retention.ms` or `retention.bytes`, the way Kafka deletes whole segment files. Their
//! extents are freed (and reused once safe), the log start moves to the next segment, and
//! index entries below the new start are removed.
//!
//! Work is bounded: one call drops at most [`MAX_SEGMENTS_PER_STEP`] segments of one
//! partition, so housekeeping interleaved with produce commits delays none of them by much.
//!
//! [`delete_before`] (Kafka's `DeleteRecords`) moves the log start to a given offset, which
//! may lie inside a segment, or inside a batch: the segments wholly below it are dropped as
//! retention drops them, and the records below it left in the first segment are gone for
//! readers, who return records from the log start only.

use super::meta::{
    PartitionState, Segment, TREE_OFFSETS, TREE_PARTITIONS, TREE_SEGMENTS, TREE_TIMES, key_suffix,
    offset_key, partition_key, time_key,
};
use crate::catalog::{CleanupPolicy, TopicConfig, TopicMeta};
use crate::engine::WriteTransaction;
use crate::error::{Error, PageId, Result};

/// Most segments one retention step drops from one partition.
pub(crate) const MAX_SEGMENTS_PER_STEP: usize = 8;

/// What one retention step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub segments: u64,
    pub bytes: u64,
    /// The largest timestamp of the dropped segments.
    pub timestamp_max: i64,
}

/// Drops expired segments from the head of one partition. Returns what was dropped.
pub(crate) fn apply(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    now_ms: i64,
) -> Result<Dropped> {
    let config = &topic.config;
    if config.cleanup_policy == CleanupPolicy::Compact
        || (config.retention_ms.is_none() && config.retention_bytes.is_none())
    {
        return Ok(Dropped::default());
    }
    let pkey = partition_key(topic.id, partition);
    let Some(value) = txn.get(TREE_PARTITIONS, &pkey)? else {
        return Ok(Dropped::default());
    };
    let mut state = PartitionState::decode(&value)?;
    let mut dropped = Dropped {
        timestamp_max: i64::MIN,
        ..Dropped::default()
    };
    let head = head_segments(txn, topic.id, partition)?;
    for (i, (base, seg)) in head.iter().enumerate() {
        if dropped.segments as usize >= MAX_SEGMENTS_PER_STEP {
            break;
        }
        let is_active = *base == state.active_base && i + 1 == head.len();
        if !past_retention(config, &state, seg, is_active, now_ms) {
            break;
        }
        txn.free_extent(PageId(seg.first_page))?;
        txn.remove(TREE_SEGMENTS, &offset_key(topic.id, partition, *base))?;
        count_out(&mut state, seg, is_active)?;
        dropped.segments += 1;
        dropped.bytes += u64::from(seg.bytes_used);
        dropped.timestamp_max = dropped.timestamp_max.max(seg.timestamp_max);
    }
    if dropped.segments == 0 {
        return Ok(dropped);
    }
    drop_index_below(
        txn,
        topic,
        partition,
        state.log_start,
        dropped.timestamp_max,
    )?;
    super::producers::trim_aborted(txn, (topic.id, partition), state.log_start)?;
    txn.insert(TREE_PARTITIONS, &pkey, &state.encode())?;
    Ok(dropped)
}

/// Moves the log start of a partition up to `before` (Kafka's `DeleteRecords`): drops
/// every segment wholly below it, with their index entries and the aborted transactions
/// whose markers lie below it. Returns the new log start. An offset past the end is
/// [`Error::OffsetOutOfRange`]; one at or below the log start changes nothing.
pub(crate) fn delete_before(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    before: u64,
) -> Result<u64> {
    let pkey = partition_key(topic.id, partition);
    let value = txn
        .get(TREE_PARTITIONS, &pkey)?
        .ok_or_else(|| Error::bad_value(TREE_PARTITIONS, "partition state missing"))?;
    let mut state = PartitionState::decode(&value)?;
    if before > state.next_offset {
        return Err(Error::OffsetOutOfRange {
            offset: before,
            beginning: state.log_start,
            end: state.next_offset,
        });
    }
    if before <= state.log_start {
        return Ok(state.log_start);
    }
    // Segments that start below `before`; those that also end below it are dropped.
    let bounds = txn.bounds();
    let low = offset_key(topic.id, partition, 0);
    let high = offset_key(topic.id, partition, before);
    let mut below = Vec::new();
    for item in txn.range(TREE_SEGMENTS, &low[..]..&high[..])? {
        let (key, value) = item?;
        let seg = Segment::decode(&value, bounds)?;
        if seg.offset_last >= before {
            break;
        }
        below.push((key_suffix(TREE_SEGMENTS, &key)?, seg));
    }
    let mut timestamp_max = i64::MIN;
    for (base, seg) in &below {
        let is_active = *base == state.active_base && state.segment_count == 1;
        txn.free_extent(PageId(seg.first_page))?;
        txn.remove(TREE_SEGMENTS, &offset_key(topic.id, partition, *base))?;
        count_out(&mut state, seg, is_active)?;
        timestamp_max = timestamp_max.max(seg.timestamp_max);
    }
    state.log_start = state.log_start.max(before);
    let low = offset_key(topic.id, partition, 0);
    let start = offset_key(topic.id, partition, state.log_start);
    txn.remove_range(TREE_OFFSETS, &low[..]..&start[..])?;
    if !below.is_empty() {
        let tlow = time_key(topic.id, partition, i64::MIN);
        let thigh = time_key(topic.id, partition, timestamp_max);
        txn.remove_range(TREE_TIMES, &tlow[..]..=&thigh[..])?;
    }
    super::producers::trim_aborted(txn, (topic.id, partition), state.log_start)?;
    txn.insert(TREE_PARTITIONS, &pkey, &state.encode())?;
    Ok(state.log_start)
}

/// The first segments of a partition, one more than a step may drop (so that the last
/// one read can be told to be the active segment).
fn head_segments(
    txn: &WriteTransaction,
    topic_id: u32,
    partition: u32,
) -> Result<Vec<(u64, Segment)>> {
    let bounds = txn.bounds();
    let low = offset_key(topic_id, partition, 0);
    let high = offset_key(topic_id, partition, u64::MAX);
    txn.first_entries(
        TREE_SEGMENTS,
        &low[..]..=&high[..],
        MAX_SEGMENTS_PER_STEP + 1,
    )?
    .into_iter()
    .map(|(k, v)| Ok((key_suffix(TREE_SEGMENTS, &k)?, Segment::decode(&v, bounds)?)))
    .collect()
}

/// Whether retention drops `seg`, the first segment left in a partition in `state`:
/// past `retention.ms`, or (unless it is the active segment) not needed to keep the
/// partition at `retention.bytes`.
fn past_retention(
    config: &TopicConfig,
    state: &PartitionState,
    seg: &Segment,
    is_active: bool,
    now_ms: i64,
) -> bool {
    let expired_by_time = config.retention_ms.is_some_and(|ms| {
        let limit = now_ms.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX));
        seg.bytes_used > 0 && seg.timestamp_max < limit
    });
    // Kafka's rule: drop while the partition stays at or above the limit without it.
    let over_size = config.retention_bytes.is_some_and(|limit| {
        !is_active && state.bytes_total.saturating_sub(u64::from(seg.bytes_used)) >= limit
    });
    expired_by_time || over_size
}

/// Takes a dropped segment out of the partition's state: its counts, and the log start,
/// which moves past it (to the end, with no active segment left, if it was the active one).
fn count_out(state: &mut PartitionState, seg: &Segment, is_active: bool) -> Result<()> {
    let bad = |why| Error::bad_value(TREE_PARTITIONS, why);
    state.segment_count = state
        .segment_count
        .checked_sub(1)
        .ok_or_else(|| bad("fewer segments counted than found"))?;
    state.bytes_total = state
        .bytes_total
        .checked_sub(u64::from(seg.bytes_used))
        .ok_or_else(|| bad("fewer bytes counted than found"))?;
    state.log_start = state
        .log_start
        .max(seg.offset_last.saturating_add(1))
        .min(state.next_offset);
    if is_active {
        // The whole log expired: the next append opens a new segment.
        state.log_start = state.next_offset;
        state.indexed_pos = 0;
        state.timed_pos = 0;
    }
    Ok(())
}

/// Removes offset-index entries below `log_start`, and time-index entries of the dropped
/// segments. A time entry is made only when the partition's largest timestamp rises, so
/// entries for dropped batches are exactly those at or below the dropped segments' largest
/// timestamp; later entries are above it.
fn drop_index_below(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    log_start: u64,
    dropped_timestamp_max: i64,
) -> Result<()> {
    let low = offset_key(topic.id, partition, 0);
    let below = offset_key(topic.id, partition, log_start);
    txn.remove_range(TREE_OFFSETS, &low[..]..&below[..])?;
    let tlow = time_key(topic.id, partition, i64::MIN);
    let thigh = time_key(topic.id, partition, dropped_timestamp_max);
    txn.remove_range(TREE_TIMES, &tlow[..]..=&thigh[..])?;
    Ok(())
}
