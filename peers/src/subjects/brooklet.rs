//! brooklet: one topic of one partition in one file, appended with
//! `Producer::send_batch_borrowed_to` (records that borrow the staged keys and values, as a
//! caller that keeps its own buffers sends them), read with `Brooklet::fetch_batches` (records borrowed from the
//! stored batches), group offsets committed by a member of a real consumer group (`Consumer::commit_offsets`). Retention is the topic's
//! `retention.bytes` with a small `segment.bytes`, applied by the produce commits.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use brooklet::{
    BorrowedRecord, Brooklet, Consumer, ConsumerOptions, Durability, FetchLimits, Options,
    Position, Producer, Record, TopicConfig, TopicPartition,
};

use super::brooklet_counters::{Ledger, Op};
use super::{ReadCount, Sender, Setup};

pub const GUARANTEES: &str = "durable commits are `Durability::Immediate` (one fdatasync per \
commit, shared by concurrent producers: group commit); the non-durable bulk append and offset \
commits are `Durability::None` (atomic, not synced). Bulk appends are borrowed sends \
(`send_batch_borrowed_to`: the caller keeps its buffers). Group offsets are consumer-group \
commits.";

const TOPIC: &str = "log";
const GROUP: &str = "bench";
const FETCH_LIMITS: FetchLimits = FetchLimits {
    max_records: 10_000,
    max_bytes: 4 << 20,
};

pub struct Subject {
    db: Brooklet,
    dir: PathBuf,
    durable: Producer,
    buffered: Producer,
    staged: Vec<Record>,
    /// The group member and the durability its commits use.
    consumer: Option<(Consumer, Durability)>,
    /// What brooklet's counters say each operation cost (see `brooklet_counters`); a
    /// `RefCell` because `sender` takes `&self`.
    ledger: RefCell<Ledger>,
}

impl Subject {
    pub fn open(dir: &Path, setup: Setup) -> Self {
        let path = dir.join("log.brooklet");
        let db = Brooklet::open_with(&path, Options::default()).expect("open brooklet");
        let mut config = TopicConfig::default();
        if let Some(bytes) = setup.segment_bytes {
            config.segment_bytes = u32::try_from(bytes).expect("segment size fits u32");
        }
        if let Some(records) = setup.retain_records {
            config.retention_bytes = Some(records * super::stored_bytes_per_record(1000));
        }
        db.admin()
            .create_topic(TOPIC, 1, config)
            .expect("create topic");
        // The workload's name is the directory above the subject's.
        let workload = dir
            .parent()
            .and_then(Path::file_name)
            .map_or_else(String::new, |n| n.to_string_lossy().replace('-', " "));
        Self {
            ledger: RefCell::new(Ledger::new(&workload, &db)),
            durable: db.producer().with_durability(Durability::Immediate),
            buffered: db.producer().with_durability(Durability::None),
            db,
            dir: dir.to_owned(),
            staged: Vec::new(),
            consumer: None,
        }
    }

    fn consumer(&mut self, durability: Durability) -> &mut Consumer {
        if self
            .consumer
            .as_ref()
            .is_some_and(|(_, d)| *d != durability)
        {
            let (old, _) = self.consumer.take().expect("checked above");
            old.close().expect("leave the group");
        }
        let db = &self.db;
        let (consumer, _) = self.consumer.get_or_insert_with(|| {
            let options = ConsumerOptions {
                auto_offset_reset: Some(Position::Beginning),
                auto_commit_interval: None,
                commit_durability: durability,
                ..ConsumerOptions::default()
            };
            let consumer = db.consumer(GROUP, &[TOPIC], options).expect("join group");
            (consumer, durability)
        });
        consumer
    }
}

impl super::Subject for Subject {
    fn stage(&mut self, records: Vec<Record>) {
        self.ledger.get_mut().settle(&self.db);
        self.staged = records;
    }

    fn append(&mut self, sync: bool) {
        let producer = if sync { &self.durable } else { &self.buffered };
        // The caller keeps its records (the next `stage` drops them, untimed, as the raw
        // ceiling's staged bytes are); the send borrows their keys and values.
        let records: Vec<BorrowedRecord<'_>> = self
            .staged
            .iter()
            .map(|r| BorrowedRecord {
                key: r.key.as_deref(),
                value: r.value.as_deref(),
                ..BorrowedRecord::default()
            })
            .collect();
        let payload = self.staged.iter().map(payload_len).sum();
        let op = Op::Append {
            durable: sync,
            records: records.len() as u64,
        };
        // `stage` settled the counters just before (untimed): this only names the operation.
        let ledger = self.ledger.get_mut();
        ledger.name(op);
        ledger.count(records.len() as u64, payload);
        producer
            .send_batch_borrowed_to(TOPIC, 0, &records)
            .expect("brooklet append");
    }

    fn prepare_read(&mut self, _records: u64) {
        self.ledger.get_mut().begin(&self.db, Op::Read);
    }

    fn read_all(&mut self) -> ReadCount {
        let count = self.read_log();
        self.ledger.get_mut().count(count.records, count.bytes);
        count
    }

    fn commit_offset(&mut self, offset: u64, sync: bool) {
        // The first commit of each kind (untimed) settles the kind before.
        self.ledger
            .get_mut()
            .begin(&self.db, Op::Offset { durable: sync });
        self.ledger.get_mut().count(0, 0);
        let durability = if sync {
            Durability::Immediate
        } else {
            Durability::None
        };
        self.consumer(durability)
            .commit_offsets([(TopicPartition::new(TOPIC, 0), offset)])
            .expect("brooklet offset commit");
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn sender(&self) -> Box<dyn Sender> {
        self.ledger.borrow_mut().begin(&self.db, Op::Sends);
        Box::new(BrookletSender(self.durable.clone()))
    }
}

impl Drop for Subject {
    fn drop(&mut self) {
        self.ledger.get_mut().close(&self.db);
    }
}

/// Key and value bytes of a record.
fn payload_len(record: &Record) -> u64 {
    (record.key.as_ref().map_or(0, Vec::len) + record.value.as_ref().map_or(0, Vec::len)) as u64
}

impl Subject {
    /// Reads the whole log from its first offset, touching every key and value.
    fn read_log(&self) -> ReadCount {
        let mut count = ReadCount::default();
        let mut offset = self.db.beginning_offset(TOPIC, 0).expect("log start");
        loop {
            // Whole stored batches, CRC-checked; records borrowed from them.
            let fetched = self
                .db
                .fetch_batches(TOPIC, 0, offset, FETCH_LIMITS)
                .expect("brooklet fetch_batches");
            for record in fetched.records() {
                let record = record.expect("brooklet record");
                count.add(
                    record.key.unwrap_or_default(),
                    record.value.unwrap_or_default(),
                );
            }
            if fetched.next_offset >= fetched.end_offset {
                return count;
            }
            offset = fetched.next_offset;
        }
    }
}

struct BrookletSender(Producer);

impl Sender for BrookletSender {
    fn send(&mut self, record: Record) {
        self.0.send_to(TOPIC, 0, record).expect("brooklet send");
    }
}
