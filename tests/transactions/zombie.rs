//! A zombie instance in another process. Process A starts a transaction of transactional
//! id `shared` and stores records ahead of its commit, then waits. While A is alive (its
//! liveness lock held, so maintenance must leave its transaction alone), process B starts a
//! new instance of the same id, which fences A and aborts A's open transaction at once,
//! and commits a transaction of its own. A is then told to go on: its further sends and its
//! commit fail with [`Error::Fenced`] (A exits with [`EXIT_FENCED`]), and `read_committed`
//! readers see B's records only.
//!
//! A second test kills A instead: its dead owner's transaction is aborted by the next
//! maintenance, through the liveness lock that died with it.
//!
//! The children are this test binary run on `child_process` alone; the role comes in
//! `BROOKLET_TXZ_ROLE` (without it, `child_process` does nothing).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use brooklet::{Brooklet, Error, Isolation, Options, Record, TopicConfig, TransactionOptions};

use crate::{read_values, say, spawn_child};

const ENV_ROLE: &str = "BROOKLET_TXZ_ROLE";
const ENV_PATH: &str = "BROOKLET_TXZ_PATH";
const ENV_GO: &str = "BROOKLET_TXZ_GO";

const ID: &str = "shared";
const TOPIC: &str = "out";
/// Records A stores ahead before it waits, and sends after.
const ZOMBIE_BEFORE: u32 = 60;
const ZOMBIE_AFTER: u32 = 60;
const SUCCESSOR_RECORDS: u32 = 10;
/// A's exit code once its sends or commit were fenced.
const EXIT_FENCED: i32 = 42;
/// A's exit code if its commit went through (the defect this test looks for).
const EXIT_COMMITTED: i32 = 43;
/// Children give up after this long, so no process outlives a failed parent for long.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for child processes"))
}

fn options() -> Options {
    Options::default().busy_timeout(Duration::from_secs(30))
}

fn small_buffer() -> TransactionOptions {
    TransactionOptions {
        buffer_bytes: 1000,
        ..TransactionOptions::default()
    }
}

/// The entry point of both children; a no-op in a normal test run.
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ENV_ROLE) else {
        return;
    };
    let db = Brooklet::open_existing(env(ENV_PATH), options()).expect("open");
    match role.as_str() {
        "zombie" => zombie(&db, Path::new(&env(ENV_GO))),
        "successor" => successor(&db),
        other => panic!("unknown role {other}"),
    }
}

/// A: stores records ahead, says so, waits for the go file, then tries to go on.
fn zombie(db: &Brooklet, go: &Path) {
    let mut producer = db
        .transactional_producer_with(ID, small_buffer())
        .expect("producer");
    let mut txn = producer.begin().expect("begin");
    for i in 0..ZOMBIE_BEFORE {
        txn.send_to(TOPIC, 0, Record::value(format!("A-{i}")))
            .expect("send before the fence");
    }
    say(&format!("STORED {}", db.end_offset(TOPIC, 0).expect("end")));
    let started = Instant::now();
    while !go.exists() {
        assert!(started.elapsed() < CHILD_DEADLINE, "zombie: deadline");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut fenced_sends = 0;
    for i in ZOMBIE_BEFORE..ZOMBIE_BEFORE + ZOMBIE_AFTER {
        match txn.send_to(TOPIC, 0, Record::value(format!("A-{i}"))) {
            Ok(()) => {}
            Err(Error::Fenced(_)) => fenced_sends += 1,
            Err(e) => panic!("zombie: send failed: {e}"),
        }
    }
    let commit = txn.commit();
    say(&format!("SENDS_FENCED {fenced_sends}"));
    match commit {
        Err(Error::Fenced(why)) => {
            assert!(
                matches!(producer.begin().map(drop), Err(Error::Fenced(_))),
                "zombie: a fenced instance begins again"
            );
            say(&format!("FENCED {why}"));
            std::process::exit(EXIT_FENCED);
        }
        Err(e) => panic!("zombie: commit failed: {e}"),
        Ok(_) => std::process::exit(EXIT_COMMITTED),
    }
}

/// B: a new instance of the id commits a transaction.
fn successor(db: &Brooklet) {
    let mut producer = db.transactional_producer(ID).expect("new instance");
    let mut txn = producer.begin().expect("begin");
    for i in 0..SUCCESSOR_RECORDS {
        txn.send_to(TOPIC, 0, Record::value(format!("B-{i}")))
            .expect("send");
    }
    txn.commit().expect("commit");
    say("COMMITTED");
}

/// Reads the child's stdout until a line holding `tag`; returns the words after it.
fn wait_for(child: &mut Child, out: &mut impl BufRead, tag: &str) -> Vec<String> {
    let mut line = String::new();
    loop {
        line.clear();
        let read = out.read_line(&mut line).expect("read child stdout");
        if read == 0 {
            let status = child.wait().expect("wait");
            panic!("the child exited ({status}) before printing {tag}");
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(at) = words.iter().position(|w| *w == tag) {
            return words[at + 1..].iter().map(|w| (*w).to_owned()).collect();
        }
    }
}

fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(started.elapsed() < CHILD_DEADLINE, "{what} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn lso_and_end(db: &Brooklet) -> (u64, u64) {
    (
        db.last_stable_offset(TOPIC, 0).expect("lso"),
        db.end_offset(TOPIC, 0).expect("end"),
    )
}

/// A new file with the topic, and process A started on it as the zombie, once it has
/// stored records ahead.
struct Zombie {
    db: Brooklet,
    path: PathBuf,
    /// The file whose creation tells A to go on.
    go: PathBuf,
    a: std::process::Child,
    a_out: BufReader<std::process::ChildStdout>,
    /// The end offset after A's records stored ahead.
    stored: u64,
}

fn start_zombie(dir: &Path) -> Zombie {
    let path = dir.join("z.brooklet");
    let go = dir.join("go");
    let db = Brooklet::open_with(&path, options()).expect("create");
    db.admin()
        .create_topic(TOPIC, 1, TopicConfig::default())
        .expect("topic");
    let mut a = spawn_child(
        module_path!(),
        "child_process",
        &[
            (ENV_ROLE, "zombie".as_ref()),
            (ENV_PATH, path.as_os_str()),
            (ENV_GO, go.as_os_str()),
        ],
    );
    let mut a_out = BufReader::new(a.stdout.take().expect("stdout"));
    let stored: u64 = wait_for(&mut a, &mut a_out, "STORED")[0]
        .parse()
        .expect("an offset");
    Zombie {
        db,
        path,
        go,
        a,
        a_out,
        stored,
    }
}

#[test]
fn a_fenced_instance_in_another_process_can_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Zombie {
        db,
        path,
        go,
        mut a,
        mut a_out,
        stored,
    } = start_zombie(dir.path());
    assert!(stored > 0, "A stored records ahead of its commit");
    // A is alive: maintenance leaves its transaction open, and it holds readers back.
    let report = db.admin().maintain().expect("maintain");
    assert_eq!(
        report.transactions_aborted, 0,
        "A's transaction is not expired"
    );
    let (lso, end) = lso_and_end(&db);
    assert_eq!((lso, end), (0, stored), "A's records are held back");
    assert!(
        read_values(&db, TOPIC, 0, Isolation::ReadCommitted)
            .expect("read")
            .is_empty()
    );

    let mut b = spawn_child(
        module_path!(),
        "child_process",
        &[
            (ENV_ROLE, "successor".as_ref()),
            (ENV_PATH, path.as_os_str()),
        ],
    );
    let mut b_out = BufReader::new(b.stdout.take().expect("stdout"));
    wait_for(&mut b, &mut b_out, "COMMITTED");
    assert!(wait_exit(&mut b, "B").success(), "B exits cleanly");
    let (lso, end) = lso_and_end(&db);
    assert_eq!(
        lso, end,
        "A's open transaction was aborted when B took over"
    );
    let aborted = db.admin().aborted_transactions(TOPIC, 0).expect("aborted");
    assert_eq!(
        aborted.len(),
        1,
        "A's transaction is indexed as aborted: {aborted:?}"
    );

    std::fs::write(&go, "go").expect("write the go file");
    let sends_fenced: u32 = wait_for(&mut a, &mut a_out, "SENDS_FENCED")[0]
        .parse()
        .expect("a count");
    let status = wait_exit(&mut a, "A");
    assert_eq!(
        status.code(),
        Some(EXIT_FENCED),
        "A's commit is fenced (exit {status})"
    );
    assert!(sends_fenced > 0, "A's sends that stored ahead were fenced");

    let committed = read_values(&db, TOPIC, 0, Isolation::ReadCommitted).expect("read");
    let expected: Vec<Vec<u8>> = (0..SUCCESSOR_RECORDS)
        .map(|i| format!("B-{i}").into_bytes())
        .collect();
    assert_eq!(committed, expected, "read_committed sees B's records only");
    let uncommitted = read_values(&db, TOPIC, 0, Isolation::ReadUncommitted).expect("read");
    let zombie_stored = uncommitted.iter().filter(|v| v.starts_with(b"A-")).count();
    assert_eq!(
        zombie_stored as u64, stored,
        "nothing of A's was stored after the fence"
    );
    let (lso, end) = lso_and_end(&db);
    assert_eq!(lso, end);
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "check: {:?}", report.problems);
    println!(
        "zombie: A stored {stored} records ahead, {sends_fenced} later sends and its commit \
         fenced; B committed {SUCCESSOR_RECORDS}; read_uncommitted holds {zombie_stored} of A's \
         (aborted)"
    );
}

/// A's process is killed with its transaction stored ahead: its liveness lock dies with
/// it, so the next maintenance (or open) aborts the transaction at once, long before its
/// timeout, and no new instance of the id is needed.
#[test]
fn a_killed_instance_transaction_is_aborted_by_maintenance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Zombie {
        db, mut a, stored, ..
    } = start_zombie(dir.path());
    assert_eq!(lso_and_end(&db), (0, stored), "A's records are held back");
    a.kill().expect("SIGKILL");
    a.wait().expect("wait for the killed child");
    let report = db.admin().maintain().expect("maintain");
    assert_eq!(
        report.transactions_aborted, 1,
        "the dead owner's transaction"
    );
    let (lso, end) = lso_and_end(&db);
    assert_eq!(lso, end, "nothing is held back");
    assert!(
        read_values(&db, TOPIC, 0, Isolation::ReadCommitted)
            .expect("read")
            .is_empty()
    );
    let info = db.admin().describe_transaction(ID).expect("describe");
    assert_eq!(info.state, brooklet::TransactionState::CompleteAbort);
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "check: {:?}", report.problems);
}
