//! Unit tests of the fault-injecting backend: injected errors, power cuts, and the crash
//! images (granularity, reordering, replayability).

use std::sync::Arc;

use super::*;

const SECTOR: u64 = SECTOR_SIZE as u64;

/// One step of a scripted workload.
#[derive(Clone, Copy, Debug)]
enum Step {
    Write(u64, u8, usize),
    SetLen(u64),
    Sync,
}

/// A workload touching all three operation kinds, with a sync in the middle.
const SCRIPT: [Step; 7] = [
    Step::Write(0, 1, 1000),
    Step::SetLen(4096),
    Step::Write(700, 2, 600),
    Step::Sync,
    Step::Write(100, 3, 50),
    Step::SetLen(2048),
    Step::Write(3000, 4, 10),
];

fn run(storage: &FaultStorage, step: Step) -> io::Result<()> {
    match step {
        Step::Write(offset, fill, len) => storage.write_at(offset, &vec![fill; len]),
        Step::SetLen(len) => storage.set_len(len),
        Step::Sync => storage.sync_data(),
    }
}

/// Runs `steps` on a fresh device and returns it.
fn device_after(config: FaultConfig, steps: &[Step]) -> FaultStorage {
    let storage = FaultStorage::new(config, vec![9; 300]);
    for &step in steps {
        run(&storage, step).unwrap();
    }
    storage
}

#[test]
fn reads_see_the_volatile_image() {
    let storage = FaultStorage::new(FaultConfig::default(), vec![1, 2, 3]);
    storage.write_at(2, &[7, 8]).unwrap();
    let mut buf = [0u8; 4];
    storage.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, [1, 2, 7, 8]);
    assert_eq!(storage.len().unwrap(), 4);
    let err = storage.read_at(1, &mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(storage.durable_image(), vec![1, 2, 3]);
    assert_eq!(storage.volatile_image(), vec![1, 2, 7, 8]);
    storage.set_len(6).unwrap();
    assert_eq!(storage.volatile_image(), vec![1, 2, 7, 8, 0, 0]);
    assert_eq!(storage.op_count(), 2);
}

#[test]
fn fail_at_fails_exactly_one_op_without_effect() {
    for kind in [FaultKind::Eio, FaultKind::Enospc] {
        for n in 0..SCRIPT.len() {
            let config = FaultConfig::seeded(1).with_fail_at(n as u64, kind);
            let storage = FaultStorage::new(config, vec![9; 300]);
            for (index, &step) in SCRIPT.iter().enumerate() {
                let before = (storage.durable_image(), storage.volatile_image());
                let result = run(&storage, step);
                if index == n {
                    let err = result.unwrap_err();
                    assert_eq!(err.raw_os_error(), Some(kind.raw_os_error()));
                    let after = (storage.durable_image(), storage.volatile_image());
                    assert_eq!(before, after, "failed op {n} changed the state");
                } else {
                    result.unwrap();
                }
            }
            assert_eq!(storage.op_count(), SCRIPT.len() as u64);
            assert!(!storage.is_crashed());
            // The result equals a run that never issued op n.
            let mut skipped = SCRIPT.to_vec();
            skipped.remove(n);
            let reference = device_after(FaultConfig::seeded(1), &skipped);
            assert_eq!(storage.volatile_image(), reference.volatile_image());
            assert_eq!(storage.durable_image(), reference.durable_image());
            for mode in [CrashMode::DropAll, CrashMode::KeepAll, CrashMode::Random] {
                assert_eq!(storage.crash_image(mode), reference.crash_image(mode));
            }
        }
    }
    assert_eq!(FaultKind::Eio.raw_os_error(), 5);
    assert_eq!(FaultKind::Enospc.raw_os_error(), 28);
}

#[test]
fn crash_at_kills_every_later_op() {
    for n in 0..SCRIPT.len() {
        let storage = FaultStorage::new(FaultConfig::seeded(2).with_crash_at(n as u64), vec![]);
        for &step in &SCRIPT[..n] {
            run(&storage, step).unwrap();
        }
        let image_before = (storage.durable_image(), storage.volatile_image());
        assert!(!storage.is_crashed());
        let err = run(&storage, SCRIPT[n]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(5));
        assert!(storage.is_crashed());
        for &step in &SCRIPT[n + 1..] {
            assert!(run(&storage, step).is_err());
        }
        assert!(storage.write_at(0, b"x").is_err());
        assert!(storage.set_len(0).is_err());
        assert!(storage.sync_data().is_err());
        assert!(storage.read_at(0, &mut [0u8; 1]).is_err());
        assert!(storage.len().is_err());
        assert_eq!(storage.op_count(), SCRIPT.len() as u64 + 3);
        let syncs = SCRIPT.iter().filter(|s| matches!(s, Step::Sync)).count() as u64;
        assert_eq!(storage.sync_count(), syncs + 1);
        // Nothing changed at or after the cut; the images are those of the cut.
        assert_eq!(
            (storage.durable_image(), storage.volatile_image()),
            image_before
        );
        assert_eq!(storage.crash_image(CrashMode::DropAll), image_before.0);
        assert_eq!(storage.crash_image(CrashMode::KeepAll), image_before.1);
        // The writer lock still works so that cleanup can release it.
        assert!(storage.try_lock_writer().unwrap());
        storage.unlock_writer().unwrap();
    }
}

#[test]
fn drop_all_and_keep_all_images() {
    let storage = device_after(FaultConfig::seeded(3), &SCRIPT);
    let durable = device_after(FaultConfig::seeded(3), &SCRIPT[..4]).volatile_image();
    assert_eq!(storage.crash_image(CrashMode::DropAll), durable);
    assert_eq!(storage.durable_image(), durable);
    assert_eq!(
        storage.crash_image(CrashMode::KeepAll),
        storage.volatile_image()
    );
    assert_eq!(storage.volatile_image().len(), 3010);
    let keep = |p| CrashMode::RandomWith {
        keep_probability: p,
    };
    assert_eq!(storage.crash_image(keep(1.0)), storage.volatile_image());
    assert_eq!(storage.crash_image(keep(0.0)), durable);
}

#[test]
fn sync_makes_earlier_writes_survive_every_mode() {
    let storage = FaultStorage::new(FaultConfig::seeded(4), Vec::new());
    storage.write_at(0, &[1; 2000]).unwrap();
    storage.write_at(100, &[2; 10]).unwrap();
    storage.sync_data().unwrap();
    assert_eq!(storage.durable_image(), storage.volatile_image());
    storage.write_at(1000, &[3; 3000]).unwrap();
    for seed in 0..50 {
        for mode in [CrashMode::DropAll, CrashMode::KeepAll, CrashMode::Random] {
            let image = storage.crash_image_seeded(mode, seed);
            assert_eq!(image[..100], [1; 100]);
            assert_eq!(image[100..110], [2; 10]);
            assert_eq!(image[110..1000], [1; 890]);
        }
    }
}

#[test]
fn random_images_tear_only_at_sector_boundaries() {
    // Sector-aligned writes of distinct fills: every sector of a crash image equals its
    // durable content or the content of one write to it.
    let storage = FaultStorage::new(FaultConfig::default(), vec![0xee; 4 * SECTOR_SIZE]);
    let writes: [(u64, u8, u64); 4] = [(0, 1, 4), (SECTOR, 2, 2), (2 * SECTOR, 3, 4), (0, 4, 1)];
    for &(offset, fill, sectors) in &writes {
        let len = usize::try_from(sectors * SECTOR).unwrap();
        storage.write_at(offset, &vec![fill; len]).unwrap();
    }
    let mut torn = false;
    for seed in 0..200 {
        let image = storage.crash_image_seeded(CrashMode::Random, seed);
        assert!(
            image.len().is_multiple_of(SECTOR_SIZE),
            "length {}",
            image.len()
        );
        for (index, sector) in image.chunks(SECTOR_SIZE).enumerate() {
            let start = index as u64 * SECTOR;
            let mut allowed = vec![if index < 4 { 0xee } else { 0 }];
            for &(offset, fill, sectors) in &writes {
                if (offset..offset + sectors * SECTOR).contains(&start) {
                    allowed.push(fill);
                }
            }
            let first = sector[0];
            assert!(
                sector.iter().all(|&b| b == first),
                "torn inside sector {index}"
            );
            assert!(allowed.contains(&first), "sector {index} holds {first}");
        }
        torn |= image.chunks(SECTOR_SIZE).any(|s| s[0] == 0xee)
            && image.chunks(SECTOR_SIZE).any(|s| s[0] != 0xee);
    }
    assert!(torn, "no seed kept part of the writes");
}

#[test]
fn unaligned_write_tears_at_absolute_sector_boundaries() {
    let storage = FaultStorage::new(FaultConfig::default(), vec![0; 8 * SECTOR_SIZE]);
    let (start, end) = (300, 7 * SECTOR_SIZE + 100);
    storage.write_at(300, &vec![1; end - start]).unwrap();
    let mut outcomes = std::collections::HashSet::new();
    for seed in 0..100 {
        let image = storage.crash_image_seeded(CrashMode::Random, seed);
        assert_eq!(image.len(), 8 * SECTOR_SIZE);
        assert!(image[..start].iter().all(|&b| b == 0));
        assert!(image[end..].iter().all(|&b| b == 0));
        let mut cuts = vec![start];
        cuts.extend((1..=7).map(|s| s * SECTOR_SIZE));
        cuts.push(end);
        let pieces: Vec<bool> = cuts
            .windows(2)
            .map(|w| {
                let piece = &image[w[0]..w[1]];
                assert!(piece.iter().all(|&b| b == piece[0]), "torn inside {w:?}");
                piece[0] == 1
            })
            .collect();
        outcomes.insert(pieces);
    }
    assert!(
        outcomes.len() > 10,
        "only {} distinct outcomes",
        outcomes.len()
    );
}

#[test]
fn older_write_can_survive_a_lost_newer_one() {
    let storage = FaultStorage::new(FaultConfig::default(), vec![0; SECTOR_SIZE]);
    storage.write_at(0, &[1; SECTOR_SIZE]).unwrap();
    storage.write_at(0, &[2; SECTOR_SIZE]).unwrap();
    let images: std::collections::HashSet<u8> = (0..100)
        .map(|seed| storage.crash_image_seeded(CrashMode::Random, seed)[0])
        .collect();
    assert_eq!(images, [0, 1, 2].into_iter().collect());
}

#[test]
fn pending_set_len_is_kept_or_dropped_whole() {
    let storage = FaultStorage::new(FaultConfig::default(), vec![5; 100]);
    storage.set_len(1000).unwrap();
    storage.set_len(50).unwrap();
    let mut lens = std::collections::HashSet::new();
    for seed in 0..100 {
        let image = storage.crash_image_seeded(CrashMode::Random, seed);
        assert!(image[..image.len().min(100)].iter().all(|&b| b == 5));
        assert!(image.iter().skip(100).all(|&b| b == 0));
        lens.insert(image.len());
    }
    assert_eq!(lens, [100, 1000, 50].into_iter().collect());
}

#[test]
fn crash_images_replay_from_the_seed() {
    let first = device_after(FaultConfig::seeded(42), &SCRIPT);
    let second = device_after(FaultConfig::seeded(42), &SCRIPT);
    for _ in 0..3 {
        assert_eq!(
            first.crash_image(CrashMode::Random),
            second.crash_image(CrashMode::Random)
        );
    }
    // Many unsynced sectors: different seeds almost always give different images.
    let storage = FaultStorage::new(FaultConfig::seeded(7), Vec::new());
    storage.write_at(0, &vec![1; 64 * SECTOR_SIZE]).unwrap();
    let images: std::collections::HashSet<Vec<u8>> = (0..8)
        .map(|seed| storage.crash_image_seeded(CrashMode::Random, seed))
        .collect();
    assert_eq!(images.len(), 8);
    assert_eq!(
        storage.crash_image(CrashMode::Random),
        storage.crash_image_seeded(CrashMode::Random, 7)
    );
}

#[test]
fn shared_as_dyn_storage() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FaultStorage>();
    let fault = Arc::new(FaultStorage::new(
        FaultConfig::seeded(5).with_crash_at(2),
        vec![],
    ));
    let storage: Arc<dyn Storage> = fault.clone();
    let worker = std::thread::spawn(move || {
        storage.write_at(0, &[1; 10])?;
        storage.sync_data()?;
        storage.write_at(10, &[2; 10])
    });
    assert!(worker.join().unwrap().is_err());
    assert!(fault.is_crashed());
    assert_eq!(fault.crash_image(CrashMode::KeepAll), vec![1; 10]);
    assert_eq!(fault.sync_count(), 1);
    assert!(format!("{fault:?}").contains("crashed: true"));
}

#[test]
fn writer_lock_is_an_in_memory_flag() {
    let storage = FaultStorage::new(FaultConfig::default(), Vec::new());
    assert!(storage.try_lock_writer().unwrap());
    assert!(!storage.try_lock_writer().unwrap());
    storage.unlock_writer().unwrap();
    assert!(storage.try_lock_writer().unwrap());
    assert_eq!(storage.op_count(), 0);
}
