//! Files whose checksums are all valid but whose values brooklet never writes: tree values
//! rewritten through the engine's write transactions (which checksum what they write), and
//! stored batches edited with their CRC-32C recomputed. Every operation returns a typed
//! corruption error, never a panic and never an allocation sized by a damaged length (a
//! capped global allocator aborts the test on one), and `check` reports each such file.
//!
//! Each test names what brooklet did with such a file before: panics in `send`,
//! `send_batch`, `vacuum`, `describe_group` and topic administration, a 4 GiB allocation in
//! `check`, and files `check` called clean that readers then refused.

use std::sync::Arc;

use crate::ALLOCATOR;
use brooklet::storage::{MemStorage, Storage};
use brooklet::{
    Brooklet, ConsumerOptions, CorruptionKind, Durability, Error, FetchLimits, Options, Record,
    SegmentInfo, TopicConfig,
};

const PAGE_SIZE: u32 = 512;
/// Topic `t`, the first topic of every file here, has id 1.
const TOPIC_ID: u32 = 1;

fn options() -> Options {
    Options::default()
        .page_size(PAGE_SIZE)
        .maintain_on_open(false)
}

/// A file in memory with topic `t` (one partition) holding `count` records in one batch.
fn file_with_records(count: usize) -> (Arc<MemStorage>, Brooklet) {
    ALLOCATOR
        .set_limit(1 << 30)
        .expect("cap allocations at 1 GiB");
    let storage = Arc::new(MemStorage::new());
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    let db = Brooklet::open_storage(dyn_storage, options()).expect("open");
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    if count > 0 {
        let records = (0..count)
            .map(|i| Record::value(format!("record {i}")))
            .collect();
        db.producer().send_batch("t", records).expect("send");
    }
    (storage, db)
}

/// Rewrites one tree value through the engine; the commit checksums it like any other.
fn overwrite(db: &Brooklet, tree: &str, key: &[u8], value: &[u8]) {
    let mut txn = db.engine().begin_write().expect("begin write");
    txn.insert(tree, key, value).expect("insert");
    txn.commit(Durability::Immediate).expect("commit");
}

fn read_value(db: &Brooklet, tree: &str, key: &[u8]) -> Vec<u8> {
    let read = db.engine().begin_read().expect("begin read");
    read.get(tree, key).expect("get").expect("the key exists")
}

/// Key of a per-partition entry (segment, index entry) of topic `t`, partition 0.
fn offset_key(offset: u64) -> Vec<u8> {
    let mut key = TOPIC_ID.to_be_bytes().to_vec();
    key.extend_from_slice(&0u32.to_be_bytes());
    key.extend_from_slice(&offset.to_be_bytes());
    key
}

/// Key of the state of topic `t`, partition 0.
fn partition_key() -> Vec<u8> {
    offset_key(0)[..8].to_vec()
}

/// A segment entry: first page, page count, bytes used, last offset, largest timestamp.
#[derive(Clone, Copy, Debug)]
struct Segment {
    first_page: u32,
    page_count: u32,
    bytes_used: u32,
    offset_last: u64,
    timestamp_max: i64,
}

impl Segment {
    fn read(db: &Brooklet) -> Self {
        let v = read_value(db, "log.segments", &offset_key(0));
        let u32_at = |i: usize| u32::from_le_bytes(v[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(v[i..i + 8].try_into().expect("8 bytes"));
        Self {
            first_page: u32_at(0),
            page_count: u32_at(4),
            bytes_used: u32_at(8),
            offset_last: u64_at(12),
            timestamp_max: u64_at(20).cast_signed(),
        }
    }

    fn write(self, db: &Brooklet) {
        let mut v = Vec::new();
        v.extend_from_slice(&self.first_page.to_le_bytes());
        v.extend_from_slice(&self.page_count.to_le_bytes());
        v.extend_from_slice(&self.bytes_used.to_le_bytes());
        v.extend_from_slice(&self.offset_last.to_le_bytes());
        v.extend_from_slice(&self.timestamp_max.to_le_bytes());
        overwrite(db, "log.segments", &offset_key(0), &v);
    }
}

/// The committed page count.
fn page_count(db: &Brooklet) -> u32 {
    db.engine().check().expect("engine check").page_count
}

#[track_caller]
fn assert_corrupt<T: std::fmt::Debug>(result: brooklet::Result<T>) -> CorruptionKind {
    match result {
        Err(Error::Corrupt { kind, .. }) => kind,
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

/// `check` reports a problem whose message contains `needle`.
#[track_caller]
fn assert_check_reports(db: &Brooklet, needle: &str) {
    let report = db.admin().check().expect("check runs");
    assert!(
        report.problems.iter().any(|p| p.message.contains(needle)),
        "check should report {needle:?}; it found {:#?}",
        report.problems
    );
}

/// A segment whose extent runs past the end of the file: sends used to reach the pager's
/// assertion that data writes stay below the page count.
fn segment_past_the_end() -> Brooklet {
    let (_, db) = file_with_records(3);
    let mut seg = Segment::read(&db);
    seg.first_page = page_count(&db) - 1;
    seg.page_count = 64;
    seg.bytes_used = 10 * PAGE_SIZE;
    seg.write(&db);
    db
}

#[test]
fn send_to_a_segment_extent_past_the_end_of_the_file_is_corruption() {
    let db = segment_past_the_end();
    assert_corrupt(db.producer().send("t", Record::value("x")));
    assert_check_reports(&db, "segment extent lies outside the file");
}

#[test]
fn send_batch_to_a_segment_extent_past_the_end_of_the_file_is_corruption() {
    let db = segment_past_the_end();
    let records = vec![Record::value("x"), Record::value("y")];
    assert_corrupt(db.producer().send_batch("t", records));
    assert_corrupt(db.fetch("t", 0, 0, FetchLimits::default()));
}

/// A segment that names pages it does not own (here the topic's own B-tree pages are
/// somewhere below): appends would have written into them. They are refused, and the file
/// is unchanged.
#[test]
fn send_to_a_segment_that_is_not_its_data_extent_is_refused_and_writes_nothing() {
    let (storage, db) = file_with_records(3);
    let mut seg = Segment::read(&db);
    seg.first_page = 2;
    seg.page_count = 1;
    seg.bytes_used = 100;
    seg.write(&db);
    let before = storage.to_bytes();
    assert_corrupt(db.producer().send("t", Record::value("x")));
    assert!(
        storage.to_bytes() == before,
        "a refused send writes nothing"
    );
    assert_check_reports(&db, "not a data extent");
}

/// A segment page count near `u32::MAX`: vacuum used to panic computing where the
/// segment ends.
#[test]
fn vacuum_with_a_segment_page_count_near_u32_max_is_corruption() {
    let (_, db) = file_with_records(3);
    // Free pages, so that vacuum has something to move.
    db.admin()
        .create_topic("scratch", 1, TopicConfig::default())
        .expect("create");
    db.producer()
        .send("scratch", Record::value(vec![b'x'; 50_000]))
        .expect("send");
    db.admin().delete_topic("scratch").expect("delete");
    let mut seg = Segment::read(&db);
    seg.page_count = u32::MAX - 1;
    seg.write(&db);
    assert_corrupt(db.admin().vacuum());
    assert_check_reports(&db, "segment extent lies outside the file");
}

/// A `group.members` key shorter than 12 bytes, inside the group's key range:
/// `describe_group` used to slice it without a length check.
#[test]
fn describe_group_with_a_short_member_key_is_corruption() {
    let (_, db) = file_with_records(1);
    let group = 1u32.to_be_bytes();
    overwrite(&db, "log.meta", b"next-group-id", &2u32.to_le_bytes());
    overwrite(&db, "group.groups", &group, b"g");
    // Generation 0, range assignor, no owners.
    overwrite(&db, "group.state", &group, &[0; 13]);
    let mut member = Vec::new();
    member.extend_from_slice(&[0; 28]);
    member.extend_from_slice(&0u16.to_le_bytes());
    let mut short_key = group.to_vec();
    short_key.push(5);
    overwrite(&db, "group.members", &short_key, &member);
    let kind = assert_corrupt(db.admin().describe_group("g"));
    assert!(kind.to_string().contains("group.members"), "{kind}");
    assert_check_reports(&db, "member key is not 12 bytes");
}

/// A `group.kafka` record (Kafka clients of a group that `brooklet serve` coordinates)
/// whose member claims 2^32 - 1 partitions in a value that holds none: readers must refuse
/// it without allocating for the count, and `check` must report it.
#[test]
fn a_kafka_group_record_with_a_huge_partition_count_is_corruption() {
    let (_, db) = file_with_records(1);
    let group = 1u32.to_be_bytes();
    overwrite(&db, "log.meta", b"next-group-id", &2u32.to_le_bytes());
    overwrite(&db, "group.groups", &group, b"g");
    overwrite(&db, "group.state", &group, &[0; 13]);
    let mut record = Vec::new();
    record.extend_from_slice(&7u64.to_le_bytes()); // server
    record.extend_from_slice(&0u64.to_le_bytes()); // updated_ms
    record.extend_from_slice(&1u32.to_le_bytes()); // pid
    record.extend_from_slice(&1i32.to_le_bytes()); // generation
    record.extend_from_slice(&1u16.to_le_bytes()); // member_count
    for s in ["consumer", "range", "m-1", "", "client", "/127.0.0.1"] {
        record.extend_from_slice(&u16::try_from(s.len()).expect("short").to_le_bytes());
        record.extend_from_slice(s.as_bytes());
    }
    record.extend_from_slice(&u32::MAX.to_le_bytes()); // partition count
    overwrite(&db, "group.kafka", &group, &record);
    let kind = assert_corrupt(db.admin().describe_group("g"));
    assert!(kind.to_string().contains("group.kafka"), "{kind}");
    let options = ConsumerOptions {
        auto_commit_interval: None,
        ..ConsumerOptions::default()
    };
    assert_corrupt(db.consumer("g", &["t"], options));
    assert_corrupt(db.admin().delete_group("g"));
    assert_check_reports(&db, "partition count exceeds the value");
}

/// A catalog version at `u64::MAX`: creating, altering or deleting a topic used to
/// overflow it (a panic where overflow checks are on, a wrap to 0 elsewhere).
#[test]
fn topic_changes_with_the_catalog_version_at_its_largest_value_are_corruption() {
    let (_, db) = file_with_records(1);
    overwrite(&db, "log.meta", b"catalog-version", &u64::MAX.to_le_bytes());
    let before = db.engine().latest_txn().expect("latest");
    assert_corrupt(db.admin().create_topic("u", 1, TopicConfig::default()));
    assert_corrupt(
        db.admin()
            .alter_topic_config("t", &[("retention.ms", "1000")]),
    );
    assert_corrupt(db.admin().delete_topic("t"));
    assert_eq!(
        db.engine().latest_txn().expect("latest"),
        before,
        "nothing committed"
    );
    assert_eq!(db.admin().topics().expect("topics").len(), 1);
    assert_check_reports(&db, "catalog-version is at its largest value");
}

/// A group generation at `u64::MAX`: the rebalance of a joining member used to overflow it.
#[test]
fn a_join_with_the_generation_at_its_largest_value_is_corruption() {
    let (_, db) = file_with_records(1);
    let group = 1u32.to_be_bytes();
    overwrite(&db, "log.meta", b"next-group-id", &2u32.to_le_bytes());
    overwrite(&db, "group.groups", &group, b"g");
    let mut state = u64::MAX.to_le_bytes().to_vec();
    state.extend_from_slice(&[0; 5]);
    overwrite(&db, "group.state", &group, &state);
    let options = ConsumerOptions {
        auto_commit_interval: None,
        ..ConsumerOptions::default()
    };
    assert_corrupt(db.consumer("g", &["t"], options));
    assert_check_reports(&db, "generation is at its largest value");
}

/// A partition state that counts no segment while one exists: retention used to subtract
/// below zero.
#[test]
fn retention_with_segment_counts_below_what_is_stored_is_corruption() {
    let (_, db) = file_with_records(3);
    db.admin()
        .alter_topic_config("t", &[("retention.ms", "1")])
        .expect("alter");
    let mut state = read_value(&db, "log.partitions", &partition_key());
    // segment_count (offset 24) and bytes_total (offset 28) set to 0.
    state[24..36].fill(0);
    overwrite(&db, "log.partitions", &partition_key(), &state);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_corrupt(db.admin().maintain());
    assert_check_reports(&db, "partition state counts 0 segments / 0 bytes");
}

/// A partition end past Kafka's largest offset is damage, not a bad argument to `send`.
#[test]
fn a_partition_end_past_kafkas_largest_offset_is_corruption() {
    let (_, db) = file_with_records(0);
    let mut state = read_value(&db, "log.partitions", &partition_key());
    state[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    overwrite(&db, "log.partitions", &partition_key(), &state);
    assert_corrupt(db.producer().send("t", Record::value("x")));
    assert_corrupt(db.end_offset("t", 0));
    assert_check_reports(&db, "partition end is past Kafka's largest offset");
}

/// A segment whose `bytes_used` says 4 GiB in an extent claimed to be as large: `check`
/// used to allocate a buffer of that size before reading anything.
#[test]
fn check_never_allocates_by_an_on_disk_length() {
    let (_, db) = file_with_records(3);
    let mut seg = Segment::read(&db);
    seg.page_count = u32::MAX / PAGE_SIZE + 1; // 4 GiB
    seg.bytes_used = u32::MAX;
    seg.write(&db);
    assert_check_reports(&db, "segment extent lies outside the file");
    assert_corrupt(db.fetch("t", 0, 0, FetchLimits::default()));
}

/// A `log.meta` value of the wrong size: readers refused the file while `check`, which
/// never read the log's meta tree, called it clean.
#[test]
fn check_reports_a_meta_value_of_the_wrong_size() {
    let (_, db) = file_with_records(1);
    overwrite(&db, "log.meta", b"catalog-version", &[1, 2, 3]);
    assert_corrupt(db.fetch("t", 0, 0, FetchLimits::default()));
    assert_check_reports(&db, "catalog-version");
}

/// Offsets of the batch at the start of the segment of `t`, in the file.
fn batch_in_file(storage: &MemStorage, db: &Brooklet) -> (u64, Vec<u8>) {
    // A topic change writes pending data into the file.
    db.admin()
        .create_topic("settle", 1, TopicConfig::default())
        .expect("create");
    let SegmentInfo {
        first_page,
        bytes_used,
        ..
    } = db.admin().segments("t", 0).expect("segments")[0];
    let at = u64::from(first_page) * u64::from(PAGE_SIZE);
    let mut bytes = vec![0u8; bytes_used as usize];
    storage.read_at(at, &mut bytes).expect("read");
    assert!(
        db.admin().segment_bytes("t", 0, 0).expect("segment bytes") == Some(bytes.clone()),
        "the segment's bytes are all in the file"
    );
    (at, bytes)
}

/// Writes `batch` back with its Kafka CRC-32C recomputed.
fn write_with_crc(storage: &MemStorage, at: u64, batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    storage.write_at(at, batch).expect("write");
}

/// A batch whose first record's offset delta lies past the batch's last offset delta,
/// with a valid CRC: `check` verified the CRC and the header, not the records, and called
/// the file clean while fetches refused it.
#[test]
fn check_reports_records_that_disagree_with_their_batch_header() {
    let (storage, db) = file_with_records(2);
    let (at, mut batch) = batch_in_file(&storage, &db);
    // Header (61 bytes), then record 0: length, attributes, timestamp delta, offset delta.
    assert_eq!(batch[64], 0, "record 0 has offset delta 0");
    batch[64] = 4; // zigzag 2: past the last offset delta, 1
    write_with_crc(&storage, at, &mut batch);
    assert_corrupt(db.fetch("t", 0, 0, FetchLimits::default()));
    let fetched = db
        .fetch_batches("t", 0, 0, FetchLimits::default())
        .expect("the batch's CRC verifies");
    assert!(fetched.records().any(|r| r.is_err()));
    assert_check_reports(&db, "offset delta out of order");
}

/// A `leader-epoch` past `i32::MAX`: appends refuse it (it goes into every batch as an
/// `i32`), so `check` reports it too.
#[test]
fn check_reports_a_leader_epoch_sends_refuse() {
    let (_, db) = file_with_records(1);
    overwrite(&db, "log.meta", b"leader-epoch", &u32::MAX.to_le_bytes());
    assert_corrupt(db.producer().send("t", Record::value("x")));
    assert_check_reports(&db, "leader epoch is past i32::MAX");
}

/// Topic `t` holding three batches of ten records (offsets 0, 10 and 20), each sent alone.
fn file_with_three_batches() -> Brooklet {
    let (_, db) = file_with_records(10);
    for _ in 0..2 {
        let records = (0..10)
            .map(|i| Record::value(format!("more {i}")))
            .collect();
        db.producer().send_batch("t", records).expect("send");
    }
    let report = db.admin().check().expect("check runs");
    assert!(report.is_clean(), "{:#?}", report.problems);
    db
}

/// An offset-index value: the segment's base offset and the batch's byte position.
fn index_value(segment_base: u64, position: u32) -> Vec<u8> {
    let mut value = segment_base.to_le_bytes().to_vec();
    value.extend_from_slice(&position.to_le_bytes());
    value
}

#[test]
fn check_reports_offset_index_entries_that_name_no_batch_or_the_wrong_one() {
    // Read alongside the batches, one entry at a time: each kind of wrong entry is named.
    let cases: [(u64, Vec<u8>, &str); 4] = [
        (
            10,
            index_value(0, 0),
            "two offset index entries name the batch of 10",
        ),
        (
            5,
            index_value(0, 9999),
            "offset index entry for 5 points at no batch",
        ),
        (
            10,
            index_value(0, 1),
            "offset index entry for 10 names byte 1 of segment 0",
        ),
        (
            25,
            index_value(0, 1),
            "offset index entry for 25 points at no batch",
        ),
    ];
    for (offset, value, needle) in cases {
        let db = file_with_three_batches();
        overwrite(&db, "log.offsets", &offset_key(offset), &value);
        assert_check_reports(&db, needle);
    }
    let db = file_with_three_batches();
    overwrite(&db, "log.offsets", &offset_key(40), &index_value(0, 0));
    assert_check_reports(
        &db,
        "offset index entry for 40 lies outside the offsets 0..30",
    );
    let db = file_with_three_batches();
    overwrite(&db, "log.offsets", &offset_key(20), &[1, 2, 3]);
    assert_check_reports(&db, "t/0: offset index entry for 20: ");
}

#[test]
fn check_reports_index_entries_of_partitions_that_do_not_exist() {
    let db = file_with_three_batches();
    let mut key = offset_key(3);
    key[4..8].copy_from_slice(&7u32.to_be_bytes());
    overwrite(&db, "log.times", &key, &3u64.to_le_bytes());
    key[..4].copy_from_slice(&9u32.to_be_bytes());
    overwrite(&db, "log.offsets", &key, &index_value(0, 0));
    assert_check_reports(
        &db,
        "log.times: entry of topic id 1 partition 7, which does not exist",
    );
    assert_check_reports(
        &db,
        "log.offsets: entry of topic id 9 partition 7, which does not exist",
    );
}
