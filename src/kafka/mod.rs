//! L1, Kafka's formats, pure: the `RecordBatch` v2 codec brooklet stores records with
//! (`batch` for the header and encoding, `records` for reading, decoding and filtering
//! records), Kafka's wire primitives (`wire`), the record types users produce and consume
//! (`record`), borrowed records to send and the record interface the encoder reads (`send`),
//! Kafka's compression codecs for the records section of a batch (`compression`), and
//! Kafka's default partitioner (`partitioner`).
//!
//! Public as [`crate::kafka`]: useful to hand stored batches to Kafka tools, or to check
//! that a key maps to the same partition as in a Kafka cluster.
//!
//! Invariants:
//! 1. Every batch brooklet encodes is a valid Kafka `RecordBatch` v2: any Kafka decoder reads
//!    it unchanged (`tests/kafka/compat.rs` checks this against kafka-python).
//! 2. Batches brooklet writes have offset delta `i` at record index `i`, a record count of
//!    `lastOffsetDelta + 1`, the records section compressed with the codec asked for (when
//!    that makes it smaller), and Kafka's "unset" producer fields unless an idempotent or
//!    transactional producer stamped them (`control`). Control batches are never
//!    compressed.
//! 3. Decoding is total: damaged or foreign bytes give `Error::Corrupt` with
//!    `CorruptionKind::BadBatch`, never a panic or an allocation out of proportion to them;
//!    compressed records are decompressed within `MAX_DECOMPRESSED_SIZE`.
//!
//! May call: `error`, `crc32c` and the codec crates (`flate2`, `snap`, `lz4_flex`, `zstd`)
//! only, so every decoder can be fuzzed alone.

pub(crate) mod batch;
pub(crate) mod compression;
pub(crate) mod control;
mod partitioner;
pub(crate) mod record;
pub(crate) mod records;
pub(crate) mod send;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

pub use batch::{
    BATCH_HEADER_SIZE, BatchHeader, MAX_BATCH_SIZE, MAX_RECORD_SIZE, encode_batch,
    encode_batch_into, encode_batch_stamped_into, verify_batch,
};
pub use batch::{ProducerStamp, sequence_add};
pub use compression::{Compression, MAX_DECOMPRESSED_SIZE};
pub use control::{ControlRecord, ControlType};
pub use partitioner::{murmur2, partition_for_key, to_positive};
pub use record::{Header, Record, StoredRecord, TimestampType};
pub use records::{DecodedBatch, RecordRef, Records, decode_batch};
pub use send::{BorrowedHeader, BorrowedRecord};
