//! Reading a partition from a snapshot: fetch from an offset, and find the offset for a
//! timestamp. Both descend a sparse index and scan at most about one index interval of
//! batch headers before returning records.
//!
//! Every batch read is verified (length bounds, CRC-32C, offsets where the segment says
//! they are). A mismatch in a snapshot that a writer may have overtaken is reported as
//! [`Error::StaleSnapshot`] so the caller can retry on a fresh snapshot; otherwise it is
//! corruption.
//!
//! A batch's own checks cannot tell a reused page that holds *another valid batch* (a
//! later segment of the same partition that vacuum moved there, or another partition's):
//! so once the batches are read, if a newer commit exists, the segments read from are
//! looked up in it. A segment that is still at the same first page was never freed in
//! between (segments move only downwards and are deleted only for good, and committed
//! bytes below `bytes_used` are never rewritten), so what was read is what the snapshot
//! held; otherwise the read is stale.

use std::sync::OnceLock;

use super::fetched::{self, FetchedBatches};
use super::meta::{
    IndexEntry, PartitionState, Segment, TREE_OFFSETS, TREE_PARTITIONS, TREE_SEGMENTS, TREE_TIMES,
    decode_time_entry, key_suffix, offset_key, partition_key, time_key,
};
use super::producers::{Aborted, aborted_between, first_unstable, is_aborted};
use crate::engine::{ReadTransaction, TreeRead};
use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::kafka::batch::{BATCH_HEADER_SIZE, BatchHeader, verify_batch};
use crate::kafka::records::decode_batch;
use crate::kafka::{StoredRecord, TimestampType};

/// Limits for one fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchLimits {
    /// Stop after the batch in which this many records were reached (whole batches are
    /// returned, as Kafka's fetch does, so a following fetch never decodes the same batch
    /// again). Default 500 (Kafka's `max.poll.records`).
    pub max_records: usize,
    /// Stop once this many bytes of batches were read (at least one batch is always
    /// returned). Default 1 MiB.
    pub max_bytes: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_records: 500,
            max_bytes: 1 << 20,
        }
    }
}

/// Which records a read returns (Kafka's `isolation.level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// Only records of committed transactions (and records sent outside transactions), up
    /// to the last stable offset: the first offset of a transaction still open. Records of
    /// aborted transactions are skipped. The default, as it should be for exactly-once.
    #[default]
    ReadCommitted,
    /// Every record up to the end of the log, open and aborted transactions' included
    /// (Kafka's default).
    ReadUncommitted,
}

/// What a fetch may see: up to `upper`, without the transactions in `aborted`.
struct View {
    upper: u64,
    aborted: Vec<Aborted>,
}

impl View {
    fn of(
        read: &ReadTransaction,
        (topic_id, partition): (u32, u32),
        state: &PartitionState,
        offset: u64,
        isolation: Isolation,
    ) -> Result<Self> {
        if isolation == Isolation::ReadUncommitted {
            return Ok(Self {
                upper: state.next_offset,
                aborted: Vec::new(),
            });
        }
        let upper = last_stable(read, topic_id, partition, state)?;
        let aborted = if offset < upper {
            aborted_between(read, (topic_id, partition), offset, upper)?
        } else {
            Vec::new()
        };
        Ok(Self { upper, aborted })
    }

    /// Whether a transactional batch's records belong to an aborted transaction.
    fn hides(&self, header: &BatchHeader) -> bool {
        is_aborted(&self.aborted, header)
    }
}

/// The partition's last stable offset: the first offset of its oldest open transaction,
/// or its end when none is open (never below the log start).
pub(crate) fn last_stable(
    read: &impl TreeRead,
    topic_id: u32,
    partition: u32,
    state: &PartitionState,
) -> Result<u64> {
    Ok(match first_unstable(read, topic_id, partition)? {
        Some(first) => first.clamp(state.log_start, state.next_offset),
        None => state.next_offset,
    })
}

/// Records fetched from one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The records, in offset order.
    pub records: Vec<StoredRecord>,
    /// The offset to fetch from next.
    pub next_offset: u64,
    /// The partition's end offset (the offset the next produced record gets) in the
    /// snapshot read.
    pub end_offset: u64,
    /// The partition's first offset in the snapshot read.
    pub beginning_offset: u64,
    /// The partition's last stable offset in the snapshot read: the first offset of a
    /// transaction still open, or the end offset when none is.
    pub last_stable_offset: u64,
}

/// The state of a partition in a snapshot.
pub(crate) fn partition_state(
    read: &impl TreeRead,
    topic_id: u32,
    partition: u32,
) -> Result<PartitionState> {
    let value = read
        .get(TREE_PARTITIONS, &partition_key(topic_id, partition))?
        .ok_or_else(|| Error::bad_value(TREE_PARTITIONS, "partition state missing"))?;
    PartitionState::decode(&value)
}

/// The last entry of `tree` at or before `key` within the partition prefix.
fn floor_entry(
    read: &ReadTransaction,
    tree: &str,
    topic_id: u32,
    partition: u32,
    key: &[u8],
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let low = offset_key(topic_id, partition, 0);
    read.range_rev(tree, &low[..]..=key)?.next().transpose()
}

/// The segment holding `offset`.
fn segment_for(
    read: &ReadTransaction,
    topic_id: u32,
    partition: u32,
    offset: u64,
) -> Result<Option<(u64, Segment)>> {
    let key = offset_key(topic_id, partition, offset);
    match floor_entry(read, TREE_SEGMENTS, topic_id, partition, &key)? {
        Some((k, v)) => Ok(Some((
            key_suffix(TREE_SEGMENTS, &k)?,
            Segment::decode(&v, read.bounds())?,
        ))),
        None => Ok(None),
    }
}

/// The segment after the one with base offset `base`.
fn segment_after(
    read: &ReadTransaction,
    topic_id: u32,
    partition: u32,
    base: u64,
) -> Result<Option<(u64, Segment)>> {
    let low = offset_key(topic_id, partition, base.saturating_add(1));
    let high = offset_key(topic_id, partition, u64::MAX);
    match read
        .range(TREE_SEGMENTS, &low[..]..=&high[..])?
        .next()
        .transpose()?
    {
        Some((k, v)) => Ok(Some((
            key_suffix(TREE_SEGMENTS, &k)?,
            Segment::decode(&v, read.bounds())?,
        ))),
        None => Ok(None),
    }
}

/// A scan's buffer and how many bytes at its start are the batches it kept.
type KeptBytes = (Vec<u8>, usize);

/// Most bytes a scan reads ahead of the batch it needs, when batches are small.
const READ_AHEAD_MAX: usize = 64 << 10;

/// Most bytes a fetch that keeps its batches allocates up front (a larger `max_bytes`
/// grows the buffer as it fills).
const KEEP_RESERVE_MAX: usize = 8 << 20;

/// A mismatch in batch data: stale snapshot or corruption.
fn damaged(read: &ReadTransaction, page: u32, why: &'static str) -> Error {
    if read.is_stale() {
        Error::StaleSnapshot
    } else {
        Error::corrupt(PageId(page), CorruptionKind::BadBatch(why))
    }
}

/// A cursor over the batches of a partition from a starting point.
struct BatchScan<'r> {
    read: &'r ReadTransaction,
    topic_id: u32,
    partition: u32,
    end_offset: u64,
    seg_base: u64,
    seg: Segment,
    /// The batches kept for the caller (the first `kept` bytes; see [`BatchScan::keep_last`]),
    /// then a window of the current segment's bytes starting at position `window_pos`, to
    /// `filled`. A fetch that returns batches reads them straight into this buffer and
    /// hands it out, so their bytes are copied once, from the file. Past `filled` the
    /// buffer holds bytes of an earlier fetch (see [`fetched::take_spare`]): being
    /// initialized already, they are read over without being zeroed first.
    buf: Vec<u8>,
    filled: usize,
    kept: usize,
    window_pos: u32,
    /// Bytes to read at least when the window runs out (bounded by the segment).
    read_ahead: usize,
    /// Position of the next batch within the segment.
    pos: u32,
    /// Position of the batch last returned by [`BatchScan::next_batch`].
    last_pos: u32,
    /// Offset the next batch must start at or after.
    expected: u64,
    /// Every segment read from: base offset and first page.
    touched: Vec<(u64, u32)>,
}

impl Drop for BatchScan<'_> {
    fn drop(&mut self) {
        fetched::give_spare(std::mem::take(&mut self.buf));
    }
}

impl<'r> BatchScan<'r> {
    /// Starts at the batch holding `offset` (or the first after it), reading at least
    /// `read_ahead` bytes at a time.
    fn start(
        read: &'r ReadTransaction,
        topic_id: u32,
        partition: u32,
        state: &PartitionState,
        offset: u64,
        read_ahead: usize,
    ) -> Result<Option<Self>> {
        let from = offset.max(state.log_start);
        // Compaction may have emptied and removed the segments at the log start: then the
        // first segment after `from` holds the next record.
        let found = match segment_for(read, topic_id, partition, from)? {
            Some(found) => Some(found),
            None => segment_after(read, topic_id, partition, from)?,
        };
        let Some((seg_base, seg)) = found else {
            return Ok(None);
        };
        let key = offset_key(topic_id, partition, offset);
        let pos = match floor_entry(read, TREE_OFFSETS, topic_id, partition, &key)? {
            Some((_, v)) => {
                let entry = IndexEntry::decode(&v)?;
                if entry.segment_base == seg_base && entry.position <= seg.bytes_used {
                    entry.position
                } else {
                    0
                }
            }
            None => 0,
        };
        Ok(Some(Self {
            read,
            topic_id,
            partition,
            end_offset: state.next_offset,
            seg_base,
            seg,
            buf: fetched::take_spare(),
            filled: 0,
            kept: 0,
            window_pos: pos,
            read_ahead: read_ahead.max(BATCH_HEADER_SIZE),
            pos,
            last_pos: pos,
            expected: seg_base,
            touched: vec![(seg_base, seg.first_page)],
        }))
    }

    /// Confirms that the bytes read are the snapshot's (see the module docs): if a newer
    /// commit exists, every segment read from must still start at the same page in it.
    fn confirm(&self) -> Result<()> {
        let Some(newer) = self.read.newer()? else {
            return Ok(());
        };
        for &(base, first_page) in &self.touched {
            let key = offset_key(self.topic_id, self.partition, base);
            let now = match newer.get(TREE_SEGMENTS, &key)? {
                Some(value) => Some(Segment::decode(&value, newer.bounds())?.first_page),
                None => None,
            };
            if now != Some(first_page) {
                return Err(Error::StaleSnapshot);
            }
        }
        Ok(())
    }

    /// The next whole batch (header, bytes, and the first page of its segment for error
    /// reports), or `None` at the end of the partition.
    fn next_batch(&mut self) -> Result<Option<(BatchHeader, &[u8], u32)>> {
        loop {
            if self.pos >= self.seg.bytes_used {
                match segment_after(self.read, self.topic_id, self.partition, self.seg_base)? {
                    Some((base, seg)) => {
                        self.seg_base = base;
                        self.seg = seg;
                        self.touched.push((base, seg.first_page));
                        self.pos = 0;
                        self.filled = self.kept;
                        self.window_pos = 0;
                        continue;
                    }
                    None => return Ok(None),
                }
            }
            let header = self.header_at_pos()?;
            let size = u32::try_from(header.size())
                .map_err(|_| damaged(self.read, self.seg.first_page, "batch too large"))?;
            if u64::from(self.pos) + u64::from(size) > u64::from(self.seg.bytes_used) {
                return Err(damaged(
                    self.read,
                    self.seg.first_page,
                    "batch runs past the segment's end",
                ));
            }
            // Offsets rise strictly, and a segment holds only committed batches.
            if header.offset_base < self.expected || header.offset_last() >= self.end_offset {
                return Err(damaged(
                    self.read,
                    self.seg.first_page,
                    "batch offsets out of place",
                ));
            }
            self.fill(size as usize)?;
            let start = self.index(self.pos);
            self.expected = header.offset_last() + 1;
            self.last_pos = self.pos;
            self.pos += size;
            let bytes = &self.buf[start..start + size as usize];
            return Ok(Some((header, bytes, self.seg.first_page)));
        }
    }

    /// Keeps the batch last returned by [`BatchScan::next_batch`] (before the next call) at
    /// the end of the kept bytes. Batches not kept are dropped as the window moves on.
    fn keep_last(&mut self) {
        assert!(
            self.window_pos <= self.last_pos && self.last_pos < self.pos,
            "the last batch ({}..{}) is in the window from {}",
            self.last_pos,
            self.pos,
            self.window_pos
        );
        let start = self.index(self.last_pos);
        let end = self.index(self.pos);
        // Only batches skipped since the last one kept lie in between: rare, and short.
        self.drop_unkept(start);
        self.kept += end - start;
        self.window_pos = self.pos;
    }

    /// The batches kept, back to back.
    /// The buffer and how many bytes at its start are batches. A fetch that found little
    /// copies them out and leaves the buffer for the next fetch, rather than hand out (and
    /// hold) the room reserved for a full one.
    fn into_kept(mut self) -> (Vec<u8>, usize) {
        if self.buf.len() > 2 * self.kept + READ_AHEAD_MAX {
            return (self.buf[..self.kept].to_vec(), self.kept);
        }
        (std::mem::take(&mut self.buf), self.kept)
    }

    /// Removes the bytes from `kept` to `start`, moving the rest of the window down.
    fn drop_unkept(&mut self, start: usize) {
        self.buf.copy_within(start..self.filled, self.kept);
        self.filled -= start - self.kept;
    }

    /// Index in `buf` of position `pos` of the current segment (within the window).
    fn index(&self, pos: u32) -> usize {
        self.kept + (pos - self.window_pos) as usize
    }

    fn header_at_pos(&mut self) -> Result<BatchHeader> {
        let remaining = (self.seg.bytes_used - self.pos) as usize;
        if remaining < BATCH_HEADER_SIZE {
            return Err(damaged(
                self.read,
                self.seg.first_page,
                "segment ends inside a batch header",
            ));
        }
        self.fill(BATCH_HEADER_SIZE)?;
        let start = self.index(self.pos);
        BatchHeader::parse(&self.buf[start..start + BATCH_HEADER_SIZE])
            .map_err(|_| damaged(self.read, self.seg.first_page, "bad batch header"))
    }

    /// Ensures `buf` holds at least `len` bytes from `pos` (bounded by the segment). When
    /// it has to read, it reads on to the next batch's header too, or `read_ahead` bytes if
    /// that is more: one read per large batch, and no bytes read past the next header that
    /// a fetch may not use.
    fn fill(&mut self, len: usize) -> Result<()> {
        let start = self.index(self.pos);
        if self.filled >= start + len {
            return Ok(());
        }
        let available = (self.seg.bytes_used - self.pos) as usize;
        if len > available {
            return Err(damaged(
                self.read,
                self.seg.first_page,
                "batch runs past the segment's end",
            ));
        }
        // Drop the consumed bytes not kept, then read the rest in one call straight into
        // the buffer, whose capacity is reused from call to call.
        self.drop_unkept(start);
        self.window_pos = self.pos;
        let have = self.filled - self.kept;
        let want = (len + BATCH_HEADER_SIZE)
            .max(self.read_ahead)
            .min(available);
        self.filled = self.kept + want;
        if self.buf.len() < self.filled {
            self.buf.resize(self.filled, 0);
        }
        let first = PageId(self.seg.first_page);
        let at = u64::from(self.pos) + have as u64;
        self.read
            .read_data(first, at, &mut self.buf[self.kept + have..self.filled])?;
        Ok(())
    }
}

/// Walks the data batches that hold offsets from `offset`, within `limits`: `take` gets
/// each batch (header, bytes, first page of its segment) and returns how many of its
/// records at or after `offset` it kept. Returns the partition state, the offset to fetch
/// from next, and, when `keep_bytes`, the bytes of the batches taken, back to back. A
/// position before the log start is `OffsetOutOfRange`.
#[allow(clippy::too_many_arguments)]
fn scan_batches(
    read: &ReadTransaction,
    topic_id: u32,
    partition: u32,
    offset: u64,
    limits: FetchLimits,
    isolation: Isolation,
    keep_bytes: bool,
    mut take: impl FnMut(&BatchHeader, &[u8], u32) -> Result<usize>,
) -> Result<(PartitionState, u64, u64, KeptBytes)> {
    let state = partition_state(read, topic_id, partition)?;
    if offset < state.log_start {
        return Err(Error::OffsetOutOfRange {
            offset,
            beginning: state.log_start,
            end: state.next_offset,
        });
    }
    let mut next_offset = offset;
    let view = View::of(read, (topic_id, partition), &state, offset, isolation)?;
    if offset >= view.upper || limits.max_records == 0 {
        return Ok((state, view.upper, next_offset, (Vec::new(), 0)));
    }
    // Read ahead enough for several small batches, not the whole byte budget: a fetch
    // that stops at max_records would otherwise read far more than it uses.
    let read_ahead = limits.max_bytes.min(READ_AHEAD_MAX);
    // Room for the bytes kept and the window read past them, allocated once: growing the
    // buffer as batches are kept would copy them again at every doubling.
    let capacity = if keep_bytes {
        limits.max_bytes.min(KEEP_RESERVE_MAX) + read_ahead
    } else {
        read_ahead
    };
    let Some(mut scan) = BatchScan::start(read, topic_id, partition, &state, offset, read_ahead)?
    else {
        return Ok((state, view.upper, next_offset, (Vec::new(), 0)));
    };
    scan.buf
        .reserve_exact(capacity.saturating_sub(scan.buf.len()));
    let (mut bytes_read, mut records) = (0usize, 0usize);
    while let Some((header, bytes, page)) = scan.next_batch()? {
        if header.offset_last() < offset {
            continue;
        }
        if header.offset_base >= view.upper {
            break;
        }
        next_offset = header.offset_last() + 1;
        if header.is_control() || view.hides(&header) {
            continue;
        }
        records = records.saturating_add(take(&header, bytes, page)?);
        bytes_read += bytes.len();
        if keep_bytes {
            scan.keep_last();
        }
        if bytes_read >= limits.max_bytes || records >= limits.max_records {
            break;
        }
    }
    scan.confirm()?;
    Ok((state, view.upper, next_offset, scan.into_kept()))
}

/// Fetches records from `offset` within `limits`.
pub(crate) fn fetch(
    read: &ReadTransaction,
    (topic_id, partition): (u32, u32),
    offset: u64,
    limits: FetchLimits,
    isolation: Isolation,
) -> Result<Fetched> {
    let mut records = Vec::new();
    let (state, last_stable_offset, next_offset, _) = scan_batches(
        read,
        topic_id,
        partition,
        offset,
        limits,
        isolation,
        false,
        |_, bytes, page| {
            let decoded =
                decode_batch(bytes).map_err(|_| damaged(read, page, "batch fails to decode"))?;
            let before = records.len();
            records.extend(decoded.records.into_iter().filter(|r| r.offset >= offset));
            Ok(records.len() - before)
        },
    )?;
    Ok(Fetched {
        records,
        next_offset,
        end_offset: state.next_offset,
        beginning_offset: state.log_start,
        last_stable_offset,
    })
}

/// Fetches whole batches from `offset` within `limits`, as stored and CRC-checked, without
/// decoding their records (see [`FetchedBatches`]). The batches are read from the file
/// straight into the bytes returned and verified there.
pub(crate) fn fetch_batches(
    read: &ReadTransaction,
    (topic_id, partition): (u32, u32),
    offset: u64,
    limits: FetchLimits,
    isolation: Isolation,
) -> Result<FetchedBatches> {
    let mut compressed = false;
    let (state, last_stable_offset, next_offset, (bytes, len)) = scan_batches(
        read,
        topic_id,
        partition,
        offset,
        limits,
        isolation,
        true,
        |header, bytes, page| {
            verify_batch(bytes).map_err(|_| damaged(read, page, "batch CRC mismatch"))?;
            compressed |= header.compression() != 0;
            // Records at or after `offset`, as `fetch` counts them (exact where offsets
            // have no gaps; an estimate in compacted batches).
            let skipped = offset.saturating_sub(header.offset_base);
            let counted = u64::from(header.record_count)
                .saturating_sub(skipped)
                .max(1);
            Ok(usize::try_from(counted).unwrap_or(usize::MAX))
        },
    )?;
    Ok(FetchedBatches {
        bytes,
        len,
        from: offset,
        compressed,
        sections: OnceLock::new(),
        next_offset,
        end_offset: state.next_offset,
        beginning_offset: state.log_start,
        last_stable_offset,
    })
}

/// The earliest offset whose record timestamp is at or after `timestamp_ms`, or `None` if
/// every record is older.
pub(crate) fn offset_for_time(
    read: &ReadTransaction,
    topic_id: u32,
    partition: u32,
    timestamp_ms: i64,
) -> Result<Option<u64>> {
    let state = partition_state(read, topic_id, partition)?;
    if state.log_start >= state.next_offset || state.timestamp_max < timestamp_ms {
        return Ok(None);
    }
    // The last time-index entry below the target: every record up to its batch is older.
    let low = time_key(topic_id, partition, i64::MIN);
    let high = time_key(topic_id, partition, timestamp_ms);
    let start = match read
        .range_rev(TREE_TIMES, &low[..]..&high[..])?
        .next()
        .transpose()?
    {
        Some((_, v)) => decode_time_entry(&v)?.max(state.log_start),
        None => state.log_start,
    };
    let Some(mut scan) =
        BatchScan::start(read, topic_id, partition, &state, start, READ_AHEAD_MAX)?
    else {
        return Ok(None);
    };
    while let Some((header, bytes, page)) = scan.next_batch()? {
        if header.offset_last() < start
            || header.timestamp_max_ms < timestamp_ms
            || header.is_control()
        {
            continue;
        }
        let decoded =
            decode_batch(bytes).map_err(|_| damaged(read, page, "batch fails to decode"))?;
        let log_append = header.timestamp_type() == TimestampType::LogAppendTime;
        for record in decoded.records {
            let ts = if log_append {
                header.timestamp_max_ms
            } else {
                record.timestamp_ms
            };
            if record.offset >= state.log_start && ts >= timestamp_ms {
                scan.confirm()?;
                return Ok(Some(record.offset));
            }
        }
    }
    scan.confirm()?;
    Ok(None)
}
