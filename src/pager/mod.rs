//! L2, the pager: pages by id, the page cache, the two commit slots, the commit journal,
//! recovery, the writer lock and poisoning. It does not interpret page contents beyond
//! the common header; it calls only L0 (`os`), L1 (`page`) and the allocator.
//!
//! # Files
//! This file holds the `Pager` (its state, snapshots, pins and the writer lock); `alloc.rs`
//! the free list and the reuse rule; `cache.rs` the page cache; `recovery.rs` opening and
//! choosing a slot; `headers.rs` the header pages as last decoded; `report.rs` what recovery rolled back; `read_txn.rs` read transactions
//! and the bounded page reads both kinds share; `counted.rs` the storage wrapper that counts
//! the handle's I/O (see `crate::stats`); `write_txn.rs` the write transaction's
//! state, allocation and page writes; `commit.rs` the commit protocol; `vacuum.rs` vacuum's
//! controls over a write transaction. `commit.rs` and `vacuum.rs` build on `write_txn.rs`,
//! which builds on `read_txn.rs`; never the other way round.
//!
//! # States
//! A `Pager` is *open* (reads and writes allowed), or *poisoned* after an I/O error on a
//! write or sync (every later call returns [`Error::Poisoned`] until the file is opened
//! anew, which recovers). A write transaction is *open* from `begin_write` until it is
//! committed or dropped; at most one is open per file across all processes.
//!
//! # Invariants
//! 1. Committed pages are never overwritten while a commit that may be recovered or a
//!    snapshot read in this process can reach them (see `alloc` for the reuse rule).
//! 2. Every commit writes the slot that does *not* hold the last durable commit. So a
//!    power cut at any instant leaves the last durable commit intact in its slot.
//! 3. A slot is written only after every page its commit can reach has been written (and,
//!    at `Paranoid`, synced). The slot's journal lists every page written since the last
//!    durable commit that the new state can reach, with its CRC-32C.
//! 4. A commit at `Immediate` costs exactly one `sync_data`, at `Paranoid` two, at `None`
//!    zero. A commit returns only after its syncs succeed.
//! 5. Recovery picks the valid slot with the higher txn id whose journal verifies, else the
//!    other valid slot. It reads the pages of at most one commit window, never the whole
//!    file.
//! 6. After any write or sync error the pager is poisoned; a failed sync is never retried.
//! 7. A snapshot is one slot's state; readers never see a mix of two commits.
//! 8. The file is cut shorter (vacuum) only under the writer lock, right after a durable
//!    commit whose page count ends where the cut is; every page cut off is free and
//!    reusable in that commit. A reader meeting the end of the file reports the page as
//!    out of range, which a reader with an older snapshot treats like a reused page.
//! 9. A slot's pending data (data bytes a commit keeps in its slot instead of the file)
//!    lies in data extents of that commit, and every read of data pages lays it over the
//!    file. A write transaction writes the pending data of its base into the file before
//!    it first allocates or frees a page, so it never lands in a page freed and reused.

mod alloc;
mod cache;
mod commit;
mod counted;
mod headers;
mod read_txn;
mod recovery;
mod report;
mod vacuum;
mod write_txn;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub(crate) use read_txn::ReadTxn;
pub use report::{RecoveryReport, RolledBackCommit};
pub(crate) use write_txn::WriteTxn;

use zerocopy::FromBytes as _;

use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::os::Storage;
use crate::page::TxnId;
use crate::page::format::{self, SLOT_BODY_START};
use crate::page::slot::{JournalEntry, SLOT_FIXED_SIZE, STATIC_HEADER_SIZE, Slot};
use crate::stats::{Counters, FileStats, Stats};
use alloc::FreeExtent;
use cache::PageCache;

/// How hard a commit works to survive a power cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// Atomic and consistent after a crash, but the newest commits may be lost until a
    /// later durable commit or `flush`. No `fdatasync`.
    None,
    /// Durable when the commit returns. Exactly one `fdatasync`.
    #[default]
    Immediate,
    /// Durable, with data synced before the commit slot is written. Two `fdatasync`s.
    Paranoid,
}

/// Pager settings.
#[derive(Clone, Debug)]
pub(crate) struct PagerOptions {
    /// Page size for a new file; ignored when opening an existing one.
    pub page_size: u32,
    /// Page cache budget in bytes.
    pub cache_bytes: usize,
    /// How long `begin_write` waits for the writer lock before returning `Busy`.
    pub busy_timeout: Duration,
    /// Largest journal window (pages written since the last durable commit) that a
    /// `Durability::None` commit may leave; a commit beyond it is made durable.
    pub max_window_pages: usize,
    /// Never write: no file creation, no write transaction ([`Error::ReadOnly`]).
    pub read_only: bool,
}

impl Default for PagerOptions {
    fn default() -> Self {
        Self {
            page_size: crate::page::PAGE_SIZE_DEFAULT,
            cache_bytes: 32 << 20,
            busy_timeout: Duration::from_secs(5),
            max_window_pages: 1 << 16,
            read_only: false,
        }
    }
}

/// One committed state as read from a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CommitState {
    /// Which slot (0 or 1) holds this commit.
    pub slot_index: u32,
    /// CRC of the slot body, to tell two states with equal txn ids apart.
    pub slot_crc: u32,
    pub slot: Slot,
}

impl CommitState {
    pub fn txn(&self) -> TxnId {
        self.slot.txn
    }

    /// True if this commit is itself the last durable one.
    pub fn is_durable(&self) -> bool {
        self.slot.last_durable == self.slot.txn
    }
}

/// What a writer needs beyond the slot: the decoded free list and own journal.
#[derive(Debug)]
struct WriterCache {
    txn: TxnId,
    slot_crc: u32,
    free: Vec<FreeExtent>,
    own: Vec<JournalEntry>,
    /// Pages allocated since the last durable commit (empty if this commit is durable).
    born: HashSet<PageId>,
    /// The commit is the no-op follow-up of a durable commit (see `commit.rs`): nothing
    /// changed since that durable commit.
    settled: bool,
}

/// The in-process writer gate: whether a write transaction is open, and how many threads
/// wait for it to close.
#[derive(Debug, Default)]
struct WriterGate {
    busy: bool,
    waiting: usize,
}

/// A slot that recovery rejected: skipped by later refreshes until overwritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rejected {
    slot_index: u32,
    txn: TxnId,
    slot_crc: u32,
}

/// The free-list figures of one commit, as [`Pager::stats`] last read them.
#[derive(Clone, Copy, Debug)]
struct FreeFigures {
    txn: TxnId,
    slot_crc: u32,
    pages: u64,
    extents: u64,
}

/// The pager. Shared by all threads of one handle.
#[derive(Debug)]
pub(crate) struct Pager {
    /// The storage, wrapped so that its I/O counts in `counters`.
    storage: Arc<dyn Storage>,
    /// What this handle has done since it was opened (see `crate::stats`).
    counters: Arc<Counters>,
    /// The free-list figures of the last commit whose list [`Pager::stats`] read.
    free_figures: Mutex<Option<FreeFigures>>,
    page_size: u32,
    options: PagerOptions,
    cache: PageCache,
    state: Mutex<Arc<CommitState>>,
    rejected: Mutex<Vec<Rejected>>,
    /// What recovery at open did (nothing rolled back when the newest commit verified).
    recovery: Mutex<RecoveryReport>,
    /// Per slot, a checksum of slot contents known to be invalid (see
    /// `read_slot_settled`).
    invalid_slots: Mutex<[Option<u32>; 2]>,
    /// The header pages as last decoded (see `headers.rs`).
    headers: Mutex<headers::Headers>,
    writer_busy: Mutex<WriterGate>,
    writer_released: Condvar,
    writer_cache: Mutex<Option<WriterCache>>,
    readers: Mutex<BTreeMap<TxnId, usize>>,
    /// Snapshots pinned for other processes too (see [`Pager::begin_read_pinned`]): per
    /// txn, how many pinned reads hold it and whether the storage shares the pin.
    pins: Mutex<BTreeMap<TxnId, (usize, bool)>>,
    poisoned: AtomicBool,
}

impl Pager {
    /// What recovery did when this handle opened the file: one line per commit slot it
    /// rejected or found damaged. Empty when the newest commit verified.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub fn recovery_notes(&self) -> Vec<String> {
        self.recovery.lock().expect("recovery lock").lines()
    }

    /// What recovery did when this handle opened the file.
    pub fn recovery_report(&self) -> RecoveryReport {
        self.recovery.lock().expect("recovery lock").clone()
    }

    /// True when this pager never writes.
    pub fn is_read_only(&self) -> bool {
        self.options.read_only
    }

    /// The page size of the file.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// The storage under this pager.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The handle's counters, for layers above that count their own work.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The handle's counters and the figures of the newest commit it has seen. Reads no
    /// slot (the handle's state is refreshed by every transaction); reads the free-list
    /// blob only when the list is not in the slot and neither this handle's writer nor an
    /// earlier call has decoded it.
    pub fn stats(&self) -> Stats {
        let state = Arc::clone(&self.state.lock().expect("state lock"));
        let slot = &state.slot;
        let free = self.free_figures(&state);
        self.counters.snapshot(FileStats {
            txn: slot.txn.0,
            // The no-op follow-up of a durable commit that this handle wrote loses nothing
            // to a power cut: 0, not 1.
            commits_since_durable: if self.is_settled(&state) {
                0
            } else {
                slot.txn.0.saturating_sub(slot.last_durable.0)
            },
            page_count: u64::from(slot.page_count),
            free_pages: free.pages,
            free_extents: free.extents,
            pending_data_bytes: slot.pending_data.iter().map(|r| r.bytes.len() as u64).sum(),
            pending_entry_bytes: slot.pending.len() as u64,
        })
    }

    /// The free pages and extents of `state`'s free list: from the writer's cache or an
    /// earlier call when they hold this commit's list, else decoded (reading its blob, if
    /// any). If it cannot be read (an I/O error, or a damaged blob that `check` reports),
    /// the figures of the last list read, of an older commit.
    fn free_figures(&self, state: &CommitState) -> FreeFigures {
        let of = |free: &[FreeExtent]| FreeFigures {
            txn: state.txn(),
            slot_crc: state.slot_crc,
            pages: free.iter().map(|e| u64::from(e.count)).sum(),
            extents: free.len() as u64,
        };
        let same = |f: &FreeFigures| f.txn == state.txn() && f.slot_crc == state.slot_crc;
        let mut memo = self.free_figures.lock().expect("free figures lock");
        if let Some(figures) = *memo
            && same(&figures)
        {
            return figures;
        }
        let cached = self
            .writer_cache
            .lock()
            .expect("writer cache lock")
            .as_ref()
            .filter(|c| c.txn == state.txn() && c.slot_crc == state.slot_crc)
            .map(|c| of(&c.free));
        let figures = match cached {
            Some(figures) => figures,
            None => match self.load_free_list(&state.slot) {
                Ok(free) => of(&free),
                Err(_) => {
                    return memo.unwrap_or(FreeFigures {
                        txn: TxnId(0),
                        slot_crc: 0,
                        pages: 0,
                        extents: 0,
                    });
                }
            },
        };
        *memo = Some(figures);
        figures
    }

    /// Returns `Poisoned` if an earlier write or sync failed.
    pub fn check_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            Err(Error::Poisoned)
        } else {
            Ok(())
        }
    }

    /// True once an I/O error poisoned the handle.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Fails, poisoning the handle, if the file is shorter than `page_count` pages: it
    /// was cut or replaced under this handle (only vacuum cuts the file, under the writer
    /// lock, after a commit that no longer needs the pages). A writer must never extend
    /// such a file or write into it: it would acknowledge records whose pages are gone.
    fn check_length(&self, page_count: u32) -> Result<()> {
        let len = self.storage.len().map_err(|e| self.poison(e))?;
        let page_size = u64::from(self.page_size);
        if len < u64::from(page_count) * page_size {
            return Err(self.poison(Error::corrupt_file(CorruptionKind::Truncated {
                expected_pages: page_count,
                actual_pages: len / page_size,
            })));
        }
        Ok(())
    }

    /// Marks the pager poisoned and passes the error on.
    fn poison(&self, e: impl Into<Error>) -> Error {
        self.poisoned.store(true, Ordering::Release);
        e.into()
    }

    /// The newest commit's txn id, read cheaply: the larger txn of the two slots, each
    /// read without its page and verified by its CRC. `None` when a slot does not verify
    /// (being written, torn, or past the end of a damaged file): ask [`Pager::latest`].
    /// When it is not above a snapshot's txn, no commit after the snapshot has been
    /// written, and since writers reuse only pages free in the commit they build on, the
    /// snapshot's pages are intact.
    pub fn newest_txn_verified(&self) -> Result<Option<TxnId>> {
        /// Slot bytes read at once: the whole slot in the smallest pages, and at any page
        /// size a slot whose inline journal is short.
        const PREFIX: usize = crate::page::PAGE_SIZE_MIN as usize - STATIC_HEADER_SIZE;
        const _: () = assert!(PREFIX >= SLOT_FIXED_SIZE);
        let mut newest = TxnId(0);
        for index in 0..2u64 {
            let at = index * u64::from(self.page_size) + STATIC_HEADER_SIZE as u64;
            let mut prefix = [0u8; PREFIX];
            match self.storage.read_at(at, &mut prefix) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e.into()),
            }
            let (fixed, _) =
                format::SlotFixed::ref_from_prefix(&prefix).expect("the prefix holds a slot");
            let body_len = fixed.body_len.get() as usize;
            let room = self.page_size as usize - STATIC_HEADER_SIZE - SLOT_BODY_START;
            if body_len < SLOT_FIXED_SIZE - SLOT_BODY_START || body_len > room {
                return Ok(None);
            }
            // The fixed fields, then the inline journal: the CRC covers both.
            let body_end = SLOT_BODY_START + body_len;
            let digest = if body_end <= PREFIX {
                crc32c::crc32c(&prefix[SLOT_BODY_START..body_end])
            } else {
                let mut rest = vec![0u8; body_end - PREFIX];
                self.storage.read_at(at + PREFIX as u64, &mut rest)?;
                crc32c::crc32c_append(crc32c::crc32c(&prefix[SLOT_BODY_START..]), &rest)
            };
            if digest != fixed.crc.get() {
                return Ok(None);
            }
            newest = newest.max(TxnId(fixed.txn.get()));
        }
        Ok(Some(newest))
    }

    /// Starts a read transaction on the newest committed state.
    pub fn begin_read(self: &Arc<Self>) -> Result<ReadTxn> {
        let state = self.latest()?;
        Ok(ReadTxn::new(Arc::clone(self), state))
    }

    /// Starts a read transaction on the newest committed state and pins it: no writer,
    /// in this process or (where the storage supports snapshot pins, see
    /// [`Storage::pin_snapshot`]) in another, reuses or cuts a page the snapshot can reach
    /// until it ends. For long walks of the whole file (`check`), which must see one
    /// committed state while other processes write, without holding the writer lock.
    ///
    /// The pin is taken on a txn read *before* the snapshot is chosen: every writer that
    /// starts after the pin respects it, and a writer already running builds on a commit
    /// no newer than the snapshot, so it reuses only pages free in that commit, which the
    /// snapshot cannot reach.
    pub fn begin_read_pinned(self: &Arc<Self>) -> Result<ReadTxn> {
        const ATTEMPTS: usize = 8;
        for _ in 0..ATTEMPTS {
            let low = self.latest()?.txn();
            let shared = self.pin(low)?;
            let state = self.latest()?;
            if state.txn() >= low {
                return Ok(ReadTxn::pinned(Arc::clone(self), state, low, shared));
            }
            // The newest commit went back (a writer process died, losing non-durable
            // commits): pin again below it.
            self.unpin(low);
        }
        Err(Error::StaleSnapshot)
    }

    /// Pins `txn`: this process's writers see it as a reader, other processes through the
    /// storage's pin lock. Returns whether other processes see it.
    fn pin(&self, txn: TxnId) -> Result<bool> {
        let mut pins = self.pins.lock().expect("pins lock");
        let entry = pins.entry(txn).or_insert((0, false));
        if entry.0 == 0 {
            match self.storage.pin_snapshot(txn.0) {
                Ok(shared) => entry.1 = shared,
                Err(e) => {
                    pins.remove(&txn);
                    return Err(e.into());
                }
            }
        }
        entry.0 += 1;
        let shared = entry.1;
        drop(pins);
        self.register_reader(txn);
        Ok(shared)
    }

    fn unpin(&self, txn: TxnId) {
        self.unregister_reader(txn);
        let mut pins = self.pins.lock().expect("pins lock");
        let entry = pins.get_mut(&txn).expect("txn was pinned");
        entry.0 -= 1;
        if entry.0 == 0 {
            pins.remove(&txn);
            // A failed unlock leaves the pin until the handle closes: pages stay out of
            // reuse a little longer, which is safe.
            let _ = self.storage.unpin_snapshot(txn.0);
        }
    }

    /// The oldest snapshot that writers must keep intact: the oldest read in this process
    /// and the oldest pinned by another, if any is older than `base` (the commit a writer
    /// builds on). A storage that cannot answer counts as no pins.
    fn oldest_snapshot(&self, base: TxnId) -> TxnId {
        let local = self.oldest_reader().unwrap_or(base).min(base);
        match self.storage.oldest_pinned(base.0.saturating_add(1)) {
            Ok(Some(pinned)) => local.min(TxnId(pinned)),
            Ok(None) | Err(_) => local,
        }
    }

    /// Starts the write transaction, waiting up to the busy timeout for the writer lock.
    pub fn begin_write(self: &Arc<Self>) -> Result<WriteTxn> {
        if self.options.read_only {
            return Err(Error::ReadOnly);
        }
        self.check_poisoned()?;
        let deadline = Instant::now() + self.options.busy_timeout;
        self.acquire_gate(deadline)?;
        let guard = GateGuard { pager: self };
        self.acquire_file_lock(deadline)?;
        let unlock = FileLockGuard { pager: self };
        let state = self.refresh_for_writer()?;
        self.check_length(state.slot.page_count)?;
        let (free, own, born, settled) = self.load_writer_cache(&state)?;
        std::mem::forget(unlock);
        std::mem::forget(guard);
        let mut txn = WriteTxn::new(Arc::clone(self), state, free, own, born);
        txn.writer = Some(write_txn::WriterHold(Arc::clone(self)));
        txn.base_settled |= settled;
        Ok(txn)
    }

    fn acquire_gate(&self, deadline: Instant) -> Result<()> {
        let mut gate = self.writer_busy.lock().expect("writer gate lock");
        while gate.busy {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Busy);
            }
            gate.waiting += 1;
            gate = self
                .writer_released
                .wait_timeout(gate, deadline - now)
                .expect("writer gate lock")
                .0;
            gate.waiting -= 1;
        }
        gate.busy = true;
        Ok(())
    }

    fn release_gate(&self) {
        let mut gate = self.writer_busy.lock().expect("writer gate lock");
        gate.busy = false;
        // A wake-up is a system call: made only when a thread waits.
        if gate.waiting > 0 {
            drop(gate);
            self.writer_released.notify_one();
        }
    }

    fn acquire_file_lock(&self, deadline: Instant) -> Result<()> {
        let mut backoff = Duration::from_micros(50);
        loop {
            if self.storage.try_lock_writer()? {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Busy);
            }
            std::thread::sleep(backoff.min(deadline - now));
            backoff = (backoff * 2).min(Duration::from_millis(5));
        }
    }

    /// Ends a write transaction: releases the file lock and the in-process gate.
    fn end_write(&self) {
        // An unlock failure leaves the lock to be dropped with the handle; the next
        // writer will wait on it and report Busy, so nothing is lost by ignoring it here.
        let _ = self.storage.unlock_writer();
        self.release_gate();
    }

    /// Registers a snapshot reader so its pages are not reused under it.
    fn register_reader(&self, txn: TxnId) {
        *self
            .readers
            .lock()
            .expect("readers lock")
            .entry(txn)
            .or_insert(0) += 1;
    }

    fn unregister_reader(&self, txn: TxnId) {
        let mut readers = self.readers.lock().expect("readers lock");
        let count = readers.get_mut(&txn).expect("reader was registered");
        *count -= 1;
        if *count == 0 {
            readers.remove(&txn);
        }
    }

    /// The oldest snapshot read in this process, if any.
    fn oldest_reader(&self) -> Option<TxnId> {
        self.readers
            .lock()
            .expect("readers lock")
            .keys()
            .next()
            .copied()
    }

    /// Reads one whole page from storage (no verification).
    fn read_page_raw(&self, id: PageId) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.page_size as usize];
        self.storage.read_at(self.offset_of(id), &mut buf)?;
        Ok(buf)
    }

    /// Reads one whole page for a reader: a page past the end of the file is reported as
    /// out of range (see [`Pager::read_checked`]).
    fn read_page_checked(&self, id: PageId) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.page_size as usize];
        self.read_checked(id, self.offset_of(id), &mut buf)?;
        Ok(buf)
    }

    /// Reads `buf.len()` bytes at byte `offset`, on behalf of page `page`. A read past the
    /// end of the file becomes `PageOutOfRange` corruption rather than an I/O error: a
    /// snapshot older than a vacuum that cut the file meets it exactly where it would meet
    /// a reused page, and readers turn both into `StaleSnapshot` when a newer commit
    /// exists. With no newer commit the file really is shorter than its commit says.
    fn read_checked(&self, page: PageId, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.storage.read_at(offset, buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::corrupt(page, CorruptionKind::PageOutOfRange(page.0))
            } else {
                Error::Io(e)
            }
        })
    }

    fn offset_of(&self, id: PageId) -> u64 {
        u64::from(id.0) * u64::from(self.page_size)
    }
}

/// Releases the in-process writer gate if `begin_write` fails part way.
struct GateGuard<'a> {
    pager: &'a Pager,
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.pager.release_gate();
    }
}

/// Releases the file lock if `begin_write` fails part way.
struct FileLockGuard<'a> {
    pager: &'a Pager,
}

impl Drop for FileLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.pager.storage.unlock_writer();
    }
}

#[cfg(test)]
mod tests;
