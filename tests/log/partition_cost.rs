//! A partition costs what it holds: a partition of one small record takes one data page
//! (its segments grow with the bytes it holds, from one page up to `segment.bytes`), and
//! `vacuum` gives back the room preallocated for appends that no partition uses, the
//! unused tail of active segments included. Appends after that go on as before.

use std::num::NonZeroU32;
use std::path::Path;

use brooklet::{Brooklet, FetchLimits, Options, Record, SegmentInfo, TopicConfig, kafka};

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
    db.admin()
        .create_topic("many", PARTITIONS, TopicConfig::default())
        .expect("create");
    let sent = db
        .producer()
        .send_batch("many", one_record_per_partition(PARTITIONS, 100))
        .expect("send");
    assert!(sent.iter().all(|m| m.offset == 0), "one record each");
    let produced = file_len(&path);
    println!("{PARTITIONS} partitions: {produced} bytes after producing");
    assert!(produced <= BOUND_BYTES, "{produced} bytes");
    for partition in [0, 1, PARTITIONS / 2, PARTITIONS - 1] {
        let segments = db.admin().segments("many", partition).expect("segments");
        assert_eq!(segments.len(), 1, "{segments:?}");
        assert_eq!(segments[0].page_count, 1, "one page: {segments:?}");
    }
    let report = db.admin().vacuum().expect("vacuum");
    let vacuumed = file_len(&path);
    println!("after vacuum: {vacuumed} bytes ({report:?})");
    assert!(vacuumed <= produced, "{report:?}");
    assert!(db.admin().check().expect("check").is_clean());
    let fetched = db
        .fetch("many", PARTITIONS - 1, 0, FetchLimits::default())
        .expect("fetch");
    assert_eq!(fetched.records.len(), 1);
    assert_eq!(fetched.records[0].value.as_deref(), Some(&[b'v'; 100][..]));
}

/// A partition that has just opened a large segment (about as large as it holds) and
/// wrote one batch of two pages into it: vacuum frees the segment's unused pages, the file
/// shrinks by them, and appends go on (into the rest of the last page, then into new
/// segments), with every record readable before and after reopening.
#[test]
fn vacuum_gives_back_the_unused_capacity_of_active_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.brooklet");
    let options = Options::default().maintain_on_open(false);
    let db = Brooklet::open_with(&path, options.clone()).expect("open");
    db.admin()
        .create_topic("big", 1, TopicConfig::default())
        .expect("create");
    let bulk: Vec<Record> = (0..1000)
        .map(|i| Record::value(format!("bulk {i:04} {}", "x".repeat(1000)).into_bytes()))
        .collect();
    db.producer().send_batch("big", bulk).expect("send");
    // Larger than a page, so larger than the room left in the first segment's last page.
    let opening = vec![b'o'; 4100];
    db.producer()
        .send("big", Record::value(opening.clone()))
        .expect("send");
    let before = db.admin().segments("big", 0).expect("segments");
    let &SegmentInfo {
        base_offset: active_base,
        page_count: preallocated,
        ..
    } = before.last().expect("segments");
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(preallocated >= 200, "as large as the first: {before:?}");

    let report = db.admin().vacuum().expect("vacuum");
    let after = db.admin().segments("big", 0).expect("segments");
    assert_eq!(after.len(), 2);
    assert_eq!(after[1].base_offset, active_base);
    assert_eq!(
        after[1].page_count, 2,
        "the active segment keeps its used pages: {after:?}"
    );
    let given_back = u64::from(preallocated - 2);
    assert!(report.pages_trimmed >= given_back, "{report:?}");
    assert!(
        report.bytes_before - report.bytes_after >= given_back * 4096,
        "{report:?}"
    );
    assert!(db.admin().check().expect("check").is_clean());

    // Appends go on: into the rest of the last page, then into new segments.
    for i in 0..200 {
        db.producer()
            .send("big", Record::value(format!("after {i}").into_bytes()))
            .expect("send");
    }
    let grown = db.admin().segments("big", 0).expect("segments");
    assert!(grown.len() > 2, "{grown:?}");
    assert!(db.admin().check().expect("check").is_clean());
    drop(db);
    let db = Brooklet::open_with(&path, options).expect("reopen");
    let mut values = Vec::new();
    let mut next = 0;
    while next < 1201 {
        let fetched = db
            .fetch("big", 0, next, FetchLimits::default())
            .expect("fetch");
        next = fetched.next_offset;
        values.extend(fetched.records.into_iter().map(|r| r.value.expect("value")));
    }
    assert_eq!(values.len(), 1201);
    assert!(values[999].starts_with(b"bulk 0999 "));
    assert_eq!(values[1000], opening);
    assert_eq!(values[1200], b"after 199");
}
