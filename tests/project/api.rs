//! The public API's contract as a caller sees it: typed errors to branch on, one
//! `Position` for every "where to read", `TopicPartition`, and the consumer's callbacks,
//! grouped polls and waiting subscriptions.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brooklet::{Brooklet, ConsumerOptions, Error, Position, Record, TopicConfig, TopicPartition};

fn open() -> (tempfile::TempDir, Brooklet) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("api.brooklet")).expect("open");
    (dir, db)
}

fn earliest() -> ConsumerOptions {
    ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        ..ConsumerOptions::default()
    }
}

#[test]
fn missing_and_existing_things_are_typed_errors() {
    let (_dir, db) = open();
    db.admin()
        .create_topic("t", 2, TopicConfig::default())
        .expect("create");
    match db.admin().create_topic("t", 1, TopicConfig::default()) {
        Err(Error::TopicExists(name)) => assert_eq!(name, "t"),
        other => panic!("expected TopicExists, got {other:?}"),
    }
    for result in [
        db.admin().describe_topic("nope").map(|_| ()),
        db.producer().send("nope", Record::value("x")).map(|_| ()),
        db.end_offset("nope", 0).map(|_| ()),
        db.admin().delete_topic("nope"),
    ] {
        match result {
            Err(Error::UnknownTopic(name)) => assert_eq!(name, "nope"),
            other => panic!("expected UnknownTopic, got {other:?}"),
        }
    }
    for result in [
        db.producer()
            .send_to("t", 2, Record::value("x"))
            .map(|_| ()),
        db.end_offset("t", 7).map(|_| ()),
        db.fetch("t", 2, 0, brooklet::FetchLimits::default())
            .map(|_| ()),
    ] {
        match result {
            Err(Error::UnknownPartition {
                topic, partitions, ..
            }) => {
                assert_eq!((topic.as_str(), partitions), ("t", 2));
            }
            other => panic!("expected UnknownPartition, got {other:?}"),
        }
    }
    let err = db
        .producer()
        .send_to("t", 2, Record::value("x"))
        .expect_err("partition 2");
    assert!(err.is_request_error());
    assert_eq!(
        err.to_string(),
        "topic \"t\" has 2 partitions; partition 2 does not exist"
    );
    for result in [
        db.admin().describe_group("g").map(|_| ()),
        db.admin().delete_group("g"),
        db.admin()
            .reset_group_offsets("g", Position::Beginning, None)
            .map(|_| ()),
    ] {
        match result {
            Err(Error::UnknownGroup(name)) => assert_eq!(name, "g"),
            other => panic!("expected UnknownGroup, got {other:?}"),
        }
    }
    let small = TopicConfig::from_pairs([("max.message.bytes", "1000")]).expect("config");
    db.admin().create_topic("small", 1, small).expect("create");
    match db.producer().send("small", Record::value(vec![7u8; 2000])) {
        Err(Error::RecordTooLarge { size, max, .. }) => {
            assert!(size > 2000, "{size}");
            assert_eq!(max, 1000);
        }
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    assert_eq!(db.end_offset("small", 0).expect("end"), 0, "nothing stored");
}

#[test]
fn one_position_type_serves_readers_consumers_and_group_resets() {
    let (_dir, db) = open();
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    let producer = db.producer();
    for i in 0..10i64 {
        let record = Record::value(format!("{i}")).with_timestamp(1_000 + i * 100);
        producer.send("t", record).expect("send");
    }
    let mut reader = db.reader();
    for (position, offset) in [
        (Position::Beginning, 0),
        (Position::End, 10),
        (Position::Offset(4), 4),
        (Position::Timestamp(1_450), 5),
        (Position::Timestamp(99_999), 10),
    ] {
        reader.assign("t", 0, position).expect("assign");
        assert_eq!(reader.position("t", 0), Some(offset), "{position}");
    }
    assert!(matches!(
        reader.assign("t", 0, Position::Committed),
        Err(Error::InvalidArgument(_))
    ));

    let mut consumer = db.consumer("g", &["t"], earliest()).expect("join");
    let polled = consumer.poll(Duration::from_secs(5)).expect("poll");
    assert_eq!(polled.len(), 10);
    consumer
        .commit_offsets([(TopicPartition::new("t", 0), 6)])
        .expect("commit");
    consumer.seek("t", 0, Position::Offset(2)).expect("seek");
    assert_eq!(consumer.position("t", 0), Some(2));
    consumer.seek("t", 0, Position::Committed).expect("seek");
    assert_eq!(
        consumer.position("t", 0),
        Some(6),
        "back to the committed offset"
    );
    consumer.seek_all(Position::Timestamp(1_250)).expect("seek");
    assert_eq!(consumer.position("t", 0), Some(3));
    consumer.close().expect("close");

    assert!(matches!(
        db.admin()
            .reset_group_offsets("g", Position::Committed, None),
        Err(Error::InvalidArgument(_))
    ));
    let reset = db
        .admin()
        .reset_group_offsets("g", Position::Offset(99), Some("t"))
        .expect("reset");
    assert_eq!(
        reset,
        vec![(TopicPartition::new("t", 0), 10)],
        "clamped to the end"
    );
    assert_eq!(reset[0].0.to_string(), "t/0");
    assert_eq!(TopicPartition::from(("t", 0)), reset[0].0);

    assert_eq!(
        "earliest".parse::<Position>().expect("parse"),
        Position::Beginning
    );
    assert_eq!(
        "committed".parse::<Position>().expect("parse"),
        Position::Committed
    );
    for position in [
        Position::Beginning,
        Position::End,
        Position::Offset(3),
        Position::Timestamp(5),
        Position::Committed,
    ] {
        assert_eq!(
            position
                .to_string()
                .parse::<Position>()
                .expect("round trip"),
            position
        );
    }
    let options = ConsumerOptions {
        auto_offset_reset: Some(Position::Committed),
        ..ConsumerOptions::default()
    };
    assert!(matches!(
        db.consumer("h", &["t"], options),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn poll_by_partition_groups_records_in_offset_order() {
    let (_dir, db) = open();
    db.admin()
        .create_topic("t", 3, TopicConfig::default())
        .expect("create");
    let producer = db.producer();
    for i in 0..30u32 {
        producer
            .send_to("t", i % 3, Record::value(format!("{i}")))
            .expect("send");
    }
    let mut consumer = db.consumer("g", &["t"], earliest()).expect("join");
    let mut seen = std::collections::BTreeMap::<TopicPartition, Vec<u64>>::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.values().map(Vec::len).sum::<usize>() < 30 && Instant::now() < deadline {
        for (tp, records) in consumer
            .poll_by_partition(Duration::from_millis(200))
            .expect("poll")
        {
            seen.entry(tp)
                .or_default()
                .extend(records.iter().map(|r| r.offset));
        }
    }
    assert_eq!(seen.len(), 3);
    for (tp, offsets) in &seen {
        assert_eq!(offsets, &(0..10).collect::<Vec<u64>>(), "{tp}");
    }
    let mut reader = db.reader();
    reader
        .assign_topic("t", Position::Beginning)
        .expect("assign");
    let grouped = reader
        .poll_by_partition(Duration::from_secs(1))
        .expect("poll");
    assert!(grouped.keys().all(|tp| tp.topic == "t"));
    for records in grouped.values() {
        assert!(records.windows(2).all(|w| w[0].offset < w[1].offset));
    }
}

#[test]
fn a_consumer_can_wait_for_a_topic_that_does_not_exist_yet() {
    let (_dir, db) = open();
    match db.consumer("g", &["later"], earliest()) {
        Err(Error::UnknownTopic(name)) => assert_eq!(name, "later"),
        other => panic!("expected UnknownTopic, got {other:?}"),
    }
    let options = ConsumerOptions {
        wait_for_topics: true,
        ..earliest()
    };
    let mut consumer = db.consumer("g", &["later"], options).expect("join");
    assert!(
        consumer
            .poll(Duration::from_millis(100))
            .expect("poll")
            .is_empty()
    );
    assert!(consumer.assignment().is_empty());
    db.admin()
        .create_topic("later", 2, TopicConfig::default())
        .expect("create");
    db.producer()
        .send_to("later", 1, Record::value("hello"))
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.is_empty() && Instant::now() < deadline {
        got = consumer.poll(Duration::from_millis(200)).expect("poll");
    }
    assert_eq!(got.len(), 1, "the member got the new topic's partitions");
    assert_eq!(consumer.assignment().len(), 2);
}

type Calls = Arc<Mutex<Vec<(&'static str, Vec<TopicPartition>)>>>;

fn recorder(calls: &Calls, what: &'static str) -> impl FnMut(&[TopicPartition]) + Send + 'static {
    let calls = Arc::clone(calls);
    move |tps| calls.lock().expect("lock").push((what, tps.to_vec()))
}

#[test]
fn close_revokes_and_an_expired_member_is_told_its_partitions_are_lost() {
    let (_dir, db) = open();
    db.admin()
        .create_topic("t", 2, TopicConfig::default())
        .expect("create");
    let calls: Calls = Arc::default();
    let consumer = db
        .consumer("g", &["t"], earliest())
        .expect("join")
        .on_revoked(recorder(&calls, "revoked"))
        .on_lost(recorder(&calls, "lost"));
    consumer.close().expect("close");
    let all = vec![TopicPartition::new("t", 0), TopicPartition::new("t", 1)];
    assert_eq!(*calls.lock().expect("lock"), vec![("revoked", all.clone())]);

    // A member that stops polling for longer than max_poll_interval is dropped by its own
    // heartbeat thread; its next poll finds the partitions gone: lost, not revoked.
    calls.lock().expect("lock").clear();
    let options = ConsumerOptions {
        max_poll_interval: Duration::from_millis(300),
        heartbeat_interval: Duration::from_millis(50),
        ..earliest()
    };
    let mut consumer = db
        .consumer("g", &["t"], options)
        .expect("join")
        .on_revoked(recorder(&calls, "revoked"))
        .on_lost(recorder(&calls, "lost"));
    assert_eq!(consumer.assignment(), all);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !db
        .admin()
        .describe_group("g")
        .expect("describe")
        .members
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the member never expired");
        std::thread::sleep(Duration::from_millis(50));
    }
    consumer.poll(Duration::from_millis(10)).expect("poll");
    assert_eq!(*calls.lock().expect("lock"), vec![("lost", all.clone())]);
    assert_eq!(consumer.assignment(), all, "it joined again");
    drop(consumer);
}
