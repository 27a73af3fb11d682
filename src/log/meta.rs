//! The event log's trees and their codecs; this module is their one owner.
//!
//! Keys are big-endian so that byte order is numeric order; values are little-endian like
//! the rest of brooklet's own structures.
//!
//! | tree              | key                                          | value               |
//! |-------------------|----------------------------------------------|---------------------|
//! | `log.partitions`  | topic id u32, partition u32                  | [`PartitionState`]  |
//! | `log.segments`    | topic id u32, partition u32, base offset u64 | [`Segment`]         |
//! | `log.offsets`     | topic id u32, partition u32, offset u64      | [`IndexEntry`]      |
//! | `log.times`       | topic id u32, partition u32, timestamp u64*  | offset u64          |
//!
//! *Timestamps are stored as `i64` with the sign bit flipped, so negative values order first.
//!
//! The topics themselves are the catalog's (`log.topics`), and the file's counters (the
//! leader epoch among them) are in `counters` (`log.meta`).

use zerocopy::{FromBytes as _, IntoBytes as _};

use crate::engine::Bounds;
use crate::error::{Error, Result};
use crate::page::format;

pub(crate) const TREE_PARTITIONS: &str = "log.partitions";
pub(crate) const TREE_SEGMENTS: &str = "log.segments";
pub(crate) const TREE_OFFSETS: &str = "log.offsets";
pub(crate) const TREE_TIMES: &str = "log.times";

/// Bytes between sparse index entries (Kafka's `index.interval.bytes`): a batch that starts
/// at least this far after the partition's last offset-index entry (or at the start of a
/// segment) gets one, and likewise for the time index.
pub(crate) const INDEX_INTERVAL: u32 = 4096;

/// Kafka's largest offset: offsets are non-negative `i64`s.
pub(crate) const OFFSET_MAX: u64 = i64::MAX.cast_unsigned();

/// Key of a partition in `log.partitions`; also the prefix of its per-offset keys.
pub(crate) fn partition_key(topic_id: u32, partition: u32) -> [u8; 8] {
    let mut key = [0u8; 8];
    key[..4].copy_from_slice(&topic_id.to_be_bytes());
    key[4..].copy_from_slice(&partition.to_be_bytes());
    key
}

/// Key of an offset-ordered entry (segment, index) of a partition.
pub(crate) fn offset_key(topic_id: u32, partition: u32, offset: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&partition_key(topic_id, partition));
    key[8..].copy_from_slice(&offset.to_be_bytes());
    key
}

/// Key of a time-index entry.
pub(crate) fn time_key(topic_id: u32, partition: u32, timestamp_ms: i64) -> [u8; 16] {
    offset_key(
        topic_id,
        partition,
        timestamp_ms.cast_unsigned() ^ (1 << 63),
    )
}

/// The topic id, partition and offset (or flipped timestamp) of a 16-byte per-partition
/// key of `tree`.
pub(crate) fn split_offset_key(tree: &'static str, key: &[u8]) -> Result<(u32, u32, u64)> {
    let bytes: &[u8; 16] = key
        .try_into()
        .map_err(|_| Error::bad_value(tree, "per-partition key is not 16 bytes"))?;
    let (partition_key, suffix) = bytes.split_at(8);
    let (topic_id, partition) = split_partition_key(tree, partition_key)?;
    Ok((topic_id, partition, u64::from_be_bytes(array(suffix))))
}

/// The offset (or flipped timestamp) at the end of a 16-byte per-partition key of `tree`.
pub(crate) fn key_suffix(tree: &'static str, key: &[u8]) -> Result<u64> {
    split_offset_key(tree, key).map(|(_, _, suffix)| suffix)
}

/// The topic id and partition of an 8-byte partition key of `tree`.
pub(crate) fn split_partition_key(tree: &'static str, key: &[u8]) -> Result<(u32, u32)> {
    let bytes: &[u8; 8] = key
        .try_into()
        .map_err(|_| Error::bad_value(tree, "partition key is not 8 bytes"))?;
    let (topic_id, partition) = bytes.split_at(4);
    Ok((
        u32::from_be_bytes(array(topic_id)),
        u32::from_be_bytes(array(partition)),
    ))
}

/// A fixed-size array from a slice of exactly that size (split from one of known size).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().expect("split at a known size")
}

/// A time-index key's timestamp.
pub(crate) fn time_from_suffix(suffix: u64) -> i64 {
    (suffix ^ (1 << 63)).cast_signed()
}

/// Decodes a time-index key's timestamp.
#[cfg(test)]
pub(crate) fn time_from_key(key: &[u8]) -> Result<i64> {
    Ok(time_from_suffix(key_suffix(TREE_TIMES, key)?))
}

/// The state of one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PartitionState {
    /// The first offset still in the log.
    pub log_start: u64,
    /// The offset the next record gets (the log end offset).
    pub next_offset: u64,
    /// Base offset of the active (last) segment; meaningful when `segment_count > 0`.
    pub active_base: u64,
    /// Number of segments.
    pub segment_count: u32,
    /// Bytes of batches across all segments.
    pub bytes_total: u64,
    /// Position in the active segment of the last offset-index entry.
    pub indexed_pos: u32,
    /// Position in the active segment of the last time-index entry.
    pub timed_pos: u32,
    /// The largest timestamp in the partition so far (`i64::MIN` when empty).
    pub timestamp_max: i64,
}

impl PartitionState {
    pub fn new() -> Self {
        Self {
            timestamp_max: i64::MIN,
            ..Self::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        format::PartitionState {
            log_start: self.log_start.into(),
            next_offset: self.next_offset.into(),
            active_base: self.active_base.into(),
            segment_count: self.segment_count.into(),
            bytes_total: self.bytes_total.into(),
            indexed_pos: self.indexed_pos.into(),
            timed_pos: self.timed_pos.into(),
            timestamp_max: self.timestamp_max.into(),
        }
        .as_bytes()
        .to_vec()
    }

    /// Decodes a state and checks what it can alone: the log start is not past the end,
    /// the end is at most one past Kafka's largest offset, and the active segment's base
    /// is not past the end.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = |why| Error::bad_value(TREE_PARTITIONS, why);
        let raw = format::PartitionState::ref_from_bytes(bytes)
            .map_err(|_| bad("partition state has the wrong size"))?;
        let state = Self {
            log_start: raw.log_start.get(),
            next_offset: raw.next_offset.get(),
            active_base: raw.active_base.get(),
            segment_count: raw.segment_count.get(),
            bytes_total: raw.bytes_total.get(),
            indexed_pos: raw.indexed_pos.get(),
            timed_pos: raw.timed_pos.get(),
            timestamp_max: raw.timestamp_max.get(),
        };
        if state.log_start > state.next_offset {
            return Err(bad("partition log start is past its end"));
        }
        if state.next_offset > OFFSET_MAX.saturating_add(1) {
            return Err(bad("partition end is past Kafka's largest offset"));
        }
        if state.active_base > state.next_offset {
            return Err(bad("active segment base is past the partition end"));
        }
        Ok(state)
    }
}

/// One segment: a data extent holding batches back to back from position 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    /// First page of the extent.
    pub first_page: u32,
    /// Pages in the extent.
    pub page_count: u32,
    /// Bytes of batches written from the start of the extent.
    pub bytes_used: u32,
    /// Offset of the last record in the segment.
    pub offset_last: u64,
    /// Largest record timestamp in the segment.
    pub timestamp_max: i64,
}

impl Segment {
    pub fn encode(&self) -> Vec<u8> {
        format::Segment {
            first_page: self.first_page.into(),
            page_count: self.page_count.into(),
            bytes_used: self.bytes_used.into(),
            offset_last: self.offset_last.into(),
            timestamp_max: self.timestamp_max.into(),
        }
        .as_bytes()
        .to_vec()
    }

    /// Decodes a segment entry and checks it against the file: its extent lies in pages
    /// `2 .. page_count`, its bytes fit the extent, and its last offset is a Kafka offset.
    pub fn decode(bytes: &[u8], bounds: Bounds) -> Result<Self> {
        let bad = |why| Error::bad_value(TREE_SEGMENTS, why);
        let raw = format::Segment::ref_from_bytes(bytes)
            .map_err(|_| bad("segment entry has the wrong size"))?;
        let seg = Self {
            first_page: raw.first_page.get(),
            page_count: raw.page_count.get(),
            bytes_used: raw.bytes_used.get(),
            offset_last: raw.offset_last.get(),
            timestamp_max: raw.timestamp_max.get(),
        };
        if !bounds.holds_extent(seg.first_page, seg.page_count) {
            return Err(bad("segment extent lies outside the file"));
        }
        if u64::from(seg.bytes_used) > seg.capacity(bounds.page_size) {
            return Err(bad("segment bytes used exceed its extent"));
        }
        if seg.offset_last > OFFSET_MAX {
            return Err(bad("segment last offset is past Kafka's largest offset"));
        }
        Ok(seg)
    }

    /// Bytes the extent can hold.
    pub fn capacity(&self, page_size: u32) -> u64 {
        u64::from(self.page_count) * u64::from(page_size)
    }
}

/// A sparse offset-index entry: the batch starting at the key's offset lies in the segment
/// with base offset `segment_base`, at byte `position`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub segment_base: u64,
    pub position: u32,
}

impl IndexEntry {
    pub fn encode(&self) -> Vec<u8> {
        format::IndexEntry {
            segment_base: self.segment_base.into(),
            position: self.position.into(),
        }
        .as_bytes()
        .to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let raw = format::IndexEntry::ref_from_bytes(bytes)
            .map_err(|_| Error::bad_value(TREE_OFFSETS, "offset index entry has the wrong size"))?;
        Ok(Self {
            segment_base: raw.segment_base.get(),
            position: raw.position.get(),
        })
    }
}

/// Encodes a time-index value: the offset of the batch the entry was made for.
pub(crate) fn encode_time_entry(offset: u64) -> Vec<u8> {
    format::TimeIndexEntry {
        offset: offset.into(),
    }
    .as_bytes()
    .to_vec()
}

/// Decodes a time-index value.
pub(crate) fn decode_time_entry(bytes: &[u8]) -> Result<u64> {
    format::TimeIndexEntry::ref_from_bytes(bytes)
        .map(|raw| raw.offset.get())
        .map_err(|_| Error::bad_value(TREE_TIMES, "expected an 8-byte value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_round_trip_and_keys_sort_numerically() {
        let state = PartitionState {
            log_start: 3,
            next_offset: 10,
            active_base: 7,
            segment_count: 2,
            bytes_total: 999,
            indexed_pos: 40,
            timed_pos: 80,
            timestamp_max: -5,
        };
        assert_eq!(
            PartitionState::decode(&state.encode()).expect("state"),
            state
        );
        let seg = Segment {
            first_page: 9,
            page_count: 4,
            bytes_used: 100,
            offset_last: 77,
            timestamp_max: 1_700_000_000_000,
        };
        let bounds = |page_size, page_count| Bounds {
            page_size,
            page_count,
        };
        assert_eq!(
            Segment::decode(&seg.encode(), bounds(512, 13)).expect("segment"),
            seg
        );
        assert!(Segment::decode(&seg.encode(), bounds(16, 13)).is_err());
        // The extent must end inside the file.
        assert!(Segment::decode(&seg.encode(), bounds(512, 12)).is_err());
        let entry = IndexEntry {
            segment_base: 5,
            position: 300,
        };
        assert_eq!(IndexEntry::decode(&entry.encode()).expect("entry"), entry);
        assert!(offset_key(1, 2, 255) < offset_key(1, 2, 256));
        assert!(time_key(1, 0, -1) < time_key(1, 0, 0));
        assert!(time_key(1, 0, i64::MIN) < time_key(1, 0, i64::MAX));
        assert_eq!(time_from_key(&time_key(3, 4, -42)).expect("time"), -42);
    }
}
