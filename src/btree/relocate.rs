//! Moving a tree's pages (vacuum): every node and every blob with a page in an [`Evict`]
//! range (at or above a ceiling, or inside a window that must be cleared) is copied,
//! copy-on-write, to pages the store allocates now, and so is the path above it (a parent
//! must point at the new copy). Where the copies land is the allocator's business: under
//! vacuum it hands out pages below the ceiling and outside the window.
//!
//! The walk visits every node of the tree (nothing tells which subtrees hold high pages),
//! but copies only what it must. A budget bounds the pages copied per call, so that one
//! write transaction stays short; a later call picks up what is left.

use crate::btree::node::{Entry, Node, Value, ValueRef};
use crate::btree::read::{load_value, read_page};
use crate::btree::tree::{TreeMut, dirty_ptr};
use crate::btree::{MAX_DEPTH, PageWrite};
use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::page::{BlobPtr, NodePtr};

/// Which pages must move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Evict {
    /// Pages at or above this one.
    Above(PageId),
    /// Pages `first .. first + count`.
    Within { first: u32, count: u32 },
}

impl Evict {
    /// True if any of the `count` pages from `first` must move.
    pub fn hits(self, first: PageId, count: u32) -> bool {
        let start = u64::from(first.0);
        let end = start + u64::from(count);
        match self {
            Self::Above(ceiling) => end > u64::from(ceiling.0),
            Self::Within { first, count } => {
                start < u64::from(first) + u64::from(count) && end > u64::from(first)
            }
        }
    }

    fn hits_blob(self, blob: BlobPtr) -> bool {
        self.hits(blob.first, blob.page_count)
    }
}

impl TreeMut {
    /// Copies every node and blob of the tree that has a page `evict` names (and the nodes
    /// above them) to newly allocated pages. `budget` is the number of pages it may still
    /// copy; it is decreased by what was copied, and once it reaches zero no new subtree
    /// is started (the parents of copies already made are still copied).
    pub fn relocate<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        evict: Evict,
        budget: &mut u64,
    ) -> Result<()> {
        let Some(root) = self.root else {
            return Ok(());
        };
        if let Some(id) = self.relocate_node(store, root, None, evict, budget, 0)? {
            self.root = Some(dirty_ptr(id));
        }
        Ok(())
    }

    /// Relocates the subtree at `ptr`. Returns the node's new (dirty) id if it was copied,
    /// so that the caller points at it; a node that was dirty already keeps its id.
    fn relocate_node<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        ptr: NodePtr,
        level: Option<u8>,
        evict: Evict,
        budget: &mut u64,
        depth: usize,
    ) -> Result<Option<PageId>> {
        if depth >= MAX_DEPTH {
            return Err(Error::corrupt(ptr.id, CorruptionKind::Cycle));
        }
        if self.dirty.contains_key(&ptr.id) {
            self.relocate_dirty(store, ptr.id, evict, budget, depth)?;
            return Ok(None);
        }
        if *budget == 0 {
            return Ok(None);
        }
        let page = read_page(&*store, ptr, level)?;
        let mut moved: Vec<(usize, PageId)> = Vec::new();
        if !page.is_leaf() {
            let child_level = page.level() - 1;
            for i in 0..page.len() {
                let child = page.child(i);
                let next = depth + 1;
                if let Some(id) =
                    self.relocate_node(store, child, Some(child_level), evict, budget, next)?
                {
                    moved.push((i, id));
                }
            }
        }
        let blob_hit = page.is_leaf()
            && (0..page.len())
                .any(|i| matches!(page.value(i), ValueRef::Blob(blob) if evict.hits_blob(blob)));
        if !evict.hits(ptr.id, 1) && moved.is_empty() && !blob_hit {
            return Ok(None);
        }
        let id = self.make_dirty(store, ptr, level)?;
        *budget = budget.saturating_sub(1);
        if page.is_leaf() {
            let entries = self.leaf_mut(id);
            relocate_blobs(store, entries, evict, budget)?;
        } else {
            let branch = self.branch_mut(id);
            for (i, child) in moved {
                branch.children[i] = dirty_ptr(child);
            }
        }
        Ok(Some(id))
    }

    /// Relocates below a node that is dirty already: its committed children and its blobs.
    fn relocate_dirty<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        id: PageId,
        evict: Evict,
        budget: &mut u64,
        depth: usize,
    ) -> Result<()> {
        let (level, children) = match self.dirty.get_mut(&id) {
            Some(Node::Leaf(entries)) => return relocate_blobs(store, entries, evict, budget),
            Some(Node::Branch(branch)) => (branch.level, branch.children.clone()),
            None => unreachable!("relocate_dirty is given dirty nodes"),
        };
        for (i, child) in children.into_iter().enumerate() {
            if let Some(new) =
                self.relocate_node(store, child, Some(level - 1), evict, budget, depth + 1)?
            {
                self.branch_mut(id).children[i] = dirty_ptr(new);
            }
        }
        Ok(())
    }
}

/// Copies the blobs `evict` names of a dirty leaf's entries to new blobs.
fn relocate_blobs<S: PageWrite + ?Sized>(
    store: &mut S,
    entries: &mut [Entry],
    evict: Evict,
    budget: &mut u64,
) -> Result<()> {
    for entry in entries {
        let Value::Blob(old) = entry.value else {
            continue;
        };
        if !evict.hits_blob(old) {
            continue;
        }
        let bytes = load_value(&*store, ValueRef::Blob(old))?;
        let new = store.write_blob(&bytes)?;
        store.free_blob(old);
        entry.value = Value::Blob(new);
        *budget = budget.saturating_sub(u64::from(new.page_count));
    }
    Ok(())
}
