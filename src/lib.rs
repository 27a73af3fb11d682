//! brooklet: Kafka-style event streams in one file.
//!
//! Layering (dependencies point down only):
//!
//! ```text
//! L5  db            public API: Brooklet, producers, readers
//! L4  catalog, log  topics and configs; partitions, segments, indexes, record batches
//! L3  engine        named B-trees in atomic transactions, data extents, check
//! L3  btree, alloc  copy-on-write B-tree, free pages and their safe reuse
//! L2  pager         pages by id, page cache, commit slots, journal, recovery
//! L1  page          pure codecs over page bytes
//! L0  os            Storage trait: real file, memory, fault injection
//! ```

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod btree;
mod catalog;
mod db;
pub mod engine;
mod error;
mod group;
pub mod kafka;
mod log;
mod os;
mod page;
mod pager;

pub use catalog::{CleanupPolicy, TopicConfig, validate_topic_name};
pub use db::{
    Brooklet, CompactionReport, ConsumedRecord, Consumer, ConsumerOptions, GroupDescription,
    GroupPartition, Maintenance, MaintenanceReport, MemberDescription, OffsetReset, OnHandlerError,
    Options, PartitionInfo, Producer, Reader, RecordMetadata, ResetTo, RunError, StartAt,
    TopicDescription, TopicInfo, TopicPartition, VacuumOptions, VacuumProgress, VacuumReport,
};
pub use error::{CorruptionKind, Error, PageId, Result};
pub use group::Assignor;
pub use kafka::{Header, Record, RecordRef, Records, StoredRecord, TimestampType};
pub use log::{FetchLimits, Fetched, FetchedBatches};
pub use page::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAGE_SIZE_MIN, TxnId};
pub use pager::{Durability, RecoveryReport, RolledBackCommit};

/// Storage backends: the real file, memory, and the fault-injecting backend used by the
/// crash tests.
pub mod storage {
    pub use crate::os::{
        CrashMode, FaultConfig, FaultKind, FaultStorage, FileStorage, LivenessGuard, MemStorage,
        SECTOR_SIZE, Storage,
    };
}
