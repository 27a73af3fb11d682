//! No acknowledged commit disappears without a word: a file whose newest commit is damaged
//! opens at the commit before, the handle's recovery report names the lost commit, and
//! batches written after the rollback carry a new `partitionLeaderEpoch`, so a reader that
//! saw the lost records can tell the new records at their offsets apart.

use std::path::Path;

use brooklet::{Brooklet, Error, FetchLimits, Record, TopicConfig};

const PAGE: usize = 4096;

/// Flips a byte in the body of the commit slot holding the newest txn.
fn damage_newest_slot(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let txn = |slot: usize| {
        let at = slot * PAGE + 40;
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };
    let newest = usize::from(txn(1) > txn(0));
    bytes[newest * PAGE + 32 + 60] ^= 0x10;
    std::fs::write(path, &bytes).expect("write");
}

/// Each stored batch's `partitionLeaderEpoch`, in offset order.
fn epochs(db: &Brooklet) -> Vec<i32> {
    let fetched = db
        .fetch_batches("t", 0, 0, FetchLimits::default())
        .expect("fetch");
    let mut bytes = fetched.bytes();
    let mut out = Vec::new();
    while bytes.len() >= 61 {
        let length = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        out.push(i32::from_be_bytes(
            bytes[12..16].try_into().expect("4 bytes"),
        ));
        bytes = &bytes[12 + length..];
    }
    out
}

fn send(db: &Brooklet, value: &str) -> u64 {
    db.producer()
        .send("t", Record::new(None, value.as_bytes().to_vec()))
        .expect("send")
        .offset
}

#[test]
fn a_lost_durable_commit_is_reported_and_later_batches_carry_a_new_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("epochs.brooklet");
    let db = Brooklet::open(&path).expect("open");
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    for value in ["a", "b", "c"] {
        send(&db, value);
    }
    assert!(db.recovery_report().is_clean());
    drop(db);

    // The newest commit (the send of "c", acknowledged as durable) is damaged.
    damage_newest_slot(&path);
    let damaged = std::fs::read(&path).expect("read");

    // A read-only handle reports it and changes nothing.
    let inspect = Brooklet::open_read_only(&path).expect("open read-only");
    let report = inspect.recovery_report();
    assert_eq!(report.rolled_back.len(), 1, "{report:?}");
    assert!(report.lost_durable_commit(), "{report:?}");
    let lost = &report.rolled_back[0];
    assert_eq!(lost.txn, report.opened_txn + 1, "{report:?}");
    assert!(
        !lost.verified,
        "the damaged slot's values are claims: {report:?}"
    );
    assert!(lost.to_string().contains("was rolled back"), "{lost}");
    assert_eq!(inspect.end_offset("t", 0).expect("end"), 2, "c is gone");
    assert!(matches!(
        inspect.admin().create_topic("u", 1, TopicConfig::default()),
        Err(Error::ReadOnly)
    ));
    drop(inspect);
    assert_eq!(std::fs::read(&path).expect("read"), damaged);

    // A writer sees the same, raises the file's epoch, and the offset of "c" goes to "d",
    // told apart by its epoch.
    let db = Brooklet::open(&path).expect("open");
    assert_eq!(db.recovery_report().rolled_back.len(), 1);
    assert_eq!(send(&db, "d"), 2);
    assert_eq!(epochs(&db), vec![-1, -1, 0]);
    assert!(db.admin().check().expect("check").is_clean());
    drop(db);

    // The rollback is past: a later open is clean and keeps the epoch.
    let db = Brooklet::open(&path).expect("open");
    assert!(db.recovery_report().is_clean());
    send(&db, "e");
    assert_eq!(epochs(&db), vec![-1, -1, 0, 0]);
    drop(db);

    // A second rollback raises it again.
    damage_newest_slot(&path);
    let db = Brooklet::open(&path).expect("open");
    assert_eq!(db.recovery_report().rolled_back.len(), 1);
    assert_eq!(send(&db, "f"), 3);
    assert_eq!(epochs(&db), vec![-1, -1, 0, 1]);
    assert!(db.admin().check().expect("check").is_clean());
}

#[test]
fn damage_to_the_older_slot_after_a_non_durable_commit_loses_nothing_and_is_noted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("older.brooklet");
    let db = Brooklet::open(&path).expect("open");
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    send(&db, "a");
    let producer = db.producer().with_durability(brooklet::Durability::None);
    producer
        .send("t", Record::new(None, b"b".to_vec()))
        .expect("send");
    drop(producer);
    drop(db);
    // The newest commit is non-durable; the other slot holds the durable one before it.
    let mut bytes = std::fs::read(&path).expect("read");
    let txn = |b: &[u8], slot: usize| {
        let at = slot * PAGE + 40;
        u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
    };
    let older = usize::from(txn(&bytes, 1) < txn(&bytes, 0));
    bytes[older * PAGE + 32 + 60] ^= 0x10;
    std::fs::write(&path, &bytes).expect("write");
    let db = Brooklet::open_read_only(&path).expect("open");
    let report = db.recovery_report();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.notes.len(), 1, "{report:?}");
    assert!(report.notes[0].contains("nothing was lost"), "{report:?}");
    assert_eq!(db.end_offset("t", 0).expect("end"), 2);
}
