//! Damaged pages: a flipped byte anywhere in a node page makes every read through it fail
//! with `Corrupt` naming the page; pages whose checksum was forged to match (so only the
//! parser and the structural checks stand guard) and arbitrary bytes given to the decoder
//! yield `Ok` or `Corrupt`, never a panic.

use std::ops::Bound;
use std::sync::Arc;

use proptest::prelude::*;

use super::mock::MemStore;
use super::{ALL, key, value};
use crate::btree::node::{Branch, Entry, Node, Value, parse};
use crate::btree::{PageUse, TreeMut, check_tree, get, range};
use crate::error::{CorruptionKind, Error, PageId};
use crate::page::{BlobPtr, NodePtr, TxnId};

/// A committed tree of depth 3 at 512-byte pages, with some blobs.
fn sample_tree() -> (MemStore, Option<NodePtr>, Vec<(PageId, PageUse)>) {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    for n in 0..400 {
        let len = if n % 40 == 0 { 700 } else { 25 };
        tree.insert(&mut store, &key(n, 9), &value(n, len))
            .expect("insert");
    }
    let root = tree.flush(&mut store).expect("flush");
    store.commit();
    let mut pages = Vec::new();
    let mut problems = Vec::new();
    let stats = check_tree(
        &store,
        root,
        &mut |id, _, kind| pages.push((id, kind)),
        &mut problems,
    );
    assert!(
        problems.is_empty() && stats.depth == 3,
        "{stats:?} {problems:?}"
    );
    (store, root, pages)
}

/// Every read that passes page `id` fails with `Corrupt` naming it.
fn assert_reads_fail(store: &MemStore, root: Option<NodePtr>, id: PageId) {
    let names_page =
        |error: &Error| matches!(error, Error::Corrupt { page: Some(page), .. } if *page == id);
    let forward: Result<Vec<_>, _> = range(store, root, ALL).collect();
    assert!(
        forward.as_ref().is_err_and(names_page),
        "forward scan past {id}: {forward:?}"
    );
    let backward: Result<Vec<_>, _> = range(store, root, ALL).rev().collect();
    assert!(
        backward.as_ref().is_err_and(names_page),
        "reverse scan past {id}"
    );
    let mut problems = Vec::new();
    check_tree(store, root, &mut |_, _, _| {}, &mut problems);
    assert!(
        problems.iter().any(names_page),
        "check misses {id}: {problems:?}"
    );
}

#[test]
fn flipped_byte_in_any_node_page_is_detected() {
    let (mut store, root, pages) = sample_tree();
    let nodes: Vec<PageId> = pages
        .iter()
        .filter(|(_, kind)| *kind != PageUse::Blob)
        .map(|(id, _)| *id)
        .collect();
    for (index, &id) in nodes.iter().enumerate() {
        let original = store.node_bytes(id);
        // Every byte of the root and of two other pages; a spread of bytes elsewhere.
        let step = if index < 3 { 1 } else { 37 };
        for offset in (0..original.len()).step_by(step) {
            let mut bytes = original.clone();
            bytes[offset] ^= 1 << (offset % 8);
            store.set_node_bytes(id, bytes, false);
            if offset % 64 == 0 || step > 1 {
                assert_reads_fail(&store, root, id);
            } else {
                let forward: Result<Vec<_>, _> = range(&store, root, ALL).collect();
                assert!(
                    forward.is_err(),
                    "flip at {id} offset {offset} not detected"
                );
            }
        }
        store.set_node_bytes(id, original, false);
    }
    store.assert_accounted(&[root]);
}

#[test]
fn damaged_blob_is_detected() {
    let (mut store, root, pages) = sample_tree();
    let blob = pages
        .iter()
        .find(|(_, kind)| *kind == PageUse::Blob)
        .expect("a blob")
        .0;
    store.flip_blob_byte(blob, 100);
    let names_blob =
        |e: &Error| matches!(e, Error::Corrupt { page: Some(page), .. } if *page == blob);
    let forward: Result<Vec<_>, _> = range(&store, root, ALL).collect();
    assert!(forward.as_ref().is_err_and(names_blob), "{forward:?}");
    let mut problems = Vec::new();
    let stats = check_tree(&store, root, &mut |_, _, _| {}, &mut problems);
    assert!(
        problems.len() == 1 && names_blob(&problems[0]),
        "{problems:?}"
    );
    assert_eq!(stats.entries, 400, "the walk goes on past the damage");
}

/// Re-encodes node `id` after `change`, reseals it, and returns its new checksum.
fn forge(store: &mut MemStore, id: PageId, change: impl FnOnce(&mut Node)) -> u32 {
    let parsed = parse(Arc::from(store.node_bytes(id)), id).expect("valid page");
    let mut node = Node::from_page(&parsed);
    change(&mut node);
    store.set_node_bytes(id, node.encode(id, TxnId(1), 512), true)
}

/// A two-level tree whose root is forged, pointer checksums and all: the walk and the check
/// catch what the checksums cannot.
fn two_level_tree() -> (MemStore, NodePtr, Vec<NodePtr>) {
    let mut store = MemStore::new(512);
    let mut tree = TreeMut::new(None);
    for n in 0..40 {
        tree.insert(&mut store, &key(n, 9), &value(n, 25))
            .expect("insert");
    }
    let root = tree.flush(&mut store).expect("flush").expect("root");
    store.commit();
    let parsed = parse(Arc::from(store.node_bytes(root.id)), root.id).expect("root");
    let Node::Branch(branch) = Node::from_page(&parsed) else {
        panic!("expected a two-level tree");
    };
    assert_eq!(branch.level, 1);
    (store, root, branch.children)
}

#[test]
fn misplaced_key_is_reported_by_check() {
    let (mut store, root, children) = two_level_tree();
    // The second leaf gets a key below its lower separator, in order within the leaf.
    let leaf = children[1];
    let crc = forge(&mut store, leaf.id, |node| {
        let Node::Leaf(entries) = node else {
            panic!("leaf")
        };
        entries[0].key = Vec::new();
    });
    let crc = forge(&mut store, root.id, |node| {
        let Node::Branch(branch) = node else {
            panic!("branch")
        };
        branch.children[1].crc = crc;
    });
    let root = Some(NodePtr { id: root.id, crc });
    let mut problems = Vec::new();
    let stats = check_tree(&store, root, &mut |_, _, _| {}, &mut problems);
    assert!(
        matches!(&problems[..], [Error::Corrupt { page: Some(page), kind: CorruptionKind::KeyOrder }] if *page == leaf.id),
        "{problems:?}"
    );
    assert_eq!(stats.entries, 40, "the walk goes on");
}

#[test]
fn wrong_child_level_is_detected() {
    let (mut store, root, children) = two_level_tree();
    let crc = forge(&mut store, root.id, |node| {
        let Node::Branch(branch) = node else {
            panic!("branch")
        };
        branch.level = 2;
    });
    let root = Some(NodePtr { id: root.id, crc });
    let wrong_level = |e: &Error| matches!(e, Error::Corrupt { page: Some(page), kind: CorruptionKind::Invalid(_) } if *page == children[0].id);
    assert!(get(&store, root, &key(1, 9)).is_err_and(|e| wrong_level(&e)));
    assert!(
        range(&store, root, ALL)
            .next()
            .expect("an item")
            .is_err_and(|e| wrong_level(&e))
    );
    let mut problems = Vec::new();
    check_tree(&store, root, &mut |_, _, _| {}, &mut problems);
    assert_eq!(problems.len(), children.len(), "{problems:?}");
}

/// Reads and checks a tree whose pages may be damaged; only errors are acceptable.
fn exercise(store: &MemStore, root: Option<NodePtr>) {
    for n in [0, 1, 100, 399, 1000] {
        let _ = get(store, root, &key(n, 9));
    }
    let lower = key(50, 9);
    let _ = range(store, root, ALL).count();
    let _ = range(store, root, ALL).rev().count();
    let _ = range(store, root, (Bound::Excluded(&lower), Bound::Unbounded))
        .rev()
        .count();
    let mut problems = Vec::new();
    check_tree(store, root, &mut |_, _, _| {}, &mut problems);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Damage to a node whose checksum is forged to match: the parser and the level and
    /// order checks must turn it into `Ok` or `Corrupt`.
    #[test]
    fn forged_checksum_never_panics(
        page_pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let (mut store, root, pages) = sample_tree();
        let nodes: Vec<PageId> =
            pages.iter().filter(|(_, kind)| *kind != PageUse::Blob).map(|(id, _)| *id).collect();
        let id = *page_pick.get(&nodes);
        let mut bytes = store.node_bytes(id);
        for (at, byte) in &edits {
            let at = at.index(bytes.len());
            bytes[at] = *byte;
        }
        let crc = store.set_node_bytes(id, bytes, true);
        let root = root.expect("non-empty");
        // Only the root's pointer is ours to fix; a damaged inner page fails its checksum.
        let root = if id == root.id { NodePtr { id, crc } } else { root };
        exercise(&store, Some(root));
    }

    /// Arbitrary bytes never make the decoder panic.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..1100)) {
        let _ = parse(Arc::from(bytes.as_slice()), PageId(5));
    }

    /// Encoded random nodes with a few bytes changed: decoding gives `Corrupt`, or a node
    /// that re-encodes and decodes to itself.
    #[test]
    fn decoding_damaged_nodes_never_panics(
        node in any_node(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut page = node.encode(PageId(5), TxnId(1), 512);
        let parsed = parse(Arc::from(page.as_slice()), PageId(5)).expect("an encoded node parses");
        prop_assert_eq!(&Node::from_page(&parsed), &node);
        let len = page.len();
        for (at, byte) in &edits {
            // Skip the checksum field: the parser runs after the checksum verified.
            page[4 + at.index(len - 4)] = *byte;
        }
        if let Ok(parsed) = parse(Arc::from(page.as_slice()), PageId(5)) {
            let node = Node::from_page(&parsed);
            let encoded = node.encode(PageId(5), TxnId(1), 512);
            let reparsed = parse(Arc::from(encoded.as_slice()), PageId(5)).expect("re-encoded");
            prop_assert_eq!(Node::from_page(&reparsed), node);
        }
    }
}

/// Random leaves and branches that fit a 512-byte page.
fn any_node() -> impl Strategy<Value = Node> {
    let keys = prop::collection::btree_set(prop::collection::vec(0u8..4, 0..12), 2..12);
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Value::Inline),
        (1u32..3000, any::<u32>(), any::<u32>()).prop_map(|(len, first, crc)| {
            Value::Blob(BlobPtr {
                first: PageId(first),
                page_count: len.div_ceil(512),
                len,
                crc,
            })
        }),
    ];
    let leaf = (keys.clone(), prop::collection::vec(value, 12)).prop_map(|(keys, values)| {
        Node::Leaf(
            keys.into_iter()
                .zip(values)
                .map(|(key, value)| Entry { key, value })
                .collect(),
        )
    });
    let branch = (keys, 1u8..32, any::<u32>()).prop_map(|(keys, level, seed)| {
        let mut keys: Vec<Vec<u8>> = keys.into_iter().collect();
        keys.remove(0);
        let children = (0..=keys.len() as u32)
            .map(|i| NodePtr {
                id: PageId(seed.wrapping_add(i)),
                crc: seed ^ i,
            })
            .collect();
        Node::Branch(Branch {
            level,
            keys,
            children,
        })
    });
    prop_oneof![leaf, branch]
}
