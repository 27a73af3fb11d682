//! Reading a tree: loading nodes (committed pages through the store, or the dirty nodes of
//! a [`crate::btree::TreeMut`]), searching within a node, descending to a leaf, point
//! lookups and loading values (inline or from a blob).
//!
//! Every committed node is verified on load: the store checks its checksum and id, the
//! parser its layout and key order, and the descent its level (parent level minus one),
//! which bounds every descent by the root's level and so by [`MAX_DEPTH`].

use std::collections::HashMap;

use crate::btree::node::{Node, PageNode, ValueRef, parse};
use crate::btree::{MAX_DEPTH, PageRead, range};
use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::page::NodePtr;

/// A node being read: a verified committed page, or a dirty node held in memory.
#[derive(Debug)]
pub(crate) enum NodeRef<'a> {
    Page(PageNode),
    Dirty(&'a Node),
}

impl NodeRef<'_> {
    pub fn level(&self) -> u8 {
        match self {
            Self::Page(page) => page.level(),
            Self::Dirty(node) => node.level(),
        }
    }

    pub fn is_leaf(&self) -> bool {
        self.level() == 0
    }

    /// Entries of a leaf, children of a branch.
    pub fn len(&self) -> usize {
        match self {
            Self::Page(page) => page.len(),
            Self::Dirty(Node::Leaf(entries)) => entries.len(),
            Self::Dirty(Node::Branch(branch)) => branch.children.len(),
        }
    }

    /// Keys of a leaf, separators of a branch.
    pub fn key_count(&self) -> usize {
        match self {
            Self::Page(page) => page.key_count(),
            Self::Dirty(Node::Leaf(entries)) => entries.len(),
            Self::Dirty(Node::Branch(branch)) => branch.keys.len(),
        }
    }

    /// Leaf key `i` or branch separator `i`.
    pub fn key(&self, i: usize) -> &[u8] {
        match self {
            Self::Page(page) => page.key(i),
            Self::Dirty(Node::Leaf(entries)) => &entries[i].key,
            Self::Dirty(Node::Branch(branch)) => &branch.keys[i],
        }
    }

    /// Leaf value `i`.
    pub fn value(&self, i: usize) -> ValueRef<'_> {
        match self {
            Self::Page(page) => page.value(i),
            Self::Dirty(Node::Leaf(entries)) => entries[i].value.as_ref(),
            Self::Dirty(Node::Branch(_)) => unreachable!("value of a branch"),
        }
    }

    /// Branch child `i`.
    pub fn child(&self, i: usize) -> NodePtr {
        match self {
            Self::Page(page) => page.child(i),
            Self::Dirty(Node::Branch(branch)) => branch.children[i],
            Self::Dirty(Node::Leaf(_)) => unreachable!("child of a leaf"),
        }
    }

    /// The number of keys `< key`: in a leaf, where `key` is or would be.
    pub fn lower_bound(&self, key: &[u8]) -> usize {
        self.partition(|k| k < key)
    }

    /// The number of keys `<= key`: in a branch, the child whose range holds `key`.
    pub fn upper_bound(&self, key: &[u8]) -> usize {
        self.partition(|k| k <= key)
    }

    /// The index of leaf key `key`, if present.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let i = self.lower_bound(key);
        (i < self.key_count() && self.key(i) == key).then_some(i)
    }

    /// The first index whose key fails `before`; keys are sorted, so `before` holds for a
    /// prefix of them.
    fn partition(&self, before: impl Fn(&[u8]) -> bool) -> usize {
        let (mut low, mut high) = (0, self.key_count());
        while low < high {
            let mid = low + (high - low) / 2;
            if before(self.key(mid)) {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }
}

/// Where nodes come from: the store, and for a tree being changed its dirty nodes (which
/// shadow nothing: dirty nodes live on pages allocated in the current transaction).
pub(crate) struct Source<'a, S: ?Sized> {
    pub store: &'a S,
    pub dirty: Option<&'a HashMap<PageId, Node>>,
}

impl<S: ?Sized> Clone for Source<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: ?Sized> Copy for Source<'_, S> {}

impl<'a, S: PageRead + ?Sized> Source<'a, S> {
    /// Committed pages only.
    pub fn committed(store: &'a S) -> Self {
        Self { store, dirty: None }
    }

    /// Loads the node `ptr` refers to; `level` is the level the parent implies (none for a
    /// root).
    pub fn load(self, ptr: NodePtr, level: Option<u8>) -> Result<NodeRef<'a>> {
        match self.dirty.and_then(|dirty| dirty.get(&ptr.id)) {
            Some(node) => {
                debug_assert!(level.is_none_or(|level| level == node.level()));
                Ok(NodeRef::Dirty(node))
            }
            None => Ok(NodeRef::Page(read_page(self.store, ptr, level)?)),
        }
    }

    /// Loads a value: copies it, or reads it from its blob.
    pub fn load_value(self, value: ValueRef<'_>) -> Result<Vec<u8>> {
        load_value(self.store, value)
    }

    /// Descends from `root` to the leaf whose key range holds `key`.
    pub fn find_leaf(self, root: NodePtr, key: &[u8]) -> Result<NodeRef<'a>> {
        let mut node = self.load(root, None)?;
        for _ in 0..MAX_DEPTH {
            if node.is_leaf() {
                return Ok(node);
            }
            let child = node.child(node.upper_bound(key));
            node = self.load(child, Some(node.level() - 1))?;
        }
        Err(Error::corrupt(root.id, CorruptionKind::Cycle))
    }

    /// The value stored under `key`.
    pub fn get(self, root: Option<NodePtr>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(root) = root else {
            return Ok(None);
        };
        let leaf = self.find_leaf(root, key)?;
        match leaf.find(key) {
            Some(i) => Ok(Some(self.load_value(leaf.value(i))?)),
            None => Ok(None),
        }
    }
}

/// Reads and verifies the committed node `ptr` refers to; `level` is the level the parent
/// implies (none for a root).
pub(crate) fn read_page<S: PageRead + ?Sized>(
    store: &S,
    ptr: NodePtr,
    level: Option<u8>,
) -> Result<PageNode> {
    let page = parse(store.read_node(ptr)?, ptr.id)?;
    match level {
        Some(level) if level != page.level() => Err(Error::corrupt(
            ptr.id,
            CorruptionKind::Invalid("child level is not its parent's level minus one"),
        )),
        _ => Ok(page),
    }
}

/// Loads a value: copies it, or reads it from its blob and checks the length.
pub(crate) fn load_value<S: PageRead + ?Sized>(store: &S, value: ValueRef<'_>) -> Result<Vec<u8>> {
    match value {
        ValueRef::Inline(bytes) => Ok(bytes.to_vec()),
        ValueRef::Blob(ptr) => {
            let bytes = store.read_blob(ptr)?;
            if bytes.len() == ptr.len as usize {
                Ok(bytes)
            } else {
                Err(Error::corrupt(ptr.first, CorruptionKind::BadLength))
            }
        }
    }
}

/// The value stored under `key` in the committed tree `root`.
pub(crate) fn get<S: PageRead + ?Sized>(
    store: &S,
    root: Option<NodePtr>,
    key: &[u8],
) -> Result<Option<Vec<u8>>> {
    Source::committed(store).get(root, key)
}

/// The entry with the smallest key in the committed tree `root`.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "the event log's offset lookups use it next")
)]
pub(crate) fn first<S: PageRead + ?Sized>(
    store: &S,
    root: Option<NodePtr>,
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    range(
        store,
        root,
        (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
    )
    .next()
    .transpose()
}

/// The entry with the largest key in the committed tree `root`.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "the event log's offset lookups use it next")
)]
pub(crate) fn last<S: PageRead + ?Sized>(
    store: &S,
    root: Option<NodePtr>,
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    range(
        store,
        root,
        (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
    )
    .next_back()
    .transpose()
}
