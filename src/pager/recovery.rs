//! Opening a file: creation, choosing the commit slot, validating the last commit window
//! (recovery), and refreshing the state when other processes commit.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use zerocopy::FromBytes as _;

use super::alloc::{FreeExtent, decode_free_list};
use super::report::{RecoveryReport, RolledBackCommit};
use super::{CommitState, Pager, PagerOptions, Rejected, WriterCache};
use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::os::Storage;
use crate::page::slot::{
    self, Journal, JournalEntry, STATIC_HEADER_SIZE, Slot, decode_journal, decode_window_node,
    read_static_header, write_static_header,
};
use crate::page::{BlobPtr, TxnId, format, validate_page_size};

use super::cache::PageCache;
use super::counted::CountedStorage;
use crate::stats::Counters;

/// A candidate slot read from a header page.
#[derive(Clone, Debug)]
pub(super) struct Candidate {
    state: CommitState,
}

impl Pager {
    /// Opens the pager on `storage`, creating a new file if the storage is empty.
    pub fn open(storage: Arc<dyn Storage>, options: PagerOptions) -> Result<Arc<Self>> {
        validate_page_size(options.page_size)?;
        // Counted from the first byte: opening (creating or recovering) is the handle's work.
        let counters = Arc::new(Counters::default());
        let storage: Arc<dyn Storage> =
            Arc::new(CountedStorage::new(storage, Arc::clone(&counters)));
        if is_uninitialized(&*storage)? {
            if options.read_only {
                // Creating is writing: an empty (or never finished) file is not a
                // brooklet file to a read-only handle.
                return Err(Error::corrupt_file(CorruptionKind::BadMagic));
            }
            Self::create(&*storage, &options)?;
        }
        let page_size = read_page_size(&*storage)?;
        let pager = Self {
            cache: PageCache::new(options.cache_bytes, page_size),
            storage,
            counters,
            free_figures: Mutex::new(None),
            page_size,
            options,
            state: Mutex::new(Arc::new(CommitState {
                slot_index: 0,
                slot_crc: 0,
                slot: Slot {
                    txn: TxnId(0),
                    last_durable: TxnId(0),
                    page_count: 2,
                    durable: true,
                    time_ms: 0,
                    master_root: None,
                    freelist: None,
                    freelist_inline: Vec::new(),
                    journal: Journal::Inline(Vec::new()),
                    window: None,
                    window_commits: 0,
                    window_entries: 0,
                    pending: Vec::new(),
                    pending_data: Vec::new(),
                },
            })),
            rejected: Mutex::new(Vec::new()),
            recovery: Mutex::new(RecoveryReport::default()),
            invalid_slots: Mutex::new([None; 2]),
            headers: Mutex::default(),
            writer_busy: Mutex::default(),
            writer_released: Condvar::new(),
            writer_cache: Mutex::new(None),
            readers: Mutex::new(std::collections::BTreeMap::new()),
            pins: Mutex::new(std::collections::BTreeMap::new()),
            poisoned: AtomicBool::new(false),
        };
        let state = pager.recover()?;
        *pager.state.lock().expect("state lock") = Arc::new(state);
        Ok(Arc::new(pager))
    }

    /// Initialises a new (or never finished) file under the writer lock.
    ///
    /// Two phases, so that a power cut at any point leaves either a file that opens or one
    /// that [`is_uninitialized`] recognises: first page 1 (static header and a valid empty
    /// commit in slot B) with page 0 zeroed, synced; then the first sector of page 0 (its
    /// static header and an empty slot A), synced.
    fn create(storage: &dyn Storage, options: &PagerOptions) -> Result<()> {
        let deadline = Instant::now() + options.busy_timeout;
        while !storage.try_lock_writer()? {
            if Instant::now() >= deadline {
                return Err(Error::Busy);
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let result = (|| {
            if !is_uninitialized(storage)? {
                return Ok(()); // another process created it first
            }
            let page_size = options.page_size as usize;
            let mut first = vec![0u8; page_size];
            let mut second = vec![0u8; page_size];
            write_static_header(&mut second, options.page_size, 1);
            Slot {
                txn: TxnId(1),
                last_durable: TxnId(1),
                page_count: 2,
                durable: true,
                time_ms: crate::os::now_ms().cast_unsigned(),
                master_root: None,
                freelist: None,
                freelist_inline: Vec::new(),
                journal: Journal::Inline(Vec::new()),
                window: None,
                window_commits: 0,
                window_entries: 0,
                pending: Vec::new(),
                pending_data: Vec::new(),
            }
            .write(&mut second);
            storage.set_len(0)?;
            storage.write_at(0, &first)?;
            storage.write_at(page_size as u64, &second)?;
            storage.sync_data()?;
            write_static_header(&mut first, options.page_size, 0);
            storage.write_at(0, &first[..crate::os::SECTOR_SIZE])?;
            storage.sync_data()?;
            Ok(())
        })();
        let _ = storage.unlock_writer();
        result
    }

    /// Chooses the commit to open: the valid slot with the higher txn whose commit window
    /// verifies, else the other valid slot.
    ///
    /// If a commit fails to verify (neither, or only the newer), the slots are read again:
    /// a writer in another process may have committed meanwhile, reused pages the commit
    /// read first had written (once two newer commits are in the slots, nothing pins it),
    /// or, under vacuum, cut the file below its page count. That commit was superseded, not
    /// lost. Only when the slots stay the same is the commit rolled back (or the file
    /// corrupt).
    fn recover(&self) -> Result<CommitState> {
        const ATTEMPTS: usize = 8;
        let mut candidates = self.read_candidates()?;
        for attempt in 1..=ATTEMPTS {
            let mut report = RecoveryReport::default();
            let mut rejected = Vec::new();
            let chosen = self.choose(&candidates, &mut report, &mut rejected)?;
            if (chosen.is_err() || !report.rolled_back.is_empty()) && attempt < ATTEMPTS {
                let again = self.read_candidates()?;
                if !same_slots(&again, &candidates) {
                    candidates = again;
                    continue;
                }
            }
            if let Ok(state) = &chosen {
                self.report_damaged_slots(&candidates, state, &mut report)?;
            }
            *self.recovery.lock().expect("recovery lock") = report;
            self.rejected
                .lock()
                .expect("rejected lock")
                .extend(rejected);
            return chosen;
        }
        unreachable!("the last attempt returns")
    }

    /// Validates `candidates`, newest first, and returns the first valid one (`Ok(Err)`
    /// if none is; `Err` for an I/O error). Rolled-back commits go to `report` and
    /// `rejected`.
    fn choose(
        &self,
        candidates: &[Candidate],
        report: &mut RecoveryReport,
        rejected: &mut Vec<Rejected>,
    ) -> Result<Result<CommitState>> {
        let mut sorted: Vec<&Candidate> = candidates.iter().collect();
        sorted.sort_by_key(|c| std::cmp::Reverse(c.state.txn()));
        let mut last_error = Error::corrupt_file(CorruptionKind::NoValidCommit);
        for c in sorted {
            match self.validate(&c.state) {
                Ok(()) => {
                    report.opened_txn = c.state.txn().0;
                    return Ok(Ok(c.state.clone()));
                }
                Err(e @ Error::Io(_)) => return Err(e),
                Err(e) => {
                    let commit = RolledBackCommit {
                        slot: c.state.slot_index,
                        txn: c.state.txn().0,
                        durable: c.state.slot.durable,
                        written_at_ms: c.state.slot.time_ms,
                        verified: true,
                        reason: format!("a page it wrote failed to verify ({e})"),
                    };
                    report.rolled_back.push(commit);
                    rejected.push(Rejected {
                        slot_index: c.state.slot_index,
                        txn: c.state.txn(),
                        slot_crc: c.state.slot_crc,
                    });
                    last_error = e;
                }
            }
        }
        Ok(Err(last_error))
    }

    /// Adds to `report` each header page whose slot did not verify at all: torn by a
    /// crash as it was written, or damaged since.
    ///
    /// Whether such a slot held a newer commit follows from the opened one, not from what
    /// the damaged slot claims (a flipped bit may make a newer commit claim an older txn).
    /// A non-durable opened commit was written into the slot that did not hold the last
    /// durable one, and so is every commit after it until the next durable one: the other
    /// slot holds that older durable commit, and its damage lost nothing. After a durable
    /// opened commit the next commit goes to the other slot, so a damaged other slot may
    /// have held it: reported as rolled back. A slot never written (slot A of a new file)
    /// is not damage, nor is a slot another process has rewritten since.
    fn report_damaged_slots(
        &self,
        candidates: &[Candidate],
        opened: &CommitState,
        report: &mut RecoveryReport,
    ) -> Result<()> {
        for index in 0..2u32 {
            if candidates.iter().any(|c| c.state.slot_index == index) {
                continue;
            }
            let page = match self.read_page_raw(PageId(index)) {
                Ok(page) => page,
                Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    report.notes.push(format!("header page {index} is missing"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let header = read_static_header(&page, PageId(index));
            let why = match (&header, Slot::read(&page, PageId(index))) {
                (Ok(_), Ok(_)) => continue, // rewritten by another process meanwhile
                (Err(e), _) => format!("its header page failed to verify ({})", kind_of(e)),
                (Ok(_), Err(e)) => format!("its slot failed to verify ({})", kind_of(&e)),
            };
            let claimed = Slot::claimed(&page);
            if claimed.is_none() && header.is_ok() {
                continue; // never written
            }
            if !opened.is_durable() {
                report.notes.push(format!(
                    "slot {index} holds the last durable commit before the opened one, and \
                     {why}; nothing was lost (the next durable commit rewrites it)"
                ));
                continue;
            }
            let next = TxnId(opened.txn().0.saturating_add(1));
            let (txn, durable, written_at_ms, claim) = match claimed {
                Some((txn, durable, time_ms)) if txn >= next => {
                    (txn, durable, time_ms, String::new())
                }
                // The claim cannot be right for a newer commit: name the commit that
                // would have followed, and count it as durable (the worse case).
                Some((txn, _, time_ms)) => (
                    next,
                    true,
                    time_ms,
                    format!("; it claims commit {}, which cannot be trusted", txn.0),
                ),
                None => (next, true, opened.slot.time_ms, String::new()),
            };
            report.rolled_back.push(RolledBackCommit {
                slot: index,
                txn: txn.0,
                durable,
                written_at_ms,
                verified: false,
                reason: format!(
                    "{why}{claim}: torn by a crash while it was written, or damaged since \
                     (if it held the commit before the opened one instead, nothing was lost)"
                ),
            });
        }
        report.rolled_back.sort_by_key(|c| std::cmp::Reverse(c.txn));
        Ok(())
    }

    /// Reads both header pages and returns the slots whose checksums verify.
    fn read_candidates(&self) -> Result<Vec<Candidate>> {
        let mut out = Vec::with_capacity(2);
        for index in 0..2u32 {
            let page = match self.read_page_raw(PageId(index)) {
                Ok(page) => page,
                Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => continue,
                Err(e) => return Err(e),
            };
            if let Some((candidate, _)) = self.candidate(index, &page)? {
                out.push(candidate);
            }
        }
        Ok(out)
    }

    /// The slot of header page `index`, first read as `page`, if it verifies; and whether
    /// it verified as first read (rather than after waiting for a writer to finish it).
    pub(super) fn candidate(&self, index: u32, page: &[u8]) -> Result<Option<(Candidate, bool)>> {
        match read_static_header(page, PageId(index)) {
            Ok(_) => {}
            // A header that verifies but names a newer version was written by a newer
            // brooklet: its slot may hold state this build cannot read (pending
            // entries in version 4, say). Falling back to the other slot would lose
            // that commit, and a write would overwrite it: refuse the file instead.
            Err(
                e @ Error::Corrupt {
                    kind: CorruptionKind::UnsupportedVersion(_),
                    ..
                },
            ) => return Err(e),
            // Torn or damaged: the other slot decides.
            Err(_) => return Ok(None),
        }
        Ok(self
            .read_slot_settled(index, page)?
            .map(|(slot, slot_crc, as_read)| {
                let state = CommitState {
                    slot_index: index,
                    slot_crc,
                    slot,
                };
                (Candidate { state }, as_read)
            }))
    }

    /// Decodes the slot of header page `index`, first read as `first`. A slot that fails
    /// its checksum may be mid-write by a writer in another process (non-durable commits
    /// rewrite the same slot), so it is read again for up to about a millisecond before it
    /// counts as invalid. Slot contents already known to be invalid (a slot torn by a
    /// crash, until the next commit rewrites it) are remembered and not waited for again.
    /// Returns the slot, its page's slot CRC, and whether `first` was the page decoded.
    fn read_slot_settled(&self, index: u32, first: &[u8]) -> Result<Option<(Slot, u32, bool)>> {
        const RETRIES: u32 = 20;
        let slot_index = index as usize;
        let mut again: Option<Vec<u8>> = None;
        for attempt in 0..=RETRIES {
            let page = again.as_deref().unwrap_or(first);
            if let Ok(slot) = Slot::read(page, PageId(index)) {
                return Ok(Some((slot, slot_crc(page), again.is_none())));
            }
            let raw = crc32c::crc32c(&page[STATIC_HEADER_SIZE..]);
            let mut known = self.invalid_slots.lock().expect("invalid slots lock");
            if known[slot_index] == Some(raw) {
                return Ok(None);
            }
            if attempt == RETRIES {
                known[slot_index] = Some(raw);
                return Ok(None);
            }
            drop(known);
            std::thread::sleep(std::time::Duration::from_micros(50));
            again = Some(self.read_page_raw(PageId(index))?);
        }
        Ok(None)
    }

    /// The best slot for a reader: the higher valid txn not rejected by recovery.
    pub(super) fn read_best_slot(&self) -> Result<CommitState> {
        let rejected = self.rejected.lock().expect("rejected lock").clone();
        best_of(self.read_candidates()?, &rejected)
    }

    /// Under the writer lock: the state to build on. A slot rejected at recovery that now
    /// verifies (rewritten by another process with equal bytes) is accepted again.
    pub(super) fn refresh_for_writer(&self) -> Result<Arc<CommitState>> {
        let rejected = self.rejected.lock().expect("rejected lock").clone();
        if rejected.is_empty() {
            // The common case: nothing to accept again, so the slots are read once.
            return self.latest();
        }
        let candidates = self.read_candidates()?;
        for c in &candidates {
            let key = Rejected {
                slot_index: c.state.slot_index,
                txn: c.state.txn(),
                slot_crc: c.state.slot_crc,
            };
            if rejected.contains(&key) && self.validate(&c.state).is_ok() {
                self.rejected
                    .lock()
                    .expect("rejected lock")
                    .retain(|r| *r != key);
            }
        }
        self.latest()
    }

    /// Checks one commit: page count against the file, the free list, the journal and
    /// every page the journal lists.
    fn validate(&self, state: &CommitState) -> Result<()> {
        let slot = &state.slot;
        let file_pages = self.storage.len()? / u64::from(self.page_size);
        if u64::from(slot.page_count) > file_pages || slot.page_count < 2 {
            return Err(Error::corrupt_file(CorruptionKind::Truncated {
                expected_pages: slot.page_count,
                actual_pages: file_pages,
            }));
        }
        self.check_journal_entries(self.entries_to_verify(slot)?, slot.page_count)?;
        // Pending data lies in data pages of the commit: past the header pages, inside
        // its page count.
        let page_size = u64::from(self.page_size);
        let end = u64::from(slot.page_count) * page_size;
        if slot
            .pending_data
            .iter()
            .any(|run| run.at < 2 * page_size || run.end() > end)
        {
            return Err(Error::corrupt_file(CorruptionKind::Invalid(
                "pending data outside the file's data pages",
            )));
        }
        Ok(())
    }

    /// The journal entries a commit's validity rests on: the newest entry of each page
    /// written in its window, except pages the commit holds as free (they carry no meaning
    /// for it) and pages of its own metadata blobs (free list, journal, window chain),
    /// which are verified through their pointers. A page reused within the window for a
    /// metadata blob keeps an older, stale entry; skipping it is what makes that reuse safe.
    pub(crate) fn entries_to_verify(&self, slot: &Slot) -> Result<Vec<JournalEntry>> {
        let free = self.load_free_list(slot)?;
        let mut meta: Vec<FreeExtent> = Vec::new();
        let mut add = |ptr: BlobPtr| {
            meta.push(FreeExtent {
                first: ptr.first.0,
                count: ptr.page_count,
                freed: crate::page::TxnId(0),
            });
        };
        if let Some(ptr) = slot.freelist {
            add(ptr);
        }
        if let Journal::Blob { ptr, .. } = slot.journal {
            add(ptr);
        }
        for (node, _) in self.window_nodes(slot)? {
            add(node);
        }
        meta.sort_by_key(|e| e.first);
        Ok(newest_entries(self.commit_window(slot)?)
            .into_iter()
            .filter(|e| !is_free(&free, e.page) && !is_free(&meta, e.page))
            .collect())
    }

    /// Every journal entry of a commit's window, newest first: its own journal, then the
    /// window chain of earlier commits since the last durable one.
    pub(crate) fn commit_window(&self, slot: &Slot) -> Result<Vec<JournalEntry>> {
        let mut entries = self.load_journal(slot)?;
        for (_, node_entries) in self.window_nodes(slot)? {
            entries.extend(node_entries);
        }
        Ok(entries)
    }

    /// The window chain of a commit: each node's pointer and entries, newest first. The
    /// walk is bounded by the commit count the slot records.
    pub(crate) fn window_nodes(&self, slot: &Slot) -> Result<Vec<(BlobPtr, Vec<JournalEntry>)>> {
        let mut out = Vec::new();
        let mut next = slot.window;
        while let Some(ptr) = next {
            if out.len() >= slot.window_commits as usize {
                return Err(Error::corrupt(ptr.first, CorruptionKind::Cycle));
            }
            let bytes = self.read_blob_checked(ptr, slot.page_count)?;
            let (prev, entries) = decode_window_node(&bytes)?;
            out.push((ptr, entries));
            next = prev;
        }
        Ok(out)
    }

    /// Checks journal entries as [`Pager::check_journal_entry`] does, reading each run of
    /// adjacent pages (up to 256) in one call: a window is mostly runs of data pages.
    /// Returns the first failure, in page order.
    fn check_journal_entries(&self, mut entries: Vec<JournalEntry>, page_count: u32) -> Result<()> {
        const RUN_PAGES: usize = 256;
        entries.sort_unstable_by_key(|e| e.page);
        let page_size = self.page_size as usize;
        let mut buf = Vec::new();
        for run in entries.chunk_by(|a, b| a.page.0.checked_add(1) == Some(b.page.0)) {
            for part in run.chunks(RUN_PAGES) {
                let (first, last) = (part[0].page, part[part.len() - 1].page);
                if first.0 < 2 || last.0 >= page_count {
                    // Out of range: the one-page check names the page.
                    for entry in part {
                        self.check_journal_entry(*entry, page_count)?;
                    }
                    continue;
                }
                buf.resize(part.len() * page_size, 0);
                self.read_checked(first, self.offset_of(first), &mut buf)?;
                for (entry, page) in part.iter().zip(buf.chunks_exact(page_size)) {
                    check_prefix(*entry, page)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn check_journal_entry(&self, entry: JournalEntry, page_count: u32) -> Result<()> {
        if entry.page.0 < 2 || entry.page.0 >= page_count {
            return Err(Error::corrupt(
                entry.page,
                CorruptionKind::PageOutOfRange(entry.page.0),
            ));
        }
        check_prefix(entry, &self.read_page_checked(entry.page)?)
    }

    /// Reads and verifies a blob.
    pub(super) fn read_blob_checked(&self, ptr: BlobPtr, page_count: u32) -> Result<Vec<u8>> {
        ptr.validate(self.page_size)?;
        if u64::from(ptr.first.0) + u64::from(ptr.page_count) > u64::from(page_count) {
            return Err(Error::corrupt(
                ptr.first,
                CorruptionKind::PageOutOfRange(ptr.first.0),
            ));
        }
        let mut buf = vec![0u8; ptr.len as usize];
        self.read_checked(ptr.first, self.offset_of(ptr.first), &mut buf)?;
        let actual = crc32c::crc32c(&buf);
        if actual != ptr.crc {
            return Err(Error::corrupt(
                ptr.first,
                CorruptionKind::Checksum {
                    expected: ptr.crc,
                    actual,
                },
            ));
        }
        Ok(buf)
    }

    /// The free list of a commit.
    pub(crate) fn load_free_list(&self, slot: &Slot) -> Result<Vec<FreeExtent>> {
        match slot.freelist {
            None if slot.freelist_inline.is_empty() => Ok(Vec::new()),
            None => decode_free_list(&slot.freelist_inline, slot.page_count, PageId(0)),
            Some(ptr) => {
                let bytes = self.read_blob_checked(ptr, slot.page_count)?;
                decode_free_list(&bytes, slot.page_count, ptr.first)
            }
        }
    }

    /// The journal window of a commit.
    pub(crate) fn load_journal(&self, slot: &Slot) -> Result<Vec<JournalEntry>> {
        match &slot.journal {
            Journal::Inline(entries) => Ok(entries.clone()),
            Journal::Blob { ptr, count } => {
                let bytes = self.read_blob_checked(*ptr, slot.page_count)?;
                if bytes.len() != *count as usize * slot::JOURNAL_ENTRY_SIZE {
                    return Err(Error::corrupt(ptr.first, CorruptionKind::BadLength));
                }
                decode_journal(&bytes, *count)
            }
        }
    }

    /// The writer's view of `state`: its free list and its own journal (which the next
    /// commit moves into the window chain), from the cache when the state is the one this
    /// process committed last.
    pub(super) fn load_writer_cache(&self, state: &CommitState) -> Result<WriterView> {
        let mut cache = self.writer_cache.lock().expect("writer cache lock");
        if let Some(c) = cache.as_ref()
            && c.txn == state.txn()
            && c.slot_crc == state.slot_crc
        {
            return Ok((c.free.clone(), c.own.clone(), c.born.clone(), c.settled));
        }
        let free = self.load_free_list(&state.slot)?;
        let own = self.load_journal(&state.slot)?;
        let born = if state.is_durable() {
            HashSet::new()
        } else {
            self.commit_window(&state.slot)?
                .into_iter()
                .filter(|e| e.allocated)
                .map(|e| e.page)
                .collect()
        };
        *cache = Some(WriterCache {
            txn: state.txn(),
            slot_crc: state.slot_crc,
            free: free.clone(),
            own: own.clone(),
            born: born.clone(),
            settled: false,
        });
        Ok((free, own, born, false))
    }

    /// Remembers the free list and own journal of the commit just made.
    pub(super) fn store_writer_cache(
        &self,
        state: &CommitState,
        free: Vec<FreeExtent>,
        own: Vec<JournalEntry>,
        born: HashSet<PageId>,
    ) {
        *self.writer_cache.lock().expect("writer cache lock") = Some(WriterCache {
            txn: state.txn(),
            slot_crc: state.slot_crc,
            free,
            own,
            born,
            settled: false,
        });
    }

    /// Marks the commit this handle just wrote, `state`, as the no-op follow-up of a
    /// durable commit (see `commit.rs`, *The follow-up commit*): nothing changed since
    /// that durable commit, so a durable commit on it has nothing to add.
    pub(super) fn mark_settled(&self, state: &CommitState) {
        if let Some(c) = self
            .writer_cache
            .lock()
            .expect("writer cache lock")
            .as_mut()
            && c.txn == state.txn()
            && c.slot_crc == state.slot_crc
        {
            c.settled = true;
        }
    }

    /// True if `state` is durable, or is the no-op follow-up of a durable commit that this
    /// handle wrote last: nothing a power cut could lose.
    pub(super) fn is_settled(&self, state: &CommitState) -> bool {
        state.is_durable()
            || self
                .writer_cache
                .lock()
                .expect("writer cache lock")
                .as_ref()
                .is_some_and(|c| c.txn == state.txn() && c.slot_crc == state.slot_crc && c.settled)
    }
}

/// Checks the CRC of the prefix of `page` that a journal `entry` covers.
fn check_prefix(entry: JournalEntry, page: &[u8]) -> Result<()> {
    let prefix = page
        .get(..entry.len as usize)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Error::corrupt(entry.page, CorruptionKind::BadLength))?;
    let actual = crc32c::crc32c(prefix);
    if actual == entry.crc {
        Ok(())
    } else {
        Err(Error::corrupt(
            entry.page,
            CorruptionKind::Checksum {
                expected: entry.crc,
                actual,
            },
        ))
    }
}

/// What was wrong, without the "file is corrupt at page N" around it.
fn kind_of(err: &Error) -> String {
    match err {
        Error::Corrupt { kind, .. } => kind.to_string(),
        other => other.to_string(),
    }
}

/// True if two reads of the header pages found the same commits.
fn same_slots(a: &[Candidate], b: &[Candidate]) -> bool {
    let key = |c: &Candidate| (c.state.slot_index, c.state.txn(), c.state.slot_crc);
    a.len() == b.len() && a.iter().map(key).eq(b.iter().map(key))
}

/// The newest entry of each page, from entries ordered newest first. A page written by
/// several commits of a window (reused, or appended to) is valid if its newest write is.
pub(crate) fn newest_entries(entries: Vec<JournalEntry>) -> Vec<JournalEntry> {
    let mut seen = HashSet::new();
    entries
        .into_iter()
        .filter(|e| seen.insert(e.page))
        .collect()
}

/// The writer's view of a commit: free list, own journal, pages born in its window.
pub(super) type WriterView = (Vec<FreeExtent>, Vec<JournalEntry>, HashSet<PageId>, bool);

/// True if `page` lies in one of the sorted free extents.
pub(crate) fn is_free(free: &[FreeExtent], page: PageId) -> bool {
    let i = free.partition_point(|e| e.first <= page.0);
    i > 0 && u64::from(page.0) < u64::from(free[i - 1].first) + u64::from(free[i - 1].count)
}

/// The CRC field of the slot in a header page (valid only after `Slot::read` succeeded).
/// The best of `candidates` for a reader: the higher valid txn not in `rejected`.
pub(super) fn best_of(candidates: Vec<Candidate>, rejected: &[Rejected]) -> Result<CommitState> {
    candidates
        .into_iter()
        .map(|c| c.state)
        .filter(|s| {
            !rejected.contains(&Rejected {
                slot_index: s.slot_index,
                txn: s.txn(),
                slot_crc: s.slot_crc,
            })
        })
        .max_by_key(CommitState::txn)
        .ok_or_else(|| Error::corrupt_file(CorruptionKind::NoValidCommit))
}

pub(super) fn slot_crc(page: &[u8]) -> u32 {
    let (fixed, _) = format::SlotFixed::ref_from_prefix(&page[STATIC_HEADER_SIZE..])
        .expect("a slot that was read holds its fixed part");
    fixed.crc.get()
}

/// True for an empty file, or one whose creation was cut short: the first sector of page 0
/// is all zero (creation writes it last, and no later write changes it) and page 1 holds no
/// valid commit at any page size.
fn is_uninitialized(storage: &dyn Storage) -> Result<bool> {
    let len = storage.len()?;
    if len == 0 {
        return Ok(true);
    }
    let mut first =
        vec![0u8; crate::os::SECTOR_SIZE.min(usize::try_from(len).unwrap_or(usize::MAX))];
    storage.read_at(0, &mut first)?;
    if first.iter().any(|&b| b != 0) {
        return Ok(false);
    }
    for size in (9..=16).map(|shift| 1u32 << shift) {
        let mut page = vec![0u8; size as usize];
        if storage.read_at(u64::from(size), &mut page).is_ok()
            && read_static_header(&page, PageId(1)).is_ok_and(|s| s == size)
            && Slot::read(&page, PageId(1)).is_ok()
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reads the page size from whichever header page verifies.
fn read_page_size(storage: &dyn Storage) -> Result<u32> {
    let len = storage.len()?;
    let mut first = vec![0u8; STATIC_HEADER_SIZE];
    if len < STATIC_HEADER_SIZE as u64 {
        return Err(Error::corrupt(PageId(0), CorruptionKind::BadMagic));
    }
    storage.read_at(0, &mut first)?;
    let primary = read_static_header(&first, PageId(0));
    let page_size = match primary {
        Ok(size) => size,
        Err(e) => {
            // Page 0 may be torn; page 1's header holds the same static fields. Try every
            // page size at which page 1 could start.
            let found = (9..=16).map(|shift| 1u32 << shift).find(|&size| {
                let mut second = vec![0u8; STATIC_HEADER_SIZE];
                storage.read_at(u64::from(size), &mut second).is_ok()
                    && matches!(read_static_header(&second, PageId(1)), Ok(s) if s == size)
            });
            found.ok_or(e)?
        }
    };
    if len < 2 * u64::from(page_size) {
        return Err(Error::corrupt_file(CorruptionKind::Truncated {
            expected_pages: 2,
            actual_pages: len / u64::from(page_size),
        }));
    }
    Ok(page_size)
}
