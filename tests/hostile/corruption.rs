//! Corrupt files: single-byte flips and truncations of a real file at sampled positions.
//! Open, read and `check` must return `Ok` or a typed error: never a panic, never an
//! unbounded allocation (a capped global allocator aborts the test on one), and never data
//! that differs from a committed state without an error.

use std::sync::Arc;

use crate::ALLOCATOR;
use crate::support::engine::{Model, apply_engine, apply_model, read_all, small_options, workload};
use brooklet::engine::{Engine, EngineOptions};
use brooklet::storage::{MemStorage, Storage};

/// Builds a file with a workload; returns its bytes and the last two committed states.
fn build(page_size: u32) -> (Vec<u8>, Model, Model) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.brooklet");
    let options = EngineOptions {
        page_size,
        ..small_options()
    };
    let engine = Engine::open(&path, &options).expect("open");
    let txns = workload(7, 80);
    let mut model = Model::new();
    let mut previous = Model::new();
    for txn in &txns {
        let mut t = txn.clone();
        t.durability = brooklet::Durability::Immediate;
        apply_engine(&engine, &t).expect("commit");
        previous = model.clone();
        apply_model(&mut model, &t);
    }
    drop(engine);
    (std::fs::read(&path).expect("read file"), model, previous)
}

/// Opens, reads and checks damaged bytes. Panics only if data is silently wrong.
fn exercise(bytes: Vec<u8>, latest: &Model, previous: &Model, label: &str) -> &'static str {
    let storage: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(bytes));
    let engine = match Engine::open_storage(storage, &small_options()) {
        Ok(engine) => engine,
        Err(e) => {
            assert!(
                e.is_corruption() || matches!(e, brooklet::Error::Io(_)),
                "{label}: {e}"
            );
            return "open refused";
        }
    };
    let read_result = engine.begin_read().and_then(|r| read_all(&r));
    let report = engine.check();
    match (read_result, report) {
        (Ok(found), Ok(report)) => {
            if found != *latest && found != *previous {
                assert!(
                    !report.is_clean(),
                    "{label}: read returned data of no committed state and check is clean"
                );
                return "detected by check";
            }
            if report.is_clean() {
                "harmless"
            } else {
                "detected by check"
            }
        }
        (Err(e), _) => {
            assert!(
                e.is_corruption() || matches!(e, brooklet::Error::Io(_)),
                "{label}: {e}"
            );
            "detected by read"
        }
        (Ok(_), Err(e)) => panic!("{label}: check could not run: {e}"),
    }
}

#[test]
fn byte_flips_and_truncations_never_panic_or_lie() {
    ALLOCATOR.set_limit(1 << 30).expect("set allocation cap");
    let mut tally = std::collections::BTreeMap::<&str, u64>::new();
    for page_size in [512u32, 4096] {
        let (bytes, latest, previous) = build(page_size);
        let mut rng = fastrand::Rng::with_seed(u64::from(page_size));
        let ps = page_size as usize;
        let mut positions: Vec<usize> = Vec::new();
        // Every header field of the first pages, then random positions across the file.
        positions.extend(0..ps.min(160));
        positions.extend(ps..ps + ps.min(160));
        for page in 2..bytes.len() / ps {
            positions.extend([page * ps, page * ps + 4, page * ps + 6, page * ps + 30]);
        }
        positions.extend((0..800).map(|_| rng.usize(0..bytes.len())));
        for pos in positions.into_iter().filter(|&p| p < bytes.len()) {
            let mut damaged = bytes.clone();
            damaged[pos] ^= rng.u8(1..);
            let outcome = exercise(
                damaged,
                &latest,
                &previous,
                &format!("flip at {pos} (page size {page_size})"),
            );
            *tally.entry(outcome).or_default() += 1;
        }
        for _ in 0..100 {
            let len = rng.usize(1..bytes.len());
            let outcome = exercise(
                bytes[..len].to_vec(),
                &latest,
                &previous,
                &format!("truncate to {len}"),
            );
            *tally.entry(outcome).or_default() += 1;
        }
    }
    println!("corruption outcomes: {tally:?}");
    assert!(
        tally.get("detected by check").copied().unwrap_or(0)
            + tally.get("detected by read").copied().unwrap_or(0)
            > 100
    );
}
