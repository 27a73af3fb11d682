//! The reader: follows chosen partitions from chosen positions, with `poll` and a timeout.
//! Also the position arguments (`brooklet_position_kind` and a value) that readers and
//! consumers share.

use std::ffi::{c_char, c_int};
use std::time::Duration;

use brooklet_core::{Position, Reader};

use crate::db::brooklet_db;
use crate::records::brooklet_records;
use crate::status::{
    FfiResult, brooklet_status, entry, handle_output, invalid, name, output, required, required_mut,
};

/// A place in a partition: a kind and, for some kinds, a value (see each kind).
pub type brooklet_position_kind = c_int;
/// The first offset still stored (Kafka's `earliest`); the value is ignored.
pub const BROOKLET_POSITION_BEGINNING: brooklet_position_kind = 0;
/// The end: only records produced from now on (Kafka's `latest`); the value is ignored.
pub const BROOKLET_POSITION_END: brooklet_position_kind = 1;
/// The offset given as the value (not negative).
pub const BROOKLET_POSITION_OFFSET: brooklet_position_kind = 2;
/// The first record at or after the time given as the value (ms since the Unix epoch);
/// the end if every record is older.
pub const BROOKLET_POSITION_TIMESTAMP: brooklet_position_kind = 3;
/// A consumer's group's committed offset (consumers only; or where the group has none,
/// the consumer's `auto_offset_reset`); the value is ignored.
pub const BROOKLET_POSITION_COMMITTED: brooklet_position_kind = 4;

/// A position from C.
pub(crate) fn position_from(kind: brooklet_position_kind, value: i64) -> FfiResult<Position> {
    match kind {
        BROOKLET_POSITION_BEGINNING => Ok(Position::Beginning),
        BROOKLET_POSITION_END => Ok(Position::End),
        BROOKLET_POSITION_OFFSET => u64::try_from(value)
            .map(Position::Offset)
            .map_err(|_| invalid(format!("offset {value} is negative"))),
        BROOKLET_POSITION_TIMESTAMP => Ok(Position::Timestamp(value)),
        BROOKLET_POSITION_COMMITTED => Ok(Position::Committed),
        other => Err(invalid(format!(
            "position kind {other} is none of the BROOKLET_POSITION_* values (0 to 4)"
        ))),
    }
}

/// A timeout in ms as a duration.
pub(crate) fn timeout(timeout_ms: u64) -> Duration {
    Duration::from_millis(timeout_ms)
}

/// Follows a set of partitions from positions it keeps in memory (no group, no commits).
/// Belongs to one thread at a time. A position that falls outside the log (records deleted
/// by retention) moves to the beginning. Keeps the database open until
/// `brooklet_reader_free`.
#[derive(Debug)]
pub struct brooklet_reader {
    reader: Reader,
}

/// A new reader with no partitions assigned. On success `*reader_out` is new, freed by
/// the caller with `brooklet_reader_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_reader_new(
    db: *const brooklet_db,
    reader_out: *mut *mut brooklet_reader,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(reader_out, "reader_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        out.write(Box::into_raw(Box::new(brooklet_reader {
            reader: db.db.reader(),
        })));
        Ok(())
    })
}

/// Adds a partition to the reader (or moves it) at a position: `kind` is a
/// `BROOKLET_POSITION_*` (not `_COMMITTED`: a reader has no group) and `value` the offset
/// or time it needs. An unknown topic or partition is `BROOKLET_NOT_FOUND`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_reader_assign(
    reader: *mut brooklet_reader,
    topic: *const c_char,
    partition: u32,
    kind: brooklet_position_kind,
    value: i64,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle used by this thread only.
        let reader = unsafe { required_mut(reader, "reader") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        reader
            .reader
            .assign(topic, partition, position_from(kind, value)?)?;
        Ok(())
    })
}

/// Returns the records available now from the assigned partitions, or waits up to
/// `timeout_ms` for some. On success `*records_out` is a new records handle (possibly
/// holding no records, after a timeout), freed by the caller with `brooklet_records_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_reader_poll(
    reader: *mut brooklet_reader,
    timeout_ms: u64,
    records_out: *mut *mut brooklet_records,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(records_out, "records_out") }?;
        // SAFETY: pointer contract: NULL or a live handle used by this thread only.
        let reader = unsafe { required_mut(reader, "reader") }?;
        let records = reader.reader.poll(timeout(timeout_ms))?;
        out.write(brooklet_records::polled(records));
        Ok(())
    })
}

/// The next offset the reader will return from a partition, into `*offset_out`. A
/// partition not assigned to it is `BROOKLET_INVALID`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_reader_position(
    reader: *const brooklet_reader,
    topic: *const c_char,
    partition: u32,
    offset_out: *mut u64,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { output(offset_out, "offset_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let reader = unsafe { required(reader, "reader") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        let position = reader
            .reader
            .position(topic, partition)
            .ok_or_else(|| invalid(format!("{topic}/{partition} is not assigned")))?;
        out.write(position);
        Ok(())
    })
}

/// Frees a reader. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_reader_free(reader: *mut brooklet_reader) {
    crate::status::free_guard(|| {
        if !reader.is_null() {
            // SAFETY: pointer contract: from brooklet_reader_new, freed once.
            drop(unsafe { Box::from_raw(reader) });
        }
    });
}
