//! The consumer-group member: poll, commit (positions or explicit offsets), seek,
//! position, committed, lag, assignment; close leaves the group and free frees.

use std::ffi::{c_char, c_int};
use std::time::Duration;

use brooklet_core::{Consumer, ConsumerOptions, Position, TopicPartition};

use crate::db::{BROOKLET_NO_OFFSET, brooklet_db, nullable_offset};
use crate::owned::{Strings, items, publish, release};
use crate::reader::{brooklet_position_kind, position_from, timeout};
use crate::records::{brooklet_records, limits};
use crate::status::{
    FfiResult, array, brooklet_status, closed, entry, handle_output, invalid, name, output,
    required, required_mut,
};

/// Where a consumer starts in a partition its group has no usable committed offset for
/// (Kafka's `auto.offset.reset`).
pub type brooklet_offset_reset = c_int;
/// Only records produced from now on (Kafka's `latest`, its default; 0).
pub const BROOKLET_OFFSET_RESET_LATEST: brooklet_offset_reset = 0;
/// The first offset still stored (Kafka's `earliest`).
pub const BROOKLET_OFFSET_RESET_EARLIEST: brooklet_offset_reset = 1;
/// No reset: `brooklet_consumer_poll` fails with `BROOKLET_OUT_OF_RANGE` (Kafka's `none`).
pub const BROOKLET_OFFSET_RESET_NONE: brooklet_offset_reset = 2;

/// Settings for `brooklet_consumer_new`. Fill it with `brooklet_consumer_options_init`,
/// then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_consumer_options {
    /// A `BROOKLET_OFFSET_RESET_*`. Default `BROOKLET_OFFSET_RESET_LATEST`.
    pub auto_offset_reset: brooklet_offset_reset,
    /// Commit positions automatically this often (during polls, and on close); 0 turns
    /// auto-commit off. Default 5000.
    pub auto_commit_interval_ms: u64,
    /// A member not heard from for this long is dropped from the group. Default 10000.
    pub session_timeout_ms: u64,
    /// Records per poll, about (whole batches are returned). Default 500.
    pub max_records: usize,
    /// Bytes of batches per poll (at least one batch comes). Default 1 MiB.
    pub max_bytes: usize,
    /// Non-zero: topics that do not exist yet are waited for (their partitions come once
    /// they are created). 0, the default: an unknown topic fails `brooklet_consumer_new`
    /// with `BROOKLET_NOT_FOUND`.
    pub wait_for_topics: c_int,
}

impl Default for brooklet_consumer_options {
    fn default() -> Self {
        let defaults = ConsumerOptions::default();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            auto_offset_reset: BROOKLET_OFFSET_RESET_LATEST,
            auto_commit_interval_ms: defaults.auto_commit_interval.map_or(0, ms),
            session_timeout_ms: ms(defaults.session_timeout),
            max_records: defaults.limits.max_records,
            max_bytes: defaults.limits.max_bytes,
            wait_for_topics: c_int::from(defaults.wait_for_topics),
        }
    }
}

impl brooklet_consumer_options {
    fn to_options(self) -> FfiResult<ConsumerOptions> {
        let auto_offset_reset = match self.auto_offset_reset {
            BROOKLET_OFFSET_RESET_LATEST => Some(Position::End),
            BROOKLET_OFFSET_RESET_EARLIEST => Some(Position::Beginning),
            BROOKLET_OFFSET_RESET_NONE => None,
            other => {
                return Err(invalid(format!(
                    "auto_offset_reset {other} is none of BROOKLET_OFFSET_RESET_LATEST (0), _EARLIEST (1), _NONE (2)"
                )));
            }
        };
        Ok(ConsumerOptions {
            auto_offset_reset,
            wait_for_topics: self.wait_for_topics != 0,
            auto_commit_interval: match self.auto_commit_interval_ms {
                0 => None,
                ms => Some(Duration::from_millis(ms)),
            },
            session_timeout: Duration::from_millis(self.session_timeout_ms),
            limits: limits(self.max_records, self.max_bytes),
            ..ConsumerOptions::default()
        })
    }
}

/// A member of a consumer group (`brooklet_consumer_new`). Belongs to one thread at a
/// time. `brooklet_consumer_close` leaves the group; the handle stays valid, every call
/// on it then returns `BROOKLET_CLOSED`, until `brooklet_consumer_free`. Keeps the
/// database open until freed.
#[derive(Debug)]
pub struct brooklet_consumer {
    /// `None` once closed.
    consumer: Option<Consumer>,
}

impl brooklet_consumer {
    fn open(&mut self) -> FfiResult<&mut Consumer> {
        self.consumer.as_mut().ok_or_else(|| closed("the consumer"))
    }
}

/// Fills `options` with the defaults (see each field).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_options_init(
    options: *mut brooklet_consumer_options,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let slot = unsafe { output(options, "options") }?;
        slot.write(brooklet_consumer_options::default());
        Ok(())
    })
}

/// Joins consumer group `group` (created if new) subscribed to `topic_count` topics
/// (`topics`, an array of NUL-terminated names), with `options` or, if NULL, the
/// defaults. On success `*consumer_out` is new, freed by the caller with
/// `brooklet_consumer_free` (after `brooklet_consumer_close`, or not: freeing an open
/// consumer leaves the group as close does, ignoring errors).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_new(
    db: *const brooklet_db,
    group: *const c_char,
    topics: *const *const c_char,
    topic_count: usize,
    options: *const brooklet_consumer_options,
    consumer_out: *mut *mut brooklet_consumer,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(consumer_out, "consumer_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let group = unsafe { name(group, "group") }?;
        // SAFETY: pointer contract: `topic_count` readable pointers.
        let topic_ptrs = unsafe { array(topics, topic_count, "topics") }?;
        let mut names = Vec::with_capacity(topic_ptrs.len());
        for ptr in topic_ptrs {
            // SAFETY: pointer contract: NULL or a NUL-terminated string.
            names.push(unsafe { name(*ptr, "a topic") }?);
        }
        let options = if options.is_null() {
            brooklet_consumer_options::default()
        } else {
            // SAFETY: not NULL; pointer contract: a readable struct.
            *unsafe { required(options, "options") }?
        };
        let consumer = db.db.consumer(group, &names, options.to_options()?)?;
        out.write(Box::into_raw(Box::new(brooklet_consumer {
            consumer: Some(consumer),
        })));
        Ok(())
    })
}

/// Returns records from the partitions this member owns, waiting up to `timeout_ms` for
/// some; also heartbeats, takes part in rebalances and auto-commits. On success
/// `*records_out` is a new records handle (possibly empty), freed by the caller with
/// `brooklet_records_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_poll(
    consumer: *mut brooklet_consumer,
    timeout_ms: u64,
    records_out: *mut *mut brooklet_records,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(records_out, "records_out") }?;
        // SAFETY: pointer contract: NULL or a live handle used by this thread only.
        let consumer = unsafe { required_mut(consumer, "consumer") }?.open()?;
        let records = consumer.poll(timeout(timeout_ms))?;
        out.write(brooklet_records::polled(records));
        Ok(())
    })
}

/// Commits the position of every owned partition (the offset after the last record
/// polled), as Kafka's `commitSync()`. `BROOKLET_FENCED` if the member lost a partition.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_commit(
    consumer: *mut brooklet_consumer,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle used by this thread only.
        unsafe { required_mut(consumer, "consumer") }?
            .open()?
            .commit()?;
        Ok(())
    })
}

/// A partition and an offset in it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_partition_offset {
    /// The topic (NUL-terminated).
    pub topic: *const c_char,
    /// The partition.
    pub partition: u32,
    /// The offset: for a commit, the next offset to read, as in Kafka.
    pub offset: u64,
}

/// Commits explicit offsets (`count` entries at `offsets`), each the next offset to read
/// of its partition. `BROOKLET_FENCED` if this member does not own one of them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_commit_offsets(
    consumer: *mut brooklet_consumer,
    offsets: *const brooklet_partition_offset,
    count: usize,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle used by this thread only.
        let consumer = unsafe { required_mut(consumer, "consumer") }?.open()?;
        // SAFETY: pointer contract: `count` readable entries.
        let entries = unsafe { array(offsets, count, "offsets") }?;
        let mut list = Vec::with_capacity(entries.len());
        for entry in entries {
            // SAFETY: pointer contract: NULL or a NUL-terminated string.
            let topic = unsafe { name(entry.topic, "topic") }?;
            list.push((TopicPartition::new(topic, entry.partition), entry.offset));
        }
        consumer.commit_offsets(list)?;
        Ok(())
    })
}

/// Moves the position of an owned partition (`kind` a `BROOKLET_POSITION_*`, `value` the
/// offset or time it needs): the next poll reads from there. A partition the member does
/// not own is `BROOKLET_INVALID`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_seek(
    consumer: *mut brooklet_consumer,
    topic: *const c_char,
    partition: u32,
    kind: brooklet_position_kind,
    value: i64,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle used by this thread only.
        let consumer = unsafe { required_mut(consumer, "consumer") }?.open()?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        consumer.seek(topic, partition, position_from(kind, value)?)?;
        Ok(())
    })
}

/// The shared start of the per-partition queries: the open consumer and the topic.
///
/// # Safety
/// The pointer contract.
unsafe fn partition_query<'a>(
    consumer: *mut brooklet_consumer,
    topic: *const c_char,
) -> FfiResult<(&'a mut Consumer, &'a str)> {
    // SAFETY: pointer contract: NULL or a live handle used by this thread only.
    let consumer = unsafe { required_mut(consumer, "consumer") }?.open()?;
    // SAFETY: pointer contract: NULL or a NUL-terminated string.
    let topic = unsafe { name(topic, "topic") }?;
    Ok((consumer, topic))
}

fn not_owned(topic: &str, partition: u32) -> crate::status::Failure {
    invalid(format!(
        "{topic}/{partition} is not assigned to this member"
    ))
}

/// The next offset this member will read from an owned partition, into `*offset_out`.
/// A partition it does not own is `BROOKLET_INVALID`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_position(
    consumer: *mut brooklet_consumer,
    topic: *const c_char,
    partition: u32,
    offset_out: *mut u64,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { output(offset_out, "offset_out") }?;
        // SAFETY: pointer contract.
        let (consumer, topic) = unsafe { partition_query(consumer, topic) }?;
        let position = consumer
            .position(topic, partition)
            .ok_or_else(|| not_owned(topic, partition))?;
        out.write(position);
        Ok(())
    })
}

/// The group's committed offset for a partition, into `*offset_out`, or
/// `BROOKLET_NO_OFFSET` if the group has none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_committed(
    consumer: *mut brooklet_consumer,
    topic: *const c_char,
    partition: u32,
    offset_out: *mut i64,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { output(offset_out, "offset_out") }?;
        // SAFETY: pointer contract.
        let (consumer, topic) = unsafe { partition_query(consumer, topic) }?;
        let committed = consumer.committed(topic, partition)?;
        out.write(committed.map_or(Ok(BROOKLET_NO_OFFSET), nullable_offset)?);
        Ok(())
    })
}

/// Records between this member's position in an owned partition and its end, into
/// `*lag_out`. A partition it does not own is `BROOKLET_INVALID`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_lag(
    consumer: *mut brooklet_consumer,
    topic: *const c_char,
    partition: u32,
    lag_out: *mut u64,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { output(lag_out, "lag_out") }?;
        // SAFETY: pointer contract.
        let (consumer, topic) = unsafe { partition_query(consumer, topic) }?;
        let lag = consumer
            .lag(topic, partition)?
            .ok_or_else(|| not_owned(topic, partition))?;
        out.write(lag);
        Ok(())
    })
}

/// A partition of a topic.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_topic_partition {
    /// The topic (NUL-terminated).
    pub topic: *const c_char,
    /// The partition.
    pub partition: u32,
}

/// A list of partitions (`brooklet_consumer_assignment`). Read-only for the caller;
/// freed by `brooklet_partition_list_free`.
#[repr(C)]
#[derive(Debug)]
pub struct brooklet_partition_list {
    /// `count` partitions, sorted by topic and partition (NULL when there are none).
    pub partitions: *const brooklet_topic_partition,
    /// The number of partitions.
    pub count: usize,
}

/// The partitions this member owns now. On success `*list_out` is new, freed by the
/// caller with `brooklet_partition_list_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_assignment(
    consumer: *mut brooklet_consumer,
    list_out: *mut *mut brooklet_partition_list,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(list_out, "list_out") }?;
        // SAFETY: pointer contract: NULL or a live handle used by this thread only.
        let consumer = unsafe { required_mut(consumer, "consumer") }?.open()?;
        let mut strings = Strings::default();
        let partitions: Vec<brooklet_topic_partition> = consumer
            .assignment()
            .iter()
            .map(|tp| brooklet_topic_partition {
                topic: strings.add(&tp.topic),
                partition: tp.partition,
            })
            .collect();
        let public = brooklet_partition_list {
            partitions: items(&partitions),
            count: partitions.len(),
        };
        out.write(publish(public, (strings, partitions)));
        Ok(())
    })
}

/// Frees a partition list. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_partition_list_free(list: *mut brooklet_partition_list) {
    crate::status::free_guard(|| {
        // SAFETY: pointer contract: NULL or from brooklet_consumer_assignment, freed once.
        unsafe { release::<_, (Strings, Vec<brooklet_topic_partition>)>(list) };
    });
}

/// Leaves the group: with auto-commit on, commits the positions first; the partitions go
/// to the other members at once. The handle stays valid, and every later call on it but
/// `brooklet_consumer_free` returns `BROOKLET_CLOSED` (closing twice too).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_close(
    consumer: *mut brooklet_consumer,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle used by this thread only.
        let handle = unsafe { required_mut(consumer, "consumer") }?;
        let consumer = handle
            .consumer
            .take()
            .ok_or_else(|| closed("the consumer"))?;
        consumer.close()?;
        Ok(())
    })
}

/// Frees a consumer; an open one leaves its group first, as `brooklet_consumer_close`
/// does, ignoring errors. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_consumer_free(consumer: *mut brooklet_consumer) {
    crate::status::free_guard(|| {
        if !consumer.is_null() {
            // SAFETY: pointer contract: from brooklet_consumer_new, freed once.
            drop(unsafe { Box::from_raw(consumer) });
        }
    });
}
