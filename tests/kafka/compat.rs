//! Byte compatibility with an independent Kafka implementation, kafka-python's `kafka.record`
//! (driven through `tests/kafka/kafka_python_compat.py`):
//! 1. batches brooklet encodes decode in kafka-python to exactly the fields brooklet meant,
//!    with a valid CRC;
//! 2. batches kafka-python builds (plain, idempotent, transactional, with offset gaps, and
//!    with log append time set as Kafka's broker sets it) decode in brooklet to the same
//!    fields kafka-python reads and to the records it was given;
//! 3. murmur2 hashes and partitions agree for hundreds of random keys.
//!
//! kafka-python is installed with pip when missing. If that fails the tests fail when the
//! `CI` variable is set, and elsewhere are skipped with a loud message.

use crate::support::kafka::kafka_python;

use std::fmt::Write as _;
use std::num::NonZeroU32;
use std::path::Path;
use std::process::Command;

use brooklet::kafka::{
    BatchHeader, ControlRecord, ControlType, DecodedBatch, MAX_BATCH_SIZE, decode_batch,
    encode_batch, murmur2, partition_for_key,
};
use brooklet::{Header, Record, StoredRecord, TimestampType};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/kafka/kafka_python_compat.py"
);
const NOW_MS: i64 = 1_700_000_000_000;
/// Must match `PARTITION_COUNTS` in the Python script.
const PARTITION_COUNTS: [u32; 7] = [1, 2, 3, 7, 12, 1000, 2_147_483_647];

fn python(args: &[&Path]) {
    let output = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "{SCRIPT} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        write!(out, "{byte:02x}").expect("write to String");
        out
    })
}

fn show(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(|| "-".to_owned(), |bytes| format!("x{}", hex(bytes)))
}

fn timestamp_type_id(timestamp_type: TimestampType) -> u8 {
    match timestamp_type {
        TimestampType::CreateTime => 0,
        TimestampType::LogAppendTime => 1,
    }
}

/// Renders a batch in the dump format of the Python script.
fn render(batch: &DecodedBatch, out: &mut String) {
    let h = &batch.header;
    let timestamp_type = timestamp_type_id(h.timestamp_type());
    writeln!(
        out,
        "batch offset_base={} batch_length={} leader_epoch={} magic=2 crc={} crc_valid=1 \
         attributes={} compression={} timestamp_type={timestamp_type} transactional={} \
         control={} last_offset_delta={} first_timestamp={} max_timestamp={} producer_id={} \
         producer_epoch={} base_sequence={} record_count={}",
        h.offset_base,
        h.batch_length,
        h.partition_leader_epoch,
        h.crc,
        h.attributes,
        h.compression(),
        u8::from(h.is_transactional()),
        u8::from(h.is_control()),
        h.offset_delta_last,
        h.timestamp_base_ms,
        h.timestamp_max_ms,
        h.producer_id,
        h.producer_epoch,
        h.sequence_base,
        h.record_count,
    )
    .expect("write to String");
    for record in &batch.records {
        writeln!(
            out,
            "record offset={} timestamp={} timestamp_type={timestamp_type} key={} value={} \
             headers={}",
            record.offset,
            record.timestamp_ms,
            show(record.key.as_deref()),
            show(record.value.as_deref()),
            record.headers.len()
        )
        .expect("write to String");
        if h.is_control() {
            let marker = ControlRecord::parse(record.key.as_deref(), record.value.as_deref())
                .expect("a control record");
            let kind = match marker.kind {
                ControlType::Abort => 0,
                ControlType::Commit => 1,
            };
            writeln!(
                out,
                "control version=0 type={kind} coordinator_epoch={}",
                marker.coordinator_epoch
            )
            .expect("write to String");
        }
        for header in &record.headers {
            writeln!(
                out,
                "header key={} value={}",
                show(Some(header.key.as_bytes())),
                show(header.value.as_deref())
            )
            .expect("write to String");
        }
    }
}

fn render_end(out: &mut String, batch_count: usize, total_bytes: usize) {
    writeln!(
        out,
        "end batches={batch_count} valid_bytes={total_bytes} total_bytes={total_bytes}"
    )
    .expect("write to String");
}

/// Compares dumps line by line, so a failure names the first differing field.
fn assert_same_dump(actual: &str, expected: &str) {
    for (index, (actual, expected)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(actual, expected, "dump line {index} differs");
    }
    assert_eq!(
        actual.lines().count(),
        expected.lines().count(),
        "dump lengths differ"
    );
}

/// A seeded generator; `BROOKLET_SEED` replays a run.
fn rng() -> fastrand::Rng {
    let seed = std::env::var("BROOKLET_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x6b_6166_6b61);
    eprintln!("kafka_compat: seed {seed} (set BROOKLET_SEED to replay)");
    fastrand::Rng::with_seed(seed)
}

fn random_bytes(rng: &mut fastrand::Rng) -> Option<Vec<u8>> {
    let length = match rng.u8(0..20) {
        0..=3 => return None,
        4..=5 => 0,
        6 => rng.usize(1_000..60_000),
        _ => rng.usize(1..40),
    };
    Some(std::iter::repeat_with(|| rng.u8(..)).take(length).collect())
}

fn random_header(rng: &mut fastrand::Rng) -> Header {
    let keys = ["a", "b", "", "\u{e9}t\u{e9}", "\u{1f600} k", "trace-id"];
    Header {
        key: keys[rng.usize(..keys.len())].to_owned(),
        value: random_bytes(rng),
    }
}

fn random_record(rng: &mut fastrand::Rng) -> Record {
    Record {
        key: random_bytes(rng),
        value: random_bytes(rng),
        headers: (0..rng.usize(0..4)).map(|_| random_header(rng)).collect(),
        timestamp_ms: (rng.u8(0..5) != 0).then(|| rng.i64(0..4_000_000_000_000)),
    }
}

fn bytes_record(key: Option<&[u8]>, value: Option<&[u8]>, timestamp_ms: Option<i64>) -> Record {
    Record {
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: Vec::new(),
        timestamp_ms,
    }
}

/// Batches of every shape brooklet writes: (base offset, records, timestamp type).
fn brooklet_cases() -> Vec<(u64, Vec<Record>, TimestampType)> {
    use TimestampType::{CreateTime, LogAppendTime};
    let mut headers = bytes_record(Some(b"k"), Some(b"v"), Some(5));
    headers.headers = vec![
        Header {
            key: "dup".into(),
            value: Some(b"1".to_vec()),
        },
        Header {
            key: "dup".into(),
            value: None,
        },
        Header {
            key: String::new(),
            value: Some(Vec::new()),
        },
        Header {
            key: "dup".into(),
            value: Some(b"3".to_vec()),
        },
        Header {
            key: "\u{e9}t\u{e9}".into(),
            value: Some(vec![0xff; 200]),
        },
    ];
    let many: Vec<Record> = (0..3000_i64)
        .map(|index| {
            bytes_record(
                Some(&index.to_be_bytes()),
                Some(b"payload"),
                Some(index * 7),
            )
        })
        .collect();
    // One record that fills a batch of MAX_BATCH_SIZE exactly (see the unit tests).
    let largest = vec![bytes_record(
        None,
        Some(&vec![0x5a; MAX_BATCH_SIZE - 72]),
        Some(1),
    )];
    let mut rng = rng();
    let mut cases = vec![
        (0, vec![bytes_record(None, None, Some(0))], CreateTime),
        (
            7,
            vec![
                bytes_record(Some(b""), Some(b""), None),
                bytes_record(None, Some(b"v"), Some(NOW_MS - 10_000)),
                bytes_record(Some(b"k"), None, Some(NOW_MS + 10_000)),
            ],
            CreateTime,
        ),
        (1 << 40, vec![headers.clone(), headers], LogAppendTime),
        (123, many, CreateTime),
        (
            u64::try_from(i64::MAX).expect("positive") - 1,
            vec![
                bytes_record(None, None, Some(9)),
                bytes_record(None, None, Some(3)),
            ],
            LogAppendTime,
        ),
        (1, largest, CreateTime),
    ];
    for _ in 0..60 {
        let record_count = rng.usize(1..30);
        let records: Vec<Record> = (0..record_count).map(|_| random_record(&mut rng)).collect();
        let timestamp_type = if rng.bool() {
            CreateTime
        } else {
            LogAppendTime
        };
        cases.push((rng.u64(0..1 << 50), records, timestamp_type));
    }
    cases
}

/// What a Kafka decoder must read from `bytes`, derived from brooklet's inputs alone (the
/// CRC is taken from the bytes; kafka-python verifies it).
fn expected_batch(
    bytes: &[u8],
    offset_base: u64,
    records: &[Record],
    timestamp_type: TimestampType,
) -> DecodedBatch {
    let timestamps: Vec<i64> = records
        .iter()
        .map(|record| record.timestamp_ms.unwrap_or(NOW_MS))
        .collect();
    let record_count = u32::try_from(records.len()).expect("small batch");
    let header = BatchHeader {
        offset_base,
        batch_length: u32::try_from(bytes.len() - 12).expect("small batch"),
        partition_leader_epoch: -1,
        crc: u32::from_be_bytes(bytes[17..21].try_into().expect("4 bytes")),
        attributes: u16::from(timestamp_type_id(timestamp_type)) << 3,
        offset_delta_last: record_count - 1,
        timestamp_base_ms: timestamps[0],
        timestamp_max_ms: match timestamp_type {
            TimestampType::CreateTime => *timestamps.iter().max().expect("not empty"),
            TimestampType::LogAppendTime => NOW_MS,
        },
        producer_id: -1,
        producer_epoch: -1,
        sequence_base: -1,
        record_count,
    };
    let records = records
        .iter()
        .zip(offset_base..)
        .zip(timestamps)
        .map(|((record, offset), timestamp_ms)| StoredRecord {
            offset,
            timestamp_ms: match timestamp_type {
                TimestampType::CreateTime => timestamp_ms,
                TimestampType::LogAppendTime => NOW_MS,
            },
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record.headers.clone(),
        })
        .collect();
    DecodedBatch { header, records }
}

#[test]
fn kafka_python_decodes_brooklet_batches() {
    if !kafka_python("kafka::compat") {
        return;
    }
    let mut bytes = Vec::new();
    let mut expected = String::new();
    let cases = brooklet_cases();
    for (offset_base, records, timestamp_type) in &cases {
        let batch = encode_batch(*offset_base, records, *timestamp_type, NOW_MS).expect("encode");
        let want = expected_batch(&batch, *offset_base, records, *timestamp_type);
        assert_eq!(
            decode_batch(&batch).expect("brooklet decodes its own batch"),
            want
        );
        render(&want, &mut expected);
        bytes.extend_from_slice(&batch);
    }
    render_end(&mut expected, cases.len(), bytes.len());

    let dir = tempfile::tempdir().expect("tempdir");
    let (batches, dump) = (dir.path().join("batches.bin"), dir.path().join("dump.txt"));
    std::fs::write(&batches, &bytes).expect("write batches");
    python(&[Path::new("decode"), &batches, &dump]);
    assert_same_dump(
        &std::fs::read_to_string(dump).expect("read dump"),
        &expected,
    );
}

/// A batch for kafka-python's `DefaultRecordBatchBuilder` to build.
#[derive(Debug)]
struct ForeignBatch {
    offset_base: u64,
    producer_id: i64,
    producer_epoch: i16,
    sequence_base: i32,
    transactional: bool,
    /// A control batch (a transaction marker), as Kafka's broker writes one.
    control: bool,
    /// Set as Kafka's broker sets it: attribute bit and `maxTimestamp`, CRC recomputed.
    log_append_time: Option<i64>,
    /// Records with their offset deltas (increasing, possibly with gaps) and timestamps.
    records: Vec<(u32, Record)>,
}

fn foreign_cases() -> Vec<ForeignBatch> {
    let plain = |records: Vec<(u32, Record)>| ForeignBatch {
        offset_base: 0,
        producer_id: -1,
        producer_epoch: -1,
        sequence_base: -1,
        transactional: false,
        control: false,
        log_append_time: None,
        records,
    };
    // A transaction marker: control key (version 0, type) and EndTransactionMarker value
    // (version 0, coordinator epoch 5).
    let marker = |kind: u8, offset_base: u64| ForeignBatch {
        offset_base,
        producer_id: 4242,
        producer_epoch: 3,
        sequence_base: -1,
        transactional: true,
        control: true,
        log_append_time: None,
        records: vec![(
            0,
            bytes_record(
                Some(&[0, 0, 0, kind]),
                Some(&[0, 0, 0, 0, 0, 5]),
                Some(NOW_MS),
            ),
        )],
    };
    let mut cases = vec![
        plain(vec![(0, bytes_record(None, None, Some(0)))]),
        plain(vec![
            (0, bytes_record(Some(b""), Some(b"v"), Some(NOW_MS))),
            (1, bytes_record(Some(b"k"), Some(b""), Some(NOW_MS - 99))),
        ]),
        // Gaps and a first delta above 0, as in a compacted Kafka batch.
        ForeignBatch {
            offset_base: 1000,
            ..plain(vec![
                (2, bytes_record(Some(b"a"), Some(b"1"), Some(10))),
                (3, bytes_record(Some(b"b"), None, Some(30))),
                (9, bytes_record(Some(b"c"), Some(b"3"), Some(20))),
            ])
        },
        // An idempotent, transactional producer's batch.
        ForeignBatch {
            offset_base: 55,
            producer_id: 4242,
            producer_epoch: 3,
            sequence_base: 17,
            transactional: true,
            ..plain(vec![(0, bytes_record(Some(b"t"), Some(b"x"), Some(1)))])
        },
        marker(1, 56),
        marker(0, 90),
        ForeignBatch {
            log_append_time: Some(NOW_MS + 1),
            ..plain(vec![
                (0, bytes_record(None, Some(b"late"), Some(5))),
                (1, bytes_record(None, Some(b"later"), Some(3))),
            ])
        },
    ];
    let mut rng = rng();
    for _ in 0..60 {
        let mut offset_delta = rng.u32(0..3);
        let mut records = Vec::new();
        for _ in 0..rng.usize(1..30) {
            let mut record = random_record(&mut rng);
            record.timestamp_ms.get_or_insert(NOW_MS);
            records.push((offset_delta, record));
            offset_delta += if rng.u8(0..4) == 0 { rng.u32(2..50) } else { 1 };
        }
        let idempotent = rng.bool();
        cases.push(ForeignBatch {
            offset_base: rng.u64(0..1 << 50),
            producer_id: if idempotent { rng.i64(0..1 << 40) } else { -1 },
            producer_epoch: if idempotent { rng.i16(0..100) } else { -1 },
            sequence_base: if idempotent { rng.i32(0..1 << 20) } else { -1 },
            transactional: idempotent && rng.bool(),
            control: false,
            log_append_time: rng.bool().then(|| rng.i64(0..4_000_000_000_000)),
            records,
        });
    }
    cases
}

fn write_spec(cases: &[ForeignBatch]) -> String {
    let mut spec = String::new();
    for case in cases {
        let log_append_time = case
            .log_append_time
            .map_or_else(|| "-".to_owned(), |t| t.to_string());
        writeln!(
            spec,
            "batch offset_base={} producer_id={} producer_epoch={} base_sequence={} \
             transactional={} control={} log_append_time={log_append_time}",
            case.offset_base,
            case.producer_id,
            case.producer_epoch,
            case.sequence_base,
            u8::from(case.transactional),
            u8::from(case.control),
        )
        .expect("write to String");
        for (offset_delta, record) in &case.records {
            writeln!(
                spec,
                "record offset={offset_delta} timestamp={} key={} value={}",
                record
                    .timestamp_ms
                    .expect("foreign records carry timestamps"),
                show(record.key.as_deref()),
                show(record.value.as_deref()),
            )
            .expect("write to String");
            for header in &record.headers {
                let key = show(Some(header.key.as_bytes()));
                writeln!(
                    spec,
                    "header key={key} value={}",
                    show(header.value.as_deref())
                )
                .expect("write to String");
            }
        }
    }
    spec
}

/// Checks brooklet's decode of a kafka-python batch against what the builder was given.
fn check_foreign(decoded: &DecodedBatch, case: &ForeignBatch) {
    let h = &decoded.header;
    let timestamps = case
        .records
        .iter()
        .map(|(_, record)| record.timestamp_ms.expect("set"));
    let (offset_delta_last, _) = case.records.last().expect("not empty");
    assert_eq!(h.offset_base, case.offset_base);
    assert_eq!(
        h.partition_leader_epoch, 0,
        "kafka-python leaves the epoch to the broker"
    );
    assert_eq!(
        (h.producer_id, h.producer_epoch),
        (case.producer_id, case.producer_epoch)
    );
    assert_eq!(h.sequence_base, case.sequence_base);
    assert_eq!(h.is_transactional(), case.transactional);
    assert_eq!(h.is_control(), case.control);
    if case.control {
        let record = &decoded.records[0];
        let marker = ControlRecord::parse(record.key.as_deref(), record.value.as_deref())
            .expect("a marker kafka-python's builder made decodes");
        let kind = case.records[0].1.key.as_ref().expect("a key")[3];
        let expected = if kind == 1 {
            ControlType::Commit
        } else {
            ControlType::Abort
        };
        assert_eq!(marker.kind, expected);
        assert_eq!(marker.coordinator_epoch, 5);
    }
    assert_eq!(h.offset_delta_last, *offset_delta_last);
    assert_eq!(h.record_count as usize, case.records.len());
    assert_eq!(
        h.timestamp_base_ms,
        case.records[0].1.timestamp_ms.expect("set")
    );
    let timestamp_max = case
        .log_append_time
        .unwrap_or_else(|| timestamps.max().expect("set"));
    assert_eq!(h.timestamp_max_ms, timestamp_max);
    let timestamp_type = match case.log_append_time {
        None => TimestampType::CreateTime,
        Some(_) => TimestampType::LogAppendTime,
    };
    assert_eq!(h.timestamp_type(), timestamp_type);
    let expected: Vec<StoredRecord> = case
        .records
        .iter()
        .map(|(offset_delta, record)| StoredRecord {
            offset: case.offset_base + u64::from(*offset_delta),
            timestamp_ms: case.log_append_time.or(record.timestamp_ms).expect("set"),
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record.headers.clone(),
        })
        .collect();
    assert_eq!(decoded.records, expected);
}

#[test]
fn brooklet_decodes_kafka_python_batches() {
    if !kafka_python("kafka::compat") {
        return;
    }
    let cases = foreign_cases();
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("spec.txt");
    let (batches, dump) = (dir.path().join("batches.bin"), dir.path().join("dump.txt"));
    std::fs::write(&spec, write_spec(&cases)).expect("write spec");
    python(&[Path::new("encode"), &spec, &batches, &dump]);

    let bytes = std::fs::read(&batches).expect("read batches");
    let mut rendered = String::new();
    let mut position = 0;
    for case in &cases {
        let decoded = decode_batch(&bytes[position..])
            .unwrap_or_else(|err| panic!("batch at byte {position} ({case:?}): {err}"));
        check_foreign(&decoded, case);
        render(&decoded, &mut rendered);
        position += decoded.header.size();
    }
    assert_eq!(position, bytes.len(), "bytes after the last batch");
    render_end(&mut rendered, cases.len(), bytes.len());
    // Every field brooklet reads is what kafka-python reads from the same bytes.
    assert_same_dump(
        &rendered,
        &std::fs::read_to_string(dump).expect("read dump"),
    );
}

#[test]
fn murmur2_partitions_match_kafka_python() {
    if !kafka_python("kafka::compat") {
        return;
    }
    let mut rng = rng();
    let mut keys: Vec<Vec<u8>> = [&b""[..], b"a", b"ab", b"abc", b"abcd", b"21", b"foobar"]
        .iter()
        .map(|key| key.to_vec())
        .collect();
    while keys.len() < 500 {
        let length = rng.usize(0..100);
        keys.push(std::iter::repeat_with(|| rng.u8(..)).take(length).collect());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, output) = (dir.path().join("keys.txt"), dir.path().join("hashes.txt"));
    let lines: String = keys.iter().map(|key| show(Some(key)) + "\n").collect();
    std::fs::write(&input, lines).expect("write keys");
    python(&[Path::new("murmur2"), &input, &output]);

    let output = std::fs::read_to_string(output).expect("read hashes");
    assert_eq!(output.lines().count(), keys.len());
    for (key, line) in keys.iter().zip(output.lines()) {
        let mut mine = vec![u64::from(u32::from_ne_bytes(murmur2(key).to_ne_bytes()))];
        for count in PARTITION_COUNTS {
            let count = NonZeroU32::new(count).expect("non-zero");
            mine.push(u64::from(partition_for_key(key, count)));
        }
        let theirs: Vec<u64> = line
            .split(' ')
            .map(|n| n.parse().expect("a number"))
            .collect();
        assert_eq!(mine, theirs, "key {}", hex(key));
    }
}
