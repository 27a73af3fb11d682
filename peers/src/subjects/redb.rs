//! redb: the log is a table from the offset (`u64`) to key and value joined, group offsets a
//! table from the group's name to the offset. Durable commits use `Durability::Immediate`,
//! the others `Durability::None`. Retention deletes the oldest offsets in each append's
//! transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use brooklet::Record;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::{ReadCount, Sender, Setup};
use crate::data;

pub const GUARANTEES: &str = "durable commits use `Durability::Immediate` (persistent when \
commit returns); the non-durable bulk append and offset commits use `Durability::None` (atomic, not synced). \
Writers are serialized: no group commit. No consumer groups: a group offset is a one-key \
write.";

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const OFFSETS: TableDefinition<&str, u64> = TableDefinition::new("offsets");

pub struct Subject {
    db: Arc<Database>,
    dir: PathBuf,
    staged: Vec<Vec<u8>>,
    next_offset: u64,
    retain_records: Option<u64>,
}

fn durability(sync: bool) -> Durability {
    if sync {
        Durability::Immediate
    } else {
        Durability::None
    }
}

impl Subject {
    pub fn open(dir: &Path, setup: Setup) -> Self {
        let db = Database::create(dir.join("log.redb")).expect("open redb");
        let txn = db.begin_write().expect("begin");
        txn.open_table(LOG).expect("create log table");
        txn.open_table(OFFSETS).expect("create offsets table");
        txn.commit().expect("commit");
        Self {
            db: Arc::new(db),
            dir: dir.to_owned(),
            staged: Vec::new(),
            next_offset: 0,
            retain_records: setup.retain_records,
        }
    }
}

impl super::Subject for Subject {
    fn stage(&mut self, records: Vec<Record>) {
        self.staged = records.iter().map(data::joined).collect();
    }

    fn append(&mut self, sync: bool) {
        let mut txn = self.db.begin_write().expect("begin");
        txn.set_durability(durability(sync))
            .expect("set durability");
        {
            let mut table = txn.open_table(LOG).expect("log table");
            for value in &self.staged {
                table
                    .insert(self.next_offset, value.as_slice())
                    .expect("insert");
                self.next_offset += 1;
            }
            if let Some(retain) = self.retain_records {
                let below = self.next_offset.saturating_sub(retain);
                table
                    .retain_in(..below, |_, _| false)
                    .expect("delete oldest");
            }
        }
        txn.commit().expect("commit");
    }

    fn read_all(&mut self) -> ReadCount {
        let mut count = ReadCount::default();
        let txn = self.db.begin_read().expect("begin read");
        let table = txn.open_table(LOG).expect("log table");
        for item in table.range(0..).expect("range") {
            let (_, value) = item.expect("entry");
            let joined = value.value();
            count.add(&joined[..data::KEY_LEN], &joined[data::KEY_LEN..]);
        }
        count
    }

    fn commit_offset(&mut self, offset: u64, sync: bool) {
        let mut txn = self.db.begin_write().expect("begin");
        txn.set_durability(durability(sync))
            .expect("set durability");
        txn.open_table(OFFSETS)
            .expect("offsets table")
            .insert("bench/log/0", offset)
            .expect("insert offset");
        txn.commit().expect("commit");
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn sender(&self) -> Box<dyn Sender> {
        Box::new(RedbSender(Arc::clone(&self.db)))
    }
}

/// Each send is its own `Immediate` write transaction appending after the last offset.
struct RedbSender(Arc<Database>);

impl Sender for RedbSender {
    fn send(&mut self, record: Record) {
        let txn = self.0.begin_write().expect("begin");
        {
            let mut table = txn.open_table(LOG).expect("log table");
            let next = table
                .last()
                .expect("last entry")
                .map_or(0, |(k, _)| k.value() + 1);
            table
                .insert(next, data::joined(&record).as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
    }
}
