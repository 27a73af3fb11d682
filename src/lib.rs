//! brooklet: Kafka-style event streams in one file.
//!
//! Layering (dependencies point down only):
//!
//! ```text
//! L5  db            public API
//! L3  btree, alloc  copy-on-write B-tree, free pages and their safe reuse
//! L2  pager         pages by id, page cache, commit slots, journal, recovery
//! L1  page          pure codecs over page bytes
//! L0  os            Storage trait: real file, memory, fault injection
//! ```

#[cfg_attr(
    not(test),
    expect(
        dead_code,
        unused_imports,
        reason = "the pager and log layers that call the B-tree come later"
    )
)]
mod btree;
mod error;
mod os;
mod page;

pub use error::{CorruptionKind, Error, PageId, Result};
pub use page::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAGE_SIZE_MIN, TxnId};

/// Storage backends: the real file, memory, and the fault-injecting backend used by the
/// crash tests.
pub mod storage {
    pub use crate::os::{MemStorage, SECTOR_SIZE, Storage};
}
