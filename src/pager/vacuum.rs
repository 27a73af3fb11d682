//! Vacuum's controls over a write transaction: where allocations may go (a ceiling, a
//! window to avoid), dry runs of allocations, the views of free space vacuum plans from,
//! and the shrink request that makes the commit durable and cut the file.
//!
//! Ordinary writers call none of these; a transaction that calls none allocates by plain
//! best fit. The controls change only where pages come from and what the commit does
//! with the free tail of the file, never the reuse rule: a page is still allocated only
//! when it is reusable (see `alloc`).

use super::write_txn::WriteTxn;
use crate::error::{PageId, Result};
use crate::page::BlobPtr;
use crate::page::slot::Journal;

impl WriteTxn {
    /// Vacuum: makes allocations prefer pages wholly below `ceiling` (see
    /// [`Allocator::alloc`](super::alloc::Allocator::alloc)); `None` restores the normal
    /// policy.
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

    /// Allocates `count` contiguous reusable pages, never from the end of the file: see
    /// [`Allocator::alloc_below`](super::alloc::Allocator::alloc_below).
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

    /// Free extents as this transaction would commit them: first page and page count.
    pub fn free_extents(&self) -> Vec<(u32, u32)> {
        self.alloc
            .extents()
            .iter()
            .map(|e| (e.first, e.count))
            .collect()
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

    /// True if the commit this transaction builds on is durable, or is the no-op
    /// follow-up of a durable commit this handle wrote (its window is empty too).
    pub fn base_is_durable(&self) -> bool {
        self.base_settled
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
}
