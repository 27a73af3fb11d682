//! The database handle: open with options, close, flush; topics (create with configs,
//! list, describe, delete); a partition's offsets.

use std::ffi::{CStr, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use brooklet_core::{Brooklet, Durability, Options, Producer, TopicConfig};

use crate::owned::{Strings, items, publish, release};
use crate::status::{
    FfiResult, brooklet_status, entry, error, handle_output, invalid, misuse, name, output,
    required,
};

/// An open brooklet file (`brooklet_open`). May be shared by threads: every call that takes
/// a `brooklet_db *` may run on any thread at any time. Freed by `brooklet_close`.
#[derive(Debug)]
pub struct brooklet_db {
    pub(crate) db: Brooklet,
    /// The producer of `brooklet_send`: the handle's default durability, one sticky
    /// partition for records without a key.
    pub(crate) producer: Producer,
}

/// How durable a send is when it returns (see `brooklet_options.durability`).
pub type brooklet_durability = c_int;
/// Durable when the call returns: one `fdatasync` per commit, shared by concurrent
/// senders. The default (and 0, so that a zeroed struct is durable).
pub const BROOKLET_DURABILITY_IMMEDIATE: brooklet_durability = 0;
/// No sync: fast; `brooklet_flush` makes everything sent so far durable.
pub const BROOKLET_DURABILITY_NONE: brooklet_durability = 1;
/// As immediate, and the file's directory is synced as well.
pub const BROOKLET_DURABILITY_PARANOID: brooklet_durability = 2;

/// A durability from C.
pub(crate) fn durability_from(value: brooklet_durability) -> FfiResult<Durability> {
    match value {
        BROOKLET_DURABILITY_IMMEDIATE => Ok(Durability::Immediate),
        BROOKLET_DURABILITY_NONE => Ok(Durability::None),
        BROOKLET_DURABILITY_PARANOID => Ok(Durability::Paranoid),
        other => Err(invalid(format!(
            "durability {other} is none of BROOKLET_DURABILITY_IMMEDIATE (0), _NONE (1), _PARANOID (2)"
        ))),
    }
}

/// Settings for `brooklet_open`. Fill it with `brooklet_options_init`, then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_options {
    /// Page size of a new file: a power of two from 512 to 65536. Default 4096.
    pub page_size: u32,
    /// Page cache budget in bytes. Default 32 MiB.
    pub cache_bytes: u64,
    /// How long a write waits for another writer before `BROOKLET_BUSY`. Default 5000.
    pub busy_timeout_ms: u64,
    /// Durability of `brooklet_send` and `brooklet_send_batch`, and the default of the
    /// producers made from this handle. Default `BROOKLET_DURABILITY_IMMEDIATE`.
    pub durability: brooklet_durability,
    /// Non-zero: open read-only (the file must exist; no lock is taken; every change
    /// fails with `BROOKLET_READONLY`). Default 0.
    pub read_only: c_int,
    /// Non-zero: create the file if it is missing. 0: open an existing file only (a
    /// missing one is `BROOKLET_IOERR`). Default 1.
    pub create: c_int,
    /// Non-zero: apply time-based retention when opening (taking the write lock
    /// briefly). Default 1; inspection tools set 0 so that opening never writes.
    pub maintain_on_open: c_int,
}

impl Default for brooklet_options {
    fn default() -> Self {
        let defaults = Options::default();
        Self {
            page_size: defaults.page_size,
            cache_bytes: defaults.cache_bytes as u64,
            busy_timeout_ms: u64::try_from(defaults.busy_timeout.as_millis()).unwrap_or(u64::MAX),
            durability: BROOKLET_DURABILITY_IMMEDIATE,
            read_only: 0,
            create: 1,
            maintain_on_open: c_int::from(defaults.maintain_on_open),
        }
    }
}

impl brooklet_options {
    fn to_options(self) -> FfiResult<Options> {
        let cache_bytes = usize::try_from(self.cache_bytes)
            .map_err(|_| invalid(format!("cache_bytes {} is too large", self.cache_bytes)))?;
        Ok(Options::default()
            .page_size(self.page_size)
            .cache_bytes(cache_bytes)
            .busy_timeout(Duration::from_millis(self.busy_timeout_ms))
            .durability(durability_from(self.durability)?)
            .read_only(self.read_only != 0)
            .maintain_on_open(self.maintain_on_open != 0))
    }
}

/// Fills `options` with the defaults (see each field). Returns `BROOKLET_MISUSE` if
/// `options` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_options_init(options: *mut brooklet_options) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let slot = unsafe { output(options, "options") }?;
        slot.write(brooklet_options::default());
        Ok(())
    })
}

/// Opens (or creates, see `create`) the brooklet file at `path`, with `options` or, if
/// `options` is NULL, the defaults. On success `*db_out` is a new handle, which the caller
/// frees with `brooklet_close`; on failure it is NULL. A file that is not a brooklet file
/// or is damaged gives `BROOKLET_CORRUPT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_open(
    path: *const c_char,
    options: *const brooklet_options,
    db_out: *mut *mut brooklet_db,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(db_out, "db_out") }?;
        if path.is_null() {
            return Err(misuse("path is NULL"));
        }
        // SAFETY: not NULL; pointer contract: a NUL-terminated string.
        let path = Path::new(std::ffi::OsStr::from_bytes(
            unsafe { CStr::from_ptr(path) }.to_bytes(),
        ));
        let given = if options.is_null() {
            brooklet_options::default()
        } else {
            // SAFETY: not NULL; pointer contract: a readable brooklet_options.
            *unsafe { required(options, "options") }?
        };
        let rust_options = given.to_options()?;
        let db = if given.create != 0 && given.read_only == 0 {
            Brooklet::open_with(path, rust_options)?
        } else {
            Brooklet::open_existing(path, rust_options)?
        };
        let producer = db.producer();
        out.write(Box::into_raw(Box::new(brooklet_db { db, producer })));
        Ok(())
    })
}

/// Frees the handle. The file is closed once the producers, readers and consumers made
/// from this handle are freed as well: each keeps the database open (they stay usable
/// after `brooklet_close`). Closing does not sync: call `brooklet_flush` first if records
/// were sent with `BROOKLET_DURABILITY_NONE`. NULL is a no-op. `db` must not be used
/// again, nor be in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_close(db: *mut brooklet_db) -> brooklet_status {
    entry(|| {
        if !db.is_null() {
            // SAFETY: pointer contract: `db` came from brooklet_open and is freed once.
            drop(unsafe { Box::from_raw(db) });
        }
        Ok(())
    })
}

/// Makes every earlier commit of the file durable (one `fdatasync`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_flush(db: *const brooklet_db) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle.
        unsafe { required(db, "db") }?.db.flush()?;
        Ok(())
    })
}

/// A topic config: a Kafka config name and its value, such as `retention.ms` and
/// `"86400000"` (both NUL-terminated).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_config_entry {
    /// The config's name.
    pub key: *const c_char,
    /// Its value, as text.
    pub value: *const c_char,
}

/// Creates a topic with `partitions` partitions and the given configs (`config_count`
/// entries at `configs`; NULL when 0) over the defaults. A topic of this name that exists
/// already is `BROOKLET_EXISTS`; an unknown config or a bad value is `BROOKLET_INVALID`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_create_topic(
    db: *const brooklet_db,
    topic: *const c_char,
    partitions: u32,
    configs: *const brooklet_config_entry,
    config_count: usize,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        // SAFETY: pointer contract: `config_count` readable entries of NUL-terminated
        // strings.
        let pairs = unsafe { config_pairs(configs, config_count) }?;
        let config = TopicConfig::from_pairs(pairs)?;
        db.db.admin().create_topic(topic, partitions, config)?;
        Ok(())
    })
}

/// The (name, value) pairs of a C config array.
///
/// # Safety
/// `configs` is NULL (with `count` 0) or points to `count` readable entries whose strings
/// are NULL or NUL-terminated.
pub(crate) unsafe fn config_pairs<'a>(
    configs: *const brooklet_config_entry,
    count: usize,
) -> FfiResult<Vec<(&'a str, &'a str)>> {
    // SAFETY: the caller's contract: `count` readable entries.
    let entries = unsafe { crate::status::array(configs, count, "configs") }?;
    let mut pairs = Vec::with_capacity(entries.len());
    for entry in entries {
        // SAFETY: the caller's contract: NUL-terminated strings.
        let key = unsafe { name(entry.key, "config key") }?;
        // SAFETY: as above.
        let value = unsafe { name(entry.value, "config value") }?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Changes configs of an existing topic (`config_count` entries at `configs`, over its
/// current configs), as `brooklet topic alter` does; the configs not named keep their
/// values. An unknown topic is `BROOKLET_NOT_FOUND`; an unknown config or a bad value is
/// `BROOKLET_INVALID`, and changes nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_alter_topic(
    db: *const brooklet_db,
    topic: *const c_char,
    configs: *const brooklet_config_entry,
    config_count: usize,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        // SAFETY: pointer contract: `config_count` readable entries of NUL-terminated
        // strings.
        let pairs = unsafe { config_pairs(configs, config_count) }?;
        db.db.admin().alter_topic_config(topic, &pairs)?;
        Ok(())
    })
}

/// Deletes a topic and all its records. An unknown topic is `BROOKLET_NOT_FOUND`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_delete_topic(
    db: *const brooklet_db,
    topic: *const c_char,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        db.db.admin().delete_topic(topic)?;
        Ok(())
    })
}

/// Deletes the records of a partition below offset `before` (Kafka's `deleteRecords`):
/// its beginning offset moves up to `before`, and the segments wholly below it are freed.
/// The new beginning offset goes into `*offset_out` (NULL if not wanted). An offset past
/// the partition's end is `BROOKLET_OUT_OF_RANGE`; one at or below the beginning changes
/// nothing. An unknown topic or partition is `BROOKLET_NOT_FOUND`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_delete_records(
    db: *const brooklet_db,
    topic: *const c_char,
    partition: u32,
    before: u64,
    offset_out: *mut u64,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        let beginning = db.db.admin().delete_records(topic, partition, before)?;
        if !offset_out.is_null() {
            // SAFETY: pointer contract: NULL (checked above) or writable.
            unsafe { offset_out.write(beginning) };
        }
        Ok(())
    })
}

/// One topic of a `brooklet_topic_list`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_topic_info {
    /// The topic's name.
    pub name: *const c_char,
    /// Its number of partitions.
    pub partitions: u32,
}

/// Every topic, by name (`brooklet_list_topics`). Read-only for the caller; everything
/// it points to is owned by it and freed by `brooklet_topic_list_free`.
#[repr(C)]
#[derive(Debug)]
pub struct brooklet_topic_list {
    /// `count` topics (NULL when there are none).
    pub topics: *const brooklet_topic_info,
    /// The number of topics.
    pub count: usize,
}

/// Lists every topic. On success `*list_out` is a new list, freed by the caller with
/// `brooklet_topic_list_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_list_topics(
    db: *const brooklet_db,
    list_out: *mut *mut brooklet_topic_list,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(list_out, "list_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        let topics = db.db.admin().topics()?;
        let mut strings = Strings::default();
        let infos: Vec<brooklet_topic_info> = topics
            .iter()
            .map(|t| brooklet_topic_info {
                name: strings.add(&t.name),
                partitions: t.partitions,
            })
            .collect();
        let public = brooklet_topic_list {
            topics: items(&infos),
            count: infos.len(),
        };
        out.write(publish(public, (strings, infos)));
        Ok(())
    })
}

/// Frees a topic list. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_topic_list_free(list: *mut brooklet_topic_list) {
    crate::status::free_guard(|| {
        // SAFETY: pointer contract: NULL or from brooklet_list_topics, freed once.
        unsafe { release::<_, (Strings, Vec<brooklet_topic_info>)>(list) };
    });
}

/// One partition of a `brooklet_topic_description`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_partition_info {
    /// The partition number.
    pub partition: u32,
    /// The first offset still stored.
    pub beginning_offset: u64,
    /// The offset the next record will get.
    pub end_offset: u64,
    /// Bytes of stored batches.
    pub bytes: u64,
    /// Number of segments.
    pub segments: u32,
}

/// A topic, its configs and its partitions (`brooklet_describe_topic`). Read-only for the
/// caller; freed by `brooklet_topic_description_free`.
#[repr(C)]
#[derive(Debug)]
pub struct brooklet_topic_description {
    /// The topic's name.
    pub name: *const c_char,
    /// Every partition, in order.
    pub partitions: *const brooklet_partition_info,
    /// The number of partitions.
    pub partition_count: usize,
    /// Every config by its Kafka name, with its value, sorted by name.
    pub configs: *const brooklet_config_entry,
    /// The number of configs.
    pub config_count: usize,
}

/// Describes a topic: configs and each partition's offsets and size. On success
/// `*description_out` is new, freed by the caller with `brooklet_topic_description_free`.
/// An unknown topic is `BROOKLET_NOT_FOUND`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_describe_topic(
    db: *const brooklet_db,
    topic: *const c_char,
    description_out: *mut *mut brooklet_topic_description,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(description_out, "description_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        let description = db.db.admin().describe_topic(topic)?;
        let mut strings = Strings::default();
        let partitions: Vec<brooklet_partition_info> = description
            .partitions
            .iter()
            .map(|p| brooklet_partition_info {
                partition: p.partition,
                beginning_offset: p.beginning_offset,
                end_offset: p.end_offset,
                bytes: p.bytes,
                segments: p.segments,
            })
            .collect();
        let configs: Vec<brooklet_config_entry> = description
            .config
            .to_pairs()
            .iter()
            .map(|(key, value)| brooklet_config_entry {
                key: strings.add(key),
                value: strings.add(value),
            })
            .collect();
        let public = brooklet_topic_description {
            name: strings.add(&description.name),
            partitions: items(&partitions),
            partition_count: partitions.len(),
            configs: items(&configs),
            config_count: configs.len(),
        };
        out.write(publish(public, (strings, partitions, configs)));
        Ok(())
    })
}

/// Storage of a topic description.
type DescriptionStorage = (
    Strings,
    Vec<brooklet_partition_info>,
    Vec<brooklet_config_entry>,
);

/// Frees a topic description. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_topic_description_free(
    description: *mut brooklet_topic_description,
) {
    crate::status::free_guard(|| {
        // SAFETY: pointer contract: NULL or from brooklet_describe_topic, freed once.
        unsafe { release::<_, DescriptionStorage>(description) };
    });
}

/// Which offset of a partition `partition_offset` reads.
#[derive(Clone, Copy)]
enum Edge {
    Beginning,
    End,
}

/// Shared body of `brooklet_beginning_offset` and `brooklet_end_offset`.
///
/// # Safety
/// The pointer contract.
unsafe fn partition_offset(
    db: *const brooklet_db,
    topic: *const c_char,
    partition: u32,
    offset_out: *mut u64,
    edge: Edge,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { output(offset_out, "offset_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        out.write(match edge {
            Edge::Beginning => db.db.beginning_offset(topic, partition)?,
            Edge::End => db.db.end_offset(topic, partition)?,
        });
        Ok(())
    })
}

/// The first offset still stored in a partition (records before it were deleted by
/// retention), into `*offset_out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_beginning_offset(
    db: *const brooklet_db,
    topic: *const c_char,
    partition: u32,
    offset_out: *mut u64,
) -> brooklet_status {
    // SAFETY: forwarded pointer contract.
    unsafe { partition_offset(db, topic, partition, offset_out, Edge::Beginning) }
}

/// The offset the next record of a partition will get, into `*offset_out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_end_offset(
    db: *const brooklet_db,
    topic: *const c_char,
    partition: u32,
    offset_out: *mut u64,
) -> brooklet_status {
    // SAFETY: forwarded pointer contract.
    unsafe { partition_offset(db, topic, partition, offset_out, Edge::End) }
}

/// "No offset": what `brooklet_offset_for_time`, `brooklet_consumer_committed` and
/// `brooklet_group_partition.committed` give where there is none.
pub const BROOKLET_NO_OFFSET: i64 = -1;

/// The earliest offset of a partition whose record timestamp is at or after
/// `timestamp_ms`, into `*offset_out`; `BROOKLET_NO_OFFSET` if every record is older.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_offset_for_time(
    db: *const brooklet_db,
    topic: *const c_char,
    partition: u32,
    timestamp_ms: i64,
    offset_out: *mut i64,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { output(offset_out, "offset_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let topic = unsafe { name(topic, "topic") }?;
        let found = db.db.offset_for_time(topic, partition, timestamp_ms)?;
        out.write(found.map_or(Ok(BROOKLET_NO_OFFSET), nullable_offset)?);
        Ok(())
    })
}

/// An offset as C's signed "offset or `BROOKLET_NO_OFFSET`".
pub(crate) fn nullable_offset(offset: u64) -> FfiResult<i64> {
    i64::try_from(offset).map_err(|_| error(format!("offset {offset} does not fit in int64_t")))
}
