//! Read and write transactions, and the commit protocol.
//!
//! Commit, step by step (FORMAT.md repeats this as the normative protocol):
//! 1. The window chain: if the base commit was durable, free its chain (and journal blob);
//!    else move the base's own journal into a new chain node in front of its chain.
//! 2. Store this commit's journal (every page it wrote, with the CRC of the written prefix)
//!    inline in the slot if it fits, else in a journal blob.
//! 3. If the free list changed, free the old free-list blob and write the new list into a
//!    blob allocated from reusable pages (so the list never grows from its own storage).
//! 4. Grow the file in extents if needed, then write all dirty pages.
//! 5. `Paranoid`: sync.
//! 6. Write the slot into the slot that does not hold the last durable commit.
//! 7. `Immediate` or `Paranoid`: sync.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::alloc::{Allocator, FreeExtent, ReuseBound, WINDOW_LOCAL};
use super::recovery::slot_crc;
use super::{CommitState, Durability, Pager};
use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::page::slot::{
    DataRun, JOURNAL_ENTRY_SIZE, Journal, JournalEntry, Slot, encode_journal, encode_window_node,
    overlay, slot_inline_capacity, write_static_header,
};
use crate::page::{PageRead, PageWrite};

/// Most commits a window chain may hold; the commit after is made durable, which bounds
/// the chain that recovery walks.
const MAX_WINDOW_COMMITS: u32 = 1024;
use crate::page::{BlobPtr, NodePtr, TxnId, stored_crc, verify};

impl Pager {
    /// Reads a node page through the cache and verifies it against `ptr`.
    fn read_node_at(&self, ptr: NodePtr, page_count: u32) -> Result<Arc<[u8]>> {
        if ptr.id.0 < 2 || ptr.id.0 >= page_count {
            return Err(Error::corrupt(
                ptr.id,
                CorruptionKind::PageOutOfRange(ptr.id.0),
            ));
        }
        if let Some(page) = self.cache.get(ptr.id, ptr.crc) {
            return Ok(page);
        }
        let page = self.read_page_checked(ptr.id)?;
        verify(&page, ptr)?;
        let page: Arc<[u8]> = Arc::from(page);
        self.cache.insert(ptr.id, ptr.crc, Arc::clone(&page));
        Ok(page)
    }

    /// Reads a byte range of data pages, bounded by `page_count`.
    fn read_data_at(
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

    /// Grows the file in extents so that it holds at least `pages` pages.
    fn ensure_capacity(&self, base_pages: u32, pages: u32) -> Result<()> {
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

    /// Cuts the file to exactly `pages` pages if it is longer (vacuum). Called only under
    /// the writer lock and after the commit that recorded `pages` is durable, so no commit
    /// a crash may fall back to needs the bytes cut off, and no writer is filling them.
    fn truncate_to(&self, pages: u32) -> Result<()> {
        let len = u64::from(pages) * u64::from(self.page_size);
        if self.storage.len().map_err(|e| self.poison(e))? > len {
            self.storage.set_len(len).map_err(|e| self.poison(e))?;
        }
        Ok(())
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

/// The one open write transaction of this file.
#[derive(Debug)]
pub(crate) struct WriteTxn {
    pager: Arc<Pager>,
    base: Arc<CommitState>,
    txn: TxnId,
    alloc: Allocator,
    /// Which freed pages may be written.
    bound: ReuseBound,
    /// Pages allocated since the last durable commit (by earlier commits of the window):
    /// the last durable commit cannot reach them, so once freed they are window-local.
    window_born: HashSet<PageId>,
    /// Node pages to write at commit, by id.
    dirty: HashMap<PageId, Arc<[u8]>>,
    /// Pages allocated by this transaction.
    fresh: HashSet<PageId>,
    /// Pages already written by this transaction, with the length of the meaningful prefix
    /// and its CRC.
    written: HashMap<PageId, (u32, u32)>,
    /// The base commit's own journal, moved into the window chain if the base was not
    /// durable.
    base_own: Vec<JournalEntry>,
    master_root: Option<NodePtr>,
    /// Pending tree entries to keep in the slot (the engine's encoding).
    pending: Vec<u8>,
    /// Data writes held back while the transaction neither allocates nor frees pages:
    /// the commit may keep them, with the base commit's pending data, in its slot. `None`
    /// once they were written to the file (then data writes go straight to the file).
    held: Option<Vec<DataRun>>,
    /// The pending data the commit keeps in its slot (set by `commit`).
    kept: Vec<DataRun>,
    /// Vacuum: make the commit durable, drop the reusable free tail of the file, and cut
    /// the file to its new length once the commit is durable.
    shrink: bool,
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
            pager,
            base,
            bound,
            dirty: HashMap::new(),
            fresh: HashSet::new(),
            written: HashMap::new(),
            base_own,
            shrink: false,
        }
    }

    /// Vacuum: makes allocations prefer pages wholly below `ceiling` (see
    /// [`Allocator::alloc`]); `None` restores the normal policy.
    pub fn set_alloc_ceiling(&mut self, ceiling: Option<PageId>) {
        self.alloc.set_ceiling(ceiling);
    }

    /// Vacuum: keeps the `count` pages from `first` out of every allocation until the
    /// transaction ends (`None`: no window).
    pub fn set_alloc_avoid(&mut self, window: Option<(PageId, u32)>) {
        self.alloc.set_avoid(window);
    }

    /// Relabels the free extents already reusable and merges neighbours, as a commit
    /// does, so that an allocation sees runs freed by different commits as one.
    pub fn settle_free_list(&mut self) {
        self.alloc.settle(self.bound);
    }

    /// Where [`WriteTxn::alloc_pages_below`] with `best_limit` would place each of
    /// `requests` (page count, and the page the pages must end by), taken in order: a dry
    /// run on a copy of the free list.
    pub fn would_fit(&self, requests: &[(u32, PageId)], best_limit: PageId) -> Vec<Option<PageId>> {
        let mut alloc = self.alloc.clone();
        requests
            .iter()
            .map(|&(count, any_limit)| alloc.alloc_below(count, self.bound, best_limit, any_limit))
            .collect()
    }

    /// Free extents as this transaction would commit them: first page and page count.
    pub fn free_extents(&self) -> Vec<(u32, u32)> {
        self.alloc
            .extents()
            .iter()
            .map(|e| (e.first, e.count))
            .collect()
    }

    /// The base commit's own metadata blobs: free list, journal and window chain nodes.
    pub fn base_meta_blobs(&self) -> Result<Vec<BlobPtr>> {
        let slot = &self.base.slot;
        let mut blobs: Vec<BlobPtr> = slot.freelist.into_iter().collect();
        if let Journal::Blob { ptr, .. } = slot.journal {
            blobs.push(ptr);
        }
        for (node, _) in self.pager.window_nodes(slot)? {
            blobs.push(node);
        }
        Ok(blobs)
    }

    /// Allocates `count` contiguous reusable pages, never from the end of the file: see
    /// [`Allocator::alloc_below`].
    pub fn alloc_pages_below(
        &mut self,
        count: u32,
        best_limit: PageId,
        any_limit: PageId,
    ) -> Option<PageId> {
        self.release_held_or_poison();
        let first = self
            .alloc
            .alloc_below(count, self.bound, best_limit, any_limit)?;
        for i in 0..count {
            self.fresh.insert(PageId(first.0 + i));
        }
        Some(first)
    }

    /// True if any of the `count` pages from `first` is free in this transaction.
    pub fn overlaps_free(&self, first: PageId, count: u32) -> bool {
        self.alloc.overlaps_free(first, count)
    }

    /// The logical page count as this transaction would commit it.
    pub fn page_count(&self) -> u32 {
        self.alloc.page_count()
    }

    /// Free pages as this transaction would commit them, reusable now or not.
    pub fn free_page_count(&self) -> u64 {
        self.alloc.free_page_count()
    }

    /// Free pages at or above `page`.
    pub fn free_pages_from(&self, page: PageId) -> u64 {
        self.alloc
            .extents()
            .iter()
            .map(|e| {
                let end = e.first + e.count;
                u64::from(end.saturating_sub(e.first.max(page.0)))
            })
            .sum()
    }

    /// True if the commit this transaction builds on is durable.
    pub fn base_is_durable(&self) -> bool {
        self.base.is_durable()
    }

    /// Vacuum: makes this commit durable; if the base is durable, drops the free extents
    /// that end the file and are reusable (lowering the page count); writes the free list
    /// anew (so its blob moves to the lowest free pages, out of the end of the file); and
    /// once the commit is durable, cuts the file to its page count (which also drops space
    /// preallocated past it). A crash before the cut leaves a longer file, which is valid.
    pub fn request_shrink(&mut self) {
        self.release_held_or_poison();
        self.shrink = true;
        self.alloc.mark_changed();
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
    fn release_held(&mut self) -> Result<()> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        let base = Arc::clone(&self.base);
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
    fn release_held_or_poison(&mut self) {
        // The error itself is kept by the poisoned pager's next check.
        let _ = self.release_held();
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

    /// Bytes of the slot's pending area as this commit writes it.
    fn pending_area_len(&self) -> usize {
        if self.pending.is_empty() && self.kept.is_empty() {
            return 0;
        }
        4 + self.kept.iter().map(DataRun::encoded_len).sum::<usize>() + self.pending.len()
    }

    /// The data this commit keeps in its slot instead of the file, if it can: only while
    /// it holds its data writes back (it allocated and freed nothing), and only if the
    /// base commit's pending data and its own fit the slot's room beside the pending
    /// entries and the free list. Merged runs, sorted by offset.
    fn keepable_data(&self) -> Option<Vec<DataRun>> {
        let held = self.held.as_ref()?;
        if self.shrink {
            return None;
        }
        let mut runs: Vec<DataRun> = self.base.slot.pending_data.clone();
        for run in held {
            runs.push(run.clone());
        }
        runs.sort_by_key(|r| r.at);
        let mut merged: Vec<DataRun> = Vec::with_capacity(runs.len());
        for run in runs {
            match merged.last_mut() {
                // Held writes go to unused bytes past each run, never into one.
                Some(prev) if prev.end() == run.at => prev.bytes.extend_from_slice(&run.bytes),
                Some(prev) if prev.end() > run.at => return None,
                _ => merged.push(run),
            }
        }
        let size: usize = 4 + merged.iter().map(DataRun::encoded_len).sum::<usize>();
        let capacity = slot_inline_capacity(self.pager.page_size);
        // A sixteenth of the room is left for the free list to change in this commit (if
        // it outgrows what is left, it goes to a blob).
        let room = capacity.saturating_sub(
            self.pending.len() + self.base.slot.freelist_inline.len() + capacity / 16,
        );
        (size <= room).then_some(merged)
    }

    /// Commits at `durability`. Returns the new commit's txn id, or the base's if there was
    /// nothing to commit.
    pub fn commit(mut self, durability: Durability) -> Result<TxnId> {
        self.pager.check_poisoned()?;
        // Data writes kept in the slot, or written to the file now, before any page of
        // the commit's own metadata is allocated.
        self.kept = if let Some(runs) = self.keepable_data() {
            self.held = None;
            runs
        } else {
            self.release_held()?;
            Vec::new()
        };
        if self.shrink && self.base.is_durable() {
            // Only with a durable base: its window is empty, so no journal entry this
            // commit carries can name a page past the new end.
            self.alloc.take_reusable_tail(self.bound);
        }
        let unchanged = self.dirty.is_empty()
            && self.written.is_empty()
            && !self.alloc.changed()
            && self.master_root == self.base.slot.master_root
            && self.pending == self.base.slot.pending
            && self.kept == self.base.slot.pending_data
            && self.alloc.page_count() == self.base.slot.page_count;
        // A shrink always commits: the cut that follows must rest on a sync made by this
        // handle, never on a slot another process wrote but may not have synced.
        if unchanged && !self.shrink && (durability == Durability::None || self.base.is_durable()) {
            return Ok(self.base.txn());
        }
        let own = self.own_entries();
        let (window, window_commits, window_entries) = self.place_window()?;
        let durable = durability != Durability::None
            || self.shrink
            || window_commits >= MAX_WINDOW_COMMITS
            || window_entries as usize + own.len() > self.pager.options.max_window_pages;
        let journal = self.place_journal(&own)?;
        let journal_inline = match &journal {
            Journal::Inline(entries) => entries.len(),
            Journal::Blob { .. } => 0,
        };
        let (freelist, freelist_inline) = self.place_free_list(journal_inline, durable)?;
        self.write_dirty()?;
        if durability == Durability::Paranoid {
            self.pager
                .storage
                .sync_data()
                .map_err(|e| self.pager.poison(e))?;
        }
        let slot = Slot {
            txn: self.txn,
            last_durable: if durable {
                self.txn
            } else {
                self.base.slot.last_durable
            },
            page_count: self.alloc.page_count(),
            durable,
            time_ms: crate::os::now_ms().cast_unsigned(),
            master_root: self.master_root,
            freelist,
            freelist_inline,
            journal,
            // A durable commit keeps its chain too: until its sync returns, recovery may
            // have to validate it. The next commit frees the chain.
            window,
            window_commits,
            window_entries,
            pending: std::mem::take(&mut self.pending),
            pending_data: std::mem::take(&mut self.kept),
        };
        let state = self.write_slot(slot)?;
        if durable {
            // The slot is written: other processes may read it already, and a power cut
            // may keep or lose it. Failing here leaves the outcome unknown (never retried).
            self.pager
                .storage
                .sync_data()
                .map_err(|e| self.pager.poison(Error::CommitOutcomeUnknown(e)))?;
        }
        if self.shrink {
            // Still under the writer lock: no writer can be extending the file meanwhile.
            self.pager.truncate_to(self.alloc.page_count())?;
        }
        // A file cut under this commit (by another program) may have lost its pages:
        // never acknowledge it.
        self.pager.check_length(self.alloc.page_count())?;
        let born = if durable {
            HashSet::new()
        } else {
            let mut born = std::mem::take(&mut self.window_born);
            born.extend(own.iter().filter(|e| e.allocated).map(|e| e.page));
            born
        };
        self.pager
            .store_writer_cache(&state, self.alloc.extents().to_vec(), own, born);
        *self.pager.state.lock().expect("state lock") = Arc::new(state);
        Ok(self.txn)
    }

    /// The pages this transaction wrote, with the CRC of each written prefix, sorted.
    fn own_entries(&self) -> Vec<JournalEntry> {
        let page_size = self.pager.page_size;
        let mut own: Vec<JournalEntry> = self
            .dirty
            .iter()
            .map(|(id, page)| JournalEntry {
                page: *id,
                len: page_size,
                crc: crc32c::crc32c(page),
                allocated: true,
            })
            .chain(self.written.iter().map(|(id, (len, crc))| JournalEntry {
                page: *id,
                len: *len,
                crc: *crc,
                allocated: self.fresh.contains(id),
            }))
            .collect();
        own.sort_by_key(|e| e.page);
        own
    }

    /// Builds the window chain this commit rests on (see the module docs, step 1). Returns
    /// the chain head, its commit count and its entry count.
    fn place_window(&mut self) -> Result<(Option<BlobPtr>, u32, u32)> {
        let base = Arc::clone(&self.base);
        if let Journal::Blob { ptr, .. } = base.slot.journal {
            self.free_base_meta_blob(ptr);
        }
        if base.is_durable() {
            // The base no longer needs its window: a crash now falls back to the base.
            for (node, _) in self.pager.window_nodes(&base.slot)? {
                self.free_pages(node.first, node.page_count);
            }
            return Ok((None, 0, 0));
        }
        let (head, commits, entries) = (
            base.slot.window,
            base.slot.window_commits,
            base.slot.window_entries,
        );
        if self.base_own.is_empty() {
            return Ok((head, commits, entries));
        }
        let node = encode_window_node(head, &self.base_own);
        let ptr = self.write_meta_blob(&node, None)?;
        let added = u32::try_from(self.base_own.len()).expect("journal fits u32");
        Ok((Some(ptr), commits + 1, entries + added))
    }

    /// Frees a metadata blob (free list or journal) of the base commit. If the base was not
    /// durable, the blob was allocated after the last durable commit, which cannot reach
    /// it, so its pages are window-local (reusable without waiting for a durable commit).
    /// Only writers and `check` (under the writer lock) read these blobs.
    fn free_base_meta_blob(&mut self, ptr: BlobPtr) {
        if !self.base.is_durable() {
            for i in 0..ptr.page_count {
                self.window_born.insert(PageId(ptr.first.0 + i));
            }
        }
        self.free_pages(ptr.first, ptr.page_count);
    }

    /// Puts this commit's journal inline or into a journal blob.
    fn place_journal(&mut self, own: &[JournalEntry]) -> Result<Journal> {
        let room = slot_inline_capacity(self.pager.page_size) - self.pending_area_len();
        if own.len() * JOURNAL_ENTRY_SIZE <= room {
            return Ok(Journal::Inline(own.to_vec()));
        }
        let mut bytes = Vec::with_capacity(own.len() * JOURNAL_ENTRY_SIZE);
        encode_journal(own, &mut bytes);
        let ptr = self.write_meta_blob(&bytes, None)?;
        Ok(Journal::Blob {
            ptr,
            count: u32::try_from(own.len()).expect("journal fits u32"),
        })
    }

    /// Rewrites the free list if it changed (or if its inline copy no longer fits beside
    /// the pending entries): into the slot when it fits after `journal_inline` inline
    /// journal entries and the pending entries (no page to write), else into a blob.
    /// Returns the blob pointer or the inline bytes to commit.
    ///
    /// A commit that is not `durable` never keeps the free-list blob of a durable base: a
    /// later commit of the window frees the blob of its (non-durable) base as window-local,
    /// reusable at once, which is right only for a blob allocated inside the window. A blob
    /// the last durable commit reaches must wait for the next durable commit.
    fn place_free_list(
        &mut self,
        journal_inline: usize,
        durable: bool,
    ) -> Result<(Option<BlobPtr>, Vec<u8>)> {
        if self.alloc.changed() {
            self.alloc.settle(self.bound);
        }
        let room = slot_inline_capacity(self.pager.page_size)
            .saturating_sub(self.pending_area_len() + journal_inline * JOURNAL_ENTRY_SIZE);
        let keeps_durable_blob =
            !durable && self.base.is_durable() && self.base.slot.freelist.is_some();
        if !self.alloc.changed()
            && !keeps_durable_blob
            && self.base.slot.freelist_inline.len() <= room
        {
            return Ok((
                self.base.slot.freelist,
                self.base.slot.freelist_inline.clone(),
            ));
        }
        if let Some(old) = self.base.slot.freelist {
            self.free_base_meta_blob(old);
        }
        if self.alloc.extents().is_empty() {
            return Ok((None, Vec::new()));
        }
        if self.alloc.encoded_len() <= room {
            return Ok((None, self.alloc.encode()));
        }
        // Allocating the blob can only shrink or remove an extent, never add one, so the
        // list encoded afterwards still fits the pages sized now.
        let page_size = self.pager.page_size as usize;
        let pages = u32::try_from(self.alloc.encoded_len().div_ceil(page_size).max(1))
            .expect("free list pages fit u32");
        let first = self.alloc.alloc(pages, self.bound)?;
        let bytes = self.alloc.encode();
        assert!(
            bytes.len() <= pages as usize * page_size,
            "free list outgrew its blob"
        );
        Ok((
            Some(self.write_meta_blob(&bytes, Some((first, pages)))?),
            Vec::new(),
        ))
    }

    /// Writes a blob that the slot verifies itself (journal, free list): not journaled.
    fn write_meta_blob(&mut self, bytes: &[u8], at: Option<(PageId, u32)>) -> Result<BlobPtr> {
        let page_size = self.pager.page_size as usize;
        let (first, pages) = if let Some(at) = at {
            at
        } else {
            let pages = u32::try_from(bytes.len().div_ceil(page_size).max(1))
                .map_err(|_| Error::invalid("blob too large"))?;
            (self.alloc.alloc(pages, self.bound)?, pages)
        };
        let mut padded = bytes.to_vec();
        padded.resize(pages as usize * page_size, 0);
        self.pager
            .ensure_capacity(self.base.slot.page_count, first.0 + pages)?;
        self.pager
            .storage
            .write_at(self.pager.offset_of(first), &padded)
            .map_err(|e| self.pager.poison(e))?;
        Ok(BlobPtr {
            first,
            page_count: pages,
            len: u32::try_from(bytes.len()).map_err(|_| Error::invalid("blob too large"))?,
            crc: crc32c::crc32c(bytes),
        })
    }

    /// Writes every dirty node page, coalescing runs of adjacent pages into one write.
    fn write_dirty(&mut self) -> Result<()> {
        if self.dirty.is_empty() {
            // Most small commits: nothing to write, so no need to check the file's length.
            return Ok(());
        }
        self.pager
            .ensure_capacity(self.base.slot.page_count, self.alloc.page_count())?;
        let mut ids: Vec<PageId> = self.dirty.keys().copied().collect();
        ids.sort_unstable();
        let page_size = self.pager.page_size as usize;
        let mut run: Vec<u8> = Vec::new();
        let mut run_first = PageId(0);
        for (i, id) in ids.iter().enumerate() {
            if run.is_empty() {
                run_first = *id;
            }
            run.extend_from_slice(&self.dirty[id]);
            let next_adjacent = ids.get(i + 1).is_some_and(|n| n.0 == id.0 + 1);
            if !next_adjacent || run.len() >= 64 * page_size {
                self.pager
                    .storage
                    .write_at(self.pager.offset_of(run_first), &run)
                    .map_err(|e| self.pager.poison(e))?;
                run.clear();
            }
        }
        for (id, page) in &self.dirty {
            self.pager
                .cache
                .insert(*id, stored_crc(page), Arc::clone(page));
        }
        Ok(())
    }

    /// Writes the slot page and returns the state it now holds.
    fn write_slot(&self, slot: Slot) -> Result<CommitState> {
        let target = if self.base.is_durable() {
            1 - self.base.slot_index
        } else {
            self.base.slot_index
        };
        let page_size = self.pager.page_size;
        let mut page = vec![0u8; page_size as usize];
        write_static_header(&mut page, page_size, target);
        slot.write(&mut page);
        let slot_crc = slot_crc(&page);
        // A failed slot write may still have landed in part: the commit's outcome is
        // unknown from here on.
        self.pager
            .storage
            .write_at(self.pager.offset_of(PageId(target)), &page)
            .map_err(|e| self.pager.poison(Error::CommitOutcomeUnknown(e)))?;
        Ok(CommitState {
            slot_index: target,
            slot_crc,
            slot,
        })
    }
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        self.pager.end_write();
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
