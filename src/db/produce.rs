//! Producing: partition choice, and the commit queue that gives group commit.
//!
//! Every send becomes a request on the handle's [`CommitQueue`]. The first waiting thread
//! becomes the leader: it takes every queued request, appends them all in one write
//! transaction and commits once, at the strongest durability asked for, then wakes the
//! others. Requests that queue while the leader syncs go into the next group. So N threads
//! producing durably share fsyncs instead of paying one each. When the last group held
//! several requests, a new leader first waits briefly (a fraction of a commit) for as many
//! to queue, since their threads are just returning from the last commit.
//!
//! A request holds its records owned (`Vec<Record>`, as given) or, for the `*_borrowed`
//! sends, packed on the sender's thread into one buffer already in Kafka's record encoding
//! (two allocations per send, none per record). The records of all requests for one
//! partition go into one append (one batch, one retention step), read where they are: no
//! record is cloned to merge requests. A request that fails validation (unknown topic, oversized record) fails
//! alone: the group is then applied request by request to name it, and retried without it. An I/O error fails the whole group (the handle is then poisoned).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::idempotent::{Advances, Idempotence, append_idempotent};
use super::{Brooklet, now_ms};
use crate::TxnId;
use crate::catalog::TopicMeta;
use crate::engine::WriteTransaction;
use crate::error::{Error, Result};
use crate::kafka::send::{Gathered, PackedRecords, RecordSource, SendRecords};
use crate::kafka::{BorrowedRecord, Record, partition_for_key};
use crate::log::append::append;
use crate::pager::Durability;

/// Where a produced record was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    /// The partition.
    pub partition: u32,
    /// The record's offset in the partition.
    pub offset: u64,
    /// The record's timestamp as stored (create time, or append time for `LogAppendTime`
    /// topics).
    pub timestamp_ms: i64,
}

/// One send waiting in the queue.
#[derive(Debug)]
struct Request {
    topic: String,
    partition: Option<u32>,
    /// Empty, or one explicit partition (or `None`) per record, overriding `partition`.
    routes: Vec<Option<u32>>,
    records: SendRecords,
    durability: Durability,
    /// Sticky partition for records without key and partition.
    sticky: u32,
    /// The producer's sequences, if it is idempotent.
    idempotence: Option<Arc<Idempotence>>,
    /// Batches a Kafka producer encoded, for `partition`, stored as sent (`records` is
    /// then empty): one result each, its first offset.
    batches: Vec<Vec<u8>>,
    result: Mutex<Option<Result<Vec<RecordMetadata>>>>,
}

#[derive(Debug, Default)]
struct QueueState {
    pending: Vec<Arc<Request>>,
    leader_active: bool,
    /// The txn id of the last commit made through this queue.
    committed: Option<TxnId>,
    /// Requests in the last group, and how long its commit took.
    last_group: usize,
    last_commit: Duration,
    /// Threads waiting on `changed` (a wake-up is a system call: made only for waiters).
    waiting: usize,
    /// True while a leader waits on `arrived` for a group to gather.
    gathering: bool,
}

/// The longest a leader waits for more requests before committing.
const GATHER_MAX: Duration = Duration::from_micros(500);

/// The per-handle commit queue; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct CommitQueue {
    state: Mutex<QueueState>,
    changed: Condvar,
    /// Signalled when a request joins the queue, for a leader gathering a group.
    arrived: Condvar,
}

impl CommitQueue {
    /// Sleeps until a commit through this queue moves past `txn`, or `timeout` passes.
    pub fn wait_commit(&self, txn: TxnId, timeout: Duration) {
        let state = self.state.lock().expect("queue lock");
        if state.committed.is_some_and(|c| c > txn) {
            return;
        }
        let mut state = state;
        state.waiting += 1;
        let (mut state, _) = self
            .changed
            .wait_timeout(state, timeout)
            .expect("queue lock");
        state.waiting -= 1;
    }

    /// Notes a commit made through this handle outside the queue (a transaction's end,
    /// which makes records readable), waking the threads in [`CommitQueue::wait_commit`]
    /// (and the async API's watcher) at once.
    pub fn note_commit(&self, txn: TxnId) {
        let mut state = self.state.lock().expect("queue lock");
        state.committed = Some(state.committed.map_or(txn, |c| c.max(txn)));
        if state.waiting > 0 {
            self.changed.notify_all();
        }
    }
}

fn strongest(a: Durability, b: Durability) -> Durability {
    let rank = |d| match d {
        Durability::None => 0,
        Durability::Immediate => 1,
        Durability::Paranoid => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Picks the partition for one record: explicit, by key hash (Kafka's murmur2), or sticky.
pub(super) fn choose_partition(
    explicit: Option<u32>,
    key: Option<&[u8]>,
    sticky: u32,
    partitions: u32,
) -> u32 {
    let count = std::num::NonZeroU32::new(partitions).expect("topics have partitions");
    match (explicit, key) {
        (Some(p), _) => p,
        (None, Some(key)) => partition_for_key(key, count),
        (None, None) => sticky % partitions,
    }
}

impl Brooklet {
    /// A producer: the way to send records. It starts at the handle's default durability
    /// ([`Options::durability`](crate::Options::durability)) and picks its own sticky
    /// partition for records without a key. Producers are cheap; concurrent durable
    /// producers in one process share `fdatasync`s (group commit).
    #[must_use]
    pub fn producer(&self) -> Producer {
        Producer {
            db: self.clone(),
            durability: self.inner.options.durability,
            sticky: Self::next_sticky(),
            idempotence: None,
        }
    }

    fn next_sticky() -> u32 {
        static STICKY: AtomicU32 = AtomicU32::new(0);
        STICKY.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a request and waits for its result, committing a group when this thread
    /// becomes the leader.
    fn enqueue(&self, request: Request) -> Result<Vec<RecordMetadata>> {
        let request = Arc::new(request);
        let queue = &self.inner.queue;
        let mut state = queue.state.lock().expect("queue lock");
        state.pending.push(Arc::clone(&request));
        if state.gathering {
            queue.arrived.notify_one();
        }
        loop {
            if let Some(result) = request.result.lock().expect("result lock").take() {
                return result;
            }
            if state.leader_active {
                state.waiting += 1;
                state = queue.changed.wait(state).expect("queue lock");
                state.waiting -= 1;
                continue;
            }
            state.leader_active = true;
            state = Self::gather(queue, state);
            let group = std::mem::take(&mut state.pending);
            drop(state);
            let started = Instant::now();
            let committed = self.commit_group(&group);
            let took = started.elapsed();
            state = queue.state.lock().expect("queue lock");
            state.leader_active = false;
            state.last_group = group.len();
            state.last_commit = took;
            if let Some(txn) = committed {
                state.committed = Some(state.committed.map_or(txn, |c| c.max(txn)));
            }
            if state.waiting > 0 {
                queue.changed.notify_all();
            }
        }
    }

    /// When the last group held several requests (several threads are producing), waits a
    /// little for as many to queue again: they are on their way back from the last commit,
    /// and one fsync can serve them all. The wait is at most half the last commit's
    /// time and [`GATHER_MAX`]; a lone producer never waits.
    fn gather<'q>(
        queue: &'q CommitQueue,
        mut state: std::sync::MutexGuard<'q, QueueState>,
    ) -> std::sync::MutexGuard<'q, QueueState> {
        if state.last_group <= 1 {
            return state;
        }
        let deadline = Instant::now() + (state.last_commit / 2).min(GATHER_MAX);
        while state.pending.len() < state.last_group {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state.gathering = true;
            state = queue
                .arrived
                .wait_timeout(state, deadline - now)
                .expect("queue lock")
                .0;
            state.gathering = false;
        }
        state
    }

    /// Commits a group of requests in one transaction and stores each request's result.
    /// Returns the commit's txn id if it committed.
    fn commit_group(&self, group: &[Arc<Request>]) -> Option<TxnId> {
        let mut live: Vec<&Arc<Request>> = group.iter().collect();
        loop {
            if live.is_empty() {
                return None;
            }
            match self.try_group(&live) {
                Ok((txn, results)) => {
                    for (req, result) in live.iter().zip(results) {
                        *req.result.lock().expect("result lock") = Some(Ok(result));
                    }
                    return Some(txn);
                }
                Err(GroupError::Request(i, e)) => {
                    *live[i].result.lock().expect("result lock") = Some(Err(e));
                    live.remove(i);
                }
                Err(GroupError::All(e)) => {
                    for req in live {
                        *req.result.lock().expect("result lock") = Some(Err(e.duplicate()));
                    }
                    return None;
                }
            }
        }
    }

    /// Appends a group's requests in one transaction and commits it. The records of all
    /// requests for one partition go into one append, in queue order: one batch and one
    /// retention step per partition instead of one per request. If some request is
    /// invalid, the requests are applied one at a time to name it, so it fails alone.
    fn try_group(
        &self,
        live: &[&Arc<Request>],
    ) -> Result<(TxnId, Vec<Vec<RecordMetadata>>), GroupError> {
        let now = now_ms();
        let durability = live
            .iter()
            .fold(Durability::None, |d, req| strongest(d, req.durability));
        let mut txn = self.inner.engine.begin_write().map_err(GroupError::All)?;
        let mut advances = Advances::new();
        let results = match self.append_requests(&mut txn, live, now, &mut advances) {
            Ok(results) => results,
            Err(e) if e.is_request_error() => {
                drop(txn);
                advances.clear();
                txn = self.inner.engine.begin_write().map_err(GroupError::All)?;
                let mut results = Vec::with_capacity(live.len());
                for (i, req) in live.iter().enumerate() {
                    let mut one = self
                        .append_requests(&mut txn, std::slice::from_ref(req), now, &mut advances)
                        .map_err(|e| match e {
                            e if e.is_request_error() => GroupError::Request(i, e),
                            e => GroupError::All(e),
                        })?;
                    results.push(one.remove(0));
                }
                results
            }
            Err(e) => return Err(GroupError::All(e)),
        };
        let committed = txn.commit(durability).map_err(GroupError::All)?;
        self.inner.engine.counters().group_commit(live.len());
        super::idempotent::apply(advances);
        Ok((committed, results))
    }

    /// Appends the records of `reqs`, each partition's records of all requests together in
    /// queue order, and applies a retention step to each partition written. Returns each
    /// request's record metadata in input order.
    fn append_requests(
        &self,
        txn: &mut WriteTransaction,
        reqs: &[&Arc<Request>],
        now: i64,
        advances: &mut Advances,
    ) -> Result<Vec<Vec<RecordMetadata>>> {
        // Keyed by the request's own topic name: no allocation per record.
        let mut runs: BTreeMap<(&str, u32, usize), PartitionRun> = BTreeMap::new();
        let mut stored = Vec::new();
        for (i, req) in reqs.iter().enumerate() {
            let topic = self
                .inner
                .catalog
                .lock()
                .expect("catalog lock")
                .lookup(txn, &req.topic)?;
            for p in req.partition.iter().chain(req.routes.iter().flatten()) {
                Self::check_partition(&topic, *p)?;
            }
            if !req.batches.is_empty() {
                stored.push((i, topic));
                continue;
            }
            Self::route_request(&mut runs, i, req, &topic);
        }
        let mut results = empty_results(reqs);
        for ((_, p, slot), (topic, members)) in &runs {
            // A retry of an idempotent send that was stored returns the first try's time.
            let (appended, append_ms) =
                if let Some(idempotence) = reqs.get(*slot).and_then(|r| r.idempotence.as_ref()) {
                    let own = &reqs[*slot].records;
                    if members.len() == own.count() {
                        // The whole send goes to this partition: its records as they are.
                        append_idempotent(txn, (topic, *p), own, now, idempotence, advances)?
                    } else {
                        let run = Gathered {
                            picks: members
                                .iter()
                                .map(|&(i, j)| (&reqs[i].records, j))
                                .collect(),
                        };
                        append_idempotent(txn, (topic, *p), &run, now, idempotence, advances)?
                    }
                } else if let [only] = reqs
                    && members.len() == only.records.count()
                {
                    (append(txn, topic, *p, &only.records, now, None)?, now)
                } else {
                    let records = Gathered {
                        picks: members
                            .iter()
                            .map(|&(i, j)| (&reqs[i].records, j))
                            .collect(),
                    };
                    (append(txn, topic, *p, &records, now, None)?, now)
                };
            upkeep(txn, (topic, *p), appended.offset_base, now)?;
            for (n, &(i, j)) in members.iter().enumerate() {
                results[i][j] = RecordMetadata {
                    partition: *p,
                    offset: appended.offset_base + n as u64,
                    timestamp_ms: match topic.config.timestamp_type {
                        crate::kafka::TimestampType::LogAppendTime => appended.timestamp_ms,
                        crate::kafka::TimestampType::CreateTime => {
                            reqs[i].records.timestamp_ms(j).unwrap_or(append_ms)
                        }
                    },
                };
            }
        }
        for (i, topic) in stored {
            append_stored_request(txn, reqs[i], &topic, now, &mut results[i])?;
        }
        Ok(results)
    }

    /// Stores batches a Kafka producer encoded in `partition` of `topic`, as sent (only
    /// their first offset and leader epoch rewritten; see `log::append::append_batch`),
    /// through the commit queue like every send: group commit, retention, one `fdatasync`
    /// per durable commit. Batches with a producer id are an idempotent producer's, and
    /// their sequences are checked (a retry of a stored batch returns where it went).
    /// Returns each batch's first offset and, as a Kafka produce response has it, its log
    /// append time: the append time in a `LogAppendTime` topic, -1 in a `CreateTime` one.
    #[cfg_attr(
        not(feature = "serve"),
        expect(dead_code, reason = "the Kafka-protocol server's produce path")
    )]
    pub(crate) fn send_stored_batches(
        &self,
        topic: &str,
        partition: u32,
        batches: Vec<Vec<u8>>,
        durability: Durability,
    ) -> Result<Vec<RecordMetadata>> {
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        self.enqueue(Request {
            topic: topic.to_owned(),
            partition: Some(partition),
            routes: Vec::new(),
            records: SendRecords::Owned(Vec::new()),
            durability,
            sticky: 0,
            idempotence: None,
            batches,
            result: Mutex::new(None),
        })
    }
}

/// A result slot per record (or stored batch) of each request, to fill in.
fn empty_results(reqs: &[&Arc<Request>]) -> Vec<Vec<RecordMetadata>> {
    let slot = RecordMetadata {
        partition: 0,
        offset: 0,
        timestamp_ms: 0,
    };
    reqs.iter()
        .map(|r| vec![slot; r.records.count() + r.batches.len()])
        .collect()
}

/// Appends the producer-encoded batches of one request, in order.
fn append_stored_request(
    txn: &mut WriteTransaction,
    req: &Request,
    topic: &Arc<TopicMeta>,
    now: i64,
    results: &mut [RecordMetadata],
) -> Result<()> {
    let partition = req.partition.expect("stored batches name their partition");
    for (slot, batch) in results.iter_mut().zip(&req.batches) {
        *slot = append_stored(txn, (topic, partition), batch.clone(), now)?;
    }
    Ok(())
}

/// Appends one producer-encoded batch (idempotent or not) and takes the produce commit's
/// upkeep step.
fn append_stored(
    txn: &mut WriteTransaction,
    (topic, partition): (&Arc<TopicMeta>, u32),
    mut batch: Vec<u8>,
    now: i64,
) -> Result<RecordMetadata> {
    let producer_id = crate::kafka::BatchHeader::parse(&batch)
        .map_err(|e| Error::invalid(e.to_string()))?
        .producer_id;
    let appended = if producer_id >= 0 {
        let sent = crate::log::producers::append_sequenced_batch(
            txn,
            (topic, partition),
            &mut batch,
            now,
        )?;
        if sent.duplicate {
            return Ok(RecordMetadata {
                partition,
                offset: sent.appended.offset_base,
                timestamp_ms: log_append_ms(topic, sent.append_ms),
            });
        }
        sent.appended
    } else {
        crate::log::append::append_batch(txn, topic, partition, &mut batch, now)?
    };
    upkeep(txn, (topic, partition), appended.offset_base, now)?;
    Ok(RecordMetadata {
        partition,
        offset: appended.offset_base,
        timestamp_ms: log_append_ms(topic, appended.timestamp_ms),
    })
}

/// What a produce response reports as the log append time: -1 under create time.
fn log_append_ms(topic: &TopicMeta, timestamp_ms: i64) -> i64 {
    match topic.config.timestamp_type {
        crate::kafka::TimestampType::CreateTime => -1,
        crate::kafka::TimestampType::LogAppendTime => timestamp_ms,
    }
}

/// The bounded housekeeping of a produce commit that appended records from `offset_base`
/// on to `partition` of `topic`: a retention step, and a compaction step if the append
/// closed a segment of a compacted topic (`log::compact_step`).
fn upkeep(
    txn: &mut WriteTransaction,
    (topic, partition): (&TopicMeta, u32),
    offset_base: u64,
    now: i64,
) -> Result<()> {
    crate::log::retention::apply(txn, topic, partition, now)?;
    crate::log::compact_step::after_append(txn, topic, partition, offset_base, now)?;
    Ok(())
}

impl Brooklet {
    /// Adds each record of request `i` to its partition's run. Consecutive records for one
    /// partition (all of a `send_batch_to`) are added together, not looked up in the map
    /// one by one.
    fn route_request<'r>(
        runs: &mut BTreeMap<(&'r str, u32, usize), PartitionRun>,
        i: usize,
        req: &'r Request,
        topic: &Arc<TopicMeta>,
    ) {
        let mut current: Option<(u32, usize)> = None;
        for j in 0..req.records.count() {
            let p = choose_partition(
                req.routes.get(j).copied().flatten().or(req.partition),
                req.records.key(j),
                req.sticky,
                topic.partitions,
            );
            match current {
                Some((q, _)) if q == p => {}
                Some((q, start)) => {
                    Self::add_run(runs, req, q, topic, (i, start..j));
                    current = Some((p, j));
                }
                None => current = Some((p, j)),
            }
        }
        if let Some((q, start)) = current {
            let end = req.records.count();
            Self::add_run(runs, req, q, topic, (i, start..end));
        }
    }

    /// Adds records `range` of request `i` (consecutive, all for partition `p`) to its run.
    /// An idempotent producer's records go into runs of their own (one per request),
    /// since their batches carry its sequences.
    fn add_run<'r>(
        runs: &mut BTreeMap<(&'r str, u32, usize), PartitionRun>,
        req: &'r Request,
        p: u32,
        topic: &Arc<TopicMeta>,
        (i, range): (usize, std::ops::Range<usize>),
    ) {
        let slot = if req.idempotence.is_some() {
            i
        } else {
            usize::MAX
        };
        runs.entry((&req.topic, p, slot))
            .or_insert_with(|| (Arc::clone(topic), Vec::new()))
            .1
            .extend(range.map(|j| (i, j)));
    }
}

/// A partition's share of a group: its topic, and (request, record) indexes in queue order.
type PartitionRun = (Arc<TopicMeta>, Vec<(usize, usize)>);

/// Why a group failed: one request (retry without it) or everything.
enum GroupError {
    Request(usize, Error),
    All(Error),
}

/// Sends records to topics, with its own durability and sticky partition (records without
/// a key go to one partition per producer, as Kafka's sticky partitioner does; keyed
/// records go to their key's partition, Kafka's murmur2 hash).
///
/// Every send is atomic: a batch is stored whole or not at all, and returns once committed
/// at the producer's durability.
///
/// ```
/// use brooklet::{Brooklet, Durability, Record, TopicConfig};
///
/// # fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
/// db.admin().create_topic("orders", 3, TopicConfig::default())?;
/// let producer = db.producer();
/// let sent = producer.send("orders", Record::keyed("customer-7", "{\"total\":42}"))?;
/// println!("stored at orders/{} offset {}", sent.partition, sent.offset);
/// // Faster, for bulk loads: no fdatasync per commit; flush() makes it all durable.
/// let bulk = db.producer().with_durability(Durability::None);
/// bulk.send_batch("orders", (0..1000).map(|i| Record::value(format!("{i}"))).collect())?;
/// bulk.flush()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Producer {
    pub(super) db: Brooklet,
    durability: Durability,
    pub(super) sticky: u32,
    pub(super) idempotence: Option<Arc<Idempotence>>,
}

impl Producer {
    fn submit(
        &self,
        topic: &str,
        partition: Option<u32>,
        records: SendRecords,
        sticky: u32,
    ) -> Result<Vec<RecordMetadata>> {
        if records.count() == 0 {
            return Ok(Vec::new());
        }
        self.db.enqueue(Request {
            topic: topic.to_owned(),
            partition,
            routes: Vec::new(),
            records,
            durability: self.durability,
            sticky,
            idempotence: self.idempotence.clone(),
            batches: Vec::new(),
            result: Mutex::new(None),
        })
    }

    /// Sets this producer's durability.
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sends one record and returns where it was stored.
    pub fn send(&self, topic: &str, record: Record) -> Result<RecordMetadata> {
        let mut out = self.submit(topic, None, SendRecords::Owned(vec![record]), self.sticky)?;
        Ok(out.pop().expect("one record, one result"))
    }

    /// Sends one record to an explicit partition.
    pub fn send_to(&self, topic: &str, partition: u32, record: Record) -> Result<RecordMetadata> {
        let mut out = self.submit(topic, Some(partition), SendRecords::Owned(vec![record]), 0)?;
        Ok(out.pop().expect("one record, one result"))
    }

    /// Sends records in one atomic commit: all are stored, or none. Records without a key
    /// share this producer's sticky partition.
    pub fn send_batch(&self, topic: &str, records: Vec<Record>) -> Result<Vec<RecordMetadata>> {
        self.submit(topic, None, SendRecords::Owned(records), self.sticky)
    }

    /// Sends records to one partition in one atomic commit.
    pub fn send_batch_to(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<Record>,
    ) -> Result<Vec<RecordMetadata>> {
        self.submit(topic, Some(partition), SendRecords::Owned(records), 0)
    }

    /// Sends records in one atomic commit, each to the partition paired with it, or where
    /// that is `None`, to the partition [`Producer::send`] would choose (its key's, or this
    /// producer's sticky partition). All are stored, or none: a bad partition or record fails
    /// the whole batch.
    pub fn send_batch_routed(
        &self,
        topic: &str,
        records: Vec<(Option<u32>, Record)>,
    ) -> Result<Vec<RecordMetadata>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let (routes, records): (Vec<_>, Vec<_>) = records.into_iter().unzip();
        self.db.enqueue(Request {
            topic: topic.to_owned(),
            partition: None,
            routes,
            records: SendRecords::Owned(records),
            durability: self.durability,
            sticky: self.sticky,
            idempotence: self.idempotence.clone(),
            batches: Vec::new(),
            result: Mutex::new(None),
        })
    }

    /// Sends one borrowed record; see [`Producer::send_batch_borrowed`].
    pub fn send_borrowed(
        &self,
        topic: &str,
        record: &BorrowedRecord<'_>,
    ) -> Result<RecordMetadata> {
        let mut out = self.send_batch_borrowed(topic, std::slice::from_ref(record))?;
        Ok(out.pop().expect("one record, one result"))
    }

    /// Sends one borrowed record to an explicit partition.
    pub fn send_borrowed_to(
        &self,
        topic: &str,
        partition: u32,
        record: &BorrowedRecord<'_>,
    ) -> Result<RecordMetadata> {
        let mut out =
            self.send_batch_borrowed_to(topic, partition, std::slice::from_ref(record))?;
        Ok(out.pop().expect("one record, one result"))
    }

    /// [`Producer::send_batch`] for records that borrow their keys, values and headers:
    /// the caller keeps its buffers, and the send copies the records once into one buffer
    /// in Kafka's record encoding (two allocations per send, none per record). What is
    /// stored is byte for byte what the owned send of the same records stores.
    ///
    /// ```
    /// use brooklet::{BorrowedRecord, Brooklet, Durability, TopicConfig};
    ///
    /// # fn main() -> brooklet::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
    /// db.admin().create_topic("clicks", 1, TopicConfig::default())?;
    /// let bulk = db.producer().with_durability(Durability::None);
    /// // Keys and values stay in the caller's buffers (here one contiguous block).
    /// let block: Vec<u8> = (0..1000u32).flat_map(|i| i.to_be_bytes()).collect();
    /// let records: Vec<BorrowedRecord<'_>> = block
    ///     .chunks(4)
    ///     .map(|id| BorrowedRecord::keyed(id, b"clicked"))
    ///     .collect();
    /// let sent = bulk.send_batch_borrowed("clicks", &records)?;
    /// assert_eq!(sent.len(), 1000);
    /// bulk.flush()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_batch_borrowed(
        &self,
        topic: &str,
        records: &[BorrowedRecord<'_>],
    ) -> Result<Vec<RecordMetadata>> {
        let packed = PackedRecords::pack(records.iter())?;
        self.submit(topic, None, SendRecords::Packed(packed), self.sticky)
    }

    /// [`Producer::send_batch_to`] for borrowed records.
    pub fn send_batch_borrowed_to(
        &self,
        topic: &str,
        partition: u32,
        records: &[BorrowedRecord<'_>],
    ) -> Result<Vec<RecordMetadata>> {
        let packed = PackedRecords::pack(records.iter())?;
        self.submit(topic, Some(partition), SendRecords::Packed(packed), 0)
    }

    /// [`Producer::send_batch_routed`] for borrowed records.
    pub fn send_batch_borrowed_routed(
        &self,
        topic: &str,
        records: &[(Option<u32>, BorrowedRecord<'_>)],
    ) -> Result<Vec<RecordMetadata>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let packed = PackedRecords::pack(records.iter().map(|(_, r)| r))?;
        self.db.enqueue(Request {
            topic: topic.to_owned(),
            partition: None,
            routes: records.iter().map(|(p, _)| *p).collect(),
            records: SendRecords::Packed(packed),
            durability: self.durability,
            sticky: self.sticky,
            idempotence: self.idempotence.clone(),
            batches: Vec::new(),
            result: Mutex::new(None),
        })
    }

    /// Makes every earlier commit durable.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()
    }
}
