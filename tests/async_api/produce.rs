//! Async sends: a round trip, group commit of concurrent durable sends (counted by
//! `Brooklet::stats`), and what a dropped send future does.

use std::sync::Arc;
use std::time::Duration;

use brooklet::storage::{FileStorage, Storage};
use brooklet::{Brooklet, Durability, FetchLimits, Options, Record, TopicConfig, TopicPartition};

use crate::{open_with_topic, runtime};

#[test]
fn async_sends_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_with_topic(&dir, 3);
    runtime().block_on(async {
        let producer = db.async_producer();
        let one = producer
            .send("t", Record::keyed("k", "one"))
            .await
            .expect("send");
        let two = producer
            .send_to("t", 2, Record::value("two"))
            .await
            .expect("send_to");
        // Offsets follow on from the keyed record where it went to the same partition.
        let after_one = |p: u32| u64::from(one.partition == p);
        assert_eq!((two.partition, two.offset), (2, after_one(2)));
        let batch = producer
            .send_batch_to("t", 1, vec![Record::value("a"), Record::value("b")])
            .await
            .expect("send_batch_to");
        assert_eq!(
            batch
                .iter()
                .map(|m| (m.partition, m.offset))
                .collect::<Vec<_>>(),
            [(1, after_one(1)), (1, after_one(1) + 1)]
        );
        let routed = producer
            .send_batch_routed(
                "t",
                vec![
                    (Some(0), Record::value("r0")),
                    (None, Record::keyed("k", "r")),
                ],
            )
            .await
            .expect("send_batch_routed");
        // A keyed record goes to its key's partition, as the blocking send put "one".
        assert_eq!(routed[1].partition, one.partition);
        let many = producer
            .send_batch(
                "t",
                (0..10).map(|i| Record::value(format!("{i}"))).collect(),
            )
            .await
            .expect("send_batch");
        assert_eq!(many.len(), 10);
        producer.flush().await.expect("flush");
        let fetched = db
            .fetch("t", one.partition, one.offset, FetchLimits::default())
            .expect("fetch");
        assert_eq!(fetched.records[0].value.as_deref(), Some(&b"one"[..]));
        // Errors come back typed, as from the blocking send.
        match producer.send("nope", Record::value("x")).await {
            Err(brooklet::Error::UnknownTopic(name)) => assert_eq!(name, "nope"),
            other => panic!("expected UnknownTopic, got {other:?}"),
        }
    });
}

/// A file whose `fdatasync` takes a few milliseconds more, as a disk's does, so that
/// concurrent sends do queue behind a leader's sync.
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
fn concurrent_async_durable_sends_share_fdatasyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = FileStorage::open(&dir.path().join("group.brooklet")).expect("file");
    let db = Brooklet::open_storage(Arc::new(SlowSync(storage)), Options::default()).expect("open");
    db.admin()
        .create_topic("t", 4, TopicConfig::default())
        .expect("create");
    let sends = 64;
    let before = db.stats();
    let metas = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let producer = db
                .producer()
                .with_durability(Durability::Immediate)
                .into_async();
            let pending: Vec<_> = (0..sends)
                .map(|i| producer.send("t", Record::keyed(format!("k{i}"), format!("{i}"))))
                .collect();
            let mut metas = Vec::new();
            for send in pending {
                metas.push(send.await.expect("send"));
            }
            metas
        });
    let spent = db.stats().since(&before);
    eprintln!(
        "{sends} durable async sends: {} fdatasyncs",
        spent.fdatasyncs
    );
    let mut places: Vec<_> = metas.iter().map(|m| (m.partition, m.offset)).collect();
    places.sort_unstable();
    places.dedup();
    assert_eq!(places.len(), sends, "every send has its own offset");
    assert_eq!(spent.group_requests, sends as u64);
    assert_eq!(spent.commits_immediate, spent.group_commits);
    assert_eq!(spent.fdatasyncs, spent.group_commits, "{spent:?}");
    assert!(
        spent.fdatasyncs < sends as u64,
        "{} durable async sends took {} fdatasyncs: no group commit",
        sends,
        spent.fdatasyncs
    );
}

#[test]
fn a_dropped_send_future_still_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_with_topic(&dir, 1);
    runtime().block_on(async {
        let producer = db.async_producer();
        // The send starts when `send` is called; the future only reports its outcome.
        drop(producer.send("t", Record::value("dropped at once")));
        let polled_once = producer.send("t", Record::value("dropped after a poll"));
        drop(tokio::time::timeout(Duration::ZERO, polled_once).await);
        let position = [(TopicPartition::new("t", 0), 1)];
        assert!(
            db.wait_for_records_async(&position, Duration::from_secs(60))
                .await
                .expect("wait"),
            "both dropped sends are committed"
        );
        // A send that fails still fails alone, whether or not anyone awaits it.
        drop(producer.send("nope", Record::value("x")));
        let last = producer
            .send("t", Record::value("awaited"))
            .await
            .expect("send");
        assert_eq!(last.offset, 2);
    });
    let values: Vec<_> = db
        .fetch("t", 0, 0, FetchLimits::default())
        .expect("fetch")
        .records
        .into_iter()
        .map(|r| r.value.expect("a value"))
        .collect();
    let mut dropped = values[..2].to_vec();
    dropped.sort();
    assert_eq!(
        dropped,
        [
            b"dropped after a poll".to_vec(),
            b"dropped at once".to_vec()
        ]
    );
    assert_eq!(values[2], b"awaited");
}
