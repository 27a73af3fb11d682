//! The workload of the log model test: topics and seeded random steps.

use brooklet::{Brooklet, Durability, FetchLimits, Options, Record, RecordMetadata, TopicConfig};

use crate::support::log::random_record;

/// `max.message.bytes` of the topic whose sends are split into several batches.
pub(crate) const MAX_MESSAGE_SMALL: usize = 16_384;

/// A topic of one workload.
#[derive(Clone, Debug)]
pub(crate) struct TopicSpec {
    pub(crate) name: String,
    pub(crate) partitions: u32,
    /// Stores append times instead of create times.
    pub(crate) log_append: bool,
    /// A small `max.message.bytes`: one send may become several batches, and large records
    /// are refused.
    pub(crate) split: bool,
}

impl TopicSpec {
    pub(crate) fn config(&self) -> TopicConfig {
        let small = MAX_MESSAGE_SMALL.to_string();
        let mut pairs = vec![("segment.bytes", "65536")];
        if self.log_append {
            pairs.push(("message.timestamp.type", "LogAppendTime"));
        }
        if self.split {
            pairs.push(("max.message.bytes", small.as_str()));
        }
        TopicConfig::from_pairs(pairs).expect("valid topic config")
    }
}

/// How a send is made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Via {
    /// `Brooklet::send*` at the handle's default durability (`Immediate`).
    Handle,
    /// A `Producer` with its own durability.
    Producer(Durability),
}

impl Via {
    pub(crate) fn durable(self) -> bool {
        self != Self::Producer(Durability::None)
    }
}

/// One step of a workload. Read steps hold raw random draws that are scaled to the model
/// when they run, so the random stream does not depend on where keyless records went.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    CreateTopic(usize),
    Send {
        topic: usize,
        partition: Option<u32>,
        records: Vec<Record>,
        via: Via,
        /// `send_batch*` rather than `send`/`send_to` (which take one record).
        batch: bool,
    },
    /// A send that must fail as a request error (`Error::is_request_error`) and change nothing.
    Invalid {
        topic: usize,
        partition: Option<u32>,
        records: Vec<Record>,
        via: Via,
    },
    Flush,
    Reopen,
    Fetch {
        topic: usize,
        partition: u32,
        offset_draw: u64,
        limits: FetchLimits,
    },
    OffsetForTime {
        topic: usize,
        partition: u32,
        draw: u64,
        mode: u8,
    },
    Offsets(usize),
    ReaderPoll {
        topic: usize,
        partition: u32,
        draw: u64,
        mode: u8,
    },
    ReadAll,
    Check,
}

/// Topics and the steps run on them.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) seed: u64,
    pub(crate) specs: Vec<TopicSpec>,
    pub(crate) ops: Vec<Op>,
}

/// A seeded workload of `op_count` steps. Topic 0 exists from the first step; the others
/// are created within the first third. Topic 1 splits sends into several batches, topic 2
/// stores append times.
pub(crate) fn workload(seed: u64, op_count: usize) -> Workload {
    let mut rng = fastrand::Rng::with_seed(seed);
    let topic_count = rng.usize(2..=3);
    let specs: Vec<TopicSpec> = (0..topic_count)
        .map(|i| TopicSpec {
            name: format!("topic-{i}"),
            partitions: rng.u32(1..=3),
            log_append: i == 2,
            split: i == 1,
        })
        .collect();
    let mut create_at: Vec<usize> = (0..topic_count)
        .map(|i| {
            if i == 0 {
                0
            } else {
                rng.usize(1..op_count / 3)
            }
        })
        .collect();
    create_at.sort_unstable();
    let mut ops = Vec::with_capacity(op_count);
    let mut created = 0;
    while ops.len() < op_count {
        if created < topic_count && ops.len() >= create_at[created] {
            ops.push(Op::CreateTopic(created));
            created += 1;
            continue;
        }
        let topic = rng.usize(0..created);
        ops.push(random_op(&mut rng, &specs[topic], topic));
    }
    Workload { seed, specs, ops }
}

fn random_via(rng: &mut fastrand::Rng) -> Via {
    match rng.u8(0..10) {
        0..=2 => Via::Handle,
        3..=5 => Via::Producer(Durability::Immediate),
        6 => Via::Producer(Durability::Paranoid),
        _ => Via::Producer(Durability::None),
    }
}

fn random_op(rng: &mut fastrand::Rng, spec: &TopicSpec, topic: usize) -> Op {
    let partition = rng.u32(0..spec.partitions);
    match rng.u8(0..100) {
        0..=59 => {
            let batch = rng.bool();
            let count = match (batch, rng.u8(0..10)) {
                (false, _) => 1,
                (true, 0) => rng.usize(20..60),
                (true, _) => rng.usize(1..12),
            };
            Op::Send {
                topic,
                partition: (rng.u8(0..3) == 0).then_some(partition),
                records: (0..count).map(|_| random_record(rng)).collect(),
                via: random_via(rng),
                batch,
            }
        }
        60..=62 => invalid_op(rng, spec, topic),
        63..=65 => Op::Flush,
        66 | 67 => Op::Reopen,
        68..=81 => Op::Fetch {
            topic,
            partition,
            offset_draw: rng.u64(..),
            limits: FetchLimits {
                max_records: match rng.u8(0..10) {
                    0 => 0,
                    1..=3 => rng.usize(1..4),
                    _ => rng.usize(1..200),
                },
                max_bytes: [1, 200, 3000, 20_000, 1 << 20][rng.usize(0..5)],
            },
        },
        82..=87 => Op::OffsetForTime {
            topic,
            partition,
            draw: rng.u64(..),
            mode: rng.u8(0..6),
        },
        88..=91 => Op::Offsets(topic),
        92..=97 => Op::ReaderPoll {
            topic,
            partition,
            draw: rng.u64(..),
            mode: rng.u8(0..4),
        },
        98 => Op::ReadAll,
        _ => Op::Check,
    }
}

/// A send the log must refuse: a negative timestamp, a partition that does not exist, or
/// (on the split topic) a record over `max.message.bytes`.
fn invalid_op(rng: &mut fastrand::Rng, spec: &TopicSpec, topic: usize) -> Op {
    let mut records: Vec<Record> = (0..rng.usize(1..5)).map(|_| random_record(rng)).collect();
    let victim = rng.usize(0..records.len());
    let mut partition = None;
    match rng.u8(0..3) {
        0 => partition = Some(spec.partitions + rng.u32(0..3)),
        1 if spec.split => records[victim].value = Some(vec![7; MAX_MESSAGE_SMALL + 100]),
        _ => records[victim].timestamp_ms = Some(-1 - rng.i64(0..1000)),
    }
    Op::Invalid {
        topic,
        partition,
        records,
        via: random_via(rng),
    }
}

/// A small cache, so that eviction and page reuse happen, and for a new file of an even
/// seed 512-byte pages (B-tree splits happen), of an odd seed 4096-byte pages (a small
/// commit's batch fits its commit slot as pending data). Reopening keeps the file's size.
pub(crate) fn options(seed: u64) -> Options {
    let page_size = if seed.is_multiple_of(2) { 512 } else { 4096 };
    Options::default()
        .page_size(page_size)
        .cache_bytes(64 * page_size as usize)
}

/// Runs one send the way `via` and `batch` say.
pub(crate) fn send(
    db: &Brooklet,
    name: &str,
    partition: Option<u32>,
    records: Vec<Record>,
    via: Via,
    batch: bool,
) -> brooklet::Result<Vec<RecordMetadata>> {
    let one = |records: Vec<Record>| records.into_iter().next().expect("one record");
    match (via, partition, batch) {
        (Via::Handle, None, false) => db.producer().send(name, one(records)).map(|m| vec![m]),
        (Via::Handle, Some(p), false) => db
            .producer()
            .send_to(name, p, one(records))
            .map(|m| vec![m]),
        (Via::Handle, None, true) => db.producer().send_batch(name, records),
        (Via::Handle, Some(p), true) => db.producer().send_batch_to(name, p, records),
        (Via::Producer(d), p, batch) => {
            let producer = db.producer().with_durability(d);
            match (p, batch) {
                (None, false) => producer.send(name, one(records)).map(|m| vec![m]),
                (Some(p), false) => producer.send_to(name, p, one(records)).map(|m| vec![m]),
                (None, true) => producer.send_batch(name, records),
                (Some(p), true) => producer.send_batch_to(name, p, records),
            }
        }
    }
}
