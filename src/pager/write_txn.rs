//! The write transaction: its state, page allocation and freeing, and the writes of node,
//! blob and data pages before the commit. `commit` turns it into a commit; `vacuum` adds
//! the controls vacuum uses. Both build on this file, never the other way round.
//!
//! Invariants:
//! 1. At most one [`WriteTxn`] is open per file across all processes: it holds the writer
//!    gate and the file lock from `Pager::begin_write` until it is dropped.
//! 2. Whole pages are written only if this transaction allocated them (`fresh`, asserted).
//!    Data writes go to fresh pages or to the unused tail of a committed data extent, so
//!    committed bytes are never changed. Every page written is recorded in `dirty` or
//!    `written` with the CRC of its meaningful prefix, so the commit's journal covers it.
//! 3. A page freed is reusable at once only if this transaction allocated it; otherwise it
//!    carries this txn (with the window-local tag if it was born in the window) and the
//!    reuse rule of `alloc` decides when it may be written again.
//! 4. Data writes are held back (`held`) while the transaction neither allocates nor frees
//!    a page. The first allocation or free writes them, with the base commit's pending
//!    data, to the file first, while their pages still belong to the base, so they never
//!    land in a page freed and reused (the pager's invariant 9).
//! 5. The file grows only through [`Pager::ensure_capacity`], which first checks its length
//!    against the base commit's page count: a file cut under the writer is never extended.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::alloc::{Allocator, FreeExtent, ReuseBound, WINDOW_LOCAL};
use super::{CommitState, Pager};
use crate::error::{Error, PageId, Result};
use crate::page::slot::{DataRun, JournalEntry, overlay, slot_inline_capacity};
use crate::page::{BlobPtr, NodePtr, PageRead, PageWrite, TxnId, verify};

impl Pager {
    /// Grows the file in extents so that it holds at least `pages` pages.
    pub(super) fn ensure_capacity(&self, base_pages: u32, pages: u32) -> Result<()> {
        let needed = u64::from(pages) * u64::from(self.page_size);
        let len = self.storage.len().map_err(|e| self.poison(e))?;
        if len >= needed {
            return Ok(());
        }
        // Growing a file that lost pages of the base commit would hide the loss.
        self.check_length(base_pages)?;
        // A durable commit rarely changes the file size, and a large file is at most about
        // 1.6% preallocated past its pages.
        let step = (len / 64).clamp(64 << 10, 16 << 20);
        let target = (needed + step).next_multiple_of(u64::from(self.page_size));
        self.storage.set_len(target).map_err(|e| self.poison(e))
    }
}

/// The one open write transaction of this file.
#[derive(Debug)]
pub(crate) struct WriteTxn {
    pub(super) pager: Arc<Pager>,
    pub(super) base: Arc<CommitState>,
    pub(super) txn: TxnId,
    pub(super) alloc: Allocator,
    /// Which freed pages may be written.
    pub(super) bound: ReuseBound,
    /// Pages allocated since the last durable commit (by earlier commits of the window):
    /// the last durable commit cannot reach them, so once freed they are window-local.
    pub(super) window_born: HashSet<PageId>,
    /// Node pages to write at commit, by id.
    pub(super) dirty: HashMap<PageId, Arc<[u8]>>,
    /// Pages allocated by this transaction.
    pub(super) fresh: HashSet<PageId>,
    /// Pages already written by this transaction, with the length of the meaningful prefix
    /// and its CRC.
    pub(super) written: HashMap<PageId, (u32, u32)>,
    /// The base commit's own journal, moved into the window chain if the base was not
    /// durable.
    pub(super) base_own: Vec<JournalEntry>,
    pub(super) master_root: Option<NodePtr>,
    /// Pending tree entries to keep in the slot (the engine's encoding).
    pub(super) pending: Vec<u8>,
    /// Data writes held back while the transaction neither allocates nor frees pages:
    /// the commit may keep them, with the base commit's pending data, in its slot. `None`
    /// once they were written to the file (then data writes go straight to the file).
    pub(super) held: Option<Vec<DataRun>>,
    /// The pending data the commit keeps in its slot (set by `commit`).
    pub(super) kept: Vec<DataRun>,
    /// Vacuum: make the commit durable, drop the reusable free tail of the file, and cut
    /// the file to its new length once the commit is durable.
    pub(super) shrink: bool,
    /// True once the base commit's pending data was written into the file.
    pub(super) pending_data_flushed: bool,
    /// The base is durable, or is the no-op follow-up of a durable commit that this handle
    /// wrote (see `commit.rs`): nothing since the last durable commit to lose or to sync.
    pub(super) base_settled: bool,
    /// The writer gate and file lock (set by `Pager::begin_write`), released when the
    /// transaction is dropped. `None` only for the follow-up commit (see `commit.rs`),
    /// which runs under the lock its durable commit holds.
    pub(super) writer: Option<WriterHold>,
}

/// Holds the writer gate and file lock of a write transaction until dropped.
#[derive(Debug)]
pub(super) struct WriterHold(pub(super) Arc<Pager>);

impl Drop for WriterHold {
    fn drop(&mut self) {
        self.0.end_write();
    }
}

impl WriteTxn {
    pub(super) fn new(
        pager: Arc<Pager>,
        base: Arc<CommitState>,
        free: Vec<FreeExtent>,
        base_own: Vec<JournalEntry>,
        window_born: HashSet<PageId>,
    ) -> Self {
        let last_durable = base.slot.last_durable;
        let base_durable = base.is_durable();
        let oldest = pager.oldest_snapshot(base.txn());
        let bound = ReuseBound {
            durable: oldest.min(last_durable),
            reader: oldest,
        };
        Self {
            window_born,
            txn: TxnId(base.txn().0 + 1),
            alloc: Allocator::new(free, base.slot.page_count),
            master_root: base.slot.master_root,
            pending: base.slot.pending.clone(),
            held: Some(Vec::new()),
            kept: Vec::new(),
            base,
            bound,
            dirty: HashMap::new(),
            fresh: HashSet::new(),
            written: HashMap::new(),
            base_own,
            shrink: false,
            pending_data_flushed: false,
            base_settled: base_durable,
            writer: None,
            pager,
        }
    }

    /// The master tree root as this transaction will commit it.
    pub fn master_root(&self) -> Option<NodePtr> {
        self.master_root
    }

    /// Sets the master tree root to commit.
    pub fn set_master_root(&mut self, root: Option<NodePtr>) {
        self.master_root = root;
    }

    /// The pending entries this transaction builds on (the base commit's).
    pub fn base_pending(&self) -> &[u8] {
        &self.base.slot.pending
    }

    /// Most bytes of pending entries a commit may keep in its slot: half the slot's inline
    /// room, so that the journal of a commit that writes no tree pages always fits beside
    /// them.
    pub fn pending_capacity(&self) -> usize {
        slot_inline_capacity(self.pager.page_size) / 2
    }

    /// Sets the pending entries to commit in the slot; at most
    /// [`WriteTxn::pending_capacity`] bytes.
    pub fn set_pending(&mut self, pending: Vec<u8>) {
        assert!(
            pending.len() <= self.pending_capacity(),
            "pending entries of {} bytes exceed the slot's room",
            pending.len()
        );
        self.pending = pending;
    }

    /// The logical page count as this transaction would commit it.
    pub fn page_count(&self) -> u32 {
        self.alloc.page_count()
    }

    /// True if any of the `count` pages from `first` is free in this transaction.
    pub fn overlaps_free(&self, first: PageId, count: u32) -> bool {
        self.alloc.overlaps_free(first, count)
    }

    /// Allocates `count` contiguous pages.
    pub fn alloc_pages(&mut self, count: u32) -> Result<PageId> {
        self.release_held()?;
        let first = self.alloc.alloc(count, self.bound)?;
        for i in 0..count {
            self.fresh.insert(PageId(first.0 + i));
        }
        Ok(first)
    }

    /// Frees `count` pages from `first`. Pages allocated by this transaction are reusable at
    /// once; committed pages only once the reuse rule allows.
    pub fn free_pages(&mut self, first: PageId, count: u32) {
        self.release_held_or_poison();
        let mut run_start = first.0;
        let mut run_tag = None;
        for id in first.0..first.0 + count {
            let page = PageId(id);
            let tag = if self.fresh.remove(&page) {
                // Never reachable from a commit: reusable at once.
                self.dirty.remove(&page);
                self.written.remove(&page);
                TxnId(0)
            } else if self.window_born.contains(&page) {
                TxnId(self.txn.0 | WINDOW_LOCAL)
            } else {
                self.txn
            };
            match run_tag {
                Some(prev) if prev != tag => {
                    self.alloc.free(PageId(run_start), id - run_start, prev);
                    run_start = id;
                }
                _ => {}
            }
            run_tag = Some(tag);
        }
        if let Some(tag) = run_tag {
            self.alloc
                .free(PageId(run_start), first.0 + count - run_start, tag);
        }
    }

    /// Writes `data` into fresh pages starting at `first` (allocated by this transaction)
    /// right away, recording each page's checksum for the journal. `data` is padded with
    /// zeros to whole pages.
    pub fn write_pages(&mut self, first: PageId, data: &[u8]) -> Result<()> {
        let page_size = self.pager.page_size as usize;
        let count = u32::try_from(data.len().div_ceil(page_size).max(1))
            .map_err(|_| Error::invalid("write too large"))?;
        for i in 0..count {
            assert!(
                self.fresh.contains(&PageId(first.0 + i)),
                "page {} written without being allocated in txn {:?}",
                first.0 + i,
                self.txn
            );
        }
        let mut padded;
        let bytes = if data.len().is_multiple_of(page_size) && !data.is_empty() {
            data
        } else {
            padded = data.to_vec();
            padded.resize(count as usize * page_size, 0);
            &padded[..]
        };
        self.pager
            .ensure_capacity(self.base.slot.page_count, first.0 + count)?;
        self.pager
            .storage
            .write_at(self.pager.offset_of(first), bytes)
            .map_err(|e| self.pager.poison(e))?;
        let page_len = self.pager.page_size;
        for (i, page) in bytes.chunks(page_size).enumerate() {
            let id = PageId(first.0 + u32::try_from(i).expect("count fits u32"));
            self.written.insert(id, (page_len, crc32c::crc32c(page)));
        }
        Ok(())
    }

    /// Writes `data` at byte `offset` from the start of page `first`, for data segments.
    ///
    /// The target bytes must be unused in the committed state: pages allocated by this
    /// transaction, or the unused tail of a committed data extent past its filled prefix
    /// (committed bytes are never changed, so a torn write leaves them intact). Each page
    /// touched is journaled with the CRC of its filled prefix, which later appends extend.
    pub fn write_data(&mut self, first: PageId, offset: u64, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let page_size = u64::from(self.pager.page_size);
        let start = u64::from(first.0) * page_size + offset;
        let end = start + data.len() as u64;
        let last_page = u32::try_from((end - 1) / page_size)
            .map_err(|_| Error::invalid("data write past the largest page id"))?;
        assert!(
            last_page < self.alloc.page_count(),
            "data write to page {last_page} past page count {}",
            self.alloc.page_count()
        );
        if let Some(held) = &mut self.held {
            // Held back: the commit may keep it in its slot (see `commit`).
            match held.last_mut() {
                Some(run) if run.end() == start => run.bytes.extend_from_slice(data),
                _ => held.push(DataRun {
                    at: start,
                    bytes: data.to_vec(),
                }),
            }
            return Ok(());
        }
        self.write_through(start, data)
    }

    /// Writes `data` at byte `start` of the file and journals every page it touches with
    /// the CRC of its filled prefix.
    fn write_through(&mut self, start: u64, data: &[u8]) -> Result<()> {
        let page_size = u64::from(self.pager.page_size);
        let end = start + data.len() as u64;
        let last_page = u32::try_from((end - 1) / page_size)
            .map_err(|_| Error::invalid("data write past the largest page id"))?;
        self.pager
            .ensure_capacity(self.base.slot.page_count, last_page + 1)?;
        self.pager
            .storage
            .write_at(start, data)
            .map_err(|e| self.pager.poison(e))?;
        let first_page = u32::try_from(start / page_size).expect("below last page");
        for id in first_page..=last_page {
            let page_start = u64::from(id) * page_size;
            let filled = (end - page_start).min(page_size);
            let len = u32::try_from(filled).expect("page size fits u32");
            // Only the first page can hold bytes from before `start` (committed, or written
            // earlier in this transaction): CRC the prefix of that page read back from the
            // file, and every other page straight from `data`, without reading it again.
            let crc = if page_start < start {
                let mut prefix = vec![0u8; usize::try_from(filled).expect("page fits memory")];
                self.pager
                    .storage
                    .read_at(page_start, &mut prefix)
                    .map_err(|e| self.pager.poison(e))?;
                crc32c::crc32c(&prefix)
            } else {
                let from = usize::try_from(page_start - start).expect("inside data");
                let to = usize::try_from(page_start + filled - start).expect("inside data");
                crc32c::crc32c(&data[from..to])
            };
            self.written.insert(PageId(id), (len, crc));
        }
        Ok(())
    }

    /// Reads bytes of a data extent at byte `offset` from the start of page `first`,
    /// bounded by this transaction's page count. The caller verifies the contents.
    pub fn read_data(&self, first: PageId, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.pager
            .read_data_at(first, offset, buf, self.alloc.page_count())?;
        self.overlay_held(self.pager.offset_of(first) + offset, buf);
        Ok(())
    }

    /// Lays the data still held back (the base commit's pending data, then this
    /// transaction's writes) over `buf`, read from the file at byte `at`.
    fn overlay_held(&self, at: u64, buf: &mut [u8]) {
        if let Some(held) = &self.held {
            overlay(&self.base.slot.pending_data, at, buf);
            overlay(held, at, buf);
        }
    }

    /// Writes the data held back to the file (the base commit's pending data, then this
    /// transaction's writes), journaled like any data write; from then on data writes go
    /// straight to the file. Called before the transaction first allocates or frees
    /// pages: the held bytes lie in data extents of the base commit, which are still
    /// allocated then, so no page freed and reused later in the transaction is written.
    pub(super) fn release_held(&mut self) -> Result<()> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        let base = Arc::clone(&self.base);
        self.pending_data_flushed = !base.slot.pending_data.is_empty();
        let mut runs: Vec<&DataRun> = base.slot.pending_data.iter().chain(&held).collect();
        // In file order, so a page's prefix read back for its CRC holds the runs before.
        runs.sort_by_key(|r| r.at);
        for run in runs {
            self.write_through(run.at, &run.bytes)?;
        }
        Ok(())
    }

    /// [`WriteTxn::release_held`] where the caller cannot return an error: an I/O error
    /// poisons the handle, so the commit fails.
    pub(super) fn release_held_or_poison(&mut self) {
        // The error itself is kept by the poisoned pager's next check.
        let _ = self.release_held();
    }
}

impl PageRead for WriteTxn {
    fn page_size(&self) -> usize {
        self.pager.page_size as usize
    }

    fn read_node(&self, ptr: NodePtr) -> Result<Arc<[u8]>> {
        if let Some(page) = self.dirty.get(&ptr.id) {
            verify(page, ptr)?;
            return Ok(Arc::clone(page));
        }
        self.pager.read_node_at(ptr, self.alloc.page_count())
    }

    fn read_blob(&self, ptr: BlobPtr) -> Result<Vec<u8>> {
        self.pager.read_blob_checked(ptr, self.alloc.page_count())
    }
}

impl PageWrite for WriteTxn {
    fn txn_id(&self) -> TxnId {
        self.txn
    }

    fn alloc_page(&mut self) -> Result<PageId> {
        self.alloc_pages(1)
    }

    fn write_node(&mut self, id: PageId, page: Vec<u8>) -> Result<()> {
        assert!(
            self.fresh.contains(&id),
            "node {id} written without allocation"
        );
        assert_eq!(page.len(), self.pager.page_size as usize, "node page size");
        self.dirty.insert(id, Arc::from(page));
        Ok(())
    }

    fn free_page(&mut self, id: PageId) {
        self.free_pages(id, 1);
    }

    fn write_blob(&mut self, data: &[u8]) -> Result<BlobPtr> {
        let page_size = self.pager.page_size as usize;
        let len =
            u32::try_from(data.len()).map_err(|_| Error::invalid("value larger than 4 GiB"))?;
        let pages = u32::try_from(data.len().div_ceil(page_size).max(1))
            .map_err(|_| Error::invalid("value too large"))?;
        let first = self.alloc_pages(pages)?;
        self.write_pages(first, data)?;
        Ok(BlobPtr {
            first,
            page_count: pages,
            len,
            crc: crc32c::crc32c(data),
        })
    }

    fn free_blob(&mut self, ptr: BlobPtr) {
        self.free_pages(ptr.first, ptr.page_count);
    }
}
