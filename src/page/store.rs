//! What the B-tree may call to read and write pages: the pager's transactions implement
//! these traits, and the B-tree's tests an in-memory mock. They live here, below both, so
//! that the pager does not depend on the B-tree it serves.

use std::sync::Arc;

use super::{BlobPtr, NodePtr, TxnId};
use crate::error::{PageId, Result};

/// Read access to committed pages.
pub(crate) trait PageRead {
    /// The page size in bytes.
    fn page_size(&self) -> usize;

    /// Reads the node page that `ptr` refers to and verifies it: the checksum matches
    /// `ptr.crc` and the header names `ptr.id`. The returned slice is `page_size` long.
    fn read_node(&self, ptr: NodePtr) -> Result<Arc<[u8]>>;

    /// Reads a blob and verifies its checksum.
    fn read_blob(&self, ptr: BlobPtr) -> Result<Vec<u8>>;
}

/// Write access inside one write transaction.
///
/// Reads through a `PageWrite` see the transaction's own writes: a node written with
/// [`PageWrite::write_node`] (a tree flushed twice in one transaction copies it again) and
/// a blob written with [`PageWrite::write_blob`] (a value inserted and then read or moved
/// before commit). The tree never reads a page after freeing it.
pub(crate) trait PageWrite: PageRead {
    /// The id of the transaction being built; stamped into every page written.
    fn txn_id(&self) -> TxnId;

    /// Allocates one page for a node written in this transaction.
    fn alloc_page(&mut self) -> Result<PageId>;

    /// Stores the final bytes of a node page (header written and sealed) in the
    /// transaction's dirty set. `page.len()` is the page size. The id must come from
    /// [`PageWrite::alloc_page`] in this transaction. Writing the same id again replaces it.
    fn write_node(&mut self, id: PageId, page: Vec<u8>) -> Result<()>;

    /// Frees a page that the tree no longer uses: a page of the committed state (reused
    /// only when no reader or fallback commit can reach it) or one allocated in this
    /// transaction (reused at once).
    fn free_page(&mut self, id: PageId);

    /// Allocates contiguous pages, writes `data` into them and returns the pointer.
    fn write_blob(&mut self, data: &[u8]) -> Result<BlobPtr>;

    /// Frees the pages of a blob.
    fn free_blob(&mut self, ptr: BlobPtr);
}
