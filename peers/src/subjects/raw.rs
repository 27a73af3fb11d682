//! The physical ceiling: an append-only file written with `write` and made durable with
//! `fdatasync`, holding the same Kafka `RecordBatch` v2 bytes brooklet stores (encoded at
//! [`Subject::stage`], untimed, so the ceiling is the I/O alone).
//!
//! With a segment size the log is a directory of segment files, as Kafka keeps it: a new
//! file when the active one is full (the directory is fsynced so the new file survives a
//! power cut), and whole oldest files deleted once the rest still hold the retained bytes.
//! Group offsets are a 16-byte record (partition and offset) overwritten in place with
//! `pwrite`, then `fdatasync` when durable. Reads are 4 MiB `read` calls: bytes only, no
//! decoding, so the read ceiling is strict.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use brooklet::{Record, TimestampType, kafka};

use super::{ReadCount, Sender, Setup, Subject};
use crate::data;

const READ_CHUNK: usize = 4 << 20;

/// Bytes per record of a stored batch of `batch` benchmark records (header included).
#[must_use]
pub fn stored_bytes_per_record(batch: u64) -> u64 {
    let bytes = encode(0, &data::records(0, batch));
    bytes.len() as u64 / batch
}

fn encode(offset_base: u64, records: &[Record]) -> Vec<u8> {
    kafka::encode_batch(offset_base, records, TimestampType::CreateTime, now_ms())
        .expect("benchmark records encode")
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit i64")
}

fn append_file(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("raw file")
}

/// One segment file: its path and length.
#[derive(Debug)]
struct SegmentFile {
    path: PathBuf,
    bytes: u64,
}

/// The raw-file ceiling; see the module docs.
#[derive(Debug)]
pub struct Raw {
    dir: PathBuf,
    segments: VecDeque<SegmentFile>,
    active: File,
    segment_bytes: Option<u64>,
    retain_bytes: Option<u64>,
    staged: Vec<u8>,
    staged_count: u64,
    /// Stored bytes per record (1000-record batches), to count records in dropped files.
    per_record: u64,
    next_offset: u64,
    /// Offset of the first record still stored.
    start_offset: u64,
    offsets: Option<File>,
}

impl Raw {
    /// A new raw log in the empty directory `dir`.
    #[must_use]
    pub fn open(dir: &Path, setup: Setup) -> Self {
        std::fs::create_dir_all(dir).expect("raw directory");
        let path = segment_path(dir, 0);
        let active = append_file(&path);
        let per_record = stored_bytes_per_record(1000);
        Self {
            dir: dir.to_owned(),
            segments: VecDeque::from([SegmentFile { path, bytes: 0 }]),
            active,
            segment_bytes: setup.segment_bytes,
            retain_bytes: setup.retain_records.map(|n| n * per_record),
            staged: Vec::new(),
            staged_count: 0,
            per_record,
            next_offset: 0,
            start_offset: 0,
            offsets: None,
        }
    }

    /// Starts a new segment file if the staged batch does not fit the active one.
    fn roll_if_full(&mut self) {
        let Some(limit) = self.segment_bytes else {
            return;
        };
        let active = self.segments.back().expect("a raw log has a segment");
        if active.bytes == 0 || active.bytes + self.staged.len() as u64 <= limit {
            return;
        }
        let path = segment_path(&self.dir, self.next_offset);
        self.active = append_file(&path);
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .expect("fsync the raw directory");
        self.segments.push_back(SegmentFile { path, bytes: 0 });
    }

    /// Deletes whole oldest segment files while the rest still hold the retained bytes.
    fn apply_retention(&mut self) {
        let Some(retain) = self.retain_bytes else {
            return;
        };
        while self.segments.len() > 1 {
            let total: u64 = self.segments.iter().map(|s| s.bytes).sum();
            let oldest = &self.segments[0];
            if total - oldest.bytes < retain {
                break;
            }
            std::fs::remove_file(&oldest.path).expect("delete a raw segment");
            self.start_offset += oldest.bytes / self.per_record;
            self.segments.pop_front();
        }
    }
}

fn segment_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(format!("{base_offset:020}.log"))
}

impl Subject for Raw {
    fn stage(&mut self, records: Vec<Record>) {
        self.staged = encode(self.next_offset, &records);
        self.staged_count = records.len() as u64;
    }

    fn append(&mut self, sync: bool) {
        self.roll_if_full();
        self.active.write_all(&self.staged).expect("raw write");
        if sync {
            self.active.sync_data().expect("raw fdatasync");
        }
        let active = self.segments.back_mut().expect("a raw log has a segment");
        active.bytes += self.staged.len() as u64;
        self.next_offset += self.staged_count;
        self.apply_retention();
    }

    fn read_all(&mut self) -> ReadCount {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut bytes = 0u64;
        for segment in &self.segments {
            let mut file = File::open(&segment.path).expect("raw segment");
            loop {
                let n = file.read(&mut buf).expect("raw read");
                if n == 0 {
                    break;
                }
                bytes += n as u64;
            }
            std::hint::black_box(&buf);
        }
        ReadCount {
            records: self.next_offset - self.start_offset,
            bytes,
        }
    }

    fn commit_offset(&mut self, offset: u64, sync: bool) {
        let file = self.offsets.get_or_insert_with(|| {
            File::create(self.dir.join("offsets")).expect("raw offsets file")
        });
        let mut entry = [0u8; 16];
        entry[8..].copy_from_slice(&offset.to_le_bytes());
        file.write_all_at(&entry, 0).expect("raw offset pwrite");
        if sync {
            file.sync_data().expect("raw offset fdatasync");
        }
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn sender(&self) -> Box<dyn Sender> {
        Box::new(RawSender {
            file: append_file(&segment_path(&self.dir, self.next_offset)),
        })
    }
}

/// Appends 1-record batches to a shared file, each followed by `fdatasync`.
struct RawSender {
    file: File,
}

impl Sender for RawSender {
    fn send(&mut self, record: Record) {
        let bytes = encode(0, &[record]);
        self.file.write_all(&bytes).expect("raw write");
        self.file.sync_data().expect("raw fdatasync");
    }
}

/// The latency ceiling of a durable commit: one 4 KiB `pwrite` at offset 0, then
/// `fdatasync` ([`Fsync4k::overwrite`]); or one 4 KiB append, then `fdatasync`
/// ([`Fsync4k::append`]), which on ext4 also commits the journal for the file's new size.
#[derive(Debug)]
pub struct Fsync4k {
    file: File,
    page: Vec<u8>,
    append: bool,
}

impl Fsync4k {
    #[must_use]
    pub fn overwrite(path: &Path) -> Self {
        let file = File::create(path).expect("4 KiB ceiling file");
        let page = vec![0x5a; 4096];
        file.write_all_at(&page, 0).expect("write");
        file.sync_all().expect("sync");
        Self {
            file,
            page,
            append: false,
        }
    }

    #[must_use]
    pub fn append(path: &Path) -> Self {
        Self {
            file: append_file(path),
            page: vec![0x5a; 4096],
            append: true,
        }
    }

    /// One 4 KiB write and `fdatasync`.
    pub fn commit(&mut self) {
        self.page[0] = self.page[0].wrapping_add(1);
        if self.append {
            self.file.write_all(&self.page).expect("append");
        } else {
            self.file.write_all_at(&self.page, 0).expect("pwrite");
        }
        self.file.sync_data().expect("fdatasync");
    }
}
