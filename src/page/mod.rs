//! L1, pure codecs over page bytes and the fixed on-disk layouts ([`format`](mod@format)).
//! No I/O happens here, so every decoder can be fuzzed alone.
//!
//! Every metadata page starts with the common page header, [`format::PageHeader`] (24
//! bytes, little-endian: checksum, kind, level, entry count, own id, reserved, txn id);
//! [`PageHeader`] is its decoded form.
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

use zerocopy::{FromBytes as _, IntoBytes as _};

use crate::error::{CorruptionKind, Error, PageId, Result};

/// A transaction id. Commits get strictly increasing ids; 0 is never a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TxnId(pub(crate) u64);

impl TxnId {
    /// The transaction id.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for TxnId {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

/// Smallest supported page size.
pub const PAGE_SIZE_MIN: u32 = 512;
/// Largest supported page size.
pub const PAGE_SIZE_MAX: u32 = 65536;
/// Page size used when none is given.
pub const PAGE_SIZE_DEFAULT: u32 = 4096;

/// Size of the common page header.
pub(crate) const HEADER_SIZE: usize = format::PAGE_HEADER_SIZE;
const _: () = assert!(HEADER_SIZE < PAGE_SIZE_MIN as usize);

/// Kinds of checksummed pages. Blob pages (journal, free list, overflow values) carry no
/// header: their checksum lives in the [`BlobPtr`] that refers to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum PageKind {
    /// A B-tree leaf: keys and values.
    Leaf = format::PAGE_KIND_LEAF,
    /// A B-tree branch: separator keys and child pointers.
    Branch = format::PAGE_KIND_BRANCH,
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
    /// Encoded size: a [`format::NodePtr`].
    pub const SIZE: usize = size_of::<format::NodePtr>();

    pub fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_disk().as_bytes());
    }

    pub fn decode(c: &mut Cursor<'_>) -> Result<Self> {
        c.read().map(|raw| Self::from_disk(*raw))
    }

    /// The pointer as stored.
    pub fn to_disk(self) -> format::NodePtr {
        format::NodePtr {
            page: self.id.0.into(),
            crc: self.crc.into(),
        }
    }

    /// The pointer a stored one holds.
    pub fn from_disk(raw: format::NodePtr) -> Self {
        Self {
            id: PageId(raw.page.get()),
            crc: raw.crc.get(),
        }
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
    /// Encoded size: a [`format::BlobPtr`].
    pub const SIZE: usize = size_of::<format::BlobPtr>();

    pub fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_disk().as_bytes());
    }

    pub fn decode(c: &mut Cursor<'_>) -> Result<Self> {
        c.read().map(|raw| Self::from_disk(*raw))
    }

    /// The pointer as stored.
    pub fn to_disk(self) -> format::BlobPtr {
        format::BlobPtr {
            first_page: self.first.0.into(),
            page_count: self.page_count.into(),
            length: self.len.into(),
            crc: self.crc.into(),
        }
    }

    /// The pointer a stored one holds.
    pub fn from_disk(raw: format::BlobPtr) -> Self {
        Self {
            first: PageId(raw.first_page.get()),
            page_count: raw.page_count.get(),
            len: raw.length.get(),
            crc: raw.crc.get(),
        }
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
        let raw = format::PageHeader {
            crc: 0.into(),
            kind: self.kind,
            level: self.level,
            count: self.count.into(),
            page: self.id.0.into(),
            reserved: 0.into(),
            txn: self.txn.0.into(),
        };
        raw.write_to_prefix(page)
            .expect("a page is longer than its header");
    }

    /// Reads the header of page `id`; a page too short to hold one is corrupt.
    pub fn read(page: &[u8], id: PageId) -> Result<Self> {
        raw_header(page, id).map(Self::from_disk)
    }

    fn from_disk(raw: &format::PageHeader) -> Self {
        Self {
            kind: raw.kind,
            level: raw.level,
            count: raw.count.get(),
            id: PageId(raw.page.get()),
            txn: TxnId(raw.txn.get()),
        }
    }
}

/// The header at the start of page `id`, in place.
fn raw_header(page: &[u8], id: PageId) -> Result<&format::PageHeader> {
    format::PageHeader::ref_from_prefix(page)
        .map(|(raw, _)| raw)
        .map_err(|_| Error::corrupt(id, CorruptionKind::BadLength))
}

/// The checksum of a page: CRC-32C of everything after the checksum field.
pub(crate) fn page_crc(page: &[u8]) -> u32 {
    crc32c::crc32c(&page[format::PAGE_CRC_START..])
}

/// The checksum a page's header holds (for a blob or data page, its first four bytes).
/// `page` is a whole page, as held in memory.
pub(crate) fn stored_crc(page: &[u8]) -> u32 {
    let (raw, _) = format::PageHeader::ref_from_prefix(page).expect("a whole page");
    raw.crc.get()
}

/// Computes the page checksum, stores it in the header and returns it.
pub(crate) fn seal(page: &mut [u8]) -> u32 {
    let crc = page_crc(page);
    let (raw, _) = format::PageHeader::mut_from_prefix(page).expect("a whole page");
    raw.crc = crc.into();
    crc
}

/// Verifies a page read through `ptr`: the checksum matches both the pointer and the stored
/// field, and the header names the page itself.
pub(crate) fn verify(page: &[u8], ptr: NodePtr) -> Result<PageHeader> {
    let raw = raw_header(page, ptr.id)?;
    let actual = page_crc(page);
    let stored = raw.crc.get();
    if actual != ptr.crc || stored != ptr.crc {
        return Err(Error::corrupt(
            ptr.id,
            CorruptionKind::Checksum {
                expected: ptr.crc,
                actual,
            },
        ));
    }
    let header = PageHeader::from_disk(raw);
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
