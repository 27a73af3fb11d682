//! Retention: whole segments past `retention.bytes` or `retention.ms` are dropped from the
//! head of each partition, their pages are reused, and the file stops growing under churn.

use std::time::Duration;

use brooklet::{Brooklet, Error, FetchLimits, Options, Position, Record, TopicConfig};

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

#[test]
fn churn_keeps_the_file_size_flat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("churn.brooklet");
    let db = Brooklet::open(&path).expect("open");
    let config =
        TopicConfig::from_pairs([("segment.bytes", "65536"), ("retention.bytes", "262144")])
            .expect("config");
    db.admin().create_topic("churn", 2, config).expect("create");
    let value = vec![7u8; 100];
    let mut sizes = Vec::new();
    for round in 0..50u32 {
        // One round appends about as much as retention keeps, so each round drops about
        // one round's worth of old segments.
        for batch in 0..20u32 {
            let records: Vec<Record> = (0..100u32)
                .map(|i| {
                    // Fixed timestamps keep the run deterministic (the time index, and so
                    // the page layout, depends on them).
                    let ts = 1_700_000_000_000 + i64::from(round * 100 + batch);
                    Record::keyed(format!("{round}-{batch}-{i}").into_bytes(), value.clone())
                        .with_timestamp(ts)
                })
                .collect();
            db.producer().send_batch("churn", records).expect("send");
        }
        sizes.push(file_len(&path));
        let report = db.admin().check().expect("check");
        assert!(report.is_clean(), "round {round}: {:?}", report.problems);
    }
    let warm = sizes[5];
    let last = *sizes.last().expect("sizes");
    println!(
        "churn file size: round 1 {} bytes, round 6 {warm}, round 50 {last}",
        sizes[0]
    );
    assert!(
        last * 100 <= warm * 105,
        "file grew from {warm} to {last} bytes after warm-up: {sizes:?}"
    );
    for p in 0..2 {
        let d = db.admin().describe_topic("churn").expect("describe");
        let info = &d.partitions[p];
        assert!(info.beginning_offset > 0, "retention moved the log start");
        assert!(
            info.bytes <= 262_144 + 65_536 + 16_384,
            "partition {p} holds {} bytes",
            info.bytes
        );
        // Everything from the log start on is still readable.
        let fetched = db
            .fetch(
                "churn",
                info.partition,
                info.beginning_offset,
                FetchLimits {
                    max_records: 100_000,
                    max_bytes: 1 << 24,
                },
            )
            .expect("fetch");
        assert_eq!(
            fetched.records.len() as u64,
            info.end_offset - info.beginning_offset
        );
    }
}

#[test]
fn time_retention_drops_old_segments_and_readers_reset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("time.brooklet");
    let db = Brooklet::open_with(&path, Options::default().maintain_on_open(false)).expect("open");
    // Retention is set only after producing, so that `maintain` (not the produce path,
    // which also applies retention) does the deleting here.
    let config = TopicConfig::from_pairs([("segment.bytes", "65536")]).expect("config");
    db.admin()
        .create_topic("events", 1, config)
        .expect("create");
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms");
    // Old records fill several segments, then one fresh record.
    for i in 0..2000i64 {
        db.producer()
            .send_batch(
                "events",
                vec![Record::value(vec![1u8; 200]).with_timestamp(now - 3_600_000 + i)],
            )
            .expect("send");
    }
    db.producer()
        .send("events", Record::value("fresh").with_timestamp(now))
        .expect("send");
    let mut reader = db.reader().with_reset(Some(Position::Beginning));
    reader
        .assign("events", 0, Position::Beginning)
        .expect("assign");
    db.admin()
        .alter_topic_config("events", &[("retention.ms", "60000")])
        .expect("alter");
    let report = db.admin().maintain().expect("maintain");
    assert!(
        report.segments_deleted > 0,
        "old segments deleted: {report:?}"
    );
    let start = db.beginning_offset("events", 0).expect("start");
    assert!(start > 0);
    assert!(matches!(
        db.fetch("events", 0, 0, FetchLimits::default()),
        Err(Error::OffsetOutOfRange { beginning, .. }) if beginning == start
    ));
    // A reader behind the log start jumps to it (reset policy) and reads on.
    let got = reader.poll(Duration::from_millis(10)).expect("poll");
    assert!(got.iter().all(|r| r.record.offset >= start));
    let mut strict = db.reader().with_reset(None);
    strict
        .assign("events", 0, Position::Offset(0))
        .expect("assign");
    assert!(matches!(
        strict.poll(Duration::ZERO),
        Err(Error::OffsetOutOfRange { .. })
    ));
    // The newest record survives; offset_for_time still works.
    assert_eq!(
        db.offset_for_time("events", 0, now).expect("time"),
        Some(2000)
    );
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(report.free_pages() > 0, "dropped segments' pages are free");
    // Reopening with maintenance on applies retention too (nothing more to drop here).
    drop(db);
    let again = Brooklet::open(&path).expect("reopen");
    assert_eq!(again.beginning_offset("events", 0).expect("start"), start);
}

#[test]
fn background_maintenance_applies_time_retention_without_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("bg.brooklet")).expect("open");
    let config = TopicConfig::from_pairs([("segment.bytes", "65536"), ("retention.ms", "1")])
        .expect("config");
    db.admin().create_topic("t", 1, config).expect("create");
    for _ in 0..800 {
        db.producer()
            .send_batch("t", vec![Record::value(vec![0u8; 200]).with_timestamp(1)])
            .expect("send");
    }
    let handle = db.admin().start_maintenance(Duration::from_millis(5));
    let mut start = 0;
    for _ in 0..2000 {
        start = db.beginning_offset("t", 0).expect("start");
        if start == 800 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(handle);
    assert_eq!(
        start, 800,
        "every expired segment is dropped, active one included"
    );
    // The partition is empty but appends go on at the next offset.
    assert_eq!(
        db.producer()
            .send("t", Record::value("next"))
            .expect("send")
            .offset,
        800
    );
    assert!(db.admin().check().expect("check").is_clean());
}
