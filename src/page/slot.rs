//! The header pages (page 0 and page 1) and the commit slot each one holds.
//!
//! Both header pages start with the same static header; page 0 holds commit slot A and
//! page 1 holds slot B, so one torn write can damage at most one slot.
//!
//! Static header (32 bytes, little-endian):
//!
//! | offset | size | field                                         |
//! |--------|------|-----------------------------------------------|
//! | 0      | 16   | magic `brooklet format` followed by one NUL   |
//! | 16     | 4    | format version ([`FORMAT_VERSION`])           |
//! | 20     | 4    | page size in bytes                            |
//! | 24     | 4    | slot index: 0 in page 0, 1 in page 1          |
//! | 28     | 4    | CRC-32C of bytes 0..28                        |
//!
//! Commit slot (from byte 32 of the header page):
//!
//! | offset | size | field                                                  |
//! |--------|------|--------------------------------------------------------|
//! | 0      | 4    | CRC-32C of slot bytes `8 .. 8 + body_len`              |
//! | 4      | 4    | `body_len`: bytes of the slot after this field         |
//! | 8      | 8    | txn id of this commit                                  |
//! | 16     | 8    | txn id of the last durable commit at this point        |
//! | 24     | 4    | logical page count of the file                         |
//! | 28     | 4    | flags: bit 0 = this commit was durable                 |
//! | 32     | 8    | commit time, milliseconds since the Unix epoch         |
//! | 40     | 8    | master tree root: page id, CRC (id 0 = empty)          |
//! | 48     | 16   | free-list blob pointer (page count 0 = empty list)     |
//! | 64     | 16   | journal blob pointer (page count 0 = journal inline)   |
//! | 80     | 4    | journal entry count                                    |
//! | 84     | 16   | window chain pointer (page count 0 = no chain)         |
//! | 100    | 4    | commits in the window chain                            |
//! | 104    | 4    | journal entries in the window chain                    |
//! | 108    | 12*n | inline journal entries, when the blob pointer is empty |
//! | ...    | len  | the free list, when kept inline (its pointer's length) |
//! | ...    | rest | pending area (version 4): the rest of the body; may be empty |
//!
//! The pending area, when not empty: `u32` length of the pending data, the pending data
//! (runs of `u64` file offset, `u32` length, the bytes; sorted by offset, not overlapping,
//! none empty), then the pending entries, up to the end of the body. Pending data are data
//! bytes the commit holds in its slot instead of the file (see `pager::txn`); pending
//! entries are tree entries it holds instead of its trees (see `engine::pending`), which
//! the pager stores as they are.
//!
//! A journal entry is `page id u32, length u32, CRC-32C u32`: the CRC of the first `length`
//! bytes of the page as written (the whole page for nodes and blobs; the filled prefix for a
//! data page whose tail later commits may append to). The journal lists the pages this
//! commit wrote; the window chain holds, one node per commit, the journals of the earlier
//! commits since the last durable one. A chain node is a blob: previous node pointer (16
//! bytes, page count 0 for none), entry count u32, entries.

use super::{BlobPtr, Cursor, NodePtr, TxnId, put_u32, put_u64, validate_page_size};
use crate::error::{CorruptionKind, Error, PageId, Result};

/// The magic bytes that open every brooklet file.
pub const MAGIC: [u8; 16] = *b"brooklet format\0";
/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 4;
/// The oldest format version this build reads. A version-2 file is a valid version-3 file
/// (version 3 only allows what compaction leaves: offset gaps), and a version-3 file a
/// valid version-4 file (version 4 adds pending data and entries after the slot's other
/// fields);
/// each header page's version is raised when its slot is next written.
pub const FORMAT_VERSION_MIN: u32 = 2;

/// Size of the static header at the start of both header pages.
pub(crate) const STATIC_HEADER_SIZE: usize = 32;
const OFF_VERSION: usize = MAGIC.len();
const OFF_PAGE_SIZE: usize = OFF_VERSION + 4;
const OFF_SLOT_INDEX: usize = OFF_PAGE_SIZE + 4;
const OFF_HEADER_CRC: usize = OFF_SLOT_INDEX + 4;
const _: () = assert!(OFF_HEADER_CRC + 4 == STATIC_HEADER_SIZE);

/// Fixed part of the slot before the inline journal.
pub(crate) const SLOT_FIXED_SIZE: usize = 108;
/// Size of one journal entry.
pub(crate) const JOURNAL_ENTRY_SIZE: usize = 12;
const FLAG_DURABLE: u32 = 1;

/// Bytes a slot can hold after its fixed part: inline journal entries, an inline free
/// list and pending entries share them.
pub(crate) fn slot_inline_capacity(page_size: u32) -> usize {
    page_size as usize - STATIC_HEADER_SIZE - SLOT_FIXED_SIZE
}

/// One journal entry: a page written since the last durable commit, and the checksum of
/// its first `len` bytes. `allocated` is set when the commit also allocated the page (so
/// the last durable commit cannot reach it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JournalEntry {
    pub page: PageId,
    pub len: u32,
    pub crc: u32,
    pub allocated: bool,
}

/// Bit 31 of an encoded journal entry's length: the commit allocated the page.
const ENTRY_ALLOCATED: u32 = 1 << 31;

/// The journal: inline entries or a blob of entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Journal {
    Inline(Vec<JournalEntry>),
    Blob { ptr: BlobPtr, count: u32 },
}

/// A decoded commit slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub txn: TxnId,
    pub last_durable: TxnId,
    pub page_count: u32,
    pub durable: bool,
    pub time_ms: u64,
    pub master_root: Option<NodePtr>,
    /// The free list in a blob, when it does not fit the slot.
    pub freelist: Option<BlobPtr>,
    /// The encoded free list when it is kept in the slot (empty otherwise).
    pub freelist_inline: Vec<u8>,
    pub journal: Journal,
    /// The chain of journals of earlier commits since the last durable one.
    pub window: Option<BlobPtr>,
    /// Pending tree entries, encoded by the engine (empty: none).
    pub pending: Vec<u8>,
    /// Pending data: runs of data bytes this commit holds instead of the file, sorted by
    /// offset and not overlapping. Readers of data pages lay them over the file's bytes.
    pub pending_data: Vec<DataRun>,
    /// Commits in the window chain.
    pub window_commits: u32,
    /// Journal entries in the window chain.
    pub window_entries: u32,
}

/// Encodes a window chain node: the previous node and one commit's journal.
pub(crate) fn encode_window_node(prev: Option<BlobPtr>, entries: &[JournalEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BlobPtr::SIZE + 4 + entries.len() * JOURNAL_ENTRY_SIZE);
    prev.unwrap_or(EMPTY_BLOB).encode(&mut out);
    put_u32(
        &mut out,
        u32::try_from(entries.len()).expect("journal fits u32"),
    );
    encode_journal(entries, &mut out);
    out
}

/// Decodes a window chain node.
pub(crate) fn decode_window_node(bytes: &[u8]) -> Result<(Option<BlobPtr>, Vec<JournalEntry>)> {
    let mut c = Cursor::new(bytes);
    let prev = BlobPtr::decode(&mut c)?;
    let count = c.u32()?;
    let rest = c.take(c.remaining())?;
    if rest.len() != count as usize * JOURNAL_ENTRY_SIZE {
        return Err(Error::corrupt_file(CorruptionKind::BadLength));
    }
    Ok((
        (prev.page_count != 0).then_some(prev),
        decode_journal(rest, count)?,
    ))
}

/// Encodes a journal entry list.
pub(crate) fn encode_journal(entries: &[JournalEntry], out: &mut Vec<u8>) {
    for e in entries {
        assert!(
            e.len & ENTRY_ALLOCATED == 0,
            "journal length {} too large",
            e.len
        );
        put_u32(out, e.page.0);
        put_u32(out, e.len | if e.allocated { ENTRY_ALLOCATED } else { 0 });
        put_u32(out, e.crc);
    }
}

/// Decodes `count` journal entries.
pub(crate) fn decode_journal(bytes: &[u8], count: u32) -> Result<Vec<JournalEntry>> {
    let len = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(JOURNAL_ENTRY_SIZE))
        .filter(|&len| len <= bytes.len())
        .ok_or_else(|| Error::corrupt_file(CorruptionKind::BadLength))?;
    let mut c = Cursor::new(&bytes[..len]);
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let page = PageId(c.u32()?);
        let len = c.u32()?;
        entries.push(JournalEntry {
            page,
            len: len & !ENTRY_ALLOCATED,
            crc: c.u32()?,
            allocated: len & ENTRY_ALLOCATED != 0,
        });
    }
    Ok(entries)
}

/// Writes the static header for slot `index` into `page`.
pub(crate) fn write_static_header(page: &mut [u8], page_size: u32, index: u32) {
    page[..OFF_VERSION].copy_from_slice(&MAGIC);
    page[OFF_VERSION..OFF_PAGE_SIZE].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    page[OFF_PAGE_SIZE..OFF_SLOT_INDEX].copy_from_slice(&page_size.to_le_bytes());
    page[OFF_SLOT_INDEX..OFF_HEADER_CRC].copy_from_slice(&index.to_le_bytes());
    let crc = crc32c::crc32c(&page[..OFF_HEADER_CRC]);
    page[OFF_HEADER_CRC..STATIC_HEADER_SIZE].copy_from_slice(&crc.to_le_bytes());
}

/// Reads the static header: validates magic, version, page size and checksum, and returns
/// the page size. `bytes` must hold at least [`STATIC_HEADER_SIZE`] bytes.
pub(crate) fn read_static_header(bytes: &[u8], page: PageId) -> Result<u32> {
    if bytes.len() < STATIC_HEADER_SIZE || bytes[..OFF_VERSION] != MAGIC {
        return Err(Error::corrupt(page, CorruptionKind::BadMagic));
    }
    let mut c = Cursor::new(&bytes[OFF_VERSION..STATIC_HEADER_SIZE]);
    let version = c.u32()?;
    let page_size = c.u32()?;
    let _index = c.u32()?;
    let stored = c.u32()?;
    let actual = crc32c::crc32c(&bytes[..OFF_HEADER_CRC]);
    if stored != actual {
        return Err(Error::corrupt(
            page,
            CorruptionKind::Checksum {
                expected: stored,
                actual,
            },
        ));
    }
    if !(FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&version) {
        return Err(Error::corrupt(
            page,
            CorruptionKind::UnsupportedVersion(version),
        ));
    }
    validate_page_size(page_size)
        .map_err(|_| Error::corrupt(page, CorruptionKind::BadPageSize(page_size)))?;
    Ok(page_size)
}

impl Slot {
    /// Encodes the slot into the header page `page` (after the static header).
    /// Panics if an inline journal does not fit: the pager moves long journals to a blob.
    pub fn write(&self, page: &mut [u8]) {
        let mut body = Vec::with_capacity(page.len());
        put_u64(&mut body, self.txn.0);
        put_u64(&mut body, self.last_durable.0);
        put_u32(&mut body, self.page_count);
        put_u32(&mut body, if self.durable { FLAG_DURABLE } else { 0 });
        put_u64(&mut body, self.time_ms);
        self.master_root
            .unwrap_or(NodePtr {
                id: PageId(0),
                crc: 0,
            })
            .encode(&mut body);
        match self.freelist {
            Some(ptr) => ptr.encode(&mut body),
            // An inline free list: no pages, its length and CRC; its bytes follow the
            // inline journal entries.
            None => BlobPtr {
                first: PageId(0),
                page_count: 0,
                len: u32::try_from(self.freelist_inline.len()).expect("inline list is small"),
                crc: if self.freelist_inline.is_empty() {
                    0
                } else {
                    crc32c::crc32c(&self.freelist_inline)
                },
            }
            .encode(&mut body),
        }
        match &self.journal {
            Journal::Inline(entries) => {
                EMPTY_BLOB.encode(&mut body);
                put_u32(
                    &mut body,
                    u32::try_from(entries.len()).expect("inline journal is small"),
                );
            }
            Journal::Blob { ptr, count } => {
                ptr.encode(&mut body);
                put_u32(&mut body, *count);
            }
        }
        self.window.unwrap_or(EMPTY_BLOB).encode(&mut body);
        put_u32(&mut body, self.window_commits);
        put_u32(&mut body, self.window_entries);
        if let Journal::Inline(entries) = &self.journal {
            encode_journal(entries, &mut body);
        }
        if self.freelist.is_none() {
            body.extend_from_slice(&self.freelist_inline);
        }
        if !self.pending.is_empty() || !self.pending_data.is_empty() {
            let data_len: usize = self.pending_data.iter().map(DataRun::encoded_len).sum();
            put_u32(
                &mut body,
                u32::try_from(data_len).expect("pending data fits a slot"),
            );
            for run in &self.pending_data {
                put_u64(&mut body, run.at);
                put_u32(
                    &mut body,
                    u32::try_from(run.bytes.len()).expect("pending data fits a slot"),
                );
                body.extend_from_slice(&run.bytes);
            }
            body.extend_from_slice(&self.pending);
        }
        let start = STATIC_HEADER_SIZE;
        let body_start = start + 8;
        assert!(
            body_start + body.len() <= page.len(),
            "slot of {} bytes does not fit a {}-byte page",
            body.len(),
            page.len()
        );
        page[body_start..body_start + body.len()].copy_from_slice(&body);
        page[body_start + body.len()..].fill(0);
        let body_len = u32::try_from(body.len()).expect("slot fits in a page");
        page[start + 4..body_start].copy_from_slice(&body_len.to_le_bytes());
        let crc = crc32c::crc32c(&body);
        page[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    }

    /// What a slot that failed to verify claims, unverified: its txn id, whether it was
    /// durable, and its commit time. `None` when the slot was never written (all zero, as
    /// slot A of a new file) or the page is too short. For reports only: nothing may rely
    /// on these values.
    pub fn claimed(page: &[u8]) -> Option<(TxnId, bool, u64)> {
        let fixed = page.get(STATIC_HEADER_SIZE..STATIC_HEADER_SIZE + 48)?;
        if fixed.iter().all(|&b| b == 0) {
            return None;
        }
        let mut c = Cursor::new(&fixed[8..]);
        let txn = c.u64().ok()?;
        let _last_durable = c.u64().ok()?;
        let _page_count = c.u32().ok()?;
        let flags = c.u32().ok()?;
        let time_ms = c.u64().ok()?;
        Some((TxnId(txn), flags & FLAG_DURABLE != 0, time_ms))
    }

    /// Decodes and verifies the slot of a header page. `page_id` names the page in errors.
    pub fn read(page: &[u8], page_id: PageId) -> Result<Self> {
        let corrupt = |kind| Error::corrupt(page_id, kind);
        let mut head = Cursor::new(page.get(STATIC_HEADER_SIZE..).unwrap_or_default());
        let stored = head.u32().map_err(|_| corrupt(CorruptionKind::BadLength))?;
        let body_len = head.u32().map_err(|_| corrupt(CorruptionKind::BadLength))? as usize;
        let body = head
            .take(body_len)
            .map_err(|_| corrupt(CorruptionKind::BadLength))?;
        let actual = crc32c::crc32c(body);
        if actual != stored {
            return Err(corrupt(CorruptionKind::Checksum {
                expected: stored,
                actual,
            }));
        }
        Self::decode_body(body).map_err(|_| corrupt(CorruptionKind::BadLength))
    }

    fn decode_body(body: &[u8]) -> Result<Self> {
        let mut c = Cursor::new(body);
        let txn = TxnId(c.u64()?);
        let last_durable = TxnId(c.u64()?);
        let page_count = c.u32()?;
        let flags = c.u32()?;
        let time_ms = c.u64()?;
        let root = NodePtr::decode(&mut c)?;
        let freelist = BlobPtr::decode(&mut c)?;
        let journal_blob = BlobPtr::decode(&mut c)?;
        let count = c.u32()?;
        let window = BlobPtr::decode(&mut c)?;
        let window_commits = c.u32()?;
        let window_entries = c.u32()?;
        let journal = if journal_blob.page_count == 0 {
            let len = usize::try_from(count)
                .ok()
                .and_then(|n| n.checked_mul(JOURNAL_ENTRY_SIZE))
                .ok_or_else(|| Error::corrupt_file(CorruptionKind::BadLength))?;
            Journal::Inline(decode_journal(c.take(len)?, count)?)
        } else {
            Journal::Blob {
                ptr: journal_blob,
                count,
            }
        };
        let freelist_inline = if freelist.page_count == 0 && freelist.len > 0 {
            let bytes = c.take(freelist.len as usize)?;
            if crc32c::crc32c(bytes) != freelist.crc {
                return Err(Error::corrupt_file(CorruptionKind::BadLength));
            }
            bytes.to_vec()
        } else {
            Vec::new()
        };
        let (pending_data, pending) = if c.remaining() == 0 {
            (Vec::new(), Vec::new())
        } else {
            let data_len = c.u32()? as usize;
            let data = decode_data_runs(c.take(data_len)?)?;
            (data, c.take(c.remaining())?.to_vec())
        };
        Ok(Self {
            txn,
            last_durable,
            page_count,
            durable: flags & FLAG_DURABLE != 0,
            time_ms,
            master_root: (root.id.0 != 0).then_some(root),
            freelist: (freelist.page_count != 0).then_some(freelist),
            freelist_inline,
            journal,
            window: (window.page_count != 0).then_some(window),
            window_commits,
            window_entries,
            pending,
            pending_data,
        })
    }
}

/// A run of data bytes at file offset `at` that a commit holds in its slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DataRun {
    pub at: u64,
    pub bytes: Vec<u8>,
}

impl DataRun {
    /// Its size in the slot.
    pub fn encoded_len(&self) -> usize {
        12 + self.bytes.len()
    }

    /// One past its last byte.
    pub fn end(&self) -> u64 {
        self.at + self.bytes.len() as u64
    }
}

/// Decodes pending data runs, checking order, overlap and emptiness.
fn decode_data_runs(bytes: &[u8]) -> Result<Vec<DataRun>> {
    let mut c = Cursor::new(bytes);
    let mut runs: Vec<DataRun> = Vec::new();
    while c.remaining() > 0 {
        let at = c.u64()?;
        let len = c.u32()? as usize;
        let run = DataRun {
            at,
            bytes: c.take(len)?.to_vec(),
        };
        let ordered = runs.last().is_none_or(|prev| prev.end() <= at);
        if len == 0 || !ordered || at.checked_add(len as u64).is_none() {
            return Err(Error::corrupt_file(CorruptionKind::BadLength));
        }
        runs.push(run);
    }
    Ok(runs)
}

/// Lays the parts of `runs` that fall in `at .. at + buf.len()` over `buf`.
pub(crate) fn overlay(runs: &[DataRun], at: u64, buf: &mut [u8]) {
    let end = at + buf.len() as u64;
    for run in runs {
        if run.end() <= at || run.at >= end {
            continue;
        }
        let from = run.at.max(at);
        let to = run.end().min(end);
        let src = usize::try_from(from - run.at).expect("inside the run");
        let dst = usize::try_from(from - at).expect("inside the buffer");
        let len = usize::try_from(to - from).expect("inside both");
        buf[dst..dst + len].copy_from_slice(&run.bytes[src..src + len]);
    }
}

const EMPTY_BLOB: BlobPtr = BlobPtr {
    first: PageId(0),
    page_count: 0,
    len: 0,
    crc: 0,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(journal: Journal) -> Slot {
        Slot {
            txn: TxnId(9),
            last_durable: TxnId(8),
            page_count: 77,
            durable: false,
            time_ms: 1_700_000_000_000,
            master_root: Some(NodePtr {
                id: PageId(5),
                crc: 0xabcd,
            }),
            freelist: Some(BlobPtr {
                first: PageId(10),
                page_count: 1,
                len: 32,
                crc: 7,
            }),
            freelist_inline: Vec::new(),
            journal,
            window: Some(BlobPtr {
                first: PageId(30),
                page_count: 1,
                len: 44,
                crc: 9,
            }),
            window_commits: 2,
            window_entries: 3,
            pending: vec![1, 2, 3],
            pending_data: vec![
                DataRun {
                    at: 4096,
                    bytes: vec![9; 5],
                },
                DataRun {
                    at: 5000,
                    bytes: vec![8; 3],
                },
            ],
        }
    }

    #[test]
    fn window_nodes_round_trip() {
        let entries = vec![JournalEntry {
            page: PageId(4),
            len: 512,
            crc: 77,
            allocated: true,
        }];
        let prev = Some(BlobPtr {
            first: PageId(9),
            page_count: 1,
            len: 20,
            crc: 5,
        });
        for p in [None, prev] {
            let bytes = encode_window_node(p, &entries);
            assert_eq!(
                decode_window_node(&bytes).expect("node"),
                (p, entries.clone())
            );
            assert!(decode_window_node(&bytes[..bytes.len() - 1]).is_err());
        }
    }

    #[test]
    fn slot_round_trips_inline_and_blob() {
        for journal in [
            Journal::Inline(vec![
                JournalEntry {
                    page: PageId(3),
                    len: 512,
                    crc: 1,
                    allocated: true,
                },
                JournalEntry {
                    page: PageId(4),
                    len: 100,
                    crc: 2,
                    allocated: false,
                },
            ]),
            Journal::Blob {
                ptr: BlobPtr {
                    first: PageId(20),
                    page_count: 2,
                    len: 800,
                    crc: 3,
                },
                count: 100,
            },
        ] {
            let mut page = vec![0u8; 512];
            write_static_header(&mut page, 512, 0);
            let slot = sample(journal);
            slot.write(&mut page);
            assert_eq!(read_static_header(&page, PageId(0)).expect("header"), 512);
            assert_eq!(Slot::read(&page, PageId(0)).expect("slot"), slot);
            let body_len = u32::from_le_bytes(
                page[STATIC_HEADER_SIZE + 4..STATIC_HEADER_SIZE + 8]
                    .try_into()
                    .expect("4 bytes"),
            ) as usize;
            for i in STATIC_HEADER_SIZE..STATIC_HEADER_SIZE + 8 + body_len {
                let mut bad = page.clone();
                bad[i] ^= 0x40;
                assert!(
                    Slot::read(&bad, PageId(0)).is_err(),
                    "flip at {i} undetected"
                );
            }
        }
    }

    #[test]
    fn inline_capacity_fills_the_page() {
        let cap = slot_inline_capacity(512) / JOURNAL_ENTRY_SIZE;
        let entries = (0..cap)
            .map(|i| JournalEntry {
                page: PageId(u32::try_from(i).expect("small")),
                len: 512,
                crc: 0,
                allocated: false,
            })
            .collect();
        let mut page = vec![0u8; 512];
        let mut slot = sample(Journal::Inline(entries));
        slot.pending.clear();
        slot.pending_data.clear();
        slot.write(&mut page);
        assert!(Slot::read(&page, PageId(1)).is_ok());
    }

    #[test]
    fn header_rejects_garbage() {
        assert!(read_static_header(&[0u8; 64], PageId(0)).is_err());
        let mut page = vec![0u8; 512];
        write_static_header(&mut page, 512, 0);
        page[20] = 3;
        assert!(read_static_header(&page, PageId(0)).is_err());
    }
}
