//! The CLI beside other processes: `check` while producers and a group consumer write,
//! inspection that never writes (even on a file it cannot write), and a producer whose file
//! is cut under it.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::cli::{Run, bin, p, run};

/// Starts `brooklet args...` with stdin, stdout and stderr piped.
fn spawn_piped(args: &[&str]) -> Child {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn brooklet")
}

/// Feeds `child` a few lines at a time until `stop`, then closes its stdin.
fn feed(mut child_stdin: std::process::ChildStdin, stop: &AtomicBool, tag: &'static str) {
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut lines = String::new();
        for _ in 0..4 {
            let _ = writeln!(lines, "{tag}-{i}-{}", "x".repeat((i % 7) as usize * 300));
            i += 1;
        }
        if child_stdin.write_all(lines.as_bytes()).is_err() {
            return;
        }
        let _ = child_stdin.flush();
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn check_is_clean_while_two_producers_and_a_group_consumer_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("live.brooklet");
    let file = p(&path);
    run(&["init", file], None).ok();
    // About 130 MB in a topic the check reads first, so that each check takes a while;
    // then a topic that retention keeps at two small segments, so that the writers free
    // and reuse its pages many times during every check.
    run(&["topic", "create", file, "a-bulk"], None).ok();
    run(
        &[
            "topic",
            "create",
            file,
            "t",
            "--partitions",
            "2",
            "--retention-bytes",
            "70000",
            "--config",
            "segment.bytes=65536",
        ],
        None,
    )
    .ok();
    let mut bulk = String::new();
    for i in 0..4000 {
        let _ = writeln!(bulk, "bulk-{i}-{}", "b".repeat(900));
    }
    let mut writer = spawn_piped(&["produce", file, "a-bulk"]);
    let mut stdin = writer.stdin.take().expect("stdin");
    for _ in 0..35 {
        stdin.write_all(bulk.as_bytes()).expect("write");
    }
    drop(stdin);
    assert!(writer.wait().expect("bulk").success());

    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    let mut feeders = Vec::new();
    for tag in ["a", "b"] {
        let mut child = spawn_piped(&["produce", file, "t"]);
        let stdin = child.stdin.take().expect("stdin");
        let stop = Arc::clone(&stop);
        feeders.push(std::thread::spawn(move || feed(stdin, &stop, tag)));
        producers.push(child);
    }
    let mut consumer = spawn_piped(&["consume", file, "t", "--group", "g", "--follow"]);
    // A third writer creates, fills and deletes a topic over and over: whole segments
    // that a check may be about to read are freed and reused.
    let churn = {
        let stop = Arc::clone(&stop);
        let file = file.to_owned();
        let bulk = bulk.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                run(&["topic", "create", &file, "b-churn"], None).ok();
                run(&["produce", &file, "b-churn"], Some(bulk.as_bytes())).ok();
                run(&["topic", "delete", &file, "b-churn"], None).ok();
            }
        })
    };
    // Every check reads one committed state while the others go on writing.
    let mut txns = Vec::new();
    for round in 0..40 {
        let checked = run(&["check", file, "--json"], None);
        assert_eq!(
            checked.code, 0,
            "check {round} while others write: {checked:?}"
        );
        let report: serde_json::Value = serde_json::from_str(&checked.stdout_text()).expect("json");
        assert_eq!(report["status"], "clean", "{report}");
        txns.push(report["txn"].as_u64().expect("txn"));
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().expect("churn");
    for feeder in feeders {
        feeder.join().expect("feeder");
    }
    for producer in producers {
        let out = producer.wait_with_output().expect("producer");
        assert!(out.status.success(), "{out:?}");
    }
    consumer.kill().expect("stop the consumer");
    let _ = consumer.wait();
    txns.dedup();
    assert!(
        txns.len() > 20,
        "the file moved on between checks: {} distinct commits checked",
        txns.len()
    );
    run(&["check", file], None).ok();
}

/// A file with expired records that opening it for writing would delete: records with old
/// timestamps in closed segments of a topic whose retention has since been lowered, and a
/// consumer group.
fn file_with_expired_records(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("expired.brooklet");
    let file = p(&path);
    run(&["init", file], None).ok();
    run(
        &[
            "topic",
            "create",
            file,
            "t",
            "--config",
            "segment.bytes=65536",
        ],
        None,
    )
    .ok();
    let mut lines = String::new();
    for i in 0..3000u64 {
        let _ = writeln!(
            lines,
            "{{\"value\":\"old record {i} {}\",\"timestamp\":{}}}",
            "y".repeat(60),
            1_600_000_000_000u64 + i
        );
    }
    run(
        &["import", file, "t", "--format", "jsonl"],
        Some(lines.as_bytes()),
    )
    .ok();
    run(
        &[
            "consume",
            file,
            "t",
            "--group",
            "g",
            "--from-beginning",
            "--max",
            "5",
        ],
        None,
    )
    .ok();
    run(
        &[
            "topic",
            "alter",
            file,
            "t",
            "--config",
            "retention.ms=60000",
        ],
        None,
    )
    .ok();
    path
}

/// Every inspection command, which must open the file read-only.
fn inspections(file: &str, out_dir: &str) -> Vec<Vec<String>> {
    let lines: &[&[&str]] = &[
        &["check", file],
        &["check", file, "--json"],
        &["info", file],
        &["info", file, "--json"],
        &["dump", file],
        &["dump", file, "--page", "2"],
        &["topic", "list", file],
        &["topic", "describe", file, "t"],
        &["group", "list", file],
        &["group", "describe", file, "g"],
        &["consume", file, "t", "--max", "3"],
        &[
            "consume",
            file,
            "t",
            "--from-beginning",
            "--format",
            "json",
            "--max",
            "3",
        ],
        &["export", file, "t", "--format", "jsonl"],
        &[
            "export",
            file,
            "t",
            "--format",
            "kafka-segment",
            "--out",
            out_dir,
        ],
    ];
    lines
        .iter()
        .map(|l| l.iter().map(|s| (*s).to_owned()).collect())
        .collect()
}

fn end_offsets(file: &str) -> serde_json::Value {
    let text = run(&["topic", "describe", file, "t", "--json"], None).ok();
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    value["partitions"][0].clone()
}

/// Runs `brooklet args...` through `wrapper` (a command and its arguments before ours).
fn run_wrapped(wrapper: &[&str], args: &[String]) -> Run {
    let output = Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn");
    Run {
        code: output.status.code().expect("exited"),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

#[test]
fn inspection_never_writes_even_where_retention_is_due_or_the_file_is_read_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_expired_records(dir.path());
    let file = p(&path);
    let before = std::fs::read(&path).expect("read");
    let offsets = end_offsets(file);
    assert_eq!(offsets["beginning_offset"], 0, "{offsets}");
    let exports = dir.path().join("segments");

    // As this user: every inspection works and leaves every byte as it was.
    for args in inspections(file, p(&exports)) {
        let out = crate::support::cli::run_owned(&args, None);
        out.ok();
        assert!(
            std::fs::read(&path).expect("read") == before,
            "{args:?} changed the file"
        );
        let _ = std::fs::remove_dir_all(&exports);
    }

    // On a file the process cannot write: read-only permissions for a user who is not
    // its owner, in a directory it cannot write either.
    let mut perms = std::fs::metadata(&path).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
    std::fs::set_permissions(&path, perms).expect("chmod file");
    let locked = dir.path();
    let mut dir_perms = std::fs::metadata(locked).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut dir_perms, 0o555);
    std::fs::set_permissions(locked, dir_perms.clone()).expect("chmod dir");
    let root = is_root();
    // root may write anything, so the commands run as `nobody` when the test is root.
    let as_other: &[&str] = if root {
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]
    } else {
        &["env"]
    };
    let outside = tempfile::tempdir().expect("tempdir");
    let mut outside_perms = std::fs::metadata(outside.path())
        .expect("meta")
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut outside_perms, 0o777);
    std::fs::set_permissions(outside.path(), outside_perms).expect("chmod");
    let exports = outside.path().join("segments");
    for args in inspections(file, p(&exports)) {
        let out = run_wrapped(as_other, &args);
        assert_eq!(out.code, 0, "{args:?} on a file it cannot write: {out:?}");
        assert!(
            std::fs::read(&path).expect("read") == before,
            "{args:?} changed the file"
        );
        let _ = std::fs::remove_dir_all(&exports);
    }
    // A writer in that position is refused in one line, and changes nothing.
    run_wrapped(as_other, &["produce".into(), file.into(), "t".into()])
        .fails(1, "permission denied");

    // On a read-only mount (root only: it needs a mount namespace).
    if root {
        let mount = format!(
            "mount --bind -o ro {dir} {dir} && exec \"$@\"",
            dir = locked.display()
        );
        for args in inspections(file, p(&exports)) {
            let mut wrapped = vec![
                "--mount".to_owned(),
                "sh".into(),
                "-c".into(),
                mount.clone(),
            ];
            wrapped.push("sh".into());
            wrapped.push(bin().into());
            wrapped.extend(args.iter().cloned());
            let output = Command::new("unshare")
                .args(&wrapped)
                .output()
                .expect("unshare");
            assert!(
                output.status.success(),
                "{args:?} on a read-only mount: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                std::fs::read(&path).expect("read") == before,
                "{args:?} changed the file"
            );
            let _ = std::fs::remove_dir_all(&exports);
        }
    }

    // The records really were due: the first writer to open the file deletes them.
    std::os::unix::fs::PermissionsExt::set_mode(&mut dir_perms, 0o755);
    std::fs::set_permissions(locked, dir_perms).expect("chmod dir back");
    let mut writable = std::fs::metadata(&path).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut writable, 0o644);
    std::fs::set_permissions(&path, writable).expect("chmod back");
    run(&["produce", file, "t"], Some(b"new\n")).ok();
    let after = end_offsets(file);
    assert!(
        after["beginning_offset"].as_u64().expect("offset") > 0,
        "retention ran on the writable open: {after}"
    );
}

#[test]
fn a_producer_stops_when_its_file_is_cut_under_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cut.brooklet");
    let file = p(&path);
    run(&["init", file], None).ok();
    run(&["topic", "create", file, "t"], None).ok();
    let mut producer = spawn_piped(&["produce", file, "t", "--acks"]);
    let mut stdin = producer.stdin.take().expect("stdin");
    let stdout = producer.stdout.take().expect("stdout");
    let (acks_tx, acks) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if acks_tx.send(line).is_err() {
                return;
            }
        }
    });
    // Records acknowledged one at a time (each line waits for its ack), large enough that
    // the partition has pages past the header pages.
    let record = "z".repeat(3000);
    for i in 0..20 {
        writeln!(stdin, "{i} {record}").expect("write");
        stdin.flush().expect("flush");
        let ack = acks.recv_timeout(Duration::from_secs(30)).expect("ack");
        assert_eq!(ack, format!("0 {i}"));
    }
    // Another program cuts the file to its header pages while the producer runs.
    let cut = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    cut.set_len(2 * 4096).expect("cut");
    drop(cut);
    for i in 20..30 {
        if writeln!(stdin, "{i} {record}").is_err() {
            break; // the producer has exited
        }
        let _ = stdin.flush();
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let out = producer.wait_with_output().expect("producer");
    reader.join().expect("reader");
    let late: Vec<String> = acks.try_iter().collect();
    assert!(
        late.is_empty(),
        "records acknowledged after the file was cut: {late:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("brooklet: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("commit needs"), "{stderr}");
    // The file was never extended to hide the cut.
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), 2 * 4096);
}
