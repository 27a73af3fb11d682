//! Rebalancing a [`TreeMut`] after a change, bottom-up along the path that was changed:
//! a node larger than a page splits in two, a node below a quarter of the page merges with
//! a sibling or, when both do not fit in one page, shares entries with it; the root grows a
//! level on a split, drops one when it is left with one child, and disappears when it is an
//! empty leaf.
//!
//! Why one split suffices: every entry is at most a quarter of a node body
//! ([`crate::btree::max_entry_len`]), and a node exceeds a page by at most one entry, so
//! halves cut at the byte midpoint each hold at most seven eighths of a page.

use crate::btree::node::{BRANCH_ENTRY_OVERHEAD, Branch, Entry, Node};
use crate::btree::tree::{Step, TreeMut, dirty_ptr};
use crate::btree::{MAX_DEPTH, PageWrite, max_entry_len, read::read_page};
use crate::error::{PageId, Result};
use crate::page::{HEADER_SIZE, NodePtr};

/// A node body below this many bytes is refilled from a sibling.
fn min_body_len(page_size: usize) -> usize {
    max_entry_len(page_size)
}

impl TreeMut {
    /// Rebalances every node on `path` (root first), bottom-up, then the root.
    pub(super) fn fix_path<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        path: &[Step],
    ) -> Result<()> {
        for step in path.iter().rev() {
            self.fix_child(store, step.branch, step.index)?;
        }
        self.fix_root(store)
    }

    /// Splits or refills child `index` of the dirty branch `parent` (the child is dirty).
    fn fix_child<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        parent: PageId,
        index: usize,
    ) -> Result<()> {
        let page_size = store.page_size();
        let child = self.branch_mut(parent).children[index].id;
        let body_len = self.dirty[&child].body_len();
        if HEADER_SIZE + body_len > page_size {
            let left = self.dirty.get_mut(&child).expect("dirty child");
            let (separator, right) = split(left);
            assert_fits(&[left, &right], page_size);
            let right_id = store.alloc_page()?;
            self.dirty.insert(right_id, right);
            let branch = self.branch_mut(parent);
            branch.keys.insert(index, separator);
            branch.children.insert(index + 1, dirty_ptr(right_id));
        } else if body_len < min_body_len(page_size) {
            self.refill_child(store, parent, index)?;
        }
        Ok(())
    }

    /// Merges the underfull child `index` of `parent` with a sibling, or moves entries from
    /// the sibling when the two do not fit in one page.
    fn refill_child<S: PageWrite + ?Sized>(
        &mut self,
        store: &mut S,
        parent: PageId,
        index: usize,
    ) -> Result<()> {
        let page_size = store.page_size();
        let branch = self.branch_mut(parent);
        assert!(branch.children.len() >= 2, "branch {parent} has one child");
        let left_index = index.saturating_sub(1);
        let sibling_index = if index == 0 { 1 } else { index - 1 };
        let child_id = branch.children[index].id;
        let sibling_ptr = branch.children[sibling_index];
        let separator = branch.keys[left_index].clone();
        let level = branch.level - 1;

        let child = self.dirty.remove(&child_id).expect("dirty child");
        let (sibling, sibling_dirty) = match self.dirty.remove(&sibling_ptr.id) {
            Some(node) => (node, true),
            None => (
                Node::from_page(&read_page(&*store, sibling_ptr, Some(level))?),
                false,
            ),
        };
        let (left, right) = if sibling_index < index {
            (sibling, child)
        } else {
            (child, sibling)
        };
        let merged = concat(left, separator, right);
        if HEADER_SIZE + merged.body_len() <= page_size {
            store.free_page(sibling_ptr.id);
            self.dirty.insert(child_id, merged);
            let branch = self.branch_mut(parent);
            branch.keys.remove(left_index);
            branch.children.remove(sibling_index);
            branch.children[left_index] = dirty_ptr(child_id);
            return Ok(());
        }
        let mut left = merged;
        let (separator, right) = split(&mut left);
        assert_fits(&[&left, &right], page_size);
        let sibling_id = if sibling_dirty {
            sibling_ptr.id
        } else {
            let id = store.alloc_page()?;
            store.free_page(sibling_ptr.id);
            id
        };
        let (left_id, right_id) = if sibling_index < index {
            (sibling_id, child_id)
        } else {
            (child_id, sibling_id)
        };
        self.dirty.insert(left_id, left);
        self.dirty.insert(right_id, right);
        let branch = self.branch_mut(parent);
        branch.keys[left_index] = separator;
        branch.children[left_index] = dirty_ptr(left_id);
        branch.children[left_index + 1] = dirty_ptr(right_id);
        Ok(())
    }

    /// Splits an overfull root (the tree grows a level), drops a root branch with one
    /// child, and removes an empty root leaf.
    fn fix_root<S: PageWrite + ?Sized>(&mut self, store: &mut S) -> Result<()> {
        let page_size = store.page_size();
        for _ in 0..=MAX_DEPTH {
            let Some(root) = self.root else {
                return Ok(());
            };
            let Some(node) = self.dirty.get_mut(&root.id) else {
                return Ok(());
            };
            if HEADER_SIZE + node.body_len() > page_size {
                let level = node.level() + 1;
                assert!(
                    usize::from(level) < MAX_DEPTH,
                    "tree deeper than {MAX_DEPTH}"
                );
                let (separator, right) = split(node);
                assert_fits(&[node, &right], page_size);
                let right_id = store.alloc_page()?;
                self.dirty.insert(right_id, right);
                let new_root = store.alloc_page()?;
                let branch = Branch {
                    level,
                    keys: vec![separator],
                    children: vec![root, dirty_ptr(right_id)],
                };
                self.dirty.insert(new_root, Node::Branch(branch));
                self.root = Some(dirty_ptr(new_root));
                return Ok(());
            }
            let next: Option<NodePtr> = match node {
                Node::Branch(branch) if branch.children.len() == 1 => Some(branch.children[0]),
                Node::Leaf(entries) if entries.is_empty() => None,
                _ => return Ok(()),
            };
            self.dirty.remove(&root.id);
            store.free_page(root.id);
            self.root = next;
        }
        unreachable!("each round removes a level or returns")
    }
}

/// Asserts that the halves of a split fit their pages (see the module docs for why).
fn assert_fits(halves: &[&Node], page_size: usize) {
    for half in halves {
        let len = HEADER_SIZE + half.body_len();
        assert!(
            len <= page_size,
            "split half of {len} bytes in {page_size}-byte pages"
        );
    }
}

/// Joins two siblings; `separator` (the parent's key between them) moves down into a
/// branch, and is dropped for leaves.
fn concat(left: Node, separator: Vec<u8>, right: Node) -> Node {
    match (left, right) {
        (Node::Leaf(mut left), Node::Leaf(right)) => {
            left.extend(right);
            Node::Leaf(left)
        }
        (Node::Branch(mut left), Node::Branch(right)) => {
            assert_eq!(left.level, right.level, "siblings at different levels");
            left.keys.push(separator);
            left.keys.extend(right.keys);
            left.children.extend(right.children);
            Node::Branch(left)
        }
        _ => panic!("a leaf and a branch are siblings"),
    }
}

/// Splits `node` near its byte midpoint: `node` keeps the lower half, the upper half is
/// returned with the separator that goes up to the parent.
fn split(node: &mut Node) -> (Vec<u8>, Node) {
    match node {
        Node::Leaf(entries) => {
            let at = leaf_split_index(entries);
            let right = entries.split_off(at);
            let separator = shortest_separator(&entries[at - 1].key, &right[0].key);
            (separator, Node::Leaf(right))
        }
        Node::Branch(branch) => {
            let at = branch_split_index(&branch.keys);
            let right = Branch {
                level: branch.level,
                keys: branch.keys.split_off(at + 1),
                children: branch.children.split_off(at + 1),
            };
            let separator = branch.keys.pop().expect("the middle key");
            (separator, Node::Branch(right))
        }
    }
}

/// The first entry of the upper half: the first index where the lower half holds at least
/// half the bytes, kept within `1..len` so neither half is empty.
fn leaf_split_index(entries: &[Entry]) -> usize {
    assert!(
        entries.len() >= 2,
        "splitting a leaf of {} entries",
        entries.len()
    );
    let total: usize = entries.iter().map(Entry::encoded_len).sum();
    let mut lower = 0;
    let mut at = 0;
    while at < entries.len() && 2 * lower < total {
        lower += entries[at].encoded_len();
        at += 1;
    }
    at.clamp(1, entries.len() - 1)
}

/// The separator that moves up: the first index where the keys before it hold at least as
/// many bytes as those after it, kept within `1..len-1` so each half keeps two children.
fn branch_split_index(keys: &[Vec<u8>]) -> usize {
    assert!(keys.len() >= 3, "splitting a branch of {} keys", keys.len());
    let total: usize =
        keys.iter().map(Vec::len).sum::<usize>() + BRANCH_ENTRY_OVERHEAD * keys.len();
    let mut lower = 0;
    let mut at = 0;
    while at < keys.len() && 2 * lower + BRANCH_ENTRY_OVERHEAD + keys[at].len() < total {
        lower += BRANCH_ENTRY_OVERHEAD + keys[at].len();
        at += 1;
    }
    at.clamp(1, keys.len() - 2)
}

/// The shortest key `s` with `left < s <= right`: a prefix of `right`. Short separators
/// make branches wider and the tree shallower.
fn shortest_separator(left: &[u8], right: &[u8]) -> Vec<u8> {
    assert!(left < right, "keys out of order at a split");
    let common = left.iter().zip(right).take_while(|(a, b)| a == b).count();
    right[..=common].to_vec()
}
