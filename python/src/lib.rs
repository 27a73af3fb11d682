//! `brooklet._brooklet`: the native module of the `brooklet` Python package, a thin layer
//! over brooklet's public Rust API (the pure-Python package `brooklet/` re-exports it and
//! adds the exception classes and the admin result types).
//!
//! Layout: [`database`] (the open file: admin, send, fetch), [`records`] (the record and
//! metadata objects fetch and send return), [`convert`] (Python values into brooklet's
//! records), [`follow`] ([`follow::Reader`] and [`follow::Consumer`]), [`errors`] (the
//! exception mapping) and [`bench`] (the benchmark's Rust baseline).
//!
//! Invariants:
//! 1. The thread detaches from the interpreter (releases the GIL) for every call that does
//!    I/O or waits, through [`blocking`]; nothing detached touches a Python object.
//! 2. A Rust lock that detached work holds is only ever taken while detached, so a thread
//!    holding the GIL never waits for a thread that needs it.
//! 3. No panic reaches Python: [`blocking`] catches it and raises `InternalError`.

mod bench;
mod convert;
mod database;
mod errors;
mod follow;
mod records;

use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pyo3::prelude::*;

pub use errors::Failure;

/// Every Rust allocation of the module (records being sent, fetched records) goes to
/// mimalloc; Python's own objects stay with Python's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs `work` detached from the interpreter (the GIL released), catching a panic as an
/// `InternalError`, and turns its failure into the Python exception.
pub(crate) fn blocking<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: FnOnce() -> Result<T, Failure> + Send,
    T: Send,
{
    py.detach(|| match std::panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => Err(Failure::Internal(panic_message(payload.as_ref()))),
    })
    .map_err(|failure| errors::to_pyerr(py, failure))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    format!("brooklet panicked (a bug; please report it): {text}")
}

/// Locks `mutex`; a lock poisoned by a panic is an `InternalError` from then on.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, Failure> {
    mutex
        .lock()
        .map_err(|_| Failure::Internal("an earlier call panicked while holding this handle".into()))
}

/// A duration in seconds from Python (a float or an int), checked.
pub(crate) fn seconds(what: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{what} must be a finite number of seconds, 0 or more; got {value}"
        ))
    })
}

/// The native module.
#[pymodule]
fn _brooklet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<database::Database>()?;
    m.add_class::<records::Record>()?;
    m.add_class::<records::RecordMetadata>()?;
    m.add_class::<records::FetchResult>()?;
    m.add_class::<records::FetchIter>()?;
    m.add_class::<records::BatchMetadata>()?;
    m.add_class::<records::MetadataIter>()?;
    m.add_class::<follow::Reader>()?;
    m.add_class::<follow::Consumer>()?;
    m.add_function(wrap_pyfunction!(database::open, m)?)?;
    m.add_function(wrap_pyfunction!(bench::rust_send_batch_rate, m)?)?;
    m.add("PAGE_SIZE_DEFAULT", brooklet::PAGE_SIZE_DEFAULT)?;
    Ok(())
}
