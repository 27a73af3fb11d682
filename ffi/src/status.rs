//! The boundary: status codes, the per-thread error message, the one entry wrapper that
//! keeps panics on the Rust side ([`entry`]), and the checked conversions of C arguments
//! (pointers, strings, byte ranges) into Rust values.
//!
//! Invariants:
//! 1. Every exported function runs its body inside [`entry`] (or [`entry_status`]), so a
//!    panic becomes `BROOKLET_INTERNAL` and never unwinds into C.
//! 2. A failing call stores its message in the calling thread's slot before it returns;
//!    a successful call leaves the slot alone (so the hot paths touch no thread-local).
//! 3. A NULL where a pointer is required is `BROOKLET_MISUSE`, checked before any work.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int};
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};

use brooklet_core::Error;

/// The result of every call (the error-code table of the README's C section). Values
/// 0 to 17 are outcomes; `BROOKLET_ROW` and `BROOKLET_DONE` are what an iterator returns,
/// as `sqlite3_step` does.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum brooklet_status {
    /// Success.
    BROOKLET_OK = 0,
    /// An error not listed below.
    BROOKLET_ERROR = 1,
    /// A bug in brooklet (a panic, caught at the boundary); the message says where.
    BROOKLET_INTERNAL = 2,
    /// The API was used wrongly: a NULL pointer where one is required, a call that does
    /// not apply to this handle.
    BROOKLET_MISUSE = 3,
    /// An invalid argument: a malformed name, invalid UTF-8, a bad config value, an
    /// out-of-range enum value.
    BROOKLET_INVALID = 4,
    /// Another writer held the write lock for longer than the busy timeout.
    BROOKLET_BUSY = 5,
    /// A consumer's commit was refused: it no longer owns the partition.
    BROOKLET_FENCED = 6,
    /// The file is damaged or is not a brooklet file.
    BROOKLET_CORRUPT = 7,
    /// No such topic, partition or consumer group.
    BROOKLET_NOT_FOUND = 8,
    /// A topic of this name exists already.
    BROOKLET_EXISTS = 9,
    /// A record or batch is over the size limit; nothing of the send was stored.
    BROOKLET_TOO_LARGE = 10,
    /// The offset is outside the partition's log.
    BROOKLET_OUT_OF_RANGE = 11,
    /// An I/O error from the operating system (the handle is poisoned after a failed write).
    BROOKLET_IOERR = 12,
    /// An earlier I/O error poisoned this database handle: reopen the file.
    BROOKLET_POISONED = 13,
    /// The handle was closed (a consumer after `brooklet_consumer_close`).
    BROOKLET_CLOSED = 14,
    /// The file is open read-only.
    BROOKLET_READONLY = 15,
    /// Another process reused the pages of a snapshot; read again.
    BROOKLET_STALE = 16,
    /// A commit's sync failed: it may or may not be in the file; reopen and read.
    BROOKLET_COMMIT_UNKNOWN = 17,
    /// `brooklet_records_next`: a record was written to the output.
    BROOKLET_ROW = 100,
    /// `brooklet_records_next`: no more records.
    BROOKLET_DONE = 101,
}

use brooklet_status as S;

impl brooklet_status {
    /// Every status, for `brooklet_errstr` and the tests.
    pub(crate) const ALL: [Self; 20] = [
        S::BROOKLET_OK,
        S::BROOKLET_ERROR,
        S::BROOKLET_INTERNAL,
        S::BROOKLET_MISUSE,
        S::BROOKLET_INVALID,
        S::BROOKLET_BUSY,
        S::BROOKLET_FENCED,
        S::BROOKLET_CORRUPT,
        S::BROOKLET_NOT_FOUND,
        S::BROOKLET_EXISTS,
        S::BROOKLET_TOO_LARGE,
        S::BROOKLET_OUT_OF_RANGE,
        S::BROOKLET_IOERR,
        S::BROOKLET_POISONED,
        S::BROOKLET_CLOSED,
        S::BROOKLET_READONLY,
        S::BROOKLET_STALE,
        S::BROOKLET_COMMIT_UNKNOWN,
        S::BROOKLET_ROW,
        S::BROOKLET_DONE,
    ];

    /// A fixed description, NUL-terminated.
    #[must_use]
    pub fn description(self) -> &'static CStr {
        match self {
            S::BROOKLET_OK => c"not an error",
            S::BROOKLET_ERROR => c"error",
            S::BROOKLET_INTERNAL => c"internal error (a bug in brooklet)",
            S::BROOKLET_MISUSE => c"API misuse",
            S::BROOKLET_INVALID => c"invalid argument",
            S::BROOKLET_BUSY => c"database is busy",
            S::BROOKLET_FENCED => c"fenced: the partition moved to another member",
            S::BROOKLET_CORRUPT => c"file is corrupt",
            S::BROOKLET_NOT_FOUND => c"not found",
            S::BROOKLET_EXISTS => c"already exists",
            S::BROOKLET_TOO_LARGE => c"record too large",
            S::BROOKLET_OUT_OF_RANGE => c"offset out of range",
            S::BROOKLET_IOERR => c"I/O error",
            S::BROOKLET_POISONED => c"handle poisoned by an earlier I/O error",
            S::BROOKLET_CLOSED => c"handle is closed",
            S::BROOKLET_READONLY => c"file is open read-only",
            S::BROOKLET_STALE => c"snapshot expired",
            S::BROOKLET_COMMIT_UNKNOWN => c"commit outcome unknown",
            S::BROOKLET_ROW => c"a record is ready",
            S::BROOKLET_DONE => c"no more records",
        }
    }
}

/// The status for a brooklet error (the contract's table).
#[must_use]
pub fn status_of(error: &Error) -> brooklet_status {
    match error {
        Error::InvalidArgument(_) => S::BROOKLET_INVALID,
        Error::Busy => S::BROOKLET_BUSY,
        Error::Fenced(_) => S::BROOKLET_FENCED,
        Error::Corrupt { .. } => S::BROOKLET_CORRUPT,
        Error::UnknownTopic(_) | Error::UnknownPartition { .. } | Error::UnknownGroup(_) => {
            S::BROOKLET_NOT_FOUND
        }
        Error::TopicExists(_) => S::BROOKLET_EXISTS,
        Error::RecordTooLarge { .. } => S::BROOKLET_TOO_LARGE,
        Error::OffsetOutOfRange { .. } => S::BROOKLET_OUT_OF_RANGE,
        Error::Io(_) => S::BROOKLET_IOERR,
        Error::Poisoned => S::BROOKLET_POISONED,
        Error::Closed(_) => S::BROOKLET_CLOSED,
        Error::ReadOnly => S::BROOKLET_READONLY,
        Error::StaleSnapshot => S::BROOKLET_STALE,
        Error::CommitOutcomeUnknown(_) => S::BROOKLET_COMMIT_UNKNOWN,
        _ => S::BROOKLET_ERROR,
    }
}

/// A failed call: its status and its message.
#[derive(Debug)]
pub struct Failure {
    status: brooklet_status,
    message: String,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self {
            status: status_of(&error),
            message: error.to_string(),
        }
    }
}

/// What every call body returns.
pub type FfiResult<T = ()> = Result<T, Failure>;

/// `BROOKLET_MISUSE` with a message.
pub fn misuse(message: impl Into<String>) -> Failure {
    Failure {
        status: S::BROOKLET_MISUSE,
        message: message.into(),
    }
}

/// `BROOKLET_INVALID` with a message.
pub fn invalid(message: impl Into<String>) -> Failure {
    Failure {
        status: S::BROOKLET_INVALID,
        message: message.into(),
    }
}

/// `BROOKLET_ERROR` with a message.
pub fn error(message: impl Into<String>) -> Failure {
    Failure {
        status: S::BROOKLET_ERROR,
        message: message.into(),
    }
}

/// `BROOKLET_CLOSED` with a message.
pub fn closed(what: &str) -> Failure {
    Failure {
        status: S::BROOKLET_CLOSED,
        message: format!("{what} is closed"),
    }
}

thread_local! {
    /// The message of the last failed call on this thread (invariant 2).
    static MESSAGE: RefCell<CString> = RefCell::new(CString::default());
}

/// Text as a C string: a NUL byte inside (which no brooklet message holds, but a name
/// quoted from input might) is written as `\0`.
#[must_use]
pub fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).expect("NUL bytes were replaced")
}

fn set_message(text: &str) {
    MESSAGE.with(|slot| *slot.borrow_mut() = c_string(text));
}

/// The calling thread's last error message (`brooklet_errmsg`).
#[must_use]
pub fn message_ptr() -> *const c_char {
    MESSAGE.with(|slot| slot.borrow().as_ptr())
}

/// Runs a call body: a failure stores its message and returns its status; a panic
/// becomes `BROOKLET_INTERNAL` with the panic's message (invariant 1).
pub fn entry(body: impl FnOnce() -> FfiResult) -> brooklet_status {
    entry_status(|| body().map(|()| S::BROOKLET_OK))
}

/// [`entry`] for bodies that choose their own success status (`BROOKLET_ROW`/`DONE`).
pub fn entry_status(body: impl FnOnce() -> FfiResult<brooklet_status>) -> brooklet_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(failure)) => {
            set_message(&failure.message);
            failure.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with no message".to_owned());
            set_message(&format!("internal error (a bug in brooklet): {what}"));
            S::BROOKLET_INTERNAL
        }
    }
}

/// Runs the body of a `*_free` function, which returns nothing: a panic (from a `Drop`)
/// is caught as in [`entry`] and leaves its message for `brooklet_errmsg`.
pub fn free_guard(body: impl FnOnce()) {
    let _ = entry(|| {
        body();
        Ok(())
    });
}

/// A status passed in from C as an `int`, if it is one.
#[must_use]
pub fn status_from_int(value: c_int) -> Option<brooklet_status> {
    brooklet_status::ALL
        .into_iter()
        .find(|s| *s as c_int == value)
}

/// The failure for a NULL where a pointer is required. Kept out of line, so that the
/// checks on every call cost a compare and a branch (the name is only loaded on this path).
#[cold]
#[inline(never)]
fn null_pointer(what: &str) -> Failure {
    misuse(format!("{what} is NULL"))
}

/// A required handle or input pointer as a shared reference.
///
/// # Safety
/// `ptr` is NULL or points to a live, properly aligned `T` that nothing mutates for `'a`.
pub unsafe fn required<'a, T>(ptr: *const T, what: &str) -> FfiResult<&'a T> {
    // SAFETY: the caller guarantees `ptr` is NULL or valid for `'a`; `as_ref` checks NULL.
    match unsafe { ptr.as_ref() } {
        Some(value) => Ok(value),
        None => Err(null_pointer(what)),
    }
}

/// A required handle as an exclusive reference.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that nothing else uses for `'a` (the handle
/// belongs to the calling thread, as the header requires).
pub unsafe fn required_mut<'a, T>(ptr: *mut T, what: &str) -> FfiResult<&'a mut T> {
    // SAFETY: the caller guarantees `ptr` is NULL or valid and unaliased for `'a`.
    match unsafe { ptr.as_mut() } {
        Some(value) => Ok(value),
        None => Err(null_pointer(what)),
    }
}

/// A required output slot: C memory that may hold anything, written without reading or
/// dropping what was there.
///
/// # Safety
/// `ptr` is NULL or valid for writes of one `T` for `'a`.
pub unsafe fn output<'a, T>(ptr: *mut T, what: &str) -> FfiResult<&'a mut MaybeUninit<T>> {
    // SAFETY: the caller guarantees `ptr` is NULL or writable for `'a`; MaybeUninit<T>
    // has T's layout and asks nothing of the bytes there.
    match unsafe { ptr.cast::<MaybeUninit<T>>().as_mut() } {
        Some(slot) => Ok(slot),
        None => Err(null_pointer(what)),
    }
}

/// A required handle output (`T **out`), set to NULL at once so that a failed call leaves
/// NULL there.
///
/// # Safety
/// As [`output`].
pub unsafe fn handle_output<'a, T>(
    ptr: *mut *mut T,
    what: &str,
) -> FfiResult<&'a mut MaybeUninit<*mut T>> {
    // SAFETY: forwarded from the caller.
    let slot = unsafe { output(ptr, what) }?;
    slot.write(std::ptr::null_mut());
    Ok(slot)
}

/// A required NUL-terminated UTF-8 string (a name).
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that lives and is not changed for
/// `'a`.
pub unsafe fn name<'a>(ptr: *const c_char, what: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(misuse(format!("{what} is NULL")));
    }
    // SAFETY: not NULL (checked above); the caller guarantees NUL termination and life.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|_| invalid(format!("{what} is not valid UTF-8")))
}

/// A `(pointer, length)` byte range: NULL is Kafka's null (`None`), whatever `len` is.
///
/// # Safety
/// `ptr` is NULL or valid for reads of `len` bytes that are not changed for `'a`.
pub unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: not NULL; the caller guarantees `len` readable bytes. With a zero length
    // nothing is read, and any non-NULL pointer is aligned for `u8`.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A required array of `count` items (NULL allowed only when `count` is 0).
///
/// # Safety
/// `ptr` is NULL or valid for reads of `count` items that are not changed for `'a`.
pub unsafe fn array<'a, T>(ptr: *const T, count: usize, what: &str) -> FfiResult<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(misuse(format!("{what} is NULL but its count is {count}")));
    }
    // SAFETY: not NULL; the caller guarantees `count` readable, aligned items.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_internal_with_its_message() {
        let status = entry(|| panic!("deliberate test panic"));
        assert_eq!(status, S::BROOKLET_INTERNAL);
        // SAFETY: message_ptr returns this thread's NUL-terminated message.
        let text = unsafe { CStr::from_ptr(message_ptr()) }.to_string_lossy();
        assert!(text.contains("deliberate test panic"), "{text}");
    }

    #[test]
    fn errors_map_to_the_contract_table() {
        let cases = [
            (Error::Busy, 5),
            (Error::Fenced("x".into()), 6),
            (Error::UnknownGroup("g".into()), 8),
            (Error::TopicExists("t".into()), 9),
            (Error::Poisoned, 13),
            (Error::Closed("c"), 14),
            (Error::ReadOnly, 15),
            (Error::StaleSnapshot, 16),
            (Error::CommitOutcomeUnknown(std::io::Error::other("x")), 17),
        ];
        for (error, code) in cases {
            assert_eq!(status_of(&error) as c_int, code, "{error}");
        }
    }

    #[test]
    fn every_status_has_a_distinct_description() {
        let mut seen = std::collections::BTreeSet::new();
        for s in brooklet_status::ALL {
            assert!(seen.insert(s.description()), "{s:?}");
            assert_eq!(status_from_int(s as c_int), Some(s));
        }
        assert_eq!(status_from_int(18), None);
    }
}
