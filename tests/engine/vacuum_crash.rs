//! Vacuum is crash-safe. A file with free space in the middle and at the end is vacuumed on
//! the fault-injecting backend, with a power cut at every write, `set_len` and sync point
//! of the vacuum, in every crash mode (unsynced writes dropped, kept, or kept at random per
//! sector: torn and reordered). The file a reboot finds must open, hold exactly the records
//! and committed group offsets it held before (every state vacuum passes through holds
//! the same ones), pass `check`, accept new records, and vacuum to the end.
//!
//! Then the same with an I/O error (`EIO` or `ENOSPC`) at every operation: vacuum returns
//! the error, the handle is poisoned, and reopening (after a process restart or a power
//! cut) recovers the file intact.

use std::sync::Arc;

use crate::support::log::{Content, content, fill, fill_uneven};
use brooklet::storage::{CrashMode, FaultConfig, FaultKind, FaultStorage, MemStorage, Storage};
use brooklet::{Brooklet, Durability, Error, Options, Record, VacuumOptions};

fn options(page_size: u32) -> Options {
    Options::default()
        .page_size(page_size)
        .cache_bytes(16 * page_size as usize)
        .maintain_on_open(false)
}

/// One vacuum to sweep: the file's page size, the seed and scale of its contents (scale 0:
/// segments of uneven sizes, which need windows of free extents joined), and whether its
/// newest commit is left non-durable.
#[derive(Clone, Copy, Debug)]
struct Case {
    page_size: u32,
    seed: u64,
    scale: u64,
    pending: bool,
}

/// A file ready to vacuum, and the contents it may recover to: what it holds and, when
/// its newest commit is not durable (`pending`), what it held before that commit (a power
/// cut may lose a non-durable commit: vacuum's first commit rewrites its slot).
fn fixture(case: Case) -> (Vec<u8>, Vec<Content>) {
    let mem = Arc::new(MemStorage::new());
    let storage: Arc<dyn Storage> = mem.clone();
    let db = Brooklet::open_storage(storage, options(case.page_size)).expect("open");
    if case.scale == 0 {
        fill_uneven(&db, case.seed);
    } else {
        fill(&db, case.seed, case.scale);
    }
    let mut allowed = Vec::new();
    if case.pending {
        allowed.push(content(&db).expect("content"));
        db.producer()
            .with_durability(Durability::None)
            .send_to("keep", 0, Record::value(b"not yet durable".to_vec()))
            .expect("send");
    }
    allowed.push(content(&db).expect("content"));
    drop(db);
    (mem.to_bytes(), allowed)
}

fn open_image(image: Vec<u8>) -> brooklet::Result<Brooklet> {
    let storage: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(image));
    // The page size is the file's own; the option is only for new files.
    Brooklet::open_storage(storage, options(512))
}

/// Checks the file a reboot (or a restart) finds: it opens, holds one of the `allowed`
/// contents, is clean, takes a new record; with `vacuum_again`, a vacuum runs to the end
/// and leaves it clean.
fn verify(image: Vec<u8>, allowed: &[Content], vacuum_again: bool, label: &str) {
    let db = open_image(image).unwrap_or_else(|e| panic!("{label}: open failed: {e}"));
    let found = content(&db).unwrap_or_else(|e| panic!("{label}: read failed: {e}"));
    let Some(expected) = allowed.iter().find(|c| **c == found) else {
        panic!("{label}: the records differ from every state before the vacuum");
    };
    let report = db.admin().check().expect("check runs");
    assert!(report.is_clean(), "{label}: {:?}", report.problems);
    if vacuum_again {
        db.admin()
            .vacuum()
            .unwrap_or_else(|e| panic!("{label}: vacuum again: {e}"));
        let report = db.admin().check().expect("check runs");
        assert!(
            report.is_clean(),
            "{label}: after vacuum {:?}",
            report.problems
        );
        assert!(content(&db).expect("content") == *expected, "{label}");
    }
    db.producer()
        .send_to("keep", 1, Record::value(b"after the crash".to_vec()))
        .unwrap_or_else(|e| panic!("{label}: send failed: {e}"));
    let report = db.admin().check().expect("check runs");
    assert!(
        report.is_clean(),
        "{label}: after a send {:?}",
        report.problems
    );
}

/// Small steps, so that one vacuum makes many commits and a power cut can fall between
/// any two of them.
fn small_steps() -> VacuumOptions {
    VacuumOptions::default().step_bytes(16 << 10)
}

/// Runs vacuum on `image` over a fault-injecting device.
fn vacuum_on(config: FaultConfig, image: &[u8]) -> (Arc<FaultStorage>, brooklet::Result<()>) {
    let device = Arc::new(FaultStorage::new(config, image.to_vec()));
    let storage: Arc<dyn Storage> = device.clone();
    let db = Brooklet::open_storage(storage, options(512)).expect("opening writes nothing");
    let result = db.admin().vacuum_with(small_steps(), |_| {}).map(|_| ());
    (device, result)
}

/// Power cuts at every operation of one vacuum; returns the images verified.
fn power_cut_sweep(case: Case) -> u64 {
    let seed = case.seed;
    let (image, allowed) = fixture(case);
    let (probe, result) = vacuum_on(FaultConfig::seeded(seed), &image);
    result.expect("the fault-free vacuum runs");
    let total = probe.op_count();
    assert!(total > 10, "vacuum did only {total} operations");
    assert!(
        probe.volatile_image().len() < image.len(),
        "the fault-free vacuum shrinks the file"
    );
    println!("{case:?}: {total} operations");
    let mut covered = 0;
    for crash_at in 0..total {
        let config = FaultConfig::seeded(seed ^ crash_at).with_crash_at(crash_at);
        let (device, result) = vacuum_on(config, &image);
        assert!(
            matches!(result, Err(Error::Io(_) | Error::CommitOutcomeUnknown(_))),
            "seed {seed} crash at {crash_at}: {result:?}"
        );
        let modes = [
            ("drop-all", CrashMode::DropAll),
            ("keep-all", CrashMode::KeepAll),
            ("random-a", CrashMode::Random),
        ];
        for (name, mode) in modes {
            let label = format!("seed {seed} crash at op {crash_at}/{total} ({name})");
            verify(device.crash_image(mode), &allowed, false, &label);
            covered += 1;
        }
        // More torn and reordered images, with a quarter of the sectors kept or three;
        // vacuuming the recovered file again finishes the job.
        for (i, keep) in [0.5, 0.25, 0.75].into_iter().enumerate() {
            let label = format!("seed {seed} crash at op {crash_at}/{total} (random {keep})");
            let coins = seed.wrapping_mul(31) ^ (crash_at << 2) ^ i as u64;
            let mode = CrashMode::RandomWith {
                keep_probability: keep,
            };
            let again = i == 0 && crash_at % 3 == 0;
            verify(
                device.crash_image_seeded(mode, coins),
                &allowed,
                again,
                &label,
            );
            covered += 1;
        }
    }
    covered
}

#[test]
fn power_cut_at_every_step_of_a_vacuum() {
    let mut covered = 0;
    for i in 0..18u64 {
        covered += power_cut_sweep(Case {
            page_size: [512, 1024, 4096][(i % 3) as usize],
            seed: 100 + i,
            scale: 1 + i % 5,
            pending: i % 2 == 1,
        });
    }
    for (i, page_size) in [512, 1024, 1024, 2048].into_iter().enumerate() {
        covered += power_cut_sweep(Case {
            page_size,
            seed: 200 + i as u64,
            scale: 0,
            pending: i % 2 == 1,
        });
    }
    println!("vacuum crash images verified: {covered}");
    assert!(covered >= 3500, "only {covered} crash images");
}

#[test]
fn an_io_error_at_every_step_of_a_vacuum_poisons_and_reopen_recovers() {
    let mut points = 0;
    for (seed, scale) in [(21, 2), (22, 0)] {
        points += io_error_sweep(Case {
            page_size: 512,
            seed,
            scale,
            pending: true,
        });
    }
    println!("vacuum I/O error points: {points}");
    assert!(points >= 100, "only {points} error points");
}

/// An I/O error at every operation of one vacuum; returns the points checked.
fn io_error_sweep(case: Case) -> u64 {
    let (image, allowed) = fixture(case);
    let (probe, result) = vacuum_on(FaultConfig::seeded(case.seed), &image);
    result.expect("the fault-free vacuum runs");
    let total = probe.op_count();
    let mut points = 0;
    for fail_at in 0..total {
        for kind in [FaultKind::Eio, FaultKind::Enospc] {
            let label = format!("{case:?} fail at op {fail_at}/{total} ({kind:?})");
            let device = Arc::new(FaultStorage::new(
                FaultConfig::seeded(case.seed).with_fail_at(fail_at, kind),
                image.clone(),
            ));
            let storage: Arc<dyn Storage> = device.clone();
            let db = Brooklet::open_storage(storage, options(512)).expect("open");
            match db.admin().vacuum_with(small_steps(), |_| {}) {
                Err(Error::Io(e) | Error::CommitOutcomeUnknown(e)) => {
                    assert_eq!(e.raw_os_error(), Some(kind.raw_os_error()));
                }
                other => panic!("{label}: expected the I/O error, got {other:?}"),
            }
            assert!(db.engine().is_poisoned(), "{label}: not poisoned");
            assert!(
                matches!(db.admin().vacuum(), Err(Error::Poisoned)),
                "{label}: vacuum after the error"
            );
            assert!(
                matches!(db.admin().topics(), Err(Error::Poisoned)),
                "{label}: read after the error"
            );
            drop(db);
            // A restart keeps what the operating system holds: the newest commit too.
            let newest = &allowed[allowed.len() - 1..];
            verify(
                device.volatile_image(),
                newest,
                false,
                &format!("{label} restart"),
            );
            verify(
                device.crash_image(CrashMode::DropAll),
                &allowed,
                false,
                &format!("{label} power cut"),
            );
            points += 1;
        }
    }
    points
}
