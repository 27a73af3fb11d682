//! L8, the public API: [`Brooklet`] opens a file and produces and fetches records;
//! [`Reader`] follows partitions with `poll`.
//!
//! A `Brooklet` is cheap to clone and `Send + Sync`: clones share one page cache, one
//! catalog cache, one commit queue (so concurrent durable producers in one process share
//! `fdatasync`s: group commit) and one set of counters ([`Brooklet::stats`]).

mod admin;
#[cfg(feature = "tokio")]
mod async_produce;
mod compact;
mod consumer;
mod coordinator;
mod group_admin;
mod idempotent;
mod maintain;
mod membership;
mod position;
mod produce;
mod reader;
mod run;
#[cfg(feature = "serve")]
mod serve_groups;
#[cfg(feature = "tokio")]
mod stream;
mod transaction;
mod vacuum;
#[cfg(feature = "tokio")]
mod watch;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use admin::{AbortedTransaction, Admin, SegmentInfo, TreeInfo};
#[cfg(feature = "tokio")]
pub use async_produce::{AsyncProducer, SendFuture};
pub use compact::CompactionReport;
pub use consumer::{Consumer, ConsumerOptions};
pub use coordinator::TransactionInfo;
pub use group_admin::{GroupDescription, GroupPartition, MemberDescription, MemberKind};
pub use idempotent::IdempotenceState;
pub use maintain::{Maintenance, MaintenanceReport};
pub use position::{Position, TopicPartition};
pub use produce::{Producer, RecordMetadata};
pub use reader::{ConsumedRecord, Reader};
pub use run::{OnHandlerError, RunError};
#[cfg(feature = "serve")]
pub(crate) use serve_groups::{KafkaClient, KafkaGroupView, KafkaHost};
#[cfg(feature = "tokio")]
pub use stream::{ConsumerStream, ReaderStream};
pub use transaction::{GroupMetadata, Transaction, TransactionOptions, TransactionalProducer};
pub use vacuum::{VacuumOptions, VacuumProgress, VacuumReport};

use crate::catalog::CatalogCache;
use crate::catalog::{TopicConfig, TopicMeta};
use crate::engine::{Engine, EngineOptions, ReadTransaction};
use crate::error::{Error, Result};
use crate::log::read::{self, FetchLimits, Fetched, Isolation};
use crate::os::{Storage, now_ms};
use crate::pager::Durability;
use produce::CommitQueue;

/// Settings for [`Brooklet::open_with`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Page size for a new file (power of two, 512 to 65536). Default 4096.
    pub page_size: u32,
    /// Page cache budget in bytes. Default 32 MiB.
    pub cache_bytes: usize,
    /// How long a write waits for another writer before [`Error::Busy`]. Default 5 s.
    pub busy_timeout: Duration,
    /// Durability of `send` and friends unless a producer says otherwise.
    /// Default [`Durability::Immediate`].
    pub durability: Durability,
    /// Apply time-based retention when the file is opened (taking the write lock
    /// briefly). Default true; inspection tools turn it off so that opening never writes.
    pub maintain_on_open: bool,
    /// Open read-only: the file is opened without write
    /// permission (so a read-only file, directory or mount works) and must exist; no lock
    /// is taken; nothing runs on open (no retention, no maintenance); recovery's choice of
    /// commit is not written back; and every change fails with [`Error::ReadOnly`].
    /// Default false.
    pub read_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            page_size: crate::page::PAGE_SIZE_DEFAULT,
            cache_bytes: 32 << 20,
            busy_timeout: Duration::from_secs(5),
            durability: Durability::Immediate,
            maintain_on_open: true,
            read_only: false,
        }
    }
}

impl Options {
    /// Sets the page size for a new file.
    #[must_use]
    pub fn page_size(mut self, bytes: u32) -> Self {
        self.page_size = bytes;
        self
    }

    /// Sets the page cache budget.
    #[must_use]
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Sets the busy timeout.
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets the default durability.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets whether opening applies time-based retention.
    #[must_use]
    pub fn maintain_on_open(mut self, yes: bool) -> Self {
        self.maintain_on_open = yes;
        self
    }

    /// Sets whether the file is opened read-only (see [`Options::read_only`]).
    #[must_use]
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            page_size: self.page_size,
            cache_bytes: self.cache_bytes,
            busy_timeout: self.busy_timeout,
            read_only: self.read_only,
        }
    }
}

/// A topic as listed by [`Admin::topics`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic's name.
    pub name: String,
    /// Number of partitions.
    pub partitions: u32,
    /// The topic's configuration.
    pub config: TopicConfig,
}

/// One partition as described by [`Admin::describe_topic`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition number.
    pub partition: u32,
    /// The first offset still in the log.
    pub beginning_offset: u64,
    /// The offset the next record gets.
    pub end_offset: u64,
    /// The last stable offset: the first offset of a transaction still open, or the end
    /// offset when none is. `read_committed` readers read up to it.
    pub last_stable_offset: u64,
    /// Bytes of stored batches.
    pub bytes: u64,
    /// Number of segments.
    pub segments: u32,
}

/// A topic and its partitions, from [`Admin::describe_topic`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// The topic's configuration.
    pub config: TopicConfig,
    /// Every partition, in order.
    pub partitions: Vec<PartitionInfo>,
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    options: Options,
    catalog: Mutex<CatalogCache>,
    queue: CommitQueue,
    compaction: Mutex<compact::CleanCache>,
    /// The async API's commit watcher (`watch.rs`).
    #[cfg(feature = "tokio")]
    watch: watch::Watch,
}

/// An open brooklet file: topics, produce, fetch.
///
/// ```
/// use brooklet::{Brooklet, FetchLimits, Record, TopicConfig};
///
/// # fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
/// db.admin().create_topic("orders", 3, TopicConfig::default())?;
/// let sent = db.producer().send("orders", Record::new(Some(b"customer-7".to_vec()), b"{\"total\":42}".to_vec()))?;
/// let fetched = db.fetch("orders", sent.partition, 0, FetchLimits::default())?;
/// assert_eq!(fetched.records[0].value.as_deref(), Some(&b"{\"total\":42}"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Brooklet {
    inner: Arc<Inner>,
}

/// How many times a read retries on a fresh snapshot when another process reused pages
/// under it.
const STALE_RETRIES: usize = 16;

impl Brooklet {
    /// Opens the file at `path` with default options, creating it if needed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Options::default())
    }

    /// Opens an existing file read-only (see [`Options::read_only`]): for inspection,
    /// which must never change the file, even by running retention.
    ///
    /// ```
    /// use brooklet::{Brooklet, Error, Record, TopicConfig};
    ///
    /// # fn main() -> brooklet::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("events.brooklet");
    /// # let db = Brooklet::open(&path)?;
    /// # db.admin().create_topic("orders", 1, TopicConfig::default())?;
    /// # db.producer().send("orders", Record::new(None, b"one".to_vec()))?;
    /// let inspect = Brooklet::open_read_only(&path)?;
    /// assert_eq!(inspect.end_offset("orders", 0)?, 1);
    /// assert!(matches!(inspect.producer().send("orders", Record::new(None, b"two".to_vec())), Err(Error::ReadOnly)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Options::default().read_only(true))
    }

    /// Opens the file at `path`, creating it if needed (unless [`Options::read_only`]).
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        let engine = Engine::open(path, &options.engine_options())?;
        Self::from_engine(engine, options)
    }

    /// Opens an existing file; fails if `path` does not exist.
    pub fn open_existing(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        let engine = Engine::open_existing(path, &options.engine_options())?;
        Self::from_engine(engine, options)
    }

    /// Opens a file on any [`Storage`] backend.
    pub fn open_storage(storage: Arc<dyn Storage>, options: Options) -> Result<Self> {
        let engine = Engine::open_storage(storage, &options.engine_options())?;
        Self::from_engine(engine, options)
    }

    fn from_engine(engine: Engine, options: Options) -> Result<Self> {
        let db = Self {
            inner: Arc::new(Inner {
                engine,
                options,
                catalog: Mutex::new(CatalogCache::default()),
                queue: CommitQueue::default(),
                compaction: Mutex::default(),
                #[cfg(feature = "tokio")]
                watch: watch::Watch::default(),
            }),
        };
        if !db.inner.options.read_only && !db.recovery_report().is_clean() {
            db.note_rollback()?;
        }
        if db.inner.options.maintain_on_open && !db.inner.options.read_only {
            // Retention, and aborting transactions whose process died or timed out.
            for result in [
                db.admin().apply_retention().map(drop),
                db.abort_expired_transactions().map(drop),
            ] {
                match result {
                    // Another writer holds the lock (it applies retention as it writes),
                    // or the file is open read-only: opening still succeeds.
                    Ok(()) | Err(Error::Busy) => {}
                    Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(db)
    }

    /// Recovery rolled commits back when this handle opened the file: raise the file's
    /// epoch at once, in the commit that overwrites the damaged slot (after it, no later
    /// opener can tell that anything was lost), so that every batch appended from now on
    /// carries it as `partitionLeaderEpoch` and a reader that saw the lost records can tell
    /// the new ones at their offsets apart. Another writer holding the lock has already
    /// overwritten the slot; nothing is left to do then.
    fn note_rollback(&self) -> Result<()> {
        let mut txn = match self.inner.engine.begin_write() {
            Ok(txn) => txn,
            Err(Error::Busy) => return Ok(()),
            Err(e) => return Err(e),
        };
        crate::counters::bump_leader_epoch(&mut txn)?;
        txn.commit(Durability::Immediate)?;
        Ok(())
    }

    /// What recovery did when this handle opened the file: the commit it opened and every
    /// newer commit it rolled back, whose records are gone (their offsets go to new
    /// records). Check it after opening a file that may have been through a power cut or
    /// damage; `brooklet check` and every other command print it.
    ///
    /// ```
    /// use brooklet::Brooklet;
    ///
    /// # fn main() -> brooklet::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
    /// let report = db.recovery_report();
    /// for commit in &report.rolled_back {
    ///     eprintln!("warning: {commit}");
    /// }
    /// assert!(report.is_clean());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn recovery_report(&self) -> crate::RecoveryReport {
        self.inner.engine.recovery_report()
    }

    /// The storage engine under this handle (the `testing` feature only).
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The file's page size in bytes.
    #[must_use]
    pub fn page_size(&self) -> u32 {
        self.inner.engine.page_size()
    }

    /// How many times this handle's storage has had `fdatasync` called on it: one per
    /// durable commit (commits that share one in a group commit count once). The same
    /// figure as [`Stats::fdatasyncs`](crate::Stats::fdatasyncs) unless the storage was
    /// shared with another handle (`open_storage`), whose syncs it counts too.
    #[must_use]
    pub fn sync_count(&self) -> u64 {
        self.inner.engine.sync_count()
    }

    /// What this handle has done since it was opened: commits by durability,
    /// `fdatasync`s, bytes written and read, pages allocated and freed, page cache hits and
    /// misses, pending-data flushes, group-commit sizes; and the figures of the newest
    /// commit it has seen (free pages, page count). Clones of this handle share the
    /// counters; each [`Brooklet::open`] starts its own at zero. Cheap: the counters are
    /// relaxed atomics, and no slot is re-read. See [`Stats`](crate::Stats) for what
    /// counts each figure.
    ///
    /// ```
    /// use brooklet::{Brooklet, Durability, Record, TopicConfig};
    ///
    /// # fn main() -> brooklet::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
    /// db.admin().create_topic("clicks", 1, TopicConfig::default())?;
    /// let before = db.stats();
    /// let bulk = db.producer().with_durability(Durability::None);
    /// for i in 0..10 {
    ///     bulk.send("clicks", Record::value(format!("click {i}")))?;
    /// }
    /// let spent = db.stats().since(&before);
    /// assert_eq!((spent.commits_none, spent.fdatasyncs), (10, 0));
    /// println!("{} bytes written for 10 records", spent.bytes_written);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> crate::Stats {
        self.inner.engine.stats()
    }

    /// The options this handle was opened with.
    #[must_use]
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// Runs `f` on a fresh snapshot, retrying when another process reused its pages.
    fn with_snapshot<T>(&self, mut f: impl FnMut(&ReadTransaction) -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            let read = self.inner.engine.begin_read()?;
            match f(&read) {
                Err(Error::StaleSnapshot) if attempt < STALE_RETRIES => attempt += 1,
                other => return other,
            }
        }
    }

    fn topic_in(&self, read: &ReadTransaction, name: &str) -> Result<Arc<TopicMeta>> {
        self.inner
            .catalog
            .lock()
            .expect("catalog lock")
            .lookup(read, name)
    }

    fn check_partition(topic: &TopicMeta, partition: u32) -> Result<()> {
        if partition < topic.partitions {
            Ok(())
        } else {
            Err(Error::UnknownPartition {
                topic: topic.name.clone(),
                partition,
                partitions: topic.partitions,
            })
        }
    }

    /// Fetches records of one partition from `offset`.
    ///
    /// Returns [`Error::OffsetOutOfRange`] if `offset` is before the partition's first
    /// offset; an offset at or past the end returns no records. No lock or snapshot is held
    /// once this returns.
    pub fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        limits: FetchLimits,
    ) -> Result<Fetched> {
        self.fetch_with(topic, partition, offset, limits, Isolation::ReadCommitted)
    }

    /// [`Brooklet::fetch`] at a chosen isolation: [`Isolation::ReadUncommitted`] also
    /// returns records of open and aborted transactions.
    pub fn fetch_with(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        limits: FetchLimits,
        isolation: Isolation,
    ) -> Result<Fetched> {
        self.with_snapshot(|read| {
            let meta = self.topic_in(read, topic)?;
            Self::check_partition(&meta, partition)?;
            read::fetch(read, (meta.id, partition), offset, limits, isolation)
        })
    }

    /// Fetches whole stored batches from `offset`, without decoding records: the bytes are
    /// Kafka `RecordBatch` v2, CRC-checked, and [`FetchedBatches::records`](crate::FetchedBatches::records) lends out
    /// records that borrow from them (no allocation per record). The fastest way to read
    /// a partition, and the way to hand batches to Kafka tools. Limits apply as in
    /// [`Brooklet::fetch`].
    ///
    /// ```
    /// use brooklet::{Brooklet, FetchLimits, Record, TopicConfig};
    ///
    /// # fn main() -> brooklet::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
    /// db.admin().create_topic("clicks", 1, TopicConfig::default())?;
    /// db.producer().send_batch("clicks", (0..100).map(|i| Record::keyed("user", format!("{i}"))).collect())?;
    /// let mut offset = 0;
    /// let mut total = 0;
    /// while offset < db.end_offset("clicks", 0)? {
    ///     let batches = db.fetch_batches("clicks", 0, offset, FetchLimits::default())?;
    ///     for record in batches.records() {
    ///         let record = record?;
    ///         total += record.value.map_or(0, <[u8]>::len);
    ///     }
    ///     offset = batches.next_offset;
    /// }
    /// assert_eq!(total, 190);
    /// # Ok(())
    /// # }
    /// ```
    pub fn fetch_batches(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        limits: FetchLimits,
    ) -> Result<crate::log::FetchedBatches> {
        self.fetch_batches_with(topic, partition, offset, limits, Isolation::ReadCommitted)
    }

    /// [`Brooklet::fetch_batches`] at a chosen isolation. Under either, control batches
    /// (transaction markers) are skipped; under [`Isolation::ReadCommitted`] the batches of
    /// aborted transactions are too, and nothing at or past the last stable offset is read.
    pub fn fetch_batches_with(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        limits: FetchLimits,
        isolation: Isolation,
    ) -> Result<crate::log::FetchedBatches> {
        self.with_snapshot(|read| {
            let meta = self.topic_in(read, topic)?;
            Self::check_partition(&meta, partition)?;
            read::fetch_batches(read, (meta.id, partition), offset, limits, isolation)
        })
    }

    /// The first offset still stored in a partition.
    pub fn beginning_offset(&self, topic: &str, partition: u32) -> Result<u64> {
        self.partition_state(topic, partition).map(|s| s.log_start)
    }

    /// The offset the next record of a partition will get.
    pub fn end_offset(&self, topic: &str, partition: u32) -> Result<u64> {
        self.partition_state(topic, partition)
            .map(|s| s.next_offset)
    }

    /// A partition's last stable offset: the first offset of its oldest open transaction,
    /// or its end offset when no transaction is open. Readers at
    /// [`Isolation::ReadCommitted`] read up to it.
    pub fn last_stable_offset(&self, topic: &str, partition: u32) -> Result<u64> {
        self.with_snapshot(|read| {
            let meta = self.topic_in(read, topic)?;
            Self::check_partition(&meta, partition)?;
            let state = read::partition_state(read, meta.id, partition)?;
            read::last_stable(read, meta.id, partition, &state)
        })
    }

    /// The offset a reader at `isolation` reads up to.
    pub(crate) fn readable_end(
        &self,
        topic: &str,
        partition: u32,
        isolation: Isolation,
    ) -> Result<u64> {
        match isolation {
            Isolation::ReadCommitted => self.last_stable_offset(topic, partition),
            Isolation::ReadUncommitted => self.end_offset(topic, partition),
        }
    }

    fn partition_state(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<crate::log::meta::PartitionState> {
        self.with_snapshot(|read| {
            let meta = self.topic_in(read, topic)?;
            Self::check_partition(&meta, partition)?;
            read::partition_state(read, meta.id, partition)
        })
    }

    /// The earliest offset whose timestamp is at or after `timestamp_ms`, or `None` if
    /// every record of the partition is older.
    pub fn offset_for_time(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Result<Option<u64>> {
        self.with_snapshot(|read| {
            let meta = self.topic_in(read, topic)?;
            Self::check_partition(&meta, partition)?;
            read::offset_for_time(read, meta.id, partition, timestamp_ms)
        })
    }

    /// Waits until any of `positions` (a partition and an offset in it) has records at or
    /// after its offset below the last stable offset (what a
    /// [`Isolation::ReadCommitted`] read returns), or until `timeout`. Returns whether
    /// records are available.
    ///
    /// A commit in this process wakes the wait at once; a commit in another process is
    /// seen within about a millisecond (the commit slots are polled).
    pub fn wait_for_records(
        &self,
        positions: &[(TopicPartition, u64)],
        timeout: Duration,
    ) -> Result<bool> {
        self.wait_readable(positions, timeout, Isolation::ReadCommitted)
    }

    /// [`Brooklet::wait_for_records`] for a reader at `isolation`.
    pub(crate) fn wait_readable(
        &self,
        positions: &[(TopicPartition, u64)],
        timeout: Duration,
        isolation: Isolation,
    ) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut seen = None;
        loop {
            let txn = self.inner.engine.latest_txn()?;
            if seen != Some(txn) {
                seen = Some(txn);
                if self.any_readable(positions, isolation)? {
                    return Ok(true);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            self.inner
                .queue
                .wait_commit(txn, (deadline - now).min(Duration::from_millis(1)));
        }
    }

    /// Whether any of `positions` has records at or after its offset that a reader at
    /// `isolation` reads.
    fn any_readable(
        &self,
        positions: &[(TopicPartition, u64)],
        isolation: Isolation,
    ) -> Result<bool> {
        for (tp, offset) in positions {
            if self.readable_end(&tp.topic, tp.partition, isolation)? > *offset {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Makes every earlier commit durable.
    pub fn flush(&self) -> Result<()> {
        self.inner.engine.flush()
    }
}
