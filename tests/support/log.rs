//! Shared helpers for the tests of the event log (the `Brooklet` handle): seeded random
//! records, the in-memory model of partitions the log is checked against, and reading a
//! whole partition back; for the vacuum tests, a seeded file with free space in the middle
//! and at the end, and everything a user can read from a file, to compare before and after.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the helpers"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use brooklet::{
    Brooklet, ConsumerOptions, FetchLimits, Header, Position, Record, RecordMetadata, StoredRecord,
    TopicConfig, TopicPartition,
};

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

// The vacuum tests' files and what a reader sees in them.

/// One partition as a reader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionContent {
    pub beginning: u64,
    pub end: u64,
    pub records: Vec<StoredRecord>,
}

/// Everything readable: every partition of every topic (with its config), and every
/// group's committed offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    pub topics: BTreeMap<String, (TopicConfig, Vec<PartitionContent>)>,
    pub groups: BTreeMap<String, Vec<(String, u32, Option<u64>)>>,
}

impl Content {
    pub fn record_count(&self) -> usize {
        self.topics
            .values()
            .flat_map(|(_, parts)| parts.iter().map(|p| p.records.len()))
            .sum()
    }
}

/// Reads everything in `db`.
pub fn content(db: &Brooklet) -> brooklet::Result<Content> {
    let names: Vec<String> = db.admin().topics()?.into_iter().map(|t| t.name).collect();
    content_of(db, &names)
}

/// Reads the topics `names` (which must exist) and every group's committed offsets.
pub fn content_of(db: &Brooklet, names: &[String]) -> brooklet::Result<Content> {
    let mut topics = BTreeMap::new();
    for name in names {
        let described = db.admin().describe_topic(name)?;
        let mut parts = Vec::new();
        for p in &described.partitions {
            let mut records = Vec::new();
            let mut next = p.beginning_offset;
            while next < p.end_offset {
                let limits = FetchLimits {
                    max_records: 10_000,
                    max_bytes: 1 << 22,
                };
                let fetched = db.fetch(name, p.partition, next, limits)?;
                assert!(!fetched.records.is_empty(), "fetch from {next} got nothing");
                next = fetched.next_offset;
                records.extend(fetched.records);
            }
            parts.push(PartitionContent {
                beginning: p.beginning_offset,
                end: p.end_offset,
                records,
            });
        }
        topics.insert(name.clone(), (described.config, parts));
    }
    let mut groups = BTreeMap::new();
    for group in db.admin().groups()? {
        let described = db.admin().describe_group(&group)?;
        let offsets = described
            .partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition, p.committed))
            .collect();
        groups.insert(group, offsets);
    }
    Ok(Content { topics, groups })
}

fn config(pairs: &[(&str, &str)]) -> TopicConfig {
    TopicConfig::from_pairs(pairs.iter().copied()).expect("config")
}

/// A record of `rng`'s choosing: keyed or not, a header or two, a fixed timestamp (so the
/// layout of the file depends on the seed only).
fn record(rng: &mut fastrand::Rng, n: u64, value_max: usize) -> Record {
    let len = rng.usize(1..value_max);
    let value: Vec<u8> = (0..len).map(|i| (n as usize * 7 + i) as u8).collect();
    let mut record = if rng.bool() {
        Record::keyed(format!("key-{}", rng.u32(0..50)).into_bytes(), value)
    } else {
        Record::value(value)
    };
    if rng.u8(0..4) == 0 {
        record = record.with_header("trace", Some(n.to_le_bytes().to_vec()));
    }
    if rng.u8(0..8) == 0 {
        record = record.with_header("empty", None);
    }
    let ts = 1_700_000_000_000 + i64::try_from(n).expect("small") * 3;
    record.with_timestamp(ts)
}

/// Fills `db` so that it has free space in the middle and at the end: topics `keep` and
/// `groups` that stay, a topic `doomed` produced in between and deleted, and a topic
/// `rolling` whose head segments retention drops; a consumer group with committed
/// offsets. `scale` multiplies the record counts.
pub fn fill(db: &Brooklet, seed: u64, scale: u64) {
    // Group member ids come from this thread's generator: seeded, the layout replays.
    fastrand::seed(seed);
    let mut rng = fastrand::Rng::with_seed(seed);
    let small = [("segment.bytes", "65536")];
    db.admin()
        .create_topic("keep", 2, config(&small))
        .expect("create");
    db.admin()
        .create_topic("doomed", 3, config(&small))
        .expect("create");
    db.admin()
        .create_topic(
            "rolling",
            1,
            config(&[("segment.bytes", "65536"), ("retention.bytes", "131072")]),
        )
        .expect("create");
    let mut n = 0u64;
    for round in 0..4 * scale {
        for (topic, partitions) in [("keep", 2), ("doomed", 3), ("rolling", 1), ("doomed", 3)] {
            let records: Vec<Record> = (0..40)
                .map(|_| {
                    n += 1;
                    record(&mut rng, n, 400)
                })
                .collect();
            // An explicit partition: sticky partitioning depends on what else the process
            // sent, and the layout must depend on the seed only.
            let partition = rng.u32(0..partitions);
            db.producer()
                .send_batch_to(topic, partition, records)
                .expect("send");
        }
        if round == 2 * scale {
            db.admin()
                .create_topic("groups", 1, TopicConfig::default())
                .expect("create");
            let records = (0..30)
                .map(|_| {
                    n += 1;
                    record(&mut rng, n, 60)
                })
                .collect();
            db.producer()
                .send_batch_to("groups", 0, records)
                .expect("send");
        }
    }
    db.admin()
        .alter_topic_config("keep", &[("max.message.bytes", "500000")])
        .expect("alter");
    commit_group_offsets(db);
    db.admin().delete_topic("doomed").expect("delete");
    // The rolling topic's retention already dropped head segments as it was produced.
    db.admin().maintain().expect("maintain");
}

/// A consumer group with committed offsets on two topics.
pub fn commit_group_offsets(db: &Brooklet) {
    let options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        heartbeat_interval: Duration::from_secs(60),
        ..ConsumerOptions::default()
    };
    let mut consumer = db
        .consumer("billing", &["keep", "groups"], options)
        .expect("join");
    consumer
        .commit_offsets([
            (TopicPartition::new("keep", 0), 17),
            (TopicPartition::new("keep", 1), 3),
            (TopicPartition::new("groups", 0), 29),
        ])
        .expect("commit");
    consumer.close().expect("close");
}

/// Pages in use after a clean check: every page that is not free.
pub fn used_pages(db: &Brooklet) -> u64 {
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);
    u64::from(report.page_count) - report.free_pages()
}

/// A file whose segments differ in size, so that free space fits them only once B-tree
/// pages between free extents are moved aside: topics `doomed` and `keep`, two
/// partitions each, produced in a few large batches (a batch larger than a segment gets a
/// segment of its own size), `doomed` first and then deleted.
pub fn fill_uneven(db: &Brooklet, seed: u64) {
    fastrand::seed(seed);
    let mut rng = fastrand::Rng::with_seed(seed);
    let small = [("segment.bytes", "65536")];
    let mut n = 0u64;
    for topic in ["doomed", "keep"] {
        db.admin()
            .create_topic(topic, 2, config(&small))
            .expect("create");
    }
    for (topic, extra) in [("doomed", 8), ("keep", 0)] {
        for (partition, counts) in [(0, [90, 1050]), (1, [120, 1400])] {
            for count in counts {
                let records: Vec<Record> = (0..count)
                    .map(|_| {
                        n += 1;
                        let value = vec![b'v'; 60 + extra + rng.usize(0..20)];
                        Record::keyed(format!("k{}", n % 7).into_bytes(), value)
                            .with_timestamp(1_700_000_000_000)
                    })
                    .collect();
                db.producer()
                    .send_batch_to(topic, partition, records)
                    .expect("send");
            }
        }
    }
    db.admin().delete_topic("doomed").expect("delete");
}
