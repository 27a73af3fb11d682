//! Compaction that runs by itself: a produce commit that closes a segment of a compacted
//! topic compacts the partition's newest segments when more than
//! `min.cleanable.dirty.ratio` of their bytes would go. No test here calls `compact` or
//! `maintain`; every figure is a count of records, segments or bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use brooklet::storage::MemStorage;
use brooklet::{
    Brooklet, FetchLimits, Isolation, Options, PartitionInfo, Record, TopicConfig,
    TransactionOptions,
};

/// The case from issue 16: a compacted topic of 50 keys updated 12k times.
const KEYS: u32 = 50;
const SENDS: u32 = 12_000;
const SEGMENT_BYTES: u64 = 65_536;

fn memory_db() -> Brooklet {
    let options = Options::default().page_size(512).maintain_on_open(false);
    Brooklet::open_storage(Arc::new(MemStorage::new()), options).expect("open")
}

fn compact_config(extra: &[(&str, &str)]) -> TopicConfig {
    let mut config =
        TopicConfig::from_pairs([("cleanup.policy", "compact"), ("segment.bytes", "65536")])
            .expect("config");
    config.set_pairs(extra.iter().copied()).expect("config");
    config
}

/// Sends rounds `rounds` to `topic`, one record per send (each its own commit), round `n`
/// to key `n % keys`.
fn produce(db: &Brooklet, topic: &str, keys: u32, rounds: std::ops::Range<u32>) {
    let producer = db.producer();
    for round in rounds {
        let key = format!("key-{}", round % keys).into_bytes();
        let value = format!("value of round {round:06}, ")
            .repeat(3)
            .into_bytes();
        producer
            .send(topic, Record::new(Some(key), value))
            .expect("send");
    }
}

/// Every record stored in partition 0 of `topic`, those of open and aborted transactions
/// too: `(offset, key, value)`.
fn stored(db: &Brooklet, topic: &str) -> Vec<(u64, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = db.beginning_offset(topic, 0).expect("beginning");
    let end = db.end_offset(topic, 0).expect("end");
    while offset < end {
        let fetched = db
            .fetch_with(
                topic,
                0,
                offset,
                FetchLimits::default(),
                Isolation::ReadUncommitted,
            )
            .expect("fetch");
        assert!(fetched.next_offset > offset, "fetch at {offset} moved on");
        for record in fetched.records.into_iter().filter(|r| r.offset >= offset) {
            let key = record.key.clone().expect("keyed");
            out.push((record.offset, key, record.value.clone().expect("a value")));
        }
        offset = fetched.next_offset;
    }
    out
}

fn partition(db: &Brooklet, topic: &str) -> PartitionInfo {
    db.admin()
        .describe_topic(topic)
        .expect("describe")
        .partitions[0]
        .clone()
}

/// The base offset of partition 0's active (last) segment.
fn active_base(db: &Brooklet, topic: &str) -> u64 {
    let segments = db.admin().segments(topic, 0).expect("segments");
    segments.last().expect("a segment").base_offset
}

/// What `describe` says is stored is what the segments hold.
#[track_caller]
fn assert_described_bytes_are_stored(db: &Brooklet, topic: &str) {
    let described = partition(db, topic);
    let segments = db.admin().segments(topic, 0).expect("segments");
    let held: u64 = segments.iter().map(|s| u64::from(s.bytes_used)).sum();
    assert_eq!(described.bytes, held, "{topic}: {described:?}");
    assert_eq!(described.segments as usize, segments.len(), "{topic}");
}

#[test]
fn a_compacted_topic_of_50_keys_stays_small_without_compact_or_maintain() {
    let db = memory_db();
    let admin = db.admin();
    admin
        .create_topic("auto", 1, compact_config(&[]))
        .expect("create");
    let never = compact_config(&[("min.cleanable.dirty.ratio", "1")]);
    admin.create_topic("never", 1, never).expect("create");
    produce(&db, "auto", KEYS, 0..SENDS);
    produce(&db, "never", KEYS, 0..SENDS);

    // Ratio 1 never cleans by itself (Kafka's test is `ratio > min`): every record stays.
    let never = partition(&db, "never");
    assert_eq!(stored(&db, "never").len(), SENDS as usize);
    assert!(never.segments > 20, "{never:?}");

    // The default ratio: before the active segment, at most one record per key is left.
    let auto = partition(&db, "auto");
    let records = stored(&db, "auto");
    let active = active_base(&db, "auto");
    let closed = records
        .iter()
        .filter(|(offset, ..)| *offset < active)
        .count();
    assert!(closed <= KEYS as usize, "{closed} records before {active}");
    assert!(auto.segments <= 2, "{auto:?}");
    assert!(auto.bytes <= 2 * SEGMENT_BYTES, "{auto:?}");
    assert!(auto.bytes * 10 < never.bytes, "{auto:?} vs {never:?}");
    eprintln!(
        "50 keys, {SENDS} sends: {} bytes in {} segments without the step, {} bytes in {} \
         with it ({} records)",
        never.bytes,
        never.segments,
        auto.bytes,
        auto.segments,
        records.len()
    );

    // Every key's latest value is still there, at the offset it was given.
    let mut latest: BTreeMap<Vec<u8>, (u64, Vec<u8>)> = BTreeMap::new();
    for (offset, key, value) in stored(&db, "never") {
        latest.insert(key, (offset, value));
    }
    let mut kept: BTreeMap<Vec<u8>, (u64, Vec<u8>)> = BTreeMap::new();
    for (offset, key, value) in records {
        kept.insert(key, (offset, value));
    }
    assert_eq!(kept, latest);
    assert_eq!(auto.end_offset, u64::from(SENDS));
    assert_described_bytes_are_stored(&db, "auto");
    assert_described_bytes_are_stored(&db, "never");
    assert!(admin.check().expect("check").is_clean());
}

#[test]
fn a_compaction_lag_holds_segments_back_until_it_is_lifted() {
    let db = memory_db();
    let lagged = compact_config(&[("min.compaction.lag.ms", "3600000")]);
    db.admin().create_topic("t", 1, lagged).expect("create");
    produce(&db, "t", KEYS, 0..3000);
    // Every segment is younger than an hour: none is cleaned.
    assert_eq!(stored(&db, "t").len(), 3000);
    let held = partition(&db, "t");
    assert!(held.segments > 4, "{held:?}");

    // With the lag lifted, each commit that closes a segment cleans up to four segments'
    // worth, newest first, so a few more segments clean the whole partition.
    db.admin()
        .alter_topic_config("t", &[("min.compaction.lag.ms", "0")])
        .expect("alter");
    produce(&db, "t", KEYS, 3000..6000);
    let active = active_base(&db, "t");
    let records = stored(&db, "t");
    let closed = records
        .iter()
        .filter(|(offset, ..)| *offset < active)
        .count();
    assert!(closed <= KEYS as usize, "{closed} records before {active}");
    assert_described_bytes_are_stored(&db, "t");
    assert!(db.admin().check().expect("check").is_clean());
}

#[test]
fn segments_with_nothing_to_remove_are_left_alone_even_at_ratio_0() {
    let db = memory_db();
    let config = compact_config(&[("min.cleanable.dirty.ratio", "0")]);
    db.admin()
        .create_topic("unique", 1, config)
        .expect("create");
    // Every key once: nothing is superseded, so no step rewrites anything.
    produce(&db, "unique", u32::MAX, 0..3000);
    let described = partition(&db, "unique");
    assert_eq!(stored(&db, "unique").len(), 3000);
    assert!(described.segments > 4, "{described:?}");
    assert_described_bytes_are_stored(&db, "unique");
}

#[test]
fn the_ratio_is_a_topic_config_that_refuses_values_outside_0_to_1() {
    let db = memory_db();
    let admin = db.admin();
    admin
        .create_topic("t", 1, compact_config(&[]))
        .expect("create");
    for bad in ["1.5", "-0.5", "NaN", "inf", "half"] {
        let err = admin
            .alter_topic_config("t", &[("min.cleanable.dirty.ratio", bad)])
            .expect_err(bad);
        let message = err.to_string();
        assert!(
            message.contains("min.cleanable.dirty.ratio must be a number from 0 to 1"),
            "{message}"
        );
    }
    let config = admin
        .alter_topic_config("t", &[("min.cleanable.dirty.ratio", "0.75")])
        .expect("alter");
    assert_eq!(config.to_pairs()["min.cleanable.dirty.ratio"], "0.75");
    let described = admin.describe_topic("t").expect("describe");
    assert!((described.config.min_cleanable_dirty_ratio - 0.75).abs() < f64::EPSILON);
}

#[test]
fn an_open_transaction_holds_compaction_back_and_an_aborted_one_is_cleaned_away() {
    let db = memory_db();
    db.admin()
        .create_topic("t", 1, compact_config(&[]))
        .expect("create");
    let options = TransactionOptions {
        buffer_bytes: 1000,
        ..TransactionOptions::default()
    };
    let mut producer = db
        .transactional_producer_with("tx", options)
        .expect("producer");
    let mut txn = producer.begin().expect("begin");
    for n in 0..200 {
        let key = format!("key-{}", n % KEYS);
        txn.send_to("t", 0, Record::keyed(key, "in the transaction"))
            .expect("send");
    }
    // Stored ahead of its commit at offset 0: the last stable offset stays there, so no
    // segment is cleanable while the transaction is open.
    assert_eq!(db.last_stable_offset("t", 0).expect("lso"), 0);
    produce(&db, "t", KEYS, 0..3000);
    assert!(partition(&db, "t").segments > 4);
    // All 3000 plain records are still there (and what the transaction stored ahead; the
    // rest of it is still in its buffer).
    let records = stored(&db, "t");
    let open = records
        .iter()
        .filter(|(.., value)| value == b"in the transaction")
        .count();
    assert!(open > 100, "{open} stored ahead");
    assert_eq!(records.len() - open, 3000, "nothing cleaned past the LSO");

    // Aborted: its batches are dropped as the steps reach them, and the rest is compacted.
    txn.abort().expect("abort");
    produce(&db, "t", KEYS, 3000..9000);
    let records = stored(&db, "t");
    assert!(
        records
            .iter()
            .all(|(.., value)| value != b"in the transaction"),
        "aborted records are gone"
    );
    let active = active_base(&db, "t");
    let closed = records
        .iter()
        .filter(|(offset, ..)| *offset < active)
        .count();
    assert!(closed <= KEYS as usize, "{closed} records before {active}");
    assert_described_bytes_are_stored(&db, "t");
    assert!(db.admin().check().expect("check").is_clean());
}
