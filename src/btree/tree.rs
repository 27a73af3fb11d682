//! [`TreeMut`]: one tree being changed inside one write transaction.
//!
//! Copy-on-write: the first change to a committed node reads it, allocates a new page for
//! it, frees the old page, and keeps the node decoded in memory as *dirty*, keyed by its
//! new page id. Later changes in the same transaction change the dirty node in place. A
//! pointer to a dirty child carries checksum 0; a node is dirty exactly when its id is a key
//! of the dirty map (dirty ids are allocated in this transaction, so no committed page the
//! tree still reaches has one). [`TreeMut::flush`] encodes the dirty nodes children first,
//! so each parent receives its children's final checksums, and writes each one once.
//!
//! Rebalancing after a change lives in `update.rs`.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::btree::iter::after_end;
use crate::btree::node::{Entry, Node, Value, parse};
use crate::btree::read::{Source, read_page};
use crate::btree::{
    MAX_DEPTH, PageRead, PageWrite, Range, check_key, check_value, max_inline_value_len,
};
use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::page::{NodePtr, seal, verify};

/// A tree being changed inside one write transaction; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct TreeMut {
    /// The root; checksum 0 while the root is dirty.
    pub(super) root: Option<NodePtr>,
    /// Dirty nodes by page id.
    pub(super) dirty: HashMap<PageId, Node>,
    /// The root as of creation or the last flush. A change that only frees whole subtrees
    /// (emptying the tree) leaves no dirty node, so a differing root also means dirty.
    pub(super) clean_root: Option<NodePtr>,
}

/// One step of a path from the root to a leaf: a dirty branch and the child taken.
#[derive(Clone, Copy, Debug)]
pub(super) struct Step {
    pub branch: PageId,
    pub index: usize,
}

/// What a descent for `remove_range` removes on its way down: whole children of the
/// branches it passes whose keys all lie before `end`.
pub(super) struct Trim<'b> {
    pub end: Bound<&'b [u8]>,
    pub removed: u64,
}

/// A pointer to a dirty node: no checksum until flush.
pub(super) fn dirty_ptr(id: PageId) -> NodePtr {
    NodePtr { id, crc: 0 }
}

impl TreeMut {
    /// Starts changing the committed tree `root` (`None`: empty).
    pub fn new(root: Option<NodePtr>) -> Self {
        Self {
            root,
            dirty: HashMap::new(),
            clean_root: root,
        }
    }

    /// True if changes are waiting for [`TreeMut::flush`].
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty() || self.root != self.clean_root
    }

    /// The value stored under `key`, including uncommitted changes.
    pub fn get<S: PageRead + ?Sized>(&self, store: &S, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.source(store).get(self.root, key)
    }

    /// The entries within `bounds`, including uncommitted changes; see
    /// [`crate::btree::range`].
    pub fn range<'a, S: PageRead + ?Sized>(
        &'a self,
        store: &'a S,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
    ) -> Range<'a, S> {
        Range::new(self.source(store), self.root, bounds)
    }

    fn source<'a, S: PageRead + ?Sized>(&'a self, store: &'a S) -> Source<'a, S> {
        Source {
            store,
            dirty: Some(&self.dirty),
        }
    }

    /// Inserts `key` with `value`, replacing (and freeing) any previous value. Keys are at
    /// most [`crate::btree::max_key_len`] bytes; longer values go to a blob.
    pub fn insert<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        key: &[u8],
        value: &[u8],
    ) -> Result<()> {
        check_key(key, store.page_size())?;
        check_value(value)?;
        let Some(root) = self.root else {
            let value = store_value(store, value)?;
            let id = store.alloc_page()?;
            let entry = Entry {
                key: key.to_vec(),
                value,
            };
            self.dirty.insert(id, Node::Leaf(vec![entry]));
            self.root = Some(dirty_ptr(id));
            return Ok(());
        };
        let (path, leaf) = self.cow_path(store, root, key, None)?;
        let value = store_value(store, value)?;
        let entries = self.leaf_mut(leaf);
        match entries.binary_search_by(|entry| entry.key.as_slice().cmp(key)) {
            Ok(i) => {
                if let Value::Blob(old) = std::mem::replace(&mut entries[i].value, value) {
                    store.free_blob(old);
                }
            }
            Err(i) => entries.insert(
                i,
                Entry {
                    key: key.to_vec(),
                    value,
                },
            ),
        }
        self.fix_path(store, &path)
    }

    /// Removes `key`; returns whether it was present. Nothing is copied when it is not.
    pub fn remove<S: PageWrite + ?Sized>(&mut self, store: &mut S, key: &[u8]) -> Result<bool> {
        let Some(root) = self.root else {
            return Ok(false);
        };
        if self
            .source(&*store)
            .find_leaf(root, key)?
            .find(key)
            .is_none()
        {
            return Ok(false);
        }
        let (path, leaf) = self.cow_path(store, root, key, None)?;
        let entries = self.leaf_mut(leaf);
        let i = entries
            .binary_search_by(|entry| entry.key.as_slice().cmp(key))
            .expect("the key was found before copying the path");
        if let Value::Blob(old) = entries.remove(i).value {
            store.free_blob(old);
        }
        self.fix_path(store, &path)?;
        Ok(true)
    }

    /// Removes every entry within `bounds` and returns how many. Each round removes, along
    /// the path to the first remaining key in range, every whole subtree inside the range
    /// (without copying it) and the in-range entries of that key's leaf, then rebalances
    /// that path; so the work grows with the leaves and subtrees removed, not their square.
    pub fn remove_range<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
    ) -> Result<u64> {
        if let (Bound::Unbounded, Bound::Unbounded) = bounds {
            let Some(root) = self.root.take() else {
                return Ok(0);
            };
            return self.free_subtree(store, root, None);
        }
        let mut removed = 0;
        loop {
            let Some(first) = self.range(&*store, bounds).next_key()? else {
                return Ok(removed);
            };
            let root = self.root.expect("a tree with a key has a root");
            let mut trim = Trim {
                end: bounds.1,
                removed: 0,
            };
            let (path, leaf) = self.cow_path(store, root, &first, Some(&mut trim))?;
            let entries = self.leaf_mut(leaf);
            let start = entries.partition_point(|entry| entry.key < first);
            let count = entries[start..]
                .iter()
                .take_while(|entry| !after_end(&entry.key, bounds.1))
                .count();
            assert!(count > 0, "the first key in range is in its leaf");
            for entry in entries.drain(start..start + count) {
                if let Value::Blob(old) = entry.value {
                    store.free_blob(old);
                }
            }
            removed += trim.removed + count as u64;
            self.fix_path(store, &path)?;
        }
    }

    /// Writes every dirty node, children before parents, each exactly once, and returns
    /// the new root. Afterwards the tree is clean; a later change copies again.
    pub fn flush<S: PageWrite + ?Sized>(&mut self, store: &mut S) -> Result<Option<NodePtr>> {
        if let Some(root) = self.root
            && self.dirty.contains_key(&root.id)
        {
            self.root = Some(self.flush_node(store, root.id)?);
        }
        assert!(
            self.dirty.is_empty(),
            "{} dirty nodes are unreachable from the root",
            self.dirty.len()
        );
        self.clean_root = self.root;
        Ok(self.root)
    }

    fn flush_node<S: PageWrite + ?Sized>(&mut self, store: &mut S, id: PageId) -> Result<NodePtr> {
        let mut node = self
            .dirty
            .remove(&id)
            .expect("flush_node is given dirty nodes");
        if let Node::Branch(branch) = &mut node {
            for child in &mut branch.children {
                if self.dirty.contains_key(&child.id) {
                    *child = self.flush_node(store, child.id)?;
                }
            }
        }
        let mut page = node.encode(id, store.txn_id(), store.page_size());
        let ptr = NodePtr {
            id,
            crc: seal(&mut page),
        };
        if cfg!(debug_assertions) {
            assert_reads_back(&page, ptr, &node);
        }
        store.write_node(id, page)?;
        Ok(ptr)
    }

    /// Makes every node on the path from `root` to the leaf for `key` dirty, and returns
    /// the path (root first) and the leaf. With `trim`, also removes whole children inside
    /// the range from the branches passed.
    pub(super) fn cow_path<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        root: NodePtr,
        key: &[u8],
        mut trim: Option<&mut Trim<'_>>,
    ) -> Result<(Vec<Step>, PageId)> {
        let mut id = self.make_dirty(store, root, None)?;
        self.root = Some(dirty_ptr(id));
        let mut path = Vec::new();
        // The exclusive upper bound of the keys under `id`, tracked only when trimming.
        let mut upper: Option<Vec<u8>> = None;
        for _ in 0..MAX_DEPTH {
            let Node::Branch(branch) = &self.dirty[&id] else {
                return Ok((path, id));
            };
            let index = branch
                .keys
                .partition_point(|separator| separator.as_slice() <= key);
            let (child, level) = (branch.children[index], branch.level - 1);
            if let Some(trim) = trim.as_deref_mut() {
                let child_upper = branch.keys.get(index).cloned().or_else(|| upper.clone());
                self.trim_children(store, id, index, upper.as_deref(), trim)?;
                upper = child_upper;
            }
            let child = self.make_dirty(store, child, Some(level))?;
            self.branch_mut(id).children[index] = dirty_ptr(child);
            path.push(Step { branch: id, index });
            id = child;
        }
        Err(Error::corrupt(root.id, CorruptionKind::Cycle))
    }

    /// Removes the children after `index` of the dirty branch `id` whose keys all lie
    /// before `trim.end`, keeping at least two children. `upper` bounds the branch's keys.
    fn trim_children<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        id: PageId,
        index: usize,
        upper: Option<&[u8]>,
        trim: &mut Trim<'_>,
    ) -> Result<()> {
        let branch = self.branch_mut(id);
        let child_count = branch.children.len();
        let mut count = 0;
        while child_count - count > 2 && index + 1 + count < child_count {
            let next = index + 1 + count;
            let next_upper = branch.keys.get(next).map(Vec::as_slice).or(upper);
            let inside = match (next_upper, trim.end) {
                (_, Bound::Unbounded) => true,
                (None, _) => false,
                (Some(next_upper), Bound::Included(end) | Bound::Excluded(end)) => {
                    next_upper <= end
                }
            };
            if !inside {
                break;
            }
            count += 1;
        }
        if count == 0 {
            return Ok(());
        }
        let children: Vec<NodePtr> = branch.children.drain(index + 1..=index + count).collect();
        // Separators `index..index + count` go: the one left after them (if any) bounded the
        // last removed child from above, so it separates child `index` from the next too.
        branch.keys.drain(index..index + count);
        let level = branch.level - 1;
        for child in children {
            trim.removed += self.free_subtree(store, child, Some(level))?;
        }
        Ok(())
    }

    /// Frees a whole subtree (its nodes and blobs) and returns how many entries it held.
    fn free_subtree<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        ptr: NodePtr,
        level: Option<u8>,
    ) -> Result<u64> {
        let count = match self.dirty.remove(&ptr.id) {
            Some(Node::Leaf(entries)) => {
                for entry in &entries {
                    if let Value::Blob(blob) = entry.value {
                        store.free_blob(blob);
                    }
                }
                entries.len() as u64
            }
            Some(Node::Branch(branch)) => {
                let mut count = 0;
                for child in branch.children {
                    count += self.free_subtree(store, child, Some(branch.level - 1))?;
                }
                count
            }
            None => free_committed_subtree(store, ptr, level)?,
        };
        store.free_page(ptr.id);
        Ok(count)
    }

    /// Returns the dirty id of the node `ptr` refers to, copying it first if committed.
    pub(super) fn make_dirty<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        ptr: NodePtr,
        level: Option<u8>,
    ) -> Result<PageId> {
        if self.dirty.contains_key(&ptr.id) {
            return Ok(ptr.id);
        }
        let node = Node::from_page(&read_page(&*store, ptr, level)?);
        let id = store.alloc_page()?;
        store.free_page(ptr.id);
        self.dirty.insert(id, node);
        Ok(id)
    }

    pub(super) fn leaf_mut(&mut self, id: PageId) -> &mut Vec<Entry> {
        match self.dirty.get_mut(&id) {
            Some(Node::Leaf(entries)) => entries,
            other => panic!("{id} is not a dirty leaf: {other:?}"),
        }
    }

    pub(super) fn branch_mut(&mut self, id: PageId) -> &mut crate::btree::node::Branch {
        match self.dirty.get_mut(&id) {
            Some(Node::Branch(branch)) => branch,
            other => panic!("{id} is not a dirty branch: {other:?}"),
        }
    }
}

/// Frees the children and blobs of a committed subtree (not `ptr` itself) and returns how
/// many entries it held. Committed nodes reach only committed nodes.
fn free_committed_subtree<S: PageWrite + ?Sized>(
    store: &mut S,
    ptr: NodePtr,
    level: Option<u8>,
) -> Result<u64> {
    let page = read_page(&*store, ptr, level)?;
    if page.is_leaf() {
        for i in 0..page.len() {
            if let crate::btree::node::ValueRef::Blob(blob) = page.value(i) {
                store.free_blob(blob);
            }
        }
        return Ok(page.len() as u64);
    }
    let mut count = 0;
    for i in 0..page.len() {
        let child = page.child(i);
        count += free_committed_subtree(store, child, Some(page.level() - 1))?;
        store.free_page(child.id);
    }
    Ok(count)
}

/// The read half of "assert in pairs" for a page about to be written: it verifies and
/// decodes to the node it was encoded from.
fn assert_reads_back(page: &[u8], ptr: NodePtr, node: &Node) {
    verify(page, ptr).expect("a sealed page verifies");
    let parsed = parse(Arc::from(page), ptr.id).expect("an encoded node parses");
    assert_eq!(
        &Node::from_page(&parsed),
        node,
        "{} does not decode to what was encoded",
        ptr.id
    );
}

/// Stores a value inline or, above the inline limit, in a new blob.
fn store_value<S: PageWrite + ?Sized>(store: &mut S, value: &[u8]) -> Result<Value> {
    if value.len() <= max_inline_value_len(store.page_size()) {
        Ok(Value::Inline(value.to_vec()))
    } else {
        Ok(Value::Blob(store.write_blob(value)?))
    }
}
