//! Read transactions: a snapshot of one committed state, and the bounded page reads that
//! read and write transactions share.
//!
//! Invariants:
//! 1. A [`ReadTxn`] is registered as a reader of its commit from creation until it is
//!    dropped, and holds its pin (if any) as long, so no writer in this process (or, when
//!    pinned and shared, in another) reuses a page the snapshot can reach (the pager's
//!    invariant 1).
//! 2. Every read is bounded by the page count of the state it reads: a page in the header
//!    (0 or 1) or at or past the page count is `PageOutOfRange` corruption, never a read of
//!    some other commit's bytes.
//! 3. A node page is verified against its pointer's CRC before it is cached or returned;
//!    data bytes are returned with the slot's pending data laid over them (invariant 9),
//!    and their caller verifies them (record batches carry their own CRC).

use std::sync::Arc;

use super::{CommitState, Pager};
use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::page::slot::overlay;
use crate::page::{BlobPtr, NodePtr, PageRead, TxnId, verify};

impl Pager {
    /// Reads a node page through the cache and verifies it against `ptr`.
    pub(super) fn read_node_at(&self, ptr: NodePtr, page_count: u32) -> Result<Arc<[u8]>> {
        if ptr.id.0 < 2 || ptr.id.0 >= page_count {
            return Err(Error::corrupt(
                ptr.id,
                CorruptionKind::PageOutOfRange(ptr.id.0),
            ));
        }
        let cached = self.cache.get(ptr.id, ptr.crc);
        self.counters.cache_lookup(cached.is_some());
        if let Some(page) = cached {
            return Ok(page);
        }
        let page = self.read_page_checked(ptr.id)?;
        verify(&page, ptr)?;
        let page: Arc<[u8]> = Arc::from(page);
        self.cache.insert(ptr.id, ptr.crc, Arc::clone(&page));
        Ok(page)
    }

    /// Reads a byte range of data pages, bounded by `page_count`.
    pub(super) fn read_data_at(
        &self,
        first: PageId,
        offset: u64,
        buf: &mut [u8],
        page_count: u32,
    ) -> Result<()> {
        let page_size = u64::from(self.page_size);
        let start = u64::from(first.0) * page_size + offset;
        let end = start + buf.len() as u64;
        if first.0 < 2 || end > u64::from(page_count) * page_size {
            return Err(Error::corrupt(
                first,
                CorruptionKind::PageOutOfRange(first.0),
            ));
        }
        self.read_checked(first, start, buf)
    }
}

/// A snapshot of one committed state. Holds no lock; its pages are not reused by writers
/// in this process while it lives.
#[derive(Debug)]
pub(crate) struct ReadTxn {
    pager: Arc<Pager>,
    state: Arc<CommitState>,
    /// The pin this snapshot holds (see [`Pager::begin_read_pinned`]) and whether other
    /// processes see it.
    pin: Option<(TxnId, bool)>,
}

impl ReadTxn {
    pub(super) fn new(pager: Arc<Pager>, state: Arc<CommitState>) -> Self {
        pager.register_reader(state.txn());
        Self {
            pager,
            state,
            pin: None,
        }
    }

    /// A snapshot of `state` that holds the pin `pin` (taken by the caller) until it ends.
    pub(super) fn pinned(
        pager: Arc<Pager>,
        state: Arc<CommitState>,
        pin: TxnId,
        shared: bool,
    ) -> Self {
        let mut txn = Self::new(pager, state);
        txn.pin = Some((pin, shared));
        txn
    }

    /// True when no writer in any process can reuse this snapshot's pages while it lives:
    /// a damaged page it meets is damage, not reuse.
    pub fn is_pinned(&self) -> bool {
        self.pin.is_some_and(|(_, shared)| shared)
    }

    /// The commit this snapshot reads.
    pub fn state(&self) -> &CommitState {
        &self.state
    }

    /// The root of the master tree in this snapshot.
    pub fn master_root(&self) -> Option<NodePtr> {
        self.state.slot.master_root
    }

    /// The pager this snapshot reads from.
    pub fn pager(&self) -> &Arc<Pager> {
        &self.pager
    }
}

impl ReadTxn {
    /// Reads `len` bytes at byte `offset` from the start of page `first` (data segments).
    /// The range must lie inside the snapshot's pages; the caller verifies the contents
    /// (record batches carry their own CRC).
    pub fn read_data(&self, first: PageId, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.pager
            .read_data_at(first, offset, buf, self.state.slot.page_count)?;
        // Bytes the commit holds in its slot rather than the file.
        let at = self.pager.offset_of(first) + offset;
        overlay(&self.state.slot.pending_data, at, buf);
        Ok(())
    }
}

impl Drop for ReadTxn {
    fn drop(&mut self) {
        self.pager.unregister_reader(self.state.txn());
        if let Some((txn, _)) = self.pin {
            self.pager.unpin(txn);
        }
    }
}

impl PageRead for ReadTxn {
    fn page_size(&self) -> usize {
        self.pager.page_size as usize
    }

    fn read_node(&self, ptr: NodePtr) -> Result<Arc<[u8]>> {
        self.pager.read_node_at(ptr, self.state.slot.page_count)
    }

    fn read_blob(&self, ptr: BlobPtr) -> Result<Vec<u8>> {
        self.pager
            .read_blob_checked(ptr, self.state.slot.page_count)
    }
}
