//! [`Database`]: an open brooklet file. Admin (topics, groups, check), send, fetch and
//! offsets are its methods; readers and consumers are made from it.
//!
//! Closing it closes every reader and consumer made from it (a consumer leaves its group)
//! and drops the handle; every later call raises `ClosedError`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};

use brooklet::{Brooklet, Durability, Options, Producer, TopicConfig};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::convert;
use crate::follow::{self, ConsumerCell, ReaderCell};
use crate::records::{BatchMetadata, FetchResult, RecordMetadata};
use crate::{Failure, blocking, lock};

/// What an open database holds: the handle and its one producer (so that records without
/// a key stick to one partition per database, as with one Kafka producer).
#[derive(Clone, Debug)]
pub struct Handle {
    pub db: Brooklet,
    producer: Producer,
}

impl Handle {
    fn producer(&self, durability: Option<Durability>) -> Producer {
        match durability {
            None => self.producer.clone(),
            Some(d) => self.producer.clone().with_durability(d),
        }
    }
}

/// Readers and consumers made from a database, closed with it.
#[derive(Debug)]
enum Child {
    Reader(Weak<ReaderCell>),
    Consumer(Weak<ConsumerCell>),
}

impl Child {
    fn is_alive(&self) -> bool {
        match self {
            Self::Reader(w) => w.strong_count() > 0,
            Self::Consumer(w) => w.strong_count() > 0,
        }
    }
}

/// An open brooklet file (`brooklet.open(path)`): a context manager that closes it.
#[derive(Debug)]
#[pyclass(frozen, module = "brooklet", name = "Database")]
pub struct Database {
    handle: RwLock<Option<Handle>>,
    path: PathBuf,
    children: Mutex<Vec<Child>>,
}

/// Opens (or creates) a brooklet file. `busy_timeout` is in seconds.
#[pyfunction]
#[pyo3(signature = (path, *, page_size=None, cache_bytes=None, busy_timeout=None,
    durability="immediate", read_only=false, create=true, maintain_on_open=true))]
#[expect(clippy::too_many_arguments, reason = "Python keyword arguments")]
pub fn open(
    py: Python<'_>,
    path: PathBuf,
    page_size: Option<u32>,
    cache_bytes: Option<usize>,
    busy_timeout: Option<f64>,
    durability: &str,
    read_only: bool,
    create: bool,
    maintain_on_open: bool,
) -> PyResult<Database> {
    let mut options = Options::default()
        .read_only(read_only)
        .maintain_on_open(maintain_on_open);
    if let Some(size) = page_size {
        options = options.page_size(size);
    }
    if let Some(bytes) = cache_bytes {
        options = options.cache_bytes(bytes);
    }
    if let Some(seconds) = busy_timeout {
        options = options.busy_timeout(crate::seconds("busy_timeout", seconds)?);
    }
    if let Some(d) = convert::durability_arg(Some(durability))? {
        options = options.durability(d);
    }
    let opened = blocking(py, || {
        let db = if create && !read_only {
            Brooklet::open_with(&path, options)?
        } else {
            Brooklet::open_existing(&path, options)?
        };
        Ok(db)
    })?;
    warn_if_rolled_back(py, &opened)?;
    let producer = opened.producer();
    Ok(Database {
        handle: RwLock::new(Some(Handle {
            db: opened,
            producer,
        })),
        path,
        children: Mutex::new(Vec::new()),
    })
}

impl Database {
    /// The open handle, or `ClosedError`.
    fn handle(&self) -> PyResult<Handle> {
        let guard = self
            .handle
            .read()
            .map_err(|_| Failure::Internal("database lock poisoned".into()))?;
        guard
            .clone()
            .ok_or_else(|| Failure::Closed("the database").into())
    }

    fn db(&self) -> PyResult<Brooklet> {
        Ok(self.handle()?.db)
    }

    fn adopt(&self, child: Child) -> PyResult<()> {
        let mut children = lock(&self.children)?;
        children.retain(Child::is_alive);
        children.push(child);
        Ok(())
    }
}

fn rolled_back_lines(report: &brooklet::RecoveryReport) -> Vec<String> {
    report.rolled_back.iter().map(ToString::to_string).collect()
}

fn recovery_report<'py>(py: Python<'py>, db: &Brooklet) -> PyResult<Bound<'py, PyAny>> {
    let report = db.recovery_report();
    let fields = PyDict::new(py);
    fields.set_item("opened_txn", report.opened_txn)?;
    fields.set_item("rolled_back", rolled_back_lines(&report))?;
    fields.set_item("lost_durable", report.lost_durable_commit())?;
    fields.set_item("notes", report.notes.clone())?;
    build(py, "RecoveryReport", &fields)
}

/// A rolled-back commit is never silent: `brooklet.RolledBackWarning` at open, as the CLI
/// warns on stderr (an error if the caller's warning filters make it one).
fn warn_if_rolled_back(py: Python<'_>, db: &Brooklet) -> PyResult<()> {
    let report = db.recovery_report();
    if report.is_clean() {
        return Ok(());
    }
    let category = py
        .import("brooklet._errors")?
        .getattr("RolledBackWarning")?;
    for line in rolled_back_lines(&report) {
        let message = std::ffi::CString::new(line)
            .map_err(|_| Failure::Internal("a NUL in a rollback message".into()))?;
        PyErr::warn(py, &category, &message, 1)?;
    }
    Ok(())
}

/// Builds an instance of a result type of `brooklet._types`.
pub fn build<'py>(
    py: Python<'py>,
    class: &str,
    fields: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("brooklet._types")?
        .getattr(class)?
        .call((), Some(fields))
}

fn config_dict<'py>(py: Python<'py>, config: &TopicConfig) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in config.to_pairs() {
        dict.set_item(key, value)?;
    }
    Ok(dict)
}

fn pairs_ref(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[pymethods]
impl Database {
    /// Closes the file: every reader and consumer made from it is closed first (a
    /// consumer leaves its group, committing with auto-commit on). Calling it again does
    /// nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let children: Vec<Child> = std::mem::take(&mut *lock(&self.children)?);
        let mut first_error = None;
        for child in children {
            let result = match child {
                Child::Reader(w) => w.upgrade().map_or(Ok(()), |c| follow::close_reader(py, &c)),
                Child::Consumer(w) => w
                    .upgrade()
                    .map_or(Ok(()), |c| follow::close_consumer(py, &c)),
            };
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        let handle = self
            .handle
            .write()
            .map_err(|_| Failure::Internal("database lock poisoned".into()))?
            .take();
        // The last clone of the handle closes the file; dropping it may wait for a
        // maintenance thread, so without the GIL.
        blocking(py, move || {
            drop(handle);
            Ok(())
        })?;
        first_error.map_or(Ok(()), Err)
    }

    /// True once `close()` was called.
    #[getter]
    fn closed(&self) -> PyResult<bool> {
        Ok(self
            .handle
            .read()
            .map_err(|_| Failure::Internal("database lock poisoned".into()))?
            .is_none())
    }

    /// The path the file was opened with.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The file's page size in bytes.
    #[getter]
    fn page_size(&self) -> PyResult<u32> {
        Ok(self.db()?.page_size())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> PyResult<String> {
        let state = if self.closed()? { " (closed)" } else { "" };
        Ok(format!(
            "<brooklet.Database {}{state}>",
            self.path.display()
        ))
    }

    // ---- topics

    /// Creates a topic. `config` takes Kafka's config names, values `str` or `int`.
    #[pyo3(signature = (name, partitions=1, config=None))]
    fn create_topic(
        &self,
        py: Python<'_>,
        name: &str,
        partitions: u32,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let pairs = convert::config_arg(config)?;
        let db = self.db()?;
        blocking(py, || {
            let config = TopicConfig::from_pairs(pairs_ref(&pairs))?;
            db.admin().create_topic(name, partitions, config)?;
            Ok(())
        })
    }

    /// Every topic, by name: a list of `TopicInfo`.
    fn topics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let db = self.db()?;
        let topics = blocking(py, || Ok(db.admin().topics()?))?;
        let built = topics
            .iter()
            .map(|t| {
                let fields = PyDict::new(py);
                fields.set_item("name", &t.name)?;
                fields.set_item("partitions", t.partitions)?;
                fields.set_item("config", config_dict(py, &t.config)?)?;
                build(py, "TopicInfo", &fields)
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, built)
    }

    /// A topic's config and each partition's offsets and size: a `TopicDescription`.
    fn describe_topic<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let db = self.db()?;
        let d = blocking(py, || Ok(db.admin().describe_topic(name)?))?;
        let partitions = d
            .partitions
            .iter()
            .map(|p| {
                let fields = PyDict::new(py);
                fields.set_item("partition", p.partition)?;
                fields.set_item("beginning_offset", p.beginning_offset)?;
                fields.set_item("end_offset", p.end_offset)?;
                fields.set_item("bytes", p.bytes)?;
                fields.set_item("segments", p.segments)?;
                build(py, "PartitionInfo", &fields)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let fields = PyDict::new(py);
        fields.set_item("name", &d.name)?;
        fields.set_item("config", config_dict(py, &d.config)?)?;
        fields.set_item("partitions", PyList::new(py, partitions)?)?;
        build(py, "TopicDescription", &fields)
    }

    /// Deletes a topic and all its records.
    fn delete_topic(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let db = self.db()?;
        blocking(py, || Ok(db.admin().delete_topic(name)?))
    }

    /// Deletes the records of a partition below offset `before` (Kafka's
    /// `deleteRecords`): its beginning offset moves up to `before` and the segments wholly
    /// below it are freed. Returns the new beginning offset. Past the end is
    /// `OffsetOutOfRange`; at or below the beginning changes nothing.
    fn delete_records(
        &self,
        py: Python<'_>,
        topic: &str,
        partition: u32,
        before: u64,
    ) -> PyResult<u64> {
        let db = self.db()?;
        blocking(py, || {
            Ok(db.admin().delete_records(topic, partition, before)?)
        })
    }

    /// Changes configs of a topic (Kafka's names); returns the whole new config.
    fn alter_topic<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        config: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let pairs = convert::config_arg(Some(config))?;
        let db = self.db()?;
        let config = blocking(py, || {
            Ok(db.admin().alter_topic_config(name, &pairs_ref(&pairs))?)
        })?;
        config_dict(py, &config)
    }

    // ---- groups

    /// Every consumer group, by name.
    fn groups(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let db = self.db()?;
        blocking(py, || Ok(db.admin().groups()?))
    }

    /// A group's members and, per partition, committed offset, end, lag and owner: a
    /// `GroupDescription`.
    fn describe_group<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let db = self.db()?;
        let g = blocking(py, || Ok(db.admin().describe_group(name)?))?;
        group_description(py, &g)
    }

    /// Deletes a group and its committed offsets; it must have no live member.
    fn delete_group(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let db = self.db()?;
        blocking(py, || Ok(db.admin().delete_group(name)?))
    }

    /// Moves a group's committed offsets (of `topic`, or of every topic it has offsets
    /// for) to `to`: "beginning", "end", an offset, or `timestamp=ms`. The group must have
    /// no live member. Returns `{(topic, partition): offset}`.
    #[pyo3(signature = (name, to=None, *, topic=None, timestamp=None))]
    fn reset_group<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        to: Option<&Bound<'py, PyAny>>,
        topic: Option<&str>,
        timestamp: Option<i64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let position = convert::position_arg(to, timestamp, false)?;
        let db = self.db()?;
        let moved = blocking(py, || {
            Ok(db.admin().reset_group_offsets(name, position, topic)?)
        })?;
        let out = PyDict::new(py);
        for (tp, offset) in moved {
            out.set_item((tp.topic, tp.partition), offset)?;
        }
        Ok(out)
    }

    // ---- the file

    /// Verifies the whole file: a `CheckReport` (`clean` is true when nothing is wrong).
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let db = self.db()?;
        let report = blocking(py, || Ok(db.admin().check()?))?;
        let fields = PyDict::new(py);
        fields.set_item("clean", report.is_clean())?;
        let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        fields.set_item("problems", problems)?;
        fields.set_item("page_size", report.page_size)?;
        fields.set_item("page_count", report.page_count)?;
        fields.set_item("free_pages", report.free_pages())?;
        fields.set_item("tree_count", report.tree_count)?;
        fields.set_item("entry_count", report.entry_count)?;
        let recovery = db.recovery_report();
        fields.set_item("clean", report.is_clean() && recovery.is_clean())?;
        fields.set_item("rolled_back", rolled_back_lines(&recovery))?;
        fields.set_item("lost_durable", recovery.lost_durable_commit())?;
        build(py, "CheckReport", &fields)
    }

    /// What opening the file found: a `RecoveryReport` (commits rolled back, notes).
    #[getter]
    fn recovery<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        recovery_report(py, &self.db()?)
    }

    /// Makes every earlier commit durable (after sends with durability "none").
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.db()?;
        blocking(py, || Ok(db.flush()?))
    }

    // ---- offsets

    /// The first offset still stored in a partition.
    fn beginning_offset(&self, py: Python<'_>, topic: &str, partition: u32) -> PyResult<u64> {
        let db = self.db()?;
        blocking(py, || Ok(db.beginning_offset(topic, partition)?))
    }

    /// The offset the next record of a partition will get.
    fn end_offset(&self, py: Python<'_>, topic: &str, partition: u32) -> PyResult<u64> {
        let db = self.db()?;
        blocking(py, || Ok(db.end_offset(topic, partition)?))
    }

    /// The first offset whose timestamp is at or after `timestamp` (ms), or None if every
    /// record is older.
    fn offset_for_time(
        &self,
        py: Python<'_>,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> PyResult<Option<u64>> {
        let db = self.db()?;
        blocking(py, || Ok(db.offset_for_time(topic, partition, timestamp)?))
    }

    // ---- send and fetch

    /// Sends one record; returns its `RecordMetadata` once committed.
    #[pyo3(signature = (topic, value, key=None, headers=None, partition=None, timestamp=None, durability=None))]
    #[expect(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn send(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyString>,
        value: &Bound<'_, PyAny>,
        key: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        partition: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
        durability: Option<&str>,
    ) -> PyResult<RecordMetadata> {
        let record = convert::record(key, value, headers, timestamp)?;
        let partition = convert::partition_arg(partition)?;
        let producer = self
            .handle()?
            .producer(convert::durability_arg(durability)?);
        let name = topic.to_cow()?;
        let sent = blocking(py, || {
            Ok(match partition {
                Some(p) => producer.send_to(&name, p, record)?,
                None => producer.send(&name, record)?,
            })
        })?;
        Ok(RecordMetadata::new(topic, sent))
    }

    /// Sends records in one atomic commit: all are stored or none. Each record is a
    /// `(key, value)` tuple or a dict with "value" and any of "key", "headers",
    /// "partition", "timestamp". `partition` applies to records that name none. Returns
    /// a `RecordMetadata` per record, in order.
    #[pyo3(signature = (topic, records, partition=None, durability=None))]
    fn send_batch<'py>(
        &self,
        py: Python<'py>,
        topic: &Bound<'py, PyString>,
        records: &Bound<'py, PyAny>,
        partition: Option<&Bound<'py, PyAny>>,
        durability: Option<&str>,
    ) -> PyResult<BatchMetadata> {
        let default_partition = convert::partition_arg(partition)?;
        let (records, routes) = convert::records_arg(records)?;
        let producer = self
            .handle()?
            .producer(convert::durability_arg(durability)?);
        let name = topic.to_cow()?;
        let any_routed = routes.iter().any(Option::is_some);
        let sent = blocking(py, || {
            Ok(match (any_routed, default_partition) {
                (false, None) => producer.send_batch(&name, records)?,
                (false, Some(p)) => producer.send_batch_to(&name, p, records)?,
                (true, default) => {
                    let pairs = routes
                        .into_iter()
                        .map(|r| r.or(default))
                        .zip(records)
                        .collect();
                    producer.send_batch_routed(&name, pairs)?
                }
            })
        })?;
        Ok(BatchMetadata::new(topic, sent))
    }

    /// Fetches records of one partition from `offset`: at most `max_records`, stopping
    /// after about `max_bytes` of stored batches (at least one record when any is there).
    #[pyo3(signature = (topic, partition, offset=0, max_records=500, max_bytes=1_048_576))]
    fn fetch(
        &self,
        py: Python<'_>,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> PyResult<FetchResult> {
        let db = self.db()?;
        let limits = brooklet::FetchLimits {
            max_records,
            max_bytes,
        };
        let mut fetched = blocking(py, || Ok(db.fetch(topic, partition, offset, limits)?))?;
        // Whole batches come back; keep the promise of `max_records` exactly.
        let mut next_offset = fetched.next_offset;
        if fetched.records.len() > max_records {
            fetched.records.truncate(max_records);
            next_offset = fetched.records.last().map_or(offset, |r| r.offset + 1);
        }
        Ok(FetchResult::new(
            &PyString::new(py, topic),
            partition,
            fetched,
            next_offset,
        ))
    }

    // ---- readers and consumers

    /// A reader with no partitions assigned yet: `assign`, then `poll`.
    #[pyo3(signature = (*, auto_offset_reset="earliest", max_records=500, max_bytes=1_048_576))]
    fn reader(
        &self,
        auto_offset_reset: &str,
        max_records: usize,
        max_bytes: usize,
    ) -> PyResult<follow::Reader> {
        let db = self.db()?;
        let reset = convert::reset_arg(auto_offset_reset)?;
        let limits = brooklet::FetchLimits {
            max_records,
            max_bytes,
        };
        let reader = follow::Reader::new(db, reset, limits);
        self.adopt(Child::Reader(Arc::downgrade(reader.cell())))?;
        Ok(reader)
    }

    /// Joins consumer group `group` subscribed to `topics` (one name or a list).
    #[pyo3(signature = (group, topics, *, auto_offset_reset="latest", enable_auto_commit=true,
        auto_commit_interval=5.0, session_timeout=10.0, max_poll_interval=300.0,
        heartbeat_interval=1.0, wait_for_topics=false, max_records=500, max_bytes=1_048_576,
        assignor="range", commit_durability="immediate"))]
    #[expect(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn consumer(
        &self,
        py: Python<'_>,
        group: &str,
        topics: &Bound<'_, PyAny>,
        auto_offset_reset: &str,
        enable_auto_commit: bool,
        auto_commit_interval: f64,
        session_timeout: f64,
        max_poll_interval: f64,
        heartbeat_interval: f64,
        wait_for_topics: bool,
        max_records: usize,
        max_bytes: usize,
        assignor: &str,
        commit_durability: &str,
    ) -> PyResult<follow::Consumer> {
        let topics = topics_arg(topics)?;
        let options = brooklet::ConsumerOptions {
            auto_offset_reset: convert::reset_arg(auto_offset_reset)?,
            wait_for_topics,
            auto_commit_interval: if enable_auto_commit {
                Some(crate::seconds(
                    "auto_commit_interval",
                    auto_commit_interval,
                )?)
            } else {
                None
            },
            session_timeout: crate::seconds("session_timeout", session_timeout)?,
            max_poll_interval: crate::seconds("max_poll_interval", max_poll_interval)?,
            heartbeat_interval: crate::seconds("heartbeat_interval", heartbeat_interval)?,
            assignor: assignor_arg(assignor)?,
            limits: brooklet::FetchLimits {
                max_records,
                max_bytes,
            },
            isolation: brooklet::Isolation::ReadCommitted,
            commit_durability: convert::durability_arg(Some(commit_durability))?
                .unwrap_or_default(),
        };
        let db = self.db()?;
        let consumer = follow::Consumer::join(py, db, group, &topics, options, max_records)?;
        self.adopt(Child::Consumer(Arc::downgrade(consumer.cell())))?;
        Ok(consumer)
    }
}

fn topics_arg(topics: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(one) = topics.cast::<PyString>() {
        return Ok(vec![one.to_cow()?.into_owned()]);
    }
    let mut out = Vec::new();
    for item in topics.try_iter()? {
        let item = item?;
        let name = item
            .cast::<PyString>()
            .map_err(|_| crate::errors::type_error("a topic", "str", &item))?;
        out.push(name.to_cow()?.into_owned());
    }
    Ok(out)
}

fn assignor_arg(name: &str) -> PyResult<brooklet::Assignor> {
    match name {
        "range" => Ok(brooklet::Assignor::Range),
        "roundrobin" => Ok(brooklet::Assignor::RoundRobin),
        "sticky" => Ok(brooklet::Assignor::Sticky),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "assignor must be \"range\", \"roundrobin\" or \"sticky\"; got {other:?}"
        ))),
    }
}

fn assignor_name(assignor: brooklet::Assignor) -> &'static str {
    match assignor {
        brooklet::Assignor::RoundRobin => "roundrobin",
        brooklet::Assignor::Sticky => "sticky",
        _ => "range",
    }
}

fn group_description<'py>(
    py: Python<'py>,
    g: &brooklet::GroupDescription,
) -> PyResult<Bound<'py, PyAny>> {
    let members = g
        .members
        .iter()
        .map(|m| {
            let fields = PyDict::new(py);
            fields.set_item("id", &m.id)?;
            fields.set_item("pid", m.pid)?;
            fields.set_item("topics", &m.topics)?;
            fields.set_item("heartbeat_ms", m.heartbeat_ms)?;
            fields.set_item("live", m.live)?;
            build(py, "MemberDescription", &fields)
        })
        .collect::<PyResult<Vec<_>>>()?;
    let partitions = g
        .partitions
        .iter()
        .map(|p| {
            let fields = PyDict::new(py);
            fields.set_item("topic", &p.topic)?;
            fields.set_item("partition", p.partition)?;
            fields.set_item("committed", p.committed)?;
            fields.set_item("end", p.end)?;
            fields.set_item("lag", p.lag)?;
            fields.set_item("owner", &p.owner)?;
            build(py, "GroupPartition", &fields)
        })
        .collect::<PyResult<Vec<_>>>()?;
    let fields = PyDict::new(py);
    fields.set_item("group", &g.group)?;
    fields.set_item("generation", g.generation)?;
    fields.set_item("assignor", assignor_name(g.assignor))?;
    fields.set_item("members", PyList::new(py, members)?)?;
    fields.set_item("partitions", PyList::new(py, partitions)?)?;
    build(py, "GroupDescription", &fields)
}
