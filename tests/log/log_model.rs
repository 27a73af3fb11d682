//! A seeded model test of the event log: random produce and read operations over 2-3 topics
//! of 1-3 partitions run on the fault-injecting backend (512-byte pages, 64 KiB segments)
//! and are compared, one by one, against an in-memory model of every partition.
//!
//! Without faults, every fetch, offset lookup, reader poll and topic description must match
//! the model. With a power cut at a sampled storage operation, the file a reboot would find
//! (unsynced writes dropped, kept, or kept at random per sector) must open, hold exactly the
//! model state after some commit at or after the last durable one (or after the interrupted
//! commit), pass `check`, and accept new records.

mod reads;
mod recovery;
mod workload;

use std::sync::Arc;

use crate::support::log::{PartitionModel, apply_acked};
use brooklet::storage::{CrashMode, FaultConfig, FaultStorage, MemStorage, Storage};
use brooklet::{Brooklet, Record, SegmentInfo, TopicConfig};
use reads::{read_all_with_reader, run_read};
use recovery::{Recovery, verify_image};
use workload::{Op, Workload, options, send, workload};

/// Record counts per partition of every created topic (indexed like the specs).
type Lengths = Vec<Option<Vec<u64>>>;

/// The model: per topic spec, `None` until created, then its partitions.
type Model = Vec<Option<Vec<PartitionModel>>>;

fn lengths(model: &Model) -> Lengths {
    model
        .iter()
        .map(|t| {
            t.as_ref()
                .map(|parts| parts.iter().map(PartitionModel::end).collect())
        })
        .collect()
}

/// What a run managed before it ended or the power was cut.
#[derive(Debug, Default)]
struct Outcome {
    model: Model,
    /// Lengths after each commit that returned `Ok` (index 0: the empty file).
    states: Vec<Lengths>,
    /// Index into `states` of the last commit known durable.
    last_durable: usize,
    /// The step whose commit was interrupted by the power cut, if any.
    in_flight: Option<usize>,
    /// Steps run to completion.
    steps: usize,
    /// Read steps compared against the model.
    reads: usize,
}

/// Runs `work` on a fresh file over `storage` until the end or the power cut.
fn run(storage: &Arc<FaultStorage>, work: &Workload) -> Outcome {
    let mut outcome = Outcome {
        model: vec![None; work.specs.len()],
        ..Outcome::default()
    };
    outcome.states.push(lengths(&outcome.model));
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    let Ok(mut db) = Brooklet::open_storage(Arc::clone(&dyn_storage), options(work.seed)) else {
        assert!(storage.is_crashed(), "seed {}: open failed", work.seed);
        return outcome;
    };
    for (step, op) in work.ops.iter().enumerate() {
        let label = format!("seed {} step {step} {op:?}", work.seed);
        let result = match op {
            Op::Reopen => {
                drop(db);
                match Brooklet::open_storage(Arc::clone(&dyn_storage), options(work.seed)) {
                    Ok(reopened) => {
                        db = reopened;
                        Ok(())
                    }
                    Err(e) => {
                        assert!(storage.is_crashed(), "{label}: reopen failed: {e}");
                        return outcome;
                    }
                }
            }
            _ => run_step(&db, work, op, &mut outcome, &label),
        };
        if let Err(e) = result {
            assert!(storage.is_crashed(), "{label}: unexpected error {e}");
            if matches!(op, Op::CreateTopic(_) | Op::Send { .. }) {
                outcome.in_flight = Some(step);
            }
            return outcome;
        }
        outcome.steps += 1;
    }
    outcome
}

/// Runs one step against the log and the model. An error is returned only from the log.
fn run_step(
    db: &Brooklet,
    work: &Workload,
    op: &Op,
    outcome: &mut Outcome,
    label: &str,
) -> brooklet::Result<()> {
    match op {
        Op::CreateTopic(t) => {
            let spec = &work.specs[*t];
            db.admin()
                .create_topic(&spec.name, spec.partitions, spec.config())?;
            outcome.model[*t] = Some(vec![PartitionModel::default(); spec.partitions as usize]);
            commit_done(outcome, true);
        }
        Op::Send {
            topic,
            partition,
            records,
            via,
            batch,
        } => {
            let spec = &work.specs[*topic];
            let metas = send(db, &spec.name, *partition, records.clone(), *via, *batch)?;
            let parts = outcome.model[*topic].as_mut().expect("topic created");
            apply_acked(parts, *partition, records, &metas, spec.log_append);
            commit_done(outcome, via.durable());
        }
        Op::Invalid {
            topic,
            partition,
            records,
            via,
        } => {
            let spec = &work.specs[*topic];
            match send(db, &spec.name, *partition, records.clone(), *via, true) {
                Err(e) if e.is_request_error() => {}
                Err(e) => return Err(e),
                Ok(metas) => panic!("{label}: invalid send accepted: {metas:?}"),
            }
        }
        Op::Flush => {
            db.flush()?;
            outcome.last_durable = outcome.states.len() - 1;
        }
        Op::Reopen => unreachable!("reopen is run by the caller"),
        _ => {
            run_read(db, work, op, &outcome.model, label)?;
            outcome.reads += 1;
        }
    }
    Ok(())
}

fn commit_done(outcome: &mut Outcome, durable: bool) {
    outcome.states.push(lengths(&outcome.model));
    if durable {
        outcome.last_durable = outcome.states.len() - 1;
    }
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn log_matches_the_model_without_faults() {
    let seeds = env_count("BROOKLET_LOG_MODEL_SEEDS", 24);
    let (mut steps, mut reads, mut records, mut segments_max) = (0, 0, 0, 0);
    for seed in 0..seeds {
        let work = workload(seed, 400);
        let storage = Arc::new(FaultStorage::new(FaultConfig::seeded(seed), Vec::new()));
        let outcome = run(&storage, &work);
        assert_eq!(
            outcome.steps,
            work.ops.len(),
            "seed {seed}: every step runs"
        );
        let db = Brooklet::open_storage(storage, options(seed)).expect("reopen");
        let label = format!("seed {seed} at the end");
        read_all_with_reader(&db, &work, &outcome.model, &label).expect("read all");
        let report = db.admin().check().expect("check");
        assert!(report.is_clean(), "{label}: {:?}", report.problems);
        for spec in &work.specs {
            for info in db
                .admin()
                .describe_topic(&spec.name)
                .expect("describe")
                .partitions
            {
                segments_max = segments_max.max(info.segments);
                records += info.end_offset;
            }
        }
        steps += outcome.steps;
        reads += outcome.reads;
    }
    println!(
        "log model: {seeds} seeds, {steps} steps ({reads} compared reads), {records} records, \
         up to {segments_max} segments per partition"
    );
    assert!(segments_max > 1, "segments must roll over");
}

/// What a sweep covered.
#[derive(Debug, Default)]
struct Coverage {
    /// Runs cut by a power failure (crash points).
    runs: u64,
    /// Crash images opened and verified.
    images: u64,
    /// Steps completed before the cuts.
    steps: usize,
    /// Images that recovered the newest state, an older one, or the interrupted commit.
    newest: u64,
    older: u64,
    in_flight: u64,
}

/// Runs seeds `seeds` with `points` sampled power cuts each.
fn crash_sweep(seeds: std::ops::Range<u64>, points: u64) -> Coverage {
    let mut cov = Coverage::default();
    for seed in seeds {
        let work = workload(seed, 250);
        let probe = Arc::new(FaultStorage::new(FaultConfig::seeded(seed), Vec::new()));
        let full = run(&probe, &work);
        assert_eq!(
            full.steps,
            work.ops.len(),
            "seed {seed}: the fault-free run completes"
        );
        let total_ops = probe.op_count();
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
        for i in 0..points {
            // A few cuts in the first operations (file and topic creation), the rest anywhere.
            let crash_at = if i < 4 { i } else { rng.u64(0..=total_ops) };
            let config = FaultConfig::seeded(seed.wrapping_mul(1_000_003) ^ crash_at)
                .with_crash_at(crash_at);
            let storage = Arc::new(FaultStorage::new(config, Vec::new()));
            let outcome = run(&storage, &work);
            cov.steps += outcome.steps;
            cov.runs += 1;
            for (name, mode) in CrashMode::SWEEP {
                let label = format!("seed {seed} crash at op {crash_at} of {total_ops} ({name})");
                match verify_image(storage.crash_image(mode), &work, &outcome, &label) {
                    Recovery::Newest => cov.newest += 1,
                    Recovery::Older => cov.older += 1,
                    Recovery::InFlight => cov.in_flight += 1,
                }
                cov.images += 1;
            }
        }
    }
    cov
}

fn crash_test(part: u64) {
    let seeds = env_count("BROOKLET_LOG_CRASH_SEEDS", 12);
    let points = env_count("BROOKLET_LOG_CRASH_POINTS", 160);
    let cov = crash_sweep(part * seeds..(part + 1) * seeds, points);
    println!(
        "log model power cuts (part {part}): {} crash points, {} crash images verified \
         ({} newest state, {} older state, {} interrupted commit), {} steps run before the cuts",
        cov.runs, cov.images, cov.newest, cov.older, cov.in_flight, cov.steps
    );
    assert!(cov.runs >= seeds * points, "only {} crash points", cov.runs);
    assert!(
        cov.older > 0 && cov.in_flight > 0,
        "the sweep must see lost non-durable commits and interrupted commits: {cov:?}"
    );
}

#[test]
fn log_recovers_a_committed_prefix_after_power_cuts_a() {
    crash_test(0);
}

#[test]
fn log_recovers_a_committed_prefix_after_power_cuts_b() {
    crash_test(1);
}

/// A batch that opens a segment without raising the partition's largest timestamp leaves
/// the time index's last position in the old segment; the next batch that raises it then
/// computes `position - timed_pos` with `position < timed_pos` (src/log/append.rs,
/// `write_batch`). Builds with overflow checks (`cargo test` without `--release`) panic
/// with "attempt to subtract with overflow"; release builds wrap and add an extra
/// time-index entry.
#[test]
fn time_index_interval_after_a_segment_roll() {
    let storage: Arc<dyn Storage> = Arc::new(MemStorage::new());
    let db = Brooklet::open_storage(storage, options(0)).expect("open");
    let config = TopicConfig::from_pairs([("segment.bytes", "65536")]).expect("config");
    db.admin().create_topic("t", 1, config).expect("create");
    // Rising timestamps, 5 KB apart: each batch gets a time-index entry. Segments grow
    // with the partition (one batch, one, two, four...); once one holding at least three
    // batches is full, the last entry is near its end, and the batch that does not fit
    // any more has an old time, so the next segment opens without a time-index entry.
    let mut ts = 1_000;
    loop {
        let segments = db.admin().segments("t", 0).expect("segments");
        let (full, long) = segments.last().map_or(
            (false, false),
            |&SegmentInfo {
                 page_count,
                 bytes_used,
                 ..
             }| {
                (
                    u64::from(bytes_used) + 5200 > u64::from(page_count) * 512,
                    bytes_used >= 3 * 5000,
                )
            },
        );
        ts += 1;
        let rolls = full && long;
        let record_ts = if rolls { 1 } else { ts };
        db.producer()
            .send(
                "t",
                Record::value(vec![1u8; 5000]).with_timestamp(record_ts),
            )
            .expect("send");
        if rolls {
            break;
        }
    }
    db.producer()
        .send("t", Record::value(vec![2u8; 10]).with_timestamp(ts + 1))
        .expect("a newer record after the roll");
    assert_eq!(
        db.offset_for_time("t", 0, ts + 1).expect("lookup"),
        Some(db.end_offset("t", 0).expect("end") - 1)
    );
}
