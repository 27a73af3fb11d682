//! Shared by the structure-aware targets: a small valid file built through the public API,
//! the operations run on a file, and the oracle that holds `check` to its promise.
//!
//! The oracle: once `check` has called a file clean, no operation may refuse it as
//! corrupt, and `check` must still call it clean after every operation (brooklet never
//! damages a clean file). Whatever happens, nothing may panic.

#![allow(dead_code, reason = "each target uses a different part of the helpers")]

use std::sync::Arc;
use std::time::Duration;

use brooklet::storage::{MemStorage, Storage};
use brooklet::{
    Brooklet, ConsumerOptions, Durability, Error, FetchLimits, GroupMetadata, Options, Position,
    Record, TopicConfig, TopicPartition, TransactionOptions,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};

pub const PAGE_SIZE: u32 = 512;

pub fn options() -> Options {
    Options::default()
        .page_size(PAGE_SIZE)
        .cache_bytes(64 * 1024)
        .maintain_on_open(false)
        .busy_timeout(Duration::from_millis(50))
}

pub fn open(storage: &Arc<MemStorage>, options: Options) -> brooklet::Result<Brooklet> {
    let storage: Arc<dyn Storage> = storage.clone();
    Brooklet::open_storage(storage, options)
}

fn value(i: usize, len: usize) -> Vec<u8> {
    let mut v = format!("value {i} ").into_bytes();
    v.resize(len.max(v.len()), b'.');
    v
}

/// A small valid file: topics of every policy, with several segments each, a compacted
/// topic with repeated keys and tombstones, a log-append-time topic, and consumer groups
/// with committed offsets (one of them with a member still in the file). The last commit
/// writes tree pages, so no batch is held in the commit slot: every batch is in the file.
/// Transactions in the template: a committed one with group offsets, an aborted one stored
/// ahead, and an idempotent producer's sends. (`template` adds one left open.)
fn transactions(db: &Brooklet) {
    let ahead = TransactionOptions {
        buffer_bytes: 500,
        ..TransactionOptions::default()
    };
    let mut producer = db
        .transactional_producer_with("fuzz", ahead)
        .expect("producer");
    let mut txn = producer.begin().expect("begin");
    txn.send_to("events", 0, Record::value(value(1, 30)))
        .expect("send");
    txn.send_offsets(
        &GroupMetadata::new("txn-group"),
        &[(TopicPartition::new("events", 1), 3)],
    )
    .expect("offsets");
    txn.commit().expect("commit");
    let mut txn = producer.begin().expect("begin");
    for i in 0..20 {
        txn.send_to("events", 1, Record::value(value(i, 60)))
            .expect("send");
    }
    txn.abort().expect("abort");
    let idempotent = db.producer().idempotent().expect("idempotent");
    idempotent
        .send_to("appended", 0, Record::value(value(2, 10)))
        .expect("send");
}

pub fn template() -> Vec<u8> {
    let storage = Arc::new(MemStorage::new());
    let db = open(&storage, options()).expect("open");
    let small = [("segment.bytes", "65536")];
    db.admin()
        .create_topic("events", 2, TopicConfig::from_pairs(small).expect("config"))
        .expect("create");
    for round in 0..3 {
        let records = (0..60)
            .map(|i| {
                Record::new(
                    Some(format!("k{i}").into_bytes()),
                    value(i, 300 + round * 100),
                )
            })
            .collect();
        db.producer().send_batch("events", records).expect("send");
    }
    for i in 0..40 {
        db.producer()
            .send_to("events", (i % 2) as u32, Record::value(value(i, 40)))
            .expect("send");
    }
    let compact =
        TopicConfig::from_pairs([("segment.bytes", "65536"), ("cleanup.policy", "compact")])
            .expect("config");
    db.admin()
        .create_topic("compacted", 1, compact)
        .expect("create");
    for round in 0..4 {
        let records = (0..50)
            .map(|i| {
                let key = format!("key{}", i % 17).into_bytes();
                if (i + round) % 11 == 0 {
                    Record {
                        key: Some(key),
                        value: None,
                        ..Record::default()
                    }
                } else {
                    Record::new(Some(key), value(i, 400))
                }
            })
            .collect();
        db.producer()
            .send_batch("compacted", records)
            .expect("send");
    }
    let appended = TopicConfig::from_pairs([
        ("message.timestamp.type", "LogAppendTime"),
        ("retention.ms", "86400000"),
    ])
    .expect("config");
    db.admin()
        .create_topic("appended", 1, appended)
        .expect("create");
    for i in 0..30 {
        let mut record = Record::value(value(i, 20));
        record.timestamp_ms = Some(1_000 + i as i64);
        db.producer().send("appended", record).expect("send");
    }
    let consumer_options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        heartbeat_interval: Duration::from_secs(3600),
        ..ConsumerOptions::default()
    };
    let mut left = db
        .consumer("left", &["events", "compacted"], consumer_options.clone())
        .expect("join");
    let _ = left.poll(Duration::ZERO).expect("poll");
    left.commit().expect("commit");
    left.close().expect("close");
    let mut stays = db
        .consumer("stays", &["events"], consumer_options)
        .expect("join");
    let _ = stays.poll(Duration::ZERO).expect("poll");
    stays.commit().expect("commit");
    db.admin().compact().expect("compact");
    transactions(&db);
    db.admin()
        .create_topic("settle", 1, TopicConfig::default())
        .expect("create");
    // A transaction left open: stored ahead, and in the bytes taken below (the memory
    // storage has no liveness locks, so it stays open until its timeout).
    let ahead = TransactionOptions {
        buffer_bytes: 500,
        ..TransactionOptions::default()
    };
    let mut open = db
        .transactional_producer_with("fuzz-open", ahead)
        .expect("producer");
    let mut txn = open.begin().expect("begin");
    for i in 0..20 {
        txn.send_to("events", 0, Record::value(value(i, 60)))
            .expect("send");
    }
    db.flush().expect("flush");
    // Taken while `stays` is a member: its record is in the file, as after a crash.
    let bytes = storage.to_bytes();
    drop(stays);
    bytes
}

/// What happened to the file so far, and what the oracle may therefore demand.
#[derive(Debug)]
pub struct Oracle {
    /// `check` called the file clean, so nothing may refuse it as corrupt.
    pub clean: bool,
    /// Every refusal, for the panic message.
    pub log: Vec<String>,
}

impl Oracle {
    /// Runs `check` on the file; a file it called clean must stay clean.
    pub fn check(db: &Brooklet) -> Self {
        let clean = match db.admin().check() {
            Ok(report) => report.is_clean(),
            Err(_) => false,
        };
        Self {
            clean,
            log: Vec::new(),
        }
    }

    /// Takes the result of an operation: a corruption error on a file `check` called
    /// clean is a blind spot of `check` (or damage brooklet did itself).
    #[track_caller]
    pub fn see<T>(&mut self, what: &str, result: brooklet::Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                if self.clean && e.is_corruption() {
                    panic!(
                        "check called the file clean, but {what} refused it: {e}\nafter: {:#?}",
                        self.log
                    );
                }
                self.log.push(format!("{what}: {e}"));
                None
            }
        }
    }

    /// After a write: a clean file must still be clean.
    #[track_caller]
    pub fn recheck(&mut self, db: &Brooklet, what: &str) {
        if !self.clean {
            return;
        }
        match db.admin().check() {
            Ok(report) if report.is_clean() => {}
            Ok(report) => panic!(
                "{what} turned a clean file into one with problems: {:#?}\nafter: {:#?}",
                report.problems, self.log
            ),
            Err(e) => {
                self.see("check", Err::<(), Error>(e));
            }
        }
    }
}

/// Reads everything through the public read API: topics, partitions, every record by
/// `fetch` and by `fetch_batches`, offsets by time, groups.
pub fn read_everything(db: &Brooklet, oracle: &mut Oracle) {
    let Some(topics) = oracle.see("topics", db.admin().topics()) else {
        return;
    };
    // Several batches per fetch, and more than one fetch per partition.
    let limits = FetchLimits {
        max_records: 200,
        max_bytes: 64 << 10,
    };
    for topic in &topics {
        let name = topic.name.as_str();
        let _ = oracle.see("describe_topic", db.admin().describe_topic(name));
        for partition in 0..topic.partitions.min(8) {
            let Some(begin) = oracle.see("beginning_offset", db.beginning_offset(name, partition))
            else {
                continue;
            };
            let _ = oracle.see("end_offset", db.end_offset(name, partition));
            let mut offset = begin;
            for _ in 0..200 {
                let Some(fetched) = oracle.see("fetch", db.fetch(name, partition, offset, limits))
                else {
                    break;
                };
                if fetched.records.is_empty() || fetched.next_offset <= offset {
                    break;
                }
                offset = fetched.next_offset;
            }
            let mut offset = begin;
            for _ in 0..200 {
                let Some(batches) = oracle.see(
                    "fetch_batches",
                    db.fetch_batches(name, partition, offset, limits),
                ) else {
                    break;
                };
                for record in batches.records() {
                    if oracle.see("fetch_batches records", record).is_none() {
                        break;
                    }
                }
                if batches.is_empty() || batches.next_offset <= offset {
                    break;
                }
                offset = batches.next_offset;
            }
            for time in [i64::MIN, 0, 1_010, i64::MAX] {
                let _ = oracle.see("offset_for_time", db.offset_for_time(name, partition, time));
            }
        }
    }
    if let Some(groups) = oracle.see("groups", db.admin().groups()) {
        for group in groups {
            let _ = oracle.see("describe_group", db.admin().describe_group(&group));
        }
    }
    let mut reader = db.reader().with_limits(limits);
    for topic in &topics {
        if oracle
            .see(
                "reader assign",
                reader.assign_topic(&topic.name, Position::Beginning),
            )
            .is_none()
        {
            return;
        }
    }
    for _ in 0..4 {
        if oracle
            .see("reader poll", reader.poll(Duration::ZERO))
            .is_none()
        {
            break;
        }
    }
}

/// One write (or maintenance) operation, on topics and groups picked by index.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    Send {
        topic: u8,
        key: Option<u8>,
        len: u8,
    },
    SendBatch {
        topic: u8,
        count: u8,
    },
    CreateTopic {
        partitions: u8,
        compact: bool,
    },
    AlterTopic {
        topic: u8,
        retention_ms: u16,
    },
    DeleteTopic {
        topic: u8,
    },
    Consume {
        group: u8,
        topic: u8,
        commit: bool,
    },
    ResetGroup {
        group: u8,
        to: u8,
    },
    DeleteGroup {
        group: u8,
    },
    /// A transaction of `count` records to one topic, committed or aborted.
    Transaction {
        topic: u8,
        count: u8,
        commit: bool,
    },
    Maintain,
    Compact,
    Vacuum,
    Flush,
    ReadAll,
    Reopen {
        maintain: bool,
    },
}

fn pick<T: Clone>(items: &[T], index: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[usize::from(index) % items.len()].clone())
}

/// One transaction (stored ahead when large) of `count` records, committed or aborted.
fn transaction(db: &Brooklet, topic: &str, count: u8, commit: bool) -> brooklet::Result<()> {
    let options = TransactionOptions {
        buffer_bytes: 300,
        ..TransactionOptions::default()
    };
    let mut producer = db.transactional_producer_with("fuzz-op", options)?;
    let mut txn = producer.begin()?;
    for i in 0..count {
        txn.send(topic, Record::value(value(usize::from(i), 40)))?;
    }
    if commit {
        txn.commit().map(drop)
    } else {
        txn.abort()
    }
}

/// Runs `op`; returns the handle to go on with (a reopen replaces it).
pub fn run_op(
    db: Brooklet,
    storage: &Arc<MemStorage>,
    op: &Op,
    oracle: &mut Oracle,
) -> Option<Brooklet> {
    let topics: Vec<String> = db
        .admin()
        .topics()
        .map(|t| t.into_iter().map(|t| t.name).collect())
        .unwrap_or_default();
    let groups = ["left".to_owned(), "stays".to_owned(), "new".to_owned()];
    let what = format!("{op:?}");
    match op {
        Op::Send { topic, key, len } => {
            if let Some(topic) = pick(&topics, *topic) {
                let key = key.map(|k| vec![k]);
                let record = Record::new(key, vec![b'v'; usize::from(*len) * 8]);
                let _ = oracle.see(&what, db.producer().send(&topic, record));
            }
        }
        Op::SendBatch { topic, count } => {
            if let Some(topic) = pick(&topics, *topic) {
                let records = (0..usize::from(*count % 64) + 1)
                    .map(|i| Record::new(Some(vec![(i % 7) as u8]), value(i, 200)))
                    .collect();
                let _ = oracle.see(&what, db.producer().send_batch(&topic, records));
            }
        }
        Op::CreateTopic {
            partitions,
            compact,
        } => {
            let policy = if *compact { "compact" } else { "delete" };
            let config =
                TopicConfig::from_pairs([("segment.bytes", "65536"), ("cleanup.policy", policy)])
                    .expect("config");
            let name = format!("created-{}", topics.len());
            let _ = oracle.see(
                &what,
                db.admin()
                    .create_topic(&name, u32::from(*partitions % 4) + 1, config),
            );
        }
        Op::AlterTopic {
            topic,
            retention_ms,
        } => {
            if let Some(topic) = pick(&topics, *topic) {
                let ms = retention_ms.to_string();
                let _ = oracle.see(
                    &what,
                    db.admin()
                        .alter_topic_config(&topic, &[("retention.ms", &ms)]),
                );
            }
        }
        Op::DeleteTopic { topic } => {
            if let Some(topic) = pick(&topics, *topic) {
                let _ = oracle.see(&what, db.admin().delete_topic(&topic));
            }
        }
        Op::Consume {
            group,
            topic,
            commit,
        } => {
            let (Some(group), Some(topic)) = (pick(&groups, *group), pick(&topics, *topic)) else {
                return Some(db);
            };
            let options = ConsumerOptions {
                auto_offset_reset: Some(Position::Beginning),
                auto_commit_interval: None,
                heartbeat_interval: Duration::from_secs(3600),
                limits: FetchLimits {
                    max_records: 32,
                    max_bytes: 8 << 10,
                },
                ..ConsumerOptions::default()
            };
            if let Some(mut consumer) = oracle.see(&what, db.consumer(&group, &[&topic], options)) {
                for _ in 0..3 {
                    if oracle.see("poll", consumer.poll(Duration::ZERO)).is_none() {
                        break;
                    }
                }
                if *commit {
                    let _ = oracle.see("commit", consumer.commit());
                }
                let _ = oracle.see("lag", consumer.lag(&topic, 0));
                let _ = oracle.see("close", consumer.close());
            }
        }
        Op::ResetGroup { group, to } => {
            if let Some(group) = pick(&groups, *group) {
                let to = match to % 3 {
                    0 => Position::Beginning,
                    1 => Position::End,
                    _ => Position::Offset(u64::from(*to)),
                };
                let _ = oracle.see(&what, db.admin().reset_group_offsets(&group, to, None));
            }
        }
        Op::DeleteGroup { group } => {
            if let Some(group) = pick(&groups, *group) {
                let _ = oracle.see(&what, db.admin().delete_group(&group));
            }
        }
        Op::Transaction {
            topic,
            count,
            commit,
        } => {
            if let Some(topic) = pick(&topics, *topic) {
                let _ = oracle.see(&what, transaction(&db, &topic, *count, *commit));
            }
        }
        Op::Maintain => {
            let _ = oracle.see(&what, db.admin().maintain());
        }
        Op::Compact => {
            let _ = oracle.see(&what, db.admin().compact());
        }
        Op::Vacuum => {
            let _ = oracle.see(&what, db.admin().vacuum());
        }
        Op::Flush => {
            let _ = oracle.see(&what, db.flush());
        }
        Op::ReadAll => read_everything(&db, oracle),
        Op::Reopen { maintain } => {
            drop(db);
            let reopened = open(storage, options().maintain_on_open(*maintain));
            let db = oracle.see(&what, reopened)?;
            oracle.recheck(&db, &what);
            return Some(db);
        }
    }
    oracle.recheck(&db, &what);
    Some(db)
}

/// Writes a batch's Kafka CRC-32C (over `attributes` to its end, as far as `bytes` go).
pub fn recompute_crc(batch: &mut [u8]) {
    if batch.len() < 21 {
        return;
    }
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Durability for an edit commit.
pub fn durability(durable: bool) -> Durability {
    if durable {
        Durability::Immediate
    } else {
        Durability::None
    }
}
