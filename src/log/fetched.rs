//! What [`crate::Brooklet::fetch_batches`] returns: whole stored batches of one partition,
//! whose records are read in place through [`crate::kafka`]'s [`Records`].

use std::cell::RefCell;
use std::sync::OnceLock;

use crate::kafka::Records;
use crate::kafka::records::{NO_SECTIONS, Sections};

/// Largest buffer a thread keeps for its next fetch: a full fetch of 8 MiB and its window.
const SPARE_MAX: usize = (8 << 20) + (64 << 10);

thread_local! {
    /// The buffer of this thread's last dropped fetch, its bytes still initialized, so the
    /// next fetch reads over them without zeroing the buffer first (one buffer a thread).
    static SPARE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// This thread's spare fetch buffer (empty if none): initialized bytes to read over.
pub(crate) fn take_spare() -> Vec<u8> {
    SPARE
        .try_with(|spare| spare.try_borrow_mut().map(|mut s| std::mem::take(&mut *s)))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// Keeps `buf` as this thread's spare fetch buffer, if it is no larger than
/// [`SPARE_MAX`] and larger than the spare held.
pub(crate) fn give_spare(buf: Vec<u8>) {
    if buf.is_empty() || buf.len() > SPARE_MAX {
        return;
    }
    let _ = SPARE.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut()
            && spare.len() < buf.len()
        {
            *spare = buf;
        }
    });
}

/// Whole batches fetched from one partition by [`crate::Brooklet::fetch_batches`]: the
/// stored Kafka `RecordBatch` v2 bytes, back to back, each CRC-checked. The first batch may
/// start before the offset asked for; [`FetchedBatches::records`] skips those records.
/// Holds no lock and no snapshot.
#[derive(Default)]
pub struct FetchedBatches {
    /// The batches are the first `len` bytes; the rest is room read over by the fetch,
    /// left for the next one (see [`give_spare`]).
    pub(crate) bytes: Vec<u8>,
    pub(crate) len: usize,
    pub(crate) from: u64,
    /// Whether any data batch fetched is compressed. Only then does
    /// [`FetchedBatches::records`] decompress (once, into `sections`); the records of
    /// uncompressed batches are always read in place.
    pub(crate) compressed: bool,
    pub(crate) sections: OnceLock<Sections>,
    /// The offset to fetch from next.
    pub next_offset: u64,
    /// The partition's end offset in the snapshot read.
    pub end_offset: u64,
    /// The partition's first offset in the snapshot read.
    pub beginning_offset: u64,
    /// The partition's last stable offset in the snapshot read (see
    /// [`crate::Isolation::ReadCommitted`]).
    pub last_stable_offset: u64,
}

impl FetchedBatches {
    /// The batches as stored: Kafka `RecordBatch` v2 bytes, ready for any Kafka decoder.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// True if no batch was fetched.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The records at or after the offset asked for, borrowed from the batches. The
    /// records of compressed batches are decompressed at the first call, into a buffer
    /// this value keeps, and borrowed from there; [`FetchedBatches::bytes`] stays as stored.
    #[must_use]
    pub fn records(&self) -> Records<'_> {
        let sections = if self.compressed {
            self.sections.get_or_init(|| Sections::of(self.bytes()))
        } else {
            &NO_SECTIONS
        };
        Records::new(self.bytes(), self.from, sections)
    }
}

impl std::fmt::Debug for FetchedBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedBatches")
            .field("bytes", &self.bytes())
            .field("from", &self.from)
            .field("next_offset", &self.next_offset)
            .field("end_offset", &self.end_offset)
            .field("beginning_offset", &self.beginning_offset)
            .field("last_stable_offset", &self.last_stable_offset)
            .finish_non_exhaustive()
    }
}

impl Clone for FetchedBatches {
    fn clone(&self) -> Self {
        Self {
            bytes: self.bytes().to_vec(),
            len: self.len,
            from: self.from,
            compressed: self.compressed,
            sections: OnceLock::new(),
            next_offset: self.next_offset,
            end_offset: self.end_offset,
            beginning_offset: self.beginning_offset,
            last_stable_offset: self.last_stable_offset,
        }
    }
}

impl PartialEq for FetchedBatches {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
            && (self.from, self.next_offset, self.end_offset)
                == (other.from, other.next_offset, other.end_offset)
            && (self.beginning_offset, self.last_stable_offset)
                == (other.beginning_offset, other.last_stable_offset)
    }
}

impl Eq for FetchedBatches {}

impl Drop for FetchedBatches {
    fn drop(&mut self) {
        give_spare(std::mem::take(&mut self.bytes));
    }
}
