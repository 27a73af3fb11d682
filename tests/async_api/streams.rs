//! Record streams and the async wait: a commit by another process wakes a stream; a
//! thousand idle streams share one watcher thread; a stream on a deleted topic ends with
//! the error; dropping a waiting stream stops the watcher; a consumer's stream commits and
//! keeps its membership while idle.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use brooklet::{
    Brooklet, ConsumedRecord, ConsumerOptions, Error, Isolation, Position, Record, TopicPartition,
    TransactionOptions,
};

use crate::{eventually, open_with_topic, runtime, test_name};

const ENV_ROLE: &str = "BROOKLET_ASYNC_ROLE";
const ENV_PATH: &str = "BROOKLET_ASYNC_PATH";

/// Runs this test binary again on `function` of this module alone, with `role` and
/// `path` in its environment, and checks that it passed.
fn run_child(function: &str, role: &str, path: &Path) {
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            &test_name(module_path!(), function),
            "--nocapture",
        ])
        .env(ENV_ROLE, role)
        .env(ENV_PATH, path)
        .output()
        .expect("run the child");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "child {role} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The entry point of the child processes; a no-op in a normal test run.
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ENV_ROLE) else {
        return;
    };
    let path = PathBuf::from(std::env::var(ENV_PATH).expect("a path"));
    match role.as_str() {
        "send" => {
            let db = Brooklet::open_existing(&path, brooklet::Options::default()).expect("open");
            let producer = db.producer();
            for i in 0..5 {
                producer
                    .send("t", Record::value(format!("from another process {i}")))
                    .expect("send");
            }
        }
        "idle-streams" => count_threads_of_idle_streams(&path),
        other => panic!("unknown role {other}"),
    }
}

fn values(batch: &[ConsumedRecord]) -> Vec<String> {
    batch
        .iter()
        .map(|r| String::from_utf8(r.record.value.clone().expect("a value")).expect("utf-8"))
        .collect()
}

#[test]
fn a_stream_sees_commits_of_another_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_with_topic(&dir, 1);
    let path = dir.path().join("async.brooklet");
    runtime().block_on(async {
        let mut reader = db.reader();
        reader.assign("t", 0, Position::End).expect("assign");
        let mut stream = reader.into_stream().expect("stream");
        let reading = tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < 5 {
                let batch = stream.next().await.expect("open").expect("batch");
                assert!(!batch.is_empty(), "a stream yields no empty batch");
                seen.extend(values(&batch));
            }
            seen
        });
        // This process commits nothing while the stream waits: only the watcher's reads
        // of the commit slots can wake it.
        let child = tokio::task::spawn_blocking(move || run_child("child_process", "send", &path));
        child.await.expect("child ran");
        let seen = tokio::time::timeout(Duration::from_secs(60), reading)
            .await
            .expect("the stream woke")
            .expect("reader task");
        let expected: Vec<String> = (0..5)
            .map(|i| format!("from another process {i}"))
            .collect();
        assert_eq!(seen, expected);
    });
}

/// Threads of this process, from `/proc/self/task`.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

#[test]
fn idle_streams_share_one_watcher() {
    if std::env::var(ENV_ROLE).is_ok() {
        return; // a child runs one test only
    }
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open_with_topic(&dir, 2));
    // Alone in a process of its own, so that no other test's threads are counted.
    run_child(
        "child_process",
        "idle-streams",
        &dir.path().join("async.brooklet"),
    );
}

/// The child's side of [`idle_streams_share_one_watcher`].
fn count_threads_of_idle_streams(path: &Path) {
    const STREAMS: usize = 1000;
    let db = Brooklet::open_existing(path, brooklet::Options::default()).expect("open");
    let runtime = runtime();
    let baseline = threads();
    assert_eq!(db.async_watchers(), 0);
    let woken = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..STREAMS)
        .map(|i| {
            let mut reader = db.reader();
            reader
                .assign("t", u32::try_from(i % 2).expect("small"), Position::End)
                .expect("assign");
            let mut stream = reader.into_stream().expect("stream");
            let woken = Arc::clone(&woken);
            runtime.spawn(async move {
                let batch = stream.next().await.expect("open").expect("batch");
                woken.fetch_add(1, Ordering::Relaxed);
                batch.len()
            })
        })
        .collect();
    // Let every stream make its first fetch and settle into its wait.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        db.async_watchers(),
        1,
        "one watcher for every stream of the handle"
    );
    assert_eq!(woken.load(Ordering::Relaxed), 0, "nothing was sent yet");
    let now = threads();
    eprintln!("{STREAMS} idle streams: {now} threads, {baseline} before");
    // The runtime's blocking pool holds at most 4 threads; the watcher is one more.
    assert!(
        now <= baseline + 5,
        "{STREAMS} idle streams run {now} threads, {baseline} before"
    );
    runtime.block_on(async {
        let producer = db.async_producer();
        producer
            .send_to("t", 0, Record::value("p0"))
            .await
            .expect("send");
        producer
            .send_to("t", 1, Record::value("p1"))
            .await
            .expect("send");
        for task in tasks {
            assert_eq!(task.await.expect("stream task"), 1);
        }
    });
    assert_eq!(woken.load(Ordering::Relaxed), STREAMS);
    eventually("the watcher stops once no stream is left", || {
        db.async_watchers() == 0
    });
}

#[test]
fn a_stream_on_a_deleted_topic_ends_with_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_with_topic(&dir, 1);
    runtime().block_on(async {
        let mut reader = db.reader();
        reader.assign("t", 0, Position::Beginning).expect("assign");
        let mut stream = reader.into_stream().expect("stream");
        let waiting = tokio::spawn(async move {
            let first = stream.next().await;
            let after = stream.next().await;
            (first, after.is_none())
        });
        let admin = db.clone();
        tokio::task::spawn_blocking(move || admin.admin().delete_topic("t"))
            .await
            .expect("task")
            .expect("delete");
        let (first, ended) = tokio::time::timeout(Duration::from_secs(60), waiting)
            .await
            .expect("the stream woke")
            .expect("task");
        match first {
            Some(Err(Error::UnknownTopic(name))) => assert_eq!(name, "t"),
            other => panic!("expected the UnknownTopic error, got {other:?}"),
        }
        assert!(ended, "after its error the stream ends");
    });
    eventually("the watcher stops once the stream is gone", || {
        db.async_watchers() == 0
    });
}

#[test]
fn dropping_a_waiting_stream_stops_the_watcher() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_with_topic(&dir, 1);
    runtime().block_on(async {
        let mut reader = db.reader();
        reader.assign("t", 0, Position::End).expect("assign");
        let mut stream = reader.into_stream().expect("stream");
        assert_eq!(db.async_watchers(), 1);
        // A `next` dropped mid-wait (the timeout's branch won) loses nothing...
        let waited = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        assert!(waited.is_err(), "nothing was sent");
        db.async_producer()
            .send("t", Record::value("after the timeout"))
            .await
            .expect("send");
        let batch = stream.next().await.expect("open").expect("batch");
        assert_eq!(values(&batch), ["after the timeout"]);
        // ...and a stream dropped while it waits leaves no waiter behind.
        let waited = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        assert!(waited.is_err(), "nothing more was sent");
        drop(stream);
        // So does an async wait dropped mid-wait.
        let position = [(TopicPartition::new("t", 0), 1)];
        let waited = tokio::time::timeout(
            Duration::from_millis(50),
            db.wait_for_records_async(&position, Duration::from_secs(60)),
        )
        .await;
        assert!(waited.is_err(), "nothing more was sent");
    });
    eventually("the watcher stops once no waiter is left", || {
        db.async_watchers() == 0
    });
    // A new stream starts a new watcher.
    runtime().block_on(async {
        let stream = db.reader().into_stream().expect("stream");
        assert_eq!(db.async_watchers(), 1);
        drop(stream);
    });
    eventually("the new watcher stops too", || db.async_watchers() == 0);
}

#[test]
fn async_wait_for_records_times_out_or_sees_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_with_topic(&dir, 2);
    runtime().block_on(async {
        let positions = [
            (TopicPartition::new("t", 0), 0),
            (TopicPartition::new("t", 1), 0),
        ];
        let empty = db
            .wait_for_records_async(&positions, Duration::from_millis(20))
            .await
            .expect("wait");
        assert!(!empty, "no records yet");
        let waiting = {
            let db = db.clone();
            let positions = positions.clone();
            tokio::spawn(async move {
                db.wait_for_records_async(&positions, Duration::from_secs(60))
                    .await
            })
        };
        db.async_producer()
            .send_to("t", 1, Record::value("x"))
            .await
            .expect("send");
        assert!(waiting.await.expect("task").expect("wait"));
        // Past the records there are none again.
        let past = [(TopicPartition::new("t", 1), 1)];
        assert!(
            !db.wait_for_records_async(&past, Duration::ZERO)
                .await
                .expect("wait")
        );
    });
}

#[test]
fn a_consumer_stream_reads_commits_and_stays_in_its_group_while_idle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_with_topic(&dir, 2);
    let lost = Arc::new(AtomicUsize::new(0));
    let options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        heartbeat_interval: Duration::from_millis(50),
        session_timeout: Duration::from_secs(2),
        max_poll_interval: Duration::from_secs(2),
        ..ConsumerOptions::default()
    };
    let counted = Arc::clone(&lost);
    let consumer = db
        .consumer("g", &["t"], options)
        .expect("consumer")
        .on_lost(move |_| {
            counted.fetch_add(1, Ordering::Relaxed);
        });
    runtime().block_on(async {
        let mut stream = consumer.into_stream().expect("stream");
        let producer = db.async_producer();
        producer
            .send_to("t", 0, Record::value("one"))
            .await
            .expect("send");
        let batch = stream.next().await.expect("open").expect("batch");
        assert_eq!(values(&batch), ["one"]);
        stream.commit().await.expect("commit");
        let group = db.admin().describe_group("g").expect("describe");
        assert_eq!(group.partitions[0].committed, Some(1));
        // Idle for longer than max_poll_interval: the stream's own syncs keep the member.
        let idle = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(idle.is_err(), "nothing was sent");
        assert_eq!(
            lost.load(Ordering::Relaxed),
            0,
            "the idle member kept its partitions"
        );
        let mut owned = stream.assignment().await.expect("assignment");
        owned.sort();
        assert_eq!(
            owned,
            [TopicPartition::new("t", 0), TopicPartition::new("t", 1)]
        );
        producer
            .send_to("t", 1, Record::value("two"))
            .await
            .expect("send");
        let batch = stream.next().await.expect("open").expect("batch");
        assert_eq!(values(&batch), ["two"]);
        // Dropped on a runtime worker: the consumer leaves from the blocking pool.
        drop(stream);
    });
    eventually("the member left its group", || {
        db.admin()
            .describe_group("g")
            .is_ok_and(|g| g.members.is_empty())
    });
}

#[test]
fn a_stream_sees_a_transaction_once_it_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_with_topic(&dir, 1);
    runtime().block_on(async {
        let mut reader = db.reader();
        reader.assign("t", 0, Position::Beginning).expect("assign");
        let mut stream = reader.into_stream().expect("stream");
        let writer = db.clone();
        tokio::task::spawn_blocking(move || {
            let mut producer = writer.transactional_producer("tx").expect("producer");
            let mut txn = producer.begin().expect("begin");
            txn.send("t", Record::value("in a transaction 0"))
                .expect("send");
            txn.send("t", Record::value("in a transaction 1"))
                .expect("send");
            txn.commit().expect("commit");
        })
        .await
        .expect("writer");
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let batch = tokio::time::timeout(Duration::from_secs(60), stream.next())
                .await
                .expect("the stream woke")
                .expect("open")
                .expect("batch");
            seen.extend(values(&batch));
        }
        assert_eq!(seen, ["in a transaction 0", "in a transaction 1"]);
    });
}

#[test]
fn the_async_wait_counts_an_open_transaction_only_when_reading_uncommitted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_with_topic(&dir, 1);
    let options = TransactionOptions {
        buffer_bytes: 1, // every record is stored ahead of the commit
        ..TransactionOptions::default()
    };
    let mut producer = db
        .transactional_producer_with("tx", options)
        .expect("producer");
    let mut txn = producer.begin().expect("begin");
    txn.send("t", Record::value("open")).expect("send");
    let start = [(TopicPartition::new("t", 0), 0)];
    runtime().block_on(async {
        let uncommitted = db
            .wait_for_records_async_with(
                &start,
                Duration::from_secs(60),
                Isolation::ReadUncommitted,
            )
            .await
            .expect("wait");
        assert!(uncommitted, "the open transaction's record is stored");
        let committed = db
            .wait_for_records_async(&start, Duration::from_millis(20))
            .await
            .expect("wait");
        assert!(!committed, "nothing is committed yet");
    });
    txn.commit().expect("commit");
    runtime().block_on(async {
        let committed = db
            .wait_for_records_async(&start, Duration::ZERO)
            .await
            .expect("wait");
        assert!(committed, "the transaction committed");
    });
}
