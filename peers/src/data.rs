//! The records every subject stores: record `i` has a 16-byte key (`key-` and `i` in 12
//! digits) and a 100-byte value of pseudo-random bytes seeded by `i`, so that no subject
//! gains from compressing them (fjall compresses blocks with LZ4 by default).

use brooklet::Record;

/// Bytes of a record's key.
pub const KEY_LEN: usize = 16;
/// Bytes of a record's value.
pub const VALUE_LEN: usize = 100;
/// Payload bytes of one record: key and value, nothing else.
pub const PAYLOAD_LEN: u64 = (KEY_LEN + VALUE_LEN) as u64;

/// The key of record `i`.
#[must_use]
pub fn key(i: u64) -> Vec<u8> {
    let key = format!("key-{:012}", i % 1_000_000_000_000).into_bytes();
    assert_eq!(key.len(), KEY_LEN, "key of record {i}");
    key
}

/// The value of record `i`: incompressible bytes, the same on every call.
#[must_use]
pub fn value(i: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(i ^ 0x5eed_0fb7_00c1_e7a5);
    let mut value = vec![0u8; VALUE_LEN];
    rng.fill(&mut value);
    value
}

/// Record `i`, with no timestamp (each subject stamps it at append).
#[must_use]
pub fn record(i: u64) -> Record {
    Record {
        key: Some(key(i)),
        value: Some(value(i)),
        headers: Vec::new(),
        timestamp_ms: None,
    }
}

/// Records `first..first + count`.
#[must_use]
pub fn records(first: u64, count: u64) -> Vec<Record> {
    (first..first + count).map(record).collect()
}

/// A record's key and value as slices (every benchmark record has both).
#[must_use]
pub fn parts(record: &Record) -> (&[u8], &[u8]) {
    let key = record.key.as_deref().expect("benchmark records have keys");
    let value = record
        .value
        .as_deref()
        .expect("benchmark records have values");
    (key, value)
}

/// Key and value in one buffer: what the key/value stores keep under the offset.
#[must_use]
pub fn joined(record: &Record) -> Vec<u8> {
    let (key, value) = parts(record);
    let mut out = Vec::with_capacity(key.len() + value.len());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_the_documented_sizes_and_are_stable() {
        let r = record(42);
        let (key, value) = parts(&r);
        assert_eq!(key, b"key-000000000042");
        assert_eq!(value.len(), VALUE_LEN);
        assert_eq!(value, &super::value(42)[..], "values are reproducible");
        assert_ne!(
            value,
            &super::value(43)[..],
            "values differ between records"
        );
        assert_eq!(joined(&r).len() as u64, PAYLOAD_LEN);
    }
}
