//! The event log's part of vacuum: segments moved to lower pages, and the unused tails of
//! segments given back.
//!
//! The active segment's tail is given back too. That is safe for every reader: a reader
//! of any snapshot reads a segment only below its `bytes_used` in that snapshot, and an
//! extent's `bytes_used` only grows while it lives, so the pages kept hold every byte any
//! snapshot reads from it; none of them is freed or rewritten. An append that no longer
//! fits in the trimmed segment opens a new one, as it would at the end of any segment.
//!
//! A segment entry (`log.segments`) is the only place the log stores a page id; offset and
//! time index entries hold offsets and positions within a segment, which do not change when
//! the segment's bytes move. So a move is: copy the extent (the engine), then rewrite the
//! entry with the new first page, in the same transaction.
//!
//! Every batch copied is verified (header, CRC-32C, offsets rising from the segment's base
//! to its recorded last offset) before the old pages are freed: a move never turns a
//! readable segment into an unreadable one, and never copies from the wrong place unseen.

use super::meta::{Segment, TREE_SEGMENTS, key_suffix};
use crate::engine::WriteTransaction;
use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::kafka::batch::{BATCH_HEADER_SIZE, BatchHeader, verify_batch};

/// One segment as vacuum sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentSlot {
    /// Its key in `log.segments`.
    pub key: Vec<u8>,
    pub segment: Segment,
}

impl SegmentSlot {
    /// One past the extent's last page.
    pub fn end_page(&self) -> u64 {
        u64::from(self.segment.first_page) + u64::from(self.segment.page_count)
    }

    /// Pages the segment needs: those that hold its batches (at least one). The rest of
    /// the extent is preallocated room for appends, which vacuum gives back.
    pub fn pages_needed(&self, page_size: u32) -> u32 {
        let pages = u64::from(self.segment.bytes_used)
            .div_ceil(u64::from(page_size))
            .max(1);
        u32::try_from(pages).expect("no more pages than the extent has")
    }
}

/// Every segment of every partition, in key order.
pub(crate) fn all_segments(txn: &mut WriteTransaction) -> Result<Vec<SegmentSlot>> {
    let bounds = txn.bounds();
    let mut out: Vec<SegmentSlot> = Vec::new();
    for item in txn.range(TREE_SEGMENTS, ..)? {
        let (key, value) = item?;
        key_suffix(TREE_SEGMENTS, &key)?;
        let segment = Segment::decode(&value, bounds)?;
        out.push(SegmentSlot { key, segment });
    }
    Ok(out)
}

/// Frees the unused tail pages of a segment, in place (see the module notes on why this is
/// safe for the active one). Returns the pages freed.
pub(crate) fn trim(txn: &mut WriteTransaction, slot: &SegmentSlot) -> Result<u32> {
    let needed = slot.pages_needed(txn.page_size());
    let mut segment = slot.segment;
    if needed >= segment.page_count {
        return Ok(0);
    }
    txn.shrink_extent(PageId(segment.first_page), needed)?;
    let freed = segment.page_count - needed;
    segment.page_count = needed;
    txn.insert(TREE_SEGMENTS, &slot.key, &segment.encode())?;
    Ok(freed)
}

/// Moves a segment (without its unused tail) to free pages below `target`,
/// else to the lowest free pages below it that hold it. Returns the pages copied, or
/// `None` when no free extent below the segment holds it.
pub(crate) fn move_segment(
    txn: &mut WriteTransaction,
    slot: &SegmentSlot,
    target: PageId,
) -> Result<Option<u32>> {
    let pages = slot.pages_needed(txn.page_size());
    let mut segment = slot.segment;
    let first = PageId(segment.first_page);
    let mut batches = BatchStream::new(first, key_suffix(TREE_SEGMENTS, &slot.key)?);
    let moved = txn.move_extent(
        first,
        pages,
        u64::from(segment.bytes_used),
        target,
        &mut |chunk| batches.feed(chunk),
    )?;
    let Some(dest) = moved else {
        return Ok(None);
    };
    batches.finish(segment.offset_last)?;
    segment.first_page = dest.0;
    segment.page_count = pages;
    txn.insert(TREE_SEGMENTS, &slot.key, &segment.encode())?;
    Ok(Some(pages))
}

/// Verifies the batches of a segment as its bytes stream past in chunks.
struct BatchStream {
    /// The segment's first page, named in errors.
    page: PageId,
    /// Bytes of a batch not yet complete.
    carry: Vec<u8>,
    /// The offset the next batch must start at or after (the segment's base at first).
    next_offset: u64,
    /// True until the first batch was seen.
    first: bool,
}

impl BatchStream {
    fn new(page: PageId, base: u64) -> Self {
        Self {
            page,
            carry: Vec::new(),
            next_offset: base,
            first: true,
        }
    }

    fn bad(&self, why: &'static str) -> Error {
        Error::corrupt(self.page, CorruptionKind::BadBatch(why))
    }

    /// Names the segment's page in a batch decoding error.
    fn located(&self, err: Error) -> Error {
        match err {
            Error::Corrupt { page: None, kind } => Error::corrupt(self.page, kind),
            other => other,
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        self.carry.extend_from_slice(chunk);
        let mut at = 0;
        while self.carry.len() - at >= BATCH_HEADER_SIZE {
            let rest = &self.carry[at..];
            let header = BatchHeader::parse(rest).map_err(|e| self.located(e))?;
            if rest.len() < header.size() {
                break;
            }
            verify_batch(rest).map_err(|e| self.located(e))?;
            // As `check` requires: the first batch at or after the segment's base, each
            // later one after the one before.
            if header.offset_base < self.next_offset {
                return Err(self.bad("batch offsets do not follow the segment"));
            }
            self.first = false;
            self.next_offset = header.offset_last() + 1;
            at += header.size();
        }
        self.carry.drain(..at);
        Ok(())
    }

    fn finish(self, offset_last: u64) -> Result<()> {
        if !self.carry.is_empty() {
            return Err(self.bad("segment ends inside a batch"));
        }
        if self.first || Some(self.next_offset) != offset_last.checked_add(1) {
            return Err(self.bad("segment's batches do not end at its last offset"));
        }
        Ok(())
    }
}
