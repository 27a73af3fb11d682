//! I/O errors injected at every write and sync point: the error is returned, the handle is
//! poisoned (every later call fails until reopened), and reopening recovers a committed
//! state that includes every commit whose durable commit returned.

use std::sync::Arc;

use crate::support::engine::{Model, apply_engine, apply_model, read_all, small_options, workload};
use brooklet::engine::Engine;
use brooklet::storage::{CrashMode, FaultConfig, FaultKind, FaultStorage, Storage};
use brooklet::{Durability, Error};

fn states_allowed(
    states: &[Model],
    last_durable: usize,
    in_flight: Option<&Model>,
    found: &Model,
) -> bool {
    states[last_durable..]
        .iter()
        .chain(in_flight)
        .any(|s| s == found)
}

#[test]
fn every_failed_write_or_sync_poisons_and_reopen_recovers() {
    let mut points = 0;
    let (mut not_committed, mut unknown) = (0, 0);
    for seed in 0..3u64 {
        let txns = workload(100 + seed, 40);
        let probe = Arc::new(FaultStorage::new(FaultConfig::seeded(seed), Vec::new()));
        let probe_dyn: Arc<dyn Storage> = probe.clone();
        let engine = Engine::open_storage(probe_dyn, &small_options()).expect("open");
        for txn in &txns {
            apply_engine(&engine, txn).expect("fault-free run");
        }
        let total = probe.op_count();
        for fail_at in 0..total {
            let kind = if fail_at % 2 == 0 {
                FaultKind::Eio
            } else {
                FaultKind::Enospc
            };
            let storage = Arc::new(FaultStorage::new(
                FaultConfig::seeded(seed).with_fail_at(fail_at, kind),
                Vec::new(),
            ));
            let dyn_storage: Arc<dyn Storage> = storage.clone();
            let label = format!("seed {seed} fail at op {fail_at} ({kind:?})");
            let mut states = vec![Model::new()];
            let mut last_durable = 0;
            let mut in_flight = None;
            match Engine::open_storage(dyn_storage, &small_options()) {
                Err(e) => assert!(matches!(e, Error::Io(_)), "{label}: {e}"),
                Ok(engine) => {
                    let mut model = Model::new();
                    for txn in &txns {
                        let mut next = model.clone();
                        apply_model(&mut next, txn);
                        match apply_engine(&engine, txn) {
                            Ok(()) => {
                                model = next;
                                states.push(model.clone());
                                if txn.durability != Durability::None {
                                    last_durable = states.len() - 1;
                                }
                            }
                            Err(e) => {
                                // The contract of a failed commit: `Io` before its slot
                                // was written (it did not take effect), outcome unknown
                                // once the slot was written (it may or may not have).
                                match e {
                                    Error::Io(_) => not_committed += 1,
                                    Error::CommitOutcomeUnknown(_) => {
                                        unknown += 1;
                                        in_flight = Some(next);
                                    }
                                    other => panic!("{label}: expected an I/O error, got {other}"),
                                }
                                assert!(engine.is_poisoned(), "{label}: not poisoned");
                                assert!(
                                    matches!(engine.begin_write(), Err(Error::Poisoned)),
                                    "{label}"
                                );
                                assert!(
                                    matches!(engine.begin_read(), Err(Error::Poisoned)),
                                    "{label}"
                                );
                                break;
                            }
                        }
                    }
                }
            }
            // Reopen on the same storage (the process restarts, the OS cache survives),
            // and on what a power cut right now would leave.
            for (name, image) in [
                ("reopen", storage.volatile_image()),
                ("power cut", storage.crash_image(CrashMode::DropAll)),
            ] {
                let engine = crate::support::engine::open_image(image)
                    .unwrap_or_else(|e| panic!("{label} {name}: {e}"));
                let read = engine.begin_read().expect("read");
                let found = read_all(&read).expect("read all");
                assert!(
                    states_allowed(&states, last_durable, in_flight.as_ref(), &found),
                    "{label} {name}: state not allowed"
                );
                drop(read);
                let report = engine.check().expect("check");
                assert!(report.is_clean(), "{label} {name}: {:?}", report.problems);
            }
            points += 1;
        }
    }
    println!(
        "I/O error points covered: {points} ({not_committed} commits failed before their slot, \
         {unknown} with their outcome unknown)"
    );
    assert!(points > 100, "too few fault points: {points}");
    assert!(
        not_committed > 10 && unknown > 10,
        "both kinds of failed commit were met: {not_committed} / {unknown}"
    );
}
