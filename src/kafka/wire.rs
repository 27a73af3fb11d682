//! Kafka's wire primitives: big-endian fixed-width integers and zigzag varints (the
//! protobuf encoding Kafka's `ByteUtils` uses), a bounds-checked reader over untrusted bytes
//! and the matching writers.
//!
//! Every read past the end, every varint longer than its type allows (5 bytes for a 32-bit
//! varint, 10 for a 64-bit varlong) and every varint whose bits overflow its type is a
//! [`CorruptionKind::BadBatch`] error, never a panic. Non-minimal encodings (`0x80 0x00` for
//! zero) are accepted, as Kafka's Java client accepts them.

use crate::error::{CorruptionKind, Error, Result};

/// Largest encoded size of a 32-bit varint.
pub(crate) const VARINT_SIZE_MAX: usize = 5;
/// Largest encoded size of a 64-bit varlong.
pub(crate) const VARLONG_SIZE_MAX: usize = 10;

/// The corruption error for a malformed batch. Cold: parsers call it only on bad bytes,
/// and keeping it out of line keeps their hot paths small.
#[cold]
#[inline(never)]
pub(crate) fn bad_batch(why: &'static str) -> Error {
    Error::corrupt_file(CorruptionKind::BadBatch(why))
}

/// Reads Kafka wire fields from untrusted bytes.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes left to read.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The bytes read between this position and `later`'s (a clone of this reader moved
    /// on).
    #[inline]
    pub(crate) fn taken_until(&self, later: &Self) -> &'a [u8] {
        &self.bytes[self.pos..later.pos]
    }

    /// Takes the next `len` bytes; `why` names the field for the error.
    #[inline]
    pub(crate) fn take(&mut self, len: usize, why: &'static str) -> Result<&'a [u8]> {
        if len > self.remaining() {
            return Err(bad_batch(why));
        }
        let out = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self.take(N, "batch header is truncated")?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    pub(crate) fn i8(&mut self) -> Result<i8> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    pub(crate) fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// Reads an unsigned LEB128 integer of at most `size_max` bytes whose value fits in
    /// `bits` bits (at least 14).
    #[inline]
    fn uleb(&mut self, size_max: usize, bits: u32) -> Result<u64> {
        // Record lengths, key and value lengths and deltas mostly take one or two bytes:
        // decode those here, where no bound can be exceeded (14 bits fit every type), and
        // leave longer ones to the general loop.
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        if let Some(&byte) = rest.first()
            && byte & 0x80 == 0
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        if let [low, high, ..] = *rest
            && high & 0x80 == 0
        {
            self.pos += 2;
            return Ok(u64::from(low & 0x7f) | u64::from(high) << 7);
        }
        self.uleb_long(size_max, bits)
    }

    /// [`Reader::uleb`] for any length, with every check.
    #[inline(never)]
    fn uleb_long(&mut self, size_max: usize, bits: u32) -> Result<u64> {
        let mut value = 0_u64;
        for index in 0..size_max {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(bad_batch("varint runs past the end"));
            };
            self.pos += 1;
            let shift = 7 * u32::try_from(index).expect("index < 10");
            let payload = u64::from(byte & 0x7f);
            // The last byte may only carry the bits the type has left.
            if shift + 7 > bits && payload >> (bits - shift) != 0 {
                return Err(bad_batch("varint overflows its type"));
            }
            value |= payload << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(bad_batch("varint is too long"))
    }

    /// Reads a zigzag varint (Kafka's `varint`, 32 bits).
    #[inline]
    pub(crate) fn varint(&mut self) -> Result<i32> {
        let raw = self.uleb(VARINT_SIZE_MAX, 32)?;
        let raw = u32::try_from(raw).expect("uleb checked the value fits 32 bits");
        let value = (raw >> 1) ^ (raw & 1).wrapping_neg();
        Ok(i32::from_ne_bytes(value.to_ne_bytes()))
    }

    /// Reads a zigzag varlong (Kafka's `varlong`, 64 bits).
    #[inline]
    pub(crate) fn varlong(&mut self) -> Result<i64> {
        let raw = self.uleb(VARLONG_SIZE_MAX, 64)?;
        let value = (raw >> 1) ^ (raw & 1).wrapping_neg();
        Ok(i64::from_ne_bytes(value.to_ne_bytes()))
    }
}

fn zigzag32(value: i32) -> u32 {
    u32::from_ne_bytes(((value << 1) ^ (value >> 31)).to_ne_bytes())
}

fn zigzag64(value: i64) -> u64 {
    u64::from_ne_bytes(((value << 1) ^ (value >> 63)).to_ne_bytes())
}

fn put_uleb(out: &mut Vec<u8>, mut value: u64) {
    // Most varints in a batch (deltas, short lengths) are one byte.
    if let Ok(byte) = u8::try_from(value)
        && byte < 0x80
    {
        out.push(byte);
        return;
    }
    while value >= 0x80 {
        out.push(u8::try_from(value & 0x7f).expect("masked to 7 bits") | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).expect("loop left less than 0x80"));
}

fn uleb_size(value: u64) -> usize {
    // Bits needed (at least one), seven per byte.
    let bits = 64 - (value | 1).leading_zeros();
    usize::try_from(bits.div_ceil(7)).expect("at most 10")
}

/// Appends a zigzag varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, value: i32) {
    put_uleb(out, u64::from(zigzag32(value)));
}

/// Appends a zigzag varlong.
pub(crate) fn put_varlong(out: &mut Vec<u8>, value: i64) {
    put_uleb(out, zigzag64(value));
}

/// Encoded size of a zigzag varint.
pub(crate) fn varint_size(value: i32) -> usize {
    uleb_size(u64::from(zigzag32(value)))
}

/// Encoded size of a zigzag varlong.
pub(crate) fn varlong_size(value: i64) -> usize {
    uleb_size(zigzag64(value))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn varint_bytes(value: i32) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, value);
        out
    }

    #[test]
    fn known_encodings() {
        // Zigzag: 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3; Kafka's ByteUtilsTest values.
        assert_eq!(varint_bytes(0), [0x00]);
        assert_eq!(varint_bytes(-1), [0x01]);
        assert_eq!(varint_bytes(1), [0x02]);
        assert_eq!(varint_bytes(63), [0x7e]);
        assert_eq!(varint_bytes(-64), [0x7f]);
        assert_eq!(varint_bytes(64), [0x80, 0x01]);
        assert_eq!(varint_bytes(i32::MAX), [0xfe, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(varint_bytes(i32::MIN), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        let mut out = Vec::new();
        put_varlong(&mut out, i64::MIN);
        assert_eq!(
            out,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn rejects_long_truncated_and_overflowing_varints() {
        let err = |bytes: &[u8]| Reader::new(bytes).varint().unwrap_err().to_string();
        assert!(err(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]).contains("too long"));
        assert!(err(&[0x80, 0x80]).contains("past the end"));
        assert!(err(&[0xff, 0xff, 0xff, 0xff, 0x1f]).contains("overflows"));
        let mut long = vec![0xff; 9];
        long.push(0x02);
        assert!(
            Reader::new(&long)
                .varlong()
                .unwrap_err()
                .to_string()
                .contains("overflows")
        );
        // Non-minimal zero is accepted, as Kafka accepts it.
        assert_eq!(Reader::new(&[0x80, 0x00]).varint().unwrap(), 0);
    }

    #[test]
    fn short_varint_path_agrees_with_the_general_one() {
        // Every one- and two-byte prefix, followed by a byte that would continue a longer
        // varint or not: same value (or error) and same position either way.
        for low in 0..=255u8 {
            for high in 0..=255u8 {
                for bytes in [
                    &[low, high, 0x01][..],
                    &[low, high, 0x81],
                    &[low, high],
                    &[low],
                ] {
                    for (size_max, bits) in [(VARINT_SIZE_MAX, 32), (VARLONG_SIZE_MAX, 64)] {
                        let (mut fast, mut general) = (Reader::new(bytes), Reader::new(bytes));
                        let got = fast.uleb(size_max, bits).map_err(|e| e.to_string());
                        let want = general.uleb_long(size_max, bits).map_err(|e| e.to_string());
                        assert_eq!(got, want, "{bytes:x?}");
                        assert_eq!(fast.pos, general.pos, "{bytes:x?}");
                    }
                }
            }
        }
    }

    #[test]
    fn fixed_width_fields_are_big_endian() {
        let bytes = [1, 2, 0xff, 0xfe, 0, 0, 0, 7];
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.i16().unwrap(), 0x0102);
        assert_eq!(reader.i16().unwrap(), -2);
        assert_eq!(reader.i32().unwrap(), 7);
        assert!(reader.i8().is_err());
    }

    proptest! {
        #[test]
        fn varint_round_trips(value in any::<i32>()) {
            let bytes = varint_bytes(value);
            prop_assert_eq!(bytes.len(), varint_size(value));
            let mut reader = Reader::new(&bytes);
            prop_assert_eq!(reader.varint().unwrap(), value);
            prop_assert_eq!(reader.remaining(), 0);
        }

        #[test]
        fn varlong_round_trips(value in any::<i64>()) {
            let mut bytes = Vec::new();
            put_varlong(&mut bytes, value);
            prop_assert_eq!(bytes.len(), varlong_size(value));
            let mut reader = Reader::new(&bytes);
            prop_assert_eq!(reader.varlong().unwrap(), value);
            prop_assert_eq!(reader.remaining(), 0);
        }

        #[test]
        fn varint_decoding_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = Reader::new(&bytes).varint();
            let _ = Reader::new(&bytes).varlong();
        }
    }
}
