//! Kafka `RecordBatch` v2 ("magic 2"), the bytes brooklet stores for every appended batch, so
//! that any Kafka decoder can read them unchanged. Pure code: no I/O, so the decoder can be
//! fuzzed alone.
//!
//! ## Batch header (61 bytes, big-endian)
//!
//! | offset | size | Kafka field            | brooklet writes                                  |
//! |--------|------|------------------------|--------------------------------------------------|
//! | 0      | 8    | `baseOffset`           | offset of the first record                       |
//! | 8      | 4    | `batchLength`          | bytes after this field: total size - 12          |
//! | 12     | 4    | `partitionLeaderEpoch` | -1 (unset; no leaders in one file)               |
//! | 16     | 1    | `magic`                | 2                                                |
//! | 17     | 4    | `crc`                  | CRC-32C (Castagnoli) of bytes 21..end, unsigned  |
//! | 21     | 2    | `attributes`           | bit 3 = timestamp type (0 create, 1 log append); |
//! |        |      |                        | bits 0-2 compression (0 none, or the topic's     |
//! |        |      |                        | `compression.type`); other bits 0                |
//! | 23     | 4    | `lastOffsetDelta`      | record count - 1                                 |
//! | 27     | 8    | `baseTimestamp`        | timestamp of the first record                    |
//! | 35     | 8    | `maxTimestamp`         | create time: the largest record timestamp;       |
//! |        |      |                        | log append time: the append time                 |
//! | 43     | 8    | `producerId`           | -1 (no idempotent producer)                      |
//! | 51     | 2    | `producerEpoch`        | -1                                               |
//! | 53     | 4    | `baseSequence`         | -1                                               |
//! | 57     | 4    | `recordCount`          | number of records, at least 1                    |
//!
//! ## Record (varints are zigzag, as Kafka's; `-1` lengths mean null)
//!
//! | field            | type             | brooklet writes                                  |
//! |------------------|------------------|--------------------------------------------------|
//! | `length`         | varint           | bytes of the record after this field             |
//! | `attributes`     | int8             | 0 (unused by Kafka)                              |
//! | `timestampDelta` | varlong          | record timestamp - `baseTimestamp`               |
//! | `offsetDelta`    | varint           | index of the record in the batch (0, 1, 2, ...)  |
//! | `keyLength`      | varint           | key length, or -1 for a null key                 |
//! | `key`            | bytes            |                                                  |
//! | `valueLength`    | varint           | value length, or -1 for a null value             |
//! | `value`          | bytes            |                                                  |
//! | `headerCount`    | varint           | number of headers, in produce order              |
//! | per header       | varint, bytes    | key length and UTF-8 key (never null)            |
//! |                  | varint, bytes    | value length (-1 for null) and value             |
//!
//! Timestamps: a record produced without a timestamp gets the append time. Under log append
//! time, brooklet does what Kafka's broker and `MemoryRecordsBuilder` do: `baseTimestamp` and
//! the deltas keep the producers' create times and `maxTimestamp` holds the append time,
//! which every Kafka decoder (and [`decode_batch`]) reports as each record's timestamp.
//! Negative timestamps are rejected, as Kafka's producer rejects them.
//!
//! ## Decoding
//! [`decode_batch`] is total: any input gives a batch or [`CorruptionKind::BadBatch`], never a
//! panic, and it allocates at most one record per 7 input bytes (the smallest record) plus
//! the records' own keys, values and headers. It checks magic, lengths, the CRC, every varint
//! and length, and that offset deltas strictly increase within `0..=lastOffsetDelta` (batches
//! brooklet writes have delta `i` at index `i`; compacted Kafka batches may have gaps). It
//! accepts transactional, control and idempotent batches and reports their fields, and
//! compressed ones (gzip, snappy, lz4, zstd; see [`super::compression`]), whose records it
//! decompresses within [`MAX_DECOMPRESSED_SIZE`].
//!
//! [`CorruptionKind::BadBatch`]: crate::CorruptionKind::BadBatch

use super::compression::{Compression, MAX_DECOMPRESSED_SIZE, compress};
use super::record::RecordSource;
use super::record::{Record, TimestampType};
use super::wire::{Reader, bad_batch, put_varint, put_varlong, varint_size, varlong_size};
use crate::error::{Error, Result};

pub(crate) const OFF_BATCH_LENGTH: usize = 8;
pub(crate) const OFF_LEADER_EPOCH: usize = OFF_BATCH_LENGTH + 4;
pub(crate) const OFF_MAGIC: usize = OFF_LEADER_EPOCH + 4;
pub(crate) const OFF_CRC: usize = OFF_MAGIC + 1;
pub(crate) const OFF_ATTRIBUTES: usize = OFF_CRC + 4;
pub(crate) const OFF_TIMESTAMP_MAX: usize = OFF_ATTRIBUTES + 2 + 4 + 8;
pub(crate) const OFF_RECORD_COUNT: usize = OFF_TIMESTAMP_MAX + 8 + 8 + 2 + 4;

/// Size of the fixed batch header, Kafka's `RECORD_BATCH_OVERHEAD`.
pub const BATCH_HEADER_SIZE: usize = OFF_RECORD_COUNT + 4;
/// Bytes before and including `batchLength`, which that length does not count (Kafka's
/// `LOG_OVERHEAD`).
pub(crate) const LOG_OVERHEAD: usize = OFF_LEADER_EPOCH;
const _: () = assert!(BATCH_HEADER_SIZE == 61);

/// Kafka's magic byte for `RecordBatch` v2.
const MAGIC_V2: i8 = 2;
/// Bits 0-2 of the attributes: the compression codec.
const ATTR_COMPRESSION_MASK: u16 = 0x07;
/// Bit 3 of the attributes: 1 for log append time.
pub(crate) const ATTR_LOG_APPEND_TIME: u16 = 0x08;
/// Bit 4 of the attributes: part of a transaction.
pub(crate) const ATTR_TRANSACTIONAL: u16 = 0x10;
/// Bit 5 of the attributes: a control batch (transaction markers).
pub(crate) const ATTR_CONTROL: u16 = 0x20;
/// Kafka's "unset" for producer id, epoch, base sequence and partition leader epoch.
const UNSET: i8 = -1;

/// The smallest possible record: one byte each for length, attributes, timestamp delta,
/// offset delta, key length, value length and header count.
pub(crate) const RECORD_SIZE_MIN: usize = 7;

/// Largest encoded batch, header included: Kafka's default `max.message.bytes` (1 MiB plus
/// the 12-byte log overhead).
pub const MAX_BATCH_SIZE: usize = 1_048_588;
/// Largest encoded record (its length prefix included): what fits in a batch of one.
pub const MAX_RECORD_SIZE: usize = MAX_BATCH_SIZE - BATCH_HEADER_SIZE;
const _: () = assert!(MAX_BATCH_SIZE <= i32::MAX as usize);

/// The producer fields of a batch: who wrote it, and where it falls in their sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProducerStamp {
    /// Kafka's `producerId`.
    pub producer_id: i64,
    /// Kafka's `producerEpoch`.
    pub producer_epoch: i16,
    /// Kafka's `baseSequence`: the sequence number of the batch's first record.
    pub sequence_base: i32,
    /// Whether the batch is part of a transaction (attribute bit 4).
    pub transactional: bool,
}

/// Adds `n` to a sequence number, wrapping from `i32::MAX` to 0 as Kafka's producer does.
#[must_use]
pub fn sequence_add(sequence: i32, n: u32) -> i32 {
    let wrapped = (i64::from(sequence) + i64::from(n)) % (i64::from(i32::MAX) + 1);
    i32::try_from(wrapped).expect("reduced modulo 2^31")
}

/// The fixed header of a batch, parsed without touching its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    /// Offset of the first record (Kafka's `baseOffset`).
    pub offset_base: u64,
    /// Bytes after the length field (Kafka's `batchLength`); see [`BatchHeader::size`].
    pub batch_length: u32,
    /// Kafka's `partitionLeaderEpoch`; -1 in batches brooklet writes.
    pub partition_leader_epoch: i32,
    /// The CRC-32C stored in the batch (not verified by [`BatchHeader::parse`]).
    pub crc: u32,
    /// Kafka's attribute bits: compression, timestamp type, transactional, control.
    pub attributes: u16,
    /// Offset of the last record minus `offset_base` (Kafka's `lastOffsetDelta`).
    pub offset_delta_last: u32,
    /// Kafka's `baseTimestamp`: the first record's timestamp, which deltas are relative to.
    pub timestamp_base_ms: i64,
    /// Kafka's `maxTimestamp`: the largest create time, or the log append time.
    pub timestamp_max_ms: i64,
    /// Kafka's `producerId`; -1 when not idempotent.
    pub producer_id: i64,
    /// Kafka's `producerEpoch`; -1 when not idempotent.
    pub producer_epoch: i16,
    /// Kafka's `baseSequence`; -1 when not idempotent.
    pub sequence_base: i32,
    /// Number of records in the batch (Kafka's `recordCount`).
    pub record_count: u32,
}

impl BatchHeader {
    /// Parses the fixed header at the start of `bytes`, which needs at least
    /// [`BATCH_HEADER_SIZE`] bytes but not the records. Checks the magic byte and that the
    /// length, offsets and record count are consistent with each other; does not check the
    /// CRC (see [`verify_batch`]).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let Some(fixed) = bytes.get(..BATCH_HEADER_SIZE) else {
            return Err(bad_batch("batch header is truncated"));
        };
        // The magic decides the layout of everything else (v0 and v1 differ after it).
        if fixed[OFF_MAGIC] != MAGIC_V2.to_be_bytes()[0] {
            return Err(bad_batch(
                "magic is not 2 (only RecordBatch v2 is supported)",
            ));
        }
        let mut reader = Reader::new(fixed);
        let offset_base = reader.i64()?;
        let batch_length = reader.i32()?;
        let partition_leader_epoch = reader.i32()?;
        reader.i8()?;
        let crc = reader.u32()?;
        let attributes = u16::from_ne_bytes(reader.i16()?.to_ne_bytes());
        let offset_delta_last = reader.i32()?;
        let timestamp_base_ms = reader.i64()?;
        let timestamp_max_ms = reader.i64()?;
        let producer_id = reader.i64()?;
        let producer_epoch = reader.i16()?;
        let sequence_base = reader.i32()?;
        let record_count = reader.i32()?;

        let offset_base =
            u64::try_from(offset_base).map_err(|_| bad_batch("negative base offset"))?;
        let batch_length = u32::try_from(batch_length)
            .ok()
            .filter(|&length| length as usize >= BATCH_HEADER_SIZE - LOG_OVERHEAD)
            .ok_or_else(|| bad_batch("batch length is shorter than the batch header"))?;
        let offset_delta_last = u32::try_from(offset_delta_last)
            .map_err(|_| bad_batch("negative last offset delta"))?;
        let record_count =
            u32::try_from(record_count).map_err(|_| bad_batch("negative record count"))?;
        let header = Self {
            offset_base,
            batch_length,
            partition_leader_epoch,
            crc,
            attributes,
            offset_delta_last,
            timestamp_base_ms,
            timestamp_max_ms,
            producer_id,
            producer_epoch,
            sequence_base,
            record_count,
        };
        header.check_consistency()?;
        Ok(header)
    }

    fn check_consistency(&self) -> Result<()> {
        let offset_last = self
            .offset_base
            .checked_add(u64::from(self.offset_delta_last));
        if offset_last.is_none_or(|last| i64::try_from(last).is_err()) {
            return Err(bad_batch("last offset overflows"));
        }
        if Compression::from_id(self.compression()).is_none() {
            return Err(bad_batch("compression codec is not 0 to 4"));
        }
        // Compressed records are bounded by what they may expand to; the decoder checks
        // the count again against the bytes they do expand to.
        let records_size = if self.compression() == 0 {
            self.size() - BATCH_HEADER_SIZE
        } else {
            MAX_DECOMPRESSED_SIZE
        };
        if self.record_count as usize > records_size / RECORD_SIZE_MIN {
            return Err(bad_batch("record count does not fit the batch length"));
        }
        // Each record has its own delta in 0..=offset_delta_last.
        if u64::from(self.record_count) > u64::from(self.offset_delta_last) + 1 {
            return Err(bad_batch("more records than offsets"));
        }
        Ok(())
    }

    /// Total size of the batch in bytes, header included.
    #[must_use]
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }

    /// The last offset the batch covers: its last record's, unless compaction removed that
    /// record.
    #[must_use]
    pub fn offset_last(&self) -> u64 {
        self.offset_base + u64::from(self.offset_delta_last)
    }

    /// What the record timestamps mean.
    #[must_use]
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & ATTR_LOG_APPEND_TIME == 0 {
            TimestampType::CreateTime
        } else {
            TimestampType::LogAppendTime
        }
    }

    /// Kafka's compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    #[must_use]
    pub fn compression(&self) -> u16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }

    /// The codec of the records section, or `None` for ids 5 to 7, which name none (a
    /// header [`BatchHeader::parse`] accepted always names one).
    #[must_use]
    pub fn codec(&self) -> Option<Compression> {
        Compression::from_id(self.compression())
    }

    /// True if the batch belongs to a Kafka transaction.
    #[must_use]
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// True for a Kafka control batch: its records are transaction commit or abort markers,
    /// not data.
    #[must_use]
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
}

/// Parses the header of the batch at the start of `bytes` and checks that the whole batch is
/// present and its CRC matches, without decoding its records. Bytes after the batch are
/// ignored; the batch's size is [`BatchHeader::size`].
pub fn verify_batch(bytes: &[u8]) -> Result<BatchHeader> {
    let header = BatchHeader::parse(bytes)?;
    let Some(batch) = bytes.get(..header.size()) else {
        return Err(bad_batch("batch length runs past the end of the bytes"));
    };
    if crc32c::crc32c(&batch[OFF_ATTRIBUTES..]) != header.crc {
        return Err(bad_batch("CRC-32C mismatch"));
    }
    Ok(header)
}

/// Encodes `records` as one batch whose first record gets offset `offset_base`. Records
/// without a timestamp, and under [`TimestampType::LogAppendTime`] the batch's
/// `maxTimestamp`, get `now_ms`.
pub fn encode_batch(
    offset_base: u64,
    records: &[Record],
    timestamp_type: TimestampType,
    now_ms: i64,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_batch_into(&mut out, offset_base, records, timestamp_type, now_ms)?;
    Ok(out)
}

/// Like [`encode_batch`], but appends the batch to `out` (written in one pass, the header last) and
/// returns its size. On error `out` is unchanged.
pub fn encode_batch_into(
    out: &mut Vec<u8>,
    offset_base: u64,
    records: &[Record],
    timestamp_type: TimestampType,
    now_ms: i64,
) -> Result<usize> {
    let codec = Compression::None;
    encode_source_into(
        out,
        offset_base,
        records,
        timestamp_type,
        now_ms,
        None,
        codec,
    )
}

/// Like [`encode_batch_into`], but the batch carries a producer's fields (`stamp`): what an
/// idempotent or transactional producer writes, for example to send the records on to a
/// Kafka broker under its own producer id.
pub fn encode_batch_stamped_into(
    out: &mut Vec<u8>,
    offset_base: u64,
    records: &[Record],
    timestamp_type: TimestampType,
    now_ms: i64,
    stamp: &ProducerStamp,
) -> Result<usize> {
    encode_source_into(
        out,
        offset_base,
        records,
        timestamp_type,
        now_ms,
        Some(stamp),
        Compression::None,
    )
}

/// [`encode_batch_into`] over any [`RecordSource`]: owned, packed or gathered records.
///
/// One pass: each record is checked against Kafka's rules and brooklet's limits and written
/// as it is sized, and the header, which needs the whole batch's size and timestamps, is
/// filled in last. With a `codec` other than [`Compression::None`], the records section is
/// then compressed (the limits apply to the records before compression). On error `out`
/// is cut back to its length on entry.
pub(crate) fn encode_source_into<S: RecordSource + ?Sized>(
    out: &mut Vec<u8>,
    offset_base: u64,
    records: &S,
    timestamp_type: TimestampType,
    now_ms: i64,
    stamp: Option<&ProducerStamp>,
    codec: Compression,
) -> Result<usize> {
    let start = out.len();
    let result = encode_records(out, offset_base, records, timestamp_type, now_ms);
    match result {
        Ok(mut plan) => {
            let codec = compress_section(out, start, codec);
            plan.size = out.len() - start;
            let mut header = Vec::with_capacity(BATCH_HEADER_SIZE);
            write_header(&mut header, offset_base, &plan, timestamp_type, stamp);
            header[OFF_ATTRIBUTES + 1] |= u8::try_from(codec.id()).expect("codec ids are 0 to 4");
            let batch = &mut out[start..];
            assert_eq!(
                batch.len(),
                plan.size,
                "planned and written batch sizes differ"
            );
            batch[..BATCH_HEADER_SIZE].copy_from_slice(&header);
            // The CRC runs over the bytes just written, still in cache.
            let crc = crc32c::crc32c(&batch[OFF_ATTRIBUTES..]);
            batch[OFF_CRC..OFF_ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
            Ok(plan.size)
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Compresses the records section of the batch at `start` of `out` with `codec`, unless
/// that would not make it smaller; returns the codec the section is stored with. So a
/// compressed batch is never larger than the same batch uncompressed, and the size limits
/// checked on the records hold for it too.
fn compress_section(out: &mut Vec<u8>, start: usize, codec: Compression) -> Compression {
    if codec == Compression::None {
        return codec;
    }
    let section = out.split_off(start + BATCH_HEADER_SIZE);
    compress(codec, &section, out);
    if out.len() - start - BATCH_HEADER_SIZE < section.len() {
        return codec;
    }
    out.truncate(start + BATCH_HEADER_SIZE);
    out.extend_from_slice(&section);
    Compression::None
}

/// Writes room for the header and then the records, checking each; returns what the header
/// needs.
fn encode_records<S: RecordSource + ?Sized>(
    out: &mut Vec<u8>,
    offset_base: u64,
    records: &S,
    timestamp_type: TimestampType,
    now_ms: i64,
) -> Result<Plan> {
    let count = records.count();
    if count == 0 {
        return Err(Error::invalid("a batch needs at least one record"));
    }
    if now_ms < 0 {
        return Err(Error::invalid(format!(
            "append time {now_ms} ms is negative"
        )));
    }
    let timestamp_base_ms = records.timestamp_ms(0).unwrap_or(now_ms);
    let mut timestamp_max_ms = timestamp_base_ms;
    let mut size = BATCH_HEADER_SIZE;
    out.extend_from_slice(&[0; BATCH_HEADER_SIZE]);
    for index in 0..count {
        let timestamp_ms = records.timestamp_ms(index).unwrap_or(now_ms);
        if timestamp_ms < 0 {
            return Err(Error::invalid(format!(
                "record {index} has negative timestamp {timestamp_ms} ms"
            )));
        }
        timestamp_max_ms = timestamp_max_ms.max(timestamp_ms);
        // Past MAX_BATCH_SIZE / 7 records the size check below has already failed.
        let offset_delta = i32::try_from(index).unwrap_or(i32::MAX);
        let timestamp_delta = timestamp_ms - timestamp_base_ms;
        let body = 1
            + varlong_size(timestamp_delta)
            + varint_size(offset_delta)
            + records.tail_size(index);
        size = check_sizes(index, count, length_size(body) + body, size)?;
        put_varint(
            out,
            i32::try_from(body).expect("checked against MAX_RECORD_SIZE"),
        );
        out.push(0); // attributes
        put_varlong(out, timestamp_delta);
        put_varint(out, offset_delta);
        records.put_tail(index, out);
    }
    let offset_delta_last =
        u32::try_from(count - 1).expect("MAX_BATCH_SIZE bounds the record count");
    let offset_last = offset_base.checked_add(u64::from(offset_delta_last));
    if offset_last.is_none_or(|last| i64::try_from(last).is_err()) {
        return Err(Error::invalid(format!(
            "offsets from {offset_base} for {count} records pass Kafka's largest offset {}",
            i64::MAX
        )));
    }
    if timestamp_type == TimestampType::LogAppendTime {
        timestamp_max_ms = now_ms;
    }
    Ok(Plan {
        size,
        offset_delta_last,
        timestamp_base_ms,
        timestamp_max_ms,
    })
}

/// Checks record `index` of `count`, of `record_size` bytes, against the record and batch
/// limits; returns the batch's size with it, from `size` before it.
fn check_sizes(index: usize, count: usize, record_size: usize, size: usize) -> Result<usize> {
    if record_size > MAX_RECORD_SIZE {
        return Err(Error::RecordTooLarge {
            what: format!("record {index} (MAX_RECORD_SIZE)"),
            size: record_size,
            max: MAX_RECORD_SIZE,
        });
    }
    let size = size + record_size;
    if size > MAX_BATCH_SIZE {
        return Err(Error::RecordTooLarge {
            what: format!(
                "the batch (MAX_BATCH_SIZE), at its first {} of {count} records,",
                index + 1
            ),
            size,
            max: MAX_BATCH_SIZE,
        });
    }
    Ok(size)
}

/// What the header needs from the records.
#[derive(Debug)]
struct Plan {
    size: usize,
    offset_delta_last: u32,
    timestamp_base_ms: i64,
    timestamp_max_ms: i64,
}

/// Sets a batch's `partitionLeaderEpoch`, which its CRC does not cover (Kafka's broker
/// stamps it the same way after the producer's encoding).
pub(crate) fn set_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[OFF_LEADER_EPOCH..OFF_MAGIC].copy_from_slice(&epoch.to_be_bytes());
}

/// Sets a batch's `baseOffset`, which its CRC does not cover (Kafka's broker assigns
/// offsets to a producer's batch the same way).
pub(crate) fn set_offset_base(batch: &mut [u8], offset_base: u64) {
    let offset = i64::try_from(offset_base).expect("offsets are Kafka offsets, under 2^63");
    batch[..OFF_BATCH_LENGTH].copy_from_slice(&offset.to_be_bytes());
}

/// Marks a producer's batch as `LogAppendTime` with `maxTimestamp` = `now_ms` and
/// recomputes its CRC, as Kafka's broker does for a topic with
/// `message.timestamp.type=LogAppendTime`. The batch must hold its whole length.
pub(crate) fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = u16::from_be_bytes([batch[OFF_ATTRIBUTES], batch[OFF_ATTRIBUTES + 1]]);
    batch[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2]
        .copy_from_slice(&(attributes | ATTR_LOG_APPEND_TIME).to_be_bytes());
    batch[OFF_TIMESTAMP_MAX..OFF_TIMESTAMP_MAX + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[OFF_ATTRIBUTES..]);
    batch[OFF_CRC..OFF_ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
}

fn write_header(
    out: &mut Vec<u8>,
    offset_base: u64,
    plan: &Plan,
    timestamp_type: TimestampType,
    stamp: Option<&ProducerStamp>,
) {
    let batch_length = i32::try_from(plan.size - LOG_OVERHEAD).expect("size <= MAX_BATCH_SIZE");
    let mut attributes: u16 = match timestamp_type {
        TimestampType::CreateTime => 0,
        TimestampType::LogAppendTime => ATTR_LOG_APPEND_TIME,
    };
    let (producer_id, producer_epoch, sequence_base) = match stamp {
        Some(s) => {
            if s.transactional {
                attributes |= ATTR_TRANSACTIONAL;
            }
            (s.producer_id, s.producer_epoch, s.sequence_base)
        }
        None => (i64::from(UNSET), i16::from(UNSET), i32::from(UNSET)),
    };
    let offset_base = i64::try_from(offset_base).expect("encode_records checked the offsets");
    let offset_delta_last = i32::try_from(plan.offset_delta_last).expect("size <= MAX_BATCH_SIZE");
    out.extend_from_slice(&offset_base.to_be_bytes());
    out.extend_from_slice(&batch_length.to_be_bytes());
    out.extend_from_slice(&i32::from(UNSET).to_be_bytes()); // partitionLeaderEpoch
    out.extend_from_slice(&MAGIC_V2.to_be_bytes());
    out.extend_from_slice(&0_u32.to_be_bytes()); // crc, filled in last
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&offset_delta_last.to_be_bytes());
    out.extend_from_slice(&plan.timestamp_base_ms.to_be_bytes());
    out.extend_from_slice(&plan.timestamp_max_ms.to_be_bytes());
    out.extend_from_slice(&producer_id.to_be_bytes());
    out.extend_from_slice(&producer_epoch.to_be_bytes());
    out.extend_from_slice(&sequence_base.to_be_bytes());
    out.extend_from_slice(&(offset_delta_last + 1).to_be_bytes()); // recordCount
}

/// Size of the varint for a length; a length past `i32::MAX` is over every limit anyway.
pub(crate) fn length_size(length: usize) -> usize {
    i32::try_from(length).map_or(super::wire::VARINT_SIZE_MAX, varint_size)
}

pub(crate) fn nullable_size(bytes: Option<&[u8]>) -> usize {
    bytes.map_or(1, |bytes| length_size(bytes.len()) + bytes.len())
}

pub(crate) fn put_length_checked(out: &mut Vec<u8>, length: usize) {
    put_varint(
        out,
        i32::try_from(length).expect("callers check MAX_RECORD_SIZE"),
    );
}

pub(crate) fn put_nullable(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(out, -1),
        Some(bytes) => {
            put_length_checked(out, bytes.len());
            out.extend_from_slice(bytes);
        }
    }
}

impl RecordSource for [Record] {
    fn count(&self) -> usize {
        self.len()
    }
    fn key(&self, i: usize) -> Option<&[u8]> {
        self[i].key.as_deref()
    }
    fn timestamp_ms(&self, i: usize) -> Option<i64> {
        self[i].timestamp_ms
    }

    fn tail_size(&self, i: usize) -> usize {
        let r = &self[i];
        nullable_size(r.key.as_deref())
            + nullable_size(r.value.as_deref())
            + super::batch::length_size(r.headers.len())
            + r.headers
                .iter()
                .map(|h| nullable_size(Some(h.key.as_bytes())) + nullable_size(h.value.as_deref()))
                .sum::<usize>()
    }
    fn put_tail(&self, i: usize, out: &mut Vec<u8>) {
        let r = &self[i];
        put_nullable(out, r.key.as_deref());
        put_nullable(out, r.value.as_deref());
        put_length_checked(out, r.headers.len());
        for h in &r.headers {
            put_nullable(out, Some(h.key.as_bytes()));
            put_nullable(out, h.value.as_deref());
        }
    }
}
