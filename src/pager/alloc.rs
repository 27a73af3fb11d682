//! Free pages and their safe reuse (the pager's free list).
//!
//! The free list is a sorted list of extents (runs of contiguous free pages), each tagged
//! with the transaction that freed it. It is stored as a blob of 16-byte entries
//! (`first page u32, page count u32, freeing txn u64`, little-endian), sorted by first page,
//! non-overlapping; adjacent extents with equal tags are merged.
//!
//! Reuse rule (contract item 13): a page freed by transaction `T` may be written again only
//! when `T <= bound`, where `bound` is the smaller of
//! - the last durable commit, which a crash may fall back to, and which can still reach
//!   every page freed after it; and
//! - the oldest snapshot still read in this process.
//!
//! Window-local pages are the exception: pages allocated *and* freed after the last
//! durable commit, which that commit therefore cannot reach. Their tag carries
//! [`WINDOW_LOCAL`] (bit 63), and they are reusable once no snapshot of this process is older
//! than the commit that freed them, without waiting for a durable commit. (Recovery checks
//! only the newest journal entry of each page, so a reused page's older entry does not
//! matter.) Without this, a long run of non-durable commits could reuse nothing.
//!
//! Readers in other processes are not tracked: they meet a reused page as a checksum
//! mismatch against the parent pointer and retry from a fresh snapshot.
//!
//! Pages allocated and freed inside one transaction were never reachable from a commit, so
//! they are tagged with txn 0 and reusable at once. At commit, extents already reusable
//! under the bound are relabelled 0 and merged ([`Allocator::settle`]): no later snapshot
//! or fallback commit can reach them, so the label carries no more information.
//!
//! Vacuum adds two things. A *ceiling* ([`Allocator::set_ceiling`]) makes allocations
//! prefer reusable pages wholly below it, so pages copied off the end of the file land low;
//! and [`Allocator::take_reusable_tail`] lowers the page count past a reusable free extent
//! that ends the file, so a commit can give those pages back to the operating system.

use crate::error::{CorruptionKind, Error, PageId, Result};
use zerocopy::{FromBytes as _, IntoBytes as _};

use crate::page::{TxnId, format};

/// Bit 63 of a free extent's tag: the pages are window-local (see the module docs).
pub(crate) const WINDOW_LOCAL: u64 = 1 << 63;

/// What may be reused now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReuseBound {
    /// Pages freed by commits up to this one are reusable: the smaller of the last durable
    /// commit and the oldest snapshot read in this process.
    pub durable: TxnId,
    /// Window-local pages freed by commits up to this one are reusable: the oldest snapshot
    /// read in this process, or the base commit.
    pub reader: TxnId,
}

impl ReuseBound {
    /// A bound under which every tag up to `txn` is reusable (tests, fresh files).
    #[cfg(test)]
    pub fn all(txn: TxnId) -> Self {
        Self {
            durable: txn,
            reader: txn,
        }
    }

    /// True if pages tagged `tag` may be written now.
    pub fn allows(self, tag: TxnId) -> bool {
        if tag.0 & WINDOW_LOCAL == 0 {
            tag <= self.durable
        } else {
            TxnId(tag.0 & !WINDOW_LOCAL) <= self.reader
        }
    }
}

/// Size of one encoded free extent.
pub(crate) const EXTENT_SIZE: usize = size_of::<format::FreeExtent>();

/// A run of free pages and the transaction that freed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FreeExtent {
    pub first: u32,
    pub count: u32,
    pub freed: TxnId,
}

impl FreeExtent {
    fn end(self) -> u64 {
        u64::from(self.first) + u64::from(self.count)
    }

    fn to_disk(self) -> format::FreeExtent {
        format::FreeExtent {
            first_page: self.first.into(),
            page_count: self.count.into(),
            tag: self.freed.0.into(),
        }
    }

    fn from_disk(raw: &format::FreeExtent) -> Self {
        Self {
            first: raw.first_page.get(),
            count: raw.page_count.get(),
            freed: TxnId(raw.tag.get()),
        }
    }
}

/// Free pages an allocation may take: part of the extent at `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    index: usize,
    first: u32,
    count: u32,
}

/// Pages one transaction's allocator handed out and took back (for the handle's stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AllocCounts {
    /// Pages allocated, reused or new.
    pub allocated: u64,
    /// Of `allocated`, pages taken past the end of the file.
    pub grown: u64,
    /// Pages returned to the free list.
    pub freed: u64,
}

/// The free list of one transaction, plus the file's logical page count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Allocator {
    extents: Vec<FreeExtent>,
    page_count: u32,
    changed: bool,
    counts: AllocCounts,
    /// Vacuum's target: allocations prefer pages wholly below it (see [`Allocator::alloc`]).
    ceiling: Option<u32>,
    /// Vacuum clearing a window for a segment: pages `.0 .. .1` are not handed out.
    avoid: Option<(u32, u32)>,
}

impl Allocator {
    pub fn new(extents: Vec<FreeExtent>, page_count: u32) -> Self {
        Self {
            extents,
            page_count,
            changed: false,
            counts: AllocCounts::default(),
            ceiling: None,
            avoid: None,
        }
    }

    /// Keeps the `count` pages from `first` out of every allocation (`None`: no window).
    pub fn set_avoid(&mut self, window: Option<(PageId, u32)>) {
        self.avoid = window.map(|(first, count)| (first.0, first.0.saturating_add(count)));
    }

    /// Sets or clears the ceiling that [`Allocator::alloc`] prefers to stay below.
    pub fn set_ceiling(&mut self, ceiling: Option<PageId>) {
        self.ceiling = ceiling.map(|c| c.0);
    }

    /// Pages allocated and freed so far.
    pub fn counts(&self) -> AllocCounts {
        self.counts
    }

    /// The logical number of pages in the file.
    pub fn page_count(&self) -> u32 {
        self.page_count
    }

    /// Free extents, sorted by first page.
    pub fn extents(&self) -> &[FreeExtent] {
        &self.extents
    }

    /// True if any of the `count` pages from `first` is free.
    pub fn overlaps_free(&self, first: PageId, count: u32) -> bool {
        let end = u64::from(first.0) + u64::from(count);
        // The first extent that ends past `first`, if it starts before `end`.
        let i = self
            .extents
            .partition_point(|e| e.end() <= u64::from(first.0));
        self.extents
            .get(i)
            .is_some_and(|e| u64::from(e.first) < end)
    }

    /// True if the free list differs from the one this allocator was built with.
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// Makes the commit write the free list anew (to move its blob).
    pub fn mark_changed(&mut self) {
        self.changed = true;
    }

    /// Allocates `count` contiguous pages: best fit (the smallest reusable extent that
    /// holds them, lowest address first), else from the end of the file. Best fit keeps
    /// the large extents that retention frees whole for new segments, instead of letting
    /// single-page B-tree copies split them.
    ///
    /// Under a ceiling (vacuum), best fit among the reusable extents that hold the pages
    /// wholly below the ceiling; failing that, the lowest reusable extent that holds them
    /// (so pages that cannot go below the ceiling still go as low as they can), and only
    /// then the end of the file.
    pub fn alloc(&mut self, count: u32, bound: ReuseBound) -> Result<PageId> {
        assert!(count > 0, "allocating zero pages");
        let hit = match self.ceiling {
            None => self.best_fit(count, bound, u64::from(u32::MAX) + 1),
            Some(ceiling) => self
                .best_fit(count, bound, u64::from(ceiling))
                .or_else(|| self.first_fit(count, bound)),
        };
        if let Some(run) = hit {
            return Ok(self.take(run, count));
        }
        let first = self.page_count;
        self.page_count = first
            .checked_add(count)
            .ok_or_else(|| Error::invalid("file would exceed 2^32 pages"))?;
        self.counts.allocated += u64::from(count);
        self.counts.grown += u64::from(count);
        Ok(PageId(first))
    }

    /// Allocates `count` contiguous reusable pages, never from the end of the file: best
    /// fit among the extents that hold them ending at or below `best_limit`, else the
    /// lowest extent that holds them ending at or below `any_limit`, else nothing. Vacuum
    /// moves a data extent only where this finds room.
    pub fn alloc_below(
        &mut self,
        count: u32,
        bound: ReuseBound,
        best_limit: PageId,
        any_limit: PageId,
    ) -> Option<PageId> {
        assert!(count > 0, "allocating zero pages");
        let run = self
            .best_fit(count, bound, u64::from(best_limit.0))
            .or_else(|| {
                self.first_fit(count, bound)
                    .filter(|run| u64::from(run.first) + u64::from(count) <= u64::from(any_limit.0))
            })?;
        Some(self.take(run, count))
    }

    /// The runs of free pages allocations may use, lowest first: every reusable extent,
    /// less the avoided window (which may cut one extent in two).
    fn runs(&self, bound: ReuseBound) -> impl Iterator<Item = Run> + '_ {
        self.extents
            .iter()
            .enumerate()
            .filter(move |(_, e)| bound.allows(e.freed))
            .flat_map(move |(index, e)| {
                let end = e.first + e.count;
                let pieces = match self.avoid {
                    None => [(e.first, end), (end, end)],
                    Some((start, stop)) => [(e.first, end.min(start)), (e.first.max(stop), end)],
                };
                pieces
                    .into_iter()
                    .filter(|(first, end)| first < end)
                    .map(move |(first, end)| Run {
                        index,
                        first,
                        count: end - first,
                    })
            })
    }

    /// The smallest usable run that holds `count` pages ending at or below `limit` (the
    /// lowest among equals).
    fn best_fit(&self, count: u32, bound: ReuseBound, limit: u64) -> Option<Run> {
        self.runs(bound)
            .filter(|run| run.count >= count && u64::from(run.first) + u64::from(count) <= limit)
            .min_by_key(|run| run.count)
    }

    /// The lowest usable run that holds `count` pages.
    fn first_fit(&self, count: u32, bound: ReuseBound) -> Option<Run> {
        self.runs(bound).find(|run| run.count >= count)
    }

    /// Takes `count` pages from the start of `run`, splitting its extent if the run
    /// starts inside it.
    fn take(&mut self, run: Run, count: u32) -> PageId {
        let e = self.extents[run.index];
        assert!(
            run.count >= count && run.first >= e.first && run.first + count <= e.first + e.count,
            "run {run:?} does not hold {count} pages of {e:?}"
        );
        let before = run.first - e.first;
        let after = e.first + e.count - (run.first + count);
        let mut pieces = Vec::with_capacity(2);
        if before > 0 {
            pieces.push(FreeExtent { count: before, ..e });
        }
        if after > 0 {
            pieces.push(FreeExtent {
                first: run.first + count,
                count: after,
                ..e
            });
        }
        self.extents.splice(run.index..=run.index, pieces);
        self.changed = true;
        self.counts.allocated += u64::from(count);
        PageId(run.first)
    }

    /// Free pages in total, reusable or not.
    pub fn free_page_count(&self) -> u64 {
        self.extents.iter().map(|e| u64::from(e.count)).sum()
    }

    /// Removes the free extents that end the file and are reusable under `bound`, lowering
    /// the page count to the first of them. Returns how many pages the file lost. The
    /// commit that does this must be durable before the file is truncated, and the base
    /// it builds on must be durable too (so no journal entry of its window names a page
    /// past the new end).
    pub fn take_reusable_tail(&mut self, bound: ReuseBound) -> u32 {
        let before = self.page_count;
        while let Some(last) = self.extents.last().copied() {
            if last.end() != u64::from(self.page_count) || !bound.allows(last.freed) {
                break;
            }
            self.extents.pop();
            self.page_count = last.first;
            self.changed = true;
        }
        assert!(self.page_count >= 2, "the header pages are never free");
        before - self.page_count
    }

    /// Returns `count` pages starting at `first` to the free list, tagged `freed`.
    pub fn free(&mut self, first: PageId, count: u32, freed: TxnId) {
        assert!(count > 0, "freeing zero pages");
        let new = FreeExtent {
            first: first.0,
            count,
            freed,
        };
        assert!(
            new.end() <= u64::from(self.page_count) && first.0 >= 2,
            "freeing pages {first:?}+{count} outside 2..{}",
            self.page_count
        );
        let i = self.extents.partition_point(|e| e.first < first.0);
        if let Some(prev) = i.checked_sub(1).map(|p| self.extents[p]) {
            assert!(
                prev.end() <= u64::from(new.first),
                "double free of {first:?}: {prev:?}"
            );
        }
        if let Some(next) = self.extents.get(i) {
            assert!(
                new.end() <= u64::from(next.first),
                "double free of {first:?}: {next:?}"
            );
        }
        self.extents.insert(i, new);
        self.merge_around(i);
        self.changed = true;
        self.counts.freed += u64::from(count);
    }

    fn merge_around(&mut self, i: usize) {
        let mut i = i;
        if i > 0 && self.mergeable(i - 1) {
            let cur = self.extents.remove(i);
            self.extents[i - 1].count += cur.count;
            i -= 1;
        }
        if i + 1 < self.extents.len() && self.mergeable(i) {
            let next = self.extents.remove(i + 1);
            self.extents[i].count += next.count;
        }
    }

    /// True if extent `i` and `i + 1` touch and carry the same tag.
    fn mergeable(&self, i: usize) -> bool {
        let (a, b) = (self.extents[i], self.extents[i + 1]);
        a.end() == u64::from(b.first) && a.freed == b.freed
    }

    /// Relabels every extent reusable under `bound` with txn 0 and merges neighbours.
    pub fn settle(&mut self, bound: ReuseBound) {
        let mut settled: Vec<FreeExtent> = Vec::with_capacity(self.extents.len());
        for mut e in self.extents.drain(..) {
            if e.freed != TxnId(0) && bound.allows(e.freed) {
                e.freed = TxnId(0);
                self.changed = true;
            }
            match settled.last_mut() {
                Some(prev) if prev.end() == u64::from(e.first) && prev.freed == e.freed => {
                    prev.count += e.count;
                }
                _ => settled.push(e),
            }
        }
        self.extents = settled;
    }

    /// Encodes the free list.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.extents.len() * EXTENT_SIZE);
        for e in &self.extents {
            out.extend_from_slice(e.to_disk().as_bytes());
        }
        out
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.extents.len() * EXTENT_SIZE
    }
}

/// Decodes and validates a free list: sorted, non-overlapping, non-empty extents inside
/// `2..page_count`. `page` names the blob's first page in errors.
pub(crate) fn decode_free_list(
    bytes: &[u8],
    page_count: u32,
    page: PageId,
) -> Result<Vec<FreeExtent>> {
    let bad = |why| Error::corrupt(page, CorruptionKind::Invalid(why));
    let raw = <[format::FreeExtent]>::ref_from_bytes(bytes)
        .map_err(|_| Error::corrupt(page, CorruptionKind::BadLength))?;
    let mut out: Vec<FreeExtent> = Vec::with_capacity(raw.len());
    for e in raw.iter().map(FreeExtent::from_disk) {
        if e.count == 0 || e.first < 2 || e.end() > u64::from(page_count) {
            return Err(bad("free extent outside the file"));
        }
        if out
            .last()
            .is_some_and(|prev| prev.end() > u64::from(e.first))
        {
            return Err(bad("free extents overlap or are unsorted"));
        }
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_prefers_reusable_extents() {
        let mut a = Allocator::new(Vec::new(), 2);
        let p = a.alloc(3, ReuseBound::all(TxnId(0))).expect("alloc");
        assert_eq!(p, PageId(2));
        assert_eq!(a.page_count(), 5);
        a.free(PageId(2), 3, TxnId(7));
        // Not reusable before txn 7 is safe: comes from the end.
        assert_eq!(
            a.alloc(1, ReuseBound::all(TxnId(6))).expect("alloc"),
            PageId(5)
        );
        // Reusable now.
        assert_eq!(
            a.alloc(2, ReuseBound::all(TxnId(7))).expect("alloc"),
            PageId(2)
        );
        assert_eq!(
            a.extents(),
            &[FreeExtent {
                first: 4,
                count: 1,
                freed: TxnId(7)
            }]
        );
    }

    #[test]
    fn adjacent_frees_merge_only_with_equal_tags() {
        let mut a = Allocator::new(Vec::new(), 20);
        a.free(PageId(5), 2, TxnId(3));
        a.free(PageId(9), 1, TxnId(3));
        a.free(PageId(7), 2, TxnId(3));
        a.free(PageId(10), 1, TxnId(4));
        assert_eq!(
            a.extents(),
            &[
                FreeExtent {
                    first: 5,
                    count: 5,
                    freed: TxnId(3)
                },
                FreeExtent {
                    first: 10,
                    count: 1,
                    freed: TxnId(4)
                }
            ]
        );
        a.settle(ReuseBound::all(TxnId(3)));
        assert_eq!(
            a.extents()[0],
            FreeExtent {
                first: 5,
                count: 5,
                freed: TxnId(0)
            }
        );
        a.settle(ReuseBound::all(TxnId(4)));
        assert_eq!(
            a.extents(),
            &[FreeExtent {
                first: 5,
                count: 6,
                freed: TxnId(0)
            }]
        );
        let bytes = a.encode();
        assert_eq!(
            decode_free_list(&bytes, 20, PageId(0)).expect("decode"),
            a.extents()
        );
        assert!(decode_free_list(&bytes, 9, PageId(0)).is_err());
        assert!(decode_free_list(&bytes[..15], 20, PageId(0)).is_err());
    }

    #[test]
    fn window_local_pages_wait_only_for_readers() {
        let mut a = Allocator::new(Vec::new(), 20);
        a.free(PageId(4), 1, TxnId(9 | WINDOW_LOCAL));
        a.free(PageId(6), 1, TxnId(9));
        // Last durable commit 5: normal pages freed at 9 wait, window-local ones do not...
        let bound = ReuseBound {
            durable: TxnId(5),
            reader: TxnId(9),
        };
        assert_eq!(a.alloc(1, bound).expect("alloc"), PageId(4));
        assert_eq!(a.alloc(1, bound).expect("alloc"), PageId(20));
        // ...unless a snapshot older than their freeing commit is still read.
        a.free(PageId(4), 1, TxnId(9 | WINDOW_LOCAL));
        let reader_behind = ReuseBound {
            durable: TxnId(5),
            reader: TxnId(8),
        };
        assert_eq!(a.alloc(1, reader_behind).expect("alloc"), PageId(21));
    }

    #[test]
    fn a_ceiling_prefers_low_pages_and_falls_back_to_the_lowest() {
        let mut a = Allocator::new(Vec::new(), 100);
        a.free(PageId(10), 1, TxnId(0));
        a.free(PageId(20), 4, TxnId(0));
        a.free(PageId(60), 2, TxnId(0));
        a.free(PageId(80), 1, TxnId(0));
        let bound = ReuseBound::all(TxnId(5));
        a.set_ceiling(Some(PageId(50)));
        // Best fit below the ceiling: the single page at 10, not the one at 80.
        assert_eq!(a.alloc(1, bound).expect("alloc"), PageId(10));
        assert_eq!(a.alloc(1, bound).expect("alloc"), PageId(20));
        // No free extent holds 4 pages, below the ceiling or above: the end of the file.
        assert_eq!(a.alloc(4, bound).expect("alloc"), PageId(100));
        // Two pages: 21..24 holds three, below the ceiling.
        assert_eq!(a.alloc(2, bound).expect("alloc"), PageId(21));
        assert_eq!(a.alloc(2, bound).expect("alloc"), PageId(60));
        a.set_ceiling(None);
        assert_eq!(a.alloc(1, bound).expect("alloc"), PageId(23));
        assert_eq!(a.alloc_below(1, bound, PageId(80), PageId(80)), None);
        assert_eq!(
            a.alloc_below(1, bound, PageId(81), PageId(0)),
            Some(PageId(80))
        );
        a.free(PageId(70), 3, TxnId(0));
        a.free(PageId(90), 5, TxnId(0));
        // Nothing below 50; the lowest extent that holds 3 pages and ends by 95.
        assert_eq!(
            a.alloc_below(3, bound, PageId(50), PageId(95)),
            Some(PageId(70))
        );
        assert_eq!(a.alloc_below(3, bound, PageId(50), PageId(92)), None);
    }

    #[test]
    fn an_avoided_window_is_not_handed_out() {
        let mut a = Allocator::new(Vec::new(), 100);
        a.free(PageId(10), 5, TxnId(0));
        a.free(PageId(20), 1, TxnId(0));
        a.free(PageId(30), 10, TxnId(0));
        let bound = ReuseBound::all(TxnId(5));
        a.set_avoid(Some((PageId(12), 20)));
        // 10..12 lies before the window: two pages fit there; 32..40 after it.
        assert_eq!(a.alloc(2, bound).expect("alloc"), PageId(10));
        assert_eq!(a.alloc(8, bound).expect("alloc"), PageId(32));
        assert_eq!(a.alloc(1, bound).expect("alloc"), PageId(100));
        assert_eq!(a.alloc_below(1, bound, PageId(50), PageId(50)), None);
        assert_eq!(
            a.extents()
                .iter()
                .map(|e| (e.first, e.count))
                .collect::<Vec<_>>(),
            [(12, 3), (20, 1), (30, 2)]
        );
        a.set_avoid(None);
        assert_eq!(a.alloc(1, bound).expect("alloc"), PageId(20));
    }

    #[test]
    fn the_reusable_tail_leaves_the_file() {
        let mut a = Allocator::new(Vec::new(), 40);
        a.free(PageId(5), 2, TxnId(3));
        a.free(PageId(30), 5, TxnId(4));
        a.free(PageId(35), 5, TxnId(9));
        // Freed by txn 9, which is not reusable yet: nothing goes.
        assert_eq!(a.take_reusable_tail(ReuseBound::all(TxnId(8))), 0);
        assert_eq!(a.page_count(), 40);
        assert_eq!(a.take_reusable_tail(ReuseBound::all(TxnId(9))), 10);
        assert_eq!(a.page_count(), 30);
        assert_eq!(a.extents().len(), 1);
        assert_eq!(a.take_reusable_tail(ReuseBound::all(TxnId(9))), 0);
        assert_eq!(a.free_page_count(), 2);
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_is_a_bug() {
        let mut a = Allocator::new(Vec::new(), 20);
        a.free(PageId(5), 2, TxnId(3));
        a.free(PageId(6), 1, TxnId(3));
    }
}
