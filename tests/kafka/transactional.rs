//! Transactions as Kafka stores them: the batches of an idempotent producer, of committed
//! and aborted transactions, and their COMMIT and ABORT markers, read raw from a brooklet
//! file and decoded by kafka-python (`kafka_python_segments.py`): every CRC valid, the
//! producer fields and attribute bits as Kafka's broker writes them, and each control
//! record's type and coordinator epoch as kafka-python reads them.

use std::collections::HashMap;
use std::os::unix::fs::FileExt as _;
use std::process::Command;

use brooklet::{Brooklet, Record, SegmentInfo, TopicConfig, TransactionOptions};

use crate::support::kafka::kafka_python;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/kafka/kafka_python_segments.py"
);

fn fields(line: &str) -> (&str, HashMap<&str, &str>) {
    let mut parts = line.split(' ');
    let kind = parts.next().expect("a kind");
    (kind, parts.filter_map(|p| p.split_once('=')).collect())
}

/// What one partition should hold, batch by batch: (transactional, control, producer id,
/// base sequence, marker type).
type Expected = Vec<(u8, u8, i64, i32, Option<u8>)>;

#[test]
fn kafka_python_decodes_transactional_batches_and_markers() {
    if !kafka_python("kafka::transactional") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("txn.brooklet");
    let db = Brooklet::open(&path).expect("open");
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("topic");
    let idempotent = db.producer().idempotent().expect("idempotent");
    let idem_id = idempotent.idempotence().expect("state").producer_id;
    idempotent.send("t", Record::value("i0")).expect("send");
    idempotent
        .send_batch("t", vec![Record::value("i1"), Record::value("i2")])
        .expect("send");
    let options = TransactionOptions {
        buffer_bytes: 200,
        ..TransactionOptions::default()
    };
    let mut producer = db
        .transactional_producer_with("tx", options)
        .expect("producer");
    let txn_id = producer.producer_id_and_epoch().0;
    let mut txn = producer.begin().expect("begin");
    txn.send("t", Record::value("committed")).expect("send");
    txn.commit().expect("commit");
    let mut txn = producer.begin().expect("begin");
    for i in 0..20 {
        txn.send("t", Record::value(format!("aborted-{i:02}")))
            .expect("send");
    }
    txn.abort().expect("abort");
    let segments: Vec<SegmentInfo> = db.admin().segments("t", 0).expect("segments");
    let page_size = u64::from(db.page_size());
    drop(db);

    let dump = dump_segments(&path, &segments, page_size, dir.path());

    let mut batches: Expected = Vec::new();
    let mut counts: Vec<i64> = Vec::new();
    let mut markers = 0;
    for line in dump.lines() {
        let (kind, f) = fields(line);
        let num = |name: &str| -> i64 { f[name].parse().expect("a number") };
        match kind {
            "batch" => {
                assert_eq!(num("crc_valid"), 1, "{line}");
                counts.push(num("record_count"));
                batches.push((
                    u8::try_from(num("transactional")).expect("0 or 1"),
                    u8::try_from(num("control")).expect("0 or 1"),
                    num("producer_id"),
                    i32::try_from(num("base_sequence")).expect("i32"),
                    None,
                ));
            }
            "control" => {
                assert_eq!(num("version"), 0);
                assert_eq!(num("coordinator_epoch"), 0);
                let last = batches.last_mut().expect("a batch first");
                last.4 = Some(u8::try_from(num("type")).expect("0 or 1"));
                markers += 1;
            }
            "end" => assert_eq!(f["valid_bytes"], f["total_bytes"], "{line}"),
            _ => {}
        }
    }
    assert_eq!(markers, 2, "one COMMIT and one ABORT marker");
    // The idempotent sends, with sequences 0 and 1.
    assert_eq!(batches[0], (0, 0, idem_id, 0, None));
    assert_eq!(batches[1], (0, 0, idem_id, 1, None));
    // The committed transaction: its batch, then its COMMIT marker.
    assert_eq!(batches[2], (1, 0, txn_id, 0, None));
    assert_eq!(batches[3], (1, 1, txn_id, -1, Some(1)));
    // The aborted one: stored ahead in batches, then its ABORT marker.
    let last = batches.len() - 1;
    assert_eq!(batches[last], (1, 1, txn_id, -1, Some(0)));
    assert!(
        last > 5,
        "the aborted transaction was stored ahead in several commits"
    );
    let mut sequence = 1;
    for (batch, count) in batches[4..last].iter().zip(&counts[4..last]) {
        assert_eq!((batch.0, batch.1, batch.2), (1, 0, txn_id));
        assert_eq!(
            i64::from(batch.3),
            sequence,
            "sequences continue across the stored-ahead batches"
        );
        sequence += count;
    }
    assert_eq!(sequence, 21, "all 20 aborted records were stored");
}

/// Copies each segment's bytes from the file and returns kafka-python's dump of them.
fn dump_segments(
    path: &std::path::Path,
    segments: &[SegmentInfo],
    page_size: u64,
    dir: &std::path::Path,
) -> String {
    let file = std::fs::File::open(path).expect("open file");
    let mut copies = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        let mut bytes = vec![0u8; s.bytes_used as usize];
        file.read_exact_at(&mut bytes, u64::from(s.first_page) * page_size)
            .expect("read segment");
        let copy = dir.join(format!("segment-{i}"));
        std::fs::write(&copy, bytes).expect("write copy");
        copies.push(copy);
    }
    let out = dir.join("dump.txt");
    let mut command = Command::new("python3");
    command.arg(SCRIPT).arg(&out).args(&copies);
    let status = command.status().expect("run python3");
    assert!(status.success(), "kafka_python_segments.py failed");
    std::fs::read_to_string(&out).expect("dump")
}
