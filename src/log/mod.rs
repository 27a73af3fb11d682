//! L4 partitions: the records users produce and consume, the Kafka `RecordBatch` v2 bytes
//! they are stored as (`batch.rs`), Kafka's default partitioner, segment chains with the
//! sparse offset and time indexes (`append.rs`, `read.rs`), retention (`retention.rs`),
//! moving segments for vacuum (`relocate.rs`) and the log's part of the integrity check
//! (`check.rs`).
//!
//! Invariants:
//! 1. Every batch brooklet stores is a valid Kafka `RecordBatch` v2: any Kafka decoder reads it
//!    unchanged (`tests/kafka_compat.rs` checks this against kafka-python).
//! 2. Batches brooklet writes have offset delta `i` at record index `i`, a record count of
//!    `lastOffsetDelta + 1`, no compression, and Kafka's "unset" producer and leader fields.
//! 3. Decoding is total: damaged or foreign bytes give `Error::Corrupt` with
//!    `CorruptionKind::BadBatch`, never a panic or an allocation out of proportion to them.
//!
//! May call: the engine's transactions (named trees and data extents), the catalog's topic
//! metadata, and `error`. The codec parts (`batch`, `wire`, `partitioner`, `record`) call
//! only `error` and `crc32c`, so they can be fuzzed alone.

pub(crate) mod append;
mod batch;
pub(crate) mod check;
pub(crate) mod compact;
pub(crate) mod meta;
mod partitioner;
pub(crate) mod read;
mod record;
pub(crate) mod relocate;
pub(crate) mod retention;
pub(crate) mod view;
mod wire;

pub use read::{FetchLimits, Fetched};
pub use record::{Header, Record, StoredRecord, TimestampType};
pub use view::{FetchedBatches, RecordRef, Records};

/// Kafka compatibility: the `RecordBatch` v2 codec brooklet stores records with, and Kafka's
/// default partitioner. Useful to hand stored batches to Kafka tools, or to check that a key
/// maps to the same partition as in a Kafka cluster.
pub mod kafka {
    pub use super::batch::{
        BATCH_HEADER_SIZE, BatchHeader, DecodedBatch, MAX_BATCH_SIZE, MAX_RECORD_SIZE,
        decode_batch, encode_batch, encode_batch_into, verify_batch,
    };
    pub use super::partitioner::{murmur2, partition_for_key, to_positive};
}
