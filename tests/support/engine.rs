//! Shared helpers for the storage-engine tests (`brooklet::engine`): a seeded random
//! workload over named trees, the in-memory model it is checked against, and state
//! comparison.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the helpers"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use brooklet::Durability;
use brooklet::engine::{Engine, EngineOptions, ReadTransaction};
use brooklet::storage::{MemStorage, Storage};

/// The model: tree name -> key -> value.
pub type Model = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

pub const TREES: [&str; 3] = ["alpha", "beta", "gamma"];

/// Small pages and a small cache, so splits, blobs, eviction and reuse really happen.
pub fn small_options() -> EngineOptions {
    EngineOptions {
        page_size: 512,
        cache_bytes: 16 * 512,
        ..EngineOptions::default()
    }
}

/// One operation of a transaction.
#[derive(Clone, Debug)]
pub enum Op {
    Insert(&'static str, Vec<u8>, Vec<u8>),
    /// `WriteTransaction::insert_pending`: kept in the commit slot when it can be.
    InsertPending(&'static str, Vec<u8>, Vec<u8>),
    Remove(&'static str, Vec<u8>),
    RemoveRange(&'static str, Vec<u8>, Vec<u8>),
}

/// One transaction: operations and the durability it commits at.
#[derive(Clone, Debug)]
pub struct Txn {
    pub ops: Vec<Op>,
    pub durability: Durability,
}

fn key(rng: &mut fastrand::Rng) -> Vec<u8> {
    format!("k{:04}", rng.u32(0..400)).into_bytes()
}

fn value(rng: &mut fastrand::Rng) -> Vec<u8> {
    let len = match rng.u8(0..10) {
        0 => rng.usize(300..1500), // goes to a blob at 512-byte pages
        1..=3 => 0,
        _ => rng.usize(1..60),
    };
    let fill = rng.u8(..);
    vec![fill; len]
}

/// A seeded list of transactions, about 30% of them non-durable.
pub fn workload(seed: u64, txns: usize) -> Vec<Txn> {
    workload_with(seed, txns, 30)
}

/// A seeded list of transactions, `none_percent` of them non-durable.
pub fn workload_with(seed: u64, txns: usize, none_percent: u8) -> Vec<Txn> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..txns)
        .map(|_| {
            // Some transactions make only pending inserts of small values, which a commit
            // keeps in its slot when they fit.
            let pending_only = rng.u8(0..100) < 25;
            let ops = (0..rng.usize(1..12))
                .map(|_| {
                    let tree = TREES[rng.usize(0..TREES.len())];
                    if pending_only {
                        let len = rng.usize(0..24);
                        return Op::InsertPending(tree, key(&mut rng), vec![rng.u8(..); len]);
                    }
                    match rng.u8(0..20) {
                        0 => {
                            let a = key(&mut rng);
                            let b = key(&mut rng);
                            Op::RemoveRange(tree, a.clone().min(b.clone()), a.max(b))
                        }
                        1..=4 => Op::Remove(tree, key(&mut rng)),
                        5..=7 => Op::InsertPending(tree, key(&mut rng), value(&mut rng)),
                        _ => Op::Insert(tree, key(&mut rng), value(&mut rng)),
                    }
                })
                .collect();
            let roll = rng.u8(0..100);
            let durability = if roll < none_percent {
                Durability::None
            } else if roll.is_multiple_of(5) {
                Durability::Paranoid
            } else {
                Durability::Immediate
            };
            Txn { ops, durability }
        })
        .collect()
}

/// Applies a transaction to the model.
pub fn apply_model(model: &mut Model, txn: &Txn) {
    for op in &txn.ops {
        match op {
            Op::Insert(t, k, v) | Op::InsertPending(t, k, v) => {
                model
                    .entry((*t).to_owned())
                    .or_default()
                    .insert(k.clone(), v.clone());
            }
            Op::Remove(t, k) => {
                if let Some(tree) = model.get_mut(*t) {
                    tree.remove(k);
                }
            }
            Op::RemoveRange(t, a, b) => {
                if let Some(tree) = model.get_mut(*t) {
                    tree.retain(|k, _| k < a || k > b);
                }
            }
        }
    }
    model.retain(|_, tree| !tree.is_empty());
}

/// Runs one transaction against the engine.
pub fn apply_engine(engine: &Engine, txn: &Txn) -> brooklet::Result<()> {
    let mut w = engine.begin_write()?;
    for op in &txn.ops {
        match op {
            Op::Insert(t, k, v) => w.insert(t, k, v)?,
            Op::InsertPending(t, k, v) => w.insert_pending(t, k, v)?,
            Op::Remove(t, k) => {
                w.remove(t, k)?;
            }
            Op::RemoveRange(t, a, b) => {
                w.remove_range(t, a.as_slice()..=b.as_slice())?;
            }
        }
    }
    w.commit(txn.durability)?;
    Ok(())
}

/// Reads every tree of a snapshot into a model.
pub fn read_all(read: &ReadTransaction) -> brooklet::Result<Model> {
    let mut model = Model::new();
    for name in read.tree_names()? {
        let tree: BTreeMap<Vec<u8>, Vec<u8>> =
            read.range(&name, ..)?.collect::<brooklet::Result<_>>()?;
        model.insert(name, tree);
    }
    Ok(model)
}

/// Opens a copy of `bytes` in memory.
pub fn open_image(bytes: Vec<u8>) -> brooklet::Result<Engine> {
    let storage: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(bytes));
    Engine::open_storage(storage, &small_options())
}
