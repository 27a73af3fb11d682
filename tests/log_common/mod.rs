//! Shared helpers for the event-log tests: seeded random records, the in-memory model of
//! partitions the log is checked against, and reading a whole partition back.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the helpers"
)]

use std::collections::BTreeSet;

use brooklet::{Brooklet, FetchLimits, Header, Record, RecordMetadata, StoredRecord};

/// Explicit timestamps are drawn from here on (2020-09-13), so that records produced without
/// a timestamp (append time, today) sort after them.
pub const TIMESTAMP_BASE_MS: i64 = 1_600_000_000_000;
/// Explicit timestamps spread over this many milliseconds.
pub const TIMESTAMP_SPREAD_MS: i64 = 600_000;

/// Random bytes of a length in `len`.
pub fn bytes(rng: &mut fastrand::Rng, len: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = vec![0u8; rng.usize(len)];
    rng.fill(&mut out);
    out
}

/// A random record: null, empty, small and multi-KB keys and values, duplicate header
/// keys, explicit (not ordered) and missing timestamps.
pub fn random_record(rng: &mut fastrand::Rng) -> Record {
    let key = match rng.u8(0..10) {
        0..=2 => None,
        3 => Some(Vec::new()),
        _ => Some(format!("key-{}", rng.u32(0..40)).into_bytes()),
    };
    let value = match rng.u8(0..20) {
        0 | 1 => None,
        2 | 3 => Some(Vec::new()),
        4 => Some(bytes(rng, 1000..5000)),
        _ => Some(bytes(rng, 1..120)),
    };
    let header_count = match rng.u8(0..10) {
        0..=5 => 0,
        6..=8 => rng.usize(1..3),
        _ => rng.usize(3..6),
    };
    let headers = (0..header_count)
        .map(|_| Header {
            key: ["trace", "trace", "h", ""][rng.usize(0..4)].to_owned(),
            value: match rng.u8(0..4) {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(bytes(rng, 1..24)),
            },
        })
        .collect();
    let timestamp_ms = match rng.u8(0..50) {
        0..=9 => None,
        10 => Some(0),
        _ => Some(TIMESTAMP_BASE_MS + rng.i64(0..TIMESTAMP_SPREAD_MS)),
    };
    Record {
        key,
        value,
        headers,
        timestamp_ms,
    }
}

/// The stored form of a record at `offset` with the timestamp the log gave it.
pub fn stored(record: &Record, offset: u64, timestamp_ms: i64) -> StoredRecord {
    StoredRecord {
        offset,
        timestamp_ms,
        key: record.key.clone(),
        value: record.value.clone(),
        headers: record.headers.clone(),
    }
}

/// One partition of the model: its records and where batches start.
#[derive(Clone, Debug, Default)]
pub struct PartitionModel {
    /// Every record, at index == offset.
    pub records: Vec<StoredRecord>,
    /// The first offset of every batch (one batch per partition per send, unless a topic's
    /// `max.message.bytes` splits it further).
    pub batch_starts: BTreeSet<u64>,
}

impl PartitionModel {
    /// The offset the next record gets.
    pub fn end(&self) -> u64 {
        self.records.len() as u64
    }

    /// The earliest offset whose timestamp is at or after `timestamp_ms`.
    pub fn offset_for_time(&self, timestamp_ms: i64) -> Option<u64> {
        self.records
            .iter()
            .find(|r| r.timestamp_ms >= timestamp_ms)
            .map(|r| r.offset)
    }

    /// The end of the batch holding `offset` (the next batch start, or the end).
    pub fn batch_end(&self, offset: u64) -> u64 {
        self.batch_starts
            .range(offset + 1..)
            .next()
            .copied()
            .unwrap_or_else(|| self.end())
    }
}

/// Where a keyed or keyless record of one send must go.
pub fn expected_partition(
    explicit: Option<u32>,
    key: Option<&[u8]>,
    partitions: u32,
) -> Option<u32> {
    match (explicit, key) {
        (Some(p), _) => Some(p),
        (None, Some(key)) => Some(brooklet::kafka::partition_for_key(
            key,
            partitions.try_into().expect("topics have partitions"),
        )),
        (None, None) => None,
    }
}

/// Adds the records of one acknowledged send to the model, checking the metadata the send
/// returned: keyed records at Kafka's partition, keyless ones all in one partition, offsets
/// following on, timestamps as given (or one append time for all).
///
/// `log_append` says whether the topic stores append times.
pub fn apply_acked(
    partitions: &mut [PartitionModel],
    explicit: Option<u32>,
    records: &[Record],
    metas: &[RecordMetadata],
    log_append: bool,
) {
    assert_eq!(records.len(), metas.len(), "one metadata per record");
    let count = u32::try_from(partitions.len()).expect("few partitions");
    let mut sticky = None;
    let mut append_time = None;
    let mut touched = BTreeSet::new();
    for (record, meta) in records.iter().zip(metas) {
        match expected_partition(explicit, record.key.as_deref(), count) {
            Some(p) => assert_eq!(meta.partition, p, "partition of {record:?}"),
            None => assert_eq!(
                *sticky.get_or_insert(meta.partition),
                meta.partition,
                "keyless records of one send share a partition"
            ),
        }
        let part = &mut partitions[meta.partition as usize];
        assert_eq!(
            meta.offset,
            part.end(),
            "offsets follow on in partition {}",
            meta.partition
        );
        if touched.insert(meta.partition) {
            part.batch_starts.insert(meta.offset);
        }
        match record.timestamp_ms {
            Some(ts) if !log_append => assert_eq!(meta.timestamp_ms, ts, "create time kept"),
            _ => assert_eq!(
                *append_time.get_or_insert(meta.timestamp_ms),
                meta.timestamp_ms,
                "one append time per send"
            ),
        }
        part.records
            .push(stored(record, meta.offset, meta.timestamp_ms));
    }
}

/// Reads a whole partition from its beginning, checking the fetch bookkeeping on the way.
pub fn read_partition(
    db: &Brooklet,
    topic: &str,
    partition: u32,
) -> brooklet::Result<Vec<StoredRecord>> {
    let limits = FetchLimits {
        max_records: 5000,
        max_bytes: 4 << 20,
    };
    let beginning = db.beginning_offset(topic, partition)?;
    let mut offset = beginning;
    let mut out = Vec::new();
    loop {
        let fetched = db.fetch(topic, partition, offset, limits)?;
        assert_eq!(
            fetched.beginning_offset, beginning,
            "{topic}/{partition}: beginning moved"
        );
        if offset >= fetched.end_offset {
            assert!(
                fetched.records.is_empty(),
                "{topic}/{partition}: records past the end"
            );
            return Ok(out);
        }
        assert!(
            !fetched.records.is_empty(),
            "{topic}/{partition}: no progress at offset {offset} of {}",
            fetched.end_offset
        );
        offset = fetched.next_offset;
        out.extend(fetched.records);
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(out, "{b:02x}").expect("writing to a String");
    }
    out
}

/// Bytes from lower-case hex.
pub fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length: {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}
