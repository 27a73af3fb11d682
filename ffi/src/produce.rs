//! Sending: one record or a batch, through the database handle (its default durability)
//! or a producer handle with its own durability; each send returns where its records
//! were stored.

use std::ffi::c_char;
use std::mem::MaybeUninit;

use brooklet_core::{Header, Producer, Record, RecordMetadata};

use crate::db::{brooklet_db, brooklet_durability, durability_from};
use crate::status::{
    FfiResult, array, brooklet_status, bytes, entry, handle_output, invalid, misuse, name, required,
};

/// A record header: a string key and a nullable byte value. In a record sent, `key` need
/// not be NUL-terminated (`key_len` bytes of UTF-8; not NULL); `value` NULL is Kafka's
/// null value, distinct from an empty value (any non-NULL pointer with `value_len` 0).
/// In a record read, both point into memory owned by the records handle, and `key` is not
/// NUL-terminated either.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_header {
    /// The key's bytes (UTF-8).
    pub key: *const c_char,
    /// The key's length in bytes.
    pub key_len: usize,
    /// The value's bytes, or NULL for a null value.
    pub value: *const u8,
    /// The value's length in bytes (0 when `value` is NULL).
    pub value_len: usize,
}

/// A record to send. `key` or `value` NULL is Kafka's null (no key; a tombstone value),
/// distinct from an empty key or value (any non-NULL pointer with length 0). Headers are
/// kept in order, duplicates included. brooklet copies everything during the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_record_in {
    /// The key's bytes, or NULL for no key.
    pub key: *const u8,
    /// The key's length.
    pub key_len: usize,
    /// The value's bytes, or NULL for a null value.
    pub value: *const u8,
    /// The value's length.
    pub value_len: usize,
    /// `header_count` headers, or NULL when there are none.
    pub headers: *const brooklet_header,
    /// The number of headers.
    pub header_count: usize,
    /// The create time in ms since the Unix epoch; 0 for none (the append time is used,
    /// as for Kafka's null timestamp). Negative is `BROOKLET_INVALID`.
    pub timestamp_ms: i64,
}

/// Where a sent record was stored.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_record_metadata {
    /// The partition.
    pub partition: u32,
    /// The record's offset in the partition.
    pub offset: u64,
    /// The record's timestamp as stored (its create time, or the append time).
    pub timestamp_ms: i64,
}

/// The `partition` argument of a send that lets brooklet choose: by the key's hash
/// (Kafka's murmur2), or for records without a key, the producer's sticky partition.
pub const BROOKLET_PARTITION_ANY: i64 = -1;

/// A producer with its own durability (`brooklet_producer_new`). Like the database, it may
/// be shared by threads. It keeps the database open until `brooklet_producer_free`.
#[derive(Debug)]
pub struct brooklet_producer {
    producer: Producer,
}

fn partition_from(partition: i64) -> FfiResult<Option<u32>> {
    if partition == BROOKLET_PARTITION_ANY {
        return Ok(None);
    }
    u32::try_from(partition).map(Some).map_err(|_| {
        invalid(format!(
            "partition {partition} is neither a partition number nor BROOKLET_PARTITION_ANY (-1)"
        ))
    })
}

/// A C record as a brooklet record (copied).
///
/// # Safety
/// The record's pointers follow the pointer contract.
unsafe fn record_from(record: &brooklet_record_in) -> FfiResult<Record> {
    // SAFETY: pointer contract: NULL or `header_count` readable headers.
    let headers_in = unsafe { array(record.headers, record.header_count, "headers") }?;
    let mut headers = Vec::with_capacity(headers_in.len());
    for header in headers_in {
        if header.key.is_null() {
            return Err(misuse("a header key is NULL"));
        }
        // SAFETY: not NULL; pointer contract: `key_len` readable bytes.
        let key = unsafe { bytes(header.key.cast::<u8>(), header.key_len) }.unwrap_or_default();
        let key = std::str::from_utf8(key)
            .map_err(|_| invalid("a header key is not valid UTF-8"))?
            .to_owned();
        // SAFETY: pointer contract: NULL or `value_len` readable bytes.
        let value = unsafe { bytes(header.value, header.value_len) }.map(<[u8]>::to_vec);
        headers.push(Header { key, value });
    }
    let timestamp_ms = match record.timestamp_ms {
        0 => None,
        t if t < 0 => return Err(invalid(format!("timestamp_ms {t} is negative"))),
        t => Some(t),
    };
    Ok(Record {
        // SAFETY: pointer contract: NULL or `key_len` readable bytes.
        key: unsafe { bytes(record.key, record.key_len) }.map(<[u8]>::to_vec),
        // SAFETY: pointer contract: NULL or `value_len` readable bytes.
        value: unsafe { bytes(record.value, record.value_len) }.map(<[u8]>::to_vec),
        headers,
        timestamp_ms,
    })
}

fn metadata(sent: &RecordMetadata) -> brooklet_record_metadata {
    brooklet_record_metadata {
        partition: sent.partition,
        offset: sent.offset,
        timestamp_ms: sent.timestamp_ms,
    }
}

/// The body of every send: one record or a batch through `producer`.
///
/// # Safety
/// The pointer contract.
unsafe fn send(
    producer: &Producer,
    topic: *const c_char,
    partition: i64,
    records: *const brooklet_record_in,
    count: usize,
    metadata_out: *mut brooklet_record_metadata,
) -> FfiResult {
    // SAFETY: pointer contract: NULL or a NUL-terminated string.
    let topic = unsafe { name(topic, "topic") }?;
    let partition = partition_from(partition)?;
    // SAFETY: pointer contract: NULL or `count` readable records.
    let records_in = unsafe { array(records, count, "records") }?;
    let mut batch = Vec::with_capacity(records_in.len());
    for record in records_in {
        // SAFETY: pointer contract, for the record's own pointers.
        batch.push(unsafe { record_from(record) }?);
    }
    let sent = match partition {
        None => producer.send_batch(topic, batch)?,
        Some(p) => producer.send_batch_to(topic, p, batch)?,
    };
    if !metadata_out.is_null() {
        // SAFETY: not NULL; pointer contract: room for `count` entries (one per record).
        let out =
            unsafe { std::slice::from_raw_parts_mut(metadata_out.cast::<MaybeUninit<_>>(), count) };
        for (slot, sent) in out.iter_mut().zip(&sent) {
            slot.write(metadata(sent));
        }
    }
    Ok(())
}

/// Sends one record at the database's default durability. `partition` is a partition
/// number or `BROOKLET_PARTITION_ANY`. On success, if `metadata_out` is not NULL, it
/// receives where the record was stored. An unknown topic or partition is
/// `BROOKLET_NOT_FOUND`, a record over the topic's `max.message.bytes` is
/// `BROOKLET_TOO_LARGE`, a read-only handle is `BROOKLET_READONLY`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_send(
    db: *const brooklet_db,
    topic: *const c_char,
    partition: i64,
    record: *const brooklet_record_in,
    metadata_out: *mut brooklet_record_metadata,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        if record.is_null() {
            return Err(misuse("record is NULL"));
        }
        // SAFETY: pointer contract.
        unsafe { send(&db.producer, topic, partition, record, 1, metadata_out) }
    })
}

/// Sends `count` records in one atomic commit (all are stored, or none), at the
/// database's default durability. With `BROOKLET_PARTITION_ANY`, keyed records go to
/// their key's partition and the others to one sticky partition. If `metadata_out` is not
/// NULL it must have room for `count` entries, filled in record order on success.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_send_batch(
    db: *const brooklet_db,
    topic: *const c_char,
    partition: i64,
    records: *const brooklet_record_in,
    count: usize,
    metadata_out: *mut brooklet_record_metadata,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract.
        unsafe { send(&db.producer, topic, partition, records, count, metadata_out) }
    })
}

/// A new producer of the database with its own durability (a `BROOKLET_DURABILITY_*`)
/// and its own sticky partition. On success `*producer_out` is new, freed by the caller
/// with `brooklet_producer_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_producer_new(
    db: *const brooklet_db,
    durability: brooklet_durability,
    producer_out: *mut *mut brooklet_producer,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(producer_out, "producer_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        let producer = db
            .db
            .producer()
            .with_durability(durability_from(durability)?);
        out.write(Box::into_raw(Box::new(brooklet_producer { producer })));
        Ok(())
    })
}

/// `brooklet_send` through a producer, at its durability.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_producer_send(
    producer: *const brooklet_producer,
    topic: *const c_char,
    partition: i64,
    record: *const brooklet_record_in,
    metadata_out: *mut brooklet_record_metadata,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle.
        let producer = unsafe { required(producer, "producer") }?;
        if record.is_null() {
            return Err(misuse("record is NULL"));
        }
        // SAFETY: pointer contract.
        unsafe {
            send(
                &producer.producer,
                topic,
                partition,
                record,
                1,
                metadata_out,
            )
        }
    })
}

/// `brooklet_send_batch` through a producer, at its durability.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_producer_send_batch(
    producer: *const brooklet_producer,
    topic: *const c_char,
    partition: i64,
    records: *const brooklet_record_in,
    count: usize,
    metadata_out: *mut brooklet_record_metadata,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle.
        let producer = unsafe { required(producer, "producer") }?;
        // SAFETY: pointer contract.
        unsafe {
            send(
                &producer.producer,
                topic,
                partition,
                records,
                count,
                metadata_out,
            )
        }
    })
}

/// Frees a producer. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_producer_free(producer: *mut brooklet_producer) {
    crate::status::free_guard(|| {
        if !producer.is_null() {
            // SAFETY: pointer contract: from brooklet_producer_new, freed once.
            drop(unsafe { Box::from_raw(producer) });
        }
    });
}
