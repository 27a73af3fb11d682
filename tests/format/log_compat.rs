//! Event-log format compatibility: `tests/data/log-v2-4096.brooklet` was written by format
//! version 2 and `tests/data/log-v4-4096.brooklet` by version 4 (its last commit keeps
//! partition states pending in its slot); both are checked in. They must keep opening with
//! every record, offset, config and index answer below, checking clean, and taking new
//! records.
//!
//! The file holds two topics (the worked example in FORMAT.md follows it):
//! - `orders`: 2 partitions, `CreateTime`, `segment.bytes=65536`, `max.message.bytes=16384`.
//!   Partition 0 holds [`ORDERS_COUNT`] records in two segments (a send larger than
//!   `max.message.bytes` is split into several batches); partition 1 is empty.
//! - `audit`: 1 partition, `LogAppendTime`. Its timestamps are the append times of the run
//!   that wrote the file, so they are checked by rule (one per send, non-decreasing) and the
//!   create times kept in the stored batches are checked byte for byte.
//!
//! Keys, null keys, null values, headers with duplicate keys and null values, and explicit,
//! out-of-order timestamps all occur. Write a new golden file only with a format version bump
//! (the current version's, named in `GOLDEN_CURRENT`):
//! `BROOKLET_WRITE_GOLDEN=1 cargo test --release --test format log_compat`.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use brooklet::kafka::decode_batch;
use brooklet::{
    Brooklet, Durability, FetchLimits, Header, Options, Position, Record, SegmentInfo,
    StoredRecord, TimestampType, TopicConfig,
};

const GOLDEN_V2: &str = "log-v2-4096.brooklet";
/// The golden file of the current format version.
const GOLDEN_CURRENT: &str = "log-v4-4096.brooklet";
const ORDERS: &str = "orders";
const AUDIT: &str = "audit";
const ORDERS_COUNT: u64 = 260;
const AUDIT_COUNT: u64 = 40;
/// Create times of `orders` start here (2023-11-14).
const BASE_MS: i64 = 1_700_000_000_000;
/// The send in `orders` that `max.message.bytes` splits into several batches.
const BIG_SEND: usize = 5;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Bytes of pending entries in the slot of the newest commit (FORMAT.md, *Commit slot*):
/// what is left of the slot body after the fixed fields, the inline journal and the
/// inline free list.
fn pending_bytes(path: &Path) -> usize {
    let bytes = std::fs::read(path).expect("read file");
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let page_size = u32_at(20) as usize;
    let slot = (0..2)
        .map(|page| page * page_size + 32)
        .max_by_key(|&slot| u64_at(slot + 8))
        .expect("two slots");
    let body_len = u32_at(slot + 4) as usize;
    let inline_journal = if u32_at(slot + 68) == 0 {
        12 * u32_at(slot + 80) as usize
    } else {
        0
    };
    let inline_free = if u32_at(slot + 52) == 0 {
        u32_at(slot + 56) as usize
    } else {
        0
    };
    8 + body_len - 108 - inline_journal - inline_free
}

fn orders_config() -> TopicConfig {
    TopicConfig::from_pairs([
        ("segment.bytes", "65536"),
        ("max.message.bytes", "16384"),
        ("retention.ms", "3153600000000"),
    ])
    .expect("orders config")
}

fn audit_config() -> TopicConfig {
    TopicConfig::from_pairs([
        ("message.timestamp.type", "LogAppendTime"),
        ("cleanup.policy", "compact,delete"),
        ("retention.bytes", "1048576"),
    ])
    .expect("audit config")
}

/// Deterministic bytes of a given length.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|j| u8::try_from((seed * 31 + j * 7) % 251).expect("below 251"))
        .collect()
}

/// Record `i` of `orders`, partition 0.
fn order(i: u64) -> Record {
    let key = (i % 11 != 5).then(|| format!("customer-{}", i % 17).into_bytes());
    let value = (i % 13 != 7).then(|| payload(i, 50 + (i as usize * 37) % 400));
    let headers = match i % 3 {
        0 => vec![
            header("trace", Some(format!("t-{i}").as_bytes())),
            header("dup", Some(b"a")),
            header("dup", None),
            header("dup", Some(b"c")),
        ],
        1 => Vec::new(),
        _ => vec![
            header("", Some(b"")),
            header("\u{e9}t\u{e9}", Some(&vec![0xff; (i % 5) as usize])),
        ],
    };
    // Mostly rising, with some records older than their predecessors.
    let skew = if i % 10 == 3 { 20_000 } else { 0 };
    let timestamp = BASE_MS + i64::try_from(i).expect("small") * 1000 - skew;
    Record {
        key,
        value,
        headers,
        timestamp_ms: Some(timestamp),
    }
}

fn header(key: &str, value: Option<&[u8]>) -> Header {
    Header {
        key: key.to_owned(),
        value: value.map(<[u8]>::to_vec),
    }
}

/// The sends that wrote `orders` partition 0: runs of 1 to 9 records, and one of 60 records
/// (about 17 KB, over `max.message.bytes`).
fn order_sends() -> Vec<Vec<Record>> {
    let mut sends = Vec::new();
    let mut next = 0;
    let mut size = 1;
    while next < ORDERS_COUNT {
        let count = if sends.len() == BIG_SEND { 60 } else { size };
        let end = (next + count).min(ORDERS_COUNT);
        sends.push((next..end).map(order).collect());
        next = end;
        size = size % 9 + 1;
    }
    sends
}

/// Record `i` of `audit`: every fifth without a create time.
fn audit(i: u64) -> Record {
    let record = Record {
        key: (!i.is_multiple_of(4)).then(|| format!("user-{}", i % 6).into_bytes()),
        value: (i % 9 != 4)
            .then(|| format!("event {i}: {}", "z".repeat((i % 30) as usize)).into_bytes()),
        headers: if i.is_multiple_of(2) {
            vec![header("k", Some(b"1")), header("k", Some(b"2"))]
        } else {
            Vec::new()
        },
        timestamp_ms: None,
    };
    if i.is_multiple_of(5) {
        record
    } else {
        record.with_timestamp(1_000 + i64::try_from(i).expect("small"))
    }
}

/// The sends that wrote `audit`: runs of 1 to 4 records.
fn audit_sends() -> Vec<Vec<Record>> {
    let mut sends = Vec::new();
    let mut next = 0;
    while next < AUDIT_COUNT {
        let end = (next + next % 4 + 1).min(AUDIT_COUNT);
        sends.push((next..end).map(audit).collect());
        next = end;
    }
    sends
}

fn stored(offset: u64, record: &Record, timestamp_ms: i64) -> StoredRecord {
    StoredRecord {
        offset,
        timestamp_ms,
        key: record.key.clone(),
        value: record.value.clone(),
        headers: record.headers.clone(),
    }
}

fn expected_orders() -> Vec<StoredRecord> {
    (0..ORDERS_COUNT)
        .map(|i| {
            let record = order(i);
            stored(i, &record, record.timestamp_ms.expect("explicit"))
        })
        .collect()
}

/// The sends of `orders` into partition 0, some of them not durable, so a golden file has
/// a history of both kinds of commit.
fn send_orders(db: &Brooklet) {
    let durable = db.producer();
    let relaxed = db.producer().with_durability(Durability::None);
    for (index, records) in order_sends().into_iter().enumerate() {
        let producer = if index % 4 == 1 { &relaxed } else { &durable };
        producer
            .send_batch_to(ORDERS, 0, records)
            .expect("send orders");
    }
}

#[expect(
    dead_code,
    reason = "how the version-2 golden file was written, kept as its record"
)]
fn write_golden(path: &Path) {
    let _ = std::fs::remove_file(path);
    let db = Brooklet::open(path).expect("create golden file");
    db.admin()
        .create_topic(ORDERS, 2, orders_config())
        .expect("orders");
    db.admin()
        .create_topic(AUDIT, 1, audit_config())
        .expect("audit");
    send_orders(&db);
    for records in audit_sends() {
        if records.len() == 1 {
            let record = records.into_iter().next().expect("one record");
            db.producer().send(AUDIT, record).expect("send audit");
        } else {
            db.producer()
                .send_batch(AUDIT, records)
                .expect("send audit batch");
        }
        // Distinct append times per send.
        std::thread::sleep(Duration::from_millis(2));
    }
    db.flush().expect("flush");
    close_trimmed(db, path);
}

/// Closes a golden file just written and cuts it to its committed pages: bytes past them
/// carry no meaning (FORMAT.md), and dropping them keeps the file small.
fn close_trimmed(db: Brooklet, path: &Path) {
    let page_count = db.admin().check().expect("check").page_count;
    let page_size = db.engine().page_size();
    drop(db);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("reopen golden file");
    file.set_len(u64::from(page_count) * u64::from(page_size))
        .expect("trim golden file");
}

/// Every record of a partition, fetched in small steps.
fn fetch_all(db: &Brooklet, topic: &str, partition: u32) -> Vec<StoredRecord> {
    let limits = FetchLimits {
        max_records: 37,
        max_bytes: 5000,
    };
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let fetched = db.fetch(topic, partition, offset, limits).expect("fetch");
        if fetched.records.is_empty() {
            assert_eq!(offset, fetched.end_offset, "no records before the end");
            return out;
        }
        offset = fetched.next_offset;
        out.extend(fetched.records);
    }
}

/// The raw batches of a partition read straight from the file, decoded, with whether any
/// batch spans a page boundary.
fn raw_batches(
    db: &Brooklet,
    path: &Path,
    topic: &str,
    partition: u32,
) -> (Vec<brooklet::kafka::DecodedBatch>, bool) {
    let page_size = u64::from(db.engine().page_size());
    let file = std::fs::File::open(path).expect("open file");
    let mut batches = Vec::new();
    let mut spans = false;
    let mut next_offset = 0;
    for SegmentInfo {
        base_offset: base,
        first_page,
        page_count,
        bytes_used,
        ..
    } in db.admin().segments(topic, partition).expect("segments")
    {
        assert_eq!(base, next_offset, "segments follow one another");
        assert!(u64::from(bytes_used) <= u64::from(page_count) * page_size);
        let start = u64::from(first_page) * page_size;
        let mut bytes = vec![0u8; bytes_used as usize];
        file.read_exact_at(&mut bytes, start).expect("read segment");
        let mut position = 0;
        while position < bytes.len() {
            let batch = decode_batch(&bytes[position..]).expect("stored batch decodes");
            assert_eq!(batch.header.offset_base, next_offset);
            let size = batch.header.size();
            spans |= (start + position as u64) / page_size
                != (start + (position + size) as u64 - 1) / page_size;
            position += size;
            next_offset = batch.header.offset_last() + 1;
            batches.push(batch);
        }
        assert_eq!(position, bytes.len(), "segment ends at a batch boundary");
    }
    (batches, spans)
}

/// The earliest offset at or after `timestamp`, by brute force.
fn first_at_or_after(records: &[StoredRecord], timestamp: i64) -> Option<u64> {
    records
        .iter()
        .find(|r| r.timestamp_ms >= timestamp)
        .map(|r| r.offset)
}

fn check_topics(db: &Brooklet) {
    let topics = db.admin().topics().expect("topics");
    let names: Vec<(&str, u32)> = topics
        .iter()
        .map(|t| (t.name.as_str(), t.partitions))
        .collect();
    assert_eq!(names, vec![(AUDIT, 1), (ORDERS, 2)]);
    assert_eq!(topics[0].config, audit_config());
    assert_eq!(topics[1].config, orders_config());
    let orders = db.admin().describe_topic(ORDERS).expect("describe orders");
    assert_eq!(orders.config, orders_config());
    let p0 = &orders.partitions[0];
    assert_eq!(
        (
            p0.partition,
            p0.beginning_offset,
            p0.end_offset,
            p0.segments
        ),
        (0, 0, ORDERS_COUNT, 2)
    );
    let segments = db.admin().segments(ORDERS, 0).expect("segments");
    let used: u64 = segments.iter().map(|s| u64::from(s.bytes_used)).sum();
    assert_eq!(p0.bytes, used);
    let p1 = &orders.partitions[1];
    assert_eq!(
        (
            p1.partition,
            p1.beginning_offset,
            p1.end_offset,
            p1.bytes,
            p1.segments
        ),
        (1, 0, 0, 0, 0)
    );
    let audit = db.admin().describe_topic(AUDIT).expect("describe audit");
    assert_eq!(audit.config.timestamp_type, TimestampType::LogAppendTime);
    let a0 = &audit.partitions[0];
    assert_eq!(
        (a0.beginning_offset, a0.end_offset, a0.segments),
        (0, AUDIT_COUNT, 1)
    );
}

fn check_orders(db: &Brooklet, path: &Path) {
    let expected = expected_orders();
    assert_eq!(fetch_all(db, ORDERS, 0), expected);
    // A fetch from every offset finds its record through the offset index.
    for want in &expected {
        let limits = FetchLimits {
            max_records: 1,
            max_bytes: 1,
        };
        // The rest of the batch holding the record comes with it (whole batches).
        let got = db.fetch(ORDERS, 0, want.offset, limits).expect("fetch one");
        assert_eq!(got.records.first(), Some(want));
        let tail: Vec<_> = expected
            .iter()
            .filter(|r| r.offset >= want.offset)
            .take(got.records.len())
            .cloned()
            .collect();
        assert_eq!(got.records, tail);
        assert_eq!(got.next_offset, want.offset + got.records.len() as u64);
    }
    // Time lookups: exact hits, between records, before the first, past the last.
    let mut probes = vec![i64::MIN, 0, BASE_MS - 30_000, BASE_MS + 10_000_000];
    for r in &expected {
        probes.extend([r.timestamp_ms - 1, r.timestamp_ms, r.timestamp_ms + 1]);
    }
    for t in probes {
        assert_eq!(
            db.offset_for_time(ORDERS, 0, t).expect("time"),
            first_at_or_after(&expected, t),
            "time {t}"
        );
    }
    assert_eq!(
        db.offset_for_time(ORDERS, 1, 0).expect("empty partition"),
        None
    );
    // The stored bytes: Kafka batches back to back, some spanning pages, one send split.
    let (batches, spans) = raw_batches(db, path, ORDERS, 0);
    assert!(spans, "some batch spans a page boundary");
    let records: Vec<StoredRecord> = batches.iter().flat_map(|b| b.records.clone()).collect();
    assert_eq!(records, expected);
    let sends = order_sends();
    assert!(batches.len() > sends.len(), "the big send was split");
    let split_base: u64 = sends[..BIG_SEND].iter().map(|s| s.len() as u64).sum();
    let split: Vec<_> = batches
        .iter()
        .filter(|b| (split_base..split_base + 60).contains(&b.header.offset_base))
        .collect();
    assert!(
        split.len() >= 2,
        "the send of 60 records spans several batches"
    );
    for b in &batches {
        assert!(b.header.size() <= 16_384, "batch within max.message.bytes");
        assert_eq!(
            (
                b.header.producer_id,
                b.header.producer_epoch,
                b.header.sequence_base
            ),
            (-1, -1, -1)
        );
        assert_eq!(b.header.partition_leader_epoch, -1);
        assert_eq!(b.header.attributes, 0);
    }
}

fn check_audit(db: &Brooklet, path: &Path) {
    let records = fetch_all(db, AUDIT, 0);
    assert_eq!(records.len() as u64, AUDIT_COUNT);
    let mut offset = 0;
    let mut previous = 0;
    for send in audit_sends() {
        let appended = records[offset].timestamp_ms;
        assert!(
            appended >= BASE_MS && appended > previous,
            "append time {appended} after {previous}"
        );
        previous = appended;
        for record in &send {
            let want = stored(offset as u64, record, appended);
            assert_eq!(records[offset], want);
            offset += 1;
        }
    }
    for r in &records {
        assert_eq!(
            db.offset_for_time(AUDIT, 0, r.timestamp_ms).expect("time"),
            first_at_or_after(&records, r.timestamp_ms)
        );
    }
    assert_eq!(
        db.offset_for_time(AUDIT, 0, previous + 1).expect("time"),
        None
    );
    // The batches keep the producers' create times; maxTimestamp is the append time.
    let (batches, _) = raw_batches(db, path, AUDIT, 0);
    assert_eq!(batches.len(), audit_sends().len(), "one batch per send");
    for (batch, send) in batches.iter().zip(audit_sends()) {
        assert_eq!(batch.header.attributes, 0x08, "log append time bit");
        let first = send[0]
            .timestamp_ms
            .unwrap_or(batch.header.timestamp_max_ms);
        assert_eq!(batch.header.timestamp_base_ms, first);
        assert_eq!(batch.records[0].timestamp_ms, batch.header.timestamp_max_ms);
    }
}

/// Reads everything through a reader across both topics.
fn check_reader(db: &Brooklet) {
    let mut reader = db.reader();
    reader
        .assign_topic(ORDERS, Position::Beginning)
        .expect("assign");
    reader
        .assign(AUDIT, 0, Position::Offset(AUDIT_COUNT - 3))
        .expect("assign");
    let mut by_topic: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        let polled = reader.poll(Duration::from_millis(10)).expect("poll");
        if polled.is_empty() {
            break;
        }
        for r in polled {
            *by_topic.entry(r.topic).or_default() += 1;
        }
    }
    assert_eq!(
        by_topic,
        BTreeMap::from([(AUDIT.to_owned(), 3), (ORDERS.to_owned(), ORDERS_COUNT)])
    );
}

#[test]
fn log_v2_golden_file_reads() {
    golden_file_reads(GOLDEN_V2);
}

/// Writes the current version's golden file: `orders` as in the version-2 file (the
/// `audit` topic of that file is compacted and holds keyless records, which brooklet now
/// refuses), then one small durable send to the empty partition, whose state the last
/// commit keeps pending in its slot.
fn write_golden_current(path: &Path) {
    let _ = std::fs::remove_file(path);
    let db = Brooklet::open(path).expect("create golden file");
    db.admin()
        .create_topic(ORDERS, 2, orders_config())
        .expect("orders");
    send_orders(&db);
    db.flush().expect("flush");
    let durable = db.producer();
    for i in 0..2 {
        durable.send_to(ORDERS, 1, order(i)).expect("send small");
    }
    close_trimmed(db, path);
}

#[test]
fn log_v4_golden_file_reads() {
    let golden = golden_path(GOLDEN_CURRENT);
    if std::env::var("BROOKLET_WRITE_GOLDEN").as_deref() == Ok("1") {
        write_golden_current(&golden);
    }
    assert!(
        pending_bytes(&golden) > 0,
        "the last commit of the golden file keeps pending entries"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy.brooklet");
    std::fs::copy(&golden, &copy).expect("golden file is checked in");
    let db = Brooklet::open_existing(&copy, Options::default()).expect("open golden");
    let small = |i: u64| stored(i, &order(i), order(i).timestamp_ms.expect("set"));
    assert_eq!(fetch_all(&db, ORDERS, 0), expected_orders());
    assert_eq!(fetch_all(&db, ORDERS, 1), vec![small(0), small(1)]);
    assert_eq!(db.end_offset(ORDERS, 1).expect("end"), 2);
    assert!(db.admin().check().expect("check").is_clean());
    // It takes new records, small (pending again) and large.
    db.producer()
        .send_to(ORDERS, 1, order(2))
        .expect("send small");
    let more: Vec<Record> = (ORDERS_COUNT..ORDERS_COUNT + 30).map(order).collect();
    db.producer()
        .send_batch_to(ORDERS, 0, more)
        .expect("send more");
    drop(db);
    let db = Brooklet::open_existing(&copy, Options::default()).expect("reopen");
    assert_eq!(
        fetch_all(&db, ORDERS, 1),
        vec![small(0), small(1), small(2)]
    );
    assert_eq!(db.end_offset(ORDERS, 0).expect("end"), ORDERS_COUNT + 30);
    assert!(db.admin().check().expect("check").is_clean());
}

fn golden_file_reads(name: &str) {
    let golden = golden_path(name);
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy.brooklet");
    std::fs::copy(&golden, &copy).expect("golden file is checked in");
    let db = Brooklet::open_existing(&copy, Options::default()).expect("open golden");
    assert_eq!(db.engine().page_size(), 4096);
    check_topics(&db);
    check_orders(&db, &copy);
    check_audit(&db, &copy);
    check_reader(&db);
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);

    // The old file takes new records: into a full segment's partition, an empty partition,
    // and the log-append-time topic; and a new topic.
    let more: Vec<Record> = (ORDERS_COUNT..ORDERS_COUNT + 30).map(order).collect();
    let metas = db
        .producer()
        .send_batch_to(ORDERS, 0, more.clone())
        .expect("send more");
    assert_eq!(metas[0].offset, ORDERS_COUNT);
    db.producer()
        .send_to(ORDERS, 1, order(1))
        .expect("send to the empty partition");
    let appended = db.producer().send(AUDIT, audit(1)).expect("send audit");
    assert_eq!(appended.offset, AUDIT_COUNT);
    db.admin()
        .create_topic("later", 1, TopicConfig::default())
        .expect("new topic");
    db.producer()
        .send("later", Record::value("hello"))
        .expect("send new topic");
    drop(db);

    let db = Brooklet::open_existing(&copy, Options::default()).expect("reopen");
    let mut expected = expected_orders();
    expected.extend(
        more.iter()
            .zip(ORDERS_COUNT..)
            .map(|(r, o)| stored(o, r, r.timestamp_ms.expect("set"))),
    );
    assert_eq!(fetch_all(&db, ORDERS, 0), expected);
    let p1 = fetch_all(&db, ORDERS, 1);
    assert_eq!(
        p1,
        vec![stored(0, &order(1), order(1).timestamp_ms.expect("set"))]
    );
    let audit_records = fetch_all(&db, AUDIT, 0);
    assert_eq!(audit_records.len() as u64, AUDIT_COUNT + 1);
    assert_eq!(
        audit_records[AUDIT_COUNT as usize].timestamp_ms,
        appended.timestamp_ms
    );
    assert_eq!(
        fetch_all(&db, "later", 0)[0].value.as_deref(),
        Some(&b"hello"[..])
    );
    let report = db.admin().check().expect("check after new sends");
    assert!(report.is_clean(), "{:?}", report.problems);
}
