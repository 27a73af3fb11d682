//! The batches brooklet stores are Kafka's, byte for byte: records produced through
//! [`Brooklet`] into a real file are read back as the **raw bytes of every segment**, straight
//! from the file (`first_page * page_size`, `bytes_used` bytes), and handed to an independent
//! Kafka `RecordBatch` v2 implementation, kafka-python's `kafka.record.MemoryRecords` (driven
//! through `tests/kafka/kafka_python_segments.py`). Every batch must decode with a valid CRC, every
//! segment must be batches back to back up to its last byte, and every field must be what
//! was sent: offsets, timestamps and timestamp type, keys and values (null included),
//! headers in order, and Kafka's unset producer and leader fields.
//!
//! kafka-python is installed with pip when missing. If that fails the test fails when the
//! `CI` variable is set, and elsewhere is skipped with a loud message.

use crate::support::kafka::kafka_python;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use brooklet::{
    Brooklet, Durability, Header, Options, Record, RecordMetadata, SegmentInfo, TopicConfig,
};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/kafka/kafka_python_segments.py"
);
/// A `CreateTime` topic whose sends are split by `max.message.bytes`.
const CREATE: &str = "create-time";
/// A `LogAppendTime` topic.
const APPEND: &str = "log-append-time";

fn show(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(
        || "-".to_owned(),
        |bytes| {
            bytes.iter().fold("x".to_owned(), |mut out, byte| {
                write!(out, "{byte:02x}").expect("write to String");
                out
            })
        },
    )
}

/// A seeded generator; `BROOKLET_SEED` replays a run.
fn rng() -> fastrand::Rng {
    let seed = std::env::var("BROOKLET_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5354_4f52_4544);
    eprintln!("stored_batches_kafka: seed {seed} (set BROOKLET_SEED to replay)");
    fastrand::Rng::with_seed(seed)
}

/// Nullable bytes: null, empty, short, or (when `big`) sometimes a few KB.
fn random_bytes(rng: &mut fastrand::Rng, big: bool) -> Option<Vec<u8>> {
    let length = match rng.u8(0..20) {
        0..=3 => return None,
        4..=5 => 0,
        6 if big => rng.usize(1_000..20_000),
        _ => rng.usize(1..40),
    };
    Some(std::iter::repeat_with(|| rng.u8(..)).take(length).collect())
}

fn random_record(rng: &mut fastrand::Rng) -> Record {
    let keys = ["a", "b", "", "\u{e9}t\u{e9}", "\u{1f600} k", "dup", "dup"];
    Record {
        key: random_bytes(rng, false),
        value: random_bytes(rng, true),
        headers: (0..rng.usize(0..5))
            .map(|_| Header {
                key: keys[rng.usize(..keys.len())].to_owned(),
                value: random_bytes(rng, false),
            })
            .collect(),
        timestamp_ms: (rng.u8(0..5) != 0).then(|| rng.i64(0..4_000_000_000_000)),
    }
}

/// What was sent to one partition: by offset, the record and the timestamp brooklet
/// reported for it (the create time, or the append time under `LogAppendTime`).
type Sent = BTreeMap<u64, (Record, i64)>;

fn remember(
    sent: &mut HashMap<(String, u32), Sent>,
    topic: &str,
    records: Vec<Record>,
    metas: &[RecordMetadata],
) {
    assert_eq!(records.len(), metas.len());
    for (record, meta) in records.into_iter().zip(metas) {
        let previous = sent
            .entry((topic.to_owned(), meta.partition))
            .or_default()
            .insert(meta.offset, (record, meta.timestamp_ms));
        assert!(previous.is_none(), "offset {} given twice", meta.offset);
    }
}

/// Produces a seeded mix of sends of every kind into both topics.
fn produce(db: &Brooklet, rng: &mut fastrand::Rng) -> HashMap<(String, u32), Sent> {
    let mut sent = HashMap::new();
    let relaxed = db.producer().with_durability(Durability::None);
    for step in 0..160 {
        let topic = if rng.u8(0..3) == 0 { APPEND } else { CREATE };
        let partitions = if topic == CREATE { 3 } else { 2 };
        let producer = if step % 3 == 0 {
            db.producer()
        } else {
            relaxed.clone()
        };
        match rng.u8(0..4) {
            0 => {
                let record = random_record(rng);
                let meta = producer.send(topic, record.clone()).expect("send");
                remember(&mut sent, topic, vec![record], &[meta]);
            }
            1 => {
                let record = random_record(rng);
                let partition = rng.u32(0..partitions);
                let meta = producer
                    .send_to(topic, partition, record.clone())
                    .expect("send_to");
                remember(&mut sent, topic, vec![record], &[meta]);
            }
            2 => {
                let records: Vec<Record> =
                    (0..rng.usize(1..40)).map(|_| random_record(rng)).collect();
                let metas = producer
                    .send_batch(topic, records.clone())
                    .expect("send_batch");
                remember(&mut sent, topic, records, &metas);
            }
            _ => {
                let records: Vec<Record> =
                    (0..rng.usize(1..60)).map(|_| random_record(rng)).collect();
                let partition = rng.u32(0..partitions);
                let metas = producer
                    .send_batch_to(topic, partition, records.clone())
                    .expect("send_batch_to");
                remember(&mut sent, topic, records, &metas);
            }
        }
    }
    db.flush().expect("flush");
    sent
}

/// One segment as [`Brooklet::segments`] lists it.
#[derive(Debug)]
struct Listed {
    topic: String,
    partition: u32,
    base: u64,
    first_page: u32,
    page_count: u32,
    bytes_used: u32,
}

/// One segment's bytes, copied out of the brooklet file.
#[derive(Debug)]
struct SegmentFile {
    topic: String,
    partition: u32,
    base: u64,
    bytes_used: u32,
    /// The segment's raw bytes, copied to a file of their own for the script.
    path: PathBuf,
}

/// Copies the bytes of every segment straight from the brooklet file.
fn raw_segments(
    db_path: &Path,
    dir: &Path,
    segments: &[Listed],
    page_size: u32,
) -> Vec<SegmentFile> {
    let file = std::fs::File::open(db_path).expect("open the brooklet file");
    let mut out = Vec::new();
    for segment in segments {
        let Listed {
            topic,
            partition,
            base,
            first_page,
            page_count,
            bytes_used,
        } = segment;
        assert!(u64::from(*bytes_used) <= u64::from(*page_count) * u64::from(page_size));
        let mut bytes = vec![0u8; *bytes_used as usize];
        file.read_exact_at(&mut bytes, u64::from(*first_page) * u64::from(page_size))
            .expect("read segment bytes");
        let path = dir.join(format!("{topic}-{partition}-{base}.segment"));
        std::fs::write(&path, &bytes).expect("write segment copy");
        out.push(SegmentFile {
            topic: topic.clone(),
            partition: *partition,
            base: *base,
            bytes_used: *bytes_used,
            path,
        });
    }
    out
}

/// One line of the dump: its kind and its `name=value` fields.
fn fields(line: &str) -> (&str, HashMap<&str, &str>) {
    let mut parts = line.split(' ');
    let kind = parts.next().expect("a kind");
    let fields = parts
        .map(|item| item.split_once('=').expect("name=value"))
        .collect();
    (kind, fields)
}

fn num(fields: &HashMap<&str, &str>, name: &str) -> i64 {
    fields
        .get(name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .parse()
        .unwrap_or_else(|_| panic!("field {name} is not a number"))
}

/// A batch as kafka-python read it.
#[derive(Debug, Default)]
struct DumpBatch {
    fields: HashMap<String, i64>,
    records: Vec<DumpRecord>,
}

#[derive(Debug, Default)]
struct DumpRecord {
    fields: HashMap<String, String>,
    headers: Vec<(String, String)>,
}

/// A segment as kafka-python read it: its batches, and the end line.
#[derive(Debug, Default)]
struct DumpSegment {
    path: String,
    batches: Vec<DumpBatch>,
    end: HashMap<String, i64>,
}

fn parse_dump(text: &str) -> Vec<DumpSegment> {
    let mut segments: Vec<DumpSegment> = Vec::new();
    for line in text.lines() {
        let (kind, f) = fields(line);
        let numbers = || f.keys().map(|k| ((*k).to_owned(), num(&f, k))).collect();
        match kind {
            "segment" => segments.push(DumpSegment {
                path: f["path"].to_owned(),
                ..DumpSegment::default()
            }),
            "batch" => {
                let segment = segments.last_mut().expect("a segment line first");
                segment.batches.push(DumpBatch {
                    fields: numbers(),
                    records: Vec::new(),
                });
            }
            "record" => {
                let batch = segments
                    .last_mut()
                    .and_then(|s| s.batches.last_mut())
                    .expect("a batch line first");
                batch.records.push(DumpRecord {
                    fields: f
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    headers: Vec::new(),
                });
            }
            "header" => {
                let record = segments
                    .last_mut()
                    .and_then(|s| s.batches.last_mut())
                    .and_then(|b| b.records.last_mut())
                    .expect("a record line first");
                record
                    .headers
                    .push((f["key"].to_owned(), f["value"].to_owned()));
            }
            "end" => segments.last_mut().expect("a segment line first").end = numbers(),
            other => panic!("unknown dump line kind {other:?}"),
        }
    }
    segments
}

/// Checks one batch's fields against what was sent; returns the next offset.
fn check_batch(batch: &DumpBatch, sent: &Sent, log_append: bool, where_: &str) -> u64 {
    let b = &batch.fields;
    let timestamp_type = i64::from(log_append);
    let offset_base = u64::try_from(b["offset_base"]).expect("offset");
    let count = batch.records.len();
    let count_i64 = i64::try_from(count).expect("record count");
    assert!(count > 0, "{where_}: empty batch");
    let want = [
        ("magic", 2),
        ("crc_valid", 1),
        ("leader_epoch", -1),
        ("attributes", timestamp_type << 3),
        ("compression", 0),
        ("timestamp_type", timestamp_type),
        ("transactional", 0),
        ("control", 0),
        ("producer_id", -1),
        ("producer_epoch", -1),
        ("base_sequence", -1),
        ("record_count", count_i64),
        ("last_offset_delta", count_i64 - 1),
    ];
    for (name, value) in want {
        assert_eq!(
            b[name], value,
            "{where_}: batch at offset {offset_base}: {name}"
        );
    }
    let records: Vec<&(Record, i64)> = (offset_base..offset_base + count as u64)
        .map(|offset| {
            sent.get(&offset)
                .unwrap_or_else(|| panic!("{where_}: offset {offset} was never sent"))
        })
        .collect();
    // Create times as stored: a record sent without one got the append time.
    let create_times: Vec<i64> = records
        .iter()
        .map(|(r, reported)| r.timestamp_ms.unwrap_or(*reported))
        .collect();
    assert_eq!(
        b["first_timestamp"], create_times[0],
        "{where_}: baseTimestamp at {offset_base}"
    );
    let max_timestamp = if log_append {
        let append_time = records[0].1;
        assert!(
            records.iter().all(|r| r.1 == append_time),
            "{where_}: one append time per batch"
        );
        append_time
    } else {
        *create_times.iter().max().expect("not empty")
    };
    assert_eq!(
        b["max_timestamp"], max_timestamp,
        "{where_}: maxTimestamp at {offset_base}"
    );
    for ((dumped, (record, reported)), offset) in
        batch.records.iter().zip(&records).zip(offset_base..)
    {
        let r = &dumped.fields;
        let at = format!("{where_}: record {offset}");
        assert_eq!(r["offset"], offset.to_string(), "{at}: offset");
        assert_eq!(r["timestamp"], reported.to_string(), "{at}: timestamp");
        assert_eq!(
            r["timestamp_type"],
            timestamp_type.to_string(),
            "{at}: timestamp type"
        );
        assert_eq!(r["key"], show(record.key.as_deref()), "{at}: key");
        assert_eq!(r["value"], show(record.value.as_deref()), "{at}: value");
        assert_eq!(
            r["headers"],
            record.headers.len().to_string(),
            "{at}: header count"
        );
        let headers: Vec<(String, String)> = record
            .headers
            .iter()
            .map(|h| (show(Some(h.key.as_bytes())), show(h.value.as_deref())))
            .collect();
        assert_eq!(dumped.headers, headers, "{at}: headers");
    }
    offset_base + count as u64
}

/// Creates the topics in a new file at `db_path`, produces into them, and returns what was
/// sent and the segments the file holds.
fn write_file(db_path: &Path, page_size: u32) -> (HashMap<(String, u32), Sent>, Vec<Listed>) {
    let db = Brooklet::open_with(db_path, Options::default().page_size(page_size)).expect("open");
    assert_eq!(db.engine().page_size(), page_size);
    let small_segments = [("segment.bytes", "65536")];
    let create = small_segments
        .into_iter()
        .chain([("max.message.bytes", "30000")]);
    let append = small_segments
        .into_iter()
        .chain([("message.timestamp.type", "LogAppendTime")]);
    db.admin()
        .create_topic(CREATE, 3, TopicConfig::from_pairs(create).expect("config"))
        .expect("create topic");
    db.admin()
        .create_topic(APPEND, 2, TopicConfig::from_pairs(append).expect("config"))
        .expect("create topic");
    let sent = produce(&db, &mut rng());
    let mut listed = Vec::new();
    for (topic, partitions) in [(CREATE, 3), (APPEND, 2)] {
        for partition in 0..partitions {
            for SegmentInfo {
                base_offset: base,
                first_page,
                page_count,
                bytes_used,
                ..
            } in db.admin().segments(topic, partition).expect("segments")
            {
                listed.push(Listed {
                    topic: topic.to_owned(),
                    partition,
                    base,
                    first_page,
                    page_count,
                    bytes_used,
                });
            }
        }
    }
    assert!(db.admin().check().expect("check").is_clean());
    (sent, listed)
}

/// Runs kafka-python over the segment copies and parses its dump.
fn decode_with_kafka_python(files: &[SegmentFile], dir: &Path) -> Vec<DumpSegment> {
    let dump_path = dir.join("dump.txt");
    let output = Command::new("python3")
        .arg(SCRIPT)
        .arg(&dump_path)
        .args(files.iter().map(|s| &s.path))
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "{SCRIPT} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dumped = parse_dump(&std::fs::read_to_string(&dump_path).expect("read dump"));
    assert_eq!(dumped.len(), files.len(), "one dump per segment");
    dumped
}

/// Checks every segment kafka-python read against what was sent; returns the batch count.
fn check_dumps(
    files: &[SegmentFile],
    dumped: &[DumpSegment],
    sent: &HashMap<(String, u32), Sent>,
    page_size: u32,
) -> usize {
    let mut next_offsets: HashMap<(String, u32), u64> = HashMap::new();
    let mut batch_count = 0;
    for (segment, dump) in files.iter().zip(dumped) {
        let where_ = format!(
            "{}/{} segment {} (page size {page_size})",
            segment.topic, segment.partition, segment.base
        );
        assert_eq!(dump.path, segment.path.to_string_lossy());
        let used = i64::from(segment.bytes_used);
        assert_eq!(
            (dump.end["valid_bytes"], dump.end["total_bytes"]),
            (used, used),
            "{where_}: batches back to back to the last byte"
        );
        let batches = i64::try_from(dump.batches.len()).expect("batch count");
        assert_eq!(dump.end["batches"], batches);
        let key = (segment.topic.clone(), segment.partition);
        let next = next_offsets.entry(key.clone()).or_insert(0);
        assert_eq!(
            segment.base, *next,
            "{where_}: segment base follows the previous segment"
        );
        for batch in &dump.batches {
            assert_eq!(
                batch.fields["offset_base"],
                i64::try_from(*next).expect("offset"),
                "{where_}: offsets contiguous"
            );
            *next = check_batch(batch, &sent[&key], segment.topic == APPEND, &where_);
            batch_count += 1;
        }
    }
    // Every record sent was found, in every partition.
    for (key, records) in sent {
        assert_eq!(
            next_offsets.get(key).copied().unwrap_or(0),
            records.len() as u64,
            "{key:?}: records read"
        );
        assert_eq!(
            records.keys().next_back().map_or(0, |last| last + 1),
            records.len() as u64
        );
    }
    batch_count
}

fn run(page_size: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("stored.brooklet");
    let (sent, listed) = write_file(&db_path, page_size);
    // The bytes come from the file on disk, with the handle closed.
    let files = raw_segments(&db_path, dir.path(), &listed, page_size);
    let first_partition = files
        .iter()
        .filter(|s| s.topic == CREATE && s.partition == 0);
    assert!(
        first_partition.count() >= 2,
        "several segments in one partition"
    );
    let dumped = decode_with_kafka_python(&files, dir.path());
    let batch_count = check_dumps(&files, &dumped, &sent, page_size);
    eprintln!(
        "stored_batches_kafka: page size {page_size}: kafka-python decoded {batch_count} \
         stored batches of {} records in {} segments",
        sent.values().map(BTreeMap::len).sum::<usize>(),
        files.len()
    );
}

#[test]
fn kafka_python_decodes_every_stored_batch() {
    if !kafka_python("kafka::stored_batches") {
        return;
    }
    for page_size in [512, 4096] {
        run(page_size);
    }
}

/// Compacted segments are still Kafka's: batches kafka-python decodes, with the kept
/// records at their original offsets (gaps where records went) and every field as sent.
#[test]
fn kafka_python_decodes_compacted_batches() {
    if !kafka_python("kafka::stored_batches") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("compacted.brooklet");
    let db = Brooklet::open_with(&db_path, Options::default()).expect("open");
    let config = TopicConfig::from_pairs([
        ("cleanup.policy", "compact"),
        ("segment.bytes", "65536"),
        ("delete.retention.ms", "0"),
        // Compacted by `compact` below, not by the produce commits.
        ("min.cleanable.dirty.ratio", "1"),
    ])
    .expect("config");
    db.admin()
        .create_topic("compacted", 1, config)
        .expect("create");
    let mut rng = rng();
    let mut sent: HashMap<(String, u32), Sent> = HashMap::new();
    for _ in 0..80 {
        let records: Vec<Record> = (0..rng.usize(1..60))
            .map(|_| {
                let mut record = random_record(&mut rng);
                record.key = Some(format!("key-{}", rng.u8(0..20)).into_bytes());
                record.timestamp_ms = Some(1_600_000_000_000 + rng.i64(0..1_000_000));
                record
            })
            .collect();
        let metas = db
            .producer()
            .send_batch("compacted", records.clone())
            .expect("send");
        remember(&mut sent, "compacted", records, &metas);
    }
    let report = db.admin().compact().expect("compact");
    assert!(report.records_removed > 0, "{report:?}");
    let mut expected_offsets = Vec::new();
    let mut offset = 0;
    while offset < db.end_offset("compacted", 0).expect("end") {
        let fetched = db
            .fetch("compacted", 0, offset, brooklet::FetchLimits::default())
            .expect("fetch");
        expected_offsets.extend(fetched.records.iter().map(|r| r.offset));
        offset = fetched.next_offset;
    }
    let listed: Vec<Listed> = db
        .admin()
        .segments("compacted", 0)
        .expect("segments")
        .into_iter()
        .map(
            |SegmentInfo {
                 base_offset: base,
                 first_page,
                 page_count,
                 bytes_used,
                 ..
             }| Listed {
                topic: "compacted".to_owned(),
                partition: 0,
                base,
                first_page,
                page_count,
                bytes_used,
            },
        )
        .collect();
    drop(db);
    let files = raw_segments(&db_path, dir.path(), &listed, 4096);
    let dumped = decode_with_kafka_python(&files, dir.path());
    let sent = &sent[&("compacted".to_owned(), 0)];
    let (offsets, gapped) = check_compacted_dumps(&files, &dumped, sent);
    assert_eq!(
        offsets, expected_offsets,
        "kafka-python and brooklet read the same records"
    );
    assert!(gapped > 0, "some batches lost records to compaction");
    eprintln!(
        "stored_batches_kafka: kafka-python decoded {} records left by compaction of {}, \
         {gapped} batches with gaps",
        offsets.len(),
        sent.len()
    );
}

/// Checks compacted segments as kafka-python read them: whole, valid batches whose records
/// are what was sent at their offsets. Returns the offsets read and how many batches have
/// gaps.
fn check_compacted_dumps(
    files: &[SegmentFile],
    dumped: &[DumpSegment],
    sent: &Sent,
) -> (Vec<u64>, usize) {
    let (mut offsets, mut gapped) = (Vec::new(), 0);
    for (segment, dump) in files.iter().zip(dumped) {
        let used = i64::from(segment.bytes_used);
        assert_eq!(
            (dump.end["valid_bytes"], dump.end["total_bytes"]),
            (used, used),
            "segment {}: batches back to back",
            segment.base
        );
        for batch in &dump.batches {
            let b = &batch.fields;
            let where_ = format!("compacted batch at {}", b["offset_base"]);
            assert_eq!((b["magic"], b["crc_valid"]), (2, 1), "{where_}");
            let count = i64::try_from(batch.records.len()).expect("count");
            assert_eq!(b["record_count"], count, "{where_}");
            if count < b["last_offset_delta"] + 1 {
                gapped += 1;
            }
            let first = u64::try_from(b["offset_base"]).expect("offset");
            let last = first + u64::try_from(b["last_offset_delta"]).expect("delta");
            for dumped in &batch.records {
                let r = &dumped.fields;
                let offset: u64 = r["offset"].parse().expect("offset");
                assert!((first..=last).contains(&offset), "{where_}: {offset}");
                let (record, reported) = &sent[&offset];
                assert_eq!(r["timestamp"], reported.to_string(), "{where_}: {offset}");
                assert_eq!(r["key"], show(record.key.as_deref()), "{where_}: {offset}");
                assert_eq!(
                    r["value"],
                    show(record.value.as_deref()),
                    "{where_}: {offset}"
                );
                let headers: Vec<(String, String)> = record
                    .headers
                    .iter()
                    .map(|h| (show(Some(h.key.as_bytes())), show(h.value.as_deref())))
                    .collect();
                assert_eq!(dumped.headers, headers, "{where_}: {offset}");
                offsets.push(offset);
            }
        }
    }
    (offsets, gapped)
}
