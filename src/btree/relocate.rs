//! Moving a tree off the end of the file (vacuum): every node and every blob with a page at
//! or above a *ceiling* is copied, copy-on-write, to pages the store allocates now, and so
//! is the path above it (a parent must point at the new copy). Where the copies land is the
//! allocator's business: under vacuum it hands out pages below the ceiling.
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

/// True if any page of the blob lies at or above `ceiling`.
fn blob_is_high(blob: BlobPtr, ceiling: PageId) -> bool {
    u64::from(blob.first.0) + u64::from(blob.page_count) > u64::from(ceiling.0)
}

impl TreeMut {
    /// Copies every node and blob of the tree that has a page at or above `ceiling` (and
    /// the nodes above them) to newly allocated pages. `budget` is the number of pages it
    /// may still copy; it is decreased by what was copied, and once it reaches zero no new
    /// subtree is started (the parents of copies already made are still copied).
    pub fn relocate<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        ceiling: PageId,
        budget: &mut u64,
    ) -> Result<()> {
        let Some(root) = self.root else {
            return Ok(());
        };
        if let Some(id) = self.relocate_node(store, root, None, ceiling, budget, 0)? {
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
        ceiling: PageId,
        budget: &mut u64,
        depth: usize,
    ) -> Result<Option<PageId>> {
        if depth >= MAX_DEPTH {
            return Err(Error::corrupt(ptr.id, CorruptionKind::Cycle));
        }
        if self.dirty.contains_key(&ptr.id) {
            self.relocate_dirty(store, ptr.id, ceiling, budget, depth)?;
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
                    self.relocate_node(store, child, Some(child_level), ceiling, budget, next)?
                {
                    moved.push((i, id));
                }
            }
        }
        let high_blob = page.is_leaf()
            && (0..page.len()).any(
                |i| matches!(page.value(i), ValueRef::Blob(blob) if blob_is_high(blob, ceiling)),
            );
        if ptr.id < ceiling && moved.is_empty() && !high_blob {
            return Ok(None);
        }
        let id = self.make_dirty(store, ptr, level)?;
        *budget = budget.saturating_sub(1);
        if page.is_leaf() {
            let entries = self.leaf_mut(id);
            relocate_blobs(store, entries, ceiling, budget)?;
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
        ceiling: PageId,
        budget: &mut u64,
        depth: usize,
    ) -> Result<()> {
        let (level, children) = match self.dirty.get_mut(&id) {
            Some(Node::Leaf(entries)) => return relocate_blobs(store, entries, ceiling, budget),
            Some(Node::Branch(branch)) => (branch.level, branch.children.clone()),
            None => unreachable!("relocate_dirty is given dirty nodes"),
        };
        for (i, child) in children.into_iter().enumerate() {
            if let Some(new) =
                self.relocate_node(store, child, Some(level - 1), ceiling, budget, depth + 1)?
            {
                self.branch_mut(id).children[i] = dirty_ptr(new);
            }
        }
        Ok(())
    }
}

/// Copies the high blobs of a dirty leaf's entries to new blobs.
fn relocate_blobs<S: PageWrite + ?Sized>(
    store: &mut S,
    entries: &mut [Entry],
    ceiling: PageId,
    budget: &mut u64,
) -> Result<()> {
    for entry in entries {
        let Value::Blob(old) = entry.value else {
            continue;
        };
        if !blob_is_high(old, ceiling) {
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
