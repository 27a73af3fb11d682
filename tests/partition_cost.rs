//! A partition costs what it holds: a partition of one small record takes one data page
//! (its segments grow with the bytes it holds, from one page up to `segment.bytes`).

use std::num::NonZeroU32;
use std::path::Path;

use brooklet::{Brooklet, FetchLimits, Record, TopicConfig, kafka};

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

/// One keyed record of `value_len` bytes for each of `partitions` partitions, keys chosen
/// so that Kafka's partitioner sends each to its own partition: one send, one commit.
fn one_record_per_partition(partitions: u32, value_len: usize) -> Vec<Record> {
    let count = NonZeroU32::new(partitions).expect("partitions");
    let mut keys: Vec<Option<Vec<u8>>> = vec![None; partitions as usize];
    let mut missing = partitions;
    let mut n = 0u64;
    while missing > 0 {
        let key = format!("key-{n}").into_bytes();
        let slot = &mut keys[kafka::partition_for_key(&key, count) as usize];
        if slot.is_none() {
            *slot = Some(key);
            missing -= 1;
        }
        n += 1;
    }
    keys.into_iter()
        .map(|key| {
            Record::keyed(
                key.expect("every partition has a key"),
                vec![b'v'; value_len],
            )
        })
        .collect()
}

/// 10,000 partitions of one 100-byte record each: about 44.5 MiB at 4 KiB pages (one data
/// page per partition, 39 MiB, the shared B-tree leaves and the file's growth step),
/// against 630 MiB when every partition's first segment took 64 KiB. Bound: 5 KiB per
/// partition.
#[test]
fn ten_thousand_partitions_of_one_record_each_cost_about_a_page_each() {
    const PARTITIONS: u32 = 10_000;
    const BOUND_BYTES: u64 = PARTITIONS as u64 * 5120;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.brooklet");
    let db = Brooklet::open(&path).expect("open");
    db.create_topic("many", PARTITIONS, TopicConfig::default())
        .expect("create");
    let sent = db
        .send_batch("many", one_record_per_partition(PARTITIONS, 100))
        .expect("send");
    assert!(sent.iter().all(|m| m.offset == 0), "one record each");
    let produced = file_len(&path);
    println!("{PARTITIONS} partitions: {produced} bytes after producing");
    assert!(produced <= BOUND_BYTES, "{produced} bytes");
    for partition in [0, 1, PARTITIONS / 2, PARTITIONS - 1] {
        let segments = db.segments("many", partition).expect("segments");
        assert_eq!(segments.len(), 1, "{segments:?}");
        assert_eq!(segments[0].2, 1, "one page: {segments:?}");
    }
    let report = db.vacuum().expect("vacuum");
    let vacuumed = file_len(&path);
    println!("after vacuum: {vacuumed} bytes ({report:?})");
    assert!(vacuumed <= produced, "{report:?}");
    assert!(db.check().expect("check").is_clean());
    let fetched = db
        .fetch("many", PARTITIONS - 1, 0, FetchLimits::default())
        .expect("fetch");
    assert_eq!(fetched.records.len(), 1);
    assert_eq!(fetched.records[0].value.as_deref(), Some(&[b'v'; 100][..]));
}
