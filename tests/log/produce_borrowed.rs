//! Borrowed sends (`BorrowedRecord`, `Producer::send_batch_borrowed` and its kin): they
//! store byte for byte what owned sends of the same records store, and fail the same way.

use std::num::NonZeroU32;

use brooklet::kafka::partition_for_key;
use brooklet::{
    BorrowedHeader, BorrowedRecord, Brooklet, Durability, Error, FetchLimits, Header, Record,
    TimestampType, TopicConfig,
};

fn open() -> (tempfile::TempDir, Brooklet) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("t.brooklet")).expect("open");
    (dir, db)
}

/// Owned records covering null and empty keys and values, headers with duplicate keys and
/// null values, and fixed timestamps (one of them earlier than the first).
fn owned_records() -> Vec<Record> {
    vec![
        Record::keyed("k1", "v1").with_timestamp(1_000),
        Record::value("no key").with_timestamp(1_005),
        Record::keyed("", "").with_timestamp(999),
        Record::tombstone("gone").with_timestamp(1_010),
        Record::default().with_timestamp(1_000),
        Record::keyed("h", "with headers")
            .with_header("dup", Some(b"first".to_vec()))
            .with_header("null", None)
            .with_header("dup", Some(b"second".to_vec()))
            .with_header("", Some(Vec::new()))
            .with_timestamp(1_020),
    ]
}

/// The owned records' headers as borrowed headers, one vector per record.
fn borrowed_headers(records: &[Record]) -> Vec<Vec<BorrowedHeader<'_>>> {
    records
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .map(|h: &Header| BorrowedHeader {
                    key: &h.key,
                    value: h.value.as_deref(),
                })
                .collect()
        })
        .collect()
}

fn borrow<'a>(
    records: &'a [Record],
    headers: &'a [Vec<BorrowedHeader<'a>>],
) -> Vec<BorrowedRecord<'a>> {
    records
        .iter()
        .zip(headers)
        .map(|(r, h)| BorrowedRecord {
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: h,
            timestamp_ms: r.timestamp_ms,
        })
        .collect()
}

fn stored_bytes(db: &Brooklet, topic: &str, partition: u32) -> Vec<u8> {
    db.fetch_batches(topic, partition, 0, FetchLimits::default())
        .expect("fetch batches")
        .bytes()
        .to_vec()
}

#[test]
fn borrowed_and_owned_sends_store_identical_batches() {
    let (_dir, db) = open();
    for topic in ["owned", "borrowed"] {
        db.admin()
            .create_topic(topic, 1, TopicConfig::default())
            .expect("create");
    }
    let producer = db.producer().with_durability(Durability::None);
    let owned = owned_records();
    let headers = borrowed_headers(&owned);
    let borrowed = borrow(&owned, &headers);

    let a = producer
        .send_batch_to("owned", 0, owned.clone())
        .expect("owned batch");
    let b = producer
        .send_batch_borrowed_to("borrowed", 0, &borrowed)
        .expect("borrowed batch");
    assert_eq!(a, b, "same metadata");
    // Single sends too.
    let a = producer
        .send_to("owned", 0, owned[5].clone())
        .expect("owned send");
    let b = producer
        .send_borrowed_to("borrowed", 0, &borrowed[5])
        .expect("borrowed send");
    assert_eq!(a, b);
    let bytes = stored_bytes(&db, "owned", 0);
    assert!(bytes.len() > 61 * 2, "two batches stored");
    assert_eq!(
        bytes,
        stored_bytes(&db, "borrowed", 0),
        "byte-identical batches"
    );

    // Read back: null and empty keys and values, and headers, kept apart and in order.
    let fetched = db
        .fetch("borrowed", 0, 0, FetchLimits::default())
        .expect("fetch");
    assert_eq!(fetched.records.len(), 7);
    for (stored, sent) in fetched.records.iter().zip(owned.iter().chain([&owned[5]])) {
        assert_eq!(stored.key, sent.key);
        assert_eq!(stored.value, sent.value);
        assert_eq!(stored.headers, sent.headers);
        assert_eq!(Some(stored.timestamp_ms), sent.timestamp_ms);
    }
}

#[test]
fn keyed_borrowed_records_go_to_their_keys_partitions_like_owned_ones() {
    let (_dir, db) = open();
    db.admin()
        .create_topic("t", 4, TopicConfig::default())
        .expect("create");
    let keys: Vec<String> = (0..40).map(|i| format!("key-{i}")).collect();
    let records: Vec<BorrowedRecord<'_>> = keys
        .iter()
        .map(|k| BorrowedRecord::keyed(k.as_bytes(), b"v"))
        .collect();
    let metas = db
        .producer()
        .send_batch_borrowed("t", &records)
        .expect("send");
    let count = NonZeroU32::new(4).expect("4");
    for (meta, key) in metas.iter().zip(&keys) {
        assert_eq!(meta.partition, partition_for_key(key.as_bytes(), count));
    }
    let owned = db
        .producer()
        .send_batch(
            "t",
            keys.iter()
                .map(|k| Record::keyed(k.as_str(), "v"))
                .collect(),
        )
        .expect("owned send");
    let parts = |m: &[brooklet::RecordMetadata]| m.iter().map(|m| m.partition).collect::<Vec<_>>();
    assert_eq!(parts(&metas), parts(&owned));
}

#[test]
fn too_large_borrowed_records_fail_with_nothing_stored() {
    let (_dir, db) = open();
    let config = TopicConfig {
        max_message_bytes: 1000,
        ..TopicConfig::default()
    };
    db.admin().create_topic("t", 1, config).expect("create");
    let producer = db.producer();
    let big = vec![7u8; 2000];
    let records = [BorrowedRecord::value(b"fits"), BorrowedRecord::value(&big)];
    let err = producer
        .send_batch_borrowed_to("t", 0, &records)
        .expect_err("over max.message.bytes");
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err:?}");
    // Over what any batch can hold: refused before it is queued.
    let huge = vec![0u8; brooklet::kafka::MAX_RECORD_SIZE + 1];
    let err = producer
        .send_borrowed_to("t", 0, &BorrowedRecord::keyed(b"k", &huge))
        .expect_err("over MAX_RECORD_SIZE");
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err:?}");
    let end = db.admin().describe_topic("t").expect("describe").partitions[0].end_offset;
    assert_eq!(end, 0, "nothing stored");
    // The handle still works, and the small record alone goes in.
    producer
        .send_borrowed_to("t", 0, &records[0])
        .expect("a record that fits");
}

#[test]
fn routed_borrowed_sends_place_each_record_all_or_none() {
    let (_dir, db) = open();
    db.admin()
        .create_topic("t", 3, TopicConfig::default())
        .expect("create");
    let producer = db.producer();
    let key = (0..100)
        .map(|i| format!("k{i}"))
        .find(|k| partition_for_key(k.as_bytes(), NonZeroU32::new(3).expect("3")) == 2)
        .expect("some key goes to partition 2");
    let metas = producer
        .send_batch_borrowed_routed(
            "t",
            &[
                (Some(0), BorrowedRecord::value(b"a")),
                (Some(1), BorrowedRecord::value(b"b")),
                (None, BorrowedRecord::keyed(key.as_bytes(), b"c")),
                (Some(0), BorrowedRecord::value(b"d")),
            ],
        )
        .expect("send");
    let placed: Vec<(u32, u64)> = metas.iter().map(|m| (m.partition, m.offset)).collect();
    assert_eq!(placed, [(0, 0), (1, 0), (2, 0), (0, 1)]);
    let values: Vec<Option<Vec<u8>>> = db
        .fetch("t", 0, 0, FetchLimits::default())
        .expect("fetch")
        .records
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(values, [Some(b"a".to_vec()), Some(b"d".to_vec())]);
    let err = producer
        .send_batch_borrowed_routed(
            "t",
            &[
                (Some(2), BorrowedRecord::value(b"x")),
                (Some(3), BorrowedRecord::value(b"y")),
            ],
        )
        .expect_err("partition 3 does not exist");
    assert!(!matches!(err, Error::Io(_)), "{err:?}");
    let ends: Vec<u64> = db
        .admin()
        .describe_topic("t")
        .expect("describe")
        .partitions
        .iter()
        .map(|p| p.end_offset)
        .collect();
    assert_eq!(ends, [2, 1, 1], "nothing of the failed batch stored");
}

#[test]
fn log_append_time_and_compaction_rules_hold_for_borrowed_sends() {
    let (_dir, db) = open();
    let config = TopicConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..TopicConfig::default()
    };
    db.admin()
        .create_topic("appended", 1, config)
        .expect("create");
    let records = [
        BorrowedRecord::value(b"a").with_timestamp(5),
        BorrowedRecord::value(b"b"),
    ];
    let metas = db
        .producer()
        .send_batch_borrowed("appended", &records)
        .expect("send");
    let fetched = db
        .fetch("appended", 0, 0, FetchLimits::default())
        .expect("fetch");
    for (meta, stored) in metas.iter().zip(&fetched.records) {
        assert_eq!(
            meta.timestamp_ms, stored.timestamp_ms,
            "append time reported"
        );
        assert!(meta.timestamp_ms > 5);
    }

    let compacted = TopicConfig {
        cleanup_policy: brooklet::CleanupPolicy::Compact,
        ..TopicConfig::default()
    };
    db.admin().create_topic("c", 1, compacted).expect("create");
    let err = db
        .producer()
        .send_batch_borrowed(
            "c",
            &[
                BorrowedRecord::keyed(b"k", b"v"),
                BorrowedRecord::value(b"x"),
            ],
        )
        .expect_err("keyless record on a compacted topic");
    assert!(err.to_string().contains("needs a key"), "{err}");
}

#[test]
fn concurrent_borrowed_and_owned_sends_to_one_partition_keep_each_senders_order() {
    let (_dir, db) = open();
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    std::thread::scope(|scope| {
        for thread in 0..4u8 {
            let producer = db.producer().with_durability(Durability::Immediate);
            scope.spawn(move || {
                for send in 0..30u8 {
                    let values: Vec<[u8; 3]> = (0..5u8).map(|i| [thread, send, i]).collect();
                    if thread % 2 == 0 {
                        let records: Vec<BorrowedRecord<'_>> =
                            values.iter().map(|v| BorrowedRecord::value(v)).collect();
                        producer.send_batch_borrowed_to("t", 0, &records)
                    } else {
                        let records = values.iter().map(|v| Record::value(v.to_vec())).collect();
                        producer.send_batch_to("t", 0, records)
                    }
                    .expect("send");
                }
            });
        }
    });
    let all = FetchLimits {
        max_records: 10_000,
        max_bytes: 4 << 20,
    };
    let fetched = db.fetch("t", 0, 0, all).expect("fetch");
    assert_eq!(fetched.records.len(), 4 * 30 * 5);
    for thread in 0..4u8 {
        let mine: Vec<Vec<u8>> = fetched
            .records
            .iter()
            .filter_map(|r| r.value.clone())
            .filter(|v| v[0] == thread)
            .collect();
        let expected: Vec<Vec<u8>> = (0..30u8)
            .flat_map(|s| (0..5u8).map(move |i| vec![thread, s, i]))
            .collect();
        assert_eq!(mine, expected, "thread {thread}'s records in order");
    }
}
