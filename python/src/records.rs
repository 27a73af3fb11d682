//! What reads and sends return: [`Record`] (a fetched or consumed record),
//! [`RecordMetadata`] (where a sent record was stored) and [`FetchResult`] (one fetch).
//!
//! Records are built for every fetched record, so they are cheap: a frozen object that
//! owns the record's Rust data and shares one topic string with its batch; `key`, `value`
//! and `headers` become Python objects only when read.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use brooklet::{ConsumedRecord, StoredRecord};
use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PySlice, PyString, PyTuple};

/// A record read from a partition. A record of `fetch` shares the fetch's memory: holding
/// one keeps the whole fetch's records alive.
#[derive(Debug)]
#[pyclass(frozen, module = "brooklet", name = "Record")]
pub struct Record {
    topic: Py<PyString>,
    partition: u32,
    data: RecordData,
}

/// A record's Rust data: its own, or one of a fetch's records, shared with the fetch (so
/// iterating a fetch copies no key or value until Python reads it).
#[derive(Debug)]
enum RecordData {
    Owned(StoredRecord),
    Shared(Arc<Vec<StoredRecord>>, usize),
}

impl Record {
    pub fn new(topic: &Bound<'_, PyString>, partition: u32, record: StoredRecord) -> Self {
        Self {
            topic: topic.clone().unbind(),
            partition,
            data: RecordData::Owned(record),
        }
    }

    fn shared(
        py: Python<'_>,
        topic: &Py<PyString>,
        partition: u32,
        records: &Arc<Vec<StoredRecord>>,
        index: usize,
    ) -> Self {
        Self {
            topic: topic.clone_ref(py),
            partition,
            data: RecordData::Shared(Arc::clone(records), index),
        }
    }

    fn stored(&self) -> &StoredRecord {
        match &self.data {
            RecordData::Owned(record) => record,
            RecordData::Shared(records, index) => &records[*index],
        }
    }
}

fn bytes_or_none<'py>(py: Python<'py>, bytes: Option<&Vec<u8>>) -> Option<Bound<'py, PyBytes>> {
    bytes.map(|b| PyBytes::new(py, b))
}

/// `repr()` of bytes, cut after 60 bytes.
fn short_repr(py: Python<'_>, bytes: Option<&Vec<u8>>) -> PyResult<String> {
    const SHOWN: usize = 60;
    Ok(match bytes {
        None => "None".to_owned(),
        Some(b) if b.len() > SHOWN => format!(
            "{}...({} bytes)",
            PyBytes::new(py, &b[..SHOWN]).repr()?,
            b.len()
        ),
        Some(b) => PyBytes::new(py, b).repr()?.to_string(),
    })
}

#[pymethods]
impl Record {
    /// The topic.
    #[getter]
    fn topic(&self, py: Python<'_>) -> Py<PyString> {
        self.topic.clone_ref(py)
    }

    /// The partition.
    #[getter]
    fn partition(&self) -> u32 {
        self.partition
    }

    /// The offset in the partition.
    #[getter]
    fn offset(&self) -> u64 {
        self.stored().offset
    }

    /// Milliseconds since the Unix epoch (create time, or log-append time).
    #[getter]
    fn timestamp(&self) -> i64 {
        self.stored().timestamp_ms
    }

    /// The key, or None (Kafka's null).
    #[getter]
    fn key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        bytes_or_none(py, self.stored().key.as_ref())
    }

    /// The value, or None (Kafka's null: a tombstone).
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        bytes_or_none(py, self.stored().value.as_ref())
    }

    /// The headers in stored order, duplicates kept: `(str, bytes | None)` pairs.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let pairs = self
            .stored()
            .headers
            .iter()
            .map(|h| {
                PyTuple::new(
                    py,
                    [
                        PyString::new(py, &h.key).into_any(),
                        match &h.value {
                            Some(v) => PyBytes::new(py, v).into_any(),
                            None => py.None().into_bound(py),
                        },
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, pairs)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let stored = self.stored();
        let headers = if stored.headers.is_empty() {
            String::new()
        } else {
            format!(", headers={}", self.headers(py)?.repr()?)
        };
        Ok(format!(
            "Record(topic={}, partition={}, offset={}, timestamp={}, key={}, value={}{headers})",
            self.topic.bind(py).repr()?,
            self.partition,
            stored.offset,
            stored.timestamp_ms,
            short_repr(py, stored.key.as_ref())?,
            short_repr(py, stored.value.as_ref())?,
        ))
    }

    fn __hash__(&self) -> u64 {
        // Equal records have equal partitions and offsets.
        (u64::from(self.partition) << 48) ^ self.stored().offset
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<Record>() else {
            return Ok(false);
        };
        let other = other.get();
        Ok(self.partition == other.partition
            && self.stored() == other.stored()
            && PyAnyMethods::eq(self.topic.bind(py).as_any(), other.topic.bind(py))?)
    }
}

/// Builds Python records for consumed records (of any partitions), in order.
pub fn consumed_list<'py>(
    py: Python<'py>,
    records: Vec<ConsumedRecord>,
) -> PyResult<Bound<'py, PyList>> {
    // Consecutive records mostly share a topic: one Python string for each run.
    let mut topic: Option<(String, Bound<'py, PyString>)> = None;
    let mut built = Vec::with_capacity(records.len());
    for r in records {
        let shared = match topic {
            Some((name, text)) if name == r.topic => (name, text),
            _ => {
                let text = PyString::new(py, &r.topic);
                (r.topic.clone(), text)
            }
        };
        built.push(Bound::new(
            py,
            Record::new(&shared.1, r.partition, r.record),
        )?);
        topic = Some(shared);
    }
    PyList::new(py, built)
}

/// Where a sent record was stored.
#[derive(Debug)]
#[pyclass(frozen, module = "brooklet", name = "RecordMetadata")]
pub struct RecordMetadata {
    topic: Py<PyString>,
    partition: u32,
    offset: u64,
    timestamp: i64,
}

impl RecordMetadata {
    pub fn new(topic: &Bound<'_, PyString>, meta: brooklet::RecordMetadata) -> Self {
        Self {
            topic: topic.clone().unbind(),
            partition: meta.partition,
            offset: meta.offset,
            timestamp: meta.timestamp_ms,
        }
    }
}

#[pymethods]
impl RecordMetadata {
    /// The topic.
    #[getter]
    fn topic(&self, py: Python<'_>) -> Py<PyString> {
        self.topic.clone_ref(py)
    }

    /// The partition the record went to.
    #[getter]
    fn partition(&self) -> u32 {
        self.partition
    }

    /// The record's offset in the partition.
    #[getter]
    fn offset(&self) -> u64 {
        self.offset
    }

    /// The record's timestamp as stored, ms since the Unix epoch.
    #[getter]
    fn timestamp(&self) -> i64 {
        self.timestamp
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "RecordMetadata(topic={}, partition={}, offset={}, timestamp={})",
            self.topic.bind(py).repr()?,
            self.partition,
            self.offset,
            self.timestamp
        ))
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<RecordMetadata>() else {
            return Ok(false);
        };
        let other = other.get();
        Ok(self.partition == other.partition
            && self.offset == other.offset
            && self.timestamp == other.timestamp
            && PyAnyMethods::eq(self.topic.bind(py).as_any(), other.topic.bind(py))?)
    }
}

/// An index into a sequence of `len` items, Python style (negative counts from the end).
fn sequence_index(index: isize, len: usize) -> PyResult<usize> {
    let resolved = if index < 0 {
        len.checked_sub(index.unsigned_abs())
    } else {
        Some(index.unsigned_abs()).filter(|i| *i < len)
    };
    resolved.ok_or_else(|| PyIndexError::new_err("index out of range"))
}

/// The indexes a slice selects from a sequence of `len` items.
fn slice_indexes(slice: &Bound<'_, PySlice>, len: usize) -> PyResult<Vec<usize>> {
    let len = isize::try_from(len).map_err(|_| PyIndexError::new_err("too long"))?;
    let found = slice.indices(len)?;
    let mut out = Vec::with_capacity(found.slicelength);
    let mut at = found.start;
    for _ in 0..found.slicelength {
        out.push(at.unsigned_abs());
        at += found.step;
    }
    Ok(out)
}

/// What `send_batch` returns: a `RecordMetadata` per record, in order, as a read-only
/// sequence (index, slice, iterate, compare with a list). The objects are built when read:
/// building a thousand objects per call, which the garbage collector then tracks, cost a
/// third of `send_batch`'s throughput.
#[derive(Debug)]
#[pyclass(frozen, sequence, module = "brooklet", name = "BatchMetadata")]
pub struct BatchMetadata {
    topic: Py<PyString>,
    sent: Vec<brooklet::RecordMetadata>,
}

impl BatchMetadata {
    pub fn new(topic: &Bound<'_, PyString>, sent: Vec<brooklet::RecordMetadata>) -> Self {
        Self {
            topic: topic.clone().unbind(),
            sent,
        }
    }

    fn item(&self, py: Python<'_>, index: usize) -> RecordMetadata {
        RecordMetadata::new(self.topic.bind(py), self.sent[index])
    }
}

#[pymethods]
impl BatchMetadata {
    fn __len__(&self) -> usize {
        self.sent.len()
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(slice) = index.cast::<PySlice>() {
            let items = slice_indexes(slice, self.sent.len())?
                .into_iter()
                .map(|i| Bound::new(py, self.item(py, i)))
                .collect::<PyResult<Vec<_>>>()?;
            return Ok(PyList::new(py, items)?.into_any());
        }
        let index: isize = index
            .extract()
            .map_err(|_| crate::errors::type_error("an index", "an int or a slice", index))?;
        let at = sequence_index(index, self.sent.len())?;
        Ok(Bound::new(py, self.item(py, at))?.into_any())
    }

    fn __iter__(slf: Bound<'_, Self>) -> MetadataIter {
        MetadataIter {
            batch: slf.unbind(),
            next: AtomicUsize::new(0),
        }
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(len) = other.len() else {
            return Ok(false);
        };
        if len != self.sent.len() || other.is_instance_of::<PyString>() {
            return Ok(false);
        }
        for (i, theirs) in other.try_iter()?.enumerate() {
            let mine = Bound::new(py, self.item(py, i))?;
            if !mine.as_any().eq(theirs?)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        const SHOWN: usize = 3;
        let mut parts = Vec::new();
        for i in 0..self.sent.len().min(SHOWN) {
            parts.push(self.item(py, i).__repr__(py)?);
        }
        if self.sent.len() > SHOWN {
            parts.push(format!("... {} more", self.sent.len() - SHOWN));
        }
        Ok(format!("BatchMetadata([{}])", parts.join(", ")))
    }
}

/// Iterates a [`BatchMetadata`].
#[derive(Debug)]
#[pyclass(frozen, module = "brooklet")]
pub struct MetadataIter {
    batch: Py<BatchMetadata>,
    next: AtomicUsize,
}

#[pymethods]
impl MetadataIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> Option<RecordMetadata> {
        let batch = self.batch.get();
        let at = self.next.fetch_add(1, Ordering::Relaxed);
        (at < batch.sent.len()).then(|| batch.item(py, at))
    }
}

/// The records of one fetch, and where the partition stands: iterate it (or index it) for
/// the records, which are built as they are read.
#[derive(Debug)]
#[pyclass(frozen, sequence, module = "brooklet", name = "FetchResult")]
pub struct FetchResult {
    topic: Py<PyString>,
    partition: u32,
    records: Arc<Vec<StoredRecord>>,
    next_offset: u64,
    end_offset: u64,
    beginning_offset: u64,
}

impl FetchResult {
    pub fn new(
        topic: &Bound<'_, PyString>,
        partition: u32,
        fetched: brooklet::Fetched,
        next_offset: u64,
    ) -> Self {
        Self {
            topic: topic.clone().unbind(),
            partition,
            records: Arc::new(fetched.records),
            next_offset,
            end_offset: fetched.end_offset,
            beginning_offset: fetched.beginning_offset,
        }
    }

    fn item(&self, py: Python<'_>, index: usize) -> Record {
        Record::shared(py, &self.topic, self.partition, &self.records, index)
    }
}

#[pymethods]
impl FetchResult {
    /// The records, in offset order, as a new list.
    #[getter]
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = (0..self.records.len())
            .map(|i| Bound::new(py, self.item(py, i)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The offset to fetch from next.
    #[getter]
    fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// The partition's end offset (the offset the next record will get) when fetched.
    #[getter]
    fn end_offset(&self) -> u64 {
        self.end_offset
    }

    /// The partition's first offset when fetched.
    #[getter]
    fn beginning_offset(&self) -> u64 {
        self.beginning_offset
    }

    fn __iter__(slf: Bound<'_, Self>) -> FetchIter {
        FetchIter {
            fetched: slf.unbind(),
            next: AtomicUsize::new(0),
        }
    }

    fn __len__(&self) -> usize {
        self.records.len()
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(slice) = index.cast::<PySlice>() {
            let items = slice_indexes(slice, self.records.len())?
                .into_iter()
                .map(|i| Bound::new(py, self.item(py, i)))
                .collect::<PyResult<Vec<_>>>()?;
            return Ok(PyList::new(py, items)?.into_any());
        }
        let index: isize = index
            .extract()
            .map_err(|_| crate::errors::type_error("an index", "an int or a slice", index))?;
        let at = sequence_index(index, self.records.len())?;
        Ok(Bound::new(py, self.item(py, at))?.into_any())
    }

    fn __repr__(&self) -> String {
        format!(
            "FetchResult({} records, next_offset={}, end_offset={}, beginning_offset={})",
            self.records.len(),
            self.next_offset,
            self.end_offset,
            self.beginning_offset
        )
    }
}

/// Iterates a [`FetchResult`], building each record as it is reached.
#[derive(Debug)]
#[pyclass(frozen, module = "brooklet")]
pub struct FetchIter {
    fetched: Py<FetchResult>,
    next: AtomicUsize,
}

#[pymethods]
impl FetchIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> Option<Record> {
        let fetched = self.fetched.get();
        let at = self.next.fetch_add(1, Ordering::Relaxed);
        (at < fetched.records.len()).then(|| fetched.item(py, at))
    }
}
