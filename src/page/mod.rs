//! L1, pure codecs over page bytes. No I/O happens here, so every decoder can be fuzzed
//! alone.
//!
//! Every metadata page starts with the common [`PageHeader`] (24 bytes, little-endian):
//!
//! | offset | size | field                                            |
//! |--------|------|--------------------------------------------------|
//! | 0      | 4    | CRC-32C of bytes `4..page_size`                  |
//! | 4      | 1    | page kind ([`PageKind`])                         |
//! | 5      | 1    | level (B-tree: 0 for leaves)                     |
//! | 6      | 2    | entry count                                      |
//! | 8      | 4    | this page's own id                               |
//! | 12     | 4    | reserved, zero                                   |
//! | 16     | 8    | id of the transaction that wrote the page        |
//!
//! A page is always reached through a pointer that carries its checksum ([`NodePtr`],
//! [`BlobPtr`]), so a stale cached copy, a reused page or a torn write is detected on the
//! way down, before any field of the page is trusted.

mod cursor;
pub mod format;
pub(crate) mod slot;
mod store;

pub(crate) use cursor::{Cursor, put_u16, put_u32, put_u64};
pub(crate) use store::{PageRead, PageWrite};

use crate::error::{CorruptionKind, Error, PageId, Result};

/// A transaction id. Commits get strictly increasing ids; 0 is never a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TxnId(pub u64);

/// Smallest supported page size.
pub const PAGE_SIZE_MIN: u32 = 512;
/// Largest supported page size.
pub const PAGE_SIZE_MAX: u32 = 65536;
/// Page size used when none is given.
pub const PAGE_SIZE_DEFAULT: u32 = 4096;

/// Size of the common page header.
pub(crate) const HEADER_SIZE: usize = 24;
const OFF_CRC: usize = 0;
const OFF_KIND: usize = OFF_CRC + 4;
const OFF_LEVEL: usize = OFF_KIND + 1;
const OFF_COUNT: usize = OFF_LEVEL + 1;
const OFF_ID: usize = OFF_COUNT + 2;
const OFF_RESERVED: usize = OFF_ID + 4;
const OFF_TXN: usize = OFF_RESERVED + 4;
const _: () = assert!(OFF_TXN + 8 == HEADER_SIZE);
const _: () = assert!(HEADER_SIZE < PAGE_SIZE_MIN as usize);

/// Kinds of checksummed pages. Blob pages (journal, free list, overflow values) carry no
/// header: their checksum lives in the [`BlobPtr`] that refers to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum PageKind {
    /// A B-tree leaf: keys and values.
    Leaf = 1,
    /// A B-tree branch: separator keys and child pointers.
    Branch = 2,
}

/// Checks that `size` is a supported page size.
pub(crate) fn validate_page_size(size: u32) -> Result<()> {
    if size.is_power_of_two() && (PAGE_SIZE_MIN..=PAGE_SIZE_MAX).contains(&size) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "page size {size} is not a power of two between {PAGE_SIZE_MIN} and {PAGE_SIZE_MAX}"
        )))
    }
}

/// A pointer to a checksummed page: its id and the CRC-32C its header must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct NodePtr {
    pub id: PageId,
    pub crc: u32,
}

impl NodePtr {
    /// Encoded size: id then crc, both u32 LE.
    pub const SIZE: usize = 8;

    pub fn encode(self, out: &mut Vec<u8>) {
        put_u32(out, self.id.0);
        put_u32(out, self.crc);
    }

    pub fn decode(c: &mut Cursor<'_>) -> Result<Self> {
        Ok(Self {
            id: PageId(c.u32()?),
            crc: c.u32()?,
        })
    }
}

/// A pointer to a blob: `len` bytes stored from the start of `page_count` contiguous pages
/// beginning at `first`, with the CRC-32C of exactly those `len` bytes. The pages may hold
/// more than `len` bytes (a free-list blob is sized before its final length is known).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BlobPtr {
    pub first: PageId,
    pub page_count: u32,
    pub len: u32,
    pub crc: u32,
}

impl BlobPtr {
    /// Encoded size: four u32 LE fields.
    pub const SIZE: usize = 16;

    pub fn encode(self, out: &mut Vec<u8>) {
        put_u32(out, self.first.0);
        put_u32(out, self.page_count);
        put_u32(out, self.len);
        put_u32(out, self.crc);
    }

    pub fn decode(c: &mut Cursor<'_>) -> Result<Self> {
        Ok(Self {
            first: PageId(c.u32()?),
            page_count: c.u32()?,
            len: c.u32()?,
            crc: c.u32()?,
        })
    }

    /// Checks that the pages can hold the length for this page size and do not overlap the
    /// header pages. (Whether they lie inside the file is checked by the pager.)
    pub fn validate(self, page_size: u32) -> Result<()> {
        let needed = self.len.div_ceil(page_size).max(1);
        if self.page_count >= needed && self.first.0 >= 2 {
            Ok(())
        } else {
            Err(Error::corrupt(self.first, CorruptionKind::BadLength))
        }
    }
}

/// The decoded common header of a checksummed page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageHeader {
    pub kind: u8,
    pub level: u8,
    pub count: u16,
    pub id: PageId,
    pub txn: TxnId,
}

impl PageHeader {
    /// Writes the header into the first [`HEADER_SIZE`] bytes of `page`, leaving the
    /// checksum zero (see [`seal`]).
    pub fn write(&self, page: &mut [u8]) {
        page[OFF_CRC..OFF_KIND].fill(0);
        page[OFF_KIND] = self.kind;
        page[OFF_LEVEL] = self.level;
        page[OFF_COUNT..OFF_ID].copy_from_slice(&self.count.to_le_bytes());
        page[OFF_ID..OFF_RESERVED].copy_from_slice(&self.id.0.to_le_bytes());
        page[OFF_RESERVED..OFF_TXN].fill(0);
        page[OFF_TXN..HEADER_SIZE].copy_from_slice(&self.txn.0.to_le_bytes());
    }

    /// Reads the header of a page whose checksum was already verified.
    pub fn read(page: &[u8]) -> Self {
        let mut c = Cursor::new(&page[..HEADER_SIZE]);
        let _crc = c.u32().expect("header fits");
        let kind = c.u8().expect("header fits");
        let level = c.u8().expect("header fits");
        let count = c.u16().expect("header fits");
        let id = PageId(c.u32().expect("header fits"));
        let _reserved = c.u32().expect("header fits");
        let txn = TxnId(c.u64().expect("header fits"));
        Self {
            kind,
            level,
            count,
            id,
            txn,
        }
    }
}

/// The checksum of a page: CRC-32C of everything after the checksum field.
pub(crate) fn page_crc(page: &[u8]) -> u32 {
    crc32c::crc32c(&page[OFF_KIND..])
}

/// Computes the page checksum, stores it in the header and returns it.
pub(crate) fn seal(page: &mut [u8]) -> u32 {
    let crc = page_crc(page);
    page[OFF_CRC..OFF_KIND].copy_from_slice(&crc.to_le_bytes());
    crc
}

/// Verifies a page read through `ptr`: the checksum matches both the pointer and the stored
/// field, and the header names the page itself.
pub(crate) fn verify(page: &[u8], ptr: NodePtr) -> Result<PageHeader> {
    let actual = page_crc(page);
    let stored = u32::from_le_bytes(page[OFF_CRC..OFF_KIND].try_into().expect("4 bytes"));
    if actual != ptr.crc || stored != ptr.crc {
        return Err(Error::corrupt(
            ptr.id,
            CorruptionKind::Checksum {
                expected: ptr.crc,
                actual,
            },
        ));
    }
    let header = PageHeader::read(page);
    if header.id != ptr.id {
        return Err(Error::corrupt(
            ptr.id,
            CorruptionKind::WrongPageId(header.id.0),
        ));
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_verify_round_trips() {
        let mut page = vec![0u8; 512];
        let header = PageHeader {
            kind: PageKind::Leaf as u8,
            level: 0,
            count: 3,
            id: PageId(7),
            txn: TxnId(42),
        };
        header.write(&mut page);
        page[100] = 9;
        let crc = seal(&mut page);
        let read = verify(&page, NodePtr { id: PageId(7), crc }).expect("valid page");
        assert_eq!(read, header);
        page[200] ^= 1;
        assert!(verify(&page, NodePtr { id: PageId(7), crc }).is_err());
    }

    #[test]
    fn wrong_id_is_detected() {
        let mut page = vec![0u8; 512];
        PageHeader {
            kind: 1,
            level: 0,
            count: 0,
            id: PageId(3),
            txn: TxnId(1),
        }
        .write(&mut page);
        let crc = seal(&mut page);
        let err = verify(&page, NodePtr { id: PageId(4), crc }).expect_err("id mismatch");
        assert!(err.is_corruption());
    }

    #[test]
    fn page_sizes() {
        assert!(validate_page_size(512).is_ok());
        assert!(validate_page_size(65536).is_ok());
        assert!(validate_page_size(4096).is_ok());
        assert!(validate_page_size(256).is_err());
        assert!(validate_page_size(3000).is_err());
        assert!(validate_page_size(131_072).is_err());
    }
}
