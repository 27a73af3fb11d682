//! What reads and sends return: [`Record`] (a fetched or consumed record),
//! [`RecordMetadata`] (where a sent record was stored) and [`FetchResult`] (one fetch).
//!
//! Records are built for every fetched record, so they are cheap: a frozen object that
//! owns the record's Rust data and shares one topic string with its batch; `key`, `value`
//! and `headers` become Python objects only when read.

use brooklet::{ConsumedRecord, Header, StoredRecord};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

/// A record read from a partition.
#[derive(Debug)]
#[pyclass(frozen, module = "brooklet", name = "Record")]
pub struct Record {
    topic: Py<PyString>,
    partition: u32,
    offset: u64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

impl Record {
    pub fn new(topic: &Bound<'_, PyString>, partition: u32, record: StoredRecord) -> Self {
        Self {
            topic: topic.clone().unbind(),
            partition,
            offset: record.offset,
            timestamp: record.timestamp_ms,
            key: record.key,
            value: record.value,
            headers: record.headers,
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
        self.offset
    }

    /// Milliseconds since the Unix epoch (create time, or log-append time).
    #[getter]
    fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The key, or None (Kafka's null).
    #[getter]
    fn key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        bytes_or_none(py, self.key.as_ref())
    }

    /// The value, or None (Kafka's null: a tombstone).
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        bytes_or_none(py, self.value.as_ref())
    }

    /// The headers in stored order, duplicates kept: `(str, bytes | None)` pairs.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let pairs = self
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
        let headers = if self.headers.is_empty() {
            String::new()
        } else {
            format!(", headers={}", self.headers(py)?.repr()?)
        };
        Ok(format!(
            "Record(topic={}, partition={}, offset={}, timestamp={}, key={}, value={}{headers})",
            self.topic.bind(py).repr()?,
            self.partition,
            self.offset,
            self.timestamp,
            short_repr(py, self.key.as_ref())?,
            short_repr(py, self.value.as_ref())?,
        ))
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<Record>() else {
            return Ok(false);
        };
        let other = other.get();
        Ok(self.partition == other.partition
            && self.offset == other.offset
            && self.timestamp == other.timestamp
            && self.key == other.key
            && self.value == other.value
            && self.headers == other.headers
            && PyAnyMethods::eq(self.topic.bind(py).as_any(), other.topic.bind(py))?)
    }
}

/// Builds Python records for records of one partition.
pub fn records_list<'py>(
    py: Python<'py>,
    topic: &str,
    partition: u32,
    records: Vec<StoredRecord>,
) -> PyResult<Bound<'py, PyList>> {
    let topic = PyString::new(py, topic);
    let built = records
        .into_iter()
        .map(|r| Bound::new(py, Record::new(&topic, partition, r)))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, built)
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

/// Builds the metadata list of a send.
pub fn metadata_list<'py>(
    py: Python<'py>,
    topic: &str,
    sent: Vec<brooklet::RecordMetadata>,
) -> PyResult<Bound<'py, PyList>> {
    let topic = PyString::new(py, topic);
    let built = sent
        .into_iter()
        .map(|m| Bound::new(py, RecordMetadata::new(&topic, m)))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, built)
}

/// The records of one fetch, and where the partition stands: iterate it for the records.
#[derive(Debug)]
#[pyclass(frozen, module = "brooklet", name = "FetchResult")]
pub struct FetchResult {
    records: Py<PyList>,
    next_offset: u64,
    end_offset: u64,
    beginning_offset: u64,
}

impl FetchResult {
    pub fn new(
        records: Bound<'_, PyList>,
        next_offset: u64,
        end_offset: u64,
        beginning_offset: u64,
    ) -> Self {
        Self {
            records: records.unbind(),
            next_offset,
            end_offset,
            beginning_offset,
        }
    }
}

#[pymethods]
impl FetchResult {
    /// The records, in offset order.
    #[getter]
    fn records(&self, py: Python<'_>) -> Py<PyList> {
        self.records.clone_ref(py)
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

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
        self.records.bind(py).try_iter()
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.records.bind(py).len()
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.records.bind(py).as_any().get_item(index)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "FetchResult({} records, next_offset={}, end_offset={}, beginning_offset={})",
            self.records.bind(py).len(),
            self.next_offset,
            self.end_offset,
            self.beginning_offset
        )
    }
}
