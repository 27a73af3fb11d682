//! Errors at the boundary: [`Failure`] is what the work done without the GIL returns, and
//! it becomes a Python exception of `brooklet._errors` (the hierarchy under
//! `brooklet.Error`, named as the table shared with the C library says) once the thread is
//! attached again.
//!
//! Invariant: no panic crosses into Python. Work that runs detached is wrapped in
//! `catch_unwind` ([`crate::blocking`]), and a panic there, or a lock poisoned by one,
//! becomes `InternalError`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Why a call failed, before it is a Python exception (building one needs the thread to be
/// attached to the interpreter; this does not).
#[derive(Debug)]
pub enum Failure {
    /// An error of the Rust API.
    Db(brooklet::Error),
    /// A handle used after `close()`: what was closed.
    Closed(&'static str),
    /// A bug: a panic, or a lock poisoned by one.
    Internal(String),
    /// A value Python-side checks refused (`ValueError`).
    Value(String),
}

impl From<brooklet::Error> for Failure {
    fn from(e: brooklet::Error) -> Self {
        Self::Db(e)
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> Self {
        Python::attach(|py| to_pyerr(py, failure))
    }
}

/// The exception class of `brooklet._errors` for a brooklet error.
fn class_name(e: &brooklet::Error) -> &'static str {
    use brooklet::Error as E;
    match e {
        E::InvalidArgument(_) => "InvalidArgumentError",
        E::Busy => "BusyError",
        E::Fenced(_) => "FencedError",
        E::Corrupt { .. } => "CorruptError",
        E::UnknownTopic(_) => "UnknownTopicError",
        E::UnknownPartition { .. } => "UnknownPartitionError",
        E::UnknownGroup(_) => "UnknownGroupError",
        E::TopicExists(_) => "TopicExistsError",
        E::RecordTooLarge { .. } => "RecordTooLargeError",
        E::OffsetOutOfRange { .. } => "OffsetOutOfRangeError",
        E::Io(_) => "StorageIOError",
        E::Poisoned => "PoisonedError",
        E::Closed(_) => "ClosedError",
        E::ReadOnly => "ReadOnlyError",
        E::StaleSnapshot => "StaleSnapshotError",
        E::CommitOutcomeUnknown(_) => "CommitOutcomeUnknownError",
        // The enum is non-exhaustive: a case added later is still a brooklet.Error.
        _ => "Error",
    }
}

/// An instance of `brooklet._errors.<name>` built from `args`.
fn raise(py: Python<'_>, name: &str, args: String) -> PyErr {
    let class = py
        .import("brooklet._errors")
        .and_then(|module| module.getattr(name));
    match class {
        Ok(class) => match class.call1((args,)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// The Python exception for `failure`.
pub fn to_pyerr(py: Python<'_>, failure: Failure) -> PyErr {
    match failure {
        Failure::Db(e) => match &e {
            brooklet::Error::Io(io) => storage_io_error(py, io.raw_os_error(), e.to_string()),
            _ => raise(py, class_name(&e), e.to_string()),
        },
        Failure::Closed(what) => raise(py, "ClosedError", format!("{what} is closed")),
        Failure::Internal(why) => raise(py, "InternalError", why),
        Failure::Value(why) => PyValueError::new_err(why),
    }
}

/// A `StorageIOError`, with `errno` set where the OS gave one (it is also an `OSError`).
fn storage_io_error(py: Python<'_>, errno: Option<i32>, message: String) -> PyErr {
    let class = py
        .import("brooklet._errors")
        .and_then(|module| module.getattr("StorageIOError"));
    let class = match class {
        Ok(class) => class,
        Err(e) => return e,
    };
    let made = match errno {
        Some(errno) => class.call1((errno, message)),
        None => class.call1((message,)),
    };
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

/// A `TypeError` naming what was expected and the type that came.
pub fn type_error(what: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    let type_name = got
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    PyTypeError::new_err(format!("{what} must be {expected}, not {type_name}"))
}
