//! Unit and property tests of the batch codec: exact layout, round trips, limits, and
//! decoder totality on arbitrary and damaged bytes.

#![expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use super::batch::*;
use super::record::Header;
use super::record::{Record, StoredRecord, TimestampType};
use super::records::decode_batch;
use super::records::*;
use super::wire::{put_varint, put_varlong};
use crate::error::CorruptionKind;
use crate::error::{Error, Result};
use proptest::prelude::*;

const NOW_MS: i64 = 1_700_000_000_000;

fn record(key: Option<&[u8]>, value: Option<&[u8]>, timestamp_ms: Option<i64>) -> Record {
    Record {
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: Vec::new(),
        timestamp_ms,
    }
}

fn header(key: &str, value: Option<&[u8]>) -> Header {
    Header {
        key: key.to_owned(),
        value: value.map(<[u8]>::to_vec),
    }
}

/// The records `decode_batch` must return for `records` encoded at `offset_base`.
fn expected(
    offset_base: u64,
    records: &[Record],
    timestamp_type: TimestampType,
) -> Vec<StoredRecord> {
    records
        .iter()
        .zip(offset_base..)
        .map(|(record, offset)| StoredRecord {
            offset,
            timestamp_ms: match timestamp_type {
                TimestampType::CreateTime => record.timestamp_ms.unwrap_or(NOW_MS),
                TimestampType::LogAppendTime => NOW_MS,
            },
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record.headers.clone(),
        })
        .collect()
}

fn bad_batch_reason(result: Result<DecodedBatch>) -> &'static str {
    match result {
        Err(Error::Corrupt {
            page: None,
            kind: CorruptionKind::BadBatch(why),
        }) => why,
        other => panic!("expected a BadBatch error, got {other:?}"),
    }
}

/// Recomputes the CRC after a test edited a batch.
fn reseal(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[OFF_ATTRIBUTES..]);
    batch[OFF_CRC..OFF_ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
}

/// Builds a batch around hand-written record bytes, as a foreign producer might.
fn raw_batch(offset_delta_last: i32, record_count: i32, records: &[u8]) -> Vec<u8> {
    let mut batch = encode_batch(
        0,
        &[record(None, None, Some(0))],
        TimestampType::CreateTime,
        0,
    )
    .unwrap()[..BATCH_HEADER_SIZE]
        .to_vec();
    batch.extend_from_slice(records);
    let batch_length = i32::try_from(batch.len() - LOG_OVERHEAD).unwrap();
    batch[OFF_BATCH_LENGTH..OFF_LEADER_EPOCH].copy_from_slice(&batch_length.to_be_bytes());
    batch[23..27].copy_from_slice(&offset_delta_last.to_be_bytes());
    batch[OFF_RECORD_COUNT..BATCH_HEADER_SIZE].copy_from_slice(&record_count.to_be_bytes());
    reseal(&mut batch);
    batch
}

/// One hand-written record with the given offset delta, null key and value, no headers.
fn raw_record(offset_delta: i32) -> Vec<u8> {
    let mut body = vec![0, 0]; // attributes, timestamp delta
    put_varint(&mut body, offset_delta);
    body.extend_from_slice(&[1, 1, 0]); // null key, null value, no headers
    let mut out = Vec::new();
    put_varint(&mut out, i32::try_from(body.len()).unwrap());
    out.extend_from_slice(&body);
    out
}

#[test]
fn encodes_kafkas_exact_layout() {
    let mut first = record(Some(b"k"), Some(b"vv"), Some(1000));
    first.headers.push(header("h", None));
    let records = [first, record(None, Some(b""), Some(998))];
    let bytes = encode_batch(5, &records, TimestampType::CreateTime, NOW_MS).unwrap();

    let record_0 = [
        0x18, // length 12
        0, 0, 0, // attributes, timestamp delta 0, offset delta 0
        0x02, b'k', 0x04, b'v', b'v', // key, value
        0x02, 0x02, b'h', 0x01, // one header "h" with a null value
    ];
    let record_1 = [
        0x0c, // length 6
        0, 0x03, 0x02, // attributes, timestamp delta -2, offset delta 1
        0x01, 0x00, 0x00, // null key, empty value, no headers
    ];
    assert_eq!(&bytes[BATCH_HEADER_SIZE..][..record_0.len()], record_0);
    assert_eq!(&bytes[BATCH_HEADER_SIZE + record_0.len()..], record_1);

    let total = BATCH_HEADER_SIZE + record_0.len() + record_1.len();
    assert_eq!(bytes.len(), total);
    assert_eq!(bytes[..8], 5_i64.to_be_bytes());
    assert_eq!(
        bytes[8..12],
        i32::try_from(total - 12).unwrap().to_be_bytes()
    );
    assert_eq!(bytes[12..16], (-1_i32).to_be_bytes());
    assert_eq!(bytes[16], 2);
    let crc = crc32c::crc32c(&bytes[21..]);
    assert_eq!(bytes[17..21], crc.to_be_bytes());
    assert_eq!(bytes[21..23], [0, 0]);
    assert_eq!(bytes[23..27], 1_i32.to_be_bytes());
    assert_eq!(bytes[27..35], 1000_i64.to_be_bytes());
    assert_eq!(bytes[35..43], 1000_i64.to_be_bytes());
    assert_eq!(bytes[43..51], (-1_i64).to_be_bytes());
    assert_eq!(bytes[51..53], (-1_i16).to_be_bytes());
    assert_eq!(bytes[53..57], (-1_i32).to_be_bytes());
    assert_eq!(bytes[57..61], 2_i32.to_be_bytes());

    let header = verify_batch(&bytes).unwrap();
    assert_eq!(header.crc, crc);
    assert_eq!((header.offset_base, header.offset_last()), (5, 6));
    assert_eq!(header.size(), total);
}

#[test]
fn round_trips_and_fills_in_missing_timestamps() {
    let mut with_headers = record(Some(b""), None, None);
    with_headers.headers = vec![
        header("dup", Some(b"1")),
        header("", Some(b"")),
        header("dup", None),
        header("dup", Some(b"3")),
    ];
    let records = [
        record(None, None, Some(50)),
        with_headers,
        record(Some(&[0xff; 300]), Some(&vec![7; 70_000]), Some(NOW_MS + 5)),
        record(Some(b"k"), Some(b"v"), Some(0)),
    ];
    for timestamp_type in [TimestampType::CreateTime, TimestampType::LogAppendTime] {
        let bytes = encode_batch(42, &records, timestamp_type, NOW_MS).unwrap();
        let batch = decode_batch(&bytes).unwrap();
        assert_eq!(batch.records, expected(42, &records, timestamp_type));
        let header = batch.header;
        assert_eq!(header.timestamp_type(), timestamp_type);
        assert_eq!(header.timestamp_base_ms, 50, "first record's own timestamp");
        let max = match timestamp_type {
            TimestampType::CreateTime => NOW_MS + 5,
            TimestampType::LogAppendTime => NOW_MS,
        };
        assert_eq!(header.timestamp_max_ms, max);
        assert_eq!((header.record_count, header.offset_delta_last), (4, 3));
        assert_eq!((header.producer_id, header.producer_epoch), (-1, -1));
        assert_eq!(
            (header.sequence_base, header.partition_leader_epoch),
            (-1, -1)
        );
        assert!(!header.is_transactional() && !header.is_control());
        assert_eq!(header.compression(), 0);
    }
}

#[test]
fn encode_into_appends_and_leaves_the_buffer_alone_on_error() {
    let records = [record(Some(b"a"), Some(b"b"), Some(1))];
    let mut out = b"prefix".to_vec();
    let size = encode_batch_into(&mut out, 0, &records, TimestampType::CreateTime, 1).unwrap();
    assert_eq!(out.len(), 6 + size);
    assert_eq!(decode_batch(&out[6..]).unwrap().records.len(), 1);
    let before = out.clone();
    let bad = [record(None, None, Some(-5))];
    assert!(encode_batch_into(&mut out, 0, &bad, TimestampType::CreateTime, 1).is_err());
    assert_eq!(out, before);
}

fn invalid_message(result: Result<Vec<u8>>) -> String {
    match result {
        Err(Error::InvalidArgument(message)) => message,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

fn too_large_message(result: Result<Vec<u8>>, limit: usize) -> String {
    match result {
        Err(e @ Error::RecordTooLarge { size, max, .. }) => {
            assert_eq!(max, limit);
            assert!(size > max, "{e}");
            e.to_string()
        }
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
}

#[test]
fn rejects_what_kafka_rejects_and_names_the_limits() {
    let create = TimestampType::CreateTime;
    let one = [record(None, Some(b"v"), None)];
    assert!(invalid_message(encode_batch(0, &[], create, NOW_MS)).contains("at least one"));
    assert!(invalid_message(encode_batch(0, &one, create, -1)).contains("negative"));
    let negative = [record(None, None, Some(1)), record(None, None, Some(-1))];
    assert!(invalid_message(encode_batch(0, &negative, create, NOW_MS)).contains("record 1"));
    let last = u64::try_from(i64::MAX).unwrap();
    assert!(encode_batch(last, &one, create, NOW_MS).is_ok());
    let two = [one[0].clone(), one[0].clone()];
    assert!(invalid_message(encode_batch(last, &two, create, NOW_MS)).contains("largest offset"));
    assert!(invalid_message(encode_batch(last + 1, &one, create, NOW_MS)).contains("offset"));

    let huge = [record(None, Some(&vec![0; MAX_RECORD_SIZE]), Some(0))];
    let message = too_large_message(encode_batch(0, &huge, create, NOW_MS), MAX_RECORD_SIZE);
    assert!(
        message.contains("MAX_RECORD_SIZE") && message.contains("1048527"),
        "{message}"
    );

    let half = record(None, Some(&vec![0; MAX_RECORD_SIZE / 2]), Some(0));
    let message = too_large_message(
        encode_batch(0, &[half.clone(), half], create, NOW_MS),
        MAX_BATCH_SIZE,
    );
    assert!(
        message.contains("MAX_BATCH_SIZE") && message.contains("1048588"),
        "{message}"
    );
}

#[test]
fn the_largest_record_fills_the_largest_batch_exactly() {
    // Length prefix (3) + attributes, deltas, null key (4) + value length (3) + headers (1).
    let value = vec![9; MAX_RECORD_SIZE - 11];
    let records = [record(None, Some(&value), Some(0))];
    let bytes = encode_batch(0, &records, TimestampType::CreateTime, 0).unwrap();
    assert_eq!(bytes.len(), MAX_BATCH_SIZE);
    assert_eq!(
        decode_batch(&bytes).unwrap().records,
        expected(0, &records, TimestampType::CreateTime)
    );
}

#[test]
fn header_parse_needs_only_the_header_and_decode_ignores_what_follows() {
    let records = [record(Some(b"k"), Some(b"v"), Some(7))];
    let mut bytes = encode_batch(9, &records, TimestampType::CreateTime, 0).unwrap();
    let header = BatchHeader::parse(&bytes[..BATCH_HEADER_SIZE]).unwrap();
    assert_eq!(header.size(), bytes.len());
    assert_eq!(
        bad_batch_reason(decode_batch(&bytes[..BATCH_HEADER_SIZE])),
        "batch length runs past the end of the bytes"
    );
    let size = bytes.len();
    bytes.extend_from_slice(&[0xab; 20]);
    assert_eq!(decode_batch(&bytes).unwrap().header.size(), size);
}

#[test]
fn rejects_damaged_headers() {
    let records = [
        record(Some(b"k"), Some(b"v"), Some(7)),
        record(None, None, None),
    ];
    let good = encode_batch(0, &records, TimestampType::CreateTime, 0).unwrap();
    let with = |at: usize, bytes: &[u8]| {
        let mut batch = good.clone();
        batch[at..at + bytes.len()].copy_from_slice(bytes);
        reseal(&mut batch);
        decode_batch(&batch)
    };
    assert_eq!(
        bad_batch_reason(decode_batch(&good[..60])),
        "batch header is truncated"
    );
    assert!(bad_batch_reason(with(OFF_MAGIC, &[1])).starts_with("magic is not 2"));
    assert_eq!(
        bad_batch_reason(with(0, &(-1_i64).to_be_bytes())),
        "negative base offset"
    );
    let short = 48_i32.to_be_bytes();
    assert_eq!(
        bad_batch_reason(with(OFF_BATCH_LENGTH, &short)),
        "batch length is shorter than the batch header"
    );
    let negative = (-1_i32).to_be_bytes();
    assert_eq!(
        bad_batch_reason(with(23, &negative)),
        "negative last offset delta"
    );
    assert_eq!(
        bad_batch_reason(with(OFF_RECORD_COUNT, &negative)),
        "negative record count"
    );
    let many = i32::MAX.to_be_bytes();
    assert_eq!(
        bad_batch_reason(with(OFF_RECORD_COUNT, &many)),
        "record count does not fit the batch length"
    );
    let max = i64::MAX.to_be_bytes();
    assert_eq!(bad_batch_reason(with(0, &max)), "last offset overflows");
    // Records that are not the gzip stream the attributes name, and a codec id past 4.
    assert_eq!(
        bad_batch_reason(with(OFF_ATTRIBUTES, &[0, 1])),
        "gzip records section is malformed or truncated"
    );
    assert_eq!(
        bad_batch_reason(with(OFF_ATTRIBUTES, &[0, 5])),
        "compression codec is not 0 to 4"
    );
    let mut stale = good.clone();
    stale[OFF_ATTRIBUTES + 1] ^= 0x08;
    assert_eq!(bad_batch_reason(decode_batch(&stale)), "CRC-32C mismatch");
}

#[test]
fn accepts_gaps_in_offset_deltas_but_not_disorder() {
    let records: Vec<u8> = [0, 2, 5]
        .iter()
        .flat_map(|&delta| raw_record(delta))
        .collect();
    let batch = decode_batch(&raw_batch(6, 3, &records)).unwrap();
    let offsets: Vec<u64> = batch.records.iter().map(|record| record.offset).collect();
    assert_eq!(offsets, [0, 2, 5]);
    assert_eq!(batch.header.offset_last(), 6);

    let out_of_order: Vec<u8> = [0, 2, 2]
        .iter()
        .flat_map(|&delta| raw_record(delta))
        .collect();
    let past_last: Vec<u8> = [0, 7].iter().flat_map(|&delta| raw_record(delta)).collect();
    let negative = raw_record(-1);
    let why = "offset delta out of order or past the last offset delta";
    assert_eq!(
        bad_batch_reason(decode_batch(&raw_batch(6, 3, &out_of_order))),
        why
    );
    assert_eq!(
        bad_batch_reason(decode_batch(&raw_batch(6, 2, &past_last))),
        why
    );
    assert_eq!(
        bad_batch_reason(decode_batch(&raw_batch(6, 1, &negative))),
        why
    );
    assert_eq!(
        bad_batch_reason(decode_batch(&raw_batch(0, 2, &records))),
        "more records than offsets"
    );
}

#[test]
fn rejects_damaged_records() {
    let two_records = [raw_record(0), raw_record(1)].concat();
    let check = |count: i32, records: &[u8], why: &str| {
        assert_eq!(
            bad_batch_reason(decode_batch(&raw_batch(1, count, records))),
            why
        );
    };
    check(1, &two_records, "bytes left after the last record");
    check(
        2,
        &[raw_record(0), vec![0; 7]].concat(),
        "record is truncated",
    );
    check(1, &[0x01, 0, 0, 0, 0, 0, 0, 0], "negative record length");
    check(
        1,
        &[0x7e, 0, 0, 0, 0, 0, 0, 0],
        "record runs past the batch",
    );
    // A record whose length claims two bytes more than its fields use, without headers
    // and after one good header.
    check(
        1,
        &[0x10, 0, 0, 0, 1, 1, 0, 0, 0],
        "record length does not match its fields",
    );
    check(
        1,
        &[0x16, 0, 0, 0, 1, 1, 0x02, 0x02, b'k', 0x01, 0, 0],
        "record length does not match its fields",
    );
    // Key length 3 with one byte left.
    check(
        1,
        &[0x0c, 0, 0, 0, 0x06, 1, 0, 0],
        "record key runs past the record",
    );
    check(1, &[0x0c, 0, 0, 0, 0x03, 1, 0, 0], "negative length");
    // Header count 3 with too few bytes for three headers.
    check(
        1,
        &[0x0e, 0, 0, 0, 1, 1, 0x06, 0, 0],
        "header count does not fit the record",
    );
    check(
        1,
        &[0x10, 0, 0, 0, 1, 1, 0x02, 0x01, 0x01],
        "null header key",
    );
    check(
        1,
        &[0x12, 0, 0, 0, 1, 1, 0x02, 0x02, 0xff, 0x01],
        "header key is not UTF-8",
    );
    check(
        1,
        &[0x10, 0, 0, 0, 1, 1, 0x02, 0x00, 0x04],
        "header value runs past the record",
    );
    // A 6-byte offset delta: too long for a 32-bit varint.
    let long_varint = [0x16, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 1, 0];
    check(1, &long_varint, "varint is too long");
}

#[test]
fn timestamps_that_overflow_are_corrupt() {
    let mut body = vec![0];
    put_varlong(&mut body, i64::MAX);
    body.extend_from_slice(&[0, 1, 1, 0]);
    let mut records = Vec::new();
    put_varint(&mut records, i32::try_from(body.len()).unwrap());
    records.extend_from_slice(&body);
    let mut batch = raw_batch(0, 1, &records);
    batch[27..35].copy_from_slice(&1_i64.to_be_bytes());
    reseal(&mut batch);
    assert_eq!(
        bad_batch_reason(decode_batch(&batch)),
        "record timestamp overflows"
    );
    // Under log append time the delta is not used, so the same bytes decode.
    batch[OFF_ATTRIBUTES + 1] |= 0x08;
    reseal(&mut batch);
    assert_eq!(decode_batch(&batch).unwrap().records[0].timestamp_ms, 0);
}

fn bytes_strategy() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        3 => Just(None),
        3 => Just(Some(Vec::new())),
        8 => proptest::collection::vec(any::<u8>(), 1..40).prop_map(Some),
        1 => proptest::collection::vec(any::<u8>(), 100..20_000).prop_map(Some),
    ]
}

fn header_strategy() -> impl Strategy<Value = Header> {
    // A small key alphabet makes duplicate keys common; any Unicode now and then.
    let key = prop_oneof![
        4 => prop_oneof![Just("a"), Just("b"), Just(""), Just("\u{e9}t\u{e9}")].prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    (key, bytes_strategy()).prop_map(|(key, value)| Header { key, value })
}

fn record_strategy() -> impl Strategy<Value = Record> {
    let timestamp = prop_oneof![
        1 => Just(None),
        4 => (0..4_000_000_000_000_i64).prop_map(Some),
        1 => (0..=i64::MAX).prop_map(Some),
    ];
    (
        bytes_strategy(),
        bytes_strategy(),
        proptest::collection::vec(header_strategy(), 0..5),
        timestamp,
    )
        .prop_map(|(key, value, headers, timestamp_ms)| Record {
            key,
            value,
            headers,
            timestamp_ms,
        })
}

fn timestamp_type_strategy() -> impl Strategy<Value = TimestampType> {
    prop_oneof![
        Just(TimestampType::CreateTime),
        Just(TimestampType::LogAppendTime)
    ]
}

fn valid_batch_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(record_strategy(), 1..8),
        timestamp_type_strategy(),
    )
        .prop_map(|(records, timestamp_type)| {
            encode_batch(3, &records, timestamp_type, NOW_MS).unwrap()
        })
}

proptest! {
    #[test]
    fn round_trips_arbitrary_records(
        offset_base in prop_oneof![Just(0_u64), 0..1_u64 << 62],
        records in proptest::collection::vec(record_strategy(), 1..40),
        timestamp_type in timestamp_type_strategy(),
    ) {
        let bytes = encode_batch(offset_base, &records, timestamp_type, NOW_MS).unwrap();
        let batch = decode_batch(&bytes).unwrap();
        prop_assert_eq!(&batch.records, &expected(offset_base, &records, timestamp_type));
        prop_assert_eq!(batch.header.size(), bytes.len());
        prop_assert_eq!(batch.header.record_count as usize, records.len());
        prop_assert_eq!(batch.header.offset_delta_last as usize, records.len() - 1);
        let timestamps = records.iter().map(|record| record.timestamp_ms.unwrap_or(NOW_MS));
        let max = match timestamp_type {
            TimestampType::CreateTime => timestamps.max().unwrap(),
            TimestampType::LogAppendTime => NOW_MS,
        };
        prop_assert_eq!(batch.header.timestamp_max_ms, max);
        prop_assert_eq!(BatchHeader::parse(&bytes[..BATCH_HEADER_SIZE]).unwrap(), batch.header);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_batch(&bytes);
    }

    #[test]
    fn decoding_arbitrary_records_never_panics(
        records in proptest::collection::vec(any::<u8>(), 0..300),
        offset_delta_last in 0..20_i32,
        record_count in 0..20_i32,
        attributes in any::<u8>(),
    ) {
        // A valid header with the right CRC gets the fuzz into the record parser.
        let mut batch = raw_batch(offset_delta_last, record_count, &records);
        batch[OFF_ATTRIBUTES + 1] = attributes & 0x38;
        reseal(&mut batch);
        if let Ok(decoded) = decode_batch(&batch) {
            prop_assert_eq!(decoded.records.len(), usize::try_from(record_count).unwrap());
        }
    }

    #[test]
    fn bit_flips_are_caught(batch in valid_batch_strategy(), at in any::<prop::sample::Index>(), bit in 0..8_u8) {
        let at = at.index(batch.len());
        let mut damaged = batch.clone();
        damaged[at] ^= 1 << bit;
        let result = decode_batch(&damaged);
        // The CRC covers everything from the CRC field on; the base offset and the
        // partition leader epoch sit before it (Kafka rewrites them without a new CRC).
        if at >= OFF_CRC {
            prop_assert!(result.is_err(), "flip at byte {} went unnoticed", at);
        }
    }
}
