//! Random operation sequences against a model: topics of the delete and compact policies
//! (some with byte or time retention), sends, fetches, consumer-group commits, retention,
//! compaction, vacuum and reopening, run on a file in memory and compared with a plain
//! model (per topic, every record ever sent per partition; the committed offsets). After
//! every step `check` must call the file clean and no operation may call it corrupt.
//!
//! Retention and compaction are compared by what they promise rather than by which
//! segments they pick: a delete-policy partition holds exactly the model's records from
//! its beginning offset on, and a compacted one a subset of them that keeps every key's
//! latest record.

#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use brooklet::storage::{MemStorage, Storage};
use brooklet::{
    Brooklet, ConsumerOptions, Error, FetchLimits, Options, Position, Record, StoredRecord,
    TopicConfig, TopicPartition,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];
const GROUPS: [&str; 2] = ["g1", "g2"];

#[derive(Arbitrary, Clone, Copy, Debug)]
enum Retention {
    None,
    /// `retention.bytes`: a few segments' worth.
    Bytes,
    /// `retention.ms` of an hour (records sent as old are past it).
    Time,
}

/// A run of records made from a few numbers, so that one step can fill segments.
#[derive(Arbitrary, Clone, Debug)]
struct Send {
    /// Records, 8 to 71.
    count: u8,
    /// Value size: 200 bytes plus this many units of 16.
    size: u8,
    /// Sent in this many batches (1 to 4), each its own commit.
    batches: u8,
    /// Distinct keys (0: no keys, which a compacted topic replaces with one key).
    keys: u8,
    /// Every n-th record is a tombstone (0: none).
    tombstone_every: u8,
    /// Timestamped two hours ago, so time retention applies.
    old: bool,
    /// Followed by `maintain` (retention, then compaction).
    maintain: bool,
}

#[derive(Arbitrary, Clone, Debug)]
enum Step {
    Create {
        name: u8,
        compact: bool,
        partitions: u8,
        retention: Retention,
    },
    Delete {
        name: u8,
    },
    Send {
        name: u8,
        partition: u8,
        send: Send,
    },
    Fetch {
        name: u8,
        partition: u8,
        from: u16,
        max_records: u8,
    },
    Commit {
        group: u8,
        name: u8,
        partition: u8,
        offset: u16,
    },
    Maintain,
    Compact,
    Vacuum,
    Flush,
    Reopen {
        maintain: bool,
    },
}

#[derive(Debug)]
struct TopicModel {
    compact: bool,
    /// Every record sent, per partition, by offset.
    partitions: Vec<BTreeMap<u64, Record>>,
    /// Each partition's next offset.
    next: Vec<u64>,
    /// Each partition's beginning offset last seen (it never goes back).
    begin: Vec<u64>,
}

#[derive(Debug, Default)]
struct Model {
    topics: BTreeMap<String, TopicModel>,
    /// (group, topic, partition) -> committed offset.
    committed: BTreeMap<(String, String, u32), u64>,
}

fn options() -> Options {
    Options::default()
        .page_size(512)
        .cache_bytes(64 * 1024)
        .maintain_on_open(false)
}

fn open(storage: &Arc<MemStorage>, options: Options) -> Brooklet {
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    Brooklet::open_storage(dyn_storage, options).expect("a healthy file opens")
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch");
    i64::try_from(since.as_millis()).expect("fits")
}

fn records(send: &Send) -> Vec<Record> {
    let old = send.old.then(|| now_ms() - 2 * 3_600_000);
    (0..usize::from(send.count % 64) + 8)
        .map(|i| {
            let key =
                (send.keys > 0).then(|| vec![b'k', (i % usize::from(send.keys % 24 + 1)) as u8]);
            let tombstone = send.tombstone_every > 0 && i % usize::from(send.tombstone_every) == 0;
            let mut value = format!("v{i}-").into_bytes();
            value.resize(200 + usize::from(send.size) * 16, b'.');
            Record {
                key,
                value: (!tombstone).then_some(value),
                headers: Vec::new(),
                timestamp_ms: old,
            }
        })
        .collect()
}

fn same(stored: &StoredRecord, sent: &Record) -> bool {
    stored.key == sent.key
        && stored.value == sent.value
        && sent.timestamp_ms.is_none_or(|t| t == stored.timestamp_ms)
}

/// Every record of a partition from its beginning, read with `fetch_batches`.
fn read_partition(db: &Brooklet, name: &str, partition: u32) -> (u64, u64, Vec<StoredRecord>) {
    let begin = db
        .beginning_offset(name, partition)
        .expect("beginning offset");
    let end = db.end_offset(name, partition).expect("end offset");
    let mut out = Vec::new();
    let mut offset = begin;
    while offset < end {
        let batches = db
            .fetch_batches(name, partition, offset, FetchLimits::default())
            .expect("fetch_batches");
        for record in batches.records() {
            out.push(record.expect("a record").to_owned_record());
        }
        assert!(batches.next_offset > offset, "fetch_batches moves on");
        offset = batches.next_offset;
    }
    (begin, end, out)
}

/// The file against the model: every partition's offsets and records, and every
/// committed offset.
fn compare(db: &Brooklet, model: &mut Model) {
    let names: Vec<String> = db
        .admin()
        .topics()
        .expect("topics")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, model.topics.keys().cloned().collect::<Vec<_>>());
    for (name, topic) in &mut model.topics {
        for partition in 0..topic.partitions.len() {
            let p = u32::try_from(partition).expect("few partitions");
            let (begin, end, records) = read_partition(db, name, p);
            assert_eq!(end, topic.next[partition], "{name}/{p}: end offset");
            assert!(
                begin >= topic.begin[partition] && begin <= end,
                "{name}/{p}: beginning {begin}"
            );
            topic.begin[partition] = begin;
            let sent = &topic.partitions[partition];
            for stored in &records {
                let original = sent.get(&stored.offset);
                assert!(
                    original.is_some_and(|r| same(stored, r)),
                    "{name}/{p}: offset {} holds what was not sent there",
                    stored.offset
                );
            }
            let kept: Vec<u64> = records.iter().map(|r| r.offset).collect();
            if topic.compact {
                // Every key's latest record stays.
                let mut latest: BTreeMap<&Option<Vec<u8>>, u64> = BTreeMap::new();
                for (offset, r) in sent.range(begin..) {
                    latest.insert(&r.key, *offset);
                }
                for offset in latest.values() {
                    assert!(
                        kept.binary_search(offset).is_ok(),
                        "{name}/{p}: latest record at {offset} was removed"
                    );
                }
            } else {
                let expected: Vec<u64> = sent.range(begin..).map(|(o, _)| *o).collect();
                assert_eq!(kept, expected, "{name}/{p}: records from {begin}");
            }
        }
    }
    for group in GROUPS {
        let description = match db.admin().describe_group(group) {
            Ok(description) => description,
            Err(Error::UnknownGroup(_)) => {
                assert!(
                    !model.committed.keys().any(|(g, _, _)| g == group),
                    "group {group} has committed offsets"
                );
                continue;
            }
            Err(e) => panic!("describe_group {group}: {e}"),
        };
        let mut listed = 0;
        for p in &description.partitions {
            let key = (group.to_owned(), p.topic.clone(), p.partition);
            let expected = model.committed.get(&key).copied();
            assert_eq!(p.committed, expected, "{key:?}");
            listed += usize::from(expected.is_some());
        }
        let committed = model
            .committed
            .keys()
            .filter(|(g, _, _)| g == group)
            .count();
        assert_eq!(
            listed, committed,
            "group {group}: every committed offset is listed"
        );
    }
}

fn check_clean(db: &Brooklet, step: &Step) {
    let report = db.admin().check().expect("check runs");
    assert!(report.is_clean(), "after {step:?}: {:#?}", report.problems);
}

fn pick(name: u8) -> String {
    NAMES[usize::from(name) % NAMES.len()].to_owned()
}

fn run(db: &mut Brooklet, storage: &Arc<MemStorage>, model: &mut Model, step: &Step) {
    match step {
        Step::Create {
            name,
            compact,
            partitions,
            retention,
        } => {
            let name = pick(*name);
            let mut pairs = vec![("segment.bytes", "65536")];
            if *compact {
                pairs.push(("cleanup.policy", "compact"));
            }
            match retention {
                Retention::None => {}
                Retention::Bytes => pairs.push(("retention.bytes", "150000")),
                Retention::Time => pairs.push(("retention.ms", "3600000")),
            }
            let config = TopicConfig::from_pairs(pairs).expect("config");
            let partitions = u32::from(*partitions % 3) + 1;
            let result = db.admin().create_topic(&name, partitions, config);
            if model.topics.contains_key(&name) {
                assert!(result.is_err(), "{name} exists");
                return;
            }
            result.expect("create");
            let count = partitions as usize;
            model.topics.insert(
                name,
                TopicModel {
                    compact: *compact,
                    partitions: vec![BTreeMap::new(); count],
                    next: vec![0; count],
                    begin: vec![0; count],
                },
            );
        }
        Step::Delete { name } => {
            let name = pick(*name);
            let result = db.admin().delete_topic(&name);
            if model.topics.remove(&name).is_some() {
                result.expect("delete");
                model.committed.retain(|(_, t, _), _| *t != name);
            } else {
                assert!(result.is_err());
            }
        }
        Step::Send {
            name,
            partition,
            send,
        } => {
            let name = pick(*name);
            let Some(topic) = model.topics.get_mut(&name) else {
                return;
            };
            let p = usize::from(*partition) % topic.partitions.len();
            let mut records = records(send);
            if topic.compact {
                for r in &mut records {
                    r.key.get_or_insert_with(|| vec![b'k', 0]);
                }
            }
            let per_batch = records.len().div_ceil(usize::from(send.batches % 4) + 1);
            for chunk in records.chunks(per_batch) {
                let sent = db
                    .producer()
                    .send_batch_to(&name, p as u32, chunk.to_vec())
                    .expect("send");
                for (meta, record) in sent.iter().zip(chunk) {
                    assert_eq!(
                        meta.offset, topic.next[p],
                        "{name}/{p}: offsets are consecutive"
                    );
                    topic.partitions[p].insert(meta.offset, record.clone());
                    topic.next[p] += 1;
                }
            }
            if send.maintain {
                db.admin().maintain().expect("maintain");
            }
        }
        Step::Fetch {
            name,
            partition,
            from,
            max_records,
        } => {
            let name = pick(*name);
            let Some(topic) = model.topics.get(&name) else {
                return;
            };
            let p = usize::from(*partition) % topic.partitions.len();
            let begin = db.beginning_offset(&name, p as u32).expect("beginning");
            let offset = begin + u64::from(*from) % (topic.next[p] - begin + 1);
            let limits = FetchLimits {
                max_records: usize::from(*max_records).max(1),
                max_bytes: 1 << 20,
            };
            let fetched = db.fetch(&name, p as u32, offset, limits).expect("fetch");
            for stored in &fetched.records {
                assert!(stored.offset >= offset);
                let sent = topic.partitions[p].get(&stored.offset);
                assert!(
                    sent.is_some_and(|r| same(stored, r)),
                    "{name}/{p}: fetch at {}",
                    stored.offset
                );
            }
        }
        Step::Commit {
            group,
            name,
            partition,
            offset,
        } => {
            let group = GROUPS[usize::from(*group) % GROUPS.len()];
            let name = pick(*name);
            let Some(topic) = model.topics.get(&name) else {
                return;
            };
            let p = u32::try_from(usize::from(*partition) % topic.partitions.len()).expect("few");
            let options = ConsumerOptions {
                auto_offset_reset: Some(Position::Beginning),
                auto_commit_interval: None,
                heartbeat_interval: Duration::from_secs(3600),
                ..ConsumerOptions::default()
            };
            let mut consumer = db.consumer(group, &[&name], options).expect("join");
            let _ = consumer.poll(Duration::ZERO).expect("poll");
            let offset = u64::from(*offset);
            consumer
                .commit_offsets([(TopicPartition::new(name.as_str(), p), offset)])
                .expect("the only member owns every partition");
            model
                .committed
                .insert((group.to_owned(), name.clone(), p), offset);
            assert_eq!(
                consumer.committed(&name, p).expect("committed"),
                Some(offset)
            );
            consumer.close().expect("close");
        }
        Step::Maintain => {
            db.admin().maintain().expect("maintain");
        }
        Step::Compact => {
            db.admin().compact().expect("compact");
        }
        Step::Vacuum => {
            db.admin().vacuum().expect("vacuum");
        }
        Step::Flush => db.flush().expect("flush"),
        Step::Reopen { maintain } => {
            *db = open(storage, options().maintain_on_open(*maintain));
        }
    }
}

/// Every run starts with one topic of each kind, so that any step finds one.
const START: [Step; 3] = [
    Step::Create {
        name: 0,
        compact: false,
        partitions: 1,
        retention: Retention::Bytes,
    },
    Step::Create {
        name: 1,
        compact: true,
        partitions: 0,
        retention: Retention::None,
    },
    Step::Create {
        name: 2,
        compact: false,
        partitions: 0,
        retention: Retention::Time,
    },
];

fuzz_target!(|steps: Vec<Step>| {
    let storage = Arc::new(MemStorage::new());
    let mut db = open(&storage, options());
    let mut model = Model::default();
    for step in START.iter().chain(steps.iter().take(40)) {
        run(&mut db, &storage, &mut model, step);
        check_clean(&db, step);
        compare(&db, &mut model);
    }
});
