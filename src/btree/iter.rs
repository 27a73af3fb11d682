//! Lazy range scans in both directions. Each end of a [`Range`] is a walk: a stack of the
//! nodes from the root to the current leaf with a position in each, so a scan holds at
//! most one node per level per end and reads each node once. Used from both ends, the
//! walks stop where they meet: each one treats the last key the other yielded as an
//! exclusive bound.

use std::iter::FusedIterator;
use std::ops::Bound;

use crate::btree::read::{NodeRef, Source};
use crate::btree::{MAX_DEPTH, PageRead};
use crate::error::Result;
use crate::page::NodePtr;

/// The entries of `root` whose keys lie within `bounds`, in increasing key order (and
/// decreasing with [`DoubleEndedIterator::next_back`] or `rev`). An invalid range
/// (start after end) is empty. After an error the iterator ends.
pub(crate) fn range<'a, S: PageRead + ?Sized>(
    store: &'a S,
    root: Option<NodePtr>,
    bounds: (Bound<&[u8]>, Bound<&[u8]>),
) -> Range<'a, S> {
    Range::new(Source::committed(store), root, bounds)
}

/// An iterator over a key range; see [`range`] and [`crate::btree::TreeMut::range`].
pub(crate) struct Range<'a, S: ?Sized> {
    source: Source<'a, S>,
    root: Option<NodePtr>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    front: Walk<'a>,
    back: Walk<'a>,
    done: bool,
}

impl<S: ?Sized> std::fmt::Debug for Range<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Range")
            .field("root", &self.root)
            .field("lower", &self.lower)
            .field("upper", &self.upper)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// One end of a scan.
#[derive(Debug, Default)]
struct Walk<'a> {
    /// Root first. A branch frame's index is the child being visited; a leaf frame's is
    /// the next entry to yield going forward, or one past it going backward.
    stack: Vec<Frame<'a>>,
    started: bool,
    /// The last key this end yielded.
    last: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Frame<'a> {
    node: NodeRef<'a>,
    index: usize,
}

/// Where a descent positions itself in each node it passes.
#[derive(Clone, Copy)]
enum Edge {
    Forward,
    Backward,
}

impl<'a, S: PageRead + ?Sized> Range<'a, S> {
    pub(crate) fn new(
        source: Source<'a, S>,
        root: Option<NodePtr>,
        (lower, upper): (Bound<&[u8]>, Bound<&[u8]>),
    ) -> Self {
        Self {
            source,
            root,
            lower: lower.map(<[u8]>::to_vec),
            upper: upper.map(<[u8]>::to_vec),
            front: Walk::default(),
            back: Walk::default(),
            done: false,
        }
    }

    /// The next key in range going forward, without loading its value.
    pub(crate) fn next_key(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self.step(Edge::Forward, false)?.map(|(key, _)| key))
    }

    /// Advances one end; `load` says whether to load the value.
    fn step(&mut self, edge: Edge, load: bool) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if self.done {
            return Ok(None);
        }
        let result = self.step_inner(edge, load);
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    fn step_inner(&mut self, edge: Edge, load: bool) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let (walk, other, start) = match edge {
            Edge::Forward => (&mut self.front, &self.back, &self.lower),
            Edge::Backward => (&mut self.back, &self.front, &self.upper),
        };
        if !walk.started {
            walk.started = true;
            if let Some(root) = self.root {
                walk.seek(self.source, root, start.as_ref().map(Vec::as_slice), edge)?;
            }
        }
        let Some(i) = walk.advance(self.source, edge)? else {
            return Ok(None);
        };
        let leaf = &walk
            .stack
            .last()
            .expect("advance returned a leaf position")
            .node;
        let key = leaf.key(i);
        let within = match (&other.last, edge) {
            (Some(met), Edge::Forward) => key < met.as_slice(),
            (Some(met), Edge::Backward) => key > met.as_slice(),
            (None, Edge::Forward) => !after_end(key, self.upper.as_ref().map(Vec::as_slice)),
            (None, Edge::Backward) => !before_start(key, self.lower.as_ref().map(Vec::as_slice)),
        };
        if !within {
            return Ok(None);
        }
        let value = if load {
            self.source.load_value(leaf.value(i))?
        } else {
            Vec::new()
        };
        match &mut walk.last {
            Some(last) => {
                last.clear();
                last.extend_from_slice(key);
            }
            None => walk.last = Some(key.to_vec()),
        }
        Ok(Some((key.to_vec(), value)))
    }
}

/// True if `key` lies after the range end `end`.
pub(crate) fn after_end(key: &[u8], end: Bound<&[u8]>) -> bool {
    match end {
        Bound::Included(end) => key > end,
        Bound::Excluded(end) => key >= end,
        Bound::Unbounded => false,
    }
}

/// True if `key` lies before the range start `start`.
fn before_start(key: &[u8], start: Bound<&[u8]>) -> bool {
    match start {
        Bound::Included(start) => key < start,
        Bound::Excluded(start) => key <= start,
        Bound::Unbounded => false,
    }
}

impl<'a> Walk<'a> {
    /// Descends from `root` to the first (forward) or last (backward) position within
    /// `bound`, the lower or upper bound respectively.
    fn seek<S: PageRead + ?Sized>(
        &mut self,
        source: Source<'a, S>,
        root: NodePtr,
        bound: Bound<&[u8]>,
        edge: Edge,
    ) -> Result<()> {
        let mut node = source.load(root, None)?;
        loop {
            let index = match (bound, edge, node.is_leaf()) {
                (Bound::Unbounded, Edge::Forward, _) => 0,
                (Bound::Unbounded, Edge::Backward, true) => node.len(),
                (Bound::Unbounded, Edge::Backward, false) => node.len() - 1,
                (Bound::Included(key), Edge::Forward, true)
                | (Bound::Excluded(key), Edge::Backward, _) => node.lower_bound(key),
                (Bound::Included(key) | Bound::Excluded(key), Edge::Forward, false)
                | (Bound::Excluded(key), Edge::Forward, true)
                | (Bound::Included(key), Edge::Backward, _) => node.upper_bound(key),
            };
            let next = self.push(source, node, index)?;
            match next {
                Some(child) => node = child,
                None => return Ok(()),
            }
        }
    }

    /// Pushes a frame; for a branch, loads and returns the child at `index`.
    fn push<S: PageRead + ?Sized>(
        &mut self,
        source: Source<'a, S>,
        node: NodeRef<'a>,
        index: usize,
    ) -> Result<Option<NodeRef<'a>>> {
        let child = if node.is_leaf() {
            None
        } else {
            Some(source.load(node.child(index), Some(node.level() - 1))?)
        };
        // Levels fall by one per step from a root below MAX_DEPTH (checked on load).
        debug_assert!(
            self.stack.len() < MAX_DEPTH,
            "descent deeper than MAX_DEPTH"
        );
        self.stack.push(Frame { node, index });
        Ok(child)
    }

    /// Moves to the next entry in direction `edge` and returns its index in the top leaf.
    fn advance<S: PageRead + ?Sized>(
        &mut self,
        source: Source<'a, S>,
        edge: Edge,
    ) -> Result<Option<usize>> {
        loop {
            let Some(top) = self.stack.last_mut() else {
                return Ok(None);
            };
            let leaf = top.node.is_leaf();
            let next = match edge {
                Edge::Forward if leaf => (top.index < top.node.len()).then_some(top.index),
                Edge::Forward => (top.index + 1 < top.node.len()).then_some(top.index + 1),
                Edge::Backward => top.index.checked_sub(1),
            };
            let Some(next) = next else {
                self.stack.pop();
                continue;
            };
            if leaf {
                top.index = if matches!(edge, Edge::Forward) {
                    next + 1
                } else {
                    next
                };
                return Ok(Some(next));
            }
            top.index = next;
            let mut node = source.load(top.node.child(next), Some(top.node.level() - 1))?;
            // Descend to the nearest leaf edge below the new child.
            loop {
                let index = match (edge, node.is_leaf()) {
                    (Edge::Forward, _) => 0,
                    (Edge::Backward, true) => node.len(),
                    (Edge::Backward, false) => node.len() - 1,
                };
                match self.push(source, node, index)? {
                    Some(child) => node = child,
                    None => break,
                }
            }
        }
    }
}

impl<S: PageRead + ?Sized> Iterator for Range<'_, S> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(Edge::Forward, true).transpose()
    }
}

impl<S: PageRead + ?Sized> DoubleEndedIterator for Range<'_, S> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(Edge::Backward, true).transpose()
    }
}

impl<S: PageRead + ?Sized> FusedIterator for Range<'_, S> {}
