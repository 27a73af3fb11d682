//! A seeded model test of idempotent retries. One to three idempotent producers send to a
//! topic's partitions (to one partition, or keyed across several), with plain sends in
//! between; some sends are retried with the producer's state from before them (on the same
//! handle or after reopening the file), some are sent with a state that skips sequences,
//! and some retries come too late (the send is no longer among the partition's last five
//! of that producer) or hold other records. After every step each partition must hold
//! exactly the model's values: a retry of a stored send stores nothing and returns the
//! original offsets, and a refused send ([`Error::OutOfOrderSequence`]) stores nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use brooklet::storage::MemStorage;
use brooklet::{
    Brooklet, Error, IdempotenceState, Isolation, Options, Record, RecordMetadata, TopicConfig,
    TopicPartition,
};

use crate::read_values;

const TOPIC: &str = "t";
const PARTITIONS: u32 = 3;
/// Sends a partition remembers per producer.
const KEPT_SENDS: usize = 5;

/// One send of a producer that was stored.
#[derive(Clone, Debug)]
struct Sent {
    /// The producer's state just before it.
    before: IdempotenceState,
    /// Explicit partition, or keyed records routed by key.
    partition: Option<u32>,
    records: Vec<Record>,
    metas: Vec<RecordMetadata>,
}

impl Sent {
    fn partitions(&self) -> Vec<u32> {
        let mut out: Vec<u32> = self.metas.iter().map(|m| m.partition).collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// A producer as the model knows it.
#[derive(Debug)]
struct ModelProducer {
    state: IdempotenceState,
    sent: Vec<Sent>,
    /// Per partition, the indexes into `sent` of the sends stored there, in order.
    by_partition: BTreeMap<u32, Vec<usize>>,
}

impl ModelProducer {
    /// Whether a retry of send `h` finds it among the last sends of every partition it
    /// went to.
    fn remembered(&self, h: usize) -> bool {
        self.sent[h].partitions().iter().all(|p| {
            let list = &self.by_partition[p];
            list[list.len().saturating_sub(KEPT_SENDS)..].contains(&h)
        })
    }
}

/// What the seeded run did.
#[derive(Debug, Default)]
struct Tally {
    steps: u64,
    sends: u64,
    plain: u64,
    duplicates: u64,
    late_retries: u64,
    other_records: u64,
    gaps: u64,
    reopens: u64,
}

struct World {
    storage: Arc<MemStorage>,
    db: Brooklet,
    rng: fastrand::Rng,
    producers: Vec<ModelProducer>,
    /// The values of each partition.
    model: Vec<Vec<Vec<u8>>>,
    next_value: u64,
    seed: u64,
}

fn options() -> Options {
    Options::default().page_size(512).cache_bytes(64 * 512)
}

impl World {
    fn new(seed: u64) -> Self {
        let storage = Arc::new(MemStorage::new());
        let db = Brooklet::open_storage(storage.clone(), options()).expect("open");
        db.admin()
            .create_topic(TOPIC, PARTITIONS, TopicConfig::default())
            .expect("topic");
        let mut rng = fastrand::Rng::with_seed(seed);
        let producers = (0..rng.usize(1..=3))
            .map(|_| {
                let p = db.producer().idempotent().expect("idempotent");
                ModelProducer {
                    state: p.idempotence().expect("state"),
                    sent: Vec::new(),
                    by_partition: BTreeMap::new(),
                }
            })
            .collect();
        Self {
            storage,
            db,
            rng,
            producers,
            model: vec![Vec::new(); PARTITIONS as usize],
            next_value: 0,
            seed,
        }
    }

    fn records(&mut self, keyed: bool) -> Vec<Record> {
        (0..self.rng.usize(1..=4))
            .map(|_| {
                self.next_value += 1;
                let value = format!("v{}", self.next_value);
                if keyed {
                    Record::keyed(format!("k{}", self.rng.u32(..100)), value)
                } else {
                    Record::value(value)
                }
            })
            .collect()
    }

    fn send(
        &self,
        state: IdempotenceState,
        partition: Option<u32>,
        records: Vec<Record>,
    ) -> brooklet::Result<Vec<RecordMetadata>> {
        let producer = self.db.producer().with_idempotence(state);
        match partition {
            Some(p) => producer.send_batch_to(TOPIC, p, records),
            None => producer.send_batch(TOPIC, records),
        }
    }

    /// Appends stored records to the model, checking they went to the partitions' ends.
    fn append(&mut self, records: &[Record], metas: &[RecordMetadata], label: &str) {
        assert_eq!(records.len(), metas.len(), "{label}: one result per record");
        for (r, m) in records.iter().zip(metas) {
            let part = &mut self.model[m.partition as usize];
            assert_eq!(
                m.offset,
                part.len() as u64,
                "{label}: offset of a new record"
            );
            part.push(r.value.clone().expect("a value"));
        }
    }

    fn step(&mut self, step: u64, tally: &mut Tally) {
        let label = format!("seed {} step {step}", self.seed);
        let who = self.rng.usize(..self.producers.len());
        match self.rng.u32(..100) {
            0..45 => self.new_send(who, &label, tally),
            45..55 => self.plain_send(&label, tally),
            55..75 => self.retry(who, &label, tally),
            75..88 => self.gap(who, &label, tally),
            88..94 => self.other_records(who, &label, tally),
            _ => self.reopen(tally),
        }
        self.compare(&label);
        tally.steps += 1;
    }

    fn new_send(&mut self, who: usize, label: &str, tally: &mut Tally) {
        let keyed = self.rng.u32(..3) == 0;
        let partition = (!keyed).then(|| self.rng.u32(..PARTITIONS));
        let records = self.records(keyed);
        let before = self.producers[who].state.clone();
        let producer = self.db.producer().with_idempotence(before.clone());
        let metas = match partition {
            Some(p) => producer.send_batch_to(TOPIC, p, records.clone()),
            None => producer.send_batch(TOPIC, records.clone()),
        }
        .unwrap_or_else(|e| panic!("{label}: send failed: {e}"));
        self.append(&records, &metas, label);
        let model = &mut self.producers[who];
        model.state = producer.idempotence().expect("state");
        let h = model.sent.len();
        model.sent.push(Sent {
            before,
            partition,
            records,
            metas,
        });
        for p in model.sent[h].partitions() {
            model.by_partition.entry(p).or_default().push(h);
        }
        // The state advanced by the records sent to each partition, and no further.
        for (tp, next) in &model.state.sequences {
            let stored: usize = model.by_partition[&tp.partition]
                .iter()
                .map(|&i| {
                    model.sent[i]
                        .metas
                        .iter()
                        .filter(|m| m.partition == tp.partition)
                        .count()
                })
                .sum();
            assert_eq!(
                usize::try_from(*next).ok(),
                Some(stored),
                "{label}: next sequence of {tp}"
            );
        }
        tally.sends += 1;
    }

    fn plain_send(&mut self, label: &str, tally: &mut Tally) {
        let partition = self.rng.u32(..PARTITIONS);
        let records = self.records(false);
        let metas = self
            .db
            .producer()
            .send_batch_to(TOPIC, partition, records.clone())
            .unwrap_or_else(|e| panic!("{label}: plain send failed: {e}"));
        self.append(&records, &metas, label);
        tally.plain += 1;
    }

    /// Re-sends one of the producer's stored sends with the state from before it: a
    /// duplicate with the original offsets if the partitions still remember it, otherwise
    /// refused. Either way nothing is stored.
    fn retry(&mut self, who: usize, label: &str, tally: &mut Tally) {
        let model = &self.producers[who];
        if model.sent.is_empty() {
            return;
        }
        // Mostly recent sends, sometimes any.
        let n = model.sent.len();
        let h = if self.rng.bool() {
            self.rng.usize(n.saturating_sub(3)..n)
        } else {
            self.rng.usize(..n)
        };
        let sent = model.sent[h].clone();
        let remembered = model.remembered(h);
        let result = self.send(sent.before.clone(), sent.partition, sent.records.clone());
        if remembered {
            let metas = result.unwrap_or_else(|e| panic!("{label}: retry of send {h}: {e}"));
            assert_eq!(
                metas, sent.metas,
                "{label}: a duplicate returns the original offsets and timestamps"
            );
            tally.duplicates += 1;
        } else {
            match result {
                Err(Error::OutOfOrderSequence(_)) => tally.late_retries += 1,
                other => panic!("{label}: late retry of send {h} gave {other:?}"),
            }
        }
    }

    /// Sends with a state that skips sequences in one partition: refused.
    fn gap(&mut self, who: usize, label: &str, tally: &mut Tally) {
        let partition = self.rng.u32(..PARTITIONS);
        let mut state = self.producers[who].state.clone();
        let tp = TopicPartition::new(TOPIC, partition);
        let skip = self.rng.i32(1..=3);
        *state.sequences.entry(tp).or_insert(0) += skip;
        let records = self.records(false);
        match self.send(state, Some(partition), records) {
            Err(Error::OutOfOrderSequence(_)) => tally.gaps += 1,
            other => panic!("{label}: a send skipping {skip} sequences gave {other:?}"),
        }
    }

    /// Re-sends a stored send's sequences with another number of records: refused.
    fn other_records(&mut self, who: usize, label: &str, tally: &mut Tally) {
        let model = &self.producers[who];
        let Some(h) = (0..model.sent.len())
            .rev()
            .find(|&h| model.sent[h].partition.is_some() && model.remembered(h))
        else {
            return;
        };
        let sent = model.sent[h].clone();
        let mut records = sent.records.clone();
        records.push(Record::value("one more"));
        match self.send(sent.before, sent.partition, records) {
            Err(Error::OutOfOrderSequence(_)) => tally.other_records += 1,
            other => panic!("{label}: a retry of send {h} with more records gave {other:?}"),
        }
    }

    fn reopen(&mut self, tally: &mut Tally) {
        let db = Brooklet::open_storage(self.storage.clone(), options()).expect("reopen");
        self.db = db;
        tally.reopens += 1;
    }

    fn compare(&self, label: &str) {
        for p in 0..PARTITIONS {
            for isolation in [Isolation::ReadCommitted, Isolation::ReadUncommitted] {
                let values = read_values(&self.db, TOPIC, p, isolation).expect("read");
                assert!(
                    values == self.model[p as usize],
                    "{label}: partition {p} holds {} values, the model {}",
                    values.len(),
                    self.model[p as usize].len()
                );
            }
        }
    }
}

#[test]
fn idempotent_retries_store_each_send_once() {
    let mut tally = Tally::default();
    for seed in 0..24 {
        let mut world = World::new(seed);
        for step in 0..300 {
            world.step(step, &mut tally);
        }
        let report = world.db.admin().check().expect("check");
        assert!(report.is_clean(), "seed {seed}: {:?}", report.problems);
    }
    println!("idempotent model: {tally:?}");
    assert!(
        tally.duplicates > 0 && tally.late_retries > 0 && tally.gaps > 0 && tally.other_records > 0,
        "{tally:?}"
    );
}

/// A retry that finds its send stored returns the timestamps stored, not its own clock:
/// for records without a timestamp of their own, the first try's time (a regression test:
/// the metadata of a duplicate used to carry the retry's `now`), in a `CreateTime` and a
/// `LogAppendTime` topic.
#[test]
fn a_duplicate_returns_the_stored_timestamps() {
    let db = Brooklet::open_storage(Arc::new(MemStorage::new()), options()).expect("open");
    let log_append =
        TopicConfig::from_pairs([("message.timestamp.type", "LogAppendTime")]).expect("config");
    db.admin()
        .create_topic("create", 1, TopicConfig::default())
        .expect("topic");
    db.admin()
        .create_topic("append", 1, log_append)
        .expect("topic");
    let producer = db.producer().idempotent().expect("idempotent");
    let records = || {
        vec![
            Record::value("own time").with_timestamp(1_000),
            Record::value("no time"),
        ]
    };
    for topic in ["create", "append"] {
        let before = producer.idempotence().expect("state");
        let first = producer.send_batch_to(topic, 0, records()).expect("send");
        // The clock must move on for the retry to see another `now`.
        let moved = first[1].timestamp_ms + 2;
        while brooklet_now_ms() < moved {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let retry = db
            .producer()
            .with_idempotence(before)
            .send_batch_to(topic, 0, records())
            .expect("retry");
        let stored = db
            .fetch(topic, 0, 0, brooklet::FetchLimits::default())
            .expect("fetch")
            .records;
        assert_eq!(stored.len(), 2, "{topic}: stored once");
        let stored_meta: Vec<(u64, i64)> =
            stored.iter().map(|r| (r.offset, r.timestamp_ms)).collect();
        let meta = |m: &[RecordMetadata]| -> Vec<(u64, i64)> {
            m.iter().map(|m| (m.offset, m.timestamp_ms)).collect()
        };
        assert_eq!(meta(&first), stored_meta, "{topic}: the first try");
        assert_eq!(meta(&retry), stored_meta, "{topic}: the retry");
    }
}

/// Milliseconds since the Unix epoch, as brooklet's clock reads them.
fn brooklet_now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("fits")
}
