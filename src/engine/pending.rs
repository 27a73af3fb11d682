//! Pending entries: tree entries that a commit keeps in its commit slot instead of writing
//! them into their trees.
//!
//! A commit that changes no tree page but a few small values (the typical durable
//! one-record append updates a partition's state and its active segment) would otherwise
//! copy on write a leaf per value plus the master tree's root, and write them all before
//! its one `fdatasync`: several scattered pages where the slot alone would do. So such
//! values may be *pending*: the slot carries them, and every reader looks a key up in the
//! pending entries before the tree. A pending entry replaces the tree's value for its key
//! (or adds the key); there are no pending deletions.
//!
//! Rules (FORMAT.md, "Pending data and entries", is normative):
//! 1. The pending entries of a commit are all those in effect: each commit's set replaces
//!    the one before, so recovery needs nothing but the chosen slot.
//! 2. A write transaction keeps them pending only if it changes no tree through a normal
//!    insert or removal, and their encoding fits in half the slot's inline room. Otherwise
//!    it writes them into their trees (*materializes* them) and commits none.
//! 3. Any insert or removal in a tree first materializes that tree's pending entries, so a
//!    tree change never meets a stale pending value.
//!
//! Encoding (little-endian; an empty area means no pending entries): entry count `u16`
//! (at least 1), then each entry in strictly increasing `(tree name, key)` byte order:
//! tree name length `u8` (1 or more) and the name (UTF-8), key length `u16` and the key,
//! value length `u16` and the value.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::error::{CorruptionKind, Error, Result};

/// A key and its value.
type KeyValue = (Vec<u8>, Vec<u8>);

/// A set of pending entries, by tree then key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    trees: BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>,
}

fn bad(why: &'static str) -> Error {
    Error::corrupt_file(CorruptionKind::Invalid(why))
}

impl Pending {
    /// Decodes a slot's pending area.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        let mut out = Self::default();
        if bytes.is_empty() {
            return Ok(out);
        }
        let mut rest = bytes;
        let count = u16::from_le_bytes(take_array(&mut rest)?);
        if count == 0 {
            return Err(bad("pending area with no entries"));
        }
        let mut last: Option<(&[u8], &[u8])> = None;
        for _ in 0..count {
            let name_len = usize::from(take_array::<1>(&mut rest)?[0]);
            if name_len == 0 {
                return Err(bad("pending entry with an empty tree name"));
            }
            let name = take(&mut rest, name_len)?;
            let key_len = usize::from(u16::from_le_bytes(take_array(&mut rest)?));
            let key = take(&mut rest, key_len)?;
            let value_len = usize::from(u16::from_le_bytes(take_array(&mut rest)?));
            let value = take(&mut rest, value_len)?;
            if last.is_some_and(|prev| prev >= (name, key)) {
                return Err(bad("pending entries out of order"));
            }
            last = Some((name, key));
            let name =
                std::str::from_utf8(name).map_err(|_| bad("pending tree name is not UTF-8"))?;
            out.trees
                .entry(name.to_owned())
                .or_default()
                .insert(key.to_vec(), value.to_vec());
        }
        if !rest.is_empty() {
            return Err(bad("bytes after the pending entries"));
        }
        Ok(out)
    }

    /// Encodes the set (empty bytes for an empty set). `None` if an entry cannot be encoded
    /// (a name over 255 bytes, a key or value over 65535 bytes, more than 65535 entries):
    /// such a set is never kept pending.
    pub(crate) fn encode(&self) -> Option<Vec<u8>> {
        let count = self.trees.values().map(BTreeMap::len).sum::<usize>();
        if count == 0 {
            return Some(Vec::new());
        }
        let mut out = Vec::new();
        out.extend_from_slice(&u16::try_from(count).ok()?.to_le_bytes());
        for (name, entries) in &self.trees {
            for (key, value) in entries {
                out.push(u8::try_from(name.len()).ok()?);
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(&u16::try_from(key.len()).ok()?.to_le_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(&u16::try_from(value.len()).ok()?.to_le_bytes());
                out.extend_from_slice(value);
            }
        }
        Some(out)
    }

    /// The pending value of `key` in `tree`.
    pub(crate) fn get(&self, tree: &str, key: &[u8]) -> Option<&[u8]> {
        self.trees.get(tree)?.get(key).map(Vec::as_slice)
    }

    /// Sets the pending value of `key` in `tree`.
    pub(crate) fn insert(&mut self, tree: &str, key: &[u8], value: &[u8]) {
        self.trees
            .entry(tree.to_owned())
            .or_default()
            .insert(key.to_vec(), value.to_vec());
    }

    /// Removes and returns the pending entries of `tree`, in key order.
    pub(crate) fn take_tree(&mut self, tree: &str) -> Vec<KeyValue> {
        self.trees
            .remove(tree)
            .map(|entries| entries.into_iter().collect())
            .unwrap_or_default()
    }

    /// Names of the trees with pending entries.
    pub(crate) fn tree_names(&self) -> impl Iterator<Item = &str> {
        self.trees.keys().map(String::as_str)
    }

    /// The pending entries of `tree` with keys in `range`, in key order.
    pub(crate) fn range(&self, tree: &str, range: (Bound<&[u8]>, Bound<&[u8]>)) -> Vec<KeyValue> {
        let Some(entries) = self.trees.get(tree) else {
            return Vec::new();
        };
        entries
            .range::<[u8], _>(range)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn take<'a>(rest: &mut &'a [u8], len: usize) -> Result<&'a [u8]> {
    if rest.len() < len {
        return Err(bad("pending entries run past the slot"));
    }
    let (head, tail) = rest.split_at(len);
    *rest = tail;
    Ok(head)
}

fn take_array<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N]> {
    Ok(take(rest, N)?.try_into().expect("took N bytes"))
}

/// Merges tree entries (in key order, or reversed) with pending entries of the same range
/// (in key order): a pending entry replaces the tree's entry with its key.
pub(crate) struct Merge<I: Iterator> {
    tree: std::iter::Peekable<I>,
    pending: std::collections::VecDeque<KeyValue>,
    reverse: bool,
}

impl<I: Iterator<Item = Result<KeyValue>>> Merge<I> {
    pub(crate) fn new(tree: I, pending: Vec<KeyValue>, reverse: bool) -> Self {
        Self {
            tree: tree.peekable(),
            pending: pending.into(),
            reverse,
        }
    }

    fn next_pending(&mut self) -> Option<KeyValue> {
        if self.reverse {
            self.pending.pop_back()
        } else {
            self.pending.pop_front()
        }
    }
}

impl<I: Iterator<Item = Result<KeyValue>>> Iterator for Merge<I> {
    type Item = Result<KeyValue>;

    fn next(&mut self) -> Option<Self::Item> {
        // The next pending entry, borrowed apart from `tree` (no key copied).
        let pending = if self.reverse {
            self.pending.back()
        } else {
            self.pending.front()
        };
        let Some((pending_key, _)) = pending else {
            return self.tree.next();
        };
        let order = match self.tree.peek() {
            None => std::cmp::Ordering::Greater,
            Some(Err(_)) => return self.tree.next(),
            Some(Ok((tree_key, _))) => {
                let order = tree_key.as_slice().cmp(pending_key.as_slice());
                if self.reverse { order.reverse() } else { order }
            }
        };
        match order {
            std::cmp::Ordering::Less => self.tree.next(),
            std::cmp::Ordering::Equal => {
                self.tree.next();
                self.next_pending().map(Ok)
            }
            std::cmp::Ordering::Greater => self.next_pending().map(Ok),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Pending {
        let mut p = Pending::default();
        p.insert("b", b"k2", b"v2");
        p.insert("a", b"", b"");
        p.insert("b", b"k1", &[7; 300]);
        p
    }

    #[test]
    fn round_trips_and_rejects_every_cut_and_reorder() {
        let p = sample();
        let bytes = p.encode().expect("encodes");
        assert_eq!(Pending::decode(&bytes).expect("decodes"), p);
        assert_eq!(Pending::decode(&[]).expect("empty"), Pending::default());
        assert_eq!(Pending::default().encode(), Some(Vec::new()));
        for cut in 1..bytes.len() {
            assert!(Pending::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Pending::decode(&longer).is_err());
        assert!(Pending::decode(&[0, 0]).is_err());
        // Two entries swapped: out of order.
        let mut one = Pending::default();
        one.insert("b", b"k2", b"v2");
        let mut two = Pending::default();
        two.insert("b", b"k1", b"v1");
        let (a, b) = (one.encode().expect("a"), two.encode().expect("b"));
        let mut swapped = vec![2, 0];
        swapped.extend_from_slice(&a[2..]);
        swapped.extend_from_slice(&b[2..]);
        assert!(Pending::decode(&swapped).is_err());
    }

    #[test]
    fn oversized_entries_do_not_encode() {
        let mut p = Pending::default();
        p.insert("t", b"k", &vec![0; 70_000]);
        assert_eq!(p.encode(), None);
    }

    #[test]
    fn merge_replaces_and_inserts_in_both_directions() {
        let tree = || {
            [b"a", b"c", b"e"]
                .iter()
                .map(|k| Ok((k.to_vec(), b"tree".to_vec())))
        };
        let pending = vec![
            (b"b".to_vec(), b"p".to_vec()),
            (b"c".to_vec(), b"p".to_vec()),
            (b"f".to_vec(), b"p".to_vec()),
        ];
        let forward: Vec<KeyValue> = Merge::new(tree(), pending.clone(), false)
            .collect::<Result<_>>()
            .expect("merge");
        let want: Vec<KeyValue> = [
            ("a", "tree"),
            ("b", "p"),
            ("c", "p"),
            ("e", "tree"),
            ("f", "p"),
        ]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
        assert_eq!(forward, want);
        let backward: Vec<KeyValue> = Merge::new(tree().rev(), pending, true)
            .collect::<Result<_>>()
            .expect("merge");
        assert_eq!(backward, want.into_iter().rev().collect::<Vec<_>>());
    }
}

#[cfg(test)]
mod engine_tests {
    use std::sync::Arc;

    use crate::engine::{Engine, EngineOptions};
    use crate::os::{FaultConfig, FaultStorage, MemStorage, Storage};
    use crate::pager::Durability;

    fn options() -> EngineOptions {
        EngineOptions {
            page_size: 512,
            ..EngineOptions::default()
        }
    }

    fn reopen(image: Vec<u8>) -> Engine {
        let storage: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(image));
        Engine::open_storage(storage, &options()).expect("reopen")
    }

    #[test]
    fn a_pending_only_commit_writes_the_slot_alone_and_survives_reopen() {
        let fault = Arc::new(FaultStorage::new(FaultConfig::seeded(7), Vec::new()));
        let storage: Arc<dyn Storage> = fault.clone();
        let engine = Engine::open_storage(storage, &options()).expect("open");
        let mut w = engine.begin_write().expect("write");
        for i in 0u8..40 {
            w.insert("t", &[b'k', i], b"tree").expect("insert");
        }
        w.commit(Durability::Immediate).expect("commit");
        for n in 0u8..5 {
            let (ops, syncs) = (fault.op_count(), fault.sync_count());
            let mut w = engine.begin_write().expect("write");
            w.insert_pending("t", b"k\x05", &[n; 8]).expect("pending");
            w.insert_pending("t", b"k\x99", &[n; 4]).expect("pending");
            w.commit(Durability::Immediate).expect("commit");
            assert_eq!(fault.op_count() - ops, 2, "one slot write and one sync");
            assert_eq!(fault.sync_count() - syncs, 1);
        }
        let check = |engine: &Engine| {
            let read = engine.begin_read().expect("read");
            assert_eq!(read.get("t", b"k\x05").expect("get"), Some(vec![4; 8]));
            assert_eq!(read.get("t", b"k\x99").expect("get"), Some(vec![4; 4]));
            let keys: Vec<Vec<u8>> = read
                .range("t", &b"k\x04"[..]..)
                .expect("range")
                .map(|e| e.expect("entry").0)
                .collect();
            assert_eq!(keys.len(), 37, "35 tree keys from k4 and the pending k99");
            assert_eq!(keys.last().map(Vec::as_slice), Some(&b"k\x99"[..]));
            let rev: Vec<Vec<u8>> = read
                .range_rev("t", ..)
                .expect("range")
                .take(2)
                .map(|e| e.expect("entry").0)
                .collect();
            assert_eq!(rev, vec![b"k\x99".to_vec(), b"k\x27".to_vec()]);
            assert!(engine.check().expect("check").is_clean());
        };
        check(&engine);
        check(&reopen(fault.durable_image()));
        // A tree change writes the pending entries into their tree: none stay pending.
        let mut w = engine.begin_write().expect("write");
        w.insert("u", b"x", b"y").expect("insert");
        w.commit(Durability::Immediate).expect("commit");
        let read = engine.begin_read().expect("read");
        assert!(read.pending.trees.is_empty());
        drop(read);
        check(&engine);
        check(&reopen(fault.durable_image()));
    }

    #[test]
    fn pending_entries_too_large_for_the_slot_go_to_their_tree() {
        let fault = Arc::new(FaultStorage::new(FaultConfig::seeded(8), Vec::new()));
        let storage: Arc<dyn Storage> = fault.clone();
        let engine = Engine::open_storage(storage, &options()).expect("open");
        let mut w = engine.begin_write().expect("write");
        w.insert_pending("t", b"big", &[1; 300]).expect("pending");
        w.commit(Durability::Immediate).expect("commit");
        let read = engine.begin_read().expect("read");
        assert!(
            read.pending.trees.is_empty(),
            "300 bytes exceed a 512-byte slot's room"
        );
        assert_eq!(read.get("t", b"big").expect("get"), Some(vec![1; 300]));
        drop(read);
        let reopened = reopen(fault.durable_image());
        let read = reopened.begin_read().expect("read");
        assert_eq!(read.get("t", b"big").expect("get"), Some(vec![1; 300]));
        assert_eq!(read.tree_names().expect("names"), vec!["t".to_owned()]);
    }
}
