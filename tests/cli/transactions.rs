//! Transactions through the CLI: `consume --isolation`, `produce --transactional-id` (and
//! `--idempotent`), `transactions list/describe`, the last stable offset where commands
//! show offsets, transaction markers in `dump`, and `.txnindex` files from `export`. The
//! transactions themselves are made through the library, which this test binary links.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use brooklet::{Brooklet, Options, Record, TransactionOptions};
use serde_json::Value;

use crate::support::cli::{bin, file_with_topic, p, run, wait_until};

/// Stores each record of a transaction as it is sent, so that an abort leaves its records
/// and an ABORT marker in the log, and an open transaction holds the last stable offset.
fn spilling() -> TransactionOptions {
    TransactionOptions {
        buffer_bytes: 0,
        ..TransactionOptions::default()
    }
}

fn send(db: &Brooklet, value: &str) {
    db.producer()
        .send_to("t", 0, Record::value(value))
        .expect("send");
}

/// The values `consume` prints with the extra `flags`.
fn consumed(file: &str, flags: &[&str]) -> Vec<String> {
    let mut args = vec!["consume", file, "t"];
    args.extend_from_slice(flags);
    run(&args, None).ok().lines().map(str::to_owned).collect()
}

/// Topic `t` of one partition holding, by offset: 0 `plain-1`; 1 `committed-1` and its
/// COMMIT marker 2; 3 `aborted-1` (producer `b`), 4 `open-1` (producer `c`, left open),
/// the ABORT marker of `b` at 5; 6 `plain-2`. The last stable offset is 4, the end 7.
/// Returns the file and `b`'s producer id; `open` runs while `c`'s transaction is open.
fn with_transactions(dir: &Path, open: impl FnOnce(&Brooklet, &str)) -> (PathBuf, i64) {
    let path = file_with_topic(dir, "tx.brooklet", "t", 1);
    let db = Brooklet::open_with(&path, Options::default()).expect("open");
    send(&db, "plain-1");
    let mut a = db.transactional_producer("a").expect("a");
    let mut txn = a.begin().expect("begin");
    txn.send_to("t", 0, Record::value("committed-1"))
        .expect("send");
    txn.commit().expect("commit");
    let mut b = db.transactional_producer_with("b", spilling()).expect("b");
    let b_id = b.producer_id_and_epoch().0;
    let mut c = db.transactional_producer_with("c", spilling()).expect("c");
    let mut txn_b = b.begin().expect("begin");
    txn_b
        .send_to("t", 0, Record::value("aborted-1"))
        .expect("send");
    let mut txn_c = c.begin().expect("begin");
    txn_c
        .send_to("t", 0, Record::value("open-1"))
        .expect("send");
    txn_b.abort().expect("abort");
    send(&db, "plain-2");
    assert_eq!(db.last_stable_offset("t", 0).expect("lso"), 4);
    assert_eq!(db.end_offset("t", 0).expect("end"), 7);
    open(&db, p(&path));
    txn_c.commit().expect("commit c");
    (path, b_id)
}

#[test]
fn consume_reads_committed_or_uncommitted_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = with_transactions(dir.path(), |_, file| {
        let committed = ["plain-1", "committed-1"];
        let everything = ["plain-1", "committed-1", "aborted-1", "open-1", "plain-2"];
        assert_eq!(
            consumed(file, &[]),
            committed,
            "read-committed is the default"
        );
        assert_eq!(
            consumed(file, &["--isolation", "read-committed"]),
            committed
        );
        assert_eq!(
            consumed(file, &["--isolation", "read-uncommitted"]),
            everything
        );
        let json = consumed(
            file,
            &["--isolation", "read-uncommitted", "--format", "json"],
        );
        let offsets: Vec<u64> = json
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("json");
                v["offset"].as_u64().expect("offset")
            })
            .collect();
        assert_eq!(
            offsets,
            [0, 1, 3, 4, 6],
            "markers 2 and 5 are never printed"
        );
        // A group member stops at the last stable offset too, and commits it.
        let group = ["--group", "g", "--from-beginning"];
        assert_eq!(consumed(file, &group), committed);
        let mut uncommitted = group.to_vec();
        uncommitted[1] = "h";
        uncommitted.extend(["--isolation", "read-uncommitted"]);
        assert_eq!(consumed(file, &uncommitted), everything);
        let described = run(&["group", "describe", file, "g"], None).ok();
        assert!(described.contains("LSO"), "{described}");
        let row = described.lines().last().expect("row");
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            ["t", "0", "4", "7", "3", "-", "4"],
            "{described}"
        );
        let json: Value =
            serde_json::from_str(&run(&["group", "describe", file, "g", "--json"], None).ok())
                .expect("json");
        assert_eq!(json["partitions"][0]["last_stable_offset"], 4);
        let topic = run(&["topic", "describe", file, "t"], None).ok();
        assert!(topic.contains("Offsets: 0..7\tBytes:"), "{topic}");
        assert!(topic.contains("\tLSO: 4"), "{topic}");
        let info = run(&["info", file], None).ok();
        assert!(info.contains("offsets 0..7, "), "{info}");
        assert!(info.contains(", last stable offset 4"), "{info}");
    });
    // Once the open transaction commits, read-committed reads past it, still without the
    // aborted one; the last stable offset is the end again and is shown nowhere.
    let file = p(&path);
    assert_eq!(
        consumed(file, &[]),
        ["plain-1", "committed-1", "open-1", "plain-2"]
    );
    for args in [
        &["topic", "describe", file, "t"][..],
        &["info", file],
        &["group", "describe", file, "g"],
    ] {
        let text = run(args, None).ok();
        assert!(!text.contains("LSO") && !text.contains("stable"), "{text}");
    }
}

#[test]
fn transactions_are_listed_and_described() {
    let dir = tempfile::tempdir().expect("tempdir");
    with_transactions(dir.path(), |_, file| {
        let listed = run(&["transactions", "list", file], None).ok();
        let rows: Vec<Vec<&str>> = listed
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows[0],
            [
                "TRANSACTIONAL-ID",
                "PRODUCER-ID",
                "EPOCH",
                "STATE",
                "PARTITIONS",
                "STARTED"
            ]
        );
        assert_eq!(
            rows.len(),
            4,
            "a, b and c: finished ids are listed: {listed}"
        );
        assert_eq!(rows[1][..4], ["a", "0", "0", "CompleteCommit"]);
        assert_eq!(rows[1][4..], ["-", "-"]);
        assert_eq!(rows[2][3], "CompleteAbort");
        assert_eq!(rows[3][3], "Ongoing");
        assert_eq!(rows[3][4], "t-0");
        assert!(rows[3][5].starts_with("20"), "a start time: {listed}");
        let described = run(&["transactions", "describe", file, "c"], None).ok();
        let words = |line: Option<&str>| -> Vec<String> {
            line.expect("a row")
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            words(described.lines().nth(1)),
            words(listed.lines().nth(3))
        );
        let json: Value = serde_json::from_str(
            &run(&["transactions", "describe", file, "c", "--json"], None).ok(),
        )
        .expect("json");
        assert_eq!(json["state"], "Ongoing");
        assert_eq!(json["partitions"][0]["topic"], "t");
        assert!(json["started_ms"].is_i64());
        let all: Value =
            serde_json::from_str(&run(&["transactions", "list", file, "--json"], None).ok())
                .expect("json");
        assert_eq!(all.as_array().map(Vec::len), Some(3));
        assert_eq!(all[0]["started"], Value::Null);
        run(&["transactions", "describe", file, "nope"], None)
            .fails(1, "transactional id \"nope\" does not exist");
    });
    let empty = file_with_topic(dir.path(), "empty.brooklet", "t", 1);
    assert_eq!(run(&["transactions", "list", p(&empty)], None).ok(), "");
}

#[test]
fn dump_shows_producers_and_markers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = with_transactions(dir.path(), |_, _| {});
    let file = p(&path);
    run(&["produce", file, "t", "--idempotent"], Some(b"idem\n")).ok();
    let dumped: Value =
        serde_json::from_str(&run(&["dump", file, "--json"], None).ok()).expect("json");
    let first = dumped["segments"][0]["first_page"].as_u64().expect("page");
    let page = run(&["dump", file, "--page", &first.to_string()], None).ok();
    let batches: Vec<&str> = page
        .lines()
        .filter(|l| l.trim_start().starts_with("batch at byte"))
        .collect();
    assert_eq!(batches.len(), 9, "{page}");
    assert!(!batches[0].contains("producer"), "a plain batch: {page}");
    assert!(batches[1].ends_with("sequence 0, transactional"), "{page}");
    assert!(
        batches[2].contains("sequence -1, transactional, COMMIT marker"),
        "{page}"
    );
    assert!(
        batches[5].ends_with("transactional, ABORT marker"),
        "{page}"
    );
    assert!(
        batches[7].ends_with("transactional, COMMIT marker"),
        "{page}"
    );
    assert!(
        batches[8].contains("epoch 0 sequence 0"),
        "idempotent: {page}"
    );
    assert!(!batches[8].contains("transactional"), "{page}");
    let json: Value = serde_json::from_str(
        &run(
            &["dump", file, "--page", &first.to_string(), "--json"],
            None,
        )
        .ok(),
    )
    .expect("json");
    let listed = &json["kind"]["batches_starting_here"];
    assert_eq!(listed[5]["marker"], "ABORT marker");
    assert_eq!(listed[5]["transactional"], true);
}

#[test]
fn export_writes_a_txnindex_for_aborted_transactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, b_id) = with_transactions(dir.path(), |_, _| {});
    let out = dir.path().join("kafka");
    let exported = run(
        &[
            "export",
            p(&path),
            "t",
            "--format",
            "kafka-segment",
            "--out",
            p(&out),
        ],
        None,
    );
    exported.ok();
    assert!(
        exported.stderr.contains("1 transaction index"),
        "{exported:?}"
    );
    let index = std::fs::read(out.join("t-0").join(format!("{:020}.txnindex", 0))).expect("read");
    let mut want = Vec::new();
    want.extend_from_slice(&0_i16.to_be_bytes());
    want.extend_from_slice(&b_id.to_be_bytes());
    // First offset 3, marker 5, and the last stable offset after the marker: 4, where
    // `c`'s transaction was open.
    for offset in [3_i64, 5, 4] {
        want.extend_from_slice(&offset.to_be_bytes());
    }
    assert_eq!(index, want);
    // A partition without aborted transactions gets no index, as in Kafka.
    let plain = file_with_topic(dir.path(), "plain.brooklet", "t", 1);
    run(&["produce", p(&plain), "t"], Some(b"x\n")).ok();
    let plain_out = dir.path().join("plain");
    run(
        &[
            "export",
            p(&plain),
            "t",
            "--format",
            "kafka-segment",
            "--out",
            p(&plain_out),
        ],
        None,
    )
    .ok();
    let names: Vec<String> = std::fs::read_dir(plain_out.join("t-0"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [format!("{:020}.log", 0)]);
}

#[test]
fn produce_commits_transactions_and_prints_acks_after_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    let args = ["produce", file, "t", "--transactional-id", "w", "--acks"];
    let first = run(&args, Some(b"a\nb\nc\n"));
    assert_eq!(first.ok(), "0 0\n0 1\n0 2\n");
    let epoch = |file: &str| {
        let json: Value = serde_json::from_str(
            &run(&["transactions", "describe", file, "w", "--json"], None).ok(),
        )
        .expect("json");
        assert_eq!(json["state"], "CompleteCommit");
        json["producer_epoch"].as_i64().expect("epoch")
    };
    assert_eq!(epoch(file), 0);
    // The COMMIT marker took offset 3; a new instance of the id gets a higher epoch.
    assert_eq!(run(&args, Some(b"d\n")).ok(), "0 4\n");
    assert_eq!(epoch(file), 1);
    assert_eq!(consumed(file, &[]), ["a", "b", "c", "d"]);
    run(
        &["produce", file, "t", "--transactional-id", ""],
        Some(b"x\n"),
    )
    .fails(1, "transactional id needs 1 to");
    run(
        &[
            "produce",
            file,
            "t",
            "--transactional-id",
            "w",
            "--idempotent",
        ],
        Some(b"x\n"),
    )
    .fails(2, "cannot be used with");
}

#[test]
fn a_fenced_produce_fails_with_the_fencing_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    let mut child = Command::new(bin())
        .args(["produce", file, "t", "--transactional-id", "f", "--acks"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn brooklet");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"first\n").expect("write");
    stdin.flush().expect("flush");
    let db = Brooklet::open_with(&path, Options::default()).expect("open");
    wait_until(Duration::from_secs(20), "the first transaction", || {
        db.last_stable_offset("t", 0).expect("lso") == 2
    });
    // A second instance of the id fences the CLI's.
    let _newer = db.transactional_producer("f").expect("fence");
    stdin.write_all(b"second\n").expect("write");
    drop(stdin);
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "0 0\n");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("brooklet: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("line 2: fenced: transactional id \"f\" was taken over"),
        "{stderr}"
    );
    assert_eq!(
        consumed(file, &["--isolation", "read-uncommitted"]),
        ["first"]
    );
}
