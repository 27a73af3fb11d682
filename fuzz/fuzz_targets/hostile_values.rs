//! Values edited through the engine, with valid checksums: a small valid file is built
//! through the public API once; each input rewrites (or removes, or adds) keys and values
//! of the log, catalog and group trees, and of the engine's extents tree, through the
//! engine's write transactions, which checksum everything they write. Then `check`, every
//! public read, and a sequence of writes and maintenance run on the file.
//!
//! Nothing may panic or allocate out of proportion to the file. And `check` is held to
//! its promise: once it calls the file clean, no operation may refuse the file as
//! corrupt, and every operation leaves it clean (see `common`).

#![no_main]

mod common;

use std::sync::{Arc, OnceLock};

use brooklet::storage::MemStorage;
use common::{Op, Oracle, durability, open, options, read_everything, run_op, template};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// The trees whose values are edited.
const TREES: [&str; 16] = [
    "log.topics",
    "log.partitions",
    "log.segments",
    "log.offsets",
    "log.times",
    "log.meta",
    "group.groups",
    "group.state",
    "group.members",
    "group.offsets",
    "group.kafka",
    "log.producers",
    "log.txn-open",
    "log.aborted",
    "txn.ids",
    "\u{1}extents",
];

/// Integers that sit on boundaries of the fields they are written into.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Number {
    Zero,
    One,
    Max,
    MaxMinusOne,
    HalfMax,
    /// The file's page count in the edited commit, plus a small delta.
    PageCount(i8),
    Small(u16),
    Any(u64),
}

/// Which key to write.
#[derive(Arbitrary, Clone, Debug)]
enum Key {
    /// One of the tree's keys (by index).
    Existing(u16),
    /// An existing key, cut or extended.
    Resized { index: u16, len: u8 },
    /// Any bytes.
    Raw(Vec<u8>),
}

/// What to write there.
#[derive(Arbitrary, Clone, Debug)]
enum Value {
    /// Any bytes.
    Raw(Vec<u8>),
    /// The present value with a boundary integer written little-endian at a byte offset.
    Field { at: u8, width: u8, number: Number },
    /// The present value with bytes written at an offset.
    Patch { at: u8, bytes: Vec<u8> },
    /// The present value, cut or extended with zeros.
    Resize(u8),
    /// No value: the key is removed.
    Remove,
}

#[derive(Arbitrary, Clone, Debug)]
struct Edit {
    tree: u8,
    key: Key,
    value: Value,
}

#[derive(Arbitrary, Debug)]
struct Input {
    edits: Vec<Edit>,
    durable: bool,
    ops: Vec<Op>,
}

fn number(n: Number, width: usize, page_count: u32) -> u64 {
    let max = if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    };
    let n = match n {
        Number::Zero => 0,
        Number::One => 1,
        Number::Max => max,
        Number::MaxMinusOne => max - 1,
        Number::HalfMax => max / 2 + 1,
        Number::PageCount(delta) => u64::from(page_count).wrapping_add_signed(i64::from(delta)),
        Number::Small(v) => u64::from(v),
        Number::Any(v) => v,
    };
    n & max
}

fn key_of(key: &Key, existing: &[Vec<u8>]) -> Vec<u8> {
    let at = |i: u16| {
        existing
            .get(usize::from(i) % existing.len().max(1))
            .cloned()
    };
    match key {
        Key::Existing(i) => at(*i).unwrap_or_default(),
        Key::Resized { index, len } => {
            let mut key = at(*index).unwrap_or_default();
            key.resize(usize::from(*len % 24), 0);
            key
        }
        Key::Raw(bytes) => bytes.iter().copied().take(64).collect(),
    }
}

fn value_of(value: &Value, present: Option<Vec<u8>>, page_count: u32) -> Option<Vec<u8>> {
    let mut bytes = present.unwrap_or_default();
    match value {
        Value::Raw(raw) => return Some(raw.iter().copied().take(600).collect()),
        Value::Field {
            at,
            width,
            number: n,
        } => {
            let width = [1usize, 2, 4, 8][usize::from(*width % 4)];
            let at = usize::from(*at);
            let le = number(*n, width, page_count).to_le_bytes();
            if bytes.len() < at + width {
                bytes.resize(at + width, 0);
            }
            bytes[at..at + width].copy_from_slice(&le[..width]);
        }
        Value::Patch { at, bytes: patch } => {
            let at = usize::from(*at);
            let patch: Vec<u8> = patch.iter().copied().take(32).collect();
            if bytes.len() < at + patch.len() {
                bytes.resize(at + patch.len(), 0);
            }
            bytes[at..at + patch.len()].copy_from_slice(&patch);
        }
        Value::Resize(len) => bytes.resize(usize::from(*len), 0),
        Value::Remove => return None,
    }
    Some(bytes)
}

/// Applies the edits in one write transaction. False if it could not be committed.
fn edit(db: &brooklet::Brooklet, edits: &[Edit], durable: bool, page_count: u32) -> bool {
    let Ok(mut txn) = db.engine().begin_write() else {
        return false;
    };
    for e in edits.iter().take(6) {
        let tree = TREES[usize::from(e.tree) % TREES.len()];
        let Ok(entries) = txn.range(tree, ..) else {
            return false;
        };
        let Ok(keys) = entries
            .map(|entry| entry.map(|(k, _)| k))
            .collect::<brooklet::Result<Vec<Vec<u8>>>>()
        else {
            return false;
        };
        let key = key_of(&e.key, &keys);
        if key.is_empty() || key.len() > 56 {
            continue;
        }
        let Ok(present) = txn.get(tree, &key) else {
            return false;
        };
        let result = match value_of(&e.value, present, page_count) {
            Some(value) => txn.insert(tree, &key, &value),
            None => txn.remove(tree, &key).map(drop),
        };
        if result.is_err() {
            return false;
        }
    }
    txn.commit(durability(durable)).is_ok()
}

/// The template file and its page count.
fn build() -> (Vec<u8>, u32) {
    let bytes = template();
    let storage = Arc::new(MemStorage::from_bytes(bytes.clone()));
    let db = open(&storage, options()).expect("the template opens");
    let page_count = db.engine().check().expect("check").page_count;
    (bytes, page_count)
}

fuzz_target!(|input: Input| {
    static TEMPLATE: OnceLock<(Vec<u8>, u32)> = OnceLock::new();
    let (bytes, page_count) = TEMPLATE.get_or_init(build);
    let storage = Arc::new(MemStorage::from_bytes(bytes.clone()));
    let db = open(&storage, options()).expect("the template opens");
    if !edit(&db, &input.edits, input.durable, *page_count) {
        return;
    }
    let mut oracle = Oracle::check(&db);
    read_everything(&db, &mut oracle);
    let mut db = db;
    for op in input.ops.iter().take(12) {
        match run_op(db, &storage, op, &mut oracle) {
            Some(next) => db = next,
            None => return,
        }
    }
});
