//! kafko: one topic of one partition in a directory, driven from synchronous code through a
//! tokio runtime (`block_on`). Appends are `Producer::send_batch`; a durable append then
//! calls `Partition::sync` (fdatasync of the active segment and its index), since `send`
//! alone only reaches the OS page cache. Group offsets are `Consumer::commit` of a group
//! consumer (always fsynced: a temporary file, fsync, rename). Retention is the topic's
//! `max_partition_bytes` with a small segment size, applied by kafko's writer task on its
//! retention timer (set to 10 ms here).
//!
//! kafko reads a record by reading from its index entry to the end of the segment
//! (`Log::read_record_at`), so a sequential read costs about the segment size per record.
//! With its default 1 GiB segments that is quadratic; the sequential read therefore runs on
//! a second topic with 64 KiB segments (brooklet's smallest), filled untimed by
//! [`Subject::prepare_read`] with the same records.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use brooklet::Record;
use bytes::Bytes;
use kafko::{Kafko, LogConfig, Partition, Producer};
use tokio::runtime::{Handle, Runtime};

use super::{ReadCount, Sender, Setup};
use crate::data;

pub const GUARANTEES: &str = "`send` returns once the record is in the OS page cache (Kafka \
acks=1); durable commits here add `Partition::sync` (fdatasync of segment and index) after \
each send, one sync per commit (the non-durable bulk append is `send` alone), and syncs are not shared between concurrent senders. Group \
offset commits are always fsynced (temp file + fsync + rename, no directory fsync): kafko \
has no non-durable commit, so both offset rows measure durable commits. The sequential read \
uses 64 KiB segments (see notes).";

const TOPIC: &str = "log";
const READ_TOPIC: &str = "read";
const GROUP: &str = "bench";
/// Segment size of the topic the sequential read runs on.
const READ_SEGMENT_BYTES: u64 = 64 << 10;
const BUILD_BATCH: u64 = 1000;

pub struct Subject {
    runtime: Arc<Runtime>,
    broker: Option<Kafko>,
    producer: Producer,
    partition: Arc<Partition>,
    dir: PathBuf,
    staged: Vec<(Option<Bytes>, Bytes)>,
    consumer: Option<kafko::Consumer>,
    /// Records in the read topic, once built.
    read_records: Option<u64>,
}

fn items(records: Vec<Record>) -> Vec<(Option<Bytes>, Bytes)> {
    records
        .into_iter()
        .map(|r| {
            let key = r.key.map(Bytes::from);
            let value = Bytes::from(r.value.expect("benchmark records have values"));
            (key, value)
        })
        .collect()
}

impl Subject {
    pub fn open(dir: &Path, setup: Setup) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut config = LogConfig::default();
        if let Some(bytes) = setup.segment_bytes {
            config.segment_size_threshold = bytes;
        }
        if let Some(records) = setup.retain_records {
            config.max_partition_bytes = Some(records * wire_size());
            config.retention_check_interval = Duration::from_millis(10);
        }
        let (broker, producer, partition) = runtime.block_on(async {
            let broker = Kafko::open_with_config(dir, config)
                .await
                .expect("open kafko");
            broker.create_topic(TOPIC).await.expect("create topic");
            let producer = broker.producer_for(TOPIC).await.expect("producer");
            let topic = broker.topic(TOPIC).await.expect("topic exists");
            let partition = Arc::clone(topic.partition(0).expect("partition 0"));
            (broker, producer, partition)
        });
        Self {
            runtime: Arc::new(runtime),
            broker: Some(broker),
            producer,
            partition,
            dir: dir.to_owned(),
            staged: Vec::new(),
            consumer: None,
            read_records: None,
        }
    }

    fn broker(&self) -> &Kafko {
        self.broker.as_ref().expect("broker open until drop")
    }
}

/// Bytes kafko stores per benchmark record (its framing plus key and value).
fn wire_size() -> u64 {
    let record = kafko::Record::new(0, Some(Bytes::from(data::key(0))), data::value(0).into());
    record.wire_size() as u64
}

impl Drop for Subject {
    fn drop(&mut self) {
        drop(self.consumer.take());
        if let Some(broker) = self.broker.take() {
            self.runtime
                .block_on(broker.shutdown())
                .expect("kafko shutdown");
        }
    }
}

impl super::Subject for Subject {
    fn stage(&mut self, records: Vec<Record>) {
        self.staged = items(records);
    }

    fn append(&mut self, sync: bool) {
        let items = std::mem::take(&mut self.staged);
        self.runtime.block_on(async {
            self.producer.send_batch(items).await.expect("kafko send");
            if sync {
                self.partition.sync().await.expect("kafko sync");
            }
        });
    }

    fn prepare_read(&mut self, records: u64) {
        let config = LogConfig {
            segment_size_threshold: READ_SEGMENT_BYTES,
            ..LogConfig::default()
        };
        let broker = self.broker.as_ref().expect("broker open until drop");
        self.runtime.block_on(async {
            broker
                .create_topic_with_config(READ_TOPIC, config)
                .await
                .expect("create read topic");
            let producer = broker.producer_for(READ_TOPIC).await.expect("producer");
            let mut first = 0;
            while first < records {
                let count = BUILD_BATCH.min(records - first);
                let batch = items(data::records(first, count));
                producer.send_batch(batch).await.expect("kafko send");
                first += count;
            }
            let topic = broker.topic(READ_TOPIC).await.expect("read topic");
            topic
                .partition(0)
                .expect("partition 0")
                .sync()
                .await
                .expect("sync");
        });
        self.read_records = Some(records);
    }

    fn read_all(&mut self) -> ReadCount {
        let records = self.read_records.expect("prepare_read before read_all");
        let broker = self.broker();
        self.runtime.block_on(async {
            let mut consumer = broker.consumer_for(READ_TOPIC).await.expect("consumer");
            consumer.seek_all(0);
            let mut count = ReadCount::default();
            while count.records < records {
                let record = consumer.next_record().await.expect("kafko read");
                count.add(record.key().map_or(&[][..], |k| &k[..]), record.value());
            }
            count
        })
    }

    fn commit_offset(&mut self, offset: u64, _sync: bool) {
        let runtime = Arc::clone(&self.runtime);
        if self.consumer.is_none() {
            let broker = self.broker();
            let consumer = runtime
                .block_on(broker.consumer_for_group(TOPIC, GROUP))
                .expect("group consumer");
            self.consumer = Some(consumer);
        }
        let consumer = self.consumer.as_mut().expect("set above");
        consumer.seek(0, offset);
        runtime
            .block_on(consumer.commit())
            .expect("kafko offset commit");
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn sender(&self) -> Box<dyn Sender> {
        Box::new(KafkoSender {
            handle: self.runtime.handle().clone(),
            producer: self.producer.clone(),
            partition: Arc::clone(&self.partition),
        })
    }
}

/// Each send is `send` then `Partition::sync`, from a thread outside the runtime.
struct KafkoSender {
    handle: Handle,
    producer: Producer,
    partition: Arc<Partition>,
}

impl Sender for KafkoSender {
    fn send(&mut self, record: Record) {
        let mut batch = items(vec![record]);
        let (key, value) = batch.pop().expect("one item");
        self.handle.block_on(async {
            self.producer.send(key, value).await.expect("kafko send");
            self.partition.sync().await.expect("kafko sync");
        });
    }
}
