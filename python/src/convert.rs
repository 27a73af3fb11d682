//! Python values into brooklet's types: keys, values and headers into [`Record`]s,
//! partitions, timestamps, durabilities and positions.
//!
//! `send_batch` runs every record through [`record_arg`] with the GIL held, so its paths
//! are kept short: a `(key, value)` tuple of `bytes` costs two type checks and two copies;
//! a dict looks up its keys as interned strings.

use brooklet::{Durability, Header, Position, Record};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString, PyTuple};

use crate::errors::type_error;

const BYTES_LIKE: &str = "bytes, bytearray, memoryview, str or None";

/// A key, value or header value: `None` is Kafka's null; `str` is encoded as UTF-8.
pub fn bytes_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<Vec<u8>>> {
    if let Ok(bytes) = obj.cast_exact::<PyBytes>() {
        return Ok(Some(bytes.as_bytes().to_vec()));
    }
    if obj.is_none() {
        return Ok(None);
    }
    if let Ok(text) = obj.cast::<PyString>() {
        return Ok(Some(text.to_cow()?.into_owned().into_bytes()));
    }
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(Some(bytes.as_bytes().to_vec()));
    }
    if let Ok(array) = obj.cast::<PyByteArray>() {
        return Ok(Some(array.to_vec()));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        // The buffer protocol is not in the stable ABI before 3.11: copy through bytes().
        let copied = obj.py().get_type::<PyBytes>().call1((obj,))?;
        return Ok(Some(copied.cast::<PyBytes>()?.as_bytes().to_vec()));
    }
    Err(type_error(what, BYTES_LIKE, obj))
}

/// Headers: `None`, a list (or other iterable) of `(str, value)` pairs, or a dict.
pub fn headers_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Header>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    if let Ok(dict) = obj.cast::<PyDict>() {
        return dict
            .iter()
            .map(|(key, value)| header(&key, &value))
            .collect();
    }
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(type_error(
            "headers",
            "a list of (str, bytes) pairs or a dict",
            obj,
        ));
    }
    let mut out = Vec::new();
    for item in obj.try_iter()? {
        let item = item?;
        let pair = item
            .cast::<PyTuple>()
            .map_err(|_| type_error("a header", "a (str, bytes | str | None) tuple", &item))?;
        if pair.len() != 2 {
            return Err(PyValueError::new_err(format!(
                "a header must be a (key, value) pair; got a tuple of {}",
                pair.len()
            )));
        }
        let (key, value) = (pair.get_borrowed_item(0)?, pair.get_borrowed_item(1)?);
        out.push(header(&key, &value)?);
    }
    Ok(out)
}

fn header(key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Header> {
    let key = key
        .cast::<PyString>()
        .map_err(|_| type_error("a header key", "str", key))?
        .to_cow()?
        .into_owned();
    Ok(Header {
        key,
        value: bytes_arg(value, "a header value")?,
    })
}

/// A partition number: `None`, or an int from 0.
pub fn partition_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u32>> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(None),
        Some(obj) => partition_number(obj).map(Some),
    }
}

/// A partition number that must be given: an int from 0.
pub fn partition_number(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    let number: i64 = obj
        .extract()
        .map_err(|_| type_error("partition", "an int", obj))?;
    u32::try_from(number).map_err(|_| {
        PyValueError::new_err(format!("partition must be 0 to {}; got {number}", u32::MAX))
    })
}

/// An offset: an int from 0.
pub fn offset_number(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    let number: i128 = obj
        .extract()
        .map_err(|_| type_error("offset", "an int", obj))?;
    u64::try_from(number)
        .map_err(|_| PyValueError::new_err(format!("offset must be 0 or more; got {number}")))
}

fn timestamp_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(None),
        Some(obj) => obj
            .extract::<i64>()
            .map(Some)
            .map_err(|_| type_error("timestamp", "an int (ms since the epoch) or None", obj)),
    }
}

/// One record of `send`.
pub fn record(
    key: Option<&Bound<'_, PyAny>>,
    value: &Bound<'_, PyAny>,
    headers: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<Record> {
    Ok(Record {
        key: match key {
            Some(key) => bytes_arg(key, "key")?,
            None => None,
        },
        value: bytes_arg(value, "value")?,
        headers: headers_arg(headers)?,
        timestamp_ms: timestamp_arg(timestamp)?,
    })
}

/// One record of `send_batch`: a `(key, value)` tuple or a dict with `value` and any of
/// `key`, `headers`, `partition`, `timestamp`. Returns the record and its own partition.
pub fn record_arg(obj: &Bound<'_, PyAny>) -> PyResult<(Record, Option<u32>)> {
    if let Ok(pair) = obj.cast::<PyTuple>() {
        if pair.len() != 2 {
            return Err(PyValueError::new_err(format!(
                "a record tuple must be (key, value); got a tuple of {}",
                pair.len()
            )));
        }
        let (key, value) = (pair.get_borrowed_item(0)?, pair.get_borrowed_item(1)?);
        let key = bytes_arg(&key, "key")?;
        let value = bytes_arg(&value, "value")?;
        return Ok((
            Record {
                key,
                value,
                headers: Vec::new(),
                timestamp_ms: None,
            },
            None,
        ));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        return record_dict(dict);
    }
    Err(type_error(
        "a record",
        "a dict or a (key, value) tuple",
        obj,
    ))
}

fn record_dict(dict: &Bound<'_, PyDict>) -> PyResult<(Record, Option<u32>)> {
    let py = dict.py();
    let value = dict.get_item(intern!(py, "value"))?.ok_or_else(|| {
        PyValueError::new_err("a record dict needs a \"value\" (None for a null value)")
    })?;
    let key = dict.get_item(intern!(py, "key"))?;
    let headers = dict.get_item(intern!(py, "headers"))?;
    let partition = dict.get_item(intern!(py, "partition"))?;
    let timestamp = dict.get_item(intern!(py, "timestamp"))?;
    let known = 1
        + usize::from(key.is_some())
        + usize::from(headers.is_some())
        + usize::from(partition.is_some())
        + usize::from(timestamp.is_some());
    if dict.len() != known {
        return Err(unknown_record_key(dict));
    }
    let record = record(key.as_ref(), &value, headers.as_ref(), timestamp.as_ref())?;
    Ok((record, partition_arg(partition.as_ref())?))
}

fn unknown_record_key(dict: &Bound<'_, PyDict>) -> PyErr {
    const KNOWN: [&str; 5] = ["key", "value", "headers", "partition", "timestamp"];
    for key in dict.keys() {
        let known = key
            .extract::<String>()
            .is_ok_and(|k| KNOWN.contains(&k.as_str()));
        if !known {
            let shown = key
                .repr()
                .map_or_else(|_| "?".to_owned(), |r| r.to_string());
            return PyValueError::new_err(format!(
                "unknown record key {shown}: a record dict has \"value\" and any of \"key\", \"headers\", \"partition\", \"timestamp\""
            ));
        }
    }
    PyValueError::new_err("a record dict has an unknown key")
}

/// The records of `send_batch`: a list, tuple or other iterable of records. Returns them
/// with each one's own partition (or `None`).
pub fn records_arg(obj: &Bound<'_, PyAny>) -> PyResult<(Vec<Record>, Vec<Option<u32>>)> {
    if obj.is_instance_of::<PyDict>()
        || obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
    {
        return Err(type_error("records", "a list of records", obj));
    }
    let capacity = obj.len().unwrap_or(0);
    let mut records = Vec::with_capacity(capacity);
    let mut routes = Vec::with_capacity(capacity);
    let mut push = |item: &Bound<'_, PyAny>| -> PyResult<()> {
        let (record, partition) = record_arg(item)?;
        records.push(record);
        routes.push(partition);
        Ok(())
    };
    if let Ok(list) = obj.cast_exact::<PyList>() {
        for item in list.iter() {
            push(&item)?;
        }
    } else {
        for item in obj.try_iter()? {
            push(&item?)?;
        }
    }
    Ok((records, routes))
}

/// A durability by name, or `None` for the database's default.
pub fn durability_arg(name: Option<&str>) -> PyResult<Option<Durability>> {
    match name {
        None => Ok(None),
        Some("none") => Ok(Some(Durability::None)),
        Some("immediate") => Ok(Some(Durability::Immediate)),
        Some("paranoid") => Ok(Some(Durability::Paranoid)),
        Some(other) => Err(PyValueError::new_err(format!(
            "durability must be \"none\", \"immediate\" or \"paranoid\"; got {other:?}"
        ))),
    }
}

/// Kafka's `auto.offset.reset`: `"earliest"`, `"latest"` or `"none"`.
pub fn reset_arg(name: &str) -> PyResult<Option<Position>> {
    match name {
        "earliest" => Ok(Some(Position::Beginning)),
        "latest" => Ok(Some(Position::End)),
        "none" => Ok(None),
        other => Err(PyValueError::new_err(format!(
            "auto_offset_reset must be \"earliest\", \"latest\" or \"none\"; got {other:?}"
        ))),
    }
}

/// A place to seek or assign to: `"beginning"` (or `"earliest"`), `"end"` (or
/// `"latest"`), `"committed"` where `committed_ok`, an int offset, or with `timestamp`
/// set (and `start` None) the first record at or after that time in ms.
pub fn position_arg(
    start: Option<&Bound<'_, PyAny>>,
    timestamp: Option<i64>,
    committed_ok: bool,
) -> PyResult<Position> {
    let start = start.filter(|s| !s.is_none());
    match (start, timestamp) {
        (Some(_), Some(_)) => Err(PyTypeError::new_err(
            "give a position or timestamp=, not both",
        )),
        (None, Some(ms)) => Ok(Position::Timestamp(ms)),
        (None, None) => Err(PyTypeError::new_err(
            "a position is needed: \"beginning\", \"end\", an offset, or timestamp=ms",
        )),
        (Some(start), None) => {
            if let Ok(name) = start.cast::<PyString>() {
                return match &*name.to_cow()? {
                    "beginning" | "earliest" => Ok(Position::Beginning),
                    "end" | "latest" => Ok(Position::End),
                    "committed" if committed_ok => Ok(Position::Committed),
                    other => Err(PyValueError::new_err(format!(
                        "position must be \"beginning\", \"end\"{}, an int offset or timestamp=ms; got {other:?}",
                        if committed_ok { ", \"committed\"" } else { "" }
                    ))),
                };
            }
            offset_number(start).map(Position::Offset)
        }
    }
}

/// A topic config as `(Kafka name, value)` pairs: a dict of `str` to `str` or `int`.
pub fn config_arg(obj: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, String)>> {
    let Some(dict) = obj else {
        return Ok(Vec::new());
    };
    let mut pairs = Vec::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let key: String = key
            .extract()
            .map_err(|_| type_error("a config key", "str", &key))?;
        let value = if let Ok(text) = value.cast::<PyString>() {
            text.to_cow()?.into_owned()
        } else if value.is_instance_of::<pyo3::types::PyBool>() {
            return Err(type_error("a config value", "str or int", &value));
        } else if let Ok(number) = value.extract::<i128>() {
            number.to_string()
        } else {
            return Err(type_error("a config value", "str or int", &value));
        };
        pairs.push((key, value));
    }
    Ok(pairs)
}
