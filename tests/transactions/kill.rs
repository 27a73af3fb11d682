//! Exactly-once through SIGKILL. Two worker processes run a consume-transform-produce
//! loop: a group consumer reads topic `in` (`read_committed`), and each poll becomes one
//! transaction that sends the transformed records to `out` and commits the consumer's
//! positions with them (`send_offsets`). The parent kills a random worker with SIGKILL
//! many times, at seeded points of the progress (plus a short seeded delay, so kills land
//! inside transactions, stores ahead and commits), and restarts it under the same
//! transactional id (`worker-<slot>`), which fences its dead predecessor and aborts what it
//! left open. Once the group has committed every input record, each one must appear in
//! `out` exactly once for `read_committed` readers; `read_uncommitted` readers also see the
//! records of aborted transactions, counted as duplicates.
//!
//! The workers are this test binary run on `child_process` alone; the role comes in
//! `BROOKLET_TXK_ROLE` (without it, `child_process` does nothing).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use brooklet::{
    Brooklet, ConsumerOptions, Durability, Error, FetchLimits, Isolation, Options, Position,
    Record, TopicConfig, TopicPartition, TransactionOptions,
};

use crate::{read_values, say, spawn_child};

const ENV_ROLE: &str = "BROOKLET_TXK_ROLE";
const ENV_PATH: &str = "BROOKLET_TXK_PATH";
const ENV_STOP: &str = "BROOKLET_TXK_STOP";
const ENV_SLOT: &str = "BROOKLET_TXK_SLOT";

const IN: &str = "in";
const OUT: &str = "out";
const GROUP: &str = "xform";
const PARTITIONS: u32 = 2;
const RECORDS_PER_PARTITION: u64 = 10_000;
/// Records per input batch; a poll returns whole batches.
const INPUT_BATCH: u64 = 20;
/// What transforming one record costs, so that the run lasts through the kills.
const WORK: Duration = Duration::from_micros(100);
const WORKERS: usize = 2;
const KILLS: usize = 30;
const SEED: u64 = 0x6b11_1ed5;
/// Workers give up after this long, so no process outlives a failed parent for long.
const CHILD_DEADLINE: Duration = Duration::from_secs(120);
/// The longest the parent waits for the whole run.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for child processes"))
}

fn options() -> Options {
    // Other processes may hold the write lock through many fsyncs.
    Options::default().busy_timeout(Duration::from_secs(30))
}

fn input_value(partition: u32, offset: u64) -> String {
    format!("in-{partition}-{offset}")
}

fn output_value(partition: u32, offset: u64) -> String {
    format!("out-{partition}-{offset}")
}

/// Parses an output value: (input partition, input offset).
fn parse_output(value: &[u8]) -> (u32, u64) {
    let text = std::str::from_utf8(value).expect("UTF-8 value");
    let mut fields = text.split('-').skip(1);
    let partition = fields
        .next()
        .and_then(|f| f.parse().ok())
        .expect("partition");
    let offset = fields.next().and_then(|f| f.parse().ok()).expect("offset");
    (partition, offset)
}

// ---------------------------------------------------------------------------------------
// The worker
// ---------------------------------------------------------------------------------------

/// The entry point of the workers; a no-op in a normal test run.
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ENV_ROLE) else {
        return;
    };
    assert_eq!(role, "worker", "unknown role {role}");
    let db = Brooklet::open_existing(env(ENV_PATH), options()).expect("open");
    let slot: usize = env(ENV_SLOT).parse().expect("slot");
    work(&db, slot, Path::new(&env(ENV_STOP)));
}

/// Polls, and turns each poll into one transaction, until the stop file exists.
fn work(db: &Brooklet, slot: usize, stop: &Path) {
    // A store-ahead buffer smaller than a full poll: larger transactions store ahead.
    let transaction_options = TransactionOptions {
        buffer_bytes: 800,
        ..TransactionOptions::default()
    };
    let mut producer = db
        .transactional_producer_with(&format!("worker-{slot}"), transaction_options)
        .expect("transactional producer");
    let consumer_options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        session_timeout: Duration::from_secs(3),
        heartbeat_interval: Duration::from_millis(100),
        limits: FetchLimits {
            max_records: 40,
            ..FetchLimits::default()
        },
        isolation: Isolation::ReadCommitted,
        ..ConsumerOptions::default()
    };
    let mut consumer = db
        .consumer(GROUP, &[IN], consumer_options)
        .expect("join the group");
    say("READY");
    let started = Instant::now();
    while !stop.exists() {
        assert!(started.elapsed() < CHILD_DEADLINE, "worker: deadline");
        let records = consumer.poll(Duration::from_millis(50)).expect("poll");
        if records.is_empty() {
            continue;
        }
        let mut txn = producer.begin().expect("begin");
        let mut partitions: Vec<u32> = Vec::new();
        for consumed in &records {
            let (p, o) = (consumed.partition, consumed.record.offset);
            let expected = input_value(p, o);
            assert_eq!(
                consumed.record.value.as_deref(),
                Some(expected.as_bytes()),
                "worker: input {p}/{o}"
            );
            std::thread::sleep(WORK);
            txn.send_to(OUT, p, Record::value(output_value(p, o)))
                .expect("send");
            if !partitions.contains(&p) {
                partitions.push(p);
            }
        }
        let positions: Vec<(TopicPartition, u64)> = partitions
            .iter()
            .map(|&p| {
                let at = consumer.position(IN, p).expect("a position after a poll");
                (TopicPartition::new(IN, p), at)
            })
            .collect();
        txn.send_offsets(&consumer.group_metadata(), &positions)
            .expect("offsets");
        match txn.commit() {
            Ok(sent) => say(&format!("COMMITTED {}", sent.len())),
            Err(Error::Fenced(why)) => {
                if matches!(producer.begin().map(drop), Err(Error::Fenced(_))) {
                    panic!("worker {slot}: a newer instance of the id is running: {why}");
                }
                // A partition moved to another member: the transaction was aborted, so
                // read again from what the group committed.
                say("GROUP_FENCED");
                consumer.seek_all(Position::Committed).expect("seek");
            }
            Err(e) => panic!("worker {slot}: commit failed: {e}"),
        }
    }
    consumer.close().expect("close");
    say("CLOSED");
}

// ---------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------

/// What the workers printed, over all their lives.
#[derive(Debug, Default)]
struct Counts {
    starts: AtomicU64,
    transactions: AtomicU64,
    records: AtomicU64,
    group_fenced: AtomicU64,
}

/// One worker process and the thread reading its stdout.
struct Worker {
    child: Child,
    reader: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(slot: usize, path: &Path, stop: &Path, counts: &Arc<Counts>) -> Self {
        let slot_text = slot.to_string();
        let mut child = spawn_child(
            module_path!(),
            "child_process",
            &[
                (ENV_ROLE, "worker".as_ref()),
                (ENV_PATH, path.as_os_str()),
                (ENV_STOP, stop.as_os_str()),
                (ENV_SLOT, slot_text.as_ref()),
            ],
        );
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let counts = Arc::clone(counts);
        let reader = std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                let words: Vec<&str> = line.split_whitespace().collect();
                for (i, word) in words.iter().enumerate() {
                    match *word {
                        "READY" => counts.starts.fetch_add(1, Ordering::Relaxed),
                        "COMMITTED" => {
                            let n: u64 = words[i + 1].parse().expect("a count");
                            counts.records.fetch_add(n, Ordering::Relaxed);
                            counts.transactions.fetch_add(1, Ordering::Relaxed)
                        }
                        "GROUP_FENCED" => counts.group_fenced.fetch_add(1, Ordering::Relaxed),
                        _ => continue,
                    };
                }
            }
        });
        Self {
            child,
            reader: Some(reader),
        }
    }

    /// Panics if the worker exited by itself.
    fn check_running(&mut self, slot: usize) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("worker {slot} exited on its own: {status}");
        }
    }

    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait for the killed worker");
        assert!(!status.success(), "the worker was killed");
        self.join_reader();
    }

    fn join_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stdout reader");
        }
    }

    /// Waits for a worker told to stop; it must exit cleanly.
    fn finish(&mut self, slot: usize) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "worker {slot} did not stop"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        self.join_reader();
        assert!(status.success(), "worker {slot} failed: {status}");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The group's committed offset of each input partition.
fn committed(db: &Brooklet) -> Vec<u64> {
    let mut out = vec![0; PARTITIONS as usize];
    match db.admin().describe_group(GROUP) {
        Ok(d) => {
            for p in d.partitions.iter().filter(|p| p.topic == IN) {
                out[p.partition as usize] = p.committed.unwrap_or(0);
            }
        }
        Err(Error::UnknownGroup(_)) => {}
        Err(e) => panic!("describe_group: {e}"),
    }
    out
}

/// Fills the input in small batches (a poll returns whole batches), synced once.
fn fill_input(db: &Brooklet) {
    let producer = db.producer().with_durability(Durability::None);
    for p in 0..PARTITIONS {
        for chunk in 0..RECORDS_PER_PARTITION / INPUT_BATCH {
            let records = (chunk * INPUT_BATCH..(chunk + 1) * INPUT_BATCH)
                .map(|o| Record::value(input_value(p, o)))
                .collect();
            producer
                .send_batch_to(IN, p, records)
                .expect("fill the input");
        }
    }
    db.flush().expect("flush");
}

/// Counts each input record's appearances in `out` at `isolation`; checks none is
/// misplaced.
fn appearances(db: &Brooklet, isolation: Isolation) -> BTreeMap<(u32, u64), u32> {
    let mut seen = BTreeMap::new();
    for p in 0..PARTITIONS {
        for value in read_values(db, OUT, p, isolation).expect("read out") {
            let (from, offset) = parse_output(&value);
            assert_eq!(
                from, p,
                "input partition {from} went to output partition {p}"
            );
            *seen.entry((from, offset)).or_insert(0) += 1;
        }
    }
    seen
}

/// What the kills did.
struct Run {
    kills_per_slot: Vec<u32>,
    /// The group's progress (committed input records) right after each kill.
    kill_progress: Vec<u64>,
}

/// Runs the workers, kills one at each seeded point of the progress (after a short seeded
/// delay) and restarts it, until the group has committed every input record; then stops
/// them.
fn run_workers(
    db: &Brooklet,
    (path, stop): (&Path, &Path),
    counts: &Arc<Counts>,
    started: Instant,
) -> Run {
    let total = RECORDS_PER_PARTITION * u64::from(PARTITIONS);
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut thresholds: Vec<u64> = (0..KILLS)
        .map(|_| rng.u64(total / 50..total * 9 / 10))
        .collect();
    thresholds.sort_unstable();
    let mut workers: Vec<Worker> = (0..WORKERS)
        .map(|slot| Worker::spawn(slot, path, stop, counts))
        .collect();
    let mut kills_per_slot = vec![0u32; WORKERS];
    let mut kill_progress = Vec::new();
    let progress = || committed(db).iter().sum::<u64>();
    for threshold in thresholds {
        wait_running(&mut workers, started, || progress() >= threshold);
        std::thread::sleep(Duration::from_millis(rng.u64(0..40)));
        let slot = rng.usize(..WORKERS);
        workers[slot].kill();
        kills_per_slot[slot] += 1;
        kill_progress.push(progress());
        workers[slot] = Worker::spawn(slot, path, stop, counts);
    }
    let ends = vec![RECORDS_PER_PARTITION; PARTITIONS as usize];
    wait_running(&mut workers, started, || committed(db) == ends);
    std::fs::write(stop, "stop").expect("write the stop file");
    for (slot, w) in workers.iter_mut().enumerate() {
        w.finish(slot);
    }
    Run {
        kills_per_slot,
        kill_progress,
    }
}

/// Waits until `done`, checking that every worker still runs.
fn wait_running(workers: &mut [Worker], started: Instant, mut done: impl FnMut() -> bool) {
    loop {
        for (slot, w) in workers.iter_mut().enumerate() {
            w.check_running(slot);
        }
        if done() {
            return;
        }
        assert!(
            started.elapsed() < RUN_DEADLINE,
            "the workers did not get there in {RUN_DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Checks the output once every input record is committed: no transaction is left open,
/// and each input record is in `out` once for `read_committed` readers. Returns the
/// duplicates `read_uncommitted` readers see and the aborted transactions indexed.
fn check_output(db: &Brooklet) -> (u64, usize) {
    // Open transactions of the killed workers were aborted by their successors.
    db.admin().maintain().expect("maintain");
    for p in 0..PARTITIONS {
        assert_eq!(
            db.last_stable_offset(OUT, p).expect("lso"),
            db.end_offset(OUT, p).expect("end"),
            "out/{p}: no transaction is left open"
        );
    }
    let committed_view = appearances(db, Isolation::ReadCommitted);
    for p in 0..PARTITIONS {
        for o in 0..RECORDS_PER_PARTITION {
            let times = committed_view.get(&(p, o)).copied().unwrap_or(0);
            assert_eq!(times, 1, "input {p}/{o} appears {times} times in out");
        }
    }
    assert_eq!(
        committed_view.len() as u64,
        RECORDS_PER_PARTITION * u64::from(PARTITIONS)
    );
    let uncommitted_view = appearances(db, Isolation::ReadUncommitted);
    let duplicates: u64 = uncommitted_view.values().map(|&n| u64::from(n) - 1).sum();
    let aborted: usize = (0..PARTITIONS)
        .map(|p| {
            db.admin()
                .aborted_transactions(OUT, p)
                .expect("aborted")
                .len()
        })
        .sum();
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "check: {:?}", report.problems);
    (duplicates, aborted)
}

#[test]
fn exactly_once_through_sigkills_of_transactional_workers() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("k.brooklet");
    let stop = dir.path().join("stop");
    let db = Brooklet::open_with(&path, options()).expect("create");
    for topic in [IN, OUT] {
        db.admin()
            .create_topic(topic, PARTITIONS, TopicConfig::default())
            .expect("topic");
    }
    fill_input(&db);
    let total = RECORDS_PER_PARTITION * u64::from(PARTITIONS);
    let counts = Arc::new(Counts::default());
    let run = run_workers(&db, (&path, &stop), &counts, started);
    let (duplicates, aborted) = check_output(&db);
    println!(
        "kill: {total} input records over {PARTITIONS} partitions, {WORKERS} workers, {KILLS} \
         SIGKILLs (per slot {:?}, at progress {:?}); {} worker starts, {} transactions committed holding {} records, {} commits fenced by the \
         group; read_committed: every record once; read_uncommitted: {duplicates} duplicates; \
         {aborted} aborted transactions indexed",
        run.kills_per_slot,
        run.kill_progress,
        counts.starts.load(Ordering::Relaxed),
        counts.transactions.load(Ordering::Relaxed),
        counts.records.load(Ordering::Relaxed),
        counts.group_fenced.load(Ordering::Relaxed),
    );
}
