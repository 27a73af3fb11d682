//! `brooklet mirror` into `brooklet serve` on a second file, as a user runs both: every
//! record arrives with its partition, offset, key, value, headers and timestamp, and a
//! mirror killed with SIGKILL again and again resumes without losing or repeating one.

use std::io::{BufRead as _, BufReader};
use std::process::Child;
use std::time::Duration;

use crate::support::cli::{file_with_topic, p, run, spawn};
use brooklet::{Brooklet, Header, Record};

/// `brooklet serve FILE --listen 127.0.0.1:0`, and the address it printed.
fn serve(file: &str) -> (Child, String) {
    let mut child = spawn(&["serve", file, "--listen", "127.0.0.1:0"]);
    let mut lines = BufReader::new(child.stderr.take().expect("stderr"))
        .lines()
        .chain(BufReader::new(child.stdout.take().expect("stdout")).lines());
    let line = lines
        .find_map(|l| l.ok().filter(|l| l.contains("serving")))
        .expect("serve prints its address");
    let addr = line
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .expect("an address in the line")
        .to_owned();
    (child, addr)
}

/// Every record of `topic` in `file` as `consume --format json` prints it, sorted.
fn records(file: &str, topic: &str) -> Vec<String> {
    let out = run(&["consume", file, topic, "--format", "json"], None).ok();
    let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

fn fill(file: &str, topic: &str, count: u32) {
    let db = Brooklet::open_existing(file, brooklet::Options::default()).expect("open");
    let producer = db.producer();
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let batch: Vec<Record> = chunk
            .iter()
            .map(|i| Record {
                key: Some(format!("key-{}", i % 97).into_bytes()),
                value: (i % 50 != 0).then(|| format!("value {i} {}", "x".repeat(40)).into_bytes()),
                headers: vec![
                    Header {
                        key: "n".to_owned(),
                        value: Some(i.to_string().into_bytes()),
                    },
                    Header {
                        key: "empty".to_owned(),
                        value: None,
                    },
                ],
                timestamp_ms: Some(1_700_000_000_000 + i64::from(*i)),
            })
            .collect();
        producer.send_batch(topic, batch).expect("send");
    }
}

fn stop(mut server: Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let status = server.wait().expect("wait for serve");
    assert!(
        status.success(),
        "serve stops cleanly on SIGTERM: {status:?}"
    );
}

#[test]
fn mirror_copies_every_record_with_its_partition_key_headers_and_timestamp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = file_with_topic(dir.path(), "source.brooklet", "orders", 3);
    let target = dir.path().join("target.brooklet");
    run(&["init", p(&target)], None).ok();
    fill(p(&source), "orders", 5_000);
    let (server, addr) = serve(p(&target));
    let out = run(&["mirror", p(&source), "--to", &addr], None);
    out.ok();
    assert!(out.stderr.contains("mirrored 5000 records"), "{out:?}");
    // The topic was created with the source's partitions; the records, offsets included,
    // are the same.
    assert_eq!(records(p(&source), "orders"), records(p(&target), "orders"));
    // A second run finds nothing new.
    let again = run(&["mirror", p(&source), "--to", &addr], None);
    again.ok();
    assert!(again.stderr.contains("mirrored 0 records"), "{again:?}");
    stop(server);
    run(&["check", p(&target)], None).ok();
}

#[test]
fn a_mirror_killed_again_and_again_resumes_without_losing_or_repeating_a_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = file_with_topic(dir.path(), "source.brooklet", "orders", 2);
    let target = dir.path().join("target.brooklet");
    run(&["init", p(&target)], None).ok();
    fill(p(&source), "orders", 200_000);
    let (server, addr) = serve(p(&target));
    let mut kills = 0;
    let mut skipped = 0;
    for round in 0..40u64 {
        let mut mirror = spawn(&["mirror", p(&source), "--to", &addr]);
        std::thread::sleep(Duration::from_millis(20 + (round * 37) % 150));
        if mirror.try_wait().expect("try_wait").is_none() {
            mirror.kill().expect("SIGKILL");
            kills += 1;
        }
        let output = mirror.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        skipped += stderr.matches("skipping them").count();
    }
    let last = run(&["mirror", p(&source), "--to", &addr], None);
    last.ok();
    skipped += last.stderr.matches("skipping them").count();
    assert!(kills > 0, "the mirror was killed at least once");
    assert_eq!(records(p(&source), "orders"), records(p(&target), "orders"));
    eprintln!("{kills} kills; {skipped} resumes skipped records already on the broker");
    stop(server);
    run(&["check", p(&target)], None).ok();
}
