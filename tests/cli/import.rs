//! `brooklet import` cuts its input into commits as `produce` does: whatever is already
//! read goes into one commit, whichever partitions its records are bound for.

use std::path::Path;

use crate::support::cli::{file_with_topic, p, run};
use serde_json::Value;

/// The txn id of the file's last commit, as `info --json` shows it.
fn last_txn(file: &str) -> u64 {
    let info: Value =
        serde_json::from_str(&run(&["info", file, "--json"], None).ok()).expect("json");
    info["txn"].as_u64().expect("txn")
}

/// `count` records alternating between partitions 0 and 1, as JSON lines in a file.
fn alternating(dir: &Path, name: &str, count: usize, prefix: &str) -> String {
    let lines: Vec<String> = (0..count)
        .map(|i| format!(r#"{{"partition":{},"value":"{prefix}{i}"}}"#, i % 2))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n")).expect("write");
    p(&path).to_owned()
}

/// The values of one partition, checking that offsets run from `first` without a gap.
fn values_of(file: &str, partition: u32) -> Vec<String> {
    let number = partition.to_string();
    let args = [
        "consume",
        file,
        "t",
        "--partition",
        &number,
        "--format",
        "json",
    ];
    let text = run(&args, None).ok();
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let record: Value = serde_json::from_str(line).expect("json");
            assert_eq!(record["offset"].as_u64(), Some(i as u64), "{line}");
            record["value"].as_str().expect("value").to_owned()
        })
        .collect()
}

#[test]
fn import_commits_records_of_alternating_partitions_together_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 2);
    let file = p(&path);
    let count = 10_000;

    // Default options: up to 10000 records per commit.
    let input = alternating(dir.path(), "a.jsonl", count, "a");
    let before = last_txn(file);
    let imported = run(
        &["import", file, "t", "--format", "jsonl", "--in", &input],
        None,
    );
    imported.ok();
    let commits = last_txn(file) - before;
    assert!(
        (1..=100).contains(&commits),
        "{count} records in {commits} commits"
    );
    let summary = format!("imported {count} records into t in {commits} commit");
    assert!(
        imported.stderr.contains(&summary),
        "{summary}: {imported:?}"
    );

    // --batch caps a commit, and --durability is taken as produce takes it.
    let input = alternating(dir.path(), "b.jsonl", count, "b");
    let before = last_txn(file);
    let args = [
        "import",
        file,
        "t",
        "--format",
        "jsonl",
        "--in",
        &input,
        "--batch",
        "1000",
        "--durability",
        "none",
    ];
    run(&args, None).ok();
    let commits = last_txn(file) - before;
    assert!(
        (10..=100).contains(&commits),
        "{count} records in batches of at most 1000: {commits} commits"
    );

    for partition in 0..2u32 {
        let expected: Vec<String> = ["a", "b"]
            .iter()
            .flat_map(|prefix| {
                (0..count)
                    .filter(move |i| i % 2 == partition as usize)
                    .map(move |i| format!("{prefix}{i}"))
            })
            .collect();
        assert_eq!(
            values_of(file, partition),
            expected,
            "partition {partition}"
        );
    }
}

#[test]
fn import_keeps_the_lines_before_a_bad_one_when_they_share_a_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 2);
    let file = p(&path);
    let input = concat!(
        "{\"partition\":0,\"value\":\"a\"}\n",
        "{\"partition\":1,\"value\":\"b\"}\n",
        "{\"partition\":0,\"value\":\"c\"}\n",
        "{\"partition\":7,\"value\":\"d\"}\n",
        "{\"partition\":1,\"value\":\"e\"}\n",
    );
    let before = last_txn(file);
    let failed = run(
        &["import", file, "t", "--format", "jsonl", "--batch", "100"],
        Some(input.as_bytes()),
    );
    failed.fails(
        1,
        "line 4: partition 7 does not exist (the topic has 2 partitions)",
    );
    assert!(
        failed
            .stderr
            .contains("imported 3 records into t in 1 commit\n"),
        "{failed:?}"
    );
    assert_eq!(last_txn(file) - before, 1);
    assert_eq!(values_of(file, 0), ["a", "c"]);
    assert_eq!(values_of(file, 1), ["b"]);
}
