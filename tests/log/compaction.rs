//! Compaction (`cleanup.policy=compact`): a seeded model test against a map of every record
//! produced, the rules around it (active segment, `min.compaction.lag.ms`, keyless
//! records), reading across the offset gaps it leaves, and power cuts and I/O errors at
//! every storage operation of a run of compaction, retention, produce and vacuum steps.
//!
//! `BROOKLET_SEED` replays the model test with another seed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use brooklet::storage::{CrashMode, FaultConfig, FaultKind, FaultStorage, MemStorage, Storage};
use brooklet::{
    Brooklet, Durability, Error, FetchLimits, Header, Options, Position, Record, StoredRecord,
    TopicConfig,
};

const HOUR_MS: i64 = 3_600_000;
/// A fixed time long past (2020-09-13), so runs of the same workload store the same bytes.
const LONG_AGO_MS: i64 = 1_600_000_000_000;

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis(),
    )
    .expect("time fits i64")
}

fn options() -> Options {
    Options::default().page_size(512).maintain_on_open(false)
}

/// A compacted topic that only compacts when asked: these tests count what `compact` and
/// `maintain` do, so produce commits must not compact by themselves first (ratio 1;
/// `auto_compaction.rs` covers the step that does).
fn compact_config(extra: &[(&str, &str)]) -> TopicConfig {
    let mut config = TopicConfig::from_pairs([
        ("cleanup.policy", "compact"),
        ("segment.bytes", "65536"),
        ("delete.retention.ms", "3600000"),
        ("min.cleanable.dirty.ratio", "1"),
    ])
    .expect("config");
    // The extra pairs override the ones above (from_pairs refuses a key given twice).
    config.set_pairs(extra.iter().copied()).expect("config");
    config
}

fn memory_db() -> Brooklet {
    Brooklet::open_storage(Arc::new(MemStorage::new()), options()).expect("open")
}

/// Every record of a partition, read with small fetches so that many start inside gaps.
fn read_partition(db: &Brooklet, topic: &str, partition: u32) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let mut offset = db.beginning_offset(topic, partition).expect("beginning");
    let end = db.end_offset(topic, partition).expect("end");
    let limits = FetchLimits {
        max_records: 7,
        max_bytes: 2048,
    };
    while offset < end {
        let fetched = db.fetch(topic, partition, offset, limits).expect("fetch");
        assert!(
            fetched.next_offset > offset,
            "fetch at {offset} made progress"
        );
        out.extend(fetched.records.into_iter().filter(|r| r.offset >= offset));
        offset = fetched.next_offset;
    }
    out
}

/// A record with a key from a small set: a value, sometimes a tombstone, sometimes headers.
fn keyed_record(rng: &mut fastrand::Rng, keys: u32, timestamp_ms: i64) -> Record {
    let key = format!("key-{}", rng.u32(0..keys)).into_bytes();
    let value = (rng.u8(0..100) >= 15).then(|| {
        let mut v = vec![0u8; rng.usize(0..90)];
        rng.fill(&mut v);
        v
    });
    let headers = (0..rng.usize(0..3))
        .map(|i| Header {
            key: format!("h{i}"),
            value: (rng.bool()).then(|| vec![rng.u8(..); 3]),
        })
        .collect();
    Record {
        key: Some(key),
        value,
        headers,
        timestamp_ms: Some(timestamp_ms),
    }
}

/// The records compaction must leave: everything in the active segment (from
/// `active_base`); before it, each key's latest record unless it is a tombstone older than
/// `horizon_ms`.
fn expected_after_compaction(
    produced: &[StoredRecord],
    active_base: u64,
    horizon_ms: i64,
) -> Vec<StoredRecord> {
    let mut latest: HashMap<&[u8], u64> = HashMap::new();
    for r in produced.iter().filter(|r| r.offset < active_base) {
        latest.insert(r.key.as_deref().expect("keyed"), r.offset);
    }
    produced
        .iter()
        .filter(|r| {
            r.offset >= active_base
                || (latest[r.key.as_deref().expect("keyed")] == r.offset
                    && !(r.value.is_none() && r.timestamp_ms < horizon_ms))
        })
        .cloned()
        .collect()
}

fn seed() -> u64 {
    std::env::var("BROOKLET_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xC0_4AC7)
}

#[test]
fn compaction_keeps_each_keys_latest_record_at_its_offset() {
    let base_seed = seed();
    let mut removed_total = 0;
    let mut gaps_seen = 0;
    for seed in base_seed..base_seed + 4 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let db = memory_db();
        db.admin()
            .create_topic("c", 2, compact_config(&[]))
            .expect("create");
        let now = now_ms();
        // Old records (their tombstones expire at once) in the first rounds, fresh ones (their
        // tombstones stay) in the last, so both tombstone rules are seen.
        let mut produced: Vec<Vec<StoredRecord>> = vec![Vec::new(); 2];
        for round in 0..5 {
            let keys = if round % 2 == 0 { 30 } else { 300 };
            for _ in 0..rng.usize(20..60) {
                let partition = rng.u32(0..2);
                let timestamp = if round < 3 { now - 10 * HOUR_MS } else { now };
                let records: Vec<Record> = (0..rng.usize(1..60))
                    .map(|_| {
                        let jitter = rng.i64(0..1000);
                        keyed_record(&mut rng, keys, timestamp + jitter)
                    })
                    .collect();
                let sent = db
                    .producer()
                    .with_durability(Durability::None)
                    .send_batch_to("c", partition, records.clone())
                    .expect("send");
                for (record, meta) in records.into_iter().zip(sent) {
                    produced[partition as usize].push(StoredRecord {
                        offset: meta.offset,
                        timestamp_ms: meta.timestamp_ms,
                        key: record.key,
                        value: record.value,
                        headers: record.headers,
                    });
                }
            }
            let before: usize = (0..2).map(|p| read_partition(&db, "c", p).len()).sum();
            let report = db.admin().compact().expect("compact");
            let horizon = now_ms() - HOUR_MS;
            let mut after = 0;
            for partition in 0..2u32 {
                let segments = db.admin().segments("c", partition).expect("segments");
                let active_base = segments.last().map_or(0, |s| s.base_offset);
                let found = read_partition(&db, "c", partition);
                let want =
                    expected_after_compaction(&produced[partition as usize], active_base, horizon);
                assert_eq!(
                    found.len(),
                    want.len(),
                    "seed {seed} round {round} partition {partition}: record count"
                );
                assert!(
                    found == want,
                    "seed {seed} round {round} partition {partition}: records differ"
                );
                gaps_seen += found
                    .windows(2)
                    .filter(|w| w[1].offset > w[0].offset + 1)
                    .count();
                after += found.len();
                assert_eq!(
                    db.end_offset("c", partition).expect("end"),
                    produced[partition as usize].len() as u64,
                    "the end offset never moves back"
                );
            }
            assert_eq!(
                before - after,
                usize::try_from(report.records_removed).expect("count"),
                "seed {seed} round {round}: the report counts what went"
            );
            removed_total += report.records_removed;
            let check = db.admin().check().expect("check");
            assert!(
                check.is_clean(),
                "seed {seed} round {round}: {:?}",
                check.problems
            );
            // A second pass finds nothing more to remove.
            assert_eq!(db.admin().compact().expect("compact").records_removed, 0);
        }
    }
    eprintln!("compaction model: {removed_total} records removed, {gaps_seen} gaps read across");
    assert!(removed_total > 1000 && gaps_seen > 100);
}

#[test]
fn the_active_segment_and_young_segments_are_left_alone() {
    let db = memory_db();
    let lagged = compact_config(&[("min.compaction.lag.ms", "3600000")]);
    db.admin().create_topic("young", 1, lagged).expect("create");
    db.admin()
        .create_topic("one-segment", 1, compact_config(&[]))
        .expect("create");
    let now = now_ms();
    for i in 0..3000u32 {
        let record = Record {
            timestamp_ms: Some(now),
            ..Record::new(Some(b"same".to_vec()), i.to_be_bytes().to_vec())
        };
        db.producer().send_to("young", 0, record).expect("send");
    }
    // One append: one batch, in one segment sized for it.
    let records = (0..100u32)
        .map(|i| Record::new(Some(b"same".to_vec()), i.to_be_bytes().to_vec()))
        .collect();
    db.producer()
        .send_batch("one-segment", records)
        .expect("send");
    assert!(db.admin().segments("young", 0).expect("segments").len() > 2);
    assert_eq!(
        db.admin()
            .segments("one-segment", 0)
            .expect("segments")
            .len(),
        1
    );
    let report = db.admin().compact().expect("compact");
    assert_eq!(report.records_removed, 0, "{report:?}");
    assert_eq!(read_partition(&db, "young", 0).len(), 3000);
    assert_eq!(read_partition(&db, "one-segment", 0).len(), 100);
    // With the lag lifted, every segment but the active one is compacted.
    db.admin()
        .alter_topic_config("young", &[("min.compaction.lag.ms", "0")])
        .expect("alter");
    let report = db.admin().maintain().expect("maintain");
    assert!(report.compaction.records_removed > 2000, "{report:?}");
    let left = read_partition(&db, "young", 0);
    let active_base = db
        .admin()
        .segments("young", 0)
        .expect("segments")
        .last()
        .expect("a segment")
        .base_offset;
    assert_eq!(
        left.iter().filter(|r| r.offset < active_base).count(),
        1,
        "one record of the key before the active segment"
    );
    assert_eq!(left.last().expect("records").offset, 2999);
    assert!(db.admin().check().expect("check").is_clean());
}

#[test]
fn compacted_topics_refuse_keyless_records_and_other_topics_refuse_compact() {
    let db = memory_db();
    db.admin()
        .create_topic("c", 1, compact_config(&[]))
        .expect("create");
    db.admin()
        .create_topic("plain", 1, TopicConfig::default())
        .expect("create");
    let keyed = Record::new(Some(b"k".to_vec()), b"v".to_vec());
    let keyless = Record::new(None, b"v".to_vec());
    let err = db
        .producer()
        .send_batch("c", vec![keyed.clone(), keyless])
        .expect_err("keyless record refused");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains("needs a key"), "{err}");
    assert_eq!(
        db.end_offset("c", 0).expect("end"),
        0,
        "nothing of the batch landed"
    );
    db.producer().send("c", keyed).expect("keyed record");
    let err = db
        .admin()
        .compact_topic("plain")
        .expect_err("not compacted");
    assert!(err.to_string().contains("cleanup.policy=delete"), "{err}");
    assert!(db.admin().compact_topic("missing").is_err());
    assert!(db.admin().compact_partition("c", 5).is_err());
}

#[test]
fn readers_and_consumers_read_across_gaps_and_from_an_emptied_head() {
    let db = memory_db();
    db.admin()
        .create_topic("c", 1, compact_config(&[]))
        .expect("create");
    let old = now_ms() - 10 * HOUR_MS;
    // The first segments hold only keys that are deleted later: compaction empties them.
    let mut sent = 0u64;
    while db.admin().segments("c", 0).expect("segments").len() < 4 {
        let record = Record {
            timestamp_ms: Some(old),
            ..Record::new(
                Some(format!("gone-{}", sent % 50).into_bytes()),
                vec![1; 100],
            )
        };
        db.producer().send("c", record).expect("send");
        sent += 1;
    }
    for k in 0..50 {
        let tombstone = Record {
            timestamp_ms: Some(old),
            ..Record::tombstone(format!("gone-{k}").into_bytes())
        };
        db.producer().send("c", tombstone).expect("send");
    }
    for k in 0..3000u32 {
        let record = Record {
            timestamp_ms: Some(old),
            ..Record::new(
                Some(format!("kept-{}", k % 7).into_bytes()),
                k.to_be_bytes().to_vec(),
            )
        };
        db.producer().send("c", record).expect("send");
    }
    let report = db.admin().compact().expect("compact");
    assert!(report.records_removed > 0);
    let records = read_partition(&db, "c", 0);
    assert!(
        records
            .iter()
            .all(|r| r.key.as_deref().is_some_and(|k| k.starts_with(b"kept-")))
    );
    assert_eq!(db.beginning_offset("c", 0).expect("beginning"), 0);
    // A reader from the beginning, and a group member with no committed offset, read the
    // same records.
    let mut reader = db.reader();
    reader.assign("c", 0, Position::Beginning).expect("assign");
    let mut via_reader = Vec::new();
    while via_reader.len() < records.len() {
        let batch = reader
            .poll(std::time::Duration::from_secs(1))
            .expect("poll");
        assert!(
            !batch.is_empty(),
            "the reader stalled at {} records",
            via_reader.len()
        );
        via_reader.extend(batch.into_iter().map(|r| r.record));
    }
    assert_eq!(via_reader, records);
    let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
    let fetched = db
        .fetch("c", 0, 0, FetchLimits::default())
        .expect("fetch at the emptied head");
    assert_eq!(
        fetched.records.first().map(|r| r.offset),
        offsets.first().copied()
    );
    assert!(db.admin().check().expect("check").is_clean());
}

/// A storage that records the durable image after every successful sync, and the
/// operation count at which each sync was issued.
#[derive(Debug)]
struct Recorder {
    inner: Arc<FaultStorage>,
    syncs: Mutex<Vec<(u64, Vec<u8>)>>,
}

impl Storage for Recorder {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.inner.write_at(offset, data)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        let op = self.inner.op_count();
        self.inner.sync_data()?;
        let image = self.inner.durable_image();
        self.syncs.lock().expect("lock").push((op, image));
        Ok(())
    }
    fn sync_count(&self) -> u64 {
        self.inner.sync_count()
    }
    fn try_lock_writer(&self) -> std::io::Result<bool> {
        self.inner.try_lock_writer()
    }
    fn unlock_writer(&self) -> std::io::Result<()> {
        self.inner.unlock_writer()
    }
}

/// Every partition of every topic, by topic name.
type State = BTreeMap<String, Vec<Vec<StoredRecord>>>;

fn read_state(db: &Brooklet) -> brooklet::Result<State> {
    let mut state = State::new();
    for topic in db.admin().topics()? {
        let mut parts = Vec::new();
        for p in 0..topic.partitions {
            let mut out = Vec::new();
            let mut offset = db.beginning_offset(&topic.name, p)?;
            let end = db.end_offset(&topic.name, p)?;
            while offset < end {
                let fetched = db.fetch(&topic.name, p, offset, FetchLimits::default())?;
                out.extend(fetched.records);
                offset = fetched.next_offset;
            }
            parts.push(out);
        }
        state.insert(topic.name, parts);
    }
    Ok(state)
}

fn open_image(image: Vec<u8>) -> brooklet::Result<Brooklet> {
    Brooklet::open_storage(Arc::new(MemStorage::from_bytes(image)), options())
}

/// A file with a compacted topic and a compacted topic with retention, ready to be cleaned.
fn housekeeping_base() -> Vec<u8> {
    let storage = Arc::new(MemStorage::new());
    let db = Brooklet::open_storage(storage.clone(), options()).expect("open");
    db.admin()
        .create_topic("c", 2, compact_config(&[]))
        .expect("create");
    let retained = compact_config(&[("cleanup.policy", "compact,delete")]);
    db.admin().create_topic("r", 1, retained).expect("create");
    let mut rng = fastrand::Rng::with_seed(7);
    let old = LONG_AGO_MS;
    for _ in 0..1400 {
        let records: Vec<Record> = (0..40).map(|_| keyed_record(&mut rng, 25, old)).collect();
        let topic = if rng.u8(0..3) == 0 { "r" } else { "c" };
        let partition = if topic == "c" { rng.u32(0..2) } else { 0 };
        db.producer()
            .with_durability(Durability::None)
            .send_batch_to(topic, partition, records)
            .expect("send");
    }
    // Retention is set only now, so that the sweep's produce commit and `maintain` drop
    // the old segments.
    db.admin()
        .alter_topic_config("r", &[("retention.ms", "18000000")])
        .expect("alter");
    db.flush().expect("flush");
    drop(db);
    storage.to_bytes()
}

/// Compaction, produce commits (the one into `r` applies its retention), compaction again,
/// `maintain`, then `vacuum`.
fn housekeeping(db: &Brooklet) -> brooklet::Result<()> {
    db.admin().compact()?;
    let mut rng = fastrand::Rng::with_seed(11);
    let old = LONG_AGO_MS;
    for i in 0..4 {
        let records: Vec<Record> = (0..400).map(|_| keyed_record(&mut rng, 25, old)).collect();
        db.producer().send_batch_to("c", i % 2, records)?;
    }
    db.admin().compact_topic("c")?;
    let records: Vec<Record> = (0..200).map(|_| keyed_record(&mut rng, 25, old)).collect();
    db.producer().send_batch_to("r", 0, records)?;
    db.admin().maintain()?;
    // Retention and compaction left free pages: give them back.
    db.admin().vacuum()?;
    Ok(())
}

/// A fault-free run on `base`.
struct Recorded {
    /// Storage operations it made.
    total_ops: u64,
    /// The file's size after it.
    file_bytes: usize,
    /// For each commit (its sync), the operation count at which the sync was issued.
    syncs: Vec<(u64, Vec<u8>)>,
    /// The records before the run, then after each commit.
    states: Vec<State>,
}

/// Produce commits of 400 records into partition 0 of `c`, compacting by themselves: each
/// closes a segment, and its compaction step rides in it.
fn produce_compacting(db: &Brooklet) -> brooklet::Result<()> {
    db.admin()
        .alter_topic_config("c", &[("min.cleanable.dirty.ratio", "0.5")])?;
    let mut rng = fastrand::Rng::with_seed(13);
    for _ in 0..4 {
        let records: Vec<Record> = (0..400)
            .map(|_| keyed_record(&mut rng, 25, LONG_AGO_MS))
            .collect();
        db.producer().send_batch_to("c", 0, records)?;
    }
    Ok(())
}

/// Runs `run` on `base` without faults, recording the state after each commit.
fn record_run(base: &[u8], run: fn(&Brooklet) -> brooklet::Result<()>) -> Recorded {
    let probe = Arc::new(FaultStorage::new(FaultConfig::seeded(1), base.to_vec()));
    let recorder = Arc::new(Recorder {
        inner: probe.clone(),
        syncs: Mutex::new(Vec::new()),
    });
    {
        let db = Brooklet::open_storage(recorder.clone(), options()).expect("open");
        run(&db).expect("the run runs");
    }
    let syncs = recorder.syncs.lock().expect("lock").clone();
    let mut states =
        vec![read_state(&open_image(base.to_vec()).expect("open base")).expect("read")];
    for (_, image) in &syncs {
        states.push(read_state(&open_image(image.clone()).expect("open")).expect("read"));
    }
    Recorded {
        total_ops: probe.op_count(),
        file_bytes: probe.volatile_image().len(),
        syncs,
        states,
    }
}

/// The records of a recorded state.
fn record_count(state: &State) -> usize {
    state.values().flatten().map(Vec::len).sum()
}

#[test]
fn power_cuts_during_compaction_retention_and_vacuum_lose_nothing() {
    let base = housekeeping_base();
    let recorded = record_run(&base, housekeeping);
    assert!(
        recorded.file_bytes < base.len() / 2,
        "vacuum gave back what compaction freed: {} -> {} bytes",
        base.len(),
        recorded.file_bytes
    );
    let before = record_count(&recorded.states[0]);
    let after = record_count(recorded.states.last().expect("states"));
    assert!(
        recorded.syncs.len() >= 4 && after < before / 2,
        "the run compacts and drops: {} commits, {before} -> {after} records",
        recorded.syncs.len()
    );
    cut_power_everywhere(&base, housekeeping, &recorded, "compaction");
}

#[test]
fn power_cuts_during_produce_commits_that_compact_lose_nothing() {
    let base = housekeeping_base();
    let recorded = record_run(&base, produce_compacting);
    // Every produce commit closed a segment and compacted: 1600 records came in, and
    // fewer than that are left, though none was removed by `compact` or `maintain`.
    let before = record_count(&recorded.states[0]);
    let after = record_count(recorded.states.last().expect("states"));
    assert!(
        recorded.syncs.len() >= 5 && after < before,
        "the produce commits compact: {} commits, {before} -> {after} records",
        recorded.syncs.len()
    );
    cut_power_everywhere(&base, produce_compacting, &recorded, "auto compaction");
}

/// Cuts the power at every storage operation of `run` on `base`, in every crash mode, and
/// checks that each image recovers to the state after the last commit whose sync was
/// issued before the cut (or the next one), that every recorded state is reached, and that
/// a recovered file checks clean and takes a produce.
fn cut_power_everywhere(
    base: &[u8],
    run: fn(&Brooklet) -> brooklet::Result<()>,
    recorded: &Recorded,
    what: &str,
) {
    let Recorded {
        total_ops,
        syncs,
        states,
        ..
    } = recorded;
    let total_ops = *total_ops;
    let mut images = 0;
    let mut reached = vec![0u32; states.len()];
    for crash_at in 0..=total_ops {
        let config = FaultConfig::seeded(crash_at).with_crash_at(crash_at);
        let storage = Arc::new(FaultStorage::new(config, base.to_vec()));
        if let Ok(db) = Brooklet::open_storage(storage.clone(), options()) {
            let _ = run(&db);
        }
        // Commits whose sync was issued before the cut returned: they must survive.
        let durable = syncs.iter().filter(|(op, _)| *op < crash_at).count();
        for (name, mode) in CrashMode::SWEEP {
            let label = format!("crash at op {crash_at} of {total_ops} ({name})");
            let db = open_image(storage.crash_image(mode))
                .unwrap_or_else(|e| panic!("{label}: open failed: {e}"));
            let state = read_state(&db).unwrap_or_else(|e| panic!("{label}: read failed: {e}"));
            // Vacuum commits change no record, so neighbouring states may be equal.
            let k = (durable..=durable + 1)
                .find(|&k| states.get(k) == Some(&state))
                .unwrap_or_else(|| {
                    panic!("{label}: not the state after commit {durable} or the next one")
                });
            reached[k] += 1;
            let report = db.admin().check().expect("check");
            assert!(report.is_clean(), "{label}: {:?}", report.problems);
            db.producer()
                .send("c", Record::new(Some(b"after".to_vec()), b"crash".to_vec()))
                .unwrap_or_else(|e| panic!("{label}: produce after recovery: {e}"));
            images += 1;
        }
    }
    eprintln!(
        "{what} power cuts: {} crash points, {images} images, {} commits; states reached \
         {reached:?}",
        total_ops + 1,
        syncs.len()
    );
    assert!(
        reached.iter().all(|&n| n > 0),
        "every committed state was recovered to"
    );
}

#[test]
fn io_errors_during_compaction_poison_the_handle_and_reopening_recovers() {
    let base = housekeeping_base();
    let Recorded {
        total_ops,
        syncs,
        states,
        ..
    } = record_run(&base, housekeeping);
    let mut failed_runs = 0;
    for fail_at in 0..total_ops {
        for kind in [FaultKind::Eio, FaultKind::Enospc] {
            let label = format!("{kind:?} at op {fail_at} of {total_ops}");
            let config = FaultConfig::seeded(fail_at).with_fail_at(fail_at, kind);
            let storage = Arc::new(FaultStorage::new(config, base.clone()));
            let db = Brooklet::open_storage(storage.clone(), options()).expect("open");
            let result = housekeeping(&db);
            let err = result.expect_err(&format!("{label}: the error is reported"));
            assert!(
                matches!(
                    err,
                    Error::Io(_) | Error::CommitOutcomeUnknown(_) | Error::Poisoned
                ),
                "{label}: {err}"
            );
            let again = db
                .producer()
                .send("c", Record::new(Some(b"k".to_vec()), b"v".to_vec()));
            assert!(again.is_err(), "{label}: the handle is poisoned");
            drop(db);
            let durable = syncs.iter().filter(|(op, _)| *op < fail_at).count();
            for (name, image) in [
                ("as written", storage.volatile_image()),
                ("durable only", storage.durable_image()),
            ] {
                let db = open_image(image).unwrap_or_else(|e| panic!("{label} {name}: {e}"));
                let state = read_state(&db).expect("read");
                assert!(
                    (durable..=durable + 1).any(|k| states.get(k) == Some(&state)),
                    "{label} {name}: not the state after commit {durable} or the next one"
                );
                assert!(
                    db.admin().check().expect("check").is_clean(),
                    "{label} {name}"
                );
            }
            failed_runs += 1;
        }
    }
    eprintln!("compaction I/O errors: {failed_runs} failing operations checked");
}
