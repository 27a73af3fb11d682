//! fjall: the log is a keyspace from the offset (big-endian `u64`) to key and value joined,
//! group offsets a keyspace from the group's name to the offset. Each append is one write
//! batch; durable batches persist the journal with `PersistMode::SyncData` before returning,
//! the others write it to the OS only. Retention removes the oldest offsets in each append's
//! batch (tombstones, dropped later by compaction).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use brooklet::Record;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{ReadCount, Sender, Setup};
use crate::data;

pub const GUARANTEES: &str = "durable commits are write batches with \
`PersistMode::SyncData` (journal fdatasynced before commit returns); the non-durable bulk \
append and offset commits are batches without persist (written to the OS, not synced). Journal writes are \
serialized: no group commit. No consumer groups: a group offset is a one-key write.";

pub struct Subject {
    db: Database,
    log: Keyspace,
    offsets: Keyspace,
    dir: PathBuf,
    staged: Vec<Vec<u8>>,
    /// The next offset; shared with senders on other threads.
    next_offset: Arc<AtomicU64>,
    /// Offsets below this have been removed.
    trimmed: u64,
    retain_records: Option<u64>,
}

fn persist(sync: bool) -> Option<PersistMode> {
    sync.then_some(PersistMode::SyncData)
}

impl Subject {
    pub fn open(dir: &Path, setup: Setup) -> Self {
        let db = Database::builder(dir).open().expect("open fjall");
        let log = db
            .keyspace("log", KeyspaceCreateOptions::default)
            .expect("log keyspace");
        let offsets = db
            .keyspace("offsets", KeyspaceCreateOptions::default)
            .expect("offsets keyspace");
        Self {
            db,
            log,
            offsets,
            dir: dir.to_owned(),
            staged: Vec::new(),
            next_offset: Arc::new(AtomicU64::new(0)),
            trimmed: 0,
            retain_records: setup.retain_records,
        }
    }
}

impl super::Subject for Subject {
    fn stage(&mut self, records: Vec<Record>) {
        self.staged = records.iter().map(data::joined).collect();
    }

    fn append(&mut self, sync: bool) {
        let mut batch = self.db.batch().durability(persist(sync));
        let count = self.staged.len() as u64;
        let first = self.next_offset.fetch_add(count, Ordering::Relaxed);
        for (offset, value) in (first..).zip(self.staged.drain(..)) {
            batch.insert(&self.log, offset.to_be_bytes(), value);
        }
        if let Some(retain) = self.retain_records {
            let below = (first + count).saturating_sub(retain);
            for offset in self.trimmed..below {
                batch.remove(&self.log, offset.to_be_bytes());
            }
            self.trimmed = self.trimmed.max(below);
        }
        batch.commit().expect("fjall commit");
    }

    fn read_all(&mut self) -> ReadCount {
        let mut count = ReadCount::default();
        for guard in self.log.iter() {
            let (_, joined) = guard.into_inner().expect("entry");
            count.add(&joined[..data::KEY_LEN], &joined[data::KEY_LEN..]);
        }
        count
    }

    fn commit_offset(&mut self, offset: u64, sync: bool) {
        let mut batch = self.db.batch().durability(persist(sync));
        batch.insert(&self.offsets, "bench/log/0", offset.to_le_bytes());
        batch.commit().expect("fjall commit");
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn sender(&self) -> Box<dyn Sender> {
        Box::new(FjallSender {
            db: self.db.clone(),
            log: self.log.clone(),
            next_offset: Arc::clone(&self.next_offset),
        })
    }
}

/// Each send is a 1-record batch persisted with `SyncData`; offsets come from a shared
/// counter.
struct FjallSender {
    db: Database,
    log: Keyspace,
    next_offset: Arc<AtomicU64>,
}

impl Sender for FjallSender {
    fn send(&mut self, record: Record) {
        let offset = self.next_offset.fetch_add(1, Ordering::Relaxed);
        let mut batch = self.db.batch().durability(persist(true));
        batch.insert(&self.log, offset.to_be_bytes(), data::joined(&record));
        batch.commit().expect("fjall commit");
    }
}
