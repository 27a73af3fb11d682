//! The engine's part of vacuum: moving pages off the end of the file inside ordinary write
//! transactions, and giving the free end back.
//!
//! - B-tree nodes and blobs of every tree (the master tree and the engine's extents tree
//!   included) are copied, copy-on-write, from above a ceiling or out of a window
//!   ([`WriteTransaction::relocate_trees`]); [`WriteTransaction::page_classes`] tells which
//!   pages could move that way.
//! - A data extent is copied byte for byte to a lower extent and its entry in the extents
//!   tree replaced ([`WriteTransaction::move_extent`]); whoever refers to the extent (the
//!   event log's segment entries) updates its own reference in the same transaction.
//! - The unused tail of a data extent can be freed in place ([`WriteTransaction::shrink_extent`]).
//! - [`WriteTransaction::request_shrink`] makes a commit drop the reusable free tail and cut
//!   the file once it is durable.
//!
//! The free-list, journal and window-chain blobs need no moving: every commit writes them
//! anew, and under a ceiling their pages come from below it too.

use super::txn::{
    ALL, EXTENTS_TREE, WriteTransaction, decode_extent_key, decode_extent_len, encode_extent_len,
};
use crate::btree::Evict;
use crate::error::{CorruptionKind, Error, PageId, Result};

/// Bytes copied per read and write when a data extent moves (a multiple of every page
/// size).
const COPY_CHUNK: usize = 1 << 20;
const _: () = assert!(COPY_CHUNK.is_multiple_of(crate::page::PAGE_SIZE_MAX as usize));

/// What a page holds, as far as moving it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageClass {
    /// A free page.
    Free,
    /// A B-tree node or a page of a value's blob: relocation can copy it elsewhere.
    Movable,
    /// A page of the base commit's free-list, journal or window-chain blobs: the next
    /// commits write them anew and free these pages.
    Meta,
    /// A header page or a page of a data extent.
    Fixed,
}

/// Space as a write transaction sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Space {
    /// The logical page count (headers included).
    pub page_count: u32,
    /// Free pages, reusable now or not.
    pub free_pages: u64,
}

impl Space {
    /// Pages in use: headers, B-tree nodes, blobs and data extents.
    pub fn used_pages(self) -> u64 {
        u64::from(self.page_count) - self.free_pages
    }
}

impl WriteTransaction {
    /// The page count and free pages this transaction would commit.
    pub(crate) fn space(&self) -> Space {
        Space {
            page_count: self.txn.page_count(),
            free_pages: self.txn.free_page_count(),
        }
    }

    /// Pages in use at or above `page`.
    pub(crate) fn used_pages_from(&self, page: PageId) -> u64 {
        let page_count = self.txn.page_count();
        if page.0 >= page_count {
            return 0;
        }
        u64::from(page_count - page.0) - self.txn.free_pages_from(page)
    }

    /// Makes this transaction's allocations prefer pages wholly below `ceiling`.
    pub(crate) fn set_alloc_ceiling(&mut self, ceiling: Option<PageId>) {
        self.txn.set_alloc_ceiling(ceiling);
    }

    /// Where [`WriteTransaction::move_extent`] with `target` would move each of `extents`
    /// (page count, first page), taken in order: a dry run.
    pub(crate) fn would_move(
        &self,
        extents: &[(u32, PageId)],
        target: PageId,
    ) -> Vec<Option<PageId>> {
        self.txn.would_fit(extents, target)
    }

    /// Keeps the `count` pages from `first` out of this transaction's allocations.
    pub(crate) fn set_alloc_avoid(&mut self, window: Option<(PageId, u32)>) {
        self.txn.set_alloc_avoid(window);
    }

    /// Merges free extents that are already reusable, so that allocations see them whole.
    pub(crate) fn settle_free_list(&mut self) {
        self.txn.settle_free_list();
    }

    /// What every page of the file holds (indexed by page id): free, a B-tree node or
    /// value blob page (movable), the base commit's metadata blobs, or anything else
    /// (fixed).
    pub(crate) fn page_classes(&mut self) -> Result<Vec<PageClass>> {
        let page_count = self.txn.page_count();
        let mut classes = vec![PageClass::Movable; page_count as usize];
        let mut mark = |first: u32, count: u32, class: PageClass| -> Result<()> {
            let end = u64::from(first) + u64::from(count);
            if end > u64::from(page_count) {
                return Err(Error::corrupt(
                    PageId(first),
                    CorruptionKind::PageOutOfRange(first),
                ));
            }
            classes[first as usize..end as usize].fill(class);
            Ok(())
        };
        mark(0, 2, PageClass::Fixed)?;
        for (first, count) in self.txn.free_extents() {
            mark(first, count, PageClass::Free)?;
        }
        for blob in self.txn.base_meta_blobs()? {
            mark(blob.first.0, blob.page_count, PageClass::Meta)?;
        }
        for item in self.range(EXTENTS_TREE, ..)? {
            let (key, value) = item?;
            let first = decode_extent_key(&key)?;
            let count = decode_extent_len(&value, first)?;
            mark(first.0, count, PageClass::Fixed)?;
        }
        Ok(classes)
    }

    /// Copies every B-tree node and blob page in the `count` pages from `first` elsewhere,
    /// keeping that window out of this transaction's allocations, so that once the commit
    /// is durable the window is free. Returns the pages copied.
    pub(crate) fn clear_window(&mut self, first: PageId, count: u32) -> Result<u64> {
        self.set_alloc_avoid(Some((first, count)));
        let mut budget = u64::MAX;
        self.relocate_trees(
            Evict::Within {
                first: first.0,
                count,
            },
            &mut budget,
        )?;
        Ok(u64::MAX - budget)
    }

    /// True if the commit this transaction builds on is durable.
    pub(crate) fn base_is_durable(&self) -> bool {
        self.txn.base_is_durable()
    }

    /// Makes the commit durable, drop the reusable free tail of the file (when the base
    /// is durable) and cut the file to its page count once durable.
    pub(crate) fn request_shrink(&mut self) {
        self.txn.request_shrink();
    }

    /// Copies the nodes and blobs of every tree that have pages `evict` names to newly
    /// allocated pages; at most about `budget` pages (decreased by what was copied).
    pub(crate) fn relocate_trees(&mut self, evict: Evict, budget: &mut u64) -> Result<()> {
        let names: Vec<Vec<u8>> = self
            .master
            .range(&self.txn, ALL)
            .map(|item| item.map(|(name, _)| name))
            .collect::<Result<_>>()?;
        for name in names {
            let name = String::from_utf8(name).map_err(|_| {
                Error::corrupt_file(CorruptionKind::Invalid("tree name is not UTF-8"))
            })?;
            self.load_unchecked(&name)?;
            let tree = self.trees.get_mut(&name).expect("tree was loaded");
            tree.relocate(&mut self.txn, evict, budget)?;
        }
        self.master.relocate(&mut self.txn, evict, budget)
    }

    /// The page count of the data extent starting at `first`.
    fn extent_len(&mut self, first: PageId) -> Result<u32> {
        self.extent_pages(first)?
            .ok_or_else(|| Error::corrupt(first, CorruptionKind::Invalid("unknown extent")))
    }

    /// Moves the data extent at `first` to `page_count` reusable pages, copying its first
    /// `len` bytes: the best fitting free extent that ends at or below `target`, else the
    /// lowest one below `first` (so the extent still moves down). `inspect` sees every
    /// chunk copied and may refuse it. Frees the old extent. Returns the new first page, or
    /// `None` (and changes nothing) when no free extent there holds `page_count` pages.
    pub(crate) fn move_extent(
        &mut self,
        first: PageId,
        page_count: u32,
        len: u64,
        target: PageId,
        inspect: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<Option<PageId>> {
        let old_count = self.extent_len(first)?;
        let page_size = u64::from(self.page_size());
        assert!(
            page_count >= 1 && len <= u64::from(page_count) * page_size,
            "moving {len} bytes of {first} into {page_count} pages"
        );
        if len > u64::from(old_count) * page_size {
            return Err(Error::corrupt(
                first,
                CorruptionKind::Invalid("data extent shorter than the bytes it holds"),
            ));
        }
        let Some(dest) = self.txn.alloc_pages_below(page_count, target, first) else {
            return Ok(None);
        };
        // Readers rely on it: a segment never comes back to pages it left (log::read).
        assert!(dest < first, "extent {first} would move up to {dest}");
        self.insert(
            EXTENTS_TREE,
            &dest.0.to_be_bytes(),
            &encode_extent_len(page_count),
        )?;
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut offset = 0u64;
        while offset < len {
            let chunk = usize::try_from((len - offset).min(COPY_CHUNK as u64))
                .expect("a chunk fits memory");
            let bytes = &mut buf[..chunk];
            self.txn.read_data(first, offset, bytes)?;
            inspect(bytes)?;
            self.txn.write_data(dest, offset, bytes)?;
            offset += chunk as u64;
        }
        self.free_extent(first)?;
        Ok(Some(dest))
    }

    /// Frees the pages of the data extent at `first` past its first `page_count` pages.
    pub(crate) fn shrink_extent(&mut self, first: PageId, page_count: u32) -> Result<()> {
        let old_count = self.extent_len(first)?;
        if page_count == 0 || page_count >= old_count {
            return Err(Error::corrupt(
                first,
                CorruptionKind::Invalid("data extent is not longer than its owner says"),
            ));
        }
        self.insert(
            EXTENTS_TREE,
            &first.0.to_be_bytes(),
            &encode_extent_len(page_count),
        )?;
        self.txn
            .free_pages(PageId(first.0 + page_count), old_count - page_count);
        Ok(())
    }
}
