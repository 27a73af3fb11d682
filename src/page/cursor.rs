//! A bounds-checked little-endian reader over bytes from disk, and the matching writers.
//! Every read past the end is a corruption error, never a panic.

use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::error::{CorruptionKind, Error, Result};

/// Reads little-endian fields from a byte slice, failing with [`CorruptionKind::BadLength`]
/// instead of panicking when the slice is too short.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Takes the next `len` bytes.
    pub fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| Error::corrupt_file(CorruptionKind::BadLength))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// Takes the next fixed layout (a `crate::page::format` struct), in place.
    pub fn read<T: FromBytes + Immutable + KnownLayout + Unaligned>(&mut self) -> Result<&'a T> {
        T::ref_from_bytes(self.take(size_of::<T>())?)
            .map_err(|_| Error::corrupt_file(CorruptionKind::BadLength))
    }

    /// Takes the next `count` fixed layouts, in place.
    pub fn slice<T: FromBytes + Immutable + KnownLayout + Unaligned>(
        &mut self,
        count: usize,
    ) -> Result<&'a [T]> {
        let len = count
            .checked_mul(size_of::<T>())
            .ok_or_else(|| Error::corrupt_file(CorruptionKind::BadLength))?;
        <[T]>::ref_from_bytes(self.take(len)?)
            .map_err(|_| Error::corrupt_file(CorruptionKind::BadLength))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_rejects_overrun() {
        let mut buf = Vec::new();
        put_u16(&mut buf, 0x1234);
        put_u32(&mut buf, 0xdead_beef);
        put_u64(&mut buf, 7);
        let mut c = Cursor::new(&buf);
        assert_eq!(c.u16().expect("u16"), 0x1234);
        assert_eq!(c.u32().expect("u32"), 0xdead_beef);
        assert_eq!(c.u64().expect("u64"), 7);
        assert_eq!(c.remaining(), 0);
        assert!(c.u8().is_err());
        assert!(Cursor::new(&buf).take(usize::MAX).is_err());
    }
}
