//! The model test: random operations on a [`TreeMut`] over 512-byte pages, compared with a
//! `BTreeMap` after every step. Values up to 2000 bytes make blobs; periodic flushes make
//! commits, so later changes copy committed nodes. After each flush the tree is checked
//! with `check_tree`, every live page must be reachable, and the committed tree is read
//! through the read API. Coverage (depth reached, root collapses, merges, blobs, emptied
//! trees) is accumulated over all cases and asserted at the end.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::mock::MemStore;
use crate::btree::{TreeMut, TreeStats, get, range};
use crate::page::NodePtr;

const PAGE_SIZE: usize = 512;

#[derive(Clone, Debug)]
enum Op {
    Insert {
        key: u16,
        len: u16,
        seed: u8,
    },
    Remove {
        key: u16,
    },
    RemoveRange {
        lower: BoundSpec,
        upper: BoundSpec,
    },
    Get {
        key: u16,
    },
    Scan {
        lower: BoundSpec,
        upper: BoundSpec,
        reverse: bool,
        limit: u8,
    },
    /// Takes from both ends; bit `i` of `pattern` picks the end for step `i`.
    BothEnds {
        lower: BoundSpec,
        upper: BoundSpec,
        pattern: u64,
    },
    Flush {
        new_txn: bool,
    },
}

/// A range bound: a key index, possibly truncated so it falls between keys.
#[derive(Clone, Copy, Debug)]
enum BoundSpec {
    Unbounded,
    Included(u16, u8),
    Excluded(u16, u8),
}

/// How keys look in one case: all keys share `prefix_len` bytes of prefix (long prefixes
/// make long separators, so narrow branches and deep trees).
#[derive(Clone, Copy, Debug)]
struct KeyStyle {
    prefix_len: usize,
    key_space: u16,
}

impl KeyStyle {
    /// Key `n`: prefix, `n` big-endian (so keys sort by `n`), a tail whose length varies
    /// with `n`, at most 56 bytes in all. Key 0 is the empty key.
    fn key(self, n: u16) -> Vec<u8> {
        let n = n % self.key_space;
        if n == 0 {
            return Vec::new();
        }
        let mut key = vec![b'p'; self.prefix_len];
        key.extend_from_slice(&n.to_be_bytes());
        let tail = usize::from(n) * 7 % (56 - self.prefix_len - 2 + 1);
        key.extend((0..tail).map(|i| i as u8));
        key
    }

    fn bound(self, spec: BoundSpec) -> Bound<Vec<u8>> {
        let cut = |n: u16, keep: u8| {
            let key = self.key(n);
            let keep = usize::from(keep).min(key.len());
            key[..keep].to_vec()
        };
        match spec {
            BoundSpec::Unbounded => Bound::Unbounded,
            BoundSpec::Included(n, keep) => Bound::Included(cut(n, keep)),
            BoundSpec::Excluded(n, keep) => Bound::Excluded(cut(n, keep)),
        }
    }
}

fn value(len: u16, seed: u8) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn bound_spec() -> impl Strategy<Value = BoundSpec> {
    let keep = prop_oneof![3 => Just(u8::MAX), 1 => 0u8..60];
    prop_oneof![
        1 => Just(BoundSpec::Unbounded),
        3 => (any::<u16>(), keep.clone()).prop_map(|(n, k)| BoundSpec::Included(n, k)),
        3 => (any::<u16>(), keep).prop_map(|(n, k)| BoundSpec::Excluded(n, k)),
    ]
}

/// A bound pair whose upper end is usually a little after its lower end, so most range
/// removals are narrow and the tree keeps growing.
fn narrow_range() -> impl Strategy<Value = (BoundSpec, BoundSpec)> {
    (
        any::<u16>(),
        prop_oneof![10 => 0u16..30, 1 => 0u16..3000],
        any::<bool>(),
    )
        .prop_map(|(start, width, inclusive)| {
            let end = start.saturating_add(width);
            if inclusive {
                (
                    BoundSpec::Included(start, u8::MAX),
                    BoundSpec::Included(end, u8::MAX),
                )
            } else {
                (
                    BoundSpec::Excluded(start, u8::MAX),
                    BoundSpec::Excluded(end, u8::MAX),
                )
            }
        })
}

/// One operation; `grow` mixes favour inserts and leave out wide range removals, so the
/// tree gets large and deep; the other mix churns.
fn op(grow: bool) -> impl Strategy<Value = Op> {
    let len = prop_oneof![8 => 0u16..62, 2 => 62u16..2001];
    let (insert, remove, wide) = if grow { (60, 8, 0) } else { (40, 15, 1) };
    prop_oneof![
        insert => (any::<u16>(), len, any::<u8>()).prop_map(|(key, len, seed)| Op::Insert { key, len, seed }),
        remove => any::<u16>().prop_map(|key| Op::Remove { key }),
        2 => narrow_range().prop_map(|(lower, upper)| Op::RemoveRange { lower, upper }),
        wide => (bound_spec(), bound_spec()).prop_map(|(lower, upper)| Op::RemoveRange { lower, upper }),
        10 => any::<u16>().prop_map(|key| Op::Get { key }),
        6 => (bound_spec(), bound_spec(), any::<bool>(), any::<u8>())
            .prop_map(|(lower, upper, reverse, limit)| Op::Scan { lower, upper, reverse, limit }),
        2 => (bound_spec(), bound_spec(), any::<u64>())
            .prop_map(|(lower, upper, pattern)| Op::BothEnds { lower, upper, pattern }),
        2 => any::<bool>().prop_map(|new_txn| Op::Flush { new_txn }),
    ]
}

fn case() -> impl Strategy<Value = (KeyStyle, Vec<Op>)> {
    let style = (
        prop_oneof![Just(0usize), 0usize..=50],
        prop_oneof![50u16..500, 500u16..8000],
    )
        .prop_map(|(prefix_len, key_space)| KeyStyle {
            prefix_len,
            key_space,
        });
    let ops = any::<bool>().prop_flat_map(|grow| prop::collection::vec(op(grow), 2000..6000));
    (style, ops)
}

/// What the cases reached, over all of them.
#[derive(Debug, Default)]
struct Coverage {
    max_depth: u32,
    root_collapses: u32,
    leaf_merges: u32,
    blob_pages: u64,
    emptied: u32,
    flushes: u32,
    max_entries: u64,
    ops: u64,
}

fn in_range(key: &[u8], bounds: &(Bound<Vec<u8>>, Bound<Vec<u8>>)) -> bool {
    let after_start = match &bounds.0 {
        Bound::Included(start) => key >= start.as_slice(),
        Bound::Excluded(start) => key > start.as_slice(),
        Bound::Unbounded => true,
    };
    let before_end = match &bounds.1 {
        Bound::Included(end) => key <= end.as_slice(),
        Bound::Excluded(end) => key < end.as_slice(),
        Bound::Unbounded => true,
    };
    after_start && before_end
}

fn as_slices(bounds: &(Bound<Vec<u8>>, Bound<Vec<u8>>)) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (
        bounds.0.as_ref().map(Vec::as_slice),
        bounds.1.as_ref().map(Vec::as_slice),
    )
}

struct Run<'c> {
    style: KeyStyle,
    store: MemStore,
    tree: TreeMut,
    model: BTreeMap<Vec<u8>, Vec<u8>>,
    last: TreeStats,
    coverage: &'c RefCell<Coverage>,
}

impl Run<'_> {
    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let style = self.style;
        match *op {
            Op::Insert { key, len, seed } => {
                let (key, value) = (style.key(key), value(len, seed));
                self.tree
                    .insert(&mut self.store, &key, &value)
                    .expect("insert");
                self.model.insert(key, value);
            }
            Op::Remove { key } => {
                let key = style.key(key);
                let removed = self.tree.remove(&mut self.store, &key).expect("remove");
                prop_assert_eq!(removed, self.model.remove(&key).is_some());
                self.check_emptied(usize::from(removed))?;
            }
            Op::RemoveRange { lower, upper } => {
                let bounds = (style.bound(lower), style.bound(upper));
                let removed = self
                    .tree
                    .remove_range(&mut self.store, as_slices(&bounds))
                    .expect("rr");
                let before = self.model.len();
                self.model.retain(|key, _| !in_range(key, &bounds));
                prop_assert_eq!(removed, (before - self.model.len()) as u64);
                self.check_emptied(before)?;
            }
            Op::Get { key } => {
                let key = style.key(key);
                prop_assert_eq!(
                    self.tree.get(&self.store, &key).expect("get"),
                    self.model.get(&key).cloned()
                );
            }
            Op::Scan {
                lower,
                upper,
                reverse,
                limit,
            } => {
                let bounds = (style.bound(lower), style.bound(upper));
                let expected = self.expected(&bounds);
                let iter = self.tree.range(&self.store, as_slices(&bounds));
                let limit = usize::from(limit);
                let actual: Vec<_> = if reverse {
                    iter.rev()
                        .take(limit)
                        .map(|item| item.expect("scan"))
                        .collect()
                } else {
                    iter.take(limit).map(|item| item.expect("scan")).collect()
                };
                let expected: Vec<_> = if reverse {
                    expected.into_iter().rev().take(limit).collect()
                } else {
                    expected.into_iter().take(limit).collect()
                };
                prop_assert_eq!(actual, expected);
            }
            Op::BothEnds {
                lower,
                upper,
                pattern,
            } => {
                let bounds = (style.bound(lower), style.bound(upper));
                let mut expected: VecDeque<_> = self.expected(&bounds).into();
                let mut iter = self.tree.range(&self.store, as_slices(&bounds));
                for step in 0..80 {
                    let (actual, wanted) = if pattern >> (step % 64) & 1 == 0 {
                        (iter.next(), expected.pop_front())
                    } else {
                        (iter.next_back(), expected.pop_back())
                    };
                    prop_assert_eq!(actual.map(|item| item.expect("scan")), wanted);
                }
            }
            Op::Flush { new_txn } => self.flush(new_txn)?,
        }
        Ok(())
    }

    /// An emptied tree has no root (and no dirty nodes).
    fn check_emptied(&mut self, entries_before: usize) -> Result<(), TestCaseError> {
        if self.model.is_empty() && entries_before > 0 {
            prop_assert!(self.tree.root.is_none() && self.tree.dirty.is_empty());
            self.coverage.borrow_mut().emptied += 1;
        }
        Ok(())
    }

    fn expected(&self, bounds: &(Bound<Vec<u8>>, Bound<Vec<u8>>)) -> Vec<(Vec<u8>, Vec<u8>)> {
        let entries = self.model.iter().filter(|(key, _)| in_range(key, bounds));
        entries
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// Commits, checks the tree and its pages, reads it back through the read API.
    fn flush(&mut self, new_txn: bool) -> Result<(), TestCaseError> {
        let root = self.tree.flush(&mut self.store).expect("flush");
        self.store.commit();
        let stats = self.store.assert_accounted(&[root])[0];
        prop_assert_eq!(stats.entries, self.model.len() as u64);
        self.committed_reads(root)?;
        let mut coverage = self.coverage.borrow_mut();
        coverage.max_depth = coverage.max_depth.max(stats.depth);
        coverage.root_collapses += u32::from(stats.depth < self.last.depth && stats.depth > 0);
        coverage.leaf_merges +=
            u32::from(stats.leaf_pages < self.last.leaf_pages && stats.leaf_pages > 0);
        coverage.blob_pages += stats.blob_pages;
        coverage.flushes += 1;
        coverage.max_entries = coverage.max_entries.max(stats.entries);
        self.last = stats;
        if new_txn {
            self.tree = TreeMut::new(root);
        }
        Ok(())
    }

    fn committed_reads(&self, root: Option<NodePtr>) -> Result<(), TestCaseError> {
        let all = (Bound::Unbounded, Bound::Unbounded);
        let entries: Vec<_> = range(&self.store, root, all)
            .map(|item| item.expect("scan"))
            .collect();
        let expected: Vec<_> = self
            .model
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        prop_assert_eq!(&entries, &expected);
        let reversed: Vec<_> = range(&self.store, root, all)
            .rev()
            .map(|item| item.expect("rev"))
            .collect();
        prop_assert!(reversed.iter().eq(expected.iter().rev()));
        for (key, value) in self.model.iter().step_by(17) {
            prop_assert_eq!(
                get(&self.store, root, key).expect("get"),
                Some(value.clone())
            );
        }
        Ok(())
    }
}

#[test]
fn tree_matches_btreemap() {
    let coverage = RefCell::new(Coverage::default());
    let mut runner = TestRunner::new(Config {
        // BROOKLET_MODEL_CASES=1000 for a longer run.
        cases: std::env::var("BROOKLET_MODEL_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(48),
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |(style, ops)| {
            let mut run = Run {
                style,
                store: MemStore::new(PAGE_SIZE),
                tree: TreeMut::new(None),
                model: BTreeMap::new(),
                last: TreeStats::default(),
                coverage: &coverage,
            };
            for op in &ops {
                run.step(op)?;
            }
            run.flush(true)?;
            // Empty the tree in two range removals (not the whole-tree shortcut).
            let middle = style.key_space / 2;
            let first_half = Op::RemoveRange {
                lower: BoundSpec::Unbounded,
                upper: BoundSpec::Included(middle, u8::MAX),
            };
            run.step(&first_half)?;
            run.flush(false)?;
            let rest = Op::RemoveRange {
                lower: BoundSpec::Included(0, 0),
                upper: BoundSpec::Unbounded,
            };
            run.step(&rest)?;
            prop_assert!(run.model.is_empty());
            run.flush(false)?;
            coverage.borrow_mut().ops += ops.len() as u64;
            Ok(())
        })
        .expect("the tree behaves like BTreeMap");
    let coverage = coverage.into_inner();
    println!("{coverage:?}");
    assert!(coverage.max_depth >= 3, "{coverage:?}");
    assert!(coverage.root_collapses > 0, "{coverage:?}");
    assert!(coverage.leaf_merges > 0, "{coverage:?}");
    assert!(coverage.blob_pages > 0, "{coverage:?}");
    assert!(coverage.emptied > 0, "{coverage:?}");
}
