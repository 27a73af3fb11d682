//! Appending records to a partition inside a write transaction.
//!
//! A partition is a chain of segments: data extents holding Kafka record batches back to
//! back from position 0, like a Kafka `.log` file. A new batch goes into the unused tail of
//! the active segment (bytes no committed state can reach), or into a new segment when it
//! does not fit. A new segment is about as large as the bytes its partition already holds,
//! from one page up to `segment.bytes`: a partition of one small record costs one data
//! page, and a growing one doubles, so it reaches full segments after about
//! `log2(segment.bytes / page size)` small ones (a few more segment and index entries,
//! once in the partition's life).
//!
//! Every batch that starts at least [`INDEX_INTERVAL`] bytes after the last offset-index
//! entry (or at the start of a segment) gets an offset-index entry; a batch that raises the
//! partition's largest timestamp under the same rule gets a time-index entry. Lookups then
//! descend a B-tree and scan at most about one interval.

use super::meta::{
    INDEX_INTERVAL, IndexEntry, PartitionState, Segment, TREE_OFFSETS, TREE_PARTITIONS,
    TREE_SEGMENTS, TREE_TIMES, encode_time_entry, offset_key, partition_key, time_key,
};
use crate::catalog::TopicMeta;
use crate::engine::WriteTransaction;
use crate::error::{Error, PageId, Result};
use crate::kafka::TimestampType;
use crate::kafka::batch::{
    BATCH_HEADER_SIZE, BatchHeader, MAX_BATCH_SIZE, ProducerStamp, encode_source_into,
    sequence_add, set_leader_epoch, set_log_append_time, set_offset_base, verify_batch,
};
use crate::kafka::control::{ControlType, encode_control_batch};
use crate::kafka::send::{RecordSource, Run};

/// Where a run of appended records landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Appended {
    /// Offset of the first record.
    pub offset_base: u64,
    /// Number of records.
    pub count: u64,
    /// The timestamp of the first record as stored (the append time for `LogAppendTime`).
    pub timestamp_ms: i64,
}

/// Appends `records` to `partition` of `topic`, in batches of at most `max.message.bytes`.
///
/// With a `stamp` (an idempotent or transactional producer's), each batch carries its
/// producer id and epoch, and a base sequence that counts on from `stamp.sequence_base`
/// by the records before it. The caller checks and records the sequences
/// ([`super::producers`]).
pub(crate) fn append<S: RecordSource + ?Sized>(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    records: &S,
    now_ms: i64,
    stamp: Option<&ProducerStamp>,
) -> Result<Appended> {
    assert!(records.count() > 0, "append of no records");
    if topic.config.cleanup_policy.compacts()
        && let Some(index) = (0..records.count()).find(|&i| records.key(i).is_none())
    {
        // Kafka's broker refuses these too: compaction keeps the latest record per key.
        return Err(Error::invalid(format!(
            "topic {} is compacted (cleanup.policy={}), so every record needs a key; record {index} of the batch has none",
            topic.name, topic.config.cleanup_policy
        )));
    }
    let mut state = super::read::partition_state(txn, topic.id, partition)?;
    let epoch = crate::counters::leader_epoch(txn)?;
    let offset_base = state.next_offset;
    let max_batch = (topic.config.max_message_bytes as usize).min(MAX_BATCH_SIZE);
    let mut batch = Vec::with_capacity(max_batch.min(1 << 20));
    let mut timestamp_first = None;
    for chunk in chunks(records, max_batch) {
        batch.clear();
        let chunk_stamp = stamp.map(|s| ProducerStamp {
            sequence_base: sequence_add(
                s.sequence_base,
                u32::try_from(chunk.start).expect("batches hold under 2^31 records"),
            ),
            ..*s
        });
        encode_source_into(
            &mut batch,
            state.next_offset,
            &chunk,
            topic.config.timestamp_type,
            now_ms,
            chunk_stamp.as_ref(),
            topic.config.compression_type.codec(),
        )?;
        if batch.len() > max_batch {
            return Err(Error::RecordTooLarge {
                what: format!("a record of topic {} (max.message.bytes)", topic.name),
                size: batch.len() - BATCH_HEADER_SIZE,
                max: max_batch,
            });
        }
        if epoch >= 0 {
            set_leader_epoch(&mut batch, epoch);
        }
        let header = BatchHeader::parse(&batch)?;
        timestamp_first.get_or_insert(match topic.config.timestamp_type {
            TimestampType::CreateTime => header.timestamp_base_ms,
            TimestampType::LogAppendTime => header.timestamp_max_ms,
        });
        write_batch(txn, topic, partition, &mut state, &batch, &header)?;
        // The batch's last offset is a Kafka offset (encode_batch_into checked), so the
        // new end fits.
        state.next_offset = header.offset_last() + 1;
    }
    txn.insert_pending(
        TREE_PARTITIONS,
        &partition_key(topic.id, partition),
        &state.encode(),
    )?;
    Ok(Appended {
        offset_base,
        count: state.next_offset - offset_base,
        timestamp_ms: timestamp_first.expect("at least one batch"),
    })
}

/// Appends the pre-encoded batch `batch` to `partition` of `topic` as it was sent, as
/// Kafka's broker stores a produced batch: only its base offset (set to the partition's
/// end) and partition leader epoch, which its CRC does not cover, are set here; its
/// records, compressed or not, are stored byte for byte. Returns the batch's base offset.
///
/// Checks the header and the CRC and that the batch is a plain data batch (no producer id,
/// not transactional, not control) within `max.message.bytes`; does not decode the records,
/// which readers check. Only tests use it (`Admin::append_raw_batch`, the `testing`
/// feature): brooklet has no public path for pre-encoded batches yet.
#[cfg(feature = "testing")]
pub(crate) fn append_raw_batch(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    batch: &[u8],
) -> Result<u64> {
    let header = verify_batch(batch).map_err(|e| Error::invalid(format!("batch: {e}")))?;
    if header.size() != batch.len() {
        return Err(Error::invalid("bytes follow the batch"));
    }
    if header.is_control() || header.is_transactional() || header.producer_id != -1 {
        return Err(Error::invalid(
            "only plain data batches (no producer id, not transactional) are appended as they are",
        ));
    }
    check_batch_size(topic, batch)?;
    let mut state = super::read::partition_state(txn, topic.id, partition)?;
    let epoch = crate::counters::leader_epoch(txn)?;
    let offset_base = state.next_offset;
    if offset_base
        .checked_add(u64::from(header.offset_delta_last))
        .is_none_or(|last| i64::try_from(last).is_err())
    {
        return Err(Error::invalid(
            "the batch's offsets pass Kafka's largest offset",
        ));
    }
    let mut batch = batch.to_vec();
    set_offset_base(&mut batch, offset_base);
    if epoch >= 0 {
        set_leader_epoch(&mut batch, epoch);
    }
    let header = BatchHeader::parse(&batch)?;
    write_batch(txn, topic, partition, &mut state, &batch, &header)?;
    state.next_offset = header.offset_last() + 1;
    txn.insert_pending(
        TREE_PARTITIONS,
        &partition_key(topic.id, partition),
        &state.encode(),
    )?;
    Ok(offset_base)
}

/// Appends one batch as a Kafka producer encoded it (Kafka's `compression.type=producer`):
/// only `baseOffset` and `partitionLeaderEpoch`, which its CRC does not cover, are
/// rewritten, and for a `LogAppendTime` topic the timestamp type and `maxTimestamp` (the
/// CRC recomputed), as Kafka's broker does. The batch is checked first: magic 2, lengths
/// and CRC, no control batch, one offset per record, the topic's `max.message.bytes`; its
/// records are decoded, a compressed batch's decompressed within the codec's bound (so
/// that every reader can read what is stored), and on a compacted topic each needs a key.
/// The caller checks the producer fields of an idempotent batch ([`super::producers`]).
pub(crate) fn append_batch(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    batch: &mut [u8],
    now_ms: i64,
) -> Result<Appended> {
    let header = check_produced_batch(topic, batch)?;
    let mut state = super::read::partition_state(txn, topic.id, partition)?;
    let epoch = crate::counters::leader_epoch(txn)?;
    let offset_base = state.next_offset;
    set_offset_base(batch, offset_base);
    set_leader_epoch(batch, epoch.max(-1));
    if topic.config.timestamp_type == TimestampType::LogAppendTime
        && header.timestamp_type() == TimestampType::CreateTime
    {
        set_log_append_time(batch, now_ms);
    }
    let header = BatchHeader::parse(batch)?;
    write_batch(txn, topic, partition, &mut state, batch, &header)?;
    state.next_offset = header.offset_last() + 1;
    txn.insert_pending(
        TREE_PARTITIONS,
        &partition_key(topic.id, partition),
        &state.encode(),
    )?;
    Ok(Appended {
        offset_base,
        count: u64::from(header.offset_delta_last) + 1,
        timestamp_ms: match topic.config.timestamp_type {
            TimestampType::CreateTime => header.timestamp_base_ms,
            TimestampType::LogAppendTime => header.timestamp_max_ms,
        },
    })
}

/// A pre-encoded batch fits the topic's `max.message.bytes` (and brooklet's batch limit).
fn check_batch_size(topic: &TopicMeta, batch: &[u8]) -> Result<()> {
    let max_batch = (topic.config.max_message_bytes as usize).min(MAX_BATCH_SIZE);
    if batch.len() > max_batch {
        return Err(Error::RecordTooLarge {
            what: format!("a batch for topic {} (max.message.bytes)", topic.name),
            size: batch.len(),
            max: max_batch,
        });
    }
    Ok(())
}

/// Checks a batch a producer sent before [`append_batch`] stores it; see there.
/// A damaged batch from a producer is an invalid argument, not a damaged file.
fn check_produced_batch(topic: &TopicMeta, batch: &[u8]) -> Result<BatchHeader> {
    let header = verify_batch(batch).map_err(|e| Error::invalid(e.to_string()))?;
    if header.size() != batch.len() {
        return Err(Error::invalid("bytes follow the batch"));
    }
    if header.is_control() {
        return Err(Error::invalid("producers may not send control batches"));
    }
    if header.is_transactional() {
        // Its transaction would have no entry in log.txn-open, so nothing would hold the
        // last stable offset back and no marker would end it.
        return Err(Error::invalid(
            "transactional batches are not accepted here: use a brooklet transaction",
        ));
    }
    if header.record_count == 0 || header.record_count != header.offset_delta_last + 1 {
        return Err(Error::invalid(
            "a produced batch has one offset per record (lastOffsetDelta + 1 = recordCount)",
        ));
    }
    check_batch_size(topic, batch)?;
    if header.timestamp_base_ms < 0 && header.timestamp_type() == TimestampType::CreateTime {
        return Err(Error::invalid("negative timestamp"));
    }
    let compacts = topic.config.cleanup_policy.compacts();
    // Every record is decoded (a compressed batch decompressed, within its bound), so that
    // every reader can read what is stored, as Kafka's broker validates a produced batch.
    let mut keyless = false;
    crate::kafka::records::visit_verified(header, batch, |record, _| {
        keyless |= record.key.is_none();
    })
    .map_err(|e| Error::invalid(e.to_string()))?;
    if compacts && keyless {
        return Err(Error::invalid(format!(
            "topic {} is compacted (cleanup.policy={}), so every record needs a key",
            topic.name, topic.config.cleanup_policy
        )));
    }
    Ok(header)
}

/// Appends a transaction marker (a control batch of one record) for the producer `stamp`
/// names to `partition`, and returns its offset.
pub(crate) fn append_control(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    stamp: &ProducerStamp,
    kind: ControlType,
    now_ms: i64,
) -> Result<u64> {
    let mut state = super::read::partition_state(txn, topic.id, partition)?;
    let epoch = crate::counters::leader_epoch(txn)?;
    let offset = state.next_offset;
    let mut batch = encode_control_batch(offset, stamp, kind, now_ms)?;
    if epoch >= 0 {
        set_leader_epoch(&mut batch, epoch);
    }
    let header = BatchHeader::parse(&batch)?;
    write_batch(txn, topic, partition, &mut state, &batch, &header)?;
    state.next_offset = offset + 1;
    txn.insert_pending(
        TREE_PARTITIONS,
        &partition_key(topic.id, partition),
        &state.encode(),
    )?;
    Ok(offset)
}

/// Splits records into runs whose batches should stay under `max_batch` bytes. The
/// estimate is generous (a record's tail plus the most its length, attributes and deltas
/// can take); a single record over the limit is its own run and fails to encode.
fn chunks<S: RecordSource + ?Sized>(records: &S, max_batch: usize) -> Vec<Run<'_, S>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = BATCH_HEADER_SIZE;
    for i in 0..records.count() {
        let estimate = 32 + records.tail_size(i);
        if i > start && size + estimate > max_batch {
            out.push(Run {
                source: records,
                start,
                count: i - start,
            });
            start = i;
            size = BATCH_HEADER_SIZE;
        }
        size += estimate;
    }
    out.push(Run {
        source: records,
        start,
        count: records.count() - start,
    });
    out
}

/// Writes one encoded batch at the end of the partition, opening a segment if needed, and
/// updates the segment and the indexes.
fn write_batch(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    state: &mut PartitionState,
    batch: &[u8],
    header: &BatchHeader,
) -> Result<()> {
    let batch_timestamp_max = header.timestamp_max_ms;
    let page_size = txn.page_size();
    let len = u32::try_from(batch.len()).expect("batches are at most 1 MiB");
    let mut segment = active_segment(txn, topic, partition, state)?;
    let fits = segment
        .as_ref()
        .is_some_and(|s| u64::from(s.bytes_used) + u64::from(len) <= s.capacity(page_size));
    if !fits {
        segment = Some(open_segment(txn, topic, state, len)?);
        state.active_base = state.next_offset;
        state.segment_count = state
            .segment_count
            .checked_add(1)
            .ok_or_else(|| Error::bad_value(TREE_PARTITIONS, "segment count overflows"))?;
        // Index positions are within the active segment: start over in the new one.
        state.indexed_pos = 0;
        state.timed_pos = 0;
    }
    let mut seg = segment.expect("a segment is open");
    let position = seg.bytes_used;
    txn.write_data(PageId(seg.first_page), u64::from(position), batch)?;
    seg.bytes_used += len;
    seg.offset_last = header.offset_last();
    seg.timestamp_max = seg.timestamp_max.max(batch_timestamp_max);
    let indexed = position == 0 || position.saturating_sub(state.indexed_pos) >= INDEX_INTERVAL;
    let raises_time = batch_timestamp_max > state.timestamp_max;
    let timed = raises_time
        && (position == 0 || position.saturating_sub(state.timed_pos) >= INDEX_INTERVAL);
    let key = offset_key(topic.id, partition, state.active_base);
    if indexed || timed {
        // The commit writes index pages: the segment entry goes into its tree first, as
        // it always did, so copy-on-write allocates pages in the same order.
        txn.insert(TREE_SEGMENTS, &key, &seg.encode())?;
    } else {
        // Pending while the commit writes no tree page: a commit that only appends into
        // the active segments' unused tails then writes no tree page at all.
        txn.insert_pending(TREE_SEGMENTS, &key, &seg.encode())?;
    }
    if indexed {
        let entry = IndexEntry {
            segment_base: state.active_base,
            position,
        };
        txn.insert(
            TREE_OFFSETS,
            &offset_key(topic.id, partition, state.next_offset),
            &entry.encode(),
        )?;
        state.indexed_pos = position;
    }
    if timed {
        txn.insert(
            TREE_TIMES,
            &time_key(topic.id, partition, batch_timestamp_max),
            &encode_time_entry(state.next_offset),
        )?;
        state.timed_pos = position;
    }
    if raises_time {
        state.timestamp_max = batch_timestamp_max;
    }
    state.bytes_total = state
        .bytes_total
        .checked_add(u64::from(len))
        .ok_or_else(|| Error::bad_value(TREE_PARTITIONS, "partition byte count overflows"))?;
    Ok(())
}

fn active_segment(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    state: &PartitionState,
) -> Result<Option<Segment>> {
    if state.segment_count == 0 {
        return Ok(None);
    }
    let key = offset_key(topic.id, partition, state.active_base);
    let value = txn
        .get(TREE_SEGMENTS, &key)?
        .ok_or_else(|| Error::bad_value(TREE_PARTITIONS, "active segment missing"))?;
    let segment = Segment::decode(&value, txn.bounds())?;
    // Appends write into the segment's unused tail: it must be a data extent of exactly
    // its size, or they would overwrite pages that something else holds.
    if txn.extent_pages(PageId(segment.first_page))? != Some(segment.page_count) {
        return Err(Error::bad_value(
            TREE_SEGMENTS,
            "active segment is not the data extent it names",
        ));
    }
    Ok(Some(segment))
}

/// Allocates a new segment able to hold at least `min_bytes`.
fn open_segment(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    state: &PartitionState,
    min_bytes: u32,
) -> Result<Segment> {
    let page_size = txn.page_size();
    let page_count = segment_pages(
        state.bytes_total,
        topic.config.segment_bytes,
        page_size,
        min_bytes,
    );
    let first = txn.alloc_extent(page_count)?;
    Ok(Segment {
        first_page: first.0,
        page_count,
        bytes_used: 0,
        offset_last: state.next_offset,
        timestamp_max: i64::MIN,
    })
}

/// Pages of a new segment of a partition holding `bytes_total` bytes: about as many bytes
/// as it holds (so the partition's space doubles at each new segment), at least one page
/// and the `min_bytes` of the batch that opens it, at most `segment_bytes` otherwise.
fn segment_pages(bytes_total: u64, segment_bytes: u32, page_size: u32, min_bytes: u32) -> u32 {
    let target = bytes_total
        .min(u64::from(segment_bytes))
        .max(u64::from(min_bytes));
    let pages = target.div_ceil(u64::from(page_size)).max(1);
    u32::try_from(pages).expect("at most u32::MAX bytes, so at most u32::MAX pages")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::Record;

    #[test]
    fn chunks_respect_the_estimate() {
        let records: Vec<Record> = (0..100)
            .map(|_| Record {
                value: Some(vec![0u8; 1000]),
                ..Record::default()
            })
            .collect();
        let runs = chunks(records.as_slice(), 10_000);
        assert!(runs.len() >= 10);
        assert_eq!(runs.iter().map(|r| r.count).sum::<usize>(), 100);
        assert_eq!(chunks(&records[..1], 10).len(), 1);
    }

    #[test]
    fn segments_start_at_one_page_and_double_up_to_segment_bytes() {
        let mib4 = 4 << 20;
        // An empty partition's first small batch takes one page.
        assert_eq!(segment_pages(0, mib4, 4096, 130), 1);
        // Then about what the partition holds.
        assert_eq!(segment_pages(4000, mib4, 4096, 130), 1);
        assert_eq!(segment_pages(8192, mib4, 4096, 130), 2);
        assert_eq!(segment_pages(3 << 20, mib4, 4096, 130), 768);
        // At most segment.bytes, but always the batch that opens it.
        assert_eq!(segment_pages(1 << 40, mib4, 4096, 130), 1024);
        assert_eq!(segment_pages(0, mib4, 4096, 1 << 20), 256);
        assert_eq!(segment_pages(1 << 40, 65536, 65536, 1 << 20), 16);
        assert_eq!(segment_pages(0, u32::MAX, 512, u32::MAX), 1 << 23);
    }
}
