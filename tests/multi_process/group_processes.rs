//! Consumer groups across OS processes: members of one group in different processes share
//! a topic's partitions, a member killed with SIGKILL loses its partitions after the
//! session timeout, and the group delivers every record at least once.
//!
//! The child processes are this test binary run again on its `child_process` test alone
//! (`--exact`, with the name [`crate::test_name`] gives); the role comes in
//! `BROOKLET_GMP_ROLE` (without it, `child_process` does nothing). Each child is one
//! consumer and prints one line per event on stdout (flushed at once, so a killed child
//! leaves every line it printed before the kill):
//!
//! - `ASSIGNED p...`: partitions it now owns (the assignment at join, then `on_assigned`);
//! - `REVOKED p...`: partitions it hands over (`on_revoked`);
//! - `GOT p o`: it handled the record at offset `o` of partition `p`;
//! - `COMMIT p o`: its commit of offset `o` (the next offset to read) for `p` succeeded;
//! - `FENCED p...`: its commit for these partitions was rejected;
//! - `BAD p o`: the record held something else than the producer sent;
//! - `CLOSED`: it saw the stop file and left the group.
//!
//! What the protocol guarantees, and what the parent checks:
//!
//! - at least once, nothing skipped: every produced offset is handled by some process;
//! - order: within one ownership stint (from `ASSIGNED` to `REVOKED` or the next
//!   `ASSIGNED`), a process handles a partition's offsets one after the other;
//! - committed offsets never go back, as each process saw them and as the parent saw them
//!   in `describe_group` throughout the run;
//! - duplicates only after the killed member's last commit: a handling is *covered* once its
//!   process committed past it. The next owner starts at the committed offset, so a record
//!   has at most one covered handling, and every other handling of it was never covered:
//!   it was made by the killed process, in its last stint on the partition, at or after
//!   the last commit it printed there (a commit that succeeded but whose line the kill cut
//!   off only narrows that range), or by a process whose commit was fenced. A graceful
//!   hand-over adds no duplicate here, since every member commits each batch before it
//!   polls again, and a partition moves only when its owner polls.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use brooklet::{
    Assignor, Brooklet, ConsumedRecord, Consumer, ConsumerOptions, Error, FetchLimits,
    GroupDescription, OnHandlerError, Options, Position, Record, TopicConfig, TopicPartition,
};

const ENV_ROLE: &str = "BROOKLET_GMP_ROLE";
const ENV_PATH: &str = "BROOKLET_GMP_PATH";
const ENV_STOP: &str = "BROOKLET_GMP_STOP";

const TOPIC: &str = "jobs";
const GROUP: &str = "workers";
const PARTITIONS: u32 = 6;
/// Children give up after this long, so that no process outlives a failed parent for long.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);
/// The longest the parent waits for any one step.
const STEP_DEADLINE: Duration = Duration::from_secs(30);
/// What handling one record costs, so that a kill often lands inside a batch.
const WORK: Duration = Duration::from_micros(300);
/// The consumer process the first test kills.
const VICTIM: usize = 1;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for child processes"))
}

fn options() -> Options {
    // Other processes may hold the write lock through many fsyncs.
    Options::default().busy_timeout(Duration::from_secs(30))
}

/// The value of the record at `offset` of `partition` (one producer: offsets are known).
fn value_for(partition: u32, offset: u64) -> String {
    format!("job {partition}-{offset}")
}

/// Sends `count` records to each partition, continuing from `ends`.
fn send_each(db: &Brooklet, ends: &mut [u64], count: u64) {
    for (p, end) in (0..PARTITIONS).zip(ends.iter_mut()) {
        send_to(db, p, end, count);
    }
}

fn send_to(db: &Brooklet, partition: u32, end: &mut u64, count: u64) {
    let records = (*end..*end + count)
        .map(|o| Record::value(value_for(partition, o)))
        .collect();
    let sent = db
        .producer()
        .send_batch_to(TOPIC, partition, records)
        .expect("send");
    assert_eq!(sent[0].offset, *end, "the only producer knows its offsets");
    *end += count;
}

// ---------------------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------------------

/// Prints one line and flushes it, so that a kill cannot keep it in a buffer.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("write stdout");
    out.flush().expect("flush stdout");
}

fn list(partitions: impl IntoIterator<Item = u32>) -> String {
    partitions
        .into_iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The entry point of every child process; a no-op in a normal test run.
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ENV_ROLE) else {
        return;
    };
    let db = Brooklet::open_existing(env(ENV_PATH), options()).expect("open");
    let stop = PathBuf::from(env(ENV_STOP));
    match role.as_str() {
        "poller" => poll_and_commit(&db, &stop),
        "runner" => run_handler(&db, &stop),
        other => panic!("unknown role {other}"),
    }
}

fn join(db: &Brooklet, assignor: Assignor) -> Consumer {
    let consumer_options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        session_timeout: Duration::from_millis(1500),
        heartbeat_interval: Duration::from_millis(100),
        assignor,
        limits: FetchLimits {
            max_records: 25,
            ..FetchLimits::default()
        },
        ..ConsumerOptions::default()
    };
    let consumer = db
        .consumer(GROUP, &[TOPIC], consumer_options)
        .expect("join the group")
        .on_assigned(|tps| {
            say(&format!(
                "ASSIGNED {}",
                list(tps.iter().map(|tp| tp.partition))
            ));
        })
        .on_revoked(|tps| {
            say(&format!(
                "REVOKED {}",
                list(tps.iter().map(|tp| tp.partition))
            ));
        });
    // `on_assigned` is set after joining, so the first assignment is printed here.
    say(&format!(
        "ASSIGNED {}",
        list(consumer.assignment().iter().map(|tp| tp.partition))
    ));
    consumer
}

fn handle(consumed: &ConsumedRecord) {
    let (partition, offset) = (consumed.partition, consumed.record.offset);
    if consumed.record.value.as_deref() != Some(value_for(partition, offset).as_bytes()) {
        say(&format!("BAD {partition} {offset}"));
    }
    std::thread::sleep(WORK);
    say(&format!("GOT {partition} {offset}"));
}

/// `poll`, handle the batch, commit exactly what was handled; until the stop file exists.
fn poll_and_commit(db: &Brooklet, stop: &Path) {
    let mut consumer = join(db, Assignor::Sticky);
    let started = Instant::now();
    while !stop.exists() {
        assert!(started.elapsed() < CHILD_DEADLINE, "poller: deadline");
        let records = consumer.poll(Duration::from_millis(100)).expect("poll");
        let mut next: BTreeMap<u32, u64> = BTreeMap::new();
        for consumed in &records {
            handle(consumed);
            let at = next.entry(consumed.partition).or_default();
            *at = (*at).max(consumed.record.offset + 1);
        }
        if next.is_empty() {
            continue;
        }
        let offsets = next
            .iter()
            .map(|(p, o)| (TopicPartition::new(TOPIC, *p), *o));
        match consumer.commit_offsets(offsets) {
            Ok(()) => {
                for (p, o) in &next {
                    say(&format!("COMMIT {p} {o}"));
                }
            }
            Err(Error::Fenced(_)) => say(&format!("FENCED {}", list(next.keys().copied()))),
            Err(e) => panic!("commit failed: {e}"),
        }
    }
    consumer.close().expect("close");
    say("CLOSED");
}

/// `Consumer::run` with an idle timeout, again and again until the stop file exists.
fn run_handler(db: &Brooklet, stop: &Path) {
    let mut consumer = join(db, Assignor::Range);
    let started = Instant::now();
    while !stop.exists() {
        assert!(started.elapsed() < CHILD_DEADLINE, "runner: deadline");
        consumer
            .run(
                Some(Duration::from_millis(200)),
                OnHandlerError::Stop,
                |consumed| {
                    handle(consumed);
                    Ok::<(), std::convert::Infallible>(())
                },
            )
            .expect("run");
    }
    consumer.close().expect("close");
    say("CLOSED");
}

// ---------------------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------------------

const TAGS: [&str; 7] = [
    "ASSIGNED", "REVOKED", "GOT", "COMMIT", "FENCED", "BAD", "CLOSED",
];

/// One consumer process, its output collected as it arrives.
struct Proc {
    name: String,
    child: Child,
    pid: u32,
    killed: bool,
    exited: bool,
    /// Whole lines that start with a tag (the test harness may print its own words first).
    lines: Arc<Mutex<Vec<String>>>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
}

impl Proc {
    fn spawn(name: &str, role: &str, path: &Path, stop: &Path) -> Self {
        let exe = std::env::current_exe().expect("test binary path");
        let mut child = Command::new(exe)
            .args([
                "--exact",
                crate::test_name(module_path!(), "child_process").as_str(),
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_ROLE, role)
            .env(ENV_PATH, path)
            .env(ENV_STOP, stop)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn a child process");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut out = BufReader::new(child.stdout.take().expect("stdout piped"));
        let sink = Arc::clone(&lines);
        let stdout = std::thread::spawn(move || {
            loop {
                let mut line = String::new();
                match out.read_line(&mut line) {
                    // A line cut by a kill has no newline; everything before it is whole.
                    Ok(0) | Err(_) => return,
                    Ok(_) if !line.ends_with('\n') => return,
                    Ok(_) => {}
                }
                let words: Vec<&str> = line.split_whitespace().collect();
                if let Some(at) = words.iter().position(|w| TAGS.contains(w)) {
                    sink.lock().expect("lines").push(words[at..].join(" "));
                }
            }
        });
        let mut err = child.stderr.take().expect("stderr piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Self {
            name: name.to_owned(),
            pid: child.id(),
            child,
            killed: false,
            exited: false,
            lines,
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    fn count(&self, tag: &str) -> usize {
        let lines = self.lines.lock().expect("lines");
        lines
            .iter()
            .filter(|l| l.split(' ').next() == Some(tag))
            .count()
    }

    /// Panics with the child's stderr if it exited while it should still run.
    fn check_running(&mut self) {
        if self.killed || self.exited {
            return;
        }
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            self.exited = true;
            let stderr = self.stderr_text();
            panic!("{} exited early ({status}):\n{stderr}", self.name);
        }
    }

    fn stderr_text(&mut self) -> String {
        self.stderr
            .take()
            .map(|t| t.join().expect("stderr thread"))
            .unwrap_or_default()
    }

    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait for the killed child");
        assert!(!status.success(), "{} was killed", self.name);
        self.killed = true;
        self.join_output();
    }

    fn join_output(&mut self) {
        if let Some(t) = self.stdout.take() {
            t.join().expect("stdout thread");
        }
    }

    /// Waits for a child told to stop; it must exit cleanly.
    fn finish(&mut self) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                started.elapsed() < STEP_DEADLINE,
                "{} did not stop",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        self.exited = true;
        self.join_output();
        let stderr = self.stderr_text();
        assert!(
            status.success(),
            "{} failed ({status}):\n{stderr}",
            self.name
        );
        assert_eq!(self.count("CLOSED"), 1, "{} closed its consumer", self.name);
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.killed && !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `done` until it holds, failing if it takes too long or a child dies.
fn wait_until(
    procs: &mut [Proc],
    what: &str,
    mut done: impl FnMut(&[Proc]) -> bool,
    mut explain: impl FnMut(&[Proc]) -> String,
) {
    let started = Instant::now();
    loop {
        if done(procs) {
            return;
        }
        for p in procs.iter_mut() {
            p.check_running();
        }
        assert!(
            started.elapsed() < STEP_DEADLINE,
            "timed out waiting until {what}: {}",
            explain(procs)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn describe(db: &Brooklet) -> Option<GroupDescription> {
    match db.admin().describe_group(GROUP) {
        Ok(d) => Some(d),
        Err(Error::UnknownGroup(_)) => None,
        Err(e) => panic!("describe_group: {e}"),
    }
}

fn member_of(d: &GroupDescription, pid: u32) -> Option<String> {
    d.members
        .iter()
        .find(|m| m.pid == pid)
        .map(|m| m.id.clone())
}

/// True once the group has committed every partition to `ends` (lag 0).
fn caught_up(d: &GroupDescription, ends: &[u64]) -> bool {
    d.partitions.len() == ends.len()
        && d.partitions
            .iter()
            .all(|p| p.lag == 0 && p.committed == Some(ends[p.partition as usize]))
}

/// What the parent saw of the group while the consumers ran.
#[derive(Debug, Default)]
struct Watch {
    samples: u64,
    max_generation: u64,
    max_members: usize,
    /// (partition, committed before, committed after) for every committed offset that went
    /// back between two samples.
    went_back: Vec<(u32, u64, u64)>,
    /// Owners that were not members of the group.
    strangers: Vec<String>,
}

/// Samples `describe_group` until `stop` is set.
fn watch(db: Brooklet, stop: Arc<AtomicBool>) -> JoinHandle<Watch> {
    std::thread::spawn(move || {
        let mut w = Watch::default();
        let mut committed: BTreeMap<u32, u64> = BTreeMap::new();
        while !stop.load(Ordering::SeqCst) {
            if let Some(d) = describe(&db) {
                w.samples += 1;
                w.max_generation = w.max_generation.max(d.generation);
                w.max_members = w.max_members.max(d.members.len());
                for p in &d.partitions {
                    if let Some(c) = p.committed {
                        let before = committed.entry(p.partition).or_default();
                        if c < *before {
                            w.went_back.push((p.partition, *before, c));
                        }
                        *before = (*before).max(c);
                    }
                    if let Some(owner) = &p.owner
                        && !d.members.iter().any(|m| &m.id == owner)
                    {
                        w.strangers.push(owner.clone());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(15));
        }
        w
    })
}

/// Sends small batches to random partitions until `stop` is set; returns the end offsets.
fn keep_producing(db: Brooklet, stop: Arc<AtomicBool>, mut ends: Vec<u64>) -> JoinHandle<Vec<u64>> {
    std::thread::spawn(move || {
        let mut rng = fastrand::Rng::with_seed(4);
        while !stop.load(Ordering::SeqCst) {
            let p = rng.u32(0..PARTITIONS);
            send_to(&db, p, &mut ends[p as usize], rng.u64(1..=8));
            std::thread::sleep(Duration::from_millis(3));
        }
        ends
    })
}

fn new_file(dir: &Path, per_partition: u64) -> (Brooklet, PathBuf, Vec<u64>) {
    let path = dir.join("group.brooklet");
    let db = Brooklet::open_with(&path, options()).expect("create the file");
    db.admin()
        .create_topic(TOPIC, PARTITIONS, TopicConfig::default())
        .expect("create topic");
    let mut ends = vec![0; PARTITIONS as usize];
    send_each(&db, &mut ends, per_partition);
    (db, path, ends)
}

/// The end state: no member left, every partition committed to its end, a clean file.
fn check_end_state(db: &Brooklet, ends: &[u64]) {
    let d = describe(db).expect("the group exists");
    assert!(d.members.is_empty(), "members left: {:?}", d.members);
    assert!(caught_up(&d, ends), "committed vs ends {ends:?}: {d:?}");
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "check: {:?}", report.problems);
}

// ---------------------------------------------------------------------------------------
// Checking what the children printed
// ---------------------------------------------------------------------------------------

/// One handling of a record.
#[derive(Clone, Copy, Debug)]
struct Handling {
    process: usize,
    stint: usize,
    covered: bool,
}

/// What one process printed, checked line by line.
#[derive(Debug, Default)]
struct Parsed {
    /// (partition, offset) -> handlings by this process, in order.
    handled: BTreeMap<(u32, u64), Vec<Handling>>,
    /// The last commit per partition.
    last_commit: BTreeMap<u32, u64>,
    /// The stint number of each partition's latest stint.
    last_stint: BTreeMap<u32, usize>,
    fenced: BTreeSet<u32>,
    commits: usize,
    /// Assignments of a partition the process already held: it had expired and rejoined.
    rejoins: usize,
    /// Revocations of a partition the process did not hold.
    phantom_revokes: usize,
}

fn fields(line: &str) -> (String, Vec<u64>) {
    let mut words = line.split(' ');
    let tag = words.next().expect("a tag").to_owned();
    let numbers = words
        .map(|w| w.parse().unwrap_or_else(|_| panic!("bad line {line:?}")))
        .collect();
    (tag, numbers)
}

/// Checks one process's lines: it handles only partitions it owns, one offset after the
/// other within a stint, and its commits rise.
fn parse(name: &str, process: usize, lines: &[String]) -> Parsed {
    let mut out = Parsed::default();
    let mut owned: BTreeSet<u32> = BTreeSet::new();
    let mut last_got: BTreeMap<u32, u64> = BTreeMap::new();
    let mut stints = 0usize;
    for line in lines {
        let (tag, n) = fields(line);
        match tag.as_str() {
            "ASSIGNED" => {
                for p in n {
                    let p = u32::try_from(p).expect("partition");
                    out.rejoins += usize::from(!owned.insert(p));
                    stints += 1;
                    out.last_stint.insert(p, stints);
                    last_got.remove(&p);
                }
            }
            "REVOKED" => {
                for p in n {
                    let p = u32::try_from(p).expect("partition");
                    // `on_revoked` may name a partition the member was never given (a
                    // pending hand-over that moved on before its first poll; see
                    // tests/groups/rebalance_callbacks.rs); it handled nothing of it.
                    out.phantom_revokes += usize::from(!owned.remove(&p));
                    last_got.remove(&p);
                }
            }
            "GOT" => {
                let (p, o) = (u32::try_from(n[0]).expect("partition"), n[1]);
                assert!(owned.contains(&p), "{name}: handled {p}/{o}, not owned");
                if let Some(prev) = last_got.insert(p, o) {
                    assert_eq!(o, prev + 1, "{name}: {p}/{o} after {p}/{prev} in one stint");
                }
                out.handled.entry((p, o)).or_default().push(Handling {
                    process,
                    stint: out.last_stint[&p],
                    covered: false,
                });
            }
            "COMMIT" => {
                let (p, c) = (u32::try_from(n[0]).expect("partition"), n[1]);
                assert!(owned.contains(&p), "{name}: committed {p}, not owned");
                assert_eq!(last_got.get(&p), Some(&(c - 1)), "{name}: commit {p} {c}");
                if let Some(prev) = out.last_commit.insert(p, c) {
                    assert!(prev < c, "{name}: commit of {p} went from {prev} to {c}");
                }
                for ((_, _), hs) in out.handled.range_mut((p, 0)..(p, c)) {
                    for h in hs {
                        h.covered = true;
                    }
                }
                out.commits += 1;
            }
            "FENCED" => out
                .fenced
                .extend(n.iter().map(|p| u32::try_from(*p).expect("partition"))),
            "BAD" => panic!("{name}: wrong record at {line}"),
            "CLOSED" => {}
            other => panic!("{name}: unknown line {other}"),
        }
    }
    out
}

/// Totals over the whole run.
#[derive(Debug, Default)]
struct Delivery {
    handled: usize,
    duplicates: usize,
    fenced: usize,
    rejoins: usize,
    phantom_revokes: usize,
}

/// Checks the delivery guarantees over every process's output (see the module docs).
fn check_delivery(
    names: &[String],
    outputs: &[Vec<String>],
    killed: usize,
    ends: &[u64],
) -> Delivery {
    let parsed: Vec<Parsed> = outputs
        .iter()
        .enumerate()
        .map(|(i, lines)| parse(&names[i], i, lines))
        .collect();
    let mut all: BTreeMap<(u32, u64), Vec<Handling>> = BTreeMap::new();
    for p in &parsed {
        for (at, hs) in &p.handled {
            all.entry(*at).or_default().extend(hs.iter().copied());
        }
    }
    let mut totals = Delivery {
        handled: all.values().map(Vec::len).sum(),
        fenced: parsed.iter().map(|p| p.fenced.len()).sum(),
        rejoins: parsed.iter().map(|p| p.rejoins).sum(),
        phantom_revokes: parsed.iter().map(|p| p.phantom_revokes).sum(),
        ..Delivery::default()
    };
    for (p, end) in (0..PARTITIONS).zip(ends) {
        let offsets: Vec<u64> = all.range((p, 0)..(p + 1, 0)).map(|(at, _)| at.1).collect();
        assert!(
            offsets.iter().copied().eq(0..*end),
            "partition {p}: handled {} distinct offsets of {end} (none may be skipped)",
            offsets.len()
        );
    }
    for ((p, o), hs) in &all {
        let covered = hs.iter().filter(|h| h.covered).count();
        assert!(covered <= 1, "{p}/{o} handled and committed twice: {hs:?}");
        for h in hs.iter().filter(|h| !h.covered) {
            let by = &parsed[h.process];
            let explained = if h.process == killed {
                // The killed process's uncommitted tail: its last stint on the partition,
                // at or after the last commit it printed there.
                by.last_stint.get(p) == Some(&h.stint)
                    && by.last_commit.get(p).is_none_or(|c| o >= c)
            } else {
                by.fenced.contains(p)
            };
            assert!(
                explained,
                "{p}/{o}: {} handled it and never committed it: {hs:?}",
                names[h.process]
            );
        }
        totals.duplicates += hs.len() - 1;
    }
    let victim = &parsed[killed];
    assert!(
        !victim.handled.is_empty() && victim.commits > 0,
        "the killed process worked before the kill"
    );
    totals
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// Three consumer processes share a 6-partition topic while a producer keeps adding; one
/// is killed with SIGKILL mid-stream and a new one joins. Every record is handled at least
/// once, none is skipped, order holds within each ownership stint, committed offsets never
/// go back, and duplicates are only records after the killed member's last commit.
#[test]
fn three_processes_share_a_topic_through_a_kill_and_a_join() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, path, ends) = new_file(dir.path(), 150);
    let stop_file = dir.path().join("stop");
    let stop_producing = Arc::new(AtomicBool::new(false));
    let producer = keep_producing(db.clone(), Arc::clone(&stop_producing), ends);
    let stop_watching = Arc::new(AtomicBool::new(false));
    let watcher = watch(db.clone(), Arc::clone(&stop_watching));

    let mut procs: Vec<Proc> = (0..3)
        .map(|i| Proc::spawn(&format!("consumer {i}"), "poller", &path, &stop_file))
        .collect();
    wait_until(
        &mut procs,
        "three members work and the victim committed a few batches",
        |procs| {
            procs.iter().all(|p| p.count("COMMIT") >= 2)
                && procs[VICTIM].count("GOT") >= 150
                && procs[VICTIM].count("COMMIT") >= 4
        },
        |procs| {
            format!(
                "{:?}",
                procs.iter().map(|p| p.count("GOT")).collect::<Vec<_>>()
            )
        },
    );
    procs[VICTIM].kill();
    let victim_pid = procs[VICTIM].pid;
    let victim_handled = procs[VICTIM].count("GOT");
    procs.push(Proc::spawn(
        "consumer 3 (joined)",
        "poller",
        &path,
        &stop_file,
    ));
    wait_until(
        &mut procs,
        "the victim expired and the newcomer works",
        |procs| {
            describe(&db).is_some_and(|d| member_of(&d, victim_pid).is_none())
                && procs[3].count("COMMIT") >= 10
                && procs[3].count("GOT") >= 200
        },
        |_| format!("{:?}", describe(&db)),
    );
    stop_producing.store(true, Ordering::SeqCst);
    let ends = producer.join().expect("producer");
    wait_until(
        &mut procs,
        "the group caught up (lag 0)",
        |_| describe(&db).is_some_and(|d| caught_up(&d, &ends)),
        |_| format!("ends {ends:?}: {:?}", describe(&db)),
    );
    std::fs::write(&stop_file, "stop").expect("write the stop file");
    for p in procs.iter_mut().filter(|p| !p.killed) {
        p.finish();
    }
    stop_watching.store(true, Ordering::SeqCst);
    let seen = watcher.join().expect("watcher");

    let names: Vec<String> = procs.iter().map(|p| p.name.clone()).collect();
    let outputs: Vec<Vec<String>> = procs.iter().map(Proc::lines).collect();
    let totals = check_delivery(&names, &outputs, VICTIM, &ends);
    assert!(
        seen.went_back.is_empty(),
        "committed offsets went back: {:?}",
        seen.went_back
    );
    assert!(
        seen.strangers.is_empty(),
        "owners that are not members: {:?}",
        seen.strangers
    );
    assert!(seen.max_members >= 3, "{seen:?}");
    check_end_state(&db, &ends);
    println!(
        "group multi-process: {} records over {PARTITIONS} partitions, 3 consumers + 1 joined, \
         1 killed after {victim_handled} handled; {} handlings, {} duplicates, {} fenced \
         commits, {} rejoins, {} revocations of partitions never given; {} describe samples up to generation {}; {:.1} s",
        ends.iter().sum::<u64>(),
        totals.handled,
        totals.duplicates,
        totals.fenced,
        totals.rejoins,
        totals.phantom_revokes,
        seen.samples,
        seen.max_generation,
        started.elapsed().as_secs_f64()
    );
}

/// A member process killed with SIGKILL stops heartbeating; once its session timeout
/// passes, the surviving member owns every partition and consumes from the killed member's
/// committed offsets.
#[test]
fn a_killed_member_loses_its_partitions_to_the_survivor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, path, mut ends) = new_file(dir.path(), 40);
    let stop_file = dir.path().join("stop");
    let mut procs = vec![
        Proc::spawn("runner a", "runner", &path, &stop_file),
        Proc::spawn("runner b", "runner", &path, &stop_file),
    ];
    let (pid_a, pid_b) = (procs[0].pid, procs[1].pid);
    // Both members are in and own three partitions each, and the records so far are done.
    let split = |d: &GroupDescription| {
        let (Some(a), Some(b)) = (member_of(d, pid_a), member_of(d, pid_b)) else {
            return false;
        };
        let owned_by = |id: &String| {
            d.partitions
                .iter()
                .filter(|p| p.owner.as_ref() == Some(id))
                .count()
        };
        owned_by(&a) == 3 && owned_by(&b) == 3
    };
    wait_until(
        &mut procs,
        "two members own three partitions each and caught up",
        |_| describe(&db).is_some_and(|d| split(&d) && caught_up(&d, &ends)),
        |_| format!("{:?}", describe(&db)),
    );
    let before = describe(&db).expect("group");
    let a_id = member_of(&before, pid_a).expect("a is a member");
    let a_partitions: BTreeSet<u32> = before
        .partitions
        .iter()
        .filter(|p| p.owner.as_ref() == Some(&a_id))
        .map(|p| p.partition)
        .collect();
    procs[0].kill();
    // Records for every partition, a's included, while a is dead but not yet expired.
    send_each(&db, &mut ends, 10);
    wait_until(
        &mut procs,
        "the survivor owns every partition",
        |_| {
            describe(&db).is_some_and(|d| {
                let b = member_of(&d, pid_b);
                d.members.len() == 1 && b.is_some() && d.partitions.iter().all(|p| p.owner == b)
            })
        },
        |_| format!("{:?}", describe(&db)),
    );
    let after = describe(&db).expect("group");
    assert!(after.generation > before.generation, "ownership changed");
    send_each(&db, &mut ends, 10);
    wait_until(
        &mut procs,
        "the survivor consumed a's partitions too (lag 0)",
        |_| describe(&db).is_some_and(|d| caught_up(&d, &ends)),
        |_| format!("ends {ends:?}: {:?}", describe(&db)),
    );
    std::fs::write(&stop_file, "stop").expect("write the stop file");
    procs[1].finish();

    // Nothing was in flight when a died (the group had caught up), so every record was
    // handled exactly once: b took a's partitions over from a's committed offsets.
    let a = parse("runner a", 0, &procs[0].lines());
    let b = parse("runner b", 1, &procs[1].lines());
    for (p, end) in (0..PARTITIONS).zip(&ends) {
        for o in 0..*end {
            let times = a.handled.get(&(p, o)).map_or(0, Vec::len)
                + b.handled.get(&(p, o)).map_or(0, Vec::len);
            assert_eq!(times, 1, "{p}/{o} handled {times} times");
        }
        if a_partitions.contains(&p) {
            assert!(
                (40..*end).all(|o| b.handled.contains_key(&(p, o))),
                "b handled a's partition {p} from a's committed offset 40"
            );
        }
    }
    check_end_state(&db, &ends);
    println!(
        "group kill: a owned {a_partitions:?}; generation {} -> {}; b handled {} records",
        before.generation,
        after.generation,
        b.handled.len()
    );
}
