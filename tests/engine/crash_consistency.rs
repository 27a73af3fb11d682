//! Crash consistency: a seeded workload runs on the fault-injecting backend with a power
//! cut at every write and sync point, in several crash modes (drop every unsynced write,
//! keep them all, keep a random subset of sectors). After each cut the file must open, hold
//! exactly one committed state that includes every commit whose durable commit returned,
//! and pass `check`.

use std::sync::Arc;

use crate::support::engine::{
    Model, Txn, apply_engine, apply_model, open_image, read_all, small_options, workload_with,
};
use brooklet::Durability;
use brooklet::engine::Engine;
use brooklet::storage::{CrashMode, FaultConfig, FaultStorage, Storage};

/// What a run managed before the power cut.
struct Outcome {
    /// Model states after each commit that returned `Ok` (index 0: the empty file).
    states: Vec<Model>,
    /// Index into `states` of the last commit whose durable commit returned.
    last_durable: usize,
    /// The state the interrupted commit would have produced, if a commit was interrupted.
    in_flight: Option<Model>,
}

/// Runs `txns` on a fresh file over `storage` until the first error.
fn run(storage: &Arc<FaultStorage>, txns: &[Txn]) -> Outcome {
    let mut outcome = Outcome {
        states: vec![Model::new()],
        last_durable: 0,
        in_flight: None,
    };
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    let Ok(engine) = Engine::open_storage(dyn_storage, &small_options()) else {
        return outcome;
    };
    let mut model = Model::new();
    for txn in txns {
        let mut next = model.clone();
        apply_model(&mut next, txn);
        if apply_engine(&engine, txn).is_err() {
            outcome.in_flight = Some(next);
            return outcome;
        }
        model = next;
        outcome.states.push(model.clone());
        if txn.durability != Durability::None {
            outcome.last_durable = outcome.states.len() - 1;
        }
    }
    outcome
}

/// Checks the file a reboot would find.
fn verify(image: Vec<u8>, outcome: &Outcome, label: &str) {
    let engine = open_image(image).unwrap_or_else(|e| panic!("{label}: open failed: {e}"));
    let read = engine.begin_read().expect("read");
    let found = read_all(&read).unwrap_or_else(|e| panic!("{label}: read failed: {e}"));
    let allowed = outcome.states[outcome.last_durable..]
        .iter()
        .chain(outcome.in_flight.iter());
    let mut matched = false;
    for state in allowed {
        if *state == found {
            matched = true;
            break;
        }
    }
    assert!(
        matched,
        "{label}: recovered state is not a committed state at or after the last durable one \
         (last durable index {}, {} states)",
        outcome.last_durable,
        outcome.states.len()
    );
    drop(read);
    let report = engine.check().expect("check runs");
    assert!(
        report.is_clean(),
        "{label}: check found {:?}",
        report.problems
    );
    // The recovered file must accept new commits.
    let mut w = engine.begin_write().expect("write after recovery");
    w.insert("alpha", b"after-crash", b"ok").expect("insert");
    w.commit(Durability::Immediate)
        .expect("commit after recovery");
    let after = engine.check().expect("check");
    assert!(
        after.is_clean(),
        "{label}: unclean after new commit: {:?}",
        after.problems
    );
}

fn sweep(seed: u64, txns: usize, none_percent: u8) -> u64 {
    let txns = workload_with(seed, txns, none_percent);
    let probe = Arc::new(FaultStorage::new(FaultConfig::seeded(seed), Vec::new()));
    let full = run(&probe, &txns);
    assert_eq!(
        full.states.len(),
        txns.len() + 1,
        "the fault-free run must commit everything"
    );
    let total_ops = probe.op_count();
    let mut covered = 0;
    for crash_at in 0..=total_ops {
        let config = FaultConfig::seeded(seed ^ crash_at).with_crash_at(crash_at);
        let storage = Arc::new(FaultStorage::new(config, Vec::new()));
        let outcome = run(&storage, &txns);
        let modes = [
            ("drop-all", CrashMode::DropAll),
            ("keep-all", CrashMode::KeepAll),
            ("random-a", CrashMode::Random),
        ];
        for (name, mode) in modes {
            let image = storage.crash_image(mode);
            verify(
                image,
                &outcome,
                &format!("seed {seed} crash at op {crash_at} ({name})"),
            );
            covered += 1;
        }
        let image = storage.crash_image_seeded(CrashMode::Random, seed.wrapping_mul(31) ^ crash_at);
        verify(
            image,
            &outcome,
            &format!("seed {seed} crash at op {crash_at} (random-b)"),
        );
        covered += 1;
    }
    covered
}

#[test]
fn power_cut_at_every_write_and_sync_point() {
    let seeds: u64 = std::env::var("BROOKLET_CRASH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let mut covered = 0;
    for seed in 0..seeds {
        covered += sweep(seed, 60, 30);
    }
    println!("crash points covered: {covered}");
    eprintln!("crash points covered: {covered}");
    assert!(covered >= 10_000, "only {covered} crash points covered");
}

/// Long runs of non-durable commits: pages allocated and freed inside the window are
/// reused before any durable commit, metadata blobs land on such pages, and the window
/// chain grows. A power cut anywhere must still recover a committed state.
#[test]
fn power_cut_during_long_non_durable_windows() {
    let mut covered = 0;
    for seed in 100..106 {
        covered += sweep(seed, 80, 85);
    }
    println!("crash points covered (non-durable windows): {covered}");
    assert!(covered >= 2_000, "only {covered} crash points covered");
}

/// What a damaged image did with the last acknowledged commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Flipped {
    /// Every acknowledged change is there.
    Kept,
    /// The newest commit was rolled back, and the recovery report says so.
    RolledBackAndReported,
    /// Opening, reading or `check` reported the damage.
    DamageReported,
}

/// Opens a damaged image: the acknowledged state survives, or something says it did not.
fn verify_flip(image: Vec<u8>, outcome: &Outcome, label: &str) -> Flipped {
    let acknowledged = &outcome.states[outcome.last_durable];
    let engine = match open_image(image) {
        Ok(engine) => engine,
        Err(e) => {
            assert!(e.is_corruption(), "{label}: {e}");
            return Flipped::DamageReported;
        }
    };
    let found = engine.begin_read().and_then(|read| read_all(&read));
    let report = engine.recovery_report();
    match found {
        Ok(found) if found == *acknowledged => Flipped::Kept,
        Ok(found) if !report.is_clean() => {
            assert!(
                report.lost_durable_commit(),
                "{label}: the durable commit lost is named: {report:?}"
            );
            assert!(
                outcome.states[..outcome.last_durable].contains(&found),
                "{label}: rolled back to a state that was never committed"
            );
            Flipped::RolledBackAndReported
        }
        Ok(_) => {
            let check = engine.check().expect("check runs");
            assert!(
                !check.is_clean(),
                "{label}: an acknowledged commit is gone and nothing says so"
            );
            Flipped::DamageReported
        }
        Err(e) => {
            assert!(e.is_corruption(), "{label}: {e}");
            Flipped::DamageReported
        }
    }
}

/// Bit flips in the newest commit slot, or in any page, of a file whose last durable
/// commit was acknowledged: recovery cannot tell damage after the acknowledgement from a
/// commit torn by a crash, so it may roll the commit back, but never silently.
#[test]
fn bit_flips_in_the_newest_commit_keep_it_or_report_the_rollback() {
    const PAGE: usize = 512;
    let mut seen = std::collections::BTreeMap::new();
    for seed in [3u64, 11] {
        let txns = workload_with(seed, 40, 20);
        for stop in (1..=txns.len()).filter(|&n| txns[n - 1].durability != Durability::None) {
            let storage = Arc::new(FaultStorage::new(FaultConfig::seeded(seed), Vec::new()));
            let outcome = run(&storage, &txns[..stop]);
            assert_eq!(
                outcome.last_durable, stop,
                "the last commit was acknowledged"
            );
            let image = storage.durable_image();
            let txn_of = |slot: usize| {
                u64::from_le_bytes(
                    image[slot * PAGE + 40..slot * PAGE + 48]
                        .try_into()
                        .expect("8"),
                )
            };
            let newest = usize::from(txn_of(1) > txn_of(0));
            let body_len = u32::from_le_bytes(
                image[newest * PAGE + 36..newest * PAGE + 40]
                    .try_into()
                    .expect("4"),
            ) as usize;
            // The newest slot's static header and body, every fifth byte.
            let slot_bytes = (newest * PAGE..newest * PAGE + 40 + body_len).step_by(5);
            // One byte in each page past the headers: the newest commit's journaled pages
            // among them.
            let page_bytes = (2..image.len() / PAGE).map(|page| page * PAGE + 77);
            for at in slot_bytes.chain(page_bytes) {
                let mut damaged = image.clone();
                damaged[at] ^= 0x24;
                let label = format!("seed {seed} after commit {stop}, byte {at} flipped");
                *seen
                    .entry(verify_flip(damaged, &outcome, &label))
                    .or_insert(0) += 1;
            }
        }
    }
    println!("bit-flip images: {seen:?}");
    assert!(
        seen.get(&Flipped::RolledBackAndReported)
            .copied()
            .unwrap_or(0)
            > 100,
        "flips that roll the newest commit back are exercised: {seen:?}"
    );
}
