//! `brooklet vacuum`: the file shrinks, the records stay, the summary and the JSON report
//! tell what happened, and a damaged segment stops it with one line instead of copying
//! damage around. (Unknown and foreign files are covered with every other command in
//! `errors.rs`.)

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::support::cli::{finish, p, run, spawn};
use serde_json::Value;

/// A file where topic `doomed` was produced first and deleted, so that `keep`, produced
/// after it, sits above free space.
fn file_with_a_hole(dir: &Path) -> PathBuf {
    let path = dir.join("v.brooklet");
    run(&["init", p(&path), "--page-size", "1024"], None).ok();
    let small = ["--config", "segment.bytes=65536"];
    for topic in ["doomed", "keep"] {
        let mut args = vec!["topic", "create", p(&path), topic, "--partitions", "2"];
        args.extend(small);
        run(&args, None).ok();
    }
    let lines = |topic: &str, count: usize| {
        let mut text = String::new();
        for i in 0..count {
            let padding = "x".repeat(i % 90);
            writeln!(text, "k{}:{topic} record {i} {padding}", i % 7).expect("a String takes it");
        }
        text
    };
    for topic in ["doomed", "keep"] {
        let input = lines(topic, 3000);
        run(
            &["produce", p(&path), topic, "--key-separator", ":"],
            Some(input.as_bytes()),
        )
        .ok();
    }
    run(&["topic", "delete", p(&path), "doomed"], None).ok();
    path
}

fn consume_all(path: &Path) -> String {
    run(
        &[
            "consume",
            p(path),
            "keep",
            "--from-beginning",
            "--format",
            "json",
        ],
        None,
    )
    .ok()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

#[test]
fn vacuum_shrinks_the_file_and_keeps_the_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_a_hole(dir.path());
    let records = consume_all(&path);
    assert_eq!(records.lines().count(), 3000);
    let before = file_len(&path);

    let out = run(&["vacuum", p(&path), "--json"], None);
    let report: Value = serde_json::from_str(&out.ok()).expect("one JSON object");
    let after = file_len(&path);
    assert_eq!(report["bytes_before"], before);
    assert_eq!(report["bytes_after"], after);
    // Two topics of equal size, one deleted: about half the file goes.
    assert!(after < before * 2 / 3, "{before} -> {after}");
    assert!(
        report["pages_moved"].as_u64().expect("moved") > 0,
        "{report}"
    );
    assert_eq!(
        report["pages_returned"].as_u64().expect("returned"),
        (before - after) / 1024
    );
    // One summary line on stderr, sizes before and after.
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{:?}", out.stderr);
    assert!(
        lines[0].starts_with(&format!("vacuumed {}: ", p(&path))) && lines[0].contains(" -> "),
        "{}",
        lines[0]
    );

    assert_eq!(consume_all(&path), records);
    assert!(run(&["check", p(&path)], None).ok().starts_with("ok: "));
    // A second vacuum finds nothing more to give back; the file goes on working.
    let again = run(&["vacuum", p(&path)], None);
    assert_eq!(again.ok(), "", "the summary goes to stderr only");
    assert!(again.stderr.contains("(0 pages returned"), "{again:?}");
    assert_eq!(file_len(&path), after);
    run(&["produce", p(&path), "keep"], Some(b"one more\n")).ok();
    assert_eq!(consume_all(&path).lines().count(), 3001);
}

#[test]
fn a_damaged_segment_stops_vacuum_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_a_hole(dir.path());
    let dump = run(&["dump", p(&path), "--json"], None).ok();
    let dump: Value = serde_json::from_str(&dump).expect("json");
    let segments = dump["segments"].as_array().expect("segments");
    // The highest segment moves first.
    let first = segments
        .iter()
        .map(|s| s["first_page"].as_u64().expect("page"))
        .max()
        .expect("a segment");
    let mut bytes = std::fs::read(&path).expect("read");
    let at = usize::try_from(first * 1024 + 100).expect("fits");
    bytes[at] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let problems = run(&["check", p(&path)], None).stdout_text();
    assert!(problems.contains("CRC-32C mismatch"), "{problems}");

    run(&["vacuum", p(&path)], None).fails(1, "bad record batch");
    // Nothing was made worse: the same problem, and the file still opens and is written.
    assert_eq!(run(&["check", p(&path)], None).stdout_text(), problems);
    run(&["produce", p(&path), "keep"], Some(b"still writable\n")).ok();
}

/// `brooklet vacuum` in another process while this one produces and reads: every read
/// sees the records the file holds, every acknowledged record survives, the file is clean.
#[test]
fn vacuum_in_another_process_while_this_one_produces_and_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_a_hole(dir.path());
    let records = consume_all(&path);
    let options = brooklet::Options::default().maintain_on_open(false);
    let db = brooklet::Brooklet::open_with(&path, options).expect("open");
    let limits = brooklet::FetchLimits {
        max_records: 100_000,
        max_bytes: 1 << 24,
    };
    let read_keep = |db: &brooklet::Brooklet| -> Vec<Vec<u8>> {
        (0..2)
            .flat_map(|p| {
                db.fetch("keep", p, 0, limits)
                    .expect("fetch during vacuum")
                    .records
            })
            .filter_map(|r| r.value)
            .collect()
    };
    let held = read_keep(&db);
    assert_eq!(held.len(), records.lines().count());
    db.admin()
        .create_topic("live", 2, brooklet::TopicConfig::default())
        .expect("create");
    let mut acked = Vec::new();
    for round in 0..3u32 {
        // Something to move: a topic above the space of a deleted one.
        for topic in [format!("gone{round}"), format!("moved{round}")] {
            db.admin()
                .create_topic(&topic, 1, brooklet::TopicConfig::default())
                .expect("create");
            let batch = (0..500u32)
                .map(|i| brooklet::Record::value(i.to_le_bytes().repeat(30)))
                .collect();
            db.producer().send_batch(&topic, batch).expect("send");
        }
        db.admin()
            .delete_topic(&format!("gone{round}"))
            .expect("delete");
        let child = spawn(&["vacuum", p(&path)]);
        let mut sent = 0u32;
        let mut child = Some(child);
        while let Some(running) = child.take() {
            let value = format!("round {round} record {sent}").into_bytes();
            let meta = db
                .producer()
                .send_to("live", sent % 2, brooklet::Record::value(value.clone()))
                .expect("send during vacuum");
            acked.push((meta.partition, meta.offset, value));
            sent += 1;
            assert_eq!(read_keep(&db), held, "round {round}: a read during vacuum");
            let mut running = running;
            if running.try_wait().expect("child").is_none() {
                child = Some(running);
            } else {
                finish(running).ok();
            }
        }
    }
    for (partition, offset, value) in acked {
        let fetched = db
            .fetch("live", partition, offset, brooklet::FetchLimits::default())
            .expect("fetch");
        assert_eq!(fetched.records[0].value.as_deref(), Some(&value[..]));
    }
    assert_eq!(consume_all(&path), records);
    assert!(run(&["check", p(&path)], None).ok().starts_with("ok: "));
}
