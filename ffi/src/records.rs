//! Records read back: `brooklet_fetch` (one partition from an offset) and the records
//! handle that fetches and polls return, iterated with `brooklet_records_next`.
//!
//! A fetch keeps the fetched batches' bytes and lends records out of them as it goes
//! (brooklet's zero-copy `FetchedBatches::records`), so reading a record costs no
//! allocation; a poll's records are already decoded, and are handed out one by one.
//!
//! Invariant (fetched): the batches live in a heap allocation owned by the handle through
//! a raw pointer, never moved or changed until `Drop`, which drops the iterator that
//! borrows them first and frees them after.

use std::ffi::{CString, c_char};
use std::mem::{ManuallyDrop, MaybeUninit};

use brooklet_core::{ConsumedRecord, FetchLimits, FetchedBatches, Records};

use crate::db::brooklet_db;
use crate::produce::brooklet_header;
use crate::status::{
    FfiResult, brooklet_status, c_string, entry, entry_status, handle_output, misuse, name, output,
    required, required_mut,
};

/// A record read, as filled in by `brooklet_records_next`. Every pointer in it (the
/// topic, key, value, the headers array and what the headers point to) points into memory
/// owned by the records handle, valid until the next `brooklet_records_next`,
/// `brooklet_records_next_batch` or `brooklet_records_free` on that handle, whichever
/// comes first. Copy what you keep.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_record {
    /// The topic (NUL-terminated).
    pub topic: *const c_char,
    /// The partition.
    pub partition: u32,
    /// The record's offset in the partition.
    pub offset: u64,
    /// Milliseconds since the Unix epoch: the create time, or the append time for topics
    /// with `message.timestamp.type` `LogAppendTime`.
    pub timestamp_ms: i64,
    /// The key's bytes, or NULL for a null key (an empty key is non-NULL with length 0).
    pub key: *const u8,
    /// The key's length.
    pub key_len: usize,
    /// The value's bytes, or NULL for a null value (a tombstone).
    pub value: *const u8,
    /// The value's length.
    pub value_len: usize,
    /// The headers in stored order, duplicates kept; NULL when there are none.
    pub headers: *const brooklet_header,
    /// The number of headers.
    pub header_count: usize,
}

/// Records from `brooklet_fetch`, `brooklet_reader_poll` or `brooklet_consumer_poll`,
/// read one at a time with `brooklet_records_next`. Belongs to one thread at a time.
/// Freed by `brooklet_records_free`; it holds no lock and no snapshot of the file.
#[derive(Debug)]
pub struct brooklet_records {
    source: Source,
    /// The current record's headers (refilled by each `next`).
    headers: Vec<brooklet_header>,
}

#[derive(Debug)]
enum Source {
    Fetched(Fetched),
    Polled(Polled),
}

/// The batches of one fetch, and the records being lent out of them.
#[derive(Debug)]
struct Fetched {
    /// Borrows from `*batches`; dropped first (see the module's invariant).
    records: ManuallyDrop<Records<'static>>,
    batches: *mut FetchedBatches,
    topic: CString,
    partition: u32,
    next_offset: u64,
    end_offset: u64,
}

impl Fetched {
    fn new(batches: FetchedBatches, topic: &str, partition: u32) -> Self {
        let (next_offset, end_offset) = (batches.next_offset, batches.end_offset);
        let batches = Box::into_raw(Box::new(batches));
        // SAFETY: `batches` is a live allocation that this struct owns and neither moves
        // nor changes until Drop, which drops `records` before freeing it; so the borrow
        // outlives every use, though it is typed 'static.
        let records = unsafe { &*batches }.records();
        Self {
            records: ManuallyDrop::new(records),
            batches,
            topic: c_string(topic),
            partition,
            next_offset,
            end_offset,
        }
    }
}

impl Drop for Fetched {
    fn drop(&mut self) {
        // SAFETY: dropped once, here, and not used after.
        unsafe { ManuallyDrop::drop(&mut self.records) };
        // SAFETY: from Box::into_raw in `new`; nothing borrows it any more.
        drop(unsafe { Box::from_raw(self.batches) });
    }
}

/// Records a poll returned, and the one being looked at.
#[derive(Debug)]
struct Polled {
    /// The records, never changed after the poll (views point into them).
    records: Vec<ConsumedRecord>,
    /// The index of the next record to hand out.
    next: usize,
    /// The topics of the records handed out so far, NUL-terminated.
    topics: Vec<CString>,
    /// The index in `topics` of the last record's topic.
    topic: usize,
}

impl brooklet_records {
    /// A handle over the records of a poll.
    pub(crate) fn polled(records: Vec<ConsumedRecord>) -> *mut Self {
        Box::into_raw(Box::new(Self {
            source: Source::Polled(Polled {
                records,
                next: 0,
                topics: Vec::new(),
                topic: 0,
            }),
            headers: Vec::new(),
        }))
    }

    /// Moves to the next record and writes its view to `out`: `BROOKLET_ROW`, or
    /// `BROOKLET_DONE` at the end (`out` untouched).
    #[inline]
    fn advance(&mut self, out: &mut MaybeUninit<brooklet_record>) -> FfiResult<brooklet_status> {
        self.headers.clear();
        let stepped = match &mut self.source {
            Source::Fetched(fetched) => step_fetched(fetched, &mut self.headers, out)?,
            Source::Polled(polled) => step_polled(polled, &mut self.headers, out),
        };
        if !stepped {
            return Ok(brooklet_status::BROOKLET_DONE);
        }
        if !self.headers.is_empty() {
            // SAFETY: `out` was written by the step.
            unsafe { out.assume_init_mut() }.headers = self.headers.as_ptr();
        }
        Ok(brooklet_status::BROOKLET_ROW)
    }

    /// Moves past up to `out.len()` records, writing their views to `out`; returns how
    /// many. Their headers all go to `self.headers`, whose buffer may move while it grows,
    /// so the views' header pointers are set once the batch is complete.
    fn advance_batch(&mut self, out: &mut [MaybeUninit<brooklet_record>]) -> FfiResult<usize> {
        self.headers.clear();
        let mut count = 0;
        match &mut self.source {
            Source::Fetched(fetched) => {
                for slot in out.iter_mut() {
                    if !step_fetched(fetched, &mut self.headers, slot)? {
                        break;
                    }
                    count += 1;
                }
            }
            Source::Polled(polled) => {
                for slot in out.iter_mut() {
                    if !step_polled(polled, &mut self.headers, slot) {
                        break;
                    }
                    count += 1;
                }
            }
        }
        if !self.headers.is_empty() {
            let mut at = 0;
            for slot in &mut out[..count] {
                // SAFETY: the first `count` slots were written above.
                let view = unsafe { slot.assume_init_mut() };
                if view.header_count > 0 {
                    view.headers = self.headers[at..].as_ptr();
                    at += view.header_count;
                }
            }
        }
        Ok(count)
    }

    fn fetched(&self, what: &str) -> FfiResult<&Fetched> {
        match &self.source {
            Source::Fetched(fetched) => Ok(fetched),
            Source::Polled(_) => Err(misuse(format!(
                "{what}: only records from brooklet_fetch have one (these came from a poll)"
            ))),
        }
    }
}

/// Writes the next fetched record's view to `out` (its headers appended to `headers`; the
/// view's `headers` pointer is left NULL for the caller to set); false at the end.
#[inline]
fn step_fetched(
    fetched: &mut Fetched,
    headers: &mut Vec<brooklet_header>,
    out: &mut MaybeUninit<brooklet_record>,
) -> FfiResult<bool> {
    let Some(record) = fetched.records.next() else {
        return Ok(false);
    };
    let record = record?;
    if record.header_count() > 0 {
        headers.extend(record.headers().map(|(key, value)| header_view(key, value)));
    }
    out.write(brooklet_record {
        topic: fetched.topic.as_ptr(),
        partition: fetched.partition,
        offset: record.offset,
        timestamp_ms: record.timestamp_ms,
        key: record.key.map_or(std::ptr::null(), <[u8]>::as_ptr),
        key_len: record.key.map_or(0, <[u8]>::len),
        value: record.value.map_or(std::ptr::null(), <[u8]>::as_ptr),
        value_len: record.value.map_or(0, <[u8]>::len),
        headers: std::ptr::null(),
        header_count: record.header_count(),
    });
    Ok(true)
}

/// [`step_fetched`] for the records of a poll.
#[inline(never)]
fn step_polled(
    polled: &mut Polled,
    headers: &mut Vec<brooklet_header>,
    out: &mut MaybeUninit<brooklet_record>,
) -> bool {
    let Polled {
        records,
        next,
        topics,
        topic,
    } = polled;
    let Some(consumed) = records.get(*next) else {
        return false;
    };
    *next += 1;
    let same_topic = topics
        .get(*topic)
        .is_some_and(|t| t.as_bytes() == consumed.topic.as_bytes());
    if !same_topic {
        *topic = if let Some(index) = topics
            .iter()
            .position(|t| t.as_bytes() == consumed.topic.as_bytes())
        {
            index
        } else {
            topics.push(c_string(&consumed.topic));
            topics.len() - 1
        };
    }
    let record = &consumed.record;
    headers.extend(
        record
            .headers
            .iter()
            .map(|h| header_view(&h.key, h.value.as_deref())),
    );
    out.write(brooklet_record {
        topic: topics[*topic].as_ptr(),
        partition: consumed.partition,
        offset: record.offset,
        timestamp_ms: record.timestamp_ms,
        key: record.key.as_ref().map_or(std::ptr::null(), Vec::as_ptr),
        key_len: record.key.as_ref().map_or(0, Vec::len),
        value: record.value.as_ref().map_or(std::ptr::null(), Vec::as_ptr),
        value_len: record.value.as_ref().map_or(0, Vec::len),
        headers: std::ptr::null(),
        header_count: record.headers.len(),
    });
    true
}

fn header_view(key: &str, value: Option<&[u8]>) -> brooklet_header {
    brooklet_header {
        key: key.as_ptr().cast::<c_char>(),
        key_len: key.len(),
        value: value.map_or(std::ptr::null(), <[u8]>::as_ptr),
        value_len: value.map_or(0, <[u8]>::len),
    }
}

/// Fetches records of one partition from `offset`: at most about `max_records` records
/// (whole stored batches, so a few more may come; 0 for the default, 500) and
/// `max_bytes` bytes of batches (0 for the default, 1 MiB; at least one batch comes).
/// On success `*records_out` is a new records handle, freed by the caller with
/// `brooklet_records_free`; it may hold no records (at the end of the partition).
/// An offset before the partition's first is `BROOKLET_OUT_OF_RANGE`; an unknown topic or
/// partition is `BROOKLET_NOT_FOUND`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_fetch(
    db: *const brooklet_db,
    topic: *const c_char,
    partition: u32,
    offset: u64,
    max_records: usize,
    max_bytes: usize,
    records_out: *mut *mut brooklet_records,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(records_out, "records_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        let limits = limits(max_records, max_bytes);
        let batches = db.db.fetch_batches(topic, partition, offset, limits)?;
        let handle = brooklet_records {
            source: Source::Fetched(Fetched::new(batches, topic, partition)),
            headers: Vec::new(),
        };
        out.write(Box::into_raw(Box::new(handle)));
        Ok(())
    })
}

/// Fetch limits from C, where 0 means the default.
pub(crate) fn limits(max_records: usize, max_bytes: usize) -> FetchLimits {
    let defaults = FetchLimits::default();
    FetchLimits {
        max_records: if max_records == 0 {
            defaults.max_records
        } else {
            max_records
        },
        max_bytes: if max_bytes == 0 {
            defaults.max_bytes
        } else {
            max_bytes
        },
    }
}

/// Moves to the next record: returns `BROOKLET_ROW` and fills `*record_out` (see
/// `brooklet_record` for how long its pointers live), or `BROOKLET_DONE` when there are
/// no more (and leaves `*record_out` unchanged). A record that fails to decode despite
/// its batch's valid checksum is `BROOKLET_CORRUPT`, and ends the iteration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_records_next(
    records: *mut brooklet_records,
    record_out: *mut brooklet_record,
) -> brooklet_status {
    entry_status(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { output(record_out, "record_out") }?;
        // SAFETY: pointer contract: NULL or a live handle used by this thread only.
        let records = unsafe { required_mut(records, "records") }?;
        records.advance(out)
    })
}

/// Moves past up to `capacity` records at once, writing their views to
/// `records_out[0 .. *count_out]`: `BROOKLET_ROW` if at least one was written,
/// `BROOKLET_DONE` (and `*count_out` 0) when there are no more. The same records as
/// `brooklet_records_next` gives one by one, for a fraction of the cost per record: the
/// fast way through many records. The views (and everything they point to) stay valid
/// until the next `brooklet_records_next`, `brooklet_records_next_batch` or
/// `brooklet_records_free` on the handle. A record that fails to decode is
/// `BROOKLET_CORRUPT` (the views of the records before it in this call are lost) and ends
/// the iteration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_records_next_batch(
    records: *mut brooklet_records,
    records_out: *mut brooklet_record,
    capacity: usize,
    count_out: *mut usize,
) -> brooklet_status {
    entry_status(|| {
        // SAFETY: pointer contract: NULL or writable.
        let count_slot = unsafe { output(count_out, "count_out") }?;
        if records_out.is_null() {
            return Err(misuse("records_out is NULL"));
        }
        if capacity == 0 {
            return Err(misuse("capacity is 0"));
        }
        // SAFETY: not NULL; pointer contract: room for `capacity` records. MaybeUninit
        // has the record's layout and asks nothing of the bytes there.
        let out = unsafe {
            std::slice::from_raw_parts_mut(
                records_out.cast::<MaybeUninit<brooklet_record>>(),
                capacity,
            )
        };
        // SAFETY: pointer contract: NULL or a live handle used by this thread only.
        let records = unsafe { required_mut(records, "records") }?;
        let count = records.advance_batch(out)?;
        count_slot.write(count);
        Ok(if count > 0 {
            brooklet_status::BROOKLET_ROW
        } else {
            brooklet_status::BROOKLET_DONE
        })
    })
}

/// The offset to fetch from next, after the records of a `brooklet_fetch` (its records'
/// last offset + 1, or more where compaction left gaps). `BROOKLET_MISUSE` for records
/// from a poll (a reader or consumer keeps its own position).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_records_next_offset(
    records: *const brooklet_records,
    offset_out: *mut u64,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { output(offset_out, "offset_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let records = unsafe { required(records, "records") }?;
        out.write(records.fetched("next offset")?.next_offset);
        Ok(())
    })
}

/// The partition's end offset (the offset the next record gets) when a `brooklet_fetch`
/// read it. `BROOKLET_MISUSE` for records from a poll.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_records_end_offset(
    records: *const brooklet_records,
    offset_out: *mut u64,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { output(offset_out, "offset_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let records = unsafe { required(records, "records") }?;
        out.write(records.fetched("end offset")?.end_offset);
        Ok(())
    })
}

/// Frees a records handle and everything its record views point to. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_records_free(records: *mut brooklet_records) {
    crate::status::free_guard(|| {
        if !records.is_null() {
            // SAFETY: pointer contract: from a fetch or poll, freed once.
            drop(unsafe { Box::from_raw(records) });
        }
    });
}
