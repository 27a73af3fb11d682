//! The whole-file integrity check (contract item 15): every page in `2..page_count` is
//! reachable exactly once or free, every checksum verifies, every B-tree is ordered and
//! well formed, and the last commit's journal window matches the pages on disk.
//!
//! The check reads one pinned snapshot ([`Engine::begin_read_pinned`]): writers in every
//! process go on, but none reuses or cuts a page the snapshot can reach until it ends.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use super::Engine;
use super::ReadTransaction;
use super::txn::{EXTENTS_TREE, decode_extent_key, decode_extent_len, decode_root};
use crate::btree::{self, PageUse};
use crate::error::{Error, PageId, Result};
use crate::page::BlobPtr;
use crate::page::slot::Journal;
use crate::pager::{Pager, ReadTxn};

/// One problem found by [`Admin::check`](crate::Admin::check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The page concerned, where one is known.
    pub page: Option<PageId>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.page {
            Some(p) => write!(f, "{p}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

/// What [`Admin::check`](crate::Admin::check) found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The file's page size.
    pub page_size: u32,
    /// The committed page count (pages `0..page_count` are in use or free).
    pub page_count: u32,
    /// The commit that was checked.
    pub txn: u64,
    /// Pages by what holds them: `header`, `branch`, `leaf`, `overflow`, `free-list`,
    /// `journal`, `free`.
    pub pages_by_kind: BTreeMap<&'static str, u64>,
    /// Number of named trees.
    pub tree_count: u64,
    /// Number of entries across all named trees.
    pub entry_count: u64,
    /// Everything found wrong. Empty for a clean file.
    pub problems: Vec<Problem>,
    /// What recovery did when the file was opened by this handle (see
    /// [`Brooklet::recovery_report`](crate::Brooklet::recovery_report)): not problems of the file as it is now, but commits
    /// that were lost before it.
    pub recovery: crate::RecoveryReport,
}

impl CheckReport {
    /// True when no problem was found.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Free pages in the file.
    #[must_use]
    pub fn free_pages(&self) -> u64 {
        self.pages_by_kind.get("free").copied().unwrap_or(0)
    }
}

/// One bit per page: set once the page is accounted for (reachable or free). The check's
/// memory is this bitmap (`page_count / 8` bytes, 32 MiB per TiB at 4 KiB pages) plus an
/// amount bounded by the trees' depth and the commit slot; it never stores a page's kind.
struct PageBitmap {
    words: Vec<u64>,
    page_count: u64,
}

impl PageBitmap {
    fn new(page_count: u32) -> Self {
        let page_count = u64::from(page_count);
        let words = usize::try_from(page_count.div_ceil(64)).expect("a u32 page count fits");
        Self {
            words: vec![0; words],
            page_count,
        }
    }

    /// Where page `id`'s bit is: its word and mask. `id` is below the page count.
    fn at(&self, id: u64) -> (usize, u64) {
        assert!(id < self.page_count, "page {id} of {}", self.page_count);
        let word = usize::try_from(id / 64).expect("below a u32 page count");
        (word, 1 << (id % 64))
    }

    fn contains(&self, id: u64) -> bool {
        let (word, mask) = self.at(id);
        self.words[word] & mask != 0
    }

    /// Sets page `id`'s bit; true if it was clear.
    fn insert(&mut self, id: u64) -> bool {
        let (word, mask) = self.at(id);
        let clear = self.words[word] & mask == 0;
        self.words[word] |= mask;
        clear
    }

    /// The pages whose bit is clear, rising. Words with every bit set are skipped whole.
    fn clear_pages(&self) -> impl Iterator<Item = u64> + '_ {
        self.words
            .iter()
            .zip((0u64..).step_by(64))
            .filter(|&(&bits, _)| bits != u64::MAX)
            .flat_map(|(&bits, first)| {
                (0..64)
                    .filter(move |bit| bits & (1 << bit) == 0)
                    .map(move |bit| first + bit)
            })
            .take_while(|&id| id < self.page_count)
    }

    /// Bytes held on the heap.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.words.capacity() * size_of::<u64>()
    }
}

/// Tracks which pages have been accounted for. The first use of a page is counted under
/// its kind; a second use is a problem. Only a bit is kept per page, so the kind that
/// reached a page first is found again by a second walk ([`name_first_owners`]), made only
/// when some page was reached twice, as on a damaged file.
struct Marks {
    seen: PageBitmap,
    /// The pages the slot's pending data lies in, and whether a data extent reached each
    /// first (bounded: the pending data fits the commit slot).
    pending: BTreeMap<u64, bool>,
    /// Pages reached twice: the problem's index in the report, the page, the second kind.
    twice: Vec<(usize, u64, &'static str)>,
    /// Second walk only: the pages reached twice, and the kind that reached each first.
    first_owner: BTreeMap<u64, Option<&'static str>>,
    report: CheckReport,
}

impl Marks {
    fn new(page_count: u32, report: CheckReport) -> Self {
        Self {
            seen: PageBitmap::new(page_count),
            pending: BTreeMap::new(),
            twice: Vec::new(),
            first_owner: BTreeMap::new(),
            report,
        }
    }

    fn mark(&mut self, first: PageId, count: u32, kind: &'static str) {
        let end = u64::from(first.0) + u64::from(count);
        let page_count = self.seen.page_count;
        if end > page_count {
            // One problem for the whole run: a count read from disk may be near 2^32.
            self.problem(
                Some(first),
                format!(
                    "{kind} pages {}..{end} pass the end of the file ({page_count} pages)",
                    first.0
                ),
            );
        }
        // Empty, not reversed, when the run starts past the end (`range_mut` would panic).
        let last = end.min(page_count);
        let pages = u64::from(first.0).min(last)..last;
        if kind == "data" {
            for (&id, first_is_data) in self.pending.range_mut(pages.clone()) {
                if !self.seen.contains(id) {
                    *first_is_data = true;
                }
            }
        }
        for id in pages {
            if self.seen.insert(id) {
                *self.report.pages_by_kind.entry(kind).or_insert(0) += 1;
                if let Some(owner) = self.first_owner.get_mut(&id) {
                    owner.get_or_insert(kind);
                }
            } else {
                let page = PageId(u32::try_from(id).expect("below the page count"));
                self.twice.push((self.report.problems.len(), id, kind));
                self.problem(Some(page), twice_message(None, kind));
            }
        }
    }

    fn problem(&mut self, page: Option<PageId>, message: String) {
        self.report.problems.push(Problem { page, message });
    }

    fn error(&mut self, err: &Error) {
        let page = match err {
            Error::Corrupt { page, .. } => *page,
            _ => None,
        };
        self.problem(page, err.to_string());
    }
}

/// The problem of a page reached twice, the second time as `kind`.
fn twice_message(first: Option<&str>, kind: &str) -> String {
    match first {
        Some(first) => format!("used twice: as {first} and as {kind}"),
        None => format!("reached twice (now as {kind})"),
    }
}

impl Engine {
    /// Verifies the whole file and reports what it found; see [`CheckReport`].
    ///
    /// Returns `Err` only when the check itself cannot run (I/O error, busy writer);
    /// damage is reported in [`CheckReport::problems`].
    ///
    /// The check reads one pinned snapshot, so it sees one committed state while writers
    /// in other processes go on. Where the storage cannot pin for other processes
    /// ([`ReadTransaction::is_pinned`] is false), a check that found problems while the
    /// file moved on is run again, a few times, so that only problems of one committed
    /// state are reported.
    pub fn check(&self) -> Result<CheckReport> {
        self.check_with(|_, _| {})
    }

    /// [`Engine::check`], with `more` adding the checks of the layers above (the event
    /// log's partitions and groups) on the same pinned snapshot.
    pub(crate) fn check_with(
        &self,
        mut more: impl FnMut(&ReadTransaction, &mut CheckReport),
    ) -> Result<CheckReport> {
        const ATTEMPTS: usize = 4;
        let mut attempt = 0;
        loop {
            let read = self.begin_read_pinned()?;
            let mut report = check_snapshot(&self.pager, read.pager_txn());
            more(&read, &mut report);
            attempt += 1;
            if report.is_clean()
                || read.is_pinned()
                || attempt >= ATTEMPTS
                || self.latest_txn()? == read.txn_id()
            {
                return Ok(report);
            }
        }
    }
}

fn check_snapshot(pager: &Pager, read: &ReadTxn) -> CheckReport {
    let slot = &read.state().slot;
    let report = CheckReport {
        page_size: pager.page_size(),
        page_count: slot.page_count,
        txn: slot.txn.0,
        recovery: pager.recovery_report(),
        ..CheckReport::default()
    };
    let mut marks = Marks::new(slot.page_count, report);
    let page_size = u64::from(pager.page_size());
    for run in &slot.pending_data {
        for id in run.at / page_size..=(run.end() - 1) / page_size {
            marks.pending.insert(id, false);
        }
    }
    walk_pages(pager, read, &mut marks);
    // Pending data goes into data extents only.
    for run in &slot.pending_data {
        for id in run.at / page_size..=(run.end() - 1) / page_size {
            if marks.pending.get(&id) != Some(&true) {
                let page = PageId(u32::try_from(id).unwrap_or(u32::MAX));
                marks.problem(
                    Some(page),
                    "pending data in the slot for a page outside every data extent".to_owned(),
                );
            }
        }
    }
    let leaked = marks.seen.clear_pages().map(|id| Problem {
        page: Some(PageId(u32::try_from(id).expect("page index fits u32"))),
        message: "neither reachable nor free".to_owned(),
    });
    marks.report.problems.extend(leaked);
    if !marks.twice.is_empty() {
        name_first_owners(pager, read, &mut marks);
    }
    marks.report
}

/// Marks every page the snapshot reaches: the header, the free list, the journal, the
/// master tree, every named tree and every data extent, always in the same order.
fn walk_pages(pager: &Pager, read: &ReadTxn, marks: &mut Marks) {
    marks.mark(PageId(0), 2, "header");
    check_free_list(pager, read, marks);
    check_journal(pager, read, marks);
    check_tree(read, read.state().slot.master_root, marks);
    for (name, root) in master_entries(read, marks) {
        if name == EXTENTS_TREE {
            mark_extents(read, &root, marks);
            continue;
        }
        marks.report.tree_count += 1;
        match decode_root(&root) {
            Ok(ptr) => {
                let entries = check_tree(read, Some(ptr), marks);
                marks.report.entry_count += entries;
            }
            Err(e) => marks.problem(None, format!("tree {name:?}: bad root pointer: {e}")),
        }
    }
}

/// Names the kind that first reached each page reached twice, by walking the snapshot
/// again in the same order with a fresh bitmap. Runs only on a damaged file; it holds one
/// entry per page reached twice, as the report already holds one problem per such page.
fn name_first_owners(pager: &Pager, read: &ReadTxn, marks: &mut Marks) {
    let mut again = Marks::new(marks.report.page_count, CheckReport::default());
    again.first_owner = marks.twice.iter().map(|&(_, id, _)| (id, None)).collect();
    walk_pages(pager, read, &mut again);
    for (index, id, kind) in std::mem::take(&mut marks.twice) {
        let first = again.first_owner.get(&id).copied().flatten();
        marks.report.problems[index].message = twice_message(first, kind);
    }
}

/// Walks one tree, marking its pages and recording its problems; returns its entry count.
fn check_tree(read: &ReadTxn, root: Option<crate::page::NodePtr>, marks: &mut Marks) -> u64 {
    let mut problems = Vec::new();
    let stats = btree::check_tree(
        read,
        root,
        &mut |page, count, usage| {
            let kind = match usage {
                PageUse::Leaf => "leaf",
                PageUse::Branch => "branch",
                PageUse::Blob => "overflow",
            };
            marks.mark(page, count, kind);
        },
        &mut problems,
    );
    for p in &problems {
        marks.error(p);
    }
    stats.entries
}

/// The master tree's entries: tree names and encoded roots.
fn master_entries(read: &ReadTxn, marks: &mut Marks) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let all: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Unbounded);
    for item in btree::range(read, read.master_root(), all) {
        match item {
            Ok((name, value)) => out.push((String::from_utf8_lossy(&name).into_owned(), value)),
            Err(e) => {
                marks.error(&e);
                break;
            }
        }
    }
    out
}

/// Walks the extents tree and marks every data extent.
fn mark_extents(read: &ReadTxn, root: &[u8], marks: &mut Marks) {
    let root = match decode_root(root) {
        Ok(root) => root,
        Err(e) => return marks.error(&e),
    };
    check_tree(read, Some(root), marks);
    let all: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Unbounded);
    for item in btree::range(read, Some(root), all) {
        let parsed = item.and_then(|(key, value)| {
            let first = decode_extent_key(&key)?;
            Ok((first, decode_extent_len(&value, first)?))
        });
        match parsed {
            Ok((first, count)) => marks.mark(first, count, "data"),
            Err(e) => {
                marks.error(&e);
                break;
            }
        }
    }
}

fn check_free_list(pager: &Pager, read: &ReadTxn, marks: &mut Marks) {
    let slot = &read.state().slot;
    if let Some(ptr) = slot.freelist {
        mark_blob(ptr, "free-list", marks);
    }
    match pager.load_free_list(slot) {
        Ok(extents) => {
            for e in extents {
                marks.mark(PageId(e.first), e.count, "free");
            }
        }
        Err(e) => marks.error(&e),
    }
}

fn check_journal(pager: &Pager, read: &ReadTxn, marks: &mut Marks) {
    let slot = &read.state().slot;
    if let Journal::Blob { ptr, .. } = slot.journal {
        mark_blob(ptr, "journal", marks);
    }
    match pager.window_nodes(slot) {
        Ok(nodes) => {
            for (node, _) in nodes {
                mark_blob(node, "journal", marks);
            }
        }
        Err(e) => return marks.error(&e),
    }
    match pager.entries_to_verify(slot) {
        Ok(entries) => {
            for entry in entries {
                if let Err(e) = pager.check_journal_entry(entry, slot.page_count) {
                    marks.error(&e);
                }
            }
        }
        Err(e) => marks.error(&e),
    }
}

fn mark_blob(ptr: BlobPtr, kind: &'static str, marks: &mut Marks) {
    marks.mark(ptr.first, ptr.page_count, kind);
}

#[cfg(test)]
mod tests {
    use super::{CheckReport, Marks, PageBitmap};
    use crate::engine::txn::{EXTENTS_TREE, encode_extent_len};
    use crate::engine::{Engine, EngineOptions};
    use crate::error::PageId;
    use crate::os::{MemStorage, Storage};
    use crate::pager::Durability;
    use std::sync::Arc;

    #[test]
    fn the_marks_hold_one_bit_per_page() {
        for page_count in [0u32, 1, 63, 64, 65, 1 << 20, 10_000_019] {
            let mut marks = Marks::new(page_count, CheckReport::default());
            let bytes = usize::try_from(page_count.div_ceil(64) * 8).expect("fits");
            assert_eq!(marks.seen.heap_bytes(), bytes, "{page_count} pages");
            assert!(bytes <= usize::try_from(page_count / 8 + 8).expect("fits"));
            // Marking every page allocates nothing more: no kind is kept per page.
            marks.mark(PageId(0), page_count, "free");
            assert_eq!(marks.seen.heap_bytes(), bytes);
            assert_eq!(marks.twice.capacity(), 0);
            assert!(marks.first_owner.is_empty() && marks.pending.is_empty());
            assert_eq!(marks.seen.clear_pages().count(), 0);
            let free = marks.report.pages_by_kind.get("free").copied();
            assert_eq!(free.unwrap_or(0), u64::from(page_count));
        }
        // A run from past the end marks nothing, with pending data or without.
        let mut marks = Marks::new(10, CheckReport::default());
        marks.pending.insert(3, false);
        marks.mark(PageId(20), 5, "data");
        assert_eq!(marks.seen.clear_pages().count(), 10);
        assert_eq!(
            marks.report.problems.len(),
            1,
            "{:?}",
            marks.report.problems
        );
        // 1 TiB of 4 KiB pages: 2^28 pages, 32 MiB of bits.
        let tib = PageBitmap::new(1 << 28);
        assert_eq!(tib.heap_bytes(), 32 << 20);
    }

    #[test]
    fn the_bitmap_finds_the_pages_left_clear() {
        let mut bits = PageBitmap::new(200);
        for id in (0..200).filter(|id| id % 7 != 3) {
            assert!(bits.insert(id));
        }
        assert!(!bits.insert(0), "a page is set once");
        let clear: Vec<u64> = bits.clear_pages().collect();
        let want: Vec<u64> = (0..200).filter(|id| id % 7 == 3).collect();
        assert_eq!(clear, want);
    }

    #[test]
    fn a_page_reached_twice_is_named_with_both_kinds() {
        let options = EngineOptions {
            page_size: 512,
            ..EngineOptions::default()
        };
        let storage: Arc<dyn Storage> = Arc::new(MemStorage::new());
        let engine = Engine::open_storage(storage, &options).expect("open");
        let mut w = engine.begin_write().expect("write");
        for i in 0u16..200 {
            w.insert("t", &i.to_be_bytes(), &[7; 40]).expect("insert");
        }
        w.commit(Durability::Immediate).expect("commit");
        let clean = engine.check().expect("check");
        assert!(clean.is_clean(), "{:?}", clean.problems);
        // A data extent over pages that trees, the journal or the free list hold.
        let mut w = engine.begin_write().expect("write");
        let first: u32 = 2;
        let count = clean.page_count - first;
        w.insert(
            EXTENTS_TREE,
            &first.to_be_bytes(),
            &encode_extent_len(count),
        )
        .expect("insert extent");
        w.commit(Durability::Immediate).expect("commit");
        let report = engine.check().expect("check");
        let twice: Vec<&str> = report
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .filter(|m| m.contains("twice"))
            .collect();
        assert!(!twice.is_empty(), "{:?}", report.problems);
        for message in &twice {
            assert!(message.starts_with("used twice: as "), "{message}");
        }
        let counted: u64 = report.pages_by_kind.values().sum();
        assert_eq!(
            counted,
            u64::from(report.page_count),
            "each page counted once"
        );
    }
}
