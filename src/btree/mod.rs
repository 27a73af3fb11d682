//! L3, the one copy-on-write B-tree: byte keys to byte values.
//!
//! It calls only the page-store traits in [`store`] (implemented by the pager's
//! transactions) and the L1 page codecs. It never touches storage directly.
//!
//! Invariants:
//! 1. A committed page is never modified: changing a node copies it to a page allocated in
//!    the current transaction and frees the old page.
//! 2. Every child pointer carries the child's checksum; a node is trusted only after its
//!    checksum and self id verify.
//! 3. Keys within a node are strictly increasing; every key in child `i` of a branch is
//!    `>= key[i-1]` and `< key[i]`.
//! 4. Descents are bounded by [`MAX_DEPTH`]; a deeper tree is reported as corruption.

pub(crate) mod store;

pub(crate) use store::{PageRead, PageWrite};
