//! The commit protocol: a write transaction's pages, journal, window chain and free list
//! become one commit slot.
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
//! 8. The follow-up commit: after an `Immediate` or `Paranoid` commit over a window of
//!    more than [`FOLLOW_UP_MIN_PAGES`] pages, once its sync returned, a no-op commit
//!    that is not durable, built on it like any other, without a sync.
//!
//! *The follow-up commit.* Recovery verifies the window of the newest commit it opens: a
//! durable commit's pages and its slot reach the disk in any order under the one sync.
//! After a bulk load closed by a `flush`, that window is every page of the load. The
//! follow-up commit changes nothing (same tree, pending entries and data, page count; the
//! free list gains only the durable commit's window chain and journal blob, freed as any
//! commit on a durable base frees them), so its own window is empty, and it is written
//! only after the durable commit's sync returned: whenever its slot is on disk, every page
//! the durable commit reaches is too. The next open picks it and reads no window. If a
//! crash loses or tears it, recovery falls back to the durable commit and verifies its
//! window, as without it. It is written into the slot that does not hold the durable
//! commit (invariant 2), which stays the last durable one. It is not counted as a commit
//! in the handle's stats (its write is), and a durable commit on it with nothing changed
//! has nothing to do (`WriteTxn::base_settled`).
//!
//! Invariants: the slot is written last, after every page it can reach (the pager's
//! invariant 3), into the slot that does not hold the last durable commit (invariant 2).
//! A failure before the slot write is an I/O error (the commit did not take effect); a
//! failure writing the slot or syncing after it is `CommitOutcomeUnknown`. Both poison the
//! handle. The file is cut (vacuum) only after this handle's durable commit that no longer
//! needs the pages (invariant 8).

use std::collections::HashSet;
use std::sync::Arc;

use super::alloc::WINDOW_LOCAL;
use super::recovery::slot_crc;
use super::write_txn::WriteTxn;
use super::{CommitState, Durability, Pager};
use crate::error::{Error, PageId, Result};
use crate::page::slot::{
    DataRun, JOURNAL_ENTRY_SIZE, Journal, JournalEntry, Slot, encode_journal, encode_window_node,
    slot_inline_capacity, write_static_header,
};
use crate::page::{BlobPtr, TxnId, stored_crc};
use crate::stats::CommitCounts;

/// Most commits a window chain may hold; the commit after is made durable, which bounds
/// the chain that recovery walks.
const MAX_WINDOW_COMMITS: u32 = 1024;

/// A non-durable commit is made durable when more free pages than this, and than a
/// sixteenth of the file, wait for a durable commit to be reused: retention under
/// `Durability::None` frees whole segments that the last durable commit still reaches, and
/// without a durable commit the file would grow by them for up to 1024 commits.
const MIN_WAITING_PAGES: u32 = 128;

/// Largest window (pages written since the last durable commit, this commit's included)
/// that an `Immediate` or `Paranoid` commit leaves for recovery to verify. One over a
/// larger window is followed by the follow-up commit (see the module docs): one more slot
/// write, no sync, and the next open reads none of the window. At 4 KiB pages, 256 KiB.
pub(super) const FOLLOW_UP_MIN_PAGES: usize = 64;

impl Pager {
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

impl WriteTxn {
    /// Commits at `durability`. Returns the new commit's txn id, or the base's if there was
    /// nothing to commit.
    pub fn commit(mut self, durability: Durability) -> Result<TxnId> {
        self.pager.check_poisoned()?;
        self.keep_or_release_held()?;
        if self.shrink && self.base_settled {
            // Only with a durable base: its window is empty, so no journal entry this
            // commit carries can name a page past the new end.
            self.alloc.take_reusable_tail(self.bound);
        }
        // A shrink always commits: the cut that follows must rest on a sync made by this
        // handle, never on a slot another process wrote but may not have synced.
        if self.is_unchanged()
            && !self.shrink
            && (durability == Durability::None || self.base_settled)
        {
            return Ok(self.base.txn());
        }
        let own = self.own_entries();
        let slot = self.write_before_slot(durability, &own)?;
        let durable = slot.durable;
        let follow_up = durability != Durability::None
            && slot.window_entries as usize + own.len() > FOLLOW_UP_MIN_PAGES;
        let (state, page) = self.write_slot(slot)?;
        if durable {
            // The slot is written: other processes may read it already, and a power cut
            // may keep or lose it. Failing here leaves the outcome unknown (never retried).
            self.pager
                .storage
                .sync_data()
                .map_err(|e| self.pager.poison(Error::CommitOutcomeUnknown(e)))?;
        }
        self.pager
            .counters
            .commit(&self.counts(durability, durable, &state));
        let txn = self.finish(state, &page, own, durable)?;
        if follow_up {
            // The durable commit stands whatever happens here, and recovery falls back to
            // it if the follow-up's slot is lost or torn. A failure poisons the handle (its
            // header pages may no longer be what it last wrote) and is reported as an
            // unknown outcome, never as a commit that did not happen.
            self.write_follow_up().map_err(|e| match e {
                Error::Io(e) => Error::CommitOutcomeUnknown(e),
                other => other,
            })?;
        }
        Ok(txn)
    }

    /// Step 8 (see the module docs): the no-op commit after this durable one, built and
    /// written as any commit that is not durable, under this transaction's writer lock.
    fn write_follow_up(&self) -> Result<()> {
        let base = Arc::clone(&self.pager.state.lock().expect("state lock"));
        let (free, base_own, born, _) = self.pager.load_writer_cache(&base)?;
        let mut next = WriteTxn::new(Arc::clone(&self.pager), base, free, base_own, born);
        next.keep_or_release_held()?;
        let own = next.own_entries();
        let slot = next.write_before_slot(Durability::None, &own)?;
        debug_assert!(!slot.durable);
        let (state, page) = next.write_slot(slot)?;
        next.finish(state, &page, own, false)?;
        let state = Arc::clone(&self.pager.state.lock().expect("state lock"));
        self.pager.mark_settled(&state);
        Ok(())
    }

    /// What this commit did, for the handle's stats: written as `state`, asked for at
    /// `durability`, made `durable` or not.
    fn counts(&self, durability: Durability, durable: bool, state: &CommitState) -> CommitCounts {
        let pages = self.alloc.counts();
        CommitCounts {
            level: match durability {
                Durability::None => 0,
                Durability::Immediate => 1,
                Durability::Paranoid => 2,
            },
            made_durable: durable && durability == Durability::None,
            pages_allocated: pages.allocated,
            pages_grown: pages.grown,
            pages_freed: pages.freed,
            pending_data_flushed: self.pending_data_flushed,
            pending_entries_flushed: !self.base.slot.pending.is_empty()
                && state.slot.pending.is_empty(),
        }
    }

    /// Keeps the data writes held back in the slot if they fit there, else writes them to
    /// the file now, before any page of the commit's own metadata is allocated.
    fn keep_or_release_held(&mut self) -> Result<()> {
        self.kept = if let Some(runs) = self.keepable_data() {
            self.held = None;
            runs
        } else {
            self.release_held()?;
            Vec::new()
        };
        Ok(())
    }

    /// True if committing would change nothing: no page written, the free list, master
    /// root, pending entries and data, and page count all as in the base commit.
    fn is_unchanged(&self) -> bool {
        self.dirty.is_empty()
            && self.written.is_empty()
            && !self.alloc.changed()
            && self.master_root == self.base.slot.master_root
            && self.pending == self.base.slot.pending
            && self.kept == self.base.slot.pending_data
            && self.alloc.page_count() == self.base.slot.page_count
    }

    /// Steps 1 to 5 of the protocol (see the module docs): places the window chain, this
    /// commit's journal `own` and the free list, writes the dirty pages (and syncs at
    /// `Paranoid`), and returns the slot to write.
    fn write_before_slot(&mut self, durability: Durability, own: &[JournalEntry]) -> Result<Slot> {
        let (window, window_commits, window_entries) = self.place_window()?;
        let durable = self.must_be_durable(durability, window_commits, window_entries, own);
        let journal = self.place_journal(own)?;
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
        Ok(Slot {
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
        })
    }

    /// Whether this commit is made durable: when asked, for a shrink, or when the window
    /// it would leave (`window_commits` commits and `window_entries` entries before it,
    /// then `own`) passes the caps that bound recovery.
    fn must_be_durable(
        &self,
        durability: Durability,
        window_commits: u32,
        window_entries: u32,
        own: &[JournalEntry],
    ) -> bool {
        durability != Durability::None
            || self.shrink
            || window_commits >= MAX_WINDOW_COMMITS
            || window_entries as usize + own.len() > self.pager.options.max_window_pages
            || (!self.base.is_durable()
                && self.waiting_for_durable()
                    > (self.alloc.page_count() / 16).max(MIN_WAITING_PAGES))
    }

    /// Free pages that only a durable commit makes reusable: freed after the last durable
    /// commit, which still reaches them (not window-local). Pages that snapshots of this
    /// process hold back are not counted: a durable commit would not release them. Asked
    /// only on a base that is not durable: on a durable one the pages wait for one commit
    /// at most, and the follow-up commit, which is never synced, must never be made durable.
    fn waiting_for_durable(&self) -> u32 {
        let last_durable = self.base.slot.last_durable;
        self.alloc
            .extents()
            .iter()
            .filter(|e| e.freed.0 & WINDOW_LOCAL == 0 && e.freed > last_durable)
            .map(|e| e.count)
            .sum()
    }

    /// After the slot (and its sync, if `durable`) is written: cuts the file if this is a
    /// shrink, checks the file still holds the commit's pages, and makes `state` the
    /// handle's current state and the next writer's base.
    fn finish(
        &mut self,
        state: CommitState,
        page: &[u8],
        own: Vec<JournalEntry>,
        durable: bool,
    ) -> Result<TxnId> {
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
        let index = state.slot_index;
        let state = Arc::new(state);
        *self.pager.state.lock().expect("state lock") = Arc::clone(&state);
        self.pager.wrote_slot(&self.base, index, page, &state);
        Ok(self.txn)
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

    /// Bytes of the slot's pending area as this commit writes it.
    fn pending_area_len(&self) -> usize {
        if self.pending.is_empty() && self.kept.is_empty() {
            return 0;
        }
        4 + self.kept.iter().map(DataRun::encoded_len).sum::<usize>() + self.pending.len()
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

    /// Writes the slot page and returns the state it now holds, and the page.
    fn write_slot(&self, slot: Slot) -> Result<(CommitState, Vec<u8>)> {
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
        let state = CommitState {
            slot_index: target,
            slot_crc,
            slot,
        };
        Ok((state, page))
    }
}
