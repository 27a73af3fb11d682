//! `brooklet mirror`: copies topics of a brooklet file into a Kafka-protocol broker (a Kafka
//! cluster, or `brooklet serve` on another file), keeping keys, values, headers, timestamps
//! and partitions.
//!
//! The mirror reads as a member of a consumer group in the file (`--group`, default
//! `brooklet-mirror`) and commits, after each acknowledged produce, the source offset it
//! reached with the broker's end offset of that partition as the offset's metadata. A
//! restarted mirror resumes at the committed offset; if the broker holds more records than
//! the metadata says (the mirror was stopped between a produce and its commit), it skips
//! that many records first, so a resume adds no duplicates. That count is exact while the
//! mirror is the only writer of the broker's partitions. Batches carry an idempotent
//! producer id where the broker grants one (`InitProducerId`), so retries within a run add no
//! duplicates either.

mod client;
mod target;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use brooklet::kafka::{
    ProducerStamp, Record, TimestampType, encode_batch_stamped_into, sequence_add,
};
use brooklet::{ConsumedRecord, Consumer, ConsumerOptions, Durability, Position, TopicPartition};
use bytes::Bytes;

use crate::common::{Access, CliError, CliResult, counted, note, open, parse_group};
use client::Client;
use target::{Outgoing, ProducerFields};

/// `brooklet mirror` arguments.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  brooklet mirror events.brooklet --to kafka-1.internal:9092
  brooklet mirror events.brooklet --to 127.0.0.1:9093 --topics orders,payments --follow

Copies every record of the topics (default: all topics of the file) into the broker, in
each topic's partition of the same number, with its key, value, headers and timestamp.
Topics missing on the broker are created with the source's partition count and the
broker's default replication (--no-create-topics refuses instead); a broker topic with
fewer partitions than the source is an error. Without --follow the mirror stops once it
has copied everything committed when it reached each partition's end; with --follow it
goes on copying new records until interrupted.

Progress is stored in the file as the committed offsets of --group, so a restarted mirror
resumes where it stopped, without duplicates as long as it is the only writer of those
topics on the broker. `brooklet group describe FILE brooklet-mirror` shows how far it got.
Records of aborted transactions and transaction markers are not copied.")]
pub struct MirrorArgs {
    /// The brooklet file to copy from.
    pub file: PathBuf,
    /// The broker to copy into.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: String,
    /// Topics to copy, comma-separated (default: every topic of the file).
    #[arg(long, value_delimiter = ',', value_name = "TOPICS")]
    pub topics: Vec<String>,
    /// Go on copying new records until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// The consumer group of the file that stores the mirror's progress.
    #[arg(long, default_value = "brooklet-mirror", value_parser = parse_group)]
    pub group: String,
    /// Fail on a topic the broker does not have, instead of creating it.
    #[arg(long)]
    pub no_create_topics: bool,
    /// Time allowed for connecting and for each request, in milliseconds.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub timeout_ms: u64,
}

/// Largest batch sent, in record bytes: under the 1 MB that brokers accept by default
/// (Kafka's `message.max.bytes`).
const BATCH_BYTES_MAX: usize = 512 << 10;

/// How long one poll of the file waits for records.
const POLL_WAIT: Duration = Duration::from_millis(200);

/// The metadata committed with each offset: the broker's end offset after it.
const META_PREFIX: &str = "brooklet-mirror target-end=";

/// Where the mirror stands in one partition.
#[derive(Debug)]
struct PartitionState {
    /// The broker's end offset the mirror knows of: every record below it is on the broker.
    target_end: u64,
    /// Records still to skip: already on the broker from a run stopped before its commit.
    skip: u64,
    /// The next batch's `baseSequence` (idempotent producers).
    sequence: i32,
}

/// Runs `brooklet mirror`.
pub fn run(args: &MirrorArgs) -> CliResult {
    let db = open(&args.file, Access::Write)?;
    let topics = source_topics(&db, &args.topics)?;
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let mut client = Client::connect(&args.to, timeout)?;
    prepare_topics(&db, &mut client, &topics, !args.no_create_topics)?;
    let producer = target::init_producer(&mut client)?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        commit_durability: Durability::Immediate,
        ..ConsumerOptions::default()
    };
    let mut consumer = db.consumer(&args.group, &names, options)?;
    let mut mirror = Mirror {
        client,
        producer,
        states: BTreeMap::new(),
        copied: 0,
    };
    loop {
        let records = consumer.poll(POLL_WAIT)?;
        if records.is_empty() {
            if !args.follow && caught_up(&consumer)? {
                break;
            }
            continue;
        }
        mirror.copy(&mut consumer, records)?;
    }
    consumer.close()?;
    note(&format!(
        "mirrored {} into {}",
        counted(mirror.copied, "record"),
        args.to
    ));
    Ok(())
}

/// The topics to copy: those named (each must exist), or every topic of the file.
fn source_topics(db: &brooklet::Brooklet, named: &[String]) -> CliResult<Vec<String>> {
    let admin = db.admin();
    if named.is_empty() {
        let all: Vec<String> = admin.topics()?.into_iter().map(|t| t.name).collect();
        if all.is_empty() {
            return Err(CliError::failure("the file has no topics to mirror"));
        }
        return Ok(all);
    }
    let mut seen = BTreeSet::new();
    for t in named {
        admin.describe_topic(t)?;
        seen.insert(t.clone());
    }
    Ok(seen.into_iter().collect())
}

/// Checks that the broker has each topic with at least the source's partitions, creating
/// the missing ones if `create`.
fn prepare_topics(
    db: &brooklet::Brooklet,
    client: &mut Client,
    topics: &[String],
    create: bool,
) -> CliResult {
    let have = target::partition_counts(client, topics)?;
    for t in topics {
        let ours =
            u32::try_from(db.admin().describe_topic(t)?.partitions.len()).unwrap_or(u32::MAX);
        match have.get(t) {
            Some(&theirs) if theirs >= ours => {}
            Some(&theirs) => {
                return Err(CliError::failure(format!(
                    "{}: topic {t} has {theirs} partitions, fewer than the {ours} of the source",
                    client.address()
                )));
            }
            None if create => target::create_topic(client, t, ours)?,
            None => {
                return Err(CliError::failure(format!(
                    "{}: no topic {t} (drop --no-create-topics to create it)",
                    client.address()
                )));
            }
        }
    }
    Ok(())
}

/// Whether every assigned partition has nothing left to read.
fn caught_up(consumer: &Consumer) -> CliResult<bool> {
    let assignment = consumer.assignment();
    if assignment.is_empty() {
        return Ok(false);
    }
    for tp in assignment {
        if consumer
            .lag(&tp.topic, tp.partition)?
            .is_some_and(|lag| lag > 0)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

struct Mirror {
    client: Client,
    producer: ProducerFields,
    states: BTreeMap<TopicPartition, PartitionState>,
    copied: u64,
}

impl Mirror {
    /// Copies one poll's records, then commits each partition's progress.
    fn copy(&mut self, consumer: &mut Consumer, records: Vec<ConsumedRecord>) -> CliResult {
        let mut by_partition: BTreeMap<TopicPartition, Vec<ConsumedRecord>> = BTreeMap::new();
        for r in records {
            by_partition
                .entry(TopicPartition::new(r.topic.clone(), r.partition))
                .or_default()
                .push(r);
        }
        let mut pending: Vec<(TopicPartition, Vec<Record>)> = Vec::new();
        let mut next_offsets = Vec::new();
        for (tp, mut list) in by_partition {
            let next = list.last().map_or(0, |r| r.record.offset + 1);
            let state = self.state(consumer, &tp)?;
            let skipped = usize::try_from(state.skip)
                .unwrap_or(usize::MAX)
                .min(list.len());
            state.skip -= skipped as u64;
            let records: Vec<Record> = list.drain(skipped..).map(to_record).collect();
            next_offsets.push((tp.clone(), next));
            pending.push((tp, records));
        }
        self.send_all(pending)?;
        for (tp, next) in next_offsets {
            let state = &self.states[&tp];
            // Records still to skip are on the broker but not yet passed in the file.
            let end = state.target_end - state.skip;
            consumer.commit_with_metadata([(tp, next)], &format!("{META_PREFIX}{end}"))?;
        }
        Ok(())
    }

    /// The state of a partition, set up from the group's committed metadata and the
    /// broker's end offset the first time the partition is met.
    fn state(
        &mut self,
        consumer: &Consumer,
        tp: &TopicPartition,
    ) -> CliResult<&mut PartitionState> {
        if !self.states.contains_key(tp) {
            let end = target::end_offset(&mut self.client, &tp.topic, tp.partition)?;
            let committed_end = consumer
                .committed_with_metadata(&tp.topic, tp.partition)?
                .and_then(|(_, meta)| meta.strip_prefix(META_PREFIX)?.parse::<u64>().ok());
            let skip = match committed_end {
                Some(known) if end >= known => end - known,
                Some(known) => {
                    eprintln!(
                        "brooklet: warning: {}/{}: the broker's end offset {end} is below the {known} \
                         the mirror reached (records deleted there); going on from the file's committed offset",
                        tp.topic, tp.partition
                    );
                    0
                }
                None => 0,
            };
            if skip > 0 {
                note(&format!(
                    "{}/{}: {} already on the broker from a stopped run; skipping them",
                    tp.topic,
                    tp.partition,
                    counted(skip, "record")
                ));
            }
            self.states.insert(
                tp.clone(),
                PartitionState {
                    target_end: end,
                    skip,
                    sequence: 0,
                },
            );
        }
        Ok(self.states.get_mut(tp).expect("inserted above"))
    }

    /// Sends every partition's records, in batches of at most [`BATCH_BYTES_MAX`], one batch
    /// per partition per request.
    fn send_all(&mut self, pending: Vec<(TopicPartition, Vec<Record>)>) -> CliResult {
        let mut queues: Vec<(TopicPartition, std::vec::IntoIter<Vec<Record>>)> = pending
            .into_iter()
            .map(|(tp, records)| (tp, chunks(records).into_iter()))
            .collect();
        loop {
            let mut round: Vec<(TopicPartition, u32)> = Vec::new();
            let mut batches = Vec::new();
            for (tp, queue) in &mut queues {
                let Some(chunk) = queue.next() else { continue };
                let state = &self.states[tp];
                let batch = encode(&chunk, self.producer, state.sequence)?;
                round.push((tp.clone(), u32::try_from(chunk.len()).unwrap_or(u32::MAX)));
                batches.push(Outgoing {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    batch,
                });
            }
            if batches.is_empty() {
                return Ok(());
            }
            let bases = target::produce(&mut self.client, &batches)?;
            for ((tp, count), base) in round.into_iter().zip(bases) {
                let state = self.states.get_mut(&tp).expect("state made before sending");
                state.target_end = state.target_end.max(base + u64::from(count));
                state.sequence = sequence_add(state.sequence, count);
                self.copied += u64::from(count);
            }
        }
    }
}

/// A consumed record as one to send, its timestamp kept.
fn to_record(consumed: ConsumedRecord) -> Record {
    let r = consumed.record;
    Record {
        key: r.key,
        value: r.value,
        headers: r.headers,
        timestamp_ms: (r.timestamp_ms >= 0).then_some(r.timestamp_ms),
    }
}

/// Splits records into runs of at most [`BATCH_BYTES_MAX`] bytes (at least one record).
fn chunks(records: Vec<Record>) -> Vec<Vec<Record>> {
    let mut out: Vec<Vec<Record>> = Vec::new();
    let mut size = 0;
    for r in records {
        let bytes = 32
            + r.key.as_ref().map_or(0, Vec::len)
            + r.value.as_ref().map_or(0, Vec::len)
            + r.headers
                .iter()
                .map(|h| 8 + h.key.len() + h.value.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
        match out.last_mut() {
            Some(last) if size + bytes <= BATCH_BYTES_MAX => last.push(r),
            _ => {
                out.push(vec![r]);
                size = 0;
            }
        }
        size += bytes;
    }
    out
}

/// Encodes one batch with the mirror's producer fields.
fn encode(records: &[Record], producer: ProducerFields, sequence: i32) -> CliResult<Bytes> {
    let stamp = ProducerStamp {
        producer_id: producer.producer_id,
        producer_epoch: producer.producer_epoch,
        sequence_base: if producer.idempotent() { sequence } else { -1 },
        transactional: false,
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    encode_batch_stamped_into(
        &mut out,
        0,
        records,
        TimestampType::CreateTime,
        now_ms,
        &stamp,
    )?;
    Ok(Bytes::from(out))
}
