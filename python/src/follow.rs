//! Following partitions: [`Reader`] (partitions chosen by hand) and [`Consumer`] (a member
//! of a consumer group). Both are iterators (`__next__` waits for the next record) and
//! have `poll(timeout)`, which returns a list of at most `max_records` records.
//!
//! Records a Rust `poll` returned but Python has not been handed yet wait in [`Pending`].
//! The Rust consumer's position is past all of them, so everything that reports or
//! commits a position uses the first pending offset of a partition instead: `commit()`
//! commits the offset after the last record returned to Python (Kafka's semantics), and
//! closing (or dropping) a consumer with auto-commit first moves the Rust positions back
//! to the pending records. The Rust `poll` runs only when nothing is pending, so its own
//! auto-commit and the commits of a rebalance never cover a record Python has not seen.
//!
//! Waits run detached, in slices of [`WAIT_SLICE`], with `check_signals` between them so
//! that Ctrl-C stops a blocked `poll` or `for record in consumer`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brooklet::{Brooklet, ConsumedRecord, FetchLimits, Position, TopicPartition};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::records::{self, Record};
use crate::{Failure, blocking, convert, lock};

/// The longest one detached wait lasts before signals are checked.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Records returned by a Rust `poll` and not yet handed to Python, in order.
#[derive(Debug, Default)]
struct Pending {
    records: VecDeque<ConsumedRecord>,
}

impl Pending {
    fn take(&mut self, max: usize) -> Vec<ConsumedRecord> {
        let count = max.min(self.records.len());
        self.records.drain(..count).collect()
    }

    fn first_offset(&self, topic: &str, partition: u32) -> Option<u64> {
        self.records
            .iter()
            .find(|r| r.partition == partition && r.topic == topic)
            .map(|r| r.record.offset)
    }

    /// The first pending offset of each partition that has pending records.
    fn first_offsets(&self) -> BTreeMap<TopicPartition, u64> {
        let mut out = BTreeMap::new();
        for r in &self.records {
            out.entry(TopicPartition::new(r.topic.clone(), r.partition))
                .or_insert(r.record.offset);
        }
        out
    }

    fn forget(&mut self, topic: &str, partition: u32) {
        self.records
            .retain(|r| !(r.partition == partition && r.topic == topic));
    }
}

/// What `poll` and `__next__` need of a reader or consumer.
trait Source: Send {
    /// Polls the Rust side, waiting up to `wait`, when nothing is pending.
    fn poll_rust(&mut self, wait: Duration) -> Result<Vec<ConsumedRecord>, Failure>;
    fn pending(&mut self) -> &mut Pending;

    /// Up to `max` records: pending ones first, else a Rust poll's.
    fn step(&mut self, wait: Duration, max: usize) -> Result<Vec<ConsumedRecord>, Failure> {
        if self.pending().records.is_empty() {
            let polled = self.poll_rust(wait)?;
            self.pending().records.extend(polled);
        }
        Ok(self.pending().take(max))
    }
}

/// Polls `cell` until records come or `timeout` (None: forever) passes, detached in slices
/// with signal checks between them.
fn poll_loop<S: Source>(
    py: Python<'_>,
    cell: &Arc<Mutex<S>>,
    timeout: Option<Duration>,
    max: usize,
) -> PyResult<Vec<ConsumedRecord>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let wait = deadline.map_or(WAIT_SLICE, |d| {
            d.saturating_duration_since(Instant::now()).min(WAIT_SLICE)
        });
        let got = blocking(py, || lock(cell)?.step(wait, max))?;
        if !got.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(got);
        }
        py.check_signals()?;
    }
}

fn timeout_arg(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout.map(|t| crate::seconds("timeout", t)).transpose()
}

fn tp_list(py: Python<'_>, tps: Vec<TopicPartition>) -> PyResult<Bound<'_, PyList>> {
    let tuples = tps
        .into_iter()
        .map(|tp| {
            PyTuple::new(
                py,
                [
                    tp.topic.into_pyobject(py)?.into_any(),
                    tp.partition.into_pyobject(py)?.into_any(),
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, tuples)
}

// ---------------------------------------------------------------------------- Reader

/// A reader's state: the Rust reader (None once closed) and its pending records.
#[derive(Debug)]
pub struct ReaderState {
    reader: Option<brooklet::Reader>,
    pending: Pending,
}

pub type ReaderCell = Mutex<ReaderState>;

impl ReaderState {
    fn reader(&mut self) -> Result<&mut brooklet::Reader, Failure> {
        self.reader.as_mut().ok_or(Failure::Closed("the reader"))
    }
}

impl Source for ReaderState {
    fn poll_rust(&mut self, wait: Duration) -> Result<Vec<ConsumedRecord>, Failure> {
        Ok(self.reader()?.poll(wait)?)
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

/// Closes a reader (a database's `close` calls this too).
pub fn close_reader(py: Python<'_>, cell: &Arc<ReaderCell>) -> PyResult<()> {
    blocking(py, || {
        let mut state = lock(cell)?;
        state.reader = None;
        state.pending.records.clear();
        Ok(())
    })
}

/// Follows partitions chosen by hand, from positions it keeps in memory.
#[derive(Debug)]
#[pyclass(frozen, module = "brooklet", name = "Reader")]
pub struct Reader {
    cell: Arc<ReaderCell>,
    max_records: usize,
}

impl Reader {
    pub fn new(db: Brooklet, reset: Option<Position>, limits: FetchLimits) -> Self {
        let reader = db.reader().with_reset(reset).with_limits(limits);
        Self {
            cell: Arc::new(Mutex::new(ReaderState {
                reader: Some(reader),
                pending: Pending::default(),
            })),
            max_records: limits.max_records.max(1),
        }
    }

    pub fn cell(&self) -> &Arc<ReaderCell> {
        &self.cell
    }
}

#[pymethods]
impl Reader {
    /// Adds a partition (or moves it) to `start`: "beginning", "end", an offset, or
    /// `timestamp=ms`.
    #[pyo3(signature = (topic, partition, start=None, *, timestamp=None))]
    fn assign(
        &self,
        py: Python<'_>,
        topic: &str,
        partition: u32,
        start: Option<&Bound<'_, PyAny>>,
        timestamp: Option<i64>,
    ) -> PyResult<()> {
        let position = start_or_beginning(start, timestamp)?;
        blocking(py, || {
            let mut state = lock(&self.cell)?;
            state.reader()?.assign(topic, partition, position)?;
            state.pending.forget(topic, partition);
            Ok(())
        })
    }

    /// Adds every partition of a topic at `start`.
    #[pyo3(signature = (topic, start=None, *, timestamp=None))]
    fn assign_topic(
        &self,
        py: Python<'_>,
        topic: &str,
        start: Option<&Bound<'_, PyAny>>,
        timestamp: Option<i64>,
    ) -> PyResult<()> {
        let position = start_or_beginning(start, timestamp)?;
        blocking(py, || {
            let mut state = lock(&self.cell)?;
            state.reader()?.assign_topic(topic, position)?;
            state.pending.records.retain(|r| r.topic != topic);
            Ok(())
        })
    }

    /// Stops reading a partition.
    fn unassign(&self, py: Python<'_>, topic: &str, partition: u32) -> PyResult<()> {
        blocking(py, || {
            let mut state = lock(&self.cell)?;
            state.reader()?.unassign(topic, partition);
            state.pending.forget(topic, partition);
            Ok(())
        })
    }

    /// Moves an assigned partition to `start` ("beginning", "end", an offset, or
    /// `timestamp=ms`).
    #[pyo3(signature = (topic, partition, start=None, *, timestamp=None))]
    fn seek(
        &self,
        py: Python<'_>,
        topic: &str,
        partition: u32,
        start: Option<&Bound<'_, PyAny>>,
        timestamp: Option<i64>,
    ) -> PyResult<()> {
        let position = convert::position_arg(start, timestamp, false)?;
        blocking(py, || {
            let mut state = lock(&self.cell)?;
            state.reader()?.seek(topic, partition, position)?;
            state.pending.forget(topic, partition);
            Ok(())
        })
    }

    /// The offset of the next record this reader returns for a partition (None if the
    /// partition is not assigned).
    fn position(&self, py: Python<'_>, topic: &str, partition: u32) -> PyResult<Option<u64>> {
        blocking(py, || {
            let mut state = lock(&self.cell)?;
            let pending = state.pending.first_offset(topic, partition);
            Ok(pending.or(state.reader()?.position(topic, partition)))
        })
    }

    /// The assigned partitions, as `(topic, partition)` tuples.
    fn assignment<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let tps = blocking(py, || {
            let mut state = lock(&self.cell)?;
            Ok(state.reader()?.positions().keys().cloned().collect())
        })?;
        tp_list(py, tps)
    }

    /// Waits up to `timeout` seconds (None: until records come) and returns a list of at
    /// most `max_records` records (empty if none came).
    #[pyo3(signature = (timeout=1.0))]
    fn poll<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyList>> {
        let got = poll_loop(py, &self.cell, timeout_arg(timeout)?, self.max_records)?;
        records::consumed_list(py, got)
    }

    /// Stops the reader; later calls raise `ClosedError`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        close_reader(py, &self.cell)
    }

    /// True once closed (by `close()` or by closing its database).
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        blocking(py, || Ok(lock(&self.cell)?.reader.is_none()))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let assigned = blocking(py, || {
            let state = lock(&self.cell)?;
            Ok(state.reader.as_ref().map(|r| r.positions().len()))
        })?;
        Ok(match assigned {
            Some(count) => format!("<brooklet.Reader of {count} partitions>"),
            None => "<brooklet.Reader (closed)>".to_owned(),
        })
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next record, waiting as long as it takes (Ctrl-C interrupts).
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Record>> {
        next_record(py, &self.cell)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

fn start_or_beginning(
    start: Option<&Bound<'_, PyAny>>,
    timestamp: Option<i64>,
) -> PyResult<Position> {
    if start.is_none_or(PyAnyMethods::is_none) && timestamp.is_none() {
        return Ok(Position::Beginning);
    }
    convert::position_arg(start, timestamp, false)
}

fn next_record<S: Source>(py: Python<'_>, cell: &Arc<Mutex<S>>) -> PyResult<Option<Record>> {
    let got = poll_loop(py, cell, None, 1)?;
    Ok(got
        .into_iter()
        .next()
        .map(|r| Record::new(&PyString::new(py, &r.topic), r.partition, r.record)))
}

// -------------------------------------------------------------------------- Consumer

/// A consumer's state: the Rust consumer (None once closed) and its pending records.
#[derive(Debug)]
pub struct ConsumerState {
    consumer: Option<brooklet::Consumer>,
    pending: Pending,
}

pub type ConsumerCell = Mutex<ConsumerState>;

impl ConsumerState {
    fn consumer(&mut self) -> Result<&mut brooklet::Consumer, Failure> {
        self.consumer
            .as_mut()
            .ok_or(Failure::Closed("the consumer"))
    }

    /// The offset after the last record handed to Python, per owned partition.
    fn positions(&mut self) -> Result<Vec<(TopicPartition, u64)>, Failure> {
        let first = self.pending.first_offsets();
        let consumer = self.consumer()?;
        Ok(consumer
            .assignment()
            .into_iter()
            .filter_map(|tp| {
                let offset = first
                    .get(&tp)
                    .copied()
                    .or_else(|| consumer.position(&tp.topic, tp.partition))?;
                Some((tp, offset))
            })
            .collect())
    }

    /// Before the Rust consumer commits its positions on close: moves them back to the
    /// first record Python was not handed, and forgets the pending records.
    fn rewind(&mut self) {
        let first = self.pending.first_offsets();
        self.pending.records.clear();
        if let Some(consumer) = self.consumer.as_mut() {
            for (tp, offset) in first {
                // Pending partitions are owned: no rebalance runs between polls.
                let _ = consumer.seek(&tp.topic, tp.partition, Position::Offset(offset));
            }
        }
    }

    fn close(&mut self) -> Result<(), Failure> {
        self.rewind();
        match self.consumer.take() {
            Some(consumer) => Ok(consumer.close()?),
            None => Ok(()),
        }
    }
}

impl Drop for ConsumerState {
    fn drop(&mut self) {
        // Dropping a Rust consumer leaves the group, committing its positions with
        // auto-commit on: they must not cover records Python never saw.
        self.rewind();
    }
}

impl Source for ConsumerState {
    fn poll_rust(&mut self, wait: Duration) -> Result<Vec<ConsumedRecord>, Failure> {
        Ok(self.consumer()?.poll(wait)?)
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

/// Closes a consumer (a database's `close` calls this too).
pub fn close_consumer(py: Python<'_>, cell: &Arc<ConsumerCell>) -> PyResult<()> {
    blocking(py, || lock(cell)?.close())
}

/// A member of a consumer group: shares the subscribed topics' partitions with the group's
/// other members (threads or processes) and commits offsets in the file.
#[derive(Debug)]
#[pyclass(frozen, module = "brooklet", name = "Consumer")]
pub struct Consumer {
    cell: Arc<ConsumerCell>,
    db: Brooklet,
    group: String,
    max_records: usize,
}

impl Consumer {
    pub fn join(
        py: Python<'_>,
        db: Brooklet,
        group: &str,
        topics: &[String],
        options: brooklet::ConsumerOptions,
        max_records: usize,
    ) -> PyResult<Self> {
        let consumer = blocking(py, || {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            Ok(db.consumer(group, &names, options)?)
        })?;
        Ok(Self {
            cell: Arc::new(Mutex::new(ConsumerState {
                consumer: Some(consumer),
                pending: Pending::default(),
            })),
            db,
            group: group.to_owned(),
            max_records: max_records.max(1),
        })
    }

    pub fn cell(&self) -> &Arc<ConsumerCell> {
        &self.cell
    }
}

/// `{(topic, partition): offset}` from Python.
fn offsets_arg(offsets: &Bound<'_, PyDict>) -> PyResult<Vec<(TopicPartition, u64)>> {
    let mut out = Vec::with_capacity(offsets.len());
    for (key, value) in offsets.iter() {
        let (topic, partition): (String, Bound<'_, PyAny>) = key.extract().map_err(|_| {
            crate::errors::type_error("an offsets key", "a (topic, partition) tuple", &key)
        })?;
        let partition = convert::partition_number(&partition)?;
        out.push((
            TopicPartition::new(topic, partition),
            convert::offset_number(&value)?,
        ));
    }
    Ok(out)
}

#[pymethods]
impl Consumer {
    /// Waits up to `timeout` seconds (None: until records come) and returns a list of at
    /// most `max_records` records from the partitions this member owns.
    #[pyo3(signature = (timeout=1.0))]
    fn poll<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyList>> {
        let got = poll_loop(py, &self.cell, timeout_arg(timeout)?, self.max_records)?;
        records::consumed_list(py, got)
    }

    /// Commits offsets. With no argument: for every owned partition, the offset after the
    /// last record returned (by `poll` or iteration), as Kafka's `commit()` does. With
    /// `offsets={(topic, partition): offset}`: those offsets, each the next to read.
    /// Raises `FencedError` if this member no longer owns a partition.
    #[pyo3(signature = (offsets=None))]
    fn commit(&self, py: Python<'_>, offsets: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let explicit = offsets.map(offsets_arg).transpose()?;
        blocking(py, || {
            let mut state = lock(&self.cell)?;
            let offsets = match explicit {
                Some(offsets) => offsets,
                None => state.positions()?,
            };
            state.consumer()?.commit_offsets(offsets)?;
            Ok(())
        })
    }

    /// Moves an owned partition: "beginning", "end", "committed", an offset, or
    /// `timestamp=ms`. The next record returned is from there.
    #[pyo3(signature = (topic, partition, position=None, *, timestamp=None))]
    fn seek(
        &self,
        py: Python<'_>,
        topic: &str,
        partition: u32,
        position: Option<&Bound<'_, PyAny>>,
        timestamp: Option<i64>,
    ) -> PyResult<()> {
        let position = convert::position_arg(position, timestamp, true)?;
        blocking(py, || {
            let mut state = lock(&self.cell)?;
            state.consumer()?.seek(topic, partition, position)?;
            state.pending.forget(topic, partition);
            Ok(())
        })
    }

    /// The offset of the next record this member returns for an owned partition (None
    /// if it does not own it).
    fn position(&self, py: Python<'_>, topic: &str, partition: u32) -> PyResult<Option<u64>> {
        blocking(py, || {
            let mut state = lock(&self.cell)?;
            let pending = state.pending.first_offset(topic, partition);
            Ok(pending.or(state.consumer()?.position(topic, partition)))
        })
    }

    /// The group's committed offset for a partition, or None.
    fn committed(&self, py: Python<'_>, topic: &str, partition: u32) -> PyResult<Option<u64>> {
        blocking(py, || {
            Ok(lock(&self.cell)?.consumer()?.committed(topic, partition)?)
        })
    }

    /// Records between this member's position and the partition's end (None if it does
    /// not own the partition).
    fn lag(&self, py: Python<'_>, topic: &str, partition: u32) -> PyResult<Option<u64>> {
        let db = self.db.clone();
        blocking(py, || {
            let mut state = lock(&self.cell)?;
            let pending = state.pending.first_offset(topic, partition);
            let Some(position) = pending.or(state.consumer()?.position(topic, partition)) else {
                return Ok(None);
            };
            Ok(Some(
                db.end_offset(topic, partition)?.saturating_sub(position),
            ))
        })
    }

    /// The partitions this member owns, as `(topic, partition)` tuples.
    fn assignment<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let tps = blocking(py, || Ok(lock(&self.cell)?.consumer()?.assignment()))?;
        tp_list(py, tps)
    }

    /// The group's name.
    #[getter]
    fn group(&self) -> &str {
        &self.group
    }

    /// Leaves the group: with auto-commit, commits the offset after the last record
    /// returned; the partitions move to the other members at once. Calling it again does
    /// nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        close_consumer(py, &self.cell)
    }

    /// True once closed (by `close()` or by closing its database).
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        blocking(py, || Ok(lock(&self.cell)?.consumer.is_none()))
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next record, waiting as long as it takes (Ctrl-C interrupts).
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Record>> {
        next_record(py, &self.cell)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let state = if self.closed(py)? { " (closed)" } else { "" };
        Ok(format!("<brooklet.Consumer group={:?}{state}>", self.group))
    }
}
