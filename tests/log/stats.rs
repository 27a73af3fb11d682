//! `Brooklet::stats`: the counters count what was done, exactly where a count is exact
//! (syncs and commits by durability, group-commit requests), and the file's free pages
//! match `check`. Counts only; no timing.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use brooklet::storage::{FileStorage, Storage};
use brooklet::{Brooklet, Durability, FetchLimits, Options, Record, Stats, TopicConfig};

fn open(path: &Path) -> Brooklet {
    Brooklet::open(path).expect("open")
}

fn with_topic(dir: &tempfile::TempDir, partitions: u32) -> Brooklet {
    let db = open(&dir.path().join("stats.brooklet"));
    db.admin()
        .create_topic("t", partitions, TopicConfig::default())
        .expect("create");
    db
}

fn value(i: usize) -> Record {
    Record::value(format!("record number {i:06}"))
}

/// The counters spent by `f`.
fn spent(db: &Brooklet, f: impl FnOnce()) -> Stats {
    let before = db.stats();
    f();
    db.stats().since(&before)
}

#[test]
fn a_new_handle_counts_from_zero_and_clones_share_its_counters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stats.brooklet");
    let db = open(&path);
    let created = db.stats();
    assert_eq!(
        created.fdatasyncs, 2,
        "creating a file syncs its two phases"
    );
    assert_eq!(created.fdatasyncs, db.sync_count());
    assert_eq!(created.commits_immediate + created.commits_none, 0);
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    let clone = db.clone();
    clone.producer().send("t", value(0)).expect("send");
    assert_eq!(db.stats(), clone.stats(), "clones share the counters");
    assert_eq!(db.stats().group_requests, 1);

    let other = open(&path);
    let fresh = other.stats();
    assert_eq!(
        (fresh.fdatasyncs, fresh.group_commits, fresh.bytes_written),
        (0, 0, 0)
    );
    assert!(fresh.bytes_read > 0, "opening reads the header and slots");
    assert_eq!(
        fresh.file.txn,
        db.stats().file.txn,
        "the file's figures are shared"
    );
    assert_eq!(fresh.file.page_count, db.stats().file.page_count);
}

#[test]
fn every_durable_send_costs_one_fdatasync_and_one_immediate_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = with_topic(&dir, 1);
    let producer = db.producer();
    let mut total = Stats::default();
    // Enough small sends that some write the batches held in the slot into their segment.
    for i in 0..100 {
        let syncs = db.sync_count();
        let record = value(i);
        let payload = record.value.as_ref().map_or(0, Vec::len) as u64;
        let one = spent(&db, || {
            producer.send("t", record).expect("send");
        });
        assert_eq!(one.fdatasyncs, 1, "send {i}");
        assert_eq!(db.sync_count() - syncs, 1, "send {i}: the storage agrees");
        assert_eq!(
            (
                one.commits_immediate,
                one.commits_none,
                one.commits_paranoid
            ),
            (1, 0, 0),
            "send {i}"
        );
        assert_eq!((one.group_commits, one.group_requests), (1, 1), "send {i}");
        assert!(one.bytes_written >= payload, "send {i}: {one:?}");
        assert!(one.pending_data_flushes <= 1);
        total.pending_data_flushes += one.pending_data_flushes;
        total.pending_entry_flushes += one.pending_entry_flushes;
    }
    // Most small sends ride in the slot; every so often one moves them to the segment.
    assert!(
        (1..50).contains(&total.pending_data_flushes),
        "pending-data flushes in 100 sends: {}",
        total.pending_data_flushes
    );
    let file = db.stats().file;
    assert_eq!(file.commits_since_durable, 0);
    assert!(
        file.pending_data_bytes + file.pending_entry_bytes > 0,
        "{file:?}"
    );

    let paranoid = spent(&db, || {
        db.producer()
            .with_durability(Durability::Paranoid)
            .send("t", value(100))
            .expect("send");
    });
    assert_eq!((paranoid.commits_paranoid, paranoid.fdatasyncs), (1, 2));
}

#[test]
fn non_durable_sends_sync_only_when_the_window_forces_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = with_topic(&dir, 1);
    let bulk = db.producer().with_durability(Durability::None);
    let fifty = spent(&db, || {
        for i in 0..50 {
            bulk.send("t", value(i)).expect("send");
        }
    });
    assert_eq!((fifty.commits_none, fifty.commits_immediate), (50, 0));
    assert_eq!((fifty.fdatasyncs, fifty.commits_made_durable), (0, 0));
    assert_eq!(db.stats().file.commits_since_durable, 50);

    // The journal window holds at most 1024 commits that wrote pages: the next is made
    // durable. (Commits held whole in the slot add nothing to the window.)
    let large = || Record::value(vec![7u8; 5000]);
    let many = spent(&db, || {
        for _ in 0..1100 {
            bulk.send("t", large()).expect("send");
        }
    });
    assert_eq!(many.commits_none, 1100);
    assert!(many.commits_made_durable >= 1, "{many:?}");
    assert_eq!(many.fdatasyncs, many.commits_made_durable);
    assert!(db.stats().file.commits_since_durable <= 1024);

    // The flush closes a window of the 76 or so sends after the forced commit, two pages
    // or more each: over 64 pages. It still syncs once; the no-op commit that follows it
    // (so that the next open reads none of the window) is neither synced nor counted.
    let flush = spent(&db, || db.flush().expect("flush"));
    assert_eq!((flush.commits_immediate, flush.fdatasyncs), (1, 1));
    assert_eq!(db.stats().file.commits_since_durable, 0);
    let again = spent(&db, || db.flush().expect("flush"));
    assert_eq!(
        (again.commits_immediate, again.fdatasyncs),
        (0, 0),
        "nothing to flush: no commit"
    );
}

/// Opening a file after a bulk load closed by `flush` reads a few pages, not the load's
/// window: the flush is followed by a no-op commit whose window is empty. Left unflushed,
/// the newest commit is not durable and the open verifies its window (counted, not timed).
#[test]
fn open_after_a_flushed_bulk_load_reads_none_of_its_window() {
    let payload = 200 * 5000;
    let mut opened = Vec::new();
    for flush in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = with_topic(&dir, 1);
        let bulk = db.producer().with_durability(Durability::None);
        for _ in 0..200 {
            bulk.send("t", Record::value(vec![7u8; 5000]))
                .expect("send");
        }
        if flush {
            // One sync, whatever the window: the follow-up commit is not synced.
            let flushed = spent(&db, || db.flush().expect("flush"));
            assert_eq!((flushed.commits_immediate, flushed.fdatasyncs), (1, 1));
        }
        drop((bulk, db));
        let again = open(&dir.path().join("stats.brooklet"));
        opened.push(again.stats());
        assert_eq!(again.end_offset("t", 0).expect("end"), 200);
    }
    let (flushed, unflushed) = (opened[0], opened[1]);
    assert!(unflushed.bytes_read >= payload, "{unflushed:?}");
    assert!(
        flushed.bytes_read < 16 * 4096 && flushed.read_calls <= 16,
        "a few pages, not the window of {payload} bytes: {flushed:?}"
    );
}

#[test]
fn bytes_written_cover_the_payload_and_pages_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = with_topic(&dir, 1);
    let records: Vec<Record> = (0..1000)
        .map(|i| Record::keyed(format!("{i:016}"), vec![7u8; 100]))
        .collect();
    let payload = 1000 * (16 + 100);
    let bulk = spent(&db, || {
        db.producer()
            .with_durability(Durability::None)
            .send_batch("t", records)
            .expect("send");
    });
    assert!(bulk.bytes_written >= payload, "{bulk:?}");
    assert!(bulk.write_calls >= 1);
    assert!(bulk.pages_allocated > 0 && bulk.pages_grown <= bulk.pages_allocated);
    assert_eq!(bulk.commits_none, 1);
}

#[test]
fn a_cold_read_misses_the_cache_then_hits_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stats.brooklet");
    {
        let db = with_topic(&dir, 1);
        let records: Vec<Record> = (0..2000).map(value).collect();
        db.producer().send_batch("t", records).expect("send");
    }
    // A new handle: an empty page cache.
    let db = open(&path);
    let read = |db: &Brooklet| {
        let fetched = db.fetch("t", 0, 0, FetchLimits::default()).expect("fetch");
        assert!(!fetched.records.is_empty());
    };
    let cold = spent(&db, || read(&db));
    assert!(cold.cache_misses > 0, "{cold:?}");
    assert!(cold.bytes_read > 0);
    let warm = spent(&db, || read(&db));
    assert_eq!(warm.cache_misses, 0, "{warm:?}");
    assert!(
        warm.cache_hits >= cold.cache_misses,
        "{warm:?} after {cold:?}"
    );
    assert!(
        warm.bytes_read > 0,
        "record data is read from the file every time"
    );
}

/// A file whose `fdatasync` takes a few milliseconds more, as a disk's does, so that
/// concurrent producers do queue behind a leader's sync.
#[derive(Debug)]
struct SlowSync(FileStorage);

impl Storage for SlowSync {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.0.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.0.write_at(offset, data)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        std::thread::sleep(Duration::from_millis(3));
        self.0.sync_data()
    }
    fn sync_count(&self) -> u64 {
        self.0.sync_count()
    }
    fn try_lock_writer(&self) -> std::io::Result<bool> {
        self.0.try_lock_writer()
    }
    fn unlock_writer(&self) -> std::io::Result<()> {
        self.0.unlock_writer()
    }
}

#[test]
fn group_commit_counts_more_requests_than_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = FileStorage::open(&dir.path().join("stats.brooklet")).expect("file");
    let db = Brooklet::open_storage(Arc::new(SlowSync(storage)), Options::default()).expect("open");
    db.admin()
        .create_topic("t", 4, TopicConfig::default())
        .expect("create");
    let (threads, sends) = (8, 25);
    let groups = spent(&db, || {
        std::thread::scope(|scope| {
            for t in 0..threads {
                let producer = db.producer();
                scope.spawn(move || {
                    for i in 0..sends {
                        producer
                            .send("t", Record::keyed(format!("k{t}"), format!("{i}")))
                            .expect("send");
                    }
                });
            }
        });
    });
    assert_eq!(groups.group_requests, threads * sends);
    assert!(
        groups.group_commits < groups.group_requests,
        "no group held two requests: {groups:?}"
    );
    assert!(groups.group_largest >= 2 && groups.group_largest <= threads);
    // Each group is one durable commit with one sync.
    assert_eq!(groups.commits_immediate, groups.group_commits);
    assert_eq!(groups.fdatasyncs, groups.group_commits);
}

#[test]
fn free_pages_after_deleting_a_topic_match_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stats.brooklet");
    let db = Brooklet::open_with(&path, Options::default().page_size(512)).expect("open");
    for name in ["gone", "kept"] {
        db.admin()
            .create_topic(name, 2, TopicConfig::default())
            .expect("create");
    }
    for i in 0..40 {
        let records: Vec<Record> = (0..20).map(|j| value(i * 20 + j)).collect();
        db.producer()
            .send_batch("gone", records.clone())
            .expect("send");
        db.producer().send_batch("kept", records).expect("send");
    }
    let delete = spent(&db, || db.admin().delete_topic("gone").expect("delete"));
    let stats = db.stats();
    assert!(stats.file.free_pages > 0, "{stats:?}");
    assert!(
        delete.pages_freed >= stats.file.free_pages / 2,
        "{delete:?}"
    );
    let check = db.admin().check().expect("check");
    assert!(check.is_clean(), "{:?}", check.problems);
    assert_eq!(stats.file.free_pages, check.free_pages());
    assert_eq!(stats.file.page_count, u64::from(check.page_count));
    assert_eq!(stats.file.txn, check.txn);

    // Another handle reads the same figures from the file (the list may be in a blob).
    drop(db);
    let inspect = Brooklet::open_read_only(&path).expect("open");
    let file = inspect.stats().file;
    assert_eq!(file, stats.file);
    assert!(file.free_extents >= 1 && file.free_extents <= file.free_pages);
}

#[test]
fn a_free_list_in_a_blob_is_read_for_its_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stats.brooklet");
    let db = Brooklet::open_with(&path, Options::default().page_size(512)).expect("open");
    // Many topics, every other one deleted: free runs with used pages between them, more
    // than a 512-byte slot holds inline (about 20).
    for t in 0..120 {
        let name = format!("t{t:03}");
        db.admin()
            .create_topic(&name, 1, TopicConfig::default())
            .expect("create");
        db.producer().send(&name, value(t)).expect("send");
    }
    for t in (0..120).step_by(2) {
        db.admin()
            .delete_topic(&format!("t{t:03}"))
            .expect("delete");
    }
    let written = db.stats().file;
    assert!(written.free_extents > 30, "{written:?}");
    let check = db.admin().check().expect("check");
    assert_eq!(written.free_pages, check.free_pages());
    drop(db);
    let inspect = Brooklet::open_read_only(&path).expect("open");
    let before = inspect.stats();
    let file = before.file;
    assert_eq!(file, written);
    let after = inspect.stats();
    assert_eq!(
        after.since(&before).bytes_read,
        0,
        "the figures are read once"
    );
}
