//! The benchmark's Rust baseline (`python/bench.py`): the same bulk append as the Python
//! `send_batch` run, made through the Rust API, so one run compares the two on the same
//! machine at the same moment. Not part of the package's API (its name starts with `_`).

use std::path::PathBuf;
use std::time::Instant;

use brooklet::{Brooklet, Durability, Options, Record};
use pyo3::prelude::*;

/// The key of record `i` in the benchmark: 16 bytes, as `bench.py` makes it.
fn key(i: usize) -> Vec<u8> {
    format!("key-{i:012}").into_bytes()
}

/// The value of record `i`: 100 bytes, as `bench.py` makes it.
fn value(i: usize) -> Vec<u8> {
    let mut v = format!("value-{i:012}-").into_bytes();
    v.resize(100, b'x');
    v
}

/// Appends `records` records (16-byte key, 100-byte value) to topic "bench" (one
/// partition, created) of a new file at `path`, in `send_batch` calls of `batch` records
/// at durability none, and returns records per second. The records are built before the
/// clock starts: only the sends are timed (the Python side's clock covers converting its
/// tuples as well, so the comparison is strict on Python).
#[pyfunction]
#[pyo3(name = "_rust_send_batch_rate")]
#[expect(
    clippy::cast_precision_loss,
    reason = "a rate; counts are far below 2^52"
)]
pub fn rust_send_batch_rate(
    py: Python<'_>,
    path: PathBuf,
    records: usize,
    batch: usize,
) -> PyResult<f64> {
    if batch == 0 || records == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "records and batch must be at least 1",
        ));
    }
    crate::blocking(py, move || {
        let db = Brooklet::open_with(&path, Options::default().durability(Durability::None))?;
        db.admin()
            .create_topic("bench", 1, brooklet::TopicConfig::default())?;
        let batches: Vec<Vec<Record>> = (0..records)
            .step_by(batch)
            .map(|start| {
                (start..(start + batch).min(records))
                    .map(|i| Record::new(Some(key(i)), value(i)))
                    .collect()
            })
            .collect();
        let producer = db.producer();
        let started = Instant::now();
        for chunk in batches {
            producer.send_batch("bench", chunk)?;
        }
        let seconds = started.elapsed().as_secs_f64();
        Ok(records as f64 / seconds)
    })
}
