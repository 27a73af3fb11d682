//! L3, the one copy-on-write B-tree: byte keys to byte values.
//!
//! It calls only the page-store traits [`crate::page::PageRead`] and
//! [`crate::page::PageWrite`] (implemented by the pager's transactions) and the L1 page codecs. It never touches storage directly. A file holds
//! several independent trees; each is named by its root pointer (`None` for an empty tree)
//! and read with [`get`], [`range`], [`first`] and [`last`], changed inside one write
//! transaction through a [`TreeMut`], and walked by the integrity check with [`check_tree`].
//! Vacuum moves a tree's high pages down with [`TreeMut::relocate`].
//! The node page layout is documented byte by byte in `node.rs`.
//!
//! Invariants:
//! 1. A committed page is never modified: changing a node copies it to a page allocated in
//!    the current transaction and frees the old page. A node changed again in the same
//!    transaction is changed in memory (it is *dirty*) and written once, at flush.
//! 2. Every child pointer carries the child's checksum; a node is trusted only after its
//!    checksum and self id verify. Pointers to dirty children carry checksum 0 until flush
//!    writes the children first and fills in their checksums.
//! 3. Keys within a node are strictly increasing; every key in child `i` of a branch is
//!    `>= key[i-1]` and `< key[i]`.
//! 4. Descents are bounded by [`MAX_DEPTH`]; a deeper tree is reported as corruption. A
//!    child's level is its parent's level minus one, and leaves have level 0, so every leaf
//!    is at the same depth.
//! 5. A written leaf holds at least one entry, a written branch at least two children, and
//!    an empty tree has no root. Nodes below a quarter full after a removal are merged with
//!    or refilled from a sibling (best effort: a node may stay slightly under a quarter
//!    when its sibling cannot spare an entry); that is space efficiency, not correctness.
//! 6. Keys are at most [`max_key_len`] bytes and inline values at most
//!    [`max_inline_value_len`] bytes, so at least four largest entries fit in a node and
//!    a split always yields two nodes that fit. Longer values live in a blob (contiguous
//!    pages reached by a checksummed [`crate::page::BlobPtr`]), up to [`MAX_VALUE_LEN`].
//!
//! After any error from a mutating call the [`TreeMut`] may be half changed: the write
//! transaction that owns it must be rolled back.

mod check;
mod iter;
mod node;
mod read;
mod relocate;
mod tree;
mod update;

#[cfg(test)]
mod tests;

pub(crate) use crate::page::{PageRead, PageWrite};
#[cfg(test)]
pub(crate) use check::TreeStats;
pub(crate) use check::{PageUse, check_tree};
pub(crate) use iter::{Range, range};
pub(crate) use read::get;
#[cfg_attr(
    not(test),
    expect(
        unused_imports,
        reason = "the event log's offset lookups use them next"
    )
)]
pub(crate) use read::{first, last};
pub(crate) use relocate::Evict;
pub(crate) use tree::TreeMut;

use crate::error::{Error, Result};
use crate::page::{HEADER_SIZE, PAGE_SIZE_MAX, PAGE_SIZE_MIN};

/// The deepest tree accepted: a root at level `MAX_DEPTH - 1` or higher is corruption. With
/// at least four entries per node a tree this deep would hold more than `4^31` entries.
pub(crate) const MAX_DEPTH: usize = 32;

/// The most largest-possible entries a node must hold; fixes the key and value limits.
const MIN_ENTRIES_PER_NODE: usize = 4;

/// The largest value stored: a blob's length is a `u32`.
pub(crate) const MAX_VALUE_LEN: usize = u32::MAX as usize;

/// The largest encoded leaf or branch entry for `page_size`: a quarter of the node body.
pub(crate) const fn max_entry_len(page_size: usize) -> usize {
    (page_size - HEADER_SIZE) / MIN_ENTRIES_PER_NODE
}

/// The longest key accepted for `page_size`: 56 bytes at 512-byte pages, 504 at 4096,
/// 8184 at 65536.
pub(crate) const fn max_key_len(page_size: usize) -> usize {
    max_entry_len(page_size) / 2 - node::LEAF_INLINE_OVERHEAD
}

/// The longest value stored inline in a leaf for `page_size`: 61 bytes at 512-byte pages,
/// 509 at 4096, 8189 at 65536. Longer values go to a blob.
pub(crate) const fn max_inline_value_len(page_size: usize) -> usize {
    max_entry_len(page_size) - node::LEAF_INLINE_OVERHEAD - max_key_len(page_size)
}

// The largest entries of each shape fit the entry bound, and lengths fit their u16 fields.
const _: () = {
    let mut size = PAGE_SIZE_MIN as usize;
    while size <= PAGE_SIZE_MAX as usize {
        let key = max_key_len(size);
        assert!(key >= 32 && key <= u16::MAX as usize);
        assert!(max_inline_value_len(size) <= u16::MAX as usize);
        assert!(node::LEAF_BLOB_OVERHEAD + key <= max_entry_len(size));
        assert!(node::BRANCH_ENTRY_OVERHEAD + key <= max_entry_len(size));
        assert!(
            node::LEAF_INLINE_OVERHEAD + key + max_inline_value_len(size) <= max_entry_len(size)
        );
        size *= 2;
    }
};

/// Checks a caller's key against the limit for `page_size`.
fn check_key(key: &[u8], page_size: usize) -> Result<()> {
    let max = max_key_len(page_size);
    if key.len() <= max {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "key of {} bytes is longer than the maximum of {max} bytes for {page_size}-byte pages",
            key.len()
        )))
    }
}

/// Checks a caller's value against [`MAX_VALUE_LEN`].
fn check_value(value: &[u8]) -> Result<()> {
    if value.len() <= MAX_VALUE_LEN {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "value of {} bytes is longer than the maximum of {MAX_VALUE_LEN} bytes",
            value.len()
        )))
    }
}
