//! Shared helpers for the vacuum tests: a seeded file with free space in the middle and at
//! the end, and everything a user can read from a file, to compare before and after.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::collections::BTreeMap;
use std::time::Duration;

use brooklet::{
    Brooklet, ConsumerOptions, FetchLimits, Position, Record, StoredRecord, TopicConfig,
    TopicPartition,
};

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
