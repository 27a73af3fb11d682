//! Hostile compressed batches with valid CRCs, stored as sent: a decompression bomb (a
//! small batch whose records expand past `MAX_DECOMPRESSED_SIZE`), compressed bytes that
//! are garbage or cut short, a codec id past 4, and record counts that disagree with the
//! decompressed records. Every read path (fetch, fetched batches' records, a reader,
//! `decode_batch`), `check` and compaction report a typed `BadBatch`, never a panic, and
//! never allocate past the bound (the binary's allocator is capped at 1 GiB).

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::ALLOCATOR;
use brooklet::kafka::{BATCH_HEADER_SIZE, MAX_DECOMPRESSED_SIZE, decode_batch, encode_batch};
use brooklet::storage::MemStorage;
use brooklet::{
    Brooklet, CorruptionKind, Error, FetchLimits, Options, Position, Record, TimestampType,
    TopicConfig,
};

fn records(count: usize) -> Vec<Record> {
    (0..count)
        .map(|i| Record::new(Some(format!("k{}", i % 3).into_bytes()), vec![b'v'; 40]))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).expect("zstd")
}

/// The batch `plain` (uncompressed, as brooklet encodes it) with `section` as its records
/// section, `codec` in its attributes and `record_count` records (and as many offsets, if
/// more than it has), its CRC recomputed.
fn rebuilt(plain: &[u8], codec: u16, section: &[u8], record_count: i32) -> Vec<u8> {
    let mut batch = plain[..BATCH_HEADER_SIZE].to_vec();
    batch.extend_from_slice(section);
    let length = u32::try_from(batch.len() - 12).expect("small");
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    let attributes = u16::from_be_bytes([batch[21], batch[22]]) | codec;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    batch[57..61].copy_from_slice(&record_count.to_be_bytes());
    let delta_last = i32::from_be_bytes(batch[23..27].try_into().expect("4 bytes"));
    let delta_last = delta_last.max(record_count - 1);
    batch[23..27].copy_from_slice(&delta_last.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// Hostile batches, each named, with the reason its decode gives.
fn hostile() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let plain = encode_batch(0, &records(10), TimestampType::CreateTime, 1).expect("encode");
    let section = &plain[BATCH_HEADER_SIZE..];
    let bomb_input = vec![0u8; MAX_DECOMPRESSED_SIZE + 1024];
    let bomb = "compressed records expand past MAX_DECOMPRESSED_SIZE (64 MiB)";
    let zstd_bad = "zstd records section is malformed or truncated";
    let packed = zstd(section);
    vec![
        (
            "gzip bomb",
            rebuilt(&plain, 1, &gzip(&bomb_input), 10),
            bomb,
        ),
        (
            "zstd bomb",
            rebuilt(&plain, 4, &zstd(&bomb_input), 10),
            bomb,
        ),
        (
            "garbage",
            rebuilt(
                &plain,
                1,
                &[0x1f, 0x8b, 8, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9],
                10,
            ),
            "gzip records section is malformed or truncated",
        ),
        (
            "truncated",
            rebuilt(&plain, 4, &packed[..packed.len() / 2], 10),
            zstd_bad,
        ),
        (
            "codec 6",
            rebuilt(&plain, 6, section, 10),
            "compression codec is not 0 to 4",
        ),
        (
            "one record too few",
            rebuilt(&plain, 4, &packed, 9),
            "bytes left after the last record",
        ),
        ("one record too many", rebuilt(&plain, 4, &packed, 11), ""),
        (
            "a count past the decompressed bytes",
            rebuilt(&plain, 4, &packed, 200_000),
            "record count does not fit the decompressed records",
        ),
    ]
}

fn is_bad_batch(error: &Error) -> bool {
    matches!(
        error,
        Error::Corrupt {
            kind: CorruptionKind::BadBatch(_),
            ..
        }
    )
}

#[test]
fn hostile_compressed_batches_are_typed_errors_on_every_path() {
    ALLOCATOR
        .set_limit(1 << 30)
        .expect("cap allocations at 1 GiB");
    for (name, batch, reason) in hostile() {
        match decode_batch(&batch) {
            Err(Error::Corrupt {
                kind: CorruptionKind::BadBatch(why),
                ..
            }) => assert!(reason.is_empty() || why == reason, "{name}: {why}"),
            other => panic!("{name}: decode_batch gave {other:?}"),
        }
        let options = Options::default().page_size(4096).maintain_on_open(false);
        let db = Brooklet::open_storage(Arc::new(MemStorage::new()), options).expect("open");
        let config = TopicConfig::from_pairs([("cleanup.policy", "compact")]).expect("config");
        db.admin().create_topic("t", 1, config).expect("create");
        let good = encode_batch(0, &records(5), TimestampType::CreateTime, 1).expect("encode");
        db.admin().append_raw_batch("t", 0, &good).expect("good");
        if name == "codec 6" {
            // Refused as it is appended: its header is not a valid one.
            let error = db.admin().append_raw_batch("t", 0, &batch).expect_err(name);
            assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}");
            continue;
        }
        db.admin()
            .append_raw_batch("t", 0, &batch)
            .expect("stored as sent");

        let error = db.fetch("t", 0, 0, FetchLimits::default()).expect_err(name);
        assert!(is_bad_batch(&error), "{name}: fetch gave {error:?}");

        let fetched = db
            .fetch_batches("t", 0, 0, FetchLimits::default())
            .expect("the stored bytes are fetched as they are");
        let mut items: Vec<_> = fetched.records().collect();
        // The good batch's records (and those of the hostile one parsed before what is
        // wrong with it is found), then the one error that ends the iteration.
        let error = items.pop().expect("items").expect_err(name);
        assert!(is_bad_batch(&error), "{name}: records gave {error:?}");
        assert!(
            items.len() >= 5 && items.iter().all(Result::is_ok),
            "{name}"
        );

        let mut reader = db.reader();
        reader.assign("t", 0, Position::Offset(5)).expect("assign");
        let error = reader.poll(Duration::ZERO).expect_err(name);
        assert!(is_bad_batch(&error), "{name}: reader gave {error:?}");

        let report = db.admin().check().expect("check runs");
        assert!(!report.is_clean(), "{name}: check reports the batch");
        // Compaction reads the batch only once it is cleanable (below the active segment);
        // either way it returns, and it never rewrites the batch as if valid.
        let _ = db.admin().compact();
    }
}
