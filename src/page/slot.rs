//! The header pages (page 0 and page 1) and the commit slot each one holds.
//!
//! Both header pages start with the same static header ([`format::StaticHeader`], 32
//! bytes); page 0 holds commit slot A and page 1 holds slot B, so one torn write can damage
//! at most one slot. A slot starts right after the static header with its fixed part
//! ([`format::SlotFixed`], 108 bytes: CRC-32C and length of the body, then the body's
//! fixed fields); the rest of the body follows it:
//!
//! 1. the inline journal entries ([`format::JournalEntry`]), when the journal blob pointer
//!    is empty;
//! 2. the inline free list ([`format::FreeExtent`]s), when the free-list pointer has no
//!    pages (its `length` says how many bytes);
//! 3. the pending area (version 4), the rest of the body, possibly empty: `u32` length of
//!    the pending data, the pending data (runs of `u64` file offset, `u32` length, the
//!    bytes; sorted by offset, not overlapping, none empty), then the pending entries, up
//!    to the end of the body.
//!
//! Pending data are data bytes the commit holds in its slot instead of the file (see
//! `pager::write_txn` and `pager::commit`); pending entries are tree entries it holds
//! instead of its trees (see `engine::pending`), which the pager stores as they are.
//!
//! A journal entry holds the CRC of the first `length` bytes of a page as written (the
//! whole page for nodes and blobs; the filled prefix for a data page whose tail later
//! commits may append to). The journal lists the pages this commit wrote; the window chain
//! holds, one node per commit, the journals of the earlier commits since the last durable
//! one. A chain node is a blob: [`format::WindowNodeHead`] (previous node pointer, page
//! count 0 for none; entry count), then the entries.

use core::mem::{offset_of, size_of};

use zerocopy::{FromBytes as _, IntoBytes as _};

use super::format::{
    self, FORMAT_VERSION, FORMAT_VERSION_MIN, JOURNAL_ALLOCATED, MAGIC, SLOT_BODY_START,
    SLOT_FLAG_DURABLE, STATIC_HEADER_CRC_END,
};
use super::{BlobPtr, Cursor, NodePtr, TxnId, put_u32, put_u64, validate_page_size};
use crate::error::{CorruptionKind, Error, PageId, Result};

pub(crate) use super::format::{JOURNAL_ENTRY_SIZE, SLOT_FIXED_SIZE, STATIC_HEADER_SIZE};

/// Bytes at the start of a slot that are all zero in a slot never written (slot A of a new
/// file): the fields before the free-list pointer (FORMAT.md, *Reporting a rollback*).
const NEVER_WRITTEN_SIZE: usize = offset_of!(format::SlotFixed, free_list);
const _: () = assert!(NEVER_WRITTEN_SIZE == 48);
const _: () = assert!(STATIC_HEADER_SIZE + SLOT_FIXED_SIZE < super::PAGE_SIZE_MIN as usize);

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

impl JournalEntry {
    fn to_disk(self) -> format::JournalEntry {
        assert!(
            self.len & JOURNAL_ALLOCATED == 0,
            "journal length {} too large",
            self.len
        );
        let flag = if self.allocated { JOURNAL_ALLOCATED } else { 0 };
        format::JournalEntry {
            page: self.page.0.into(),
            length: (self.len | flag).into(),
            crc: self.crc.into(),
        }
    }

    fn from_disk(raw: &format::JournalEntry) -> Self {
        let length = raw.length.get();
        Self {
            page: PageId(raw.page.get()),
            len: length & !JOURNAL_ALLOCATED,
            crc: raw.crc.get(),
            allocated: length & JOURNAL_ALLOCATED != 0,
        }
    }
}

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
    let head = format::WindowNodeHead {
        prev: disk_blob(prev),
        entry_count: u32::try_from(entries.len())
            .expect("journal fits u32")
            .into(),
    };
    let mut out = Vec::with_capacity(
        size_of::<format::WindowNodeHead>() + entries.len() * JOURNAL_ENTRY_SIZE,
    );
    out.extend_from_slice(head.as_bytes());
    encode_journal(entries, &mut out);
    out
}

/// Decodes a window chain node.
pub(crate) fn decode_window_node(bytes: &[u8]) -> Result<(Option<BlobPtr>, Vec<JournalEntry>)> {
    let (head, rest) = format::WindowNodeHead::ref_from_prefix(bytes)
        .map_err(|_| Error::corrupt_file(CorruptionKind::BadLength))?;
    let count = head.entry_count.get();
    if rest.len() != count as usize * JOURNAL_ENTRY_SIZE {
        return Err(Error::corrupt_file(CorruptionKind::BadLength));
    }
    Ok((optional_blob(head.prev), decode_journal(rest, count)?))
}

/// Encodes a journal entry list.
pub(crate) fn encode_journal(entries: &[JournalEntry], out: &mut Vec<u8>) {
    for e in entries {
        out.extend_from_slice(e.to_disk().as_bytes());
    }
}

/// Decodes `count` journal entries from the start of `bytes`.
pub(crate) fn decode_journal(bytes: &[u8], count: u32) -> Result<Vec<JournalEntry>> {
    let raw = Cursor::new(bytes).slice::<format::JournalEntry>(count as usize)?;
    Ok(raw.iter().map(JournalEntry::from_disk).collect())
}

/// A blob pointer as stored: page count 0 for none.
fn disk_blob(ptr: Option<BlobPtr>) -> format::BlobPtr {
    ptr.map_or_else(format::BlobPtr::default, BlobPtr::to_disk)
}

/// A stored blob pointer: `None` when its page count is 0.
fn optional_blob(raw: format::BlobPtr) -> Option<BlobPtr> {
    (raw.page_count.get() != 0).then(|| BlobPtr::from_disk(raw))
}

/// Writes the static header for slot `index` into `page`.
pub(crate) fn write_static_header(page: &mut [u8], page_size: u32, index: u32) {
    let mut header = format::StaticHeader {
        magic: MAGIC,
        version: FORMAT_VERSION.into(),
        page_size: page_size.into(),
        slot_index: index.into(),
        crc: 0.into(),
    };
    header.crc = crc32c::crc32c(&header.as_bytes()[..STATIC_HEADER_CRC_END]).into();
    header
        .write_to_prefix(page)
        .expect("a header page holds its static header");
}

/// Reads the static header: validates magic, version, page size and checksum, and returns
/// the page size. `bytes` must hold at least [`STATIC_HEADER_SIZE`] bytes.
pub(crate) fn read_static_header(bytes: &[u8], page: PageId) -> Result<u32> {
    let header = match format::StaticHeader::ref_from_prefix(bytes) {
        Ok((header, _)) if header.magic == MAGIC => header,
        _ => return Err(Error::corrupt(page, CorruptionKind::BadMagic)),
    };
    let stored = header.crc.get();
    let actual = crc32c::crc32c(&header.as_bytes()[..STATIC_HEADER_CRC_END]);
    if stored != actual {
        return Err(Error::corrupt(
            page,
            CorruptionKind::Checksum {
                expected: stored,
                actual,
            },
        ));
    }
    let version = header.version.get();
    if !(FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&version) {
        return Err(Error::corrupt(
            page,
            CorruptionKind::UnsupportedVersion(version),
        ));
    }
    let page_size = header.page_size.get();
    validate_page_size(page_size)
        .map_err(|_| Error::corrupt(page, CorruptionKind::BadPageSize(page_size)))?;
    Ok(page_size)
}

impl Slot {
    /// Encodes the slot into the header page `page` (after the static header).
    /// Panics if an inline journal does not fit: the pager moves long journals to a blob.
    pub fn write(&self, page: &mut [u8]) {
        let mut slot = Vec::with_capacity(page.len());
        slot.extend_from_slice(self.fixed_fields().as_bytes());
        self.encode_variable(&mut slot);
        let body_len = slot.len() - SLOT_BODY_START;
        assert!(
            STATIC_HEADER_SIZE + slot.len() <= page.len(),
            "slot of {body_len} bytes does not fit a {}-byte page",
            page.len()
        );
        let crc = crc32c::crc32c(&slot[SLOT_BODY_START..]);
        let (fixed, _) =
            format::SlotFixed::mut_from_prefix(&mut slot).expect("the fixed part was written");
        fixed.body_len = u32::try_from(body_len).expect("slot fits in a page").into();
        fixed.crc = crc.into();
        let (written, rest) = page[STATIC_HEADER_SIZE..].split_at_mut(slot.len());
        written.copy_from_slice(&slot);
        rest.fill(0);
    }

    /// The fixed part of the slot, with its CRC and body length still zero.
    fn fixed_fields(&self) -> format::SlotFixed {
        let (journal, journal_count) = match &self.journal {
            Journal::Inline(entries) => (
                format::BlobPtr::default(),
                u32::try_from(entries.len()).expect("inline journal is small"),
            ),
            Journal::Blob { ptr, count } => (ptr.to_disk(), *count),
        };
        format::SlotFixed {
            crc: 0.into(),
            body_len: 0.into(),
            txn: self.txn.0.into(),
            last_durable: self.last_durable.0.into(),
            page_count: self.page_count.into(),
            flags: if self.durable { SLOT_FLAG_DURABLE } else { 0 }.into(),
            time_ms: self.time_ms.into(),
            master_root: self
                .master_root
                .map_or_else(format::NodePtr::default, NodePtr::to_disk),
            free_list: self.free_list_ptr(),
            journal,
            journal_count: journal_count.into(),
            window: disk_blob(self.window),
            window_commits: self.window_commits.into(),
            window_entries: self.window_entries.into(),
        }
    }

    /// The free-list pointer: the blob, or for an inline free list no pages, its length
    /// and CRC (its bytes follow the inline journal entries).
    fn free_list_ptr(&self) -> format::BlobPtr {
        if let Some(ptr) = self.freelist {
            return ptr.to_disk();
        }
        let crc = if self.freelist_inline.is_empty() {
            0
        } else {
            crc32c::crc32c(&self.freelist_inline)
        };
        BlobPtr {
            first: PageId(0),
            page_count: 0,
            len: u32::try_from(self.freelist_inline.len()).expect("inline list is small"),
            crc,
        }
        .to_disk()
    }

    /// Appends the body after the fixed part: inline journal, inline free list, pending
    /// area.
    fn encode_variable(&self, out: &mut Vec<u8>) {
        if let Journal::Inline(entries) = &self.journal {
            encode_journal(entries, out);
        }
        if self.freelist.is_none() {
            out.extend_from_slice(&self.freelist_inline);
        }
        if !self.pending.is_empty() || !self.pending_data.is_empty() {
            let data_len: usize = self.pending_data.iter().map(DataRun::encoded_len).sum();
            put_u32(
                out,
                u32::try_from(data_len).expect("pending data fits a slot"),
            );
            for run in &self.pending_data {
                put_u64(out, run.at);
                put_u32(
                    out,
                    u32::try_from(run.bytes.len()).expect("pending data fits a slot"),
                );
                out.extend_from_slice(&run.bytes);
            }
            out.extend_from_slice(&self.pending);
        }
    }

    /// What a slot that failed to verify claims, unverified: its txn id, whether it was
    /// durable, and its commit time. `None` when the slot was never written (all zero, as
    /// slot A of a new file) or the page is too short. For reports only: nothing may rely
    /// on these values.
    pub fn claimed(page: &[u8]) -> Option<(TxnId, bool, u64)> {
        let slot = page.get(STATIC_HEADER_SIZE..)?;
        if slot.get(..NEVER_WRITTEN_SIZE)?.iter().all(|&b| b == 0) {
            return None;
        }
        let (fixed, _) = format::SlotFixed::ref_from_prefix(slot).ok()?;
        let durable = fixed.flags.get() & SLOT_FLAG_DURABLE != 0;
        Some((TxnId(fixed.txn.get()), durable, fixed.time_ms.get()))
    }

    /// Decodes and verifies the slot of a header page. `page_id` names the page in errors.
    pub fn read(page: &[u8], page_id: PageId) -> Result<Self> {
        let corrupt = |kind| Error::corrupt(page_id, kind);
        let slot = page.get(STATIC_HEADER_SIZE..).unwrap_or_default();
        let (fixed, _) = format::SlotFixed::ref_from_prefix(slot)
            .map_err(|_| corrupt(CorruptionKind::BadLength))?;
        let body = SLOT_BODY_START
            .checked_add(fixed.body_len.get() as usize)
            .and_then(|end| slot.get(SLOT_BODY_START..end))
            .ok_or_else(|| corrupt(CorruptionKind::BadLength))?;
        let stored = fixed.crc.get();
        let actual = crc32c::crc32c(body);
        if actual != stored {
            return Err(corrupt(CorruptionKind::Checksum {
                expected: stored,
                actual,
            }));
        }
        // The body holds at least the fixed fields, then the variable part.
        let variable = body
            .get(SLOT_FIXED_SIZE - SLOT_BODY_START..)
            .ok_or_else(|| corrupt(CorruptionKind::BadLength))?;
        Self::decode(fixed, variable).map_err(|_| corrupt(CorruptionKind::BadLength))
    }

    /// Decodes a verified slot from its fixed part and the body bytes after it.
    fn decode(fixed: &format::SlotFixed, variable: &[u8]) -> Result<Self> {
        let mut c = Cursor::new(variable);
        let count = fixed.journal_count.get();
        let journal = if fixed.journal.page_count.get() == 0 {
            let raw = c.slice::<format::JournalEntry>(count as usize)?;
            Journal::Inline(raw.iter().map(JournalEntry::from_disk).collect())
        } else {
            Journal::Blob {
                ptr: BlobPtr::from_disk(fixed.journal),
                count,
            }
        };
        let freelist = BlobPtr::from_disk(fixed.free_list);
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
        let root = NodePtr::from_disk(fixed.master_root);
        Ok(Self {
            txn: TxnId(fixed.txn.get()),
            last_durable: TxnId(fixed.last_durable.get()),
            page_count: fixed.page_count.get(),
            durable: fixed.flags.get() & SLOT_FLAG_DURABLE != 0,
            time_ms: fixed.time_ms.get(),
            master_root: (root.id.0 != 0).then_some(root),
            freelist: optional_blob(fixed.free_list),
            freelist_inline,
            journal,
            window: optional_blob(fixed.window),
            window_commits: fixed.window_commits.get(),
            window_entries: fixed.window_entries.get(),
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
            let (fixed, _) =
                format::SlotFixed::ref_from_prefix(&page[STATIC_HEADER_SIZE..]).expect("a slot");
            let body_len = fixed.body_len.get() as usize;
            for i in STATIC_HEADER_SIZE..STATIC_HEADER_SIZE + SLOT_BODY_START + body_len {
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
