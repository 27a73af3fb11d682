//! The subjects of the benchmark behind one trait, [`Subject`]: brooklet, rusqlite, redb,
//! fjall, kafko, and the raw file that is every workload's ceiling.
//!
//! Each subject stores one event log (one topic, one partition): record offsets in order,
//! each with a 16-byte key and a 100-byte value. The stores without a log of their own keep
//! the offset as the key (rusqlite: `INTEGER PRIMARY KEY`; redb and fjall: the offset as a
//! big-endian `u64`) and key and value together as the value. Group offsets are a consumer
//! group commit where the subject has consumer groups (brooklet, kafko) and a one-row
//! key/value write elsewhere.
//!
//! Timing covers [`Subject::append`], [`Subject::read_all`] and
//! [`Subject::commit_offset`]. [`Subject::stage`] (untimed) only converts the generated
//! records into the type the subject's API takes (brooklet's `Vec<Record>`, kafko's
//! `Bytes`, the key/value stores' joined value, the raw file's Kafka batch bytes).

mod brooklet;
mod brooklet_counters;
mod fjall;
mod kafko;
mod raw;
mod redb;
mod sqlite;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use ::brooklet::Record;

use crate::args::Kind;
pub use brooklet_counters::section as brooklet_counters;
pub use raw::{Fsync4k, Raw, stored_bytes_per_record};

/// How a subject's log is set up for a workload.
#[derive(Clone, Copy, Debug, Default)]
pub struct Setup {
    /// Segment size of the log-structured subjects (brooklet `segment.bytes`, kafko
    /// `segment_size_threshold`, the raw file's segment files); `None`: each one's default.
    pub segment_bytes: Option<u64>,
    /// Keep about this many newest records: brooklet's `retention.bytes` and kafko's
    /// `max_partition_bytes` (drop whole segments), the raw ceiling deletes whole segment
    /// files, the key/value stores delete the oldest offsets in each append's commit.
    pub retain_records: Option<u64>,
}

/// Records and payload bytes that a sequential read handed back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadCount {
    pub records: u64,
    pub bytes: u64,
}

impl ReadCount {
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        self.records += 1;
        self.bytes += (key.len() + value.len()) as u64;
    }
}

/// One subject's event log; see the module docs.
pub trait Subject {
    /// Takes the records of the next [`Subject::append`] (untimed).
    fn stage(&mut self, records: Vec<Record>);
    /// Appends the staged records as one atomic commit; when `sync`, they are durable
    /// (on disk past a power cut) when this returns.
    fn append(&mut self, sync: bool);
    /// Gets ready for [`Subject::read_all`] of the `records` appended (untimed).
    fn prepare_read(&mut self, _records: u64) {}
    /// Reads the whole log from its first offset, touching every key and value.
    fn read_all(&mut self) -> ReadCount;
    /// Commits `offset` as group `bench`'s position in the log; durable when `sync`
    /// (where the subject can choose).
    fn commit_offset(&mut self, offset: u64, sync: bool);
    /// The directory holding all of the subject's files.
    fn dir(&self) -> &Path;
    /// A handle for another thread that sends one record per durable commit.
    fn sender(&self) -> Box<dyn Sender>;
}

/// Sends single records, each durable when `send` returns.
pub trait Sender: Send {
    fn send(&mut self, record: Record);
}

/// Opens `kind`'s log in the empty directory `dir`.
#[must_use]
pub fn open(kind: Kind, dir: &Path, setup: Setup) -> Box<dyn Subject> {
    std::fs::create_dir_all(dir).expect("subject directory");
    match kind {
        Kind::Brooklet => Box::new(brooklet::Subject::open(dir, setup)),
        Kind::Sqlite => Box::new(sqlite::Subject::open(dir, setup)),
        Kind::Redb => Box::new(redb::Subject::open(dir, setup)),
        Kind::Fjall => Box::new(fjall::Subject::open(dir, setup)),
        Kind::Kafko => Box::new(kafko::Subject::open(dir, setup)),
    }
}

/// Bytes on disk of the files under `dir`: their allocated blocks, as `du` counts them
/// (fjall's journal is a 64 MiB sparse file from the start; only what is written counts).
#[must_use]
pub fn allocated_bytes(dir: &Path) -> u64 {
    walk(dir, &|meta| meta.blocks() * 512)
}

/// Sum of the lengths of the files under `dir`, as `ls` shows them.
#[must_use]
pub fn length_bytes(dir: &Path) -> u64 {
    walk(dir, &|meta| meta.len())
}

fn walk(dir: &Path, size: &dyn Fn(&std::fs::Metadata) -> u64) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read subject directory") {
        let entry = entry.expect("directory entry");
        let meta = entry.metadata().expect("file metadata");
        total += if meta.is_dir() {
            walk(&entry.path(), size)
        } else {
            size(&meta)
        };
    }
    total
}

/// What each subject promises for the commits measured here, for the notes under the table.
#[must_use]
pub fn guarantees(kind: Kind) -> &'static str {
    match kind {
        Kind::Brooklet => brooklet::GUARANTEES,
        Kind::Sqlite => sqlite::GUARANTEES,
        Kind::Redb => redb::GUARANTEES,
        Kind::Fjall => fjall::GUARANTEES,
        Kind::Kafko => kafko::GUARANTEES,
    }
}
