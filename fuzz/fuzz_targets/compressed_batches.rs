//! Compressed batches, structure-aware: each input builds one batch with a valid header and
//! a valid CRC whose records section is fuzzed in one of two ways: the compressed bytes
//! themselves (to reach the codecs' decoders and the decompression bound), or fuzzed
//! records compressed properly by the codec crates (to reach the record parser behind a
//! valid stream, with a fuzzed record count). The batch is decoded alone, then stored as
//! sent in a fresh file and read through fetch, fetched batches' records, `check` and
//! compaction.
//!
//! Nothing may panic or allocate past the bound; a batch `decode_batch` refuses must be
//! refused by every read of it.

#![no_main]

use std::io::Write as _;
use std::sync::Arc;

use brooklet::kafka::{BATCH_HEADER_SIZE, decode_batch};
use brooklet::storage::MemStorage;
use brooklet::{Brooklet, FetchLimits, Options, TopicConfig};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Section {
    /// The compressed bytes as given.
    Raw(Vec<u8>),
    /// These bytes as the records, compressed by the codec.
    Compressed(Vec<u8>),
    /// `count` copies of one small record, compressed: a valid stream of many records.
    Repeated { record: Vec<u8>, count: u16 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    codec: u8,
    record_count: u16,
    offset_delta_last: u16,
    log_append_time: bool,
    section: Section,
}

fn compress(codec: u16, bytes: &[u8]) -> Vec<u8> {
    match codec {
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(bytes).expect("gzip");
            e.finish().expect("gzip")
        }
        2 => snap::raw::Encoder::new()
            .compress_vec(bytes)
            .expect("snappy"),
        3 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(bytes).expect("lz4");
            e.finish().expect("lz4")
        }
        _ => zstd::encode_all(bytes, 1).expect("zstd"),
    }
}

fn batch(input: &Input) -> Vec<u8> {
    let codec = u16::from(input.codec % 7) + 1; // 1..=7: the four codecs and invalid ids
    let section = match &input.section {
        Section::Raw(bytes) => bytes.clone(),
        Section::Compressed(bytes) => compress(codec.min(4), bytes),
        Section::Repeated { record, count } => {
            let plain: Vec<u8> =
                std::iter::repeat_n(&record[..record.len().min(64)], usize::from(*count))
                    .flatten()
                    .copied()
                    .collect();
            compress(codec.min(4), &plain)
        }
    };
    let mut out = vec![0u8; BATCH_HEADER_SIZE];
    out.extend_from_slice(&section);
    let length = i32::try_from(out.len() - 12).expect("small");
    out[8..12].copy_from_slice(&length.to_be_bytes());
    out[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    out[16] = 2;
    let attributes = codec | if input.log_append_time { 0x08 } else { 0 };
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    out[23..27].copy_from_slice(&i32::from(input.offset_delta_last).to_be_bytes());
    out[27..35].copy_from_slice(&1_000i64.to_be_bytes());
    out[35..43].copy_from_slice(&2_000i64.to_be_bytes());
    out[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    out[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    out[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    out[57..61].copy_from_slice(&i32::from(input.record_count).to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

fuzz_target!(|input: Input| {
    let batch = batch(&input);
    let decoded = decode_batch(&batch);
    let options = Options::default().page_size(4096).maintain_on_open(false);
    let db = Brooklet::open_storage(Arc::new(MemStorage::new()), options).expect("open");
    let config = TopicConfig::from_pairs([("cleanup.policy", "compact,delete")]).expect("config");
    db.admin().create_topic("t", 1, config).expect("create");
    if db.admin().append_raw_batch("t", 0, &batch).is_err() {
        // Only a header the decoder refuses too is refused here.
        assert!(decoded.is_err(), "append refused a batch that decodes");
        return;
    }
    let fetched = db.fetch("t", 0, 0, FetchLimits::default());
    let batches = db
        .fetch_batches("t", 0, 0, FetchLimits::default())
        .expect("stored bytes are fetched as they are");
    let records: Result<Vec<_>, _> = batches
        .records()
        .map(|r| r.map(|r| r.to_owned_record()))
        .collect();
    let clean = db.admin().check().expect("check runs").is_clean();
    match &decoded {
        Ok(decoded) => {
            assert_eq!(fetched.expect("fetch").records, decoded.records);
            assert_eq!(records.expect("records"), decoded.records);
        }
        Err(_) => {
            assert!(fetched.is_err(), "fetch read a batch decode_batch refuses");
            assert!(
                records.is_err(),
                "records read a batch decode_batch refuses"
            );
            assert!(!clean, "check passed a batch decode_batch refuses");
        }
    }
    let _ = db.admin().compact();
});
