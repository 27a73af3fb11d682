//! Transactions through the public API: commit and abort, isolation, large transactions
//! stored ahead of their commit, fencing, and aborts of a dead or timed-out instance.

use std::time::Duration;

use brooklet::{
    Brooklet, Error, FetchLimits, GroupMetadata, Isolation, Position, Record, TopicConfig,
    TopicPartition, TransactionOptions, TransactionState,
};

fn open() -> (tempfile::TempDir, Brooklet) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("t.brooklet")).expect("open");
    db.admin()
        .create_topic("in", 2, TopicConfig::default())
        .expect("topic in");
    db.admin()
        .create_topic("out", 2, TopicConfig::default())
        .expect("topic out");
    (dir, db)
}

fn values(db: &Brooklet, topic: &str, partition: u32, isolation: Isolation) -> Vec<Vec<u8>> {
    let limits = FetchLimits {
        max_records: 1_000_000,
        max_bytes: 1 << 30,
    };
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let f = db
            .fetch_with(topic, partition, offset, limits, isolation)
            .expect("fetch");
        out.extend(f.records.into_iter().map(|r| r.value.unwrap_or_default()));
        if f.next_offset == offset {
            return out;
        }
        offset = f.next_offset;
    }
}

#[test]
fn a_committed_transaction_is_one_commit_with_markers_and_offsets() {
    let (_dir, db) = open();
    let mut producer = db.transactional_producer("t1").expect("producer");
    let syncs = db.sync_count();
    let mut txn = producer.begin().expect("begin");
    txn.send_to("out", 0, Record::value("a")).expect("send");
    txn.send_to("out", 1, Record::value("b")).expect("send");
    txn.send_offsets(
        &GroupMetadata::new("g"),
        &[(TopicPartition::new("in", 0), 7)],
    )
    .expect("offsets");
    let sent = txn.commit().expect("commit");
    assert_eq!(db.sync_count() - syncs, 1, "one fdatasync per transaction");
    assert_eq!(sent.len(), 2);
    assert_eq!((sent[0].partition, sent[0].offset), (0, 0));
    assert_eq!((sent[1].partition, sent[1].offset), (1, 0));
    // Each partition holds the record and a COMMIT marker.
    assert_eq!(db.end_offset("out", 0).expect("end"), 2);
    assert_eq!(db.last_stable_offset("out", 0).expect("lso"), 2);
    assert_eq!(
        values(&db, "out", 0, Isolation::ReadCommitted),
        vec![b"a".to_vec()]
    );
    assert_eq!(
        values(&db, "out", 0, Isolation::ReadUncommitted),
        vec![b"a".to_vec()]
    );
    let group = db.admin().describe_group("g").expect("group");
    assert_eq!(group.partitions[0].committed, Some(7));
    let batches = db
        .fetch_batches_with(
            "out",
            0,
            0,
            FetchLimits::default(),
            Isolation::ReadUncommitted,
        )
        .expect("batches");
    let header = brooklet::kafka::BatchHeader::parse(batches.bytes()).expect("header");
    assert!(header.is_transactional() && !header.is_control());
    assert_eq!(header.producer_id, producer.producer_id_and_epoch().0);
    assert_eq!(header.sequence_base, 0);
    assert!(db.admin().check().expect("check").is_clean());
}

#[test]
fn an_aborted_transaction_leaves_nothing() {
    let (_dir, db) = open();
    let mut producer = db.transactional_producer("t1").expect("producer");
    let mut txn = producer.begin().expect("begin");
    txn.send_to("out", 0, Record::value("gone")).expect("send");
    txn.send_offsets(
        &GroupMetadata::new("g"),
        &[(TopicPartition::new("in", 0), 3)],
    )
    .expect("offsets");
    txn.abort().expect("abort");
    assert_eq!(db.end_offset("out", 0).expect("end"), 0);
    assert!(db.admin().describe_group("g").is_err());
    // Dropping a transaction aborts it too.
    {
        let mut txn = producer.begin().expect("begin");
        txn.send_to("out", 0, Record::value("dropped"))
            .expect("send");
    }
    let mut txn = producer.begin().expect("begin");
    txn.send_to("out", 0, Record::value("kept")).expect("send");
    txn.commit().expect("commit");
    assert_eq!(
        values(&db, "out", 0, Isolation::ReadCommitted),
        vec![b"kept".to_vec()]
    );
}

fn small_buffer() -> TransactionOptions {
    TransactionOptions {
        buffer_bytes: 1000,
        ..TransactionOptions::default()
    }
}

#[test]
fn a_large_transaction_is_stored_ahead_and_held_back_by_the_last_stable_offset() {
    let (_dir, db) = open();
    db.producer()
        .send_to("out", 0, Record::value("before"))
        .expect("send");
    let mut producer = db
        .transactional_producer_with("big", small_buffer())
        .expect("producer");
    let mut txn = producer.begin().expect("begin");
    for i in 0..100 {
        txn.send_to("out", 0, Record::value(format!("t{i:03}")))
            .expect("send");
    }
    // Stored, but not visible to read_committed readers.
    assert!(db.end_offset("out", 0).expect("end") > 1);
    assert_eq!(db.last_stable_offset("out", 0).expect("lso"), 1);
    db.producer()
        .send_to("out", 0, Record::value("after"))
        .expect("send");
    assert_eq!(
        values(&db, "out", 0, Isolation::ReadCommitted),
        vec![b"before".to_vec()]
    );
    assert!(values(&db, "out", 0, Isolation::ReadUncommitted).len() > 2);
    let mut reader = db.reader();
    reader.assign("out", 0, Position::End).expect("assign");
    assert_eq!(
        reader.position("out", 0),
        Some(1),
        "End is the last stable offset"
    );
    let sent = txn.commit().expect("commit");
    assert_eq!(sent.len(), 100);
    let committed = values(&db, "out", 0, Isolation::ReadCommitted);
    assert_eq!(committed.len(), 102);
    assert_eq!(committed[0], b"before");
    assert!(committed.contains(&b"after".to_vec()));
    assert!(committed.contains(&b"t099".to_vec()));
    let polled = reader.poll(Duration::from_millis(100)).expect("poll");
    assert_eq!(
        polled.len(),
        101,
        "the reader gets the transaction and the later send"
    );
    assert_eq!(
        db.last_stable_offset("out", 0).expect("lso"),
        db.end_offset("out", 0).expect("end")
    );
    assert!(db.admin().check().expect("check").is_clean());
}

#[test]
fn a_large_aborted_transaction_is_skipped_by_read_committed() {
    let (_dir, db) = open();
    let mut producer = db
        .transactional_producer_with("big", small_buffer())
        .expect("producer");
    let mut txn = producer.begin().expect("begin");
    for i in 0..100 {
        txn.send_to("out", 1, Record::keyed(format!("k{i}"), "x"))
            .expect("send");
    }
    txn.abort().expect("abort");
    let mut txn = producer.begin().expect("begin");
    txn.send_to("out", 1, Record::value("ok")).expect("send");
    txn.commit().expect("commit");
    assert_eq!(
        values(&db, "out", 1, Isolation::ReadCommitted),
        vec![b"ok".to_vec()]
    );
    assert!(values(&db, "out", 1, Isolation::ReadUncommitted).len() > 1);
    assert!(db.admin().check().expect("check").is_clean());
}

#[test]
fn a_new_instance_fences_the_old_one_and_aborts_its_open_transaction() {
    let (_dir, db) = open();
    let mut zombie = db
        .transactional_producer_with("worker", small_buffer())
        .expect("zombie");
    let zombie_epoch = zombie.producer_id_and_epoch().1;
    let mut txn = zombie.begin().expect("begin");
    for i in 0..50 {
        txn.send_to("out", 0, Record::value(format!("z{i}")))
            .expect("send");
    }
    let mut fresh = db.transactional_producer("worker").expect("fresh");
    assert_eq!(fresh.producer_id_and_epoch().1, zombie_epoch + 1);
    // The open transaction was aborted at once: nothing is held back.
    assert_eq!(
        db.last_stable_offset("out", 0).expect("lso"),
        db.end_offset("out", 0).expect("end")
    );
    txn.send_to("out", 0, Record::value("late"))
        .expect("buffered");
    let err = txn.commit().expect_err("fenced");
    assert!(matches!(err, Error::Fenced(_)), "{err}");
    assert!(matches!(zombie.begin().map(drop), Err(Error::Fenced(_))));
    let mut txn = fresh.begin().expect("begin");
    txn.send_to("out", 0, Record::value("fresh")).expect("send");
    txn.commit().expect("commit");
    assert_eq!(
        values(&db, "out", 0, Isolation::ReadCommitted),
        vec![b"fresh".to_vec()]
    );
    let listed = db.admin().transactions().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, TransactionState::CompleteCommit);
}

#[test]
fn a_timed_out_transaction_is_aborted_by_maintenance_and_its_producer_fenced() {
    let (_dir, db) = open();
    let options = TransactionOptions {
        timeout: Duration::from_millis(50),
        ..small_buffer()
    };
    let mut slow = db
        .transactional_producer_with("slow", options)
        .expect("slow");
    let mut txn = slow.begin().expect("begin");
    for i in 0..50 {
        txn.send_to("out", 0, Record::value(format!("s{i}")))
            .expect("send");
    }
    assert!(db.last_stable_offset("out", 0).expect("lso") < db.end_offset("out", 0).expect("end"));
    std::thread::sleep(Duration::from_millis(120));
    let report = db.admin().maintain().expect("maintain");
    assert_eq!(report.transactions_aborted, 1);
    assert_eq!(
        db.last_stable_offset("out", 0).expect("lso"),
        db.end_offset("out", 0).expect("end")
    );
    assert!(matches!(txn.commit(), Err(Error::Fenced(_))));
    assert!(values(&db, "out", 0, Isolation::ReadCommitted).is_empty());
}

#[test]
fn offsets_of_a_partition_the_member_does_not_own_fail_the_commit() {
    let (_dir, db) = open();
    let mut consumer = db
        .consumer("g", &["in"], brooklet::ConsumerOptions::default())
        .expect("consumer");
    let mut other = db
        .consumer("g", &["in"], brooklet::ConsumerOptions::default())
        .expect("second member");
    // The first member hands one partition over at its next poll.
    consumer.poll(Duration::from_millis(10)).expect("poll");
    other.poll(Duration::from_millis(10)).expect("poll");
    assert_eq!(consumer.assignment().len(), 1);
    let mut producer = db.transactional_producer("t").expect("producer");
    let mut txn = producer.begin().expect("begin");
    txn.send_to("out", 0, Record::value("x")).expect("send");
    let metadata = consumer.group_metadata();
    txn.send_offsets(
        &metadata,
        &[
            (TopicPartition::new("in", 0), 1),
            (TopicPartition::new("in", 1), 1),
        ],
    )
    .expect("offsets");
    let err = txn
        .commit()
        .expect_err("one partition is the other member's");
    assert!(matches!(err, Error::Fenced(_)), "{err}");
    assert_eq!(
        db.end_offset("out", 0).expect("end"),
        0,
        "nothing was stored"
    );
    // A member that is not in the group is refused too.
    let mut txn = producer.begin().expect("begin");
    let stranger = GroupMetadata {
        group: "g".into(),
        member_id: Some(12345),
    };
    txn.send_offsets(&stranger, &[(TopicPartition::new("in", 0), 1)])
        .expect("offsets");
    assert!(matches!(txn.commit(), Err(Error::Fenced(_))));
    // The producer itself is not fenced.
    let mut txn = producer.begin().expect("begin");
    txn.send_to("out", 0, Record::value("y")).expect("send");
    txn.commit().expect("commit");
}
