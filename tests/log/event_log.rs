//! The event log through the public API: topics, produce, fetch, seek by offset and time,
//! readers, and integrity after many commits.

use std::time::Duration;

use brooklet::{
    Brooklet, Durability, Error, FetchLimits, Header, Options, Position, Record, TopicConfig,
};

fn open(dir: &tempfile::TempDir) -> Brooklet {
    Brooklet::open(dir.path().join("log.brooklet")).expect("open")
}

#[test]
fn produce_and_fetch_round_trip_every_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    db.admin()
        .create_topic("orders", 3, TopicConfig::default())
        .expect("create");
    let record = Record {
        key: Some(b"customer-1".to_vec()),
        value: None,
        headers: vec![
            Header {
                key: "h".into(),
                value: Some(b"1".to_vec()),
            },
            Header {
                key: "h".into(),
                value: None,
            },
            Header {
                key: "a".into(),
                value: Some(Vec::new()),
            },
        ],
        timestamp_ms: Some(1_700_000_000_123),
    };
    let sent = db.producer().send("orders", record.clone()).expect("send");
    assert_eq!(sent.offset, 0);
    assert_eq!(sent.timestamp_ms, 1_700_000_000_123);
    // The key's partition matches Kafka's default partitioner.
    let expected =
        brooklet::kafka::partition_for_key(b"customer-1", 3.try_into().expect("nonzero"));
    assert_eq!(sent.partition, expected);
    let fetched = db
        .fetch("orders", sent.partition, 0, FetchLimits::default())
        .expect("fetch");
    assert_eq!(fetched.records.len(), 1);
    let got = &fetched.records[0];
    assert_eq!((got.offset, got.timestamp_ms), (0, 1_700_000_000_123));
    assert_eq!(got.key, record.key);
    assert_eq!(got.value, None);
    assert_eq!(got.headers, record.headers);
    assert_eq!(fetched.next_offset, 1);
    assert_eq!(fetched.end_offset, 1);
}

#[test]
fn offsets_rise_by_one_and_fetch_starts_anywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open_with(
        dir.path().join("o.brooklet"),
        Options::default().page_size(512),
    )
    .expect("open");
    let config = TopicConfig::from_pairs([("segment.bytes", "65536")]).expect("config");
    db.admin().create_topic("t", 1, config).expect("create");
    let mut next = 0u64;
    for round in 0..300u64 {
        let records: Vec<Record> = (0..=(round % 7))
            .map(|i| {
                Record::value(format!(
                    "r{round}-{i}-{}",
                    "x".repeat((round % 50) as usize + 100)
                ))
            })
            .collect();
        let metas = db.producer().send_batch("t", records).expect("send");
        for m in metas {
            assert_eq!(m.offset, next);
            next += 1;
        }
    }
    assert_eq!(db.end_offset("t", 0).expect("end"), next);
    let description = db.admin().describe_topic("t").expect("describe");
    assert!(
        description.partitions[0].segments > 1,
        "several segments expected"
    );
    for start in [0, 1, 5, next / 2, next - 1, next] {
        let fetched = db
            .fetch(
                "t",
                0,
                start,
                FetchLimits {
                    max_records: 10_000,
                    max_bytes: 1 << 24,
                },
            )
            .expect("fetch");
        assert_eq!(fetched.records.len() as u64, next - start, "from {start}");
        for (i, r) in fetched.records.iter().enumerate() {
            assert_eq!(r.offset, start + i as u64);
        }
    }
    let small = db
        .fetch(
            "t",
            0,
            3,
            FetchLimits {
                max_records: 2,
                max_bytes: 1 << 20,
            },
        )
        .expect("fetch");
    // max_records is reached inside the batch holding offsets 3..=5 (round 2 sent 3
    // records starting at 3): the whole batch is returned, so the next fetch starts at a
    // batch boundary and decodes nothing twice.
    assert_eq!(
        small.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert_eq!(small.next_offset, 6);
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn offset_for_time_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    for i in 0..2000i64 {
        db.producer()
            .send_batch(
                "t",
                vec![Record::value(vec![0u8; 50]).with_timestamp(1_000_000 + i * 10)],
            )
            .expect("send");
    }
    assert_eq!(db.offset_for_time("t", 0, 0).expect("t"), Some(0));
    assert_eq!(db.offset_for_time("t", 0, 1_000_000).expect("t"), Some(0));
    assert_eq!(db.offset_for_time("t", 0, 1_000_001).expect("t"), Some(1));
    assert_eq!(
        db.offset_for_time("t", 0, 1_000_000 + 1234 * 10)
            .expect("t"),
        Some(1234)
    );
    assert_eq!(
        db.offset_for_time("t", 0, 1_000_000 + 1999 * 10)
            .expect("t"),
        Some(1999)
    );
    assert_eq!(
        db.offset_for_time("t", 0, 1_000_000 + 1999 * 10 + 1)
            .expect("t"),
        None
    );
}

#[test]
fn topics_are_validated_listed_altered_and_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    assert!(matches!(
        db.admin()
            .create_topic("bad name", 1, TopicConfig::default()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        db.admin().create_topic("t", 0, TopicConfig::default()),
        Err(Error::InvalidArgument(_))
    ));
    db.admin()
        .create_topic("b", 2, TopicConfig::default())
        .expect("create");
    db.admin()
        .create_topic(&"a".repeat(249), 1, TopicConfig::default())
        .expect("long name");
    assert!(
        db.admin()
            .create_topic("b", 1, TopicConfig::default())
            .is_err(),
        "duplicate"
    );
    let names: Vec<String> = db
        .admin()
        .topics()
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["a".repeat(249), "b".to_owned()]);
    let config = db
        .admin()
        .alter_topic_config("b", &[("retention.ms", "1000")])
        .expect("alter");
    assert_eq!(config.retention_ms, Some(1000));
    assert!(
        db.admin()
            .alter_topic_config("b", &[("retention.ms", "x")])
            .is_err()
    );
    for _ in 0..50 {
        db.producer()
            .send("b", Record::value(vec![1u8; 5000]))
            .expect("send");
    }
    assert!(matches!(
        db.producer().send("nope", Record::value("x")),
        Err(Error::UnknownTopic(_))
    ));
    assert!(
        db.fetch("b", 2, 0, FetchLimits::default()).is_err(),
        "no partition 2"
    );
    db.admin().delete_topic("b").expect("delete");
    assert!(db.admin().describe_topic("b").is_err());
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(report.free_pages() > 0, "deleted topic's pages are free");
}

#[test]
fn record_limits_are_enforced_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    db.admin()
        .create_topic(
            "t",
            1,
            TopicConfig::from_pairs([("max.message.bytes", "1000")]).expect("cfg"),
        )
        .expect("create");
    let err = db
        .producer()
        .send("t", Record::value(vec![0u8; 2000]))
        .expect_err("too big");
    assert!(err.to_string().contains("max.message.bytes"), "{err}");
    // The failed send left nothing behind, and the next one works.
    assert_eq!(
        db.producer()
            .send("t", Record::value("ok"))
            .expect("send")
            .offset,
        0
    );
}

#[test]
fn reader_polls_waits_and_resets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    db.admin()
        .create_topic("t", 2, TopicConfig::default())
        .expect("create");
    let mut reader = db.reader().with_reset(Some(Position::Beginning));
    reader.assign_topic("t", Position::End).expect("assign");
    assert!(
        reader
            .poll(Duration::from_millis(20))
            .expect("poll")
            .is_empty()
    );
    let producer = db.clone();
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        producer
            .producer()
            .send_to("t", 1, Record::value("late"))
            .expect("send");
    });
    let got = reader.poll(Duration::from_secs(10)).expect("poll");
    handle.join().expect("join");
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].partition, got[0].record.offset), (1, 0));
    assert_eq!(reader.position("t", 1), Some(1));
    reader.seek("t", 1, Position::Beginning).expect("seek");
    assert_eq!(reader.poll(Duration::ZERO).expect("poll").len(), 1);
    // A position past the end is reset by the policy.
    reader.seek("t", 0, Position::Offset(99)).expect("seek");
    reader.poll(Duration::ZERO).expect("poll");
    assert_eq!(reader.position("t", 0), Some(0));
}

#[test]
fn concurrent_durable_producers_share_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    db.admin()
        .create_topic("t", 4, TopicConfig::default())
        .expect("create");
    let before = db.engine().sync_count();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let producer = db.producer().with_durability(Durability::Immediate);
                for i in 0..50 {
                    producer
                        .send("t", Record::keyed(format!("k{t}"), format!("{i}")))
                        .expect("send");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    let syncs = db.engine().sync_count() - before;
    let total: u64 = db
        .admin()
        .describe_topic("t")
        .expect("d")
        .partitions
        .iter()
        .map(|p| p.end_offset)
        .sum();
    assert_eq!(total, 400);
    assert!(syncs <= 400, "at most one sync per durable send: {syncs}");
    println!("8 threads x 50 durable sends: {syncs} fsyncs");
    // Per key, offsets follow send order.
    for p in 0..4 {
        let fetched = db
            .fetch(
                "t",
                p,
                0,
                FetchLimits {
                    max_records: 1000,
                    max_bytes: 1 << 20,
                },
            )
            .expect("fetch");
        let mut last: std::collections::HashMap<Vec<u8>, u32> = std::collections::HashMap::new();
        for r in fetched.records {
            let n: u32 = String::from_utf8(r.value.expect("value"))
                .expect("utf8")
                .parse()
                .expect("num");
            if let Some(prev) = last.insert(r.key.expect("key"), n) {
                assert!(n > prev);
            }
        }
    }
}

/// `fetch_batches` lends out the same records `fetch` returns, from any start offset and
/// under any limits, and its bytes are the stored Kafka batches.
#[test]
fn fetch_batches_lends_the_records_fetch_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open_with(
        dir.path().join("log.brooklet"),
        Options::default().page_size(512),
    )
    .expect("open");
    let config = TopicConfig::from_pairs([("segment.bytes", "65536")]).expect("config");
    db.admin().create_topic("t", 1, config).expect("create");
    let mut rng = fastrand::Rng::with_seed(42);
    for round in 0..200u32 {
        let records: Vec<Record> = (0..rng.u32(1..30))
            .map(|i| Record {
                key: (i % 4 != 0).then(|| format!("k{i}").into_bytes()),
                value: (i % 5 != 0)
                    .then(|| vec![u8::try_from(round % 256).expect("byte"); rng.usize(0..200)]),
                headers: (0..rng.usize(0..3))
                    .map(|h| Header {
                        key: format!("h{h}"),
                        value: (h % 2 == 0).then(|| b"v".to_vec()),
                    })
                    .collect(),
                timestamp_ms: rng.bool().then(|| 1_700_000_000_000 + i64::from(round)),
            })
            .collect();
        db.producer()
            .with_durability(Durability::None)
            .send_batch_to("t", 0, records)
            .expect("send");
    }
    let end = db.end_offset("t", 0).expect("end");
    let everything = db
        .fetch(
            "t",
            0,
            0,
            FetchLimits {
                max_records: usize::MAX,
                max_bytes: usize::MAX,
            },
        )
        .expect("fetch all");
    assert_eq!(everything.records.len() as u64, end);
    for _ in 0..50 {
        let start = rng.u64(0..end);
        let limits = FetchLimits {
            max_records: rng.usize(1..400),
            max_bytes: rng.usize(1..20_000),
        };
        let owned = db.fetch("t", 0, start, limits).expect("fetch");
        let borrowed = db
            .fetch_batches("t", 0, start, limits)
            .expect("fetch_batches");
        let lent: Vec<_> = borrowed
            .records()
            .map(|r| r.expect("record").to_owned_record())
            .collect();
        assert!(
            lent == owned.records,
            "from {start} with {limits:?}: {} records lent, {} fetched",
            lent.len(),
            owned.records.len()
        );
        assert_eq!(borrowed.next_offset, owned.next_offset);
        assert_eq!(borrowed.end_offset, end);
        // The bytes are whole Kafka batches.
        let mut bytes = borrowed.bytes();
        while !bytes.is_empty() {
            let batch = brooklet::kafka::decode_batch(bytes).expect("a Kafka batch");
            bytes = &bytes[batch.header.size()..];
        }
    }
    let past = db
        .fetch_batches("t", 0, end, FetchLimits::default())
        .expect("at the end");
    assert!(past.is_empty() && past.records().next().is_none());
}

/// Concurrent sends share commits (one batch per partition per commit); a bad send among
/// them fails alone, and every good send lands once, in its thread's order.
#[test]
fn concurrent_sends_with_bad_ones_among_them_fail_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    let config = TopicConfig::from_pairs([("max.message.bytes", "2000")]).expect("config");
    db.admin().create_topic("t", 2, config).expect("create");
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let producer = db.producer().with_durability(Durability::Immediate);
                let mut good = Vec::new();
                for i in 0..40u32 {
                    let result = match (t + i) % 10 {
                        0 => producer.send("t", Record::keyed("big", vec![0u8; 5000])),
                        1 => producer.send("missing", Record::keyed("k", "v")),
                        _ => producer.send_to(
                            "t",
                            t % 2,
                            Record::keyed(format!("t{t}"), format!("{i}")),
                        ),
                    };
                    match (t + i) % 10 {
                        0 => assert!(
                            matches!(result, Err(Error::RecordTooLarge { max: 2000, .. })),
                            "{result:?}"
                        ),
                        1 => assert!(matches!(result, Err(Error::UnknownTopic(_))), "{result:?}"),
                        _ => good.push((i, result.expect("a good send lands"))),
                    }
                }
                good
            })
        })
        .collect();
    let mut landed = 0;
    for (t, handle) in threads.into_iter().enumerate() {
        let good = handle.join().expect("join");
        landed += good.len();
        // Offsets rise in the thread's send order, and each record is where it was told.
        assert!(good.windows(2).all(|w| w[0].1.offset < w[1].1.offset));
        for (i, meta) in good {
            let fetched = db
                .fetch("t", meta.partition, meta.offset, FetchLimits::default())
                .expect("fetch");
            let record = fetched
                .records
                .iter()
                .find(|r| r.offset == meta.offset)
                .expect("the record is at its offset");
            assert_eq!(record.value.as_deref(), Some(i.to_string().as_bytes()));
            assert_eq!(record.key.as_deref(), Some(format!("t{t}").as_bytes()));
        }
    }
    let total: u64 = db
        .admin()
        .describe_topic("t")
        .expect("describe")
        .partitions
        .iter()
        .map(|p| p.end_offset)
        .sum();
    assert_eq!(total, landed as u64, "only the good sends landed");
    assert!(db.admin().check().expect("check").is_clean());
}

/// A durable one-record send that opens no segment and adds no index entry writes only the
/// commit slot, which holds the record's batch and the partition's state as pending data
/// and entries, then syncs once: two storage operations, counted on the fault-injecting
/// backend. About one send in 20 moves the batches held so far into their segment.
#[test]
fn a_small_durable_send_writes_the_slot_alone_then_syncs_once() {
    use std::sync::Arc;

    use brooklet::storage::{FaultConfig, FaultStorage, Storage};

    let fault = Arc::new(FaultStorage::new(FaultConfig::seeded(3), Vec::new()));
    let storage: Arc<dyn Storage> = fault.clone();
    let db = Brooklet::open_storage(storage, Options::default()).expect("open");
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    let producer = db.producer().with_durability(Durability::Immediate);
    let mut ops_per_send = Vec::new();
    for i in 0..200u32 {
        let before = (fault.op_count(), fault.sync_count());
        producer
            .send_to("t", 0, Record::keyed(format!("key-{i:08}"), vec![7u8; 100]))
            .expect("send");
        assert_eq!(fault.sync_count() - before.1, 1, "send {i}: one sync");
        ops_per_send.push(fault.op_count() - before.0);
    }
    let alone = ops_per_send.iter().filter(|&&ops| ops == 2).count();
    assert!(
        alone >= 170,
        "sends of 2 operations: {alone} of 200 ({ops_per_send:?})"
    );
    let total: u64 = ops_per_send.iter().sum();
    println!("storage operations for 200 durable 1-record sends: {total} ({alone} sends at 2)");
    let reopened = Brooklet::open_storage(
        Arc::new(brooklet::storage::MemStorage::from_bytes(
            fault.durable_image(),
        )),
        Options::default(),
    )
    .expect("reopen");
    let fetched = reopened
        .fetch("t", 0, 0, FetchLimits::default())
        .expect("fetch");
    assert_eq!(fetched.end_offset, 200);
    assert!(reopened.admin().check().expect("check").is_clean());
}
