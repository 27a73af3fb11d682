//! Compressed batches: each codec of `compression.type` through brooklet's producers (plain,
//! idempotent, transactional), read back through every reader (fetch, fetched batches'
//! records, `Reader`, `Consumer`), checked, compacted with keys, and stored smaller; and
//! batches compressed by the codec crates directly (snappy also in the xerial framing),
//! appended as they were made and read back through the same paths.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use brooklet::kafka::{BATCH_HEADER_SIZE, BatchHeader, encode_batch, verify_batch};
use brooklet::storage::MemStorage;
use brooklet::{
    Brooklet, ConsumerOptions, FetchLimits, Header, Options, Position, Record, StoredRecord,
    TimestampType, TopicConfig,
};

const CODECS: [(&str, u16); 4] = [("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)];

fn memory_db() -> Brooklet {
    let options = Options::default().page_size(4096).maintain_on_open(false);
    Brooklet::open_storage(Arc::new(MemStorage::new()), options).expect("open")
}

/// A JSON-like record: compresses well, as event payloads do.
fn record(i: usize) -> Record {
    let value = format!(
        r#"{{"user":"user-{}","event":"page_view","path":"/items/{}","ok":true,"n":{i}}}"#,
        i % 50,
        i % 7
    );
    Record {
        key: Some(format!("key-{}", i % 20).into_bytes()),
        value: Some(value.into_bytes()),
        headers: vec![Header {
            key: "trace".into(),
            value: (!i.is_multiple_of(3)).then(|| vec![u8::try_from(i % 256).expect("a byte")]),
        }],
        timestamp_ms: Some(1_700_000_000_000 + i64::try_from(i).expect("small")),
    }
}

fn fetch_all(db: &Brooklet, topic: &str) -> Vec<StoredRecord> {
    let end = db.end_offset(topic, 0).expect("end");
    let mut out = Vec::new();
    let mut offset = db.beginning_offset(topic, 0).expect("beginning");
    while offset < end {
        let fetched = db
            .fetch(topic, 0, offset, FetchLimits::default())
            .expect("fetch");
        out.extend(fetched.records);
        offset = fetched.next_offset;
    }
    out
}

/// Every record through `fetch_batches` and its borrowed records; also returns the codec
/// ids of the data batches as stored.
fn fetch_batches_all(db: &Brooklet, topic: &str) -> (Vec<StoredRecord>, Vec<u16>) {
    let end = db.end_offset(topic, 0).expect("end");
    let (mut records, mut codecs) = (Vec::new(), Vec::new());
    let mut offset = db.beginning_offset(topic, 0).expect("beginning");
    while offset < end {
        let fetched = db
            .fetch_batches(topic, 0, offset, FetchLimits::default())
            .expect("fetch_batches");
        for record in fetched.records() {
            records.push(record.expect("record").to_owned_record());
        }
        let mut bytes = fetched.bytes();
        while !bytes.is_empty() {
            let header = verify_batch(bytes).expect("stored batch");
            if !header.is_control() {
                codecs.push(header.compression());
            }
            bytes = &bytes[header.size()..];
        }
        offset = fetched.next_offset;
    }
    (records, codecs)
}

fn read_with_reader(db: &Brooklet, topic: &str, count: usize) -> Vec<StoredRecord> {
    let mut reader = db.reader();
    reader
        .assign(topic, 0, Position::Beginning)
        .expect("assign");
    let mut out = Vec::new();
    while out.len() < count {
        let polled = reader.poll(Duration::from_millis(10)).expect("poll");
        assert!(!polled.is_empty(), "the reader stops at {}", out.len());
        out.extend(polled.into_iter().map(|r| r.record));
    }
    out
}

fn read_with_consumer(db: &Brooklet, topic: &str, count: usize) -> Vec<StoredRecord> {
    let options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        ..Default::default()
    };
    let mut consumer = db.consumer("g", &[topic], options).expect("join");
    let mut out = Vec::new();
    while out.len() < count {
        let polled = consumer.poll(Duration::from_millis(50)).expect("poll");
        assert!(!polled.is_empty(), "the consumer stops at {}", out.len());
        out.extend(polled.into_iter().map(|r| r.record));
    }
    out
}

fn file_bytes(codec: &str, count: usize) -> (Brooklet, Vec<Record>) {
    let db = memory_db();
    let config = TopicConfig::from_pairs([("compression.type", codec)]).expect("config");
    db.admin().create_topic("t", 1, config).expect("create");
    let records: Vec<Record> = (0..count).map(record).collect();
    for chunk in records.chunks(500) {
        db.producer()
            .send_batch_to("t", 0, chunk.to_vec())
            .expect("send");
    }
    (db, records)
}

fn assert_same(got: &[StoredRecord], sent: &[Record], what: &str) {
    assert_eq!(got.len(), sent.len(), "{what}: record count");
    for (offset, (got, sent)) in got.iter().zip(sent).enumerate() {
        assert_eq!(got.offset, offset as u64, "{what}");
        assert_eq!(got.key, sent.key, "{what} at {offset}");
        assert_eq!(got.value, sent.value, "{what} at {offset}");
        assert_eq!(got.headers, sent.headers, "{what} at {offset}");
        assert_eq!(
            Some(got.timestamp_ms),
            sent.timestamp_ms,
            "{what} at {offset}"
        );
    }
}

#[test]
fn each_codec_round_trips_through_every_reader_and_stores_less() {
    let count = 3000;
    let (plain, _) = file_bytes("producer", count);
    let plain_bytes = plain.admin().segments("t", 0).expect("segments");
    let plain_used: u64 = plain_bytes.iter().map(|s| u64::from(s.bytes_used)).sum();
    let (_, plain_codecs) = fetch_batches_all(&plain, "t");
    assert!(plain_codecs.iter().all(|&c| c == 0));
    for (codec, id) in CODECS {
        let (db, sent) = file_bytes(codec, count);
        assert_same(&fetch_all(&db, "t"), &sent, codec);
        let (borrowed, codecs) = fetch_batches_all(&db, "t");
        assert_same(&borrowed, &sent, codec);
        assert!(
            !codecs.is_empty() && codecs.iter().all(|&c| c == id),
            "{codec}: {codecs:?}"
        );
        assert_same(&read_with_reader(&db, "t", count), &sent, codec);
        assert_same(&read_with_consumer(&db, "t", count), &sent, codec);
        assert!(db.admin().check().expect("check").is_clean(), "{codec}");
        let used: u64 = db
            .admin()
            .segments("t", 0)
            .expect("segments")
            .iter()
            .map(|s| u64::from(s.bytes_used))
            .sum();
        assert!(
            used * 3 < plain_used,
            "{codec}: {used} bytes, {plain_used} uncompressed"
        );
        // A fetch that starts inside a compressed batch skips the records before it.
        let fetched = db
            .fetch_batches("t", 0, 777, FetchLimits::default())
            .expect("fetch_batches");
        let first = fetched.records().next().expect("a record").expect("valid");
        assert_eq!(first.offset, 777, "{codec}");
    }
}

#[test]
fn idempotent_and_transactional_producers_compress_too() {
    for (codec, id) in CODECS {
        let db = memory_db();
        let config = TopicConfig::from_pairs([("compression.type", codec)]).expect("config");
        db.admin().create_topic("t", 1, config).expect("create");
        let sent: Vec<Record> = (0..400).map(record).collect();
        let producer = db.producer().idempotent().expect("idempotent");
        producer
            .send_batch_to("t", 0, sent[..200].to_vec())
            .expect("send");
        let mut txn_producer = db.transactional_producer("tx").expect("producer");
        let mut txn = txn_producer.begin().expect("begin");
        for r in &sent[200..] {
            txn.send_to("t", 0, r.clone()).expect("send");
        }
        txn.commit().expect("commit");
        let (got, codecs) = fetch_batches_all(&db, "t");
        assert_same(&got, &sent, codec);
        assert!(codecs.iter().all(|&c| c == id), "{codec}: {codecs:?}");
        assert_same(&fetch_all(&db, "t"), &sent, codec);
        assert!(db.admin().check().expect("check").is_clean(), "{codec}");
    }
}

#[test]
fn compaction_rewrites_compressed_batches_with_their_codec() {
    for (codec, id) in CODECS {
        let db = memory_db();
        let config = TopicConfig::from_pairs([
            ("compression.type", codec),
            ("cleanup.policy", "compact"),
            ("segment.bytes", "65536"),
            ("min.cleanable.dirty.ratio", "1"),
        ])
        .expect("config");
        db.admin().create_topic("t", 1, config).expect("create");
        let total = 20_000;
        let sent: Vec<Record> = (0..total).map(record).collect();
        for chunk in sent.chunks(300) {
            db.producer()
                .send_batch_to("t", 0, chunk.to_vec())
                .expect("send");
        }
        let report = db.admin().compact().expect("compact");
        assert!(report.records_removed > 0, "{codec}");
        assert!(db.admin().check().expect("check").is_clean(), "{codec}");
        let (got, codecs) = fetch_batches_all(&db, "t");
        assert!(codecs.iter().all(|&c| c == id), "{codec}: {codecs:?}");
        assert_eq!(got.len() as u64 + report.records_removed, total as u64);
        // Every key's latest record survives, with its value; offsets only rise.
        for key in 0..20 {
            let last = (0..total).rev().find(|i| i % 20 == key).expect("a record");
            let want = record(last);
            let kept = got.iter().rfind(|r| r.key == want.key).expect("kept");
            assert_eq!(
                (kept.offset, &kept.value),
                (last as u64, &want.value),
                "{codec}"
            );
        }
        assert!(got.windows(2).all(|w| w[0].offset < w[1].offset));
        assert_eq!(fetch_all(&db, "t"), got, "{codec}");
        // Some batch lost records and was rewritten, compressed again with its codec.
        let fetched = db
            .fetch_batches("t", 0, 0, FetchLimits::default())
            .expect("fetch");
        let header = verify_batch(fetched.bytes()).expect("the first batch");
        assert!(
            header.record_count <= header.offset_delta_last && header.compression() == id,
            "{codec}: {header:?}"
        );
    }
}

/// Compresses `section` with the codec crates directly, not through brooklet.
fn compress_independently(id: u16, section: &[u8], xerial: bool) -> Vec<u8> {
    match id {
        1 => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(section).expect("gzip");
            encoder.finish().expect("gzip")
        }
        2 if xerial => {
            // Kafka's Java client: magic, version 1, compatible version 1, then blocks of
            // at most 32 KiB, each behind its big-endian length.
            let mut out = vec![
                0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
            ];
            for chunk in section.chunks(32 << 10) {
                let block = snap::raw::Encoder::new()
                    .compress_vec(chunk)
                    .expect("snappy");
                out.extend_from_slice(&u32::try_from(block.len()).expect("small").to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        2 => snap::raw::Encoder::new()
            .compress_vec(section)
            .expect("snappy"),
        3 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder.write_all(section).expect("lz4");
            encoder.finish().expect("lz4")
        }
        4 => zstd::encode_all(section, 9).expect("zstd"),
        _ => section.to_vec(),
    }
}

/// A batch of `records` at offset 0 whose records section is `compressed` (the codec's
/// output for the uncompressed section) and whose attributes name codec `id`: the header
/// rebuilt as Kafka's producers write it, the CRC over the compressed bytes.
fn rebuild(uncompressed: &[u8], id: u16, compressed: &[u8]) -> Vec<u8> {
    let mut batch = uncompressed[..BATCH_HEADER_SIZE].to_vec();
    batch.extend_from_slice(compressed);
    let length = u32::try_from(batch.len() - 12).expect("small");
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    let attributes = u16::from_be_bytes([batch[21], batch[22]]) | id;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// A batch compressed by an independent encoder.
pub(crate) fn independent_batch(records: &[Record], id: u16, xerial: bool) -> Vec<u8> {
    let plain = encode_batch(0, records, TimestampType::CreateTime, 1).expect("encode");
    let compressed = compress_independently(id, &plain[BATCH_HEADER_SIZE..], xerial);
    rebuild(&plain, id, &compressed)
}

#[test]
fn batches_compressed_by_the_codec_crates_are_stored_as_sent_and_read() {
    let db = memory_db();
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    let mut sent = Vec::new();
    let mut batches = Vec::new();
    let variants = CODECS
        .iter()
        .map(|&(_, id)| (id, false))
        .chain([(2, true), (0, false)]);
    for (round, (id, xerial)) in variants.enumerate() {
        let records: Vec<Record> = (round * 100..round * 100 + 100).map(record).collect();
        let batch = independent_batch(&records, id, xerial);
        let offset = db.admin().append_raw_batch("t", 0, &batch).expect("append");
        assert_eq!(offset, sent.len() as u64);
        sent.extend(records);
        batches.push(batch);
    }
    assert_same(&fetch_all(&db, "t"), &sent, "fetch");
    let (borrowed, codecs) = fetch_batches_all(&db, "t");
    assert_same(&borrowed, &sent, "fetch_batches");
    assert_eq!(codecs, [1, 2, 3, 4, 2, 0]);
    assert_same(&read_with_reader(&db, "t", sent.len()), &sent, "reader");
    assert!(db.admin().check().expect("check").is_clean());
    // Stored as sent: the bytes after the base offset and leader epoch are the batch's.
    let mut stored = Vec::new();
    let mut offset = 0;
    while offset < db.end_offset("t", 0).expect("end") {
        let fetched = db
            .fetch_batches("t", 0, offset, FetchLimits::default())
            .expect("fetch");
        stored.extend_from_slice(fetched.bytes());
        offset = fetched.next_offset;
    }
    let mut stored = &stored[..];
    for batch in &batches {
        let size = BatchHeader::parse(stored).expect("header").size();
        assert_eq!(&stored[16..size], &batch[16..], "a batch as sent");
        stored = &stored[size..];
    }
    assert!(stored.is_empty());
}
