//! L7, partitions: segment chains of stored Kafka batches with the sparse offset and time
//! indexes (`append.rs`, `read.rs`, `fetched.rs`), retention (`retention.rs`), compaction
//! (`compact.rs`, and the bounded step produce commits take, `compact_step.rs`), moving
//! segments for vacuum (`relocate.rs`), the log's trees and their codecs (`meta.rs`), and
//! the log's part of the integrity check (`check.rs`, with `check_index.rs`).
//!
//! Invariants:
//! 1. Every batch the log stores is a valid Kafka `RecordBatch` v2 (see [`crate::kafka`]),
//!    and a partition's batches have offsets that rise from its log start to its end.
//! 2. Bytes of a segment below its `bytes_used` are never rewritten while the segment lives;
//!    segments move only down (vacuum) and are deleted for good.
//!
//! May call: the engine's transactions (named trees and data extents), the catalog's topic
//! metadata, the `kafka` codec, and `error`.

pub(crate) mod append;
pub(crate) mod check;
mod check_index;
pub(crate) mod compact;
pub(crate) mod compact_step;
mod fetched;
pub(crate) mod meta;
pub(crate) mod partitions;
pub(crate) mod producers;
pub(crate) mod read;
pub(crate) mod relocate;
pub(crate) mod retention;

pub use fetched::FetchedBatches;
pub use read::{FetchLimits, Fetched, Isolation};
