//! brooklet: Kafka-style event streams in one file.
//!
//! Layering: a module uses only modules on lower layers, and no two files of a module use
//! each other (`tests/project/layers.rs` checks both; ARCHITECTURE.md, *Layers*, says why):
//!
//! ```text
//! L9  serve     a Kafka-protocol server over one file (feature `serve`)
//! L8  db        the public API: Brooklet, producers, readers, consumers, admin; with the
//!               `tokio` feature, the async API (async sends, record streams)
//! L7  log       partitions: segments, indexes, append, fetch, retention, compaction
//! L7  group     consumer groups: members, assignment, committed offsets
//! L6  catalog   topics: names, configs, create, alter, delete
//! L5  counters  the file's counters (`log.meta`)
//! L4  engine    named B-trees in atomic transactions, data extents, check
//! L3  btree     the copy-on-write B-tree
//! L2  pager     pages by id, page cache, commit slots, journal, recovery, free list
//! L1  page      pure codecs over page bytes, the fixed layouts (`format`), the page
//!               read/write traits
//! L1  kafka     pure: Kafka's RecordBatch v2, records, varints, the partitioner
//! L0  os        Storage trait: real file, memory, fault injection; the clock
//! L0  stats     the handle's counters and the public `Stats` snapshot of them
//! L0  error     the error type
//! ```

#![warn(missing_docs)]

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod btree;
mod catalog;
mod counters;
mod db;
// Without `testing`, the engine's calls that only tests use are dead code.
#[cfg(not(feature = "testing"))]
#[allow(dead_code, unused_imports, clippy::unused_self)]
mod engine;
/// The storage engine: named B-trees in atomic transactions, data extents, check. Only
/// with the `testing` feature, for brooklet's own tests and fuzz targets; not a stable
/// API.
#[cfg(feature = "testing")]
pub mod engine;
mod error;
mod group;
pub mod kafka;
mod log;
mod os;
mod page;
mod pager;
#[cfg(feature = "serve")]
pub mod serve;
mod stats;
mod transactions;

pub use catalog::{CleanupPolicy, CompressionType, TopicConfig, validate_topic_name};
pub use db::{
    AbortedTransaction, Admin, Brooklet, CompactionReport, ConsumedRecord, Consumer,
    ConsumerOptions, GroupDescription, GroupMetadata, GroupPartition, IdempotenceState,
    Maintenance, MaintenanceReport, MemberDescription, MemberKind, OnHandlerError, Options,
    PartitionInfo, Position, Producer, Reader, RecordMetadata, RunError, SegmentInfo,
    TopicDescription, TopicInfo, TopicPartition, Transaction, TransactionInfo, TransactionOptions,
    TransactionalProducer, TreeInfo, VacuumOptions, VacuumProgress, VacuumReport,
};
#[cfg(feature = "tokio")]
pub use db::{AsyncProducer, ConsumerStream, ReaderStream, SendFuture};
pub use engine::{CheckReport, Problem};
pub use error::{CorruptionKind, Error, PageId, Result};
pub use group::Assignor;
pub use kafka::{
    BorrowedHeader, BorrowedRecord, Header, Record, RecordRef, Records, StoredRecord, TimestampType,
};
pub use log::{FetchLimits, Fetched, FetchedBatches, Isolation};
pub use page::format;
pub use page::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAGE_SIZE_MIN, TxnId};
pub use pager::{Durability, RecoveryReport, RolledBackCommit};
pub use stats::{FileStats, Stats};
pub use transactions::{TRANSACTIONAL_ID_MAX, TransactionState};

/// Storage backends for [`Brooklet::open_storage`]: the real file and memory (and, with
/// the `testing` feature, the fault-injecting backend the crash tests use).
pub mod storage {
    #[cfg(feature = "testing")]
    pub use crate::os::{CrashMode, FaultConfig, FaultKind, FaultStorage};
    pub use crate::os::{FileStorage, LivenessGuard, MemStorage, SECTOR_SIZE, Storage};
}
