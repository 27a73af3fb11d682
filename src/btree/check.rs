//! The B-tree part of the file-wide integrity check: walks every node and blob of one
//! committed tree, reports each page it uses, and records every problem found instead of
//! stopping at the first. A node that fails to verify is recorded and its subtree skipped;
//! the walk goes on with the rest of the tree.
//!
//! Checked: every node's checksum and id (by the store), layout, kind, level (a child's
//! level is its parent's minus one, so depth is bounded by [`crate::btree::MAX_DEPTH`]),
//! key order within each node and across nodes (every key lies within the bounds its
//! ancestors' separators give it), every blob's pointer, checksum and length. Page
//! accounting across trees (a page used twice, or neither used nor free) is the caller's:
//! it sees every page through `on_page`.

use crate::btree::PageRead;
use crate::btree::node::{PageNode, ValueRef};
use crate::btree::read::{load_value, read_page};
use crate::error::{CorruptionKind, Error, PageId};
use crate::page::NodePtr;

/// What a page reported by [`check_tree`] is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PageUse {
    Leaf,
    Branch,
    Blob,
}

/// What [`check_tree`] found in a tree (counting only the parts that verified).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TreeStats {
    /// Levels from the root to the leaves; 0 for an empty tree.
    pub depth: u32,
    pub leaf_pages: u64,
    pub branch_pages: u64,
    /// Pages of all blobs together.
    pub blob_pages: u64,
    pub entries: u64,
}

/// Walks the committed tree `root`. Each page used is passed to `on_page` with its page
/// count (1 for a node, the page count for a blob): a node page once it verified (a node
/// that fails to verify is a problem, and its subtree is not walked), a blob once its
/// pointer verified. Every problem is pushed to `problems`.
pub(crate) fn check_tree<S: PageRead + ?Sized>(
    store: &S,
    root: Option<NodePtr>,
    on_page: &mut dyn FnMut(PageId, u32, PageUse),
    problems: &mut Vec<Error>,
) -> TreeStats {
    let mut checker = Checker {
        store,
        on_page,
        problems,
        stats: TreeStats::default(),
    };
    if let Some(root) = root {
        checker.node(root, None, None, None);
    }
    checker.stats
}

struct Checker<'a, S: ?Sized> {
    store: &'a S,
    on_page: &'a mut dyn FnMut(PageId, u32, PageUse),
    problems: &'a mut Vec<Error>,
    stats: TreeStats,
}

impl<S: PageRead + ?Sized> Checker<'_, S> {
    /// Checks the subtree `ptr`, whose keys must lie in `lower..upper` (inclusive lower,
    /// exclusive upper, `None` unbounded), at the `level` its parent implies.
    fn node(
        &mut self,
        ptr: NodePtr,
        level: Option<u8>,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
    ) {
        let page = match read_page(self.store, ptr, level) {
            Ok(page) => page,
            Err(error) => return self.problems.push(error),
        };
        if level.is_none() {
            self.stats.depth = u32::from(page.level()) + 1;
        }
        let outside = page.key_count() > 0
            && (lower.is_some_and(|lower| page.key(0) < lower)
                || upper.is_some_and(|upper| page.key(page.key_count() - 1) >= upper));
        if outside {
            self.problems
                .push(Error::corrupt(ptr.id, CorruptionKind::KeyOrder));
        }
        if page.is_leaf() {
            (self.on_page)(ptr.id, 1, PageUse::Leaf);
            self.stats.leaf_pages += 1;
            self.stats.entries += page.len() as u64;
            self.blobs(&page);
        } else {
            (self.on_page)(ptr.id, 1, PageUse::Branch);
            self.stats.branch_pages += 1;
            for i in 0..page.len() {
                let child_lower = if i == 0 { lower } else { Some(page.key(i - 1)) };
                let child_upper = if i + 1 < page.len() {
                    Some(page.key(i))
                } else {
                    upper
                };
                self.node(
                    page.child(i),
                    Some(page.level() - 1),
                    child_lower,
                    child_upper,
                );
            }
        }
    }

    /// Reports and reads every blob of a leaf (pointers were validated by the parser).
    fn blobs(&mut self, page: &PageNode) {
        for i in 0..page.len() {
            let value = page.value(i);
            if let ValueRef::Blob(blob) = value {
                (self.on_page)(blob.first, blob.page_count, PageUse::Blob);
                self.stats.blob_pages += u64::from(blob.page_count);
                if let Err(error) = load_value(self.store, value) {
                    self.problems.push(error);
                }
            }
        }
    }
}
