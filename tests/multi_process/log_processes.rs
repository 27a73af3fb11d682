//! Several OS processes share one brooklet file.
//!
//! The child processes are this test binary run again on its `child_process` test alone
//! (`--exact`, with the name [`crate::test_name`] gives); the role comes in
//! `BROOKLET_MP_ROLE` (without it, `child_process` does nothing). Children print one line
//! per event on stdout, which the parent collects and checks:
//!
//! - `ACK producer seq partition offset durability`, printed after a send returned;
//! - `READ partition offset key value` (hex, `-` for null), printed by readers;
//! - `HOLD ...` by the process that keeps one snapshot open while others write.
//!
//! Scenarios: two producers and two readers (and a snapshot holder) run at once; and a
//! writer killed with SIGKILL mid-stream, after which the file must open clean with every
//! acknowledged record, and accept a new writer.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::log::{hex, read_partition, unhex};
use brooklet::{Brooklet, Durability, Error, Options, Position, Record, TopicConfig};

const ENV_ROLE: &str = "BROOKLET_MP_ROLE";
const ENV_PATH: &str = "BROOKLET_MP_PATH";
const ENV_ID: &str = "BROOKLET_MP_ID";
const ENV_COUNT: &str = "BROOKLET_MP_COUNT";
const ENV_DONE: &str = "BROOKLET_MP_DONE";

const TOPIC: &str = "events";
const PARTITIONS: u32 = 4;
/// Children give up after this long, so that no process outlives a failed parent for long.
const CHILD_DEADLINE: Duration = Duration::from_secs(90);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for child processes"))
}

fn env_u64(name: &str) -> u64 {
    env(name).parse().expect("a number")
}

fn options() -> Options {
    // Writers of other processes may hold the lock through many fsyncs.
    Options::default().busy_timeout(Duration::from_secs(30))
}

/// The record a producer sends as its `seq`-th: a pure function of both, so that the parent
/// can recompute what any acknowledged offset must hold.
fn record_for(producer: u64, seq: u64) -> Record {
    let mut rng = fastrand::Rng::with_seed((producer << 40) ^ seq);
    let key = match rng.u8(0..3) {
        0 => None,
        _ => Some(format!("k{producer}-{}", rng.u32(0..50)).into_bytes()),
    };
    let filler_len = if rng.u8(0..20) == 0 {
        rng.usize(2000..4000)
    } else {
        rng.usize(0..200)
    };
    let mut value = format!("p{producer}-s{seq}-").into_bytes();
    value.extend((0..filler_len).map(|_| rng.alphanumeric() as u8));
    let record = Record {
        key,
        value: Some(value),
        ..Record::default()
    };
    if rng.bool() {
        record.with_header("seq", Some(seq.to_string().into_bytes()))
    } else {
        record
    }
}

fn open_file(path: &Path, page_size: u32) -> Brooklet {
    let db = Brooklet::open_with(path, options().page_size(page_size)).expect("create the file");
    let config = TopicConfig::from_pairs([("segment.bytes", "65536")]).expect("config");
    db.admin()
        .create_topic(TOPIC, PARTITIONS, config)
        .expect("create topic");
    db
}

// ---------------------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------------------

/// The entry point of every child process; a no-op in a normal test run.
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ENV_ROLE) else {
        return;
    };
    let path = PathBuf::from(env(ENV_PATH));
    match role.as_str() {
        "producer" => produce(&path, env_u64(ENV_ID), Some(env_u64(ENV_COUNT))),
        "endless" => produce(&path, env_u64(ENV_ID), None),
        "reader" => read(&path, Path::new(&env(ENV_DONE))),
        "holder" => hold_snapshot(&path, Path::new(&env(ENV_DONE)), env_u64(ENV_COUNT)),
        "none-writer" => send_non_durable(&path, env_u64(ENV_COUNT)),
        other => panic!("unknown role {other}"),
    }
}

/// Sends `count` records (or until killed), mixing `send`, `send_to` and `send_batch` of
/// random sizes at `Immediate` and `None` durability, and prints an `ACK` line for each.
fn produce(path: &Path, id: u64, count: Option<u64>) {
    let db = Brooklet::open_existing(path, options()).expect("open");
    let mut rng = fastrand::Rng::with_seed(id ^ 0xac4);
    let started = Instant::now();
    let mut seq = 0;
    while count.is_none_or(|c| seq < c) {
        assert!(
            started.elapsed() < CHILD_DEADLINE,
            "producer {id}: deadline"
        );
        let durability = if rng.u8(0..4) == 0 {
            Durability::None
        } else {
            Durability::Immediate
        };
        let producer = db.producer().with_durability(durability);
        let left = count.map_or(u64::MAX, |c| c - seq);
        let metas = match rng.u8(0..3) {
            0 => vec![producer.send(TOPIC, record_for(id, seq)).expect("send")],
            1 => {
                let partition = rng.u32(0..PARTITIONS);
                vec![
                    producer
                        .send_to(TOPIC, partition, record_for(id, seq))
                        .expect("send_to"),
                ]
            }
            _ => {
                let n = rng.u64(1..=20).min(left);
                let records = (seq..seq + n).map(|s| record_for(id, s)).collect();
                producer.send_batch(TOPIC, records).expect("send_batch")
            }
        };
        let tag = if durability == Durability::None {
            "none"
        } else {
            "durable"
        };
        for meta in metas {
            println!("ACK {id} {seq} {} {} {tag}", meta.partition, meta.offset);
            seq += 1;
        }
    }
    db.flush().expect("flush");
}

/// Sends `count` small records one commit each at `Durability::None`, as fast as it can.
fn send_non_durable(path: &Path, count: u64) {
    let db = Brooklet::open_existing(path, options()).expect("open");
    let producer = db.producer().with_durability(Durability::None);
    for seq in 0..count {
        producer
            .send_to(TOPIC, 0, Record::value(seq.to_string()))
            .expect("send");
    }
    db.flush().expect("flush");
}

/// Follows every partition from the beginning with `poll`, printing a `READ` line per
/// record, until the parent has written the done file and every partition is read to its
/// end.
fn read(path: &Path, done: &Path) {
    let db = Brooklet::open_existing(path, options()).expect("open");
    // The default reset policy (earliest): a view that went back to an older commit (see
    // `end_offset_seen_by_another_process_never_goes_back`) would put the position past
    // the end and restart from offset 0, which the exactly-once check would catch.
    let mut reader = db.reader().with_reset(Some(Position::Beginning));
    reader
        .assign_topic(TOPIC, Position::Beginning)
        .expect("assign");
    let started = Instant::now();
    // Records returned while the writers were still at work (the done file not yet there).
    let (mut polls, mut read_early) = (0u64, 0usize);
    loop {
        assert!(started.elapsed() < CHILD_DEADLINE, "reader: deadline");
        let polled = reader.poll(Duration::from_millis(50)).expect("poll");
        if !polled.is_empty() {
            polls += 1;
            if !done.exists() {
                read_early += polled.len();
            }
        }
        for c in &polled {
            let key = c.record.key.as_deref().map_or_else(|| "-".to_owned(), hex);
            let value = c
                .record
                .value
                .as_deref()
                .map_or_else(|| "-".to_owned(), hex);
            println!("READ {} {} {key} {value}", c.partition, c.record.offset);
        }
        if polled.is_empty() && done.exists() {
            let at_end = (0..PARTITIONS).all(|p| {
                let end = db.end_offset(TOPIC, p).expect("end offset");
                reader.position(TOPIC, p).expect("assigned") >= end
            });
            if at_end {
                println!("POLLS {polls} {read_early}");
                return;
            }
        }
    }
}

/// Everything in a snapshot: tree name -> entries.
type Dump = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

fn dump(read: &brooklet::engine::ReadTransaction) -> brooklet::Result<Dump> {
    let mut out = Dump::new();
    for name in read.tree_names()? {
        let entries = read.range(&name, ..)?.collect::<brooklet::Result<_>>()?;
        out.insert(name, entries);
    }
    Ok(out)
}

/// Takes a snapshot once `records` records exist and keeps it open while the producers
/// write.
/// When they are done, reading the old snapshot again must give the same entries, or
/// `StaleSnapshot` if another process reused its pages; never other data or corruption.
fn hold_snapshot(path: &Path, done: &Path, records: u64) {
    let db = Brooklet::open_existing(path, options()).expect("open");
    let started = Instant::now();
    let total = || -> u64 {
        (0..PARTITIONS)
            .map(|p| db.end_offset(TOPIC, p).expect("end"))
            .sum()
    };
    while total() < records {
        assert!(started.elapsed() < CHILD_DEADLINE, "holder: deadline");
        std::thread::sleep(Duration::from_millis(1));
    }
    let snapshot = db.engine().begin_read().expect("begin read");
    let before = dump(&snapshot).expect("dump the snapshot");
    let entries: usize = before.values().map(Vec::len).sum();
    println!("HOLD taken {:?} with {entries} entries", snapshot.txn_id());
    while !done.exists() {
        assert!(started.elapsed() < CHILD_DEADLINE, "holder: deadline");
        std::thread::sleep(Duration::from_millis(5));
    }
    match dump(&snapshot) {
        Ok(after) => {
            assert!(after == before, "an old snapshot changed under its reader");
            println!("HOLD same");
        }
        Err(Error::StaleSnapshot) => println!("HOLD stale"),
        Err(e) => panic!("reading an old snapshot failed: {e}"),
    }
    drop(snapshot);
    println!("HOLD total {}", total());
}

// ---------------------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------------------

/// A child process that is killed if the parent fails before waiting for it.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn take(&mut self) -> Child {
        self.0.take().expect("child taken once")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(role: &str, path: &Path, envs: &[(&str, String)]) -> ChildGuard {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new(exe);
    command
        .args([
            "--exact",
            crate::test_name(module_path!(), "child_process").as_str(),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_ROLE, role)
        .env(ENV_PATH, path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        command.env(k, v);
    }
    ChildGuard(Some(command.spawn().expect("spawn a child process")))
}

/// Waits for a child on a thread of its own (so that its pipes are drained).
fn collect(mut guard: ChildGuard) -> std::thread::JoinHandle<Output> {
    let child = guard.take();
    std::thread::spawn(move || child.wait_with_output().expect("wait for child"))
}

fn stdout_of(name: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{name} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("ASCII output")
}

/// The fields after `tag` on every line that holds it (the test harness may print its own
/// words before a child's first line).
fn tagged<'a>(text: &'a str, tag: &str) -> Vec<Vec<&'a str>> {
    text.lines()
        .filter_map(|line| line.find(tag).map(|i| &line[i + tag.len()..]))
        .map(|rest| rest.split_whitespace().collect())
        .collect()
}

/// One acknowledged record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ack {
    producer: u64,
    seq: u64,
    partition: u32,
    offset: u64,
    durable: bool,
}

fn parse_acks(text: &str) -> Vec<Ack> {
    tagged(text, "ACK ")
        .into_iter()
        .map(|f| {
            assert_eq!(f.len(), 5, "ACK line {f:?}");
            Ack {
                producer: f[0].parse().expect("producer"),
                seq: f[1].parse().expect("seq"),
                partition: f[2].parse().expect("partition"),
                offset: f[3].parse().expect("offset"),
                durable: f[4] == "durable",
            }
        })
        .collect()
}

/// `(partition, offset) -> (key, value)` as one reader printed them.
type Reads = BTreeMap<(u32, u64), (Option<Vec<u8>>, Option<Vec<u8>>)>;

/// The records one reader printed, checking that each partition
/// was read from 0 with no gap, no repeat and no reordering.
fn parse_reads(name: &str, text: &str) -> Reads {
    let field = |s: &str| (s != "-").then(|| unhex(s));
    let mut next = [0u64; PARTITIONS as usize];
    let mut out = BTreeMap::new();
    for f in tagged(text, "READ ") {
        assert_eq!(f.len(), 4, "{name}: READ line {f:?}");
        let partition: u32 = f[0].parse().expect("partition");
        let offset: u64 = f[1].parse().expect("offset");
        assert_eq!(
            offset, next[partition as usize],
            "{name}: partition {partition} read out of order"
        );
        next[partition as usize] += 1;
        out.insert((partition, offset), (field(f[2]), field(f[3])));
    }
    out
}

/// Every acknowledged offset holds what its producer sent, each offset was acknowledged
/// once, and each producer's records keep their order within a partition.
fn index_acks(acks: &[Ack]) -> BTreeMap<(u32, u64), Ack> {
    let mut by_offset = BTreeMap::new();
    let mut last: BTreeMap<(u64, u32), u64> = BTreeMap::new();
    for ack in acks {
        assert!(
            by_offset
                .insert((ack.partition, ack.offset), *ack)
                .is_none(),
            "offset {}/{} acknowledged twice",
            ack.partition,
            ack.offset
        );
        if let Some(prev) = last.insert((ack.producer, ack.partition), ack.offset) {
            assert!(
                prev < ack.offset,
                "producer order broken: {ack:?} after {prev}"
            );
        }
    }
    by_offset
}

fn expect_clean(path: &Path) -> Brooklet {
    let db = Brooklet::open_existing(path, options()).expect("reopen");
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "check: {:?}", report.problems);
    db
}

#[test]
fn two_producers_and_two_readers_share_one_file() {
    const PER_PRODUCER: u64 = 4000;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.brooklet");
    let done = dir.path().join("producers-done");
    drop(open_file(&path, 1024));
    let done_env = [(ENV_DONE, done.display().to_string())];
    let readers: Vec<_> = (0..2)
        .map(|_| collect(spawn("reader", &path, &done_env)))
        .collect();
    let holder_env = [
        done_env[0].clone(),
        (ENV_COUNT, (PER_PRODUCER / 2).to_string()),
    ];
    let holder = collect(spawn("holder", &path, &holder_env));
    let producers: Vec<_> = (0..2u64)
        .map(|id| {
            let envs = [
                (ENV_ID, id.to_string()),
                (ENV_COUNT, PER_PRODUCER.to_string()),
            ];
            collect(spawn("producer", &path, &envs))
        })
        .collect();
    let mut acks = Vec::new();
    for (i, handle) in producers.into_iter().enumerate() {
        let output = handle.join().expect("producer thread");
        acks.extend(parse_acks(&stdout_of(&format!("producer {i}"), &output)));
    }
    std::fs::write(&done, acks.len().to_string()).expect("write the done file");
    assert_eq!(
        acks.len() as u64,
        2 * PER_PRODUCER,
        "every send acknowledged"
    );
    let by_offset = index_acks(&acks);

    let mut reader_stats = Vec::new();
    for (i, handle) in readers.into_iter().enumerate() {
        let name = format!("reader {i}");
        let output = handle.join().expect("reader thread");
        let text = stdout_of(&name, &output);
        let reads = parse_reads(&name, &text);
        assert_eq!(reads.len(), acks.len(), "{name}: records read");
        reader_stats.push(tagged(&text, "POLLS ").concat().join("/"));
        for (at, ack) in &by_offset {
            let sent = record_for(ack.producer, ack.seq);
            let got = reads
                .get(at)
                .unwrap_or_else(|| panic!("{name}: {at:?} not read"));
            assert_eq!(
                (&got.0, &got.1),
                (&sent.key, &sent.value),
                "{name}: {ack:?}"
            );
        }
    }
    let holder_out = stdout_of("holder", &holder.join().expect("holder thread"));
    assert!(
        holder_out.contains("HOLD same") || holder_out.contains("HOLD stale"),
        "holder: {holder_out}"
    );
    assert!(
        holder_out.contains(&format!("HOLD total {}", acks.len())),
        "holder: {holder_out}"
    );

    let db = expect_clean(&path);
    for p in 0..PARTITIONS {
        let stored = read_partition(&db, TOPIC, p).expect("read back");
        let acked = by_offset.range((p, 0)..(p + 1, 0)).count();
        assert_eq!(stored.len(), acked, "partition {p}: stored vs acknowledged");
    }
    let segments: usize = (0..PARTITIONS)
        .map(|p| db.admin().segments(TOPIC, p).expect("segments").len())
        .sum();
    let holder_says: Vec<String> = tagged(&holder_out, "HOLD ")
        .into_iter()
        .map(|f| f.join(" "))
        .collect();
    println!(
        "multi-process: 2 producers, 2 readers, 1 snapshot holder; {} records acknowledged \
         ({} durable) and read by each reader; {segments} segments; reader polls/records \
         read while producing: {}; holder: {}",
        acks.len(),
        acks.iter().filter(|a| a.durable).count(),
        reader_stats.join(", "),
        holder_says.join(", ")
    );
}

/// Reads a child's stdout until `acks` ACK lines arrived, kills it with SIGKILL, and
/// returns every complete line it printed.
fn kill_after_acks(mut guard: ChildGuard, acks: usize) -> String {
    let mut child = guard.take();
    let stderr = child.stderr.take().expect("stderr piped");
    let stderr_thread = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let mut out = BufReader::new(child.stdout.take().expect("stdout piped"));
    let mut text = String::new();
    let mut seen = 0;
    while seen < acks {
        let mut line = String::new();
        let n = out.read_line(&mut line).expect("read child output");
        if n == 0 {
            let _ = child.wait();
            panic!(
                "writer exited early:\n{}",
                stderr_thread.join().expect("stderr thread")
            );
        }
        seen += usize::from(line.contains("ACK "));
        text.push_str(&line);
    }
    child.kill().expect("SIGKILL the writer");
    let status = child.wait().expect("wait for the killed writer");
    assert!(!status.success(), "the writer was killed");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("drain output");
    // A line cut by the kill has no newline; everything before it was printed whole.
    if let Some(cut) = rest.rfind('\n') {
        text.push_str(&rest[..=cut]);
    }
    drop(stderr_thread);
    text
}

/// The file after a writer was killed: it opens clean, holds a prefix of the writer's
/// stream that includes every durable acknowledgement, and takes a new writer.
/// Returns how many records were stored and how many non-durable acknowledgements were lost
/// (allowed by the contract, though a killed process leaves its writes in the OS cache).
fn check_after_kill(path: &Path, writer: u64, acks: &[Ack]) -> (usize, usize) {
    let db = expect_clean(path);
    let mut present = BTreeSet::new();
    for p in 0..PARTITIONS {
        for r in read_partition(&db, TOPIC, p).expect("read back") {
            let value = r.value.as_deref().expect("values are not null");
            let text = std::str::from_utf8(value).expect("ASCII value");
            let seq: u64 = text
                .strip_prefix(&format!("p{writer}-s"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("unknown record {text:?} at {p}/{}", r.offset));
            let sent = record_for(writer, seq);
            assert_eq!(
                (&r.key, &r.value, &r.headers),
                (&sent.key, &sent.value, &sent.headers)
            );
            assert!(present.insert(seq), "seq {seq} stored twice");
        }
    }
    let count = present.len() as u64;
    assert!(
        present.iter().copied().eq(0..count),
        "the file holds a gap in the writer's stream"
    );
    let mut none_lost = 0;
    for ack in acks {
        if ack.seq >= count {
            assert!(!ack.durable, "durable acknowledgement lost: {ack:?}");
            none_lost += 1;
        }
    }
    // A new writer appends after the recovered records.
    let end = db.end_offset(TOPIC, 0).expect("end");
    let meta = db
        .producer()
        .send_to(TOPIC, 0, Record::keyed("after", "kill"))
        .expect("send after the kill");
    assert_eq!(
        meta.offset, end,
        "the new record follows the recovered ones"
    );
    let report = db.admin().check().expect("check");
    assert!(
        report.is_clean(),
        "after the new writer: {:?}",
        report.problems
    );
    (present.len(), none_lost)
}

#[test]
fn a_writer_killed_mid_stream_loses_no_acknowledged_record() {
    let mut summary = Vec::new();
    for (round, kill_after) in [(0u64, 25usize), (1, 300), (2, 1200)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("killed.brooklet");
        let done = dir.path().join("writer-done");
        drop(open_file(&path, 4096));
        let reader = collect(spawn(
            "reader",
            &path,
            &[(ENV_DONE, done.display().to_string())],
        ));
        let writer = spawn("endless", &path, &[(ENV_ID, round.to_string())]);
        let text = kill_after_acks(writer, kill_after);
        let acks = parse_acks(&text);
        assert!(acks.len() >= kill_after, "round {round}: acknowledgements");
        index_acks(&acks);
        let (stored, none_lost) = check_after_kill(&path, round, &acks);
        // The reader, which ran through the kill, reads everything, the new record included.
        std::fs::write(&done, "done").expect("write the done file");
        let name = format!("round {round} reader");
        let reads = parse_reads(&name, &stdout_of(&name, &reader.join().expect("reader")));
        assert_eq!(reads.len(), stored + 1, "{name}: records read");
        summary.push(format!(
            "round {round}: killed after {} acks ({} non-durable, {none_lost} of them lost), \
             {stored} records recovered",
            acks.len(),
            acks.iter().filter(|a| !a.durable).count()
        ));
    }
    println!("multi-process kill: {}", summary.join("; "));
}

/// While another process commits at `Durability::None`, the end offset a reader sees must
/// never go back.
///
/// Each non-durable commit rewrites the same commit slot (the one that does not hold the
/// last durable commit). A reader in another process that reads that slot while it is being
/// rewritten finds its checksum broken and falls back to the other slot, which holds the
/// last *durable* commit: an older state than the one it saw a moment earlier
/// (`read_best_slot` in src/pager/recovery.rs). A `Reader` whose position is then past the
/// end applies its reset policy and starts again from the beginning, delivering every
/// record a second time (seen first as "partition 2 read out of order" in
/// `two_producers_and_two_readers_share_one_file`).
#[test]
fn end_offset_seen_by_another_process_never_goes_back() {
    const COMMITS: u64 = 5_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("monotonic.brooklet");
    drop(open_file(&path, 4096));
    let writer = collect(spawn(
        "none-writer",
        &path,
        &[(ENV_COUNT, COMMITS.to_string())],
    ));
    let db = Brooklet::open_existing(&path, options()).expect("open");
    let (mut seen, mut reads, mut backwards) = (0u64, 0u64, Vec::new());
    while seen < COMMITS {
        let end = db.end_offset(TOPIC, 0).expect("end offset");
        reads += 1;
        if end < seen {
            backwards.push((seen, end));
            if backwards.len() == 5 {
                break;
            }
        }
        seen = seen.max(end);
        if writer.is_finished() && end < COMMITS {
            // The writer has flushed every commit; one more read must see them all.
            let end = db.end_offset(TOPIC, 0).expect("end offset");
            assert_eq!(end, COMMITS, "the writer's commits are all visible");
            break;
        }
    }
    stdout_of("writer", &writer.join().expect("writer thread"));
    assert!(
        backwards.is_empty(),
        "{} of {reads} reads went back to an older commit (seen, then read): {backwards:?}",
        backwards.len()
    );
}
