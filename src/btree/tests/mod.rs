//! B-tree tests: targeted cases here, a model test against `BTreeMap` in `model.rs`,
//! corruption and decoder robustness in `corrupt.rs`, all on the checking [`MemStore`].

mod corrupt;
mod mock;
mod model;

use std::ops::Bound;

use mock::MemStore;

use crate::btree::{
    Evict, MAX_VALUE_LEN, TreeMut, first, get, last, max_inline_value_len, max_key_len, range,
};
use crate::error::Error;
use crate::page::NodePtr;

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

const ALL: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Unbounded);

/// A key of `len` bytes that sorts by `n` (big-endian prefix).
fn key(n: u32, len: usize) -> Vec<u8> {
    let mut key = n.to_be_bytes().to_vec();
    key.resize(len.max(4), b'k');
    key
}

/// A value of `len` bytes that depends on `seed`.
fn value(seed: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seed as usize * 31 + i) as u8).collect()
}

fn scan(store: &MemStore, root: Option<NodePtr>) -> Entries {
    range(store, root, ALL)
        .collect::<Result<_, _>>()
        .expect("scan")
}

/// Flushes, commits, checks the tree and the page accounting; returns the new root.
fn commit(tree: &mut TreeMut, store: &mut MemStore) -> Option<NodePtr> {
    let root = tree.flush(store).expect("flush");
    assert!(!tree.is_dirty());
    store.commit();
    store.assert_accounted(&[root]);
    root
}

#[test]
fn empty_tree() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    assert_eq!(tree.get(&store, b"a").expect("get"), None);
    assert!(!tree.remove(&mut store, b"a").expect("remove"));
    assert_eq!(
        tree.remove_range(&mut store, (Bound::Included(b"a"), Bound::Unbounded))
            .expect("rr"),
        0
    );
    assert_eq!(tree.remove_range(&mut store, ALL).expect("rr"), 0);
    assert_eq!(tree.range(&store, ALL).count(), 0);
    assert!(!tree.is_dirty());
    assert_eq!(tree.flush(&mut store).expect("flush"), None);
    assert_eq!(get(&store, None, b"a").expect("get"), None);
    assert!(first(&store, None).expect("first").is_none());
    assert!(last(&store, None).expect("last").is_none());
    assert_eq!(store.writes, 0);
}

#[test]
fn key_length_limit() {
    for page_size in [512, 4096, 65536] {
        let mut store = MemStore::new(page_size);
        let mut tree = TreeMut::new(None);
        let max = max_key_len(page_size);
        tree.insert(&mut store, &vec![7; max], b"v")
            .expect("longest key");
        let err = tree
            .insert(&mut store, &vec![7; max + 1], b"v")
            .expect_err("too long");
        let Error::InvalidArgument(message) = err else {
            panic!("expected InvalidArgument, got {err:?}");
        };
        assert!(
            message.contains(&format!("maximum of {max} bytes")),
            "{message}"
        );
        let root = commit(&mut tree, &mut store);
        assert_eq!(
            get(&store, root, &vec![7; max]).expect("get"),
            Some(b"v".to_vec())
        );
    }
    assert_eq!(max_key_len(512), 56);
    assert_eq!(max_inline_value_len(512), 61);
    assert_eq!(max_key_len(4096), 504);
    assert_eq!(MAX_VALUE_LEN, u32::MAX as usize);
}

#[test]
fn largest_entries_split_at_the_smallest_page() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    let (key_len, value_len) = (max_key_len(512), max_inline_value_len(512));
    for n in 0..200 {
        tree.insert(&mut store, &key(n, key_len), &value(n, value_len))
            .expect("insert");
    }
    let root = commit(&mut tree, &mut store);
    let entries = scan(&store, root);
    assert_eq!(entries.len(), 200);
    for (n, (k, v)) in (0..).zip(&entries) {
        assert_eq!((k, v), (&key(n, key_len), &value(n, value_len)));
    }
}

#[test]
fn blobs_are_stored_replaced_and_freed() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    let big = value(1, 5000);
    tree.insert(&mut store, b"big", &big).expect("insert");
    tree.insert(&mut store, b"small", b"s").expect("insert");
    let root = commit(&mut tree, &mut store);
    let stats = store.assert_accounted(&[root]);
    assert_eq!(stats[0].blob_pages, 10);
    assert_eq!(get(&store, root, b"big").expect("get"), Some(big));
    assert_eq!(
        first(&store, root).expect("first").map(|e| e.0),
        Some(b"big".to_vec())
    );
    assert_eq!(
        last(&store, root).expect("last").map(|e| e.0),
        Some(b"small".to_vec())
    );

    let live = store.live_pages();
    tree.insert(&mut store, b"big", b"now small")
        .expect("replace");
    let root = commit(&mut tree, &mut store);
    assert_eq!(store.live_pages(), live - 10);
    tree.insert(&mut store, b"small", &value(2, 700))
        .expect("grow into a blob");
    let root2 = commit(&mut tree, &mut store);
    assert_ne!(root, root2);
    assert!(tree.remove(&mut store, b"small").expect("remove"));
    let root = commit(&mut tree, &mut store);
    assert_eq!(
        scan(&store, root),
        vec![(b"big".to_vec(), b"now small".to_vec())]
    );
}

#[test]
fn copy_on_write_touches_one_path() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    for n in 0..2000 {
        tree.insert(&mut store, &key(n, 20), &value(n, 30))
            .expect("insert");
    }
    let root = commit(&mut tree, &mut store);
    let depth = store.assert_accounted(&[root])[0].depth;
    assert!(depth >= 3, "depth {depth}");

    let mut tree = TreeMut::new(root);
    let (allocs, frees, writes) = (store.allocs, store.frees, store.writes);
    tree.insert(&mut store, &key(1000, 20), b"changed")
        .expect("insert");
    tree.insert(&mut store, &key(1001, 20), b"changed too")
        .expect("insert");
    assert_eq!(
        store.allocs - allocs,
        u64::from(depth),
        "one copy per level"
    );
    assert_eq!(store.frees - frees, u64::from(depth));
    assert_eq!(store.writes, writes, "nothing is written before flush");
    let new_root = commit(&mut tree, &mut store);
    assert_eq!(
        store.writes - writes,
        u64::from(depth),
        "each dirty node written once"
    );
    assert_eq!(
        get(&store, new_root, &key(1000, 20)).expect("get"),
        Some(b"changed".to_vec())
    );

    // A removal of an absent key copies nothing; a flush without changes writes nothing.
    let allocs = store.allocs;
    assert!(!tree.remove(&mut store, b"absent").expect("remove"));
    assert_eq!(tree.flush(&mut store).expect("flush"), new_root);
    assert_eq!(store.allocs, allocs);
}

#[test]
fn flush_twice_in_one_transaction() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    for n in 0..300 {
        tree.insert(&mut store, &key(n, 10), &value(n, 40))
            .expect("insert");
    }
    tree.flush(&mut store).expect("flush");
    for n in 0..300 {
        if n % 3 == 0 {
            tree.remove(&mut store, &key(n, 10)).expect("remove");
        }
    }
    let root = commit(&mut tree, &mut store);
    assert_eq!(scan(&store, root).len(), 200);
}

#[test]
fn two_trees_share_a_store() {
    let mut store = MemStore::new(512);
    let (mut a, mut b) = (TreeMut::new(None), TreeMut::new(None));
    for n in 0..500 {
        a.insert(&mut store, &key(n, 8), &value(n, 10))
            .expect("insert");
        b.insert(&mut store, &key(n, 8), &value(n + 1, 100))
            .expect("insert");
    }
    let (root_a, root_b) = (
        a.flush(&mut store).expect("a"),
        b.flush(&mut store).expect("b"),
    );
    store.commit();
    store.assert_accounted(&[root_a, root_b]);
    assert_eq!(
        get(&store, root_b, &key(7, 8)).expect("get"),
        Some(value(8, 100))
    );
    assert_eq!(
        get(&store, root_a, &key(7, 8)).expect("get"),
        Some(value(7, 10))
    );
}

/// Grows a deep tree with long shared-prefix keys, then empties it in a scattered order:
/// splits up to four levels, then merges and root collapses down to no root.
#[test]
fn deep_tree_grows_and_collapses() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    let count = 6000;
    let long_key = |n: u32| {
        let mut key = vec![b'p'; 44];
        key.extend_from_slice(&n.to_be_bytes());
        key
    };
    for n in 0..count {
        tree.insert(&mut store, &long_key(n), &value(n, 8))
            .expect("insert");
    }
    let root = commit(&mut tree, &mut store);
    let stats = store.assert_accounted(&[root])[0];
    assert!(stats.depth >= 4, "{stats:?}");
    assert_eq!(stats.entries, u64::from(count));
    let mut depth = stats.depth;
    for round in 0..16 {
        for n in (round..count).step_by(16) {
            assert!(tree.remove(&mut store, &long_key(n)).expect("remove"));
        }
        let root = commit(&mut tree, &mut store);
        let stats = store.assert_accounted(&[root]);
        assert!(stats[0].depth <= depth);
        depth = stats[0].depth;
    }
    assert_eq!(tree.flush(&mut store).expect("flush"), None);
    assert_eq!(store.live_pages(), 0);
}

/// Removing a wide range frees whole subtrees without copying them.
#[test]
fn remove_range_frees_whole_subtrees() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    for n in 0..5000 {
        tree.insert(
            &mut store,
            &key(n, 12),
            &value(n, if n % 50 == 0 { 900 } else { 20 }),
        )
        .expect("insert");
    }
    let root = commit(&mut tree, &mut store);
    let before = store.assert_accounted(&[root])[0];
    let allocs = store.allocs;
    let (lo, hi) = (key(100, 12), key(4900, 3));
    let removed = tree
        .remove_range(&mut store, (Bound::Excluded(&lo), Bound::Included(&hi)))
        .expect("remove_range");
    assert_eq!(removed, 4799);
    let copies = store.allocs - allocs;
    let root = commit(&mut tree, &mut store);
    let after = store.assert_accounted(&[root])[0];
    assert_eq!(after.entries, 201);
    assert!(
        copies < 40,
        "{copies} pages copied; {before:?} -> {after:?}"
    );
    let keys: Vec<_> = scan(&store, root).into_iter().map(|(k, _)| k).collect();
    let expected: Vec<_> = (0..=100).chain(4900..5000).map(|n| key(n, 12)).collect();
    assert_eq!(keys, expected);
    // Everything else goes too, and the tree is empty.
    assert_eq!(tree.remove_range(&mut store, ALL).expect("all"), 201);
    assert_eq!(commit(&mut tree, &mut store), None);
}

/// Regression: emptying a committed tree by freeing whole subtrees leaves no dirty node,
/// yet the root changed; `is_dirty` must say so, or the caller keeps the freed old root.
#[test]
fn emptying_a_committed_tree_is_a_change() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    for n in 0..500 {
        tree.insert(&mut store, &key(n, 12), &value(n, 30))
            .expect("insert");
    }
    let root = commit(&mut tree, &mut store);
    assert!(root.is_some());
    let mut reopened = TreeMut::new(root);
    assert!(!reopened.is_dirty());
    assert_eq!(reopened.remove_range(&mut store, ALL).expect("all"), 500);
    assert!(reopened.is_dirty(), "an emptied tree must need a flush");
    assert_eq!(commit(&mut reopened, &mut store), None);
    // The same through a bounded range that covers every key.
    let mut tree = TreeMut::new(None);
    for n in 0..500 {
        tree.insert(&mut store, &key(n, 12), &value(n, 30))
            .expect("insert");
    }
    let root = commit(&mut tree, &mut store);
    let mut reopened = TreeMut::new(root);
    let (lo, hi) = (key(0, 12), key(499, 12));
    let bounds = (Bound::Included(&lo[..]), Bound::Included(&hi[..]));
    assert_eq!(
        reopened.remove_range(&mut store, bounds).expect("range"),
        500
    );
    assert!(reopened.is_dirty(), "an emptied tree must need a flush");
    assert_eq!(commit(&mut reopened, &mut store), None);
}

#[test]
fn double_ended_scan_meets_in_the_middle() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    for n in 0..400 {
        tree.insert(&mut store, &key(n, 6), &value(n, 3))
            .expect("insert");
    }
    let root = commit(&mut tree, &mut store);
    let (lo, hi) = (key(10, 6), key(390, 6));
    let mut iter = range(&store, root, (Bound::Included(&lo), Bound::Excluded(&hi)));
    let mut seen = Vec::new();
    loop {
        let front = iter.next().map(|item| item.expect("front").0);
        let back = iter.next_back().map(|item| item.expect("back").0);
        if front.is_none() && back.is_none() {
            break;
        }
        seen.extend(front);
        seen.extend(back);
    }
    seen.sort();
    let expected: Vec<_> = (10..390).map(|n| key(n, 6)).collect();
    assert_eq!(seen, expected);
    let reversed: Vec<_> = range(&store, root, ALL)
        .rev()
        .map(|e| e.expect("rev").0)
        .collect();
    assert_eq!(
        reversed,
        (0..400).rev().map(|n| key(n, 6)).collect::<Vec<_>>()
    );
}

/// Every page the tree `root` reaches (nodes and blob pages).
fn reachable(store: &MemStore, root: Option<NodePtr>) -> std::collections::BTreeSet<u32> {
    let mut pages = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    crate::btree::check_tree(
        store,
        root,
        &mut |first, count, _| pages.extend(first.0..first.0 + count),
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
    pages
}

#[test]
fn relocate_copies_every_high_page_and_keeps_the_entries() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    for n in 0..300 {
        // Every seventh value goes to a blob.
        let len = if n % 7 == 0 { 700 } else { 20 };
        tree.insert(&mut store, &key(n, 8), &value(n, len))
            .expect("insert");
    }
    let mut root = commit(&mut tree, &mut store);
    let expected = scan(&store, root);
    let before = reachable(&store, root);
    // A ceiling above every page moves nothing.
    let mut budget = u64::MAX;
    let mut tree = TreeMut::new(root);
    tree.relocate(
        &mut store,
        Evict::Above(crate::PageId(u32::MAX)),
        &mut budget,
    )
    .expect("relocate");
    assert!(!tree.is_dirty());
    assert_eq!(budget, u64::MAX);
    // The upper half of the pages: a few pages per round under a small budget, then the
    // rest. Pages freed by a round are reusable only after its commit, so a copy never
    // lands on a page it replaces, and every high page reachable before a round with room
    // for all of them is gone after it.
    let middle = *before.iter().nth(before.len() / 2).expect("pages");
    for round in 0..4 {
        let high: Vec<u32> = reachable(&store, root)
            .into_iter()
            .filter(|&p| p >= middle)
            .collect();
        let mut tree = TreeMut::new(root);
        let mut budget = if round < 3 { 5 } else { u64::MAX };
        tree.relocate(&mut store, Evict::Above(crate::PageId(middle)), &mut budget)
            .expect("relocate");
        root = commit(&mut tree, &mut store);
        assert_eq!(scan(&store, root), expected, "round {round}");
        let after = reachable(&store, root);
        let copied = high.iter().filter(|p| !after.contains(p)).count();
        assert!(copied >= 1, "round {round} copied nothing");
        if round == 3 {
            assert_eq!(copied, high.len(), "high pages left: {high:?} {after:?}");
        } else {
            assert!(copied < high.len(), "a budget of 5 copied {copied} pages");
        }
    }
}

#[test]
fn relocate_clears_a_window() {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    for n in 0..200 {
        let len = if n % 5 == 0 { 900 } else { 30 };
        tree.insert(&mut store, &key(n, 8), &value(n, len))
            .expect("insert");
    }
    let root = commit(&mut tree, &mut store);
    let expected = scan(&store, root);
    let pages = reachable(&store, root);
    let low = *pages.iter().nth(10).expect("pages");
    let high = *pages.iter().nth(30).expect("pages");
    let evict = Evict::Within {
        first: low,
        count: high - low,
    };
    assert!(evict.hits(crate::PageId(low), 1));
    assert!(!evict.hits(crate::PageId(high), 1));
    assert!(evict.hits(crate::PageId(low - 1), 2));
    let mut tree = TreeMut::new(root);
    let mut budget = u64::MAX;
    tree.relocate(&mut store, evict, &mut budget)
        .expect("relocate");
    let root = commit(&mut tree, &mut store);
    assert_eq!(scan(&store, root), expected);
    let after = reachable(&store, root);
    let left: Vec<u32> = after
        .iter()
        .copied()
        .filter(|&p| p >= low && p < high && pages.contains(&p))
        .collect();
    assert!(left.is_empty(), "pages {left:?} were not moved out");
}
