//! Vacuum returns free space to the operating system: after deleting a topic and letting
//! retention drop segments, the file shrinks to about the pages in use, every record,
//! offset, timestamp, header and committed group offset is unchanged, `check` is clean,
//! and the file goes on working (produce, consume, reopen). Runs at 512- and 4096-byte
//! pages.

use std::path::Path;

use crate::support::log::{content, content_of, fill, used_pages};
use brooklet::{Brooklet, FetchLimits, Options, Record};

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

fn options(page_size: u32) -> Options {
    Options::default()
        .page_size(page_size)
        .maintain_on_open(false)
}

/// The free pages vacuum may leave, in pages. Its target is the pages in use plus 16 pages
/// and one in 1024 (room for copy-on-write copies of B-tree paths and the free-list
/// blob), and it leaves a file whose free pages are within twice that alone. Segments
/// move whole, so free space in pieces smaller than a segment (64 KiB here) can stay
/// behind when the segment above it fits in none of them.
fn slack(used: u64, page_size: u32) -> u64 {
    2 * (16 + used / 1024) + 65536 / u64::from(page_size)
}

fn vacuum_shrinks_and_keeps_everything(page_size: u32, seed: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.brooklet");
    let db = Brooklet::open_with(&path, options(page_size)).expect("open");
    fill(&db, seed, 6);
    let before = content(&db).expect("content");
    assert!(before.record_count() > 1500, "{}", before.record_count());
    let used = used_pages(&db);
    let len_before = file_len(&path);
    let report = db.admin().vacuum().expect("vacuum");
    let len_after = file_len(&path);
    println!("{page_size}-byte pages: {report:?}; {used} pages in use before");
    assert_eq!(report.bytes_before, len_before);
    assert_eq!(report.bytes_after, len_after);
    assert!(report.pages_moved > 0, "{report:?}");
    assert_eq!(
        report.pages_returned,
        (len_before - len_after) / u64::from(page_size)
    );
    assert!(len_after < len_before, "{len_before} -> {len_after}");
    assert_eq!(content(&db).expect("content"), before);
    let used_after = used_pages(&db);
    let pages_after = len_after / u64::from(page_size);
    let slack = slack(used_after, page_size);
    assert!(
        pages_after <= used_after + slack,
        "{pages_after} pages for {used_after} in use (slack {slack})"
    );
    assert_eq!(len_after % u64::from(page_size), 0);

    // The file goes on working: produce, read, reopen, vacuum again.
    let sent = db
        .producer()
        .send_to("keep", 1, Record::value(b"after vacuum".to_vec()))
        .expect("send");
    let fetched = db
        .fetch("keep", 1, sent.offset, FetchLimits::default())
        .expect("fetch");
    assert_eq!(
        fetched.records[0].value.as_deref(),
        Some(&b"after vacuum"[..])
    );
    let with_new = content(&db).expect("content");
    drop(db);
    let db = Brooklet::open_with(&path, options(page_size)).expect("reopen");
    assert_eq!(content(&db).expect("content"), with_new);
    assert!(db.admin().check().expect("check").is_clean());
}

#[test]
fn vacuum_shrinks_a_file_of_512_byte_pages() {
    vacuum_shrinks_and_keeps_everything(512, 1);
}

#[test]
fn vacuum_shrinks_a_file_of_4096_byte_pages() {
    vacuum_shrinks_and_keeps_everything(4096, 2);
}

#[test]
fn vacuum_with_nothing_to_do_changes_nothing() {
    for page_size in [512, 4096] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("n.brooklet");
        let db = Brooklet::open_with(&path, options(page_size)).expect("open");
        fill(&db, 3, 1);
        db.admin().vacuum().expect("first vacuum");
        let before = content(&db).expect("content");
        let bytes = std::fs::read(&path).expect("read");
        let txn = db.engine().latest_txn().expect("txn");
        let report = db.admin().vacuum().expect("second vacuum");
        assert_eq!(report.pages_moved, 0, "{report:?}");
        assert_eq!(report.pages_returned, 0, "{report:?}");
        assert_eq!(report.commits, 0, "{report:?}");
        assert_eq!(report.bytes_before, report.bytes_after);
        assert_eq!(db.engine().latest_txn().expect("txn"), txn);
        assert_eq!(std::fs::read(&path).expect("read"), bytes);
        assert_eq!(content(&db).expect("content"), before);
    }
}

/// Every named tree of a snapshot, read in full; a read error ends that tree's list.
type Trees = Vec<(String, Vec<(Vec<u8>, Vec<u8>)>, Option<brooklet::Error>)>;

fn read_trees(read: &brooklet::engine::ReadTransaction, names: &[String]) -> Trees {
    names
        .iter()
        .map(|name| {
            let mut entries = Vec::new();
            let mut error = None;
            match read.range(name, ..) {
                Err(e) => error = Some(e),
                Ok(iter) => {
                    for item in iter {
                        match item {
                            Ok(entry) => entries.push(entry),
                            Err(e) => {
                                error = Some(e);
                                break;
                            }
                        }
                    }
                }
            }
            (name.clone(), entries, error)
        })
        .collect()
}

/// A snapshot taken through another handle (as another process would: its readers are
/// not registered with the vacuuming handle) before vacuum cut the file: every read
/// either returns what the snapshot held or `StaleSnapshot`, never corruption or wrong
/// data; and at least one read meets a page that is gone. A fresh read sees everything.
#[test]
fn a_snapshot_older_than_the_cut_reads_stale_never_wrong() {
    for page_size in [512, 4096] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.brooklet");
        let db = Brooklet::open_with(&path, options(page_size)).expect("open");
        fill(&db, 4, 4);
        let expected = content(&db).expect("content");
        let names = {
            let read = db.engine().begin_read().expect("read");
            read.tree_names().expect("names")
        };
        let trees = read_trees(&db.engine().begin_read().expect("read"), &names);
        assert!(trees.iter().all(|(_, _, e)| e.is_none()));

        let other = Brooklet::open_with(&path, options(page_size).cache_bytes(0)).expect("open");
        let old = other.engine().begin_read().expect("old snapshot");
        let report = db.admin().vacuum().expect("vacuum");
        assert!(report.pages_returned > 0, "{report:?}");

        let mut stale = 0;
        for ((name, want, _), (_, got, error)) in trees.iter().zip(read_trees(&old, &names)) {
            assert_eq!(&want[..got.len()], &got[..], "{name}: wrong entries");
            match error {
                None => assert_eq!(want.len(), got.len(), "{name}"),
                Some(brooklet::Error::StaleSnapshot) => stale += 1,
                Some(e) => panic!("{name}: {e}"),
            }
        }
        assert!(stale > 0, "no read met a page past the new end");
        drop(old);
        assert_eq!(content(&other).expect("content"), expected);
        // The other handle writes on the shorter file.
        other
            .producer()
            .send_to("keep", 0, Record::value(b"from the other handle".to_vec()))
            .expect("send");
        assert!(db.admin().check().expect("check").is_clean());
    }
}

/// A snapshot of the vacuuming handle itself pins its pages: vacuum neither reuses nor
/// cuts them, so the snapshot reads exactly what it held. Once it is dropped, the next
/// vacuum gives the space back.
#[test]
fn a_snapshot_of_the_same_handle_keeps_its_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.brooklet");
    let db = Brooklet::open_with(&path, options(512)).expect("open");
    fill(&db, 5, 4);
    let names = {
        let read = db.engine().begin_read().expect("read");
        read.tree_names().expect("names")
    };
    let snapshot = db.engine().begin_read().expect("snapshot");
    let held = read_trees(&snapshot, &names);
    let first = db.admin().vacuum().expect("vacuum");
    let again = read_trees(&snapshot, &names);
    for ((name, want, _), (_, got, error)) in held.iter().zip(&again) {
        assert!(error.is_none(), "{name}: {error:?}");
        assert_eq!(want, got, "{name}");
    }
    assert!(db.admin().check().expect("check").is_clean());
    drop(snapshot);
    let second = db.admin().vacuum().expect("vacuum");
    println!("with a snapshot: {first:?}; after it: {second:?}");
    assert!(
        second.bytes_after < first.bytes_after,
        "{first:?} {second:?}"
    );
    let used = used_pages(&db);
    assert!(
        second.bytes_after / 512 <= used + slack(used, 512),
        "{second:?}: {used} pages in use"
    );
}

/// Segments of different sizes: the largest fits only once a window of free extents is
/// joined by moving the B-tree pages between them; vacuum does that and packs the file.
#[test]
fn vacuum_joins_free_extents_for_a_segment_that_fits_nowhere() {
    for seed in 0..4 {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("u.brooklet");
        let db = Brooklet::open_with(&path, options(1024)).expect("open");
        crate::support::log::fill_uneven(&db, seed);
        let before = content(&db).expect("content");
        let report = db.admin().vacuum().expect("vacuum");
        assert_eq!(content(&db).expect("content"), before);
        let used = used_pages(&db);
        let pages = report.bytes_after / 1024;
        println!("seed {seed}: {report:?}, {used} pages in use");
        // Tighter than `slack`: no segment is left behind.
        let tight = 2 * (16 + used / 1024);
        assert!(pages <= used + tight, "{pages} pages for {used} in use");
    }
}

/// Vacuum in small steps on one handle while another handle (as another process would:
/// its readers are not known to the first) produces and reads: every acknowledged record
/// is there afterwards, in order; every read returns exactly the records the file held;
/// the file is clean.
#[test]
fn vacuum_interleaves_with_producers_and_readers_of_another_handle() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.brooklet");
    let db = Brooklet::open_with(&path, options(512)).expect("open");
    fill(&db, 6, 3);
    let stable = content(&db).expect("content");
    db.admin()
        .create_topic("live", 2, brooklet::TopicConfig::default())
        .expect("create");
    let other = Brooklet::open_with(&path, options(512)).expect("open");
    let stop = Arc::new(AtomicBool::new(false));

    let producer = {
        let other = other.clone();
        std::thread::spawn(move || {
            let mut acked = Vec::new();
            for i in 0..400u32 {
                let value = format!("live {i}").into_bytes();
                let sent = other
                    .producer()
                    .send_to("live", i % 2, Record::value(value.clone()))
                    .expect("send");
                acked.push((sent.partition, sent.offset, value));
            }
            acked
        })
    };
    let reader = {
        let (other, stop) = (other.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut reads = 0;
            let names: Vec<String> = stable.topics.keys().cloned().collect();
            while !stop.load(Ordering::Relaxed) || reads == 0 {
                let found = content_of(&other, &names).expect("read during vacuum");
                assert!(found == stable, "a read during vacuum differs");
                reads += 1;
            }
            reads
        })
    };
    let small_steps = brooklet::VacuumOptions::default().step_bytes(8 << 10);
    for round in 0..3 {
        let report = db.admin().vacuum_with(small_steps, |_| {}).expect("vacuum");
        println!("round {round}: {report:?}");
        // Work for the next round: a topic above free space.
        for topic in [format!("scratch{round}"), format!("moved{round}")] {
            db.admin()
                .create_topic(&topic, 1, brooklet::TopicConfig::default())
                .expect("create");
            let records = (0..300u32)
                .map(|i| Record::value(i.to_le_bytes().repeat(50)))
                .collect();
            db.producer().send_batch(&topic, records).expect("send");
        }
        db.admin()
            .delete_topic(&format!("scratch{round}"))
            .expect("delete");
    }
    db.admin().vacuum_with(small_steps, |_| {}).expect("vacuum");
    let acked = producer.join().expect("producer");
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("reader");
    println!("{reads} full reads during vacuum");
    for (partition, offset, value) in acked {
        let fetched = db
            .fetch("live", partition, offset, FetchLimits::default())
            .expect("fetch");
        assert_eq!(fetched.records[0].offset, offset);
        assert_eq!(fetched.records[0].value.as_deref(), Some(&value[..]));
    }
    assert!(db.admin().check().expect("check").is_clean());
}
