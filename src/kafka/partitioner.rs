//! Kafka's default partitioner for keyed records: `toPositive(murmur2(key)) % partitions`,
//! bit for bit as the Java client's `Utils.murmur2` and `Utils.toPositive`, so a key lands on
//! the same partition number in brooklet as in Kafka. (Keyless records are spread by the
//! producer, not here.)

use std::num::NonZeroU32;

/// Kafka's murmur2 seed.
const SEED: u32 = 0x9747_b28c;
/// murmur2's mixing constants.
const M: u32 = 0x5bd1_e995;
const R: u32 = 24;

/// `MurmurHash2` of `data` exactly as Kafka's Java client computes it (`Utils.murmur2`,
/// seed `0x9747b28c`), returned as Java's signed `int`.
#[must_use]
pub fn murmur2(data: &[u8]) -> i32 {
    // Java's length is an int; masking keeps the (impossible) >4 GiB case total.
    let length = u32::try_from(data.len() & 0xffff_ffff).expect("masked to 32 bits");
    let mut h = SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes(chunk.try_into().expect("chunks of 4"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (index, &byte) in tail.iter().enumerate() {
            h ^= u32::from(byte) << (8 * index);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    i32::from_ne_bytes(h.to_ne_bytes())
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, so `i32::MIN` maps to 0).
#[must_use]
pub fn to_positive(value: i32) -> u32 {
    u32::from_ne_bytes(value.to_ne_bytes()) & 0x7fff_ffff
}

/// The partition Kafka's default partitioner picks for a record with this key.
#[must_use]
pub fn partition_for_key(key: &[u8], partition_count: NonZeroU32) -> u32 {
    to_positive(murmur2(key)) % partition_count
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn matches_the_java_clients_vectors() {
        // Kafka's clients UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, hash) in cases {
            assert_eq!(murmur2(key), hash, "key {key:?}");
        }
    }

    #[test]
    fn matches_kafka_pythons_java_compatibility_vectors() {
        // kafka-python's test_murmur2_java_compatibility: partitions of 1000.
        let partitions = NonZeroU32::new(1000).unwrap();
        let cases: [(&[u8], u32); 6] = [
            (b"", 681),
            (b"a", 524),
            (b"ab", 434),
            (b"abc", 107),
            (b"123456789", 566),
            (b"\x00 ", 742),
        ];
        for (key, partition) in cases {
            assert_eq!(partition_for_key(key, partitions), partition, "key {key:?}");
        }
    }

    #[test]
    fn to_positive_masks_the_sign_bit() {
        assert_eq!(to_positive(-1), 0x7fff_ffff);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(5), 5);
        let one = NonZeroU32::new(1).unwrap();
        assert_eq!(partition_for_key(b"anything", one), 0);
    }
}
