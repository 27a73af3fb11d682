//! rusqlite (`SQLite` bundled), WAL mode: the log is a table keyed by `INTEGER PRIMARY KEY`
//! (the offset, the `rowid`), group offsets a row of an `offsets` table (upserted).
//! Durable commits run with `synchronous=FULL`, the others with `synchronous=NORMAL`.
//! Retention deletes the oldest rows in each append's transaction.

use std::path::{Path, PathBuf};
use std::time::Duration;

use brooklet::Record;
use rusqlite::{Connection, params};

use super::{ReadCount, Sender, Setup};
use crate::data;

pub const GUARANTEES: &str = "WAL mode; durable commits use `synchronous=FULL` (the WAL is \
fsynced at each commit); the non-durable bulk append and offset commits use `synchronous=NORMAL` (atomic, \
not synced until a checkpoint). No consumer groups: a group offset is a one-row upsert.";

pub struct Subject {
    conn: Connection,
    dir: PathBuf,
    path: PathBuf,
    staged: Vec<Record>,
    /// The `synchronous` setting in force: true for FULL.
    full: bool,
    retain_records: Option<u64>,
}

fn connect(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open sqlite");
    conn.busy_timeout(Duration::from_secs(30))
        .expect("busy timeout");
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .expect("WAL mode");
    assert_eq!(mode, "wal", "sqlite runs in WAL mode");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous=FULL");
    conn
}

impl Subject {
    pub fn open(dir: &Path, setup: Setup) -> Self {
        let path = dir.join("log.sqlite");
        let conn = connect(&path);
        conn.execute_batch(
            "CREATE TABLE log (offset INTEGER PRIMARY KEY, key BLOB NOT NULL, value BLOB NOT NULL);
             CREATE TABLE offsets (grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL,
                                   offset INTEGER NOT NULL, PRIMARY KEY (grp, topic, part))
                                   WITHOUT ROWID;",
        )
        .expect("create tables");
        Self {
            conn,
            dir: dir.to_owned(),
            path,
            staged: Vec::new(),
            full: true,
            retain_records: setup.retain_records,
        }
    }

    fn set_sync(&mut self, full: bool) {
        if self.full != full {
            let value = if full { "FULL" } else { "NORMAL" };
            self.conn
                .pragma_update(None, "synchronous", value)
                .expect("set synchronous");
            self.full = full;
        }
    }
}

impl super::Subject for Subject {
    fn stage(&mut self, records: Vec<Record>) {
        self.staged = records;
    }

    fn append(&mut self, sync: bool) {
        self.set_sync(sync);
        let txn = self.conn.transaction().expect("begin");
        {
            let mut insert = txn
                .prepare_cached("INSERT INTO log (key, value) VALUES (?1, ?2)")
                .expect("prepare insert");
            for record in &self.staged {
                let (key, value) = data::parts(record);
                insert.execute(params![key, value]).expect("insert");
            }
        }
        if let Some(retain) = self.retain_records {
            let last = txn.last_insert_rowid();
            txn.prepare_cached("DELETE FROM log WHERE offset <= ?1")
                .expect("prepare delete")
                .execute(params![last - i64::try_from(retain).expect("fits i64")])
                .expect("delete oldest");
        }
        txn.commit().expect("commit");
    }

    fn read_all(&mut self) -> ReadCount {
        let mut count = ReadCount::default();
        let mut select = self
            .conn
            .prepare_cached("SELECT key, value FROM log ORDER BY offset")
            .expect("prepare select");
        let mut rows = select.query([]).expect("select");
        while let Some(row) = rows.next().expect("row") {
            let key = row.get_ref(0).and_then(|v| Ok(v.as_blob()?)).expect("key");
            let value = row
                .get_ref(1)
                .and_then(|v| Ok(v.as_blob()?))
                .expect("value");
            count.add(key, value);
        }
        count
    }

    fn commit_offset(&mut self, offset: u64, sync: bool) {
        self.set_sync(sync);
        self.conn
            .prepare_cached(
                "INSERT INTO offsets (grp, topic, part, offset) VALUES ('bench', 'log', 0, ?1)
                 ON CONFLICT (grp, topic, part) DO UPDATE SET offset = excluded.offset",
            )
            .expect("prepare upsert")
            .execute(params![i64::try_from(offset).expect("fits i64")])
            .expect("upsert offset");
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn sender(&self) -> Box<dyn Sender> {
        Box::new(SqliteSender(connect(&self.path)))
    }
}

/// Its own connection (one per thread), each insert its own `synchronous=FULL` commit.
struct SqliteSender(Connection);

impl Sender for SqliteSender {
    fn send(&mut self, record: Record) {
        let (key, value) = data::parts(&record);
        self.0
            .prepare_cached("INSERT INTO log (key, value) VALUES (?1, ?2)")
            .expect("prepare insert")
            .execute(params![key, value])
            .expect("insert");
    }
}
