//! A killed member is detected at once through its liveness lock (an operating-system
//! lock the kernel releases when the process dies), not only after its session timeout.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use brooklet::{Brooklet, ConsumerOptions, Position, TopicConfig};

const ENV_PATH: &str = "BROOKLET_LIVENESS_CHILD";

fn options() -> ConsumerOptions {
    ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        // Far longer than the test waits: only the lock can reveal the death in time.
        session_timeout: Duration::from_secs(60),
        heartbeat_interval: Duration::from_millis(100),
        ..ConsumerOptions::default()
    }
}

/// The child: joins, says so, then idles (its heartbeat thread keeps it alive) until killed.
#[test]
fn child_member() {
    let Some(path) = std::env::var_os(ENV_PATH) else {
        return;
    };
    let db = Brooklet::open_existing(&path, brooklet::Options::default()).expect("open");
    let mut member = db.consumer("g", &["t"], options()).expect("join");
    member.poll(Duration::from_millis(10)).expect("poll");
    println!("JOINED {}", member.assignment().len());
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
#[cfg(target_os = "linux")]
fn a_killed_member_loses_its_partitions_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("live.brooklet");
    let db = Brooklet::open(&path).expect("open");
    db.admin()
        .create_topic("t", 4, TopicConfig::default())
        .expect("create");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            crate::test_name(module_path!(), "child_member").as_str(),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_PATH, &path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let joined = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("JOINED"))
        .expect("child joined");
    // The test harness may print its own prefix on the same line.
    assert!(
        joined.ends_with("JOINED 4"),
        "the first member owns every partition: {joined}"
    );
    let mut survivor = db.consumer("g", &["t"], options()).expect("join");
    // The child still owns all four (it never polls, so it never releases any).
    survivor.poll(Duration::from_millis(200)).expect("poll");
    assert!(
        survivor.assignment().is_empty(),
        "{:?}",
        survivor.assignment()
    );
    assert_eq!(
        db.admin()
            .describe_group("g")
            .expect("describe")
            .members
            .len(),
        2
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    // The kernel released the child's lock: the next rebalance drops it and the survivor
    // takes everything, long before the 60 s session timeout.
    let mut polls = 0;
    while survivor.assignment().len() < 4 && polls < 100 {
        survivor.poll(Duration::from_millis(100)).expect("poll");
        polls += 1;
    }
    assert_eq!(survivor.assignment().len(), 4, "after {polls} polls");
    let described = db.admin().describe_group("g").expect("describe");
    assert_eq!(described.members.len(), 1);
    assert!(described.members[0].live);
}
