//! Transactions: records to any partitions and a consumer group's offsets, committed
//! together or not at all (Kafka's transactional producer, `sendOffsetsToTransaction`
//! included), so a consume-transform-produce loop is exactly-once.
//!
//! A transaction's records are held in memory until it commits: then its batches
//! (marked transactional), a COMMIT marker in each partition it wrote and the group's
//! offsets go into **one storage commit with one `fdatasync`**. Readers never see part
//! of it. A transaction that outgrows [`TransactionOptions::buffer_bytes`] stores its
//! batches as it goes, in commits that are not synced: the partitions' last stable
//! offset then holds `read_committed` readers before its first record until its COMMIT or
//! ABORT marker, and an aborted transaction is indexed so that they skip it.
//!
//! A transactional id has one live instance: [`Brooklet::transactional_producer`] raises
//! the id's epoch, which fences any earlier instance in any process (its next write fails
//! with [`Error::Fenced`]), and aborts what that instance left open at once. A transaction
//! whose process died is aborted when the file is next opened for writing, when a new
//! instance starts, or by [`Admin::maintain`](crate::Admin::maintain); one that runs past
//! [`TransactionOptions::timeout`] likewise (and its instance is fenced).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::coordinator::{
    check_owner, init_producer, topics_by_id, write_markers, write_markers_in,
};
use super::{Brooklet, Consumer, RecordMetadata, TopicPartition, now_ms};
use crate::catalog::TopicMeta;
use crate::engine::WriteTransaction;
use crate::error::{Error, Result};
use crate::group::store as groups;
use crate::kafka::send::RecordSource as _;
use crate::kafka::{ControlType, ProducerStamp, Record, TimestampType, sequence_add};
use crate::log::producers;
use crate::pager::Durability;
use crate::transactions::{self, TransactionState, TxnRecord};

/// How [`check_owner`]'s fencing errors start.
const FENCED_PREFIX: &str = "transactional id";

/// Settings for [`Brooklet::transactional_producer_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionOptions {
    /// A transaction open longer than this is aborted by the next writer that looks, and
    /// its producer fenced (Kafka's `transaction.timeout.ms`). Default 60 s.
    pub timeout: Duration,
    /// Durability of each transaction's commit (and abort). Default
    /// [`Durability::Immediate`].
    pub durability: Durability,
    /// Bytes of records a transaction holds in memory before it stores them ahead of its
    /// commit. Default 4 MiB.
    pub buffer_bytes: usize,
}

impl Default for TransactionOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            durability: Durability::Immediate,
            buffer_bytes: 4 << 20,
        }
    }
}

/// A consumer group's identity for [`Transaction::send_offsets`]: the group, and the
/// member whose ownership of the partitions the commit checks (Kafka's
/// `ConsumerGroupMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMetadata {
    /// The group's name.
    pub group: String,
    /// The member that must own every partition committed; `None` commits without a check
    /// (for a group whose partitions are assigned by hand).
    pub member_id: Option<u64>,
}

impl GroupMetadata {
    /// A group's offsets committed without a member check.
    #[must_use]
    pub fn new(group: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            member_id: None,
        }
    }
}

impl Consumer {
    /// This member's identity, for [`Transaction::send_offsets`]: the commit is refused
    /// with [`Error::Fenced`] if the member no longer owns a partition it commits.
    #[must_use]
    pub fn group_metadata(&self) -> GroupMetadata {
        GroupMetadata {
            group: self.group.clone(),
            member_id: Some(self.member_id),
        }
    }
}

/// A producer whose sends are grouped into transactions; see the module docs.
///
/// ```
/// use brooklet::{Brooklet, GroupMetadata, Record, TopicConfig, TopicPartition};
///
/// # fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("tx.brooklet"))?;
/// db.admin().create_topic("payments", 2, TopicConfig::default())?;
/// db.admin().create_topic("ledger", 1, TopicConfig::default())?;
/// let mut producer = db.transactional_producer("ledger-writer")?;
/// let mut txn = producer.begin()?;
/// txn.send("payments", Record::keyed("alice", "-10"))?;
/// txn.send_to("ledger", 0, Record::value("alice paid 10"))?;
/// txn.send_offsets(&GroupMetadata::new("ledger-writer"), &[(TopicPartition::new("payments", 0), 1)])?;
/// let sent = txn.commit()?; // one storage commit, one fdatasync
/// assert_eq!(sent.len(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TransactionalProducer {
    db: Brooklet,
    id: String,
    producer_id: i64,
    epoch: i16,
    options: TransactionOptions,
    /// The next sequence number per (topic id, partition).
    sequences: HashMap<(u32, u32), i32>,
    sticky: u32,
    topics: HashMap<String, Arc<TopicMeta>>,
    fenced: Option<String>,
    _liveness: Option<crate::os::LivenessGuard>,
}

/// A group's offsets sent in a transaction: (topic, partition, offset) each.
type GroupOffsets = (GroupMetadata, Vec<(Arc<TopicMeta>, u32, u64)>);

/// Records and offsets of the transaction in progress.
#[derive(Debug, Default)]
struct Pending {
    started_ms: i64,
    /// Records not yet stored, per (topic id, partition), in send order.
    buffered: BTreeMap<(u32, u32), Vec<Record>>,
    buffered_bytes: usize,
    /// Where each record already stored went, per (topic id, partition), in send order.
    stored: BTreeMap<(u32, u32), Vec<(u64, i64)>>,
    /// The partition of each record sent, in send order.
    order: Vec<(u32, u32)>,
    /// Group offsets to commit with the transaction.
    offsets: Vec<GroupOffsets>,
}

impl Brooklet {
    /// A transactional producer for `transactional_id`, with default
    /// [`TransactionOptions`]. Fences every earlier instance of the id (in any process)
    /// and aborts any transaction it left open, in one durable commit.
    pub fn transactional_producer(&self, transactional_id: &str) -> Result<TransactionalProducer> {
        self.transactional_producer_with(transactional_id, TransactionOptions::default())
    }

    /// [`Brooklet::transactional_producer`] with options.
    pub fn transactional_producer_with(
        &self,
        transactional_id: &str,
        options: TransactionOptions,
    ) -> Result<TransactionalProducer> {
        let owner = fastrand::u64(1..);
        let liveness = self.inner.engine.lock_liveness(owner)?;
        let timeout_ms = u32::try_from(options.timeout.as_millis()).unwrap_or(u32::MAX);
        let (producer_id, epoch) =
            init_producer(self, transactional_id, owner, timeout_ms, now_ms())?;
        Ok(TransactionalProducer {
            db: self.clone(),
            id: transactional_id.to_owned(),
            producer_id,
            epoch,
            options,
            sequences: HashMap::new(),
            sticky: fastrand::u32(..),
            topics: HashMap::new(),
            fenced: None,
            _liveness: liveness,
        })
    }
}

impl TransactionalProducer {
    /// The transactional id.
    #[must_use]
    pub fn transactional_id(&self) -> &str {
        &self.id
    }

    /// This instance's producer id and epoch, as stamped in its batches.
    #[must_use]
    pub fn producer_id_and_epoch(&self) -> (i64, i16) {
        (self.producer_id, self.epoch)
    }

    /// Starts a transaction. It ends with [`Transaction::commit`] or
    /// [`Transaction::abort`]; dropping it aborts it.
    pub fn begin(&mut self) -> Result<Transaction<'_>> {
        if let Some(why) = &self.fenced {
            return Err(Error::Fenced(why.clone()));
        }
        Ok(Transaction {
            pending: Pending {
                started_ms: now_ms(),
                ..Pending::default()
            },
            producer: self,
            ended: false,
        })
    }

    fn topic(&mut self, name: &str) -> Result<Arc<TopicMeta>> {
        if let Some(topic) = self.topics.get(name) {
            return Ok(Arc::clone(topic));
        }
        let topic = self.db.with_snapshot(|read| self.db.topic_in(read, name))?;
        self.topics.insert(name.to_owned(), Arc::clone(&topic));
        Ok(topic)
    }

    fn stamp(&self, (topic_id, partition): (u32, u32)) -> ProducerStamp {
        ProducerStamp {
            producer_id: self.producer_id,
            producer_epoch: self.epoch,
            sequence_base: self
                .sequences
                .get(&(topic_id, partition))
                .copied()
                .unwrap_or(0),
            transactional: true,
        }
    }

    /// Notes an error that fenced this instance (not a group member's fencing), so every
    /// later call fails the same way.
    fn note(&mut self, e: Error) -> Error {
        if let Error::Fenced(why) = &e
            && why.starts_with(FENCED_PREFIX)
        {
            self.fenced = Some(why.clone());
        }
        e
    }
}

/// A transaction in progress; see [`TransactionalProducer`].
#[derive(Debug)]
pub struct Transaction<'p> {
    producer: &'p mut TransactionalProducer,
    pending: Pending,
    ended: bool,
}

impl Transaction<'_> {
    /// Adds a record, to its key's partition or the producer's sticky one.
    pub fn send(&mut self, topic: &str, record: Record) -> Result<()> {
        self.add(topic, None, record)
    }

    /// Adds a record to an explicit partition.
    pub fn send_to(&mut self, topic: &str, partition: u32, record: Record) -> Result<()> {
        self.add(topic, Some(partition), record)
    }

    /// Adds records, each to its key's partition or the producer's sticky one.
    pub fn send_batch(&mut self, topic: &str, records: Vec<Record>) -> Result<()> {
        for record in records {
            self.add(topic, None, record)?;
        }
        Ok(())
    }

    fn add(&mut self, topic: &str, partition: Option<u32>, record: Record) -> Result<()> {
        let meta = self.producer.topic(topic)?;
        let partition = match partition {
            Some(p) => {
                Brooklet::check_partition(&meta, p)?;
                p
            }
            None => super::produce::choose_partition(
                None,
                record.key.as_deref(),
                self.producer.sticky,
                meta.partitions,
            ),
        };
        let size = record_size(&record);
        if size > crate::kafka::MAX_RECORD_SIZE {
            return Err(Error::RecordTooLarge {
                what: format!("a record of topic {topic}"),
                size,
                max: crate::kafka::MAX_RECORD_SIZE,
            });
        }
        let tp = (meta.id, partition);
        self.pending.order.push(tp);
        self.pending.buffered.entry(tp).or_default().push(record);
        self.pending.buffered_bytes += size;
        if self.pending.buffered_bytes > self.producer.options.buffer_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Adds a group's committed offsets to the transaction (Kafka's
    /// `sendOffsetsToTransaction`): each offset is the next record to consume. They are
    /// committed with the transaction's records, or not at all. With a member id, the
    /// commit fails with [`Error::Fenced`] unless the member still owns every partition.
    pub fn send_offsets(
        &mut self,
        group: &GroupMetadata,
        offsets: &[(TopicPartition, u64)],
    ) -> Result<()> {
        groups::validate_group_name(&group.group)?;
        let mut resolved = Vec::with_capacity(offsets.len());
        for (tp, offset) in offsets {
            let meta = self.producer.topic(&tp.topic)?;
            Brooklet::check_partition(&meta, tp.partition)?;
            resolved.push((meta, tp.partition, *offset));
        }
        self.pending.offsets.push((group.clone(), resolved));
        Ok(())
    }

    /// Stores the buffered records ahead of the commit, in a commit that is not synced.
    fn spill(&mut self) -> Result<()> {
        let result = self.try_spill();
        result.map_err(|e| self.producer.note(e))
    }

    fn try_spill(&mut self) -> Result<()> {
        let producer = &*self.producer;
        let mut txn = producer.db.inner.engine.begin_write()?;
        let mut record = check_owner(&txn, &producer.id, (producer.producer_id, producer.epoch))?;
        let now = now_ms();
        let topics = topics_by_id(&txn)?;
        let stored = store_buffered(&mut txn, (producer, &topics), &self.pending, now, true)?;
        record.state = TransactionState::Ongoing;
        record.started_ms = self.pending.started_ms;
        record.updated_ms = now;
        record.partitions = touched(&self.pending, &stored);
        transactions::put(&mut txn, &producer.id, &record)?;
        txn.commit(Durability::None)?;
        self.apply(stored);
        self.pending.buffered.clear();
        self.pending.buffered_bytes = 0;
        Ok(())
    }

    /// Commits the transaction: its records, a COMMIT marker in each partition it wrote
    /// and its group offsets, in one storage commit at the producer's durability. Returns
    /// where each record went, in send order. On an error the transaction is aborted
    /// (what can be: a fenced instance can write nothing).
    pub fn commit(mut self) -> Result<Vec<RecordMetadata>> {
        self.ended = true;
        match self.try_commit() {
            Ok(sent) => Ok(sent),
            Err(e) => {
                let e = self.producer.note(e);
                let fenced = self.producer.fenced.is_some();
                if !fenced && (e.is_request_error() || matches!(e, Error::Fenced(_))) {
                    let _ = self.try_abort();
                }
                Err(e)
            }
        }
    }

    fn try_commit(&mut self) -> Result<Vec<RecordMetadata>> {
        let producer = &*self.producer;
        let mut txn = producer.db.inner.engine.begin_write()?;
        let mut record = check_owner(&txn, &producer.id, (producer.producer_id, producer.epoch))?;
        let now = now_ms();
        let topics = topics_by_id(&txn)?;
        let stored = store_buffered(&mut txn, (producer, &topics), &self.pending, now, false)?;
        let touched = touched(&self.pending, &stored);
        let stamp = producer.stamp((0, 0));
        write_markers_in(
            &mut txn,
            &topics,
            &touched,
            (&stamp, ControlType::Commit),
            now,
        )?;
        commit_group_offsets(&mut txn, &self.pending.offsets, now)?;
        end_record(&mut record, TransactionState::CompleteCommit, now);
        transactions::put(&mut txn, &producer.id, &record)?;
        let committed = txn.commit(producer.options.durability)?;
        producer.db.inner.queue.note_commit(committed);
        self.apply(stored);
        // Records without key and partition go to the next partition in the next
        // transaction, as Kafka's sticky partitioner moves on after a batch.
        self.producer.sticky = self.producer.sticky.wrapping_add(1);
        Ok(self.metadata())
    }

    /// Notes records stored by a commit that held: where they went, and the sequences
    /// that follow them.
    fn apply(&mut self, stored: Vec<StoredRun>) {
        for run in stored {
            self.producer.sequences.insert(run.tp, run.next_sequence);
            self.pending
                .stored
                .entry(run.tp)
                .or_default()
                .extend(run.placed);
        }
    }

    /// Where each record went, in send order.
    fn metadata(&self) -> Vec<RecordMetadata> {
        let mut next: HashMap<(u32, u32), usize> = HashMap::new();
        self.pending
            .order
            .iter()
            .map(|tp| {
                let i = next.entry(*tp).or_default();
                let (offset, timestamp_ms) = self.pending.stored[tp][*i];
                *i += 1;
                RecordMetadata {
                    partition: tp.1,
                    offset,
                    timestamp_ms,
                }
            })
            .collect()
    }

    /// Aborts the transaction: nothing of it is ever visible to `read_committed` readers.
    /// One that stored nothing yet writes nothing; otherwise an ABORT marker goes to each
    /// partition it wrote.
    pub fn abort(mut self) -> Result<()> {
        self.ended = true;
        let result = self.try_abort();
        result.map_err(|e| self.producer.note(e))
    }

    fn try_abort(&mut self) -> Result<()> {
        self.pending.buffered.clear();
        if self.pending.stored.is_empty() {
            return Ok(());
        }
        let producer = &*self.producer;
        let mut txn = producer.db.inner.engine.begin_write()?;
        let mut record = check_owner(&txn, &producer.id, (producer.producer_id, producer.epoch))?;
        let now = now_ms();
        let touched: Vec<(u32, u32)> = self.pending.stored.keys().copied().collect();
        write_markers(
            &mut txn,
            &touched,
            &producer.stamp((0, 0)),
            ControlType::Abort,
            now,
        )?;
        end_record(&mut record, TransactionState::CompleteAbort, now);
        transactions::put(&mut txn, &producer.id, &record)?;
        let committed = txn.commit(producer.options.durability)?;
        // The abort moves the last stable offset: waiting readers may read on.
        producer.db.inner.queue.note_commit(committed);
        self.pending.stored.clear();
        Ok(())
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.try_abort();
        }
    }
}

fn end_record(record: &mut TxnRecord, state: TransactionState, now: i64) {
    record.state = state;
    record.started_ms = 0;
    record.updated_ms = now;
    record.partitions.clear();
}

/// An upper bound of a record's encoded size, for the buffer's budget and the early
/// size check: its encoded key, value and headers, plus the most its length, attributes
/// and deltas can take (the bound `log::append` splits batches by).
fn record_size(record: &Record) -> usize {
    32 + std::slice::from_ref(record).tail_size(0)
}

/// One partition's records stored by [`store_buffered`].
struct StoredRun {
    tp: (u32, u32),
    /// Offset and timestamp of each record, in send order.
    placed: Vec<(u64, i64)>,
    next_sequence: i32,
}

/// Every partition the transaction has stored records in, with `stored` counted.
fn touched(pending: &Pending, stored: &[StoredRun]) -> Vec<(u32, u32)> {
    let mut all: Vec<(u32, u32)> = pending.stored.keys().copied().collect();
    all.extend(stored.iter().map(|r| r.tp));
    all.sort_unstable();
    all.dedup();
    all
}

/// Stores `pending`'s buffered records, each partition's as one stamped run, and returns
/// where they went (to note once the commit holds). With `open`, each partition's first
/// stored record opens the transaction there (it then bounds the last stable offset).
fn store_buffered(
    txn: &mut WriteTransaction,
    (producer, topics): (&TransactionalProducer, &BTreeMap<u32, Arc<TopicMeta>>),
    pending: &Pending,
    now: i64,
    open: bool,
) -> Result<Vec<StoredRun>> {
    let mut out = Vec::new();
    for (tp, records) in &pending.buffered {
        let topic = topics
            .get(&tp.0)
            .filter(|t| producer.topics.get(&t.name).is_some_and(|m| m.id == t.id))
            .ok_or_else(|| Error::invalid("a topic of the transaction was deleted"))?;
        let stamp = producer.stamp(*tp);
        let count = u32::try_from(records.len()).expect("fewer than 2^32 records");
        let sent = producers::append_sequenced(txn, (topic, tp.1), &records[..], &stamp, now)?;
        if sent.duplicate {
            // A transaction's sequences follow the producer's last commit: never a retry.
            return Err(Error::OutOfOrderSequence(format!(
                "transactional producer {} resent sequence {} to {}/{}",
                stamp.producer_id, stamp.sequence_base, topic.name, tp.1
            )));
        }
        let appended = sent.appended;
        crate::log::retention::apply(txn, topic, tp.1, now)?;
        if open {
            producers::open_transaction(txn, *tp, stamp.producer_id, appended.offset_base)?;
        }
        // After the transaction is open here, so that compaction leaves its records alone.
        crate::log::compact_step::after_append(txn, topic, tp.1, appended.offset_base, now)?;
        let placed = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let timestamp = match topic.config.timestamp_type {
                    TimestampType::LogAppendTime => appended.timestamp_ms,
                    TimestampType::CreateTime => r.timestamp_ms.unwrap_or(now),
                };
                (appended.offset_base + i as u64, timestamp)
            })
            .collect();
        out.push(StoredRun {
            tp: *tp,
            placed,
            next_sequence: sequence_add(stamp.sequence_base, count),
        });
    }
    Ok(out)
}

/// Commits each group's offsets of the transaction, checking member ownership.
fn commit_group_offsets(
    txn: &mut WriteTransaction,
    offsets: &[GroupOffsets],
    now: i64,
) -> Result<()> {
    for (group, list) in offsets {
        let group_id = groups::find_or_create(txn, &group.group, crate::Assignor::default())?;
        let entries: Vec<_> = list
            .iter()
            .map(|(t, p, o)| (Arc::clone(t), *p, *o, String::new()))
            .collect();
        groups::commit_offsets(
            txn,
            group_id,
            &group.group,
            group.member_id,
            &entries,
            now.cast_unsigned(),
        )?;
    }
    Ok(())
}
