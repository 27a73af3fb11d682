//! `Admin::delete_records` (Kafka's `DeleteRecords`): the log start moves to any offset,
//! inside a segment or a batch; readers, consumers and fetches start there; the segments
//! wholly below it are freed with their index entries and aborted transactions; `check`
//! stays clean, a reopened file keeps the start, compaction drops what lies below it, and
//! a power cut at any storage operation leaves the file before or after the call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use brooklet::storage::{CrashMode, FaultConfig, FaultStorage, MemStorage};
use brooklet::{
    Brooklet, ConsumerOptions, Error, FetchLimits, Isolation, Options, Position, Record,
    StoredRecord, TopicConfig, TopicPartition, TransactionOptions,
};

/// Records per produced batch: the log start is put inside batches.
const BATCH: u64 = 10;

fn options() -> Options {
    Options::default().page_size(512).maintain_on_open(false)
}

fn small_segments() -> TopicConfig {
    TopicConfig::from_pairs([("segment.bytes", "65536")]).expect("config")
}

/// `batches` batches of [`BATCH`] records of 200 bytes into partition 0 of `topic`, with
/// timestamps rising by one per record from `t0`.
fn produce(db: &Brooklet, topic: &str, batches: u64, t0: i64) {
    for b in 0..batches {
        let records = (0..BATCH)
            .map(|i| {
                let n = b * BATCH + i;
                let ts = t0 + i64::try_from(n).expect("small");
                Record::value(format!("{n:0200}")).with_timestamp(ts)
            })
            .collect();
        db.producer()
            .send_batch_to(topic, 0, records)
            .expect("send");
    }
}

/// Every record of partition 0 from the log start, read with small fetches.
fn read_all(db: &Brooklet, topic: &str, isolation: Isolation) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let mut offset = db.beginning_offset(topic, 0).expect("beginning");
    let end = db.end_offset(topic, 0).expect("end");
    let limits = FetchLimits {
        max_records: 7,
        max_bytes: 1 << 20,
    };
    while offset < end {
        let fetched = db
            .fetch_with(topic, 0, offset, limits, isolation)
            .expect("fetch");
        if fetched.next_offset == offset {
            break;
        }
        out.extend(fetched.records);
        offset = fetched.next_offset;
    }
    out
}

fn assert_clean(db: &Brooklet, what: &str) {
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "{what}: {:?}", report.problems);
}

#[test]
fn the_start_moves_inside_a_batch_and_whole_segments_below_it_are_freed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.brooklet");
    let db = Brooklet::open_with(&path, options()).expect("open");
    db.admin()
        .create_topic("t", 1, small_segments())
        .expect("create");
    produce(&db, "t", 200, 1_000_000);
    let segments = db.admin().segments("t", 0).expect("segments");
    assert!(segments.len() >= 4, "{} segments", segments.len());
    // Inside a batch of the third segment.
    let before = segments[2].base_offset + BATCH + 3;
    let freed: u64 = segments[..2].iter().map(|s| u64::from(s.page_count)).sum();
    let free_before = db.admin().check().expect("check").free_pages();

    assert_eq!(
        db.admin().delete_records("t", 0, before).expect("delete"),
        before
    );

    let left = db.admin().segments("t", 0).expect("segments");
    assert_eq!(
        left,
        segments[2..],
        "only the two segments below are dropped"
    );
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(
        report.free_pages() >= free_before + freed,
        "{freed} pages of dropped segments are free: {free_before} -> {}",
        report.free_pages()
    );
    let info = db.admin().describe_topic("t").expect("describe").partitions[0].clone();
    assert_eq!((info.beginning_offset, info.end_offset), (before, 2000));
    assert_eq!(info.segments as usize, left.len());
    assert_eq!(db.beginning_offset("t", 0).expect("start"), before);
    // Reads start at the new start, even from inside the batch that holds it.
    let records = read_all(&db, "t", Isolation::ReadCommitted);
    let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (before..2000).collect::<Vec<_>>());
    assert!(matches!(
        db.fetch("t", 0, before - 1, FetchLimits::default()),
        Err(Error::OffsetOutOfRange { beginning, .. }) if beginning == before
    ));
    // A time below every record left finds the start, not a deleted record.
    assert_eq!(db.offset_for_time("t", 0, 0).expect("time"), Some(before));
    // Backwards is a no-op; past the end is refused; neither changes anything.
    assert_eq!(db.admin().delete_records("t", 0, 5).expect("no-op"), before);
    assert!(matches!(
        db.admin().delete_records("t", 0, 2001),
        Err(Error::OffsetOutOfRange {
            offset: 2001,
            end: 2000,
            ..
        })
    ));
    assert!(matches!(
        db.admin().delete_records("t", 1, 0),
        Err(Error::UnknownPartition { .. })
    ));
    assert!(matches!(
        db.admin().delete_records("nope", 0, 0),
        Err(Error::UnknownTopic(_))
    ));
    drop(db);
    let again = Brooklet::open_with(&path, options()).expect("reopen");
    assert_eq!(again.beginning_offset("t", 0).expect("start"), before);
    assert_eq!(read_all(&again, "t", Isolation::ReadCommitted), records);
    assert_clean(&again, "reopened");
}

#[test]
fn deleting_to_the_end_frees_every_segment_and_produce_goes_on() {
    let db = Brooklet::open_storage(Arc::new(MemStorage::new()), options()).expect("open");
    db.admin()
        .create_topic("t", 1, small_segments())
        .expect("create");
    produce(&db, "t", 100, 0);
    let pages: u64 = db
        .admin()
        .segments("t", 0)
        .expect("segments")
        .iter()
        .map(|s| u64::from(s.page_count))
        .sum();
    let free_before = db.admin().check().expect("check").free_pages();
    assert_eq!(
        db.admin().delete_records("t", 0, 1000).expect("delete"),
        1000
    );
    assert!(db.admin().segments("t", 0).expect("segments").is_empty());
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(report.free_pages() >= free_before + pages);
    assert!(read_all(&db, "t", Isolation::ReadCommitted).is_empty());
    let sent = db
        .producer()
        .send("t", Record::value("next"))
        .expect("send");
    assert_eq!(sent.offset, 1000);
    let got = read_all(&db, "t", Isolation::ReadCommitted);
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [1000]);
    assert_clean(&db, "after produce");
}

#[test]
fn readers_and_consumers_behind_the_start_reset_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open_with(dir.path().join("c.brooklet"), options()).expect("open");
    db.admin()
        .create_topic("t", 1, small_segments())
        .expect("create");
    produce(&db, "t", 50, 0);
    let consumer_options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        heartbeat_interval: Duration::from_millis(50),
        ..ConsumerOptions::default()
    };
    {
        let mut consumer = db
            .consumer("g", &["t"], consumer_options.clone())
            .expect("consumer");
        let mut seen = 0;
        while seen < 20 {
            seen += consumer
                .poll(Duration::from_millis(100))
                .expect("poll")
                .len();
        }
        consumer
            .commit_offsets([(TopicPartition::new("t", 0), 20)])
            .expect("commit");
    }
    let mut reader = db.reader().with_reset(Some(Position::Beginning));
    reader.assign("t", 0, Position::Offset(3)).expect("assign");
    let mut strict = db.reader().with_reset(None);
    strict.assign("t", 0, Position::Offset(3)).expect("assign");

    let before = 257;
    db.admin().delete_records("t", 0, before).expect("delete");

    let got = reader.poll(Duration::from_millis(10)).expect("poll");
    assert_eq!(got.first().map(|r| r.record.offset), Some(before));
    assert!(matches!(
        strict.poll(Duration::ZERO),
        Err(Error::OffsetOutOfRange { beginning, .. }) if beginning == before
    ));
    let mut consumer = db
        .consumer("g", &["t"], consumer_options)
        .expect("consumer");
    let mut first = None;
    for _ in 0..50 {
        if let Some(r) = consumer
            .poll(Duration::from_millis(100))
            .expect("poll")
            .first()
        {
            first = Some(r.record.offset);
            break;
        }
    }
    assert_eq!(
        first,
        Some(before),
        "the committed 20 is below the start: reset"
    );
    let mut from_beginning = db.reader();
    from_beginning
        .assign("t", 0, Position::Beginning)
        .expect("assign");
    let got = from_beginning
        .poll(Duration::from_millis(10))
        .expect("poll");
    assert_eq!(got.first().map(|r| r.record.offset), Some(before));
}

#[test]
fn aborted_transactions_below_the_start_are_forgotten_and_those_across_it_still_hide() {
    let db = Brooklet::open_storage(Arc::new(MemStorage::new()), options()).expect("open");
    db.admin()
        .create_topic("t", 1, small_segments())
        .expect("create");
    // Every record is stored ahead of its transaction's end, so aborts leave records.
    let store_ahead = TransactionOptions {
        buffer_bytes: 1,
        ..TransactionOptions::default()
    };
    let mut producer = db
        .transactional_producer_with("tx", store_ahead)
        .expect("producer");
    // Aborted, committed, aborted: each transaction holds 5 records and a marker.
    for commit in [false, true, false] {
        let mut txn = producer.begin().expect("begin");
        for i in 0..5 {
            txn.send_to("t", 0, Record::value(format!("{commit} {i}")))
                .expect("send");
        }
        if commit {
            txn.commit().expect("commit");
        } else {
            txn.abort().expect("abort");
        }
    }
    db.producer()
        .send("t", Record::value("plain"))
        .expect("send");
    let aborted = db.admin().aborted_transactions("t", 0).expect("aborted");
    assert_eq!(aborted.len(), 2, "{aborted:?}");
    let committed = read_all(&db, "t", Isolation::ReadCommitted);
    assert_eq!(
        committed.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [6, 7, 8, 9, 10, 18]
    );
    // Past the first ABORT marker (offset 5), inside the second aborted transaction.
    let before = aborted[1].first_offset + 2;
    db.admin().delete_records("t", 0, before).expect("delete");
    assert_eq!(
        db.admin().aborted_transactions("t", 0).expect("aborted"),
        aborted[1..],
        "only the transaction whose marker is below the start is forgotten"
    );
    let committed = read_all(&db, "t", Isolation::ReadCommitted);
    assert_eq!(committed.iter().map(|r| r.offset).collect::<Vec<_>>(), [18]);
    let all = read_all(&db, "t", Isolation::ReadUncommitted);
    assert_eq!(all.first().map(|r| r.offset), Some(before));
    assert_clean(&db, "after delete");
    db.admin().delete_records("t", 0, 19).expect("delete");
    assert!(
        db.admin()
            .aborted_transactions("t", 0)
            .expect("aborted")
            .is_empty()
    );
    assert_clean(&db, "after deleting everything");
}

#[test]
fn compaction_drops_records_below_the_start_and_stays_consistent() {
    let db = Brooklet::open_storage(Arc::new(MemStorage::new()), options()).expect("open");
    let config = TopicConfig::from_pairs([
        ("cleanup.policy", "compact"),
        ("segment.bytes", "65536"),
        ("min.cleanable.dirty.ratio", "1"),
    ])
    .expect("config");
    db.admin().create_topic("c", 1, config).expect("create");
    // Distinct keys: compaction can remove only what lies below the start.
    for b in 0..150u64 {
        let records = (0..BATCH)
            .map(|i| {
                let n = b * BATCH + i;
                Record::new(Some(format!("key {n}").into_bytes()), vec![7u8; 200])
            })
            .collect();
        db.producer().send_batch_to("c", 0, records).expect("send");
    }
    let segments = db.admin().segments("c", 0).expect("segments");
    assert!(segments.len() >= 3, "{} segments", segments.len());
    let before = segments[1].base_offset + BATCH + 4;
    db.admin().delete_records("c", 0, before).expect("delete");
    let expected = read_all(&db, "c", Isolation::ReadCommitted);
    assert_eq!(expected.first().map(|r| r.offset), Some(before));
    let bytes_before = db.admin().describe_topic("c").expect("describe").partitions[0].bytes;

    let report = db.admin().compact().expect("compact");
    assert!(report.records_removed > 0, "{report:?}");
    let after = db.admin().describe_topic("c").expect("describe").partitions[0].clone();
    assert!(
        after.bytes < bytes_before,
        "{bytes_before} -> {}",
        after.bytes
    );
    assert_eq!(after.beginning_offset, before);
    assert_eq!(read_all(&db, "c", Isolation::ReadCommitted), expected);
    assert_clean(&db, "after compaction");
}

/// Every partition's log start and records.
type State = BTreeMap<String, (u64, Vec<StoredRecord>)>;

fn read_state(db: &Brooklet) -> State {
    let mut state = State::new();
    for topic in db.admin().topics().expect("topics") {
        let start = db.beginning_offset(&topic.name, 0).expect("start");
        let records = read_all(db, &topic.name, Isolation::ReadUncommitted);
        state.insert(topic.name, (start, records));
    }
    state
}

fn open_image(image: Vec<u8>) -> Brooklet {
    Brooklet::open_storage(Arc::new(MemStorage::from_bytes(image)), options()).expect("open")
}

#[test]
fn a_power_cut_during_delete_records_leaves_the_file_before_or_after() {
    let storage = Arc::new(MemStorage::new());
    {
        let db = Brooklet::open_storage(storage.clone(), options()).expect("open");
        db.admin()
            .create_topic("t", 1, small_segments())
            .expect("create");
        produce(&db, "t", 120, 0);
        db.flush().expect("flush");
    }
    let base = storage.to_bytes();
    let db = open_image(base.clone());
    let segments = db.admin().segments("t", 0).expect("segments");
    let before_state = read_state(&db);
    let cut = segments[2].base_offset + 5;
    let delete = |db: &Brooklet| db.admin().delete_records("t", 0, cut);
    delete(&db).expect("delete");
    let after_state = read_state(&db);
    assert_ne!(before_state, after_state);
    drop(db);

    let probe = Arc::new(FaultStorage::new(FaultConfig::seeded(1), base.clone()));
    {
        let db = Brooklet::open_storage(probe.clone(), options()).expect("open");
        delete(&db).expect("delete");
    }
    let total_ops = probe.op_count();
    let (mut befores, mut afters) = (0, 0);
    for crash_at in 0..=total_ops {
        let config = FaultConfig::seeded(crash_at).with_crash_at(crash_at);
        let storage = Arc::new(FaultStorage::new(config, base.clone()));
        let returned = match Brooklet::open_storage(storage.clone(), options()) {
            Ok(db) => delete(&db).is_ok(),
            Err(_) => false,
        };
        for (name, mode) in CrashMode::SWEEP {
            let label = format!("crash at op {crash_at} of {total_ops} ({name})");
            let db = open_image(storage.crash_image(mode));
            let state = read_state(&db);
            if state == before_state {
                assert!(
                    !returned,
                    "{label}: the call returned but its commit is lost"
                );
                befores += 1;
            } else {
                assert_eq!(state, after_state, "{label}: neither before nor after");
                afters += 1;
            }
            assert_clean(&db, &label);
        }
    }
    eprintln!("delete_records power cuts: {befores} images before, {afters} after");
    assert!(befores > 0 && afters > 0);
}

/// Rewrites the log start of partition 0 of topic id 1 (the first topic) to `log_start`,
/// through the engine, leaving every other tree as it is.
fn set_log_start(db: &Brooklet, log_start: u64) {
    let key = [1u32.to_be_bytes(), 0u32.to_be_bytes()].concat();
    let read = db.engine().begin_read().expect("read");
    let mut state = read
        .get("log.partitions", &key)
        .expect("get")
        .expect("state");
    drop(read);
    state[..8].copy_from_slice(&log_start.to_le_bytes());
    let mut txn = db.engine().begin_write().expect("write");
    txn.insert("log.partitions", &key, &state).expect("insert");
    txn.commit(brooklet::Durability::Immediate).expect("commit");
}

#[test]
fn check_accepts_records_below_the_start_only_in_the_first_segment() {
    let db = Brooklet::open_storage(Arc::new(MemStorage::new()), options()).expect("open");
    db.admin()
        .create_topic("t", 1, small_segments())
        .expect("create");
    produce(&db, "t", 100, 0);
    let segments = db.admin().segments("t", 0).expect("segments");
    let second = segments[1].base_offset;
    let problems = |db: &Brooklet| {
        let report = db.admin().check().expect("check");
        report
            .problems
            .iter()
            .map(|p| p.message.clone())
            .collect::<Vec<_>>()
    };
    // A start past the whole first segment that did not drop it: a segment left behind,
    // and index entries below the start.
    set_log_start(&db, second + 1);
    let found = problems(&db);
    assert!(
        found.iter().any(|m| m.contains(&format!(
            "segment 0 ends at offset {}, below the log start",
            second - 1
        ))),
        "{found:?}"
    );
    assert!(
        found.iter().any(|m| m.contains("lies outside the offsets")),
        "{found:?}"
    );
    // A start inside the first batch whose index entry below it remains: reported.
    set_log_start(&db, 5);
    let found = problems(&db);
    assert_eq!(
        found,
        ["t/0: offset index entry for 0 lies outside the offsets 5..1000"]
    );
    // The same start, as `delete_records` leaves it: clean.
    set_log_start(&db, 0);
    db.admin().delete_records("t", 0, 5).expect("delete");
    assert_eq!(problems(&db), Vec::<String>::new());
}
