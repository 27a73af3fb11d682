//! `brooklet topic delete-records`: moves a partition's beginning offset, prints one line,
//! and refuses bad input with exit 2, leaving the file unchanged.

use crate::support::cli::{file_with_topic, p, run};
use serde_json::Value;

/// The beginning and end offsets of every partition of `topic`, from `topic describe`.
fn offsets(file: &str, topic: &str) -> Vec<(u64, u64)> {
    let out = run(&["topic", "describe", file, topic, "--json"], None).ok();
    let value: Value = serde_json::from_str(&out).expect("json");
    value["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            (
                p["beginning_offset"].as_u64().expect("beginning"),
                p["end_offset"].as_u64().expect("end"),
            )
        })
        .collect()
}

#[test]
fn delete_records_moves_the_beginning_and_consumers_start_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "d.brooklet", "t", 2);
    let file = p(&path);
    let input = (0..100)
        .map(|i| format!("0:value {i}\n"))
        .collect::<Vec<_>>()
        .concat();
    run(
        &[
            "produce",
            file,
            "t",
            "--key-separator",
            ":",
            "--partition",
            "0",
        ],
        Some(input.as_bytes()),
    )
    .ok();
    let out = run(
        &[
            "topic",
            "delete-records",
            file,
            "t",
            "--partition",
            "0",
            "--before",
            "42",
        ],
        None,
    )
    .ok();
    assert_eq!(out, "t 0 42\n");
    assert_eq!(offsets(file, "t"), [(42, 100), (0, 0)]);
    let consumed = run(&["consume", file, "t", "--partition", "0"], None).ok();
    let lines: Vec<&str> = consumed.lines().collect();
    assert_eq!(lines.len(), 58, "{consumed}");
    assert!(lines[0].contains("value 42"), "{consumed}");
    let exported = run(&["export", file, "t", "--format", "jsonl"], None).ok();
    assert_eq!(exported.lines().count(), 58);
    // Backwards changes nothing and prints the beginning offset.
    let args = ["topic", "delete-records", file, "t", "--partition", "0"];
    let back = [&args[..], &["--before", "7"]].concat();
    assert_eq!(run(&back, None).ok(), "t 0 42\n");
    let end = [&args[..], &["--before", "end"]].concat();
    assert_eq!(run(&end, None).ok(), "t 0 100\n");
    assert_eq!(offsets(file, "t"), [(100, 100), (0, 0)]);
    run(&["check", file], None).ok();
}

#[test]
fn delete_records_refuses_bad_input_with_exit_2_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "d.brooklet", "t", 1);
    let file = p(&path);
    run(&["produce", file, "t"], Some(b"a\nb\nc\n")).ok();
    let before = std::fs::read(&path).expect("read");
    let base = ["topic", "delete-records", file, "t"];
    for (extra, needle) in [
        (&["--partition", "0", "--before", "4"][..], "out of range"),
        (&["--partition", "3", "--before", "1"][..], "partition 3"),
        (&["--partition", "0", "--before=-1"][..], "non-negative"),
        (&["--partition", "0", "--before", "x"][..], "or `end`"),
        (&["--partition", "0"][..], "--before"),
    ] {
        let args = [&base[..], extra].concat();
        run(&args, None).fails(2, needle);
        assert_eq!(std::fs::read(&path).expect("read"), before, "{args:?}");
    }
    let help = run(&["topic", "delete-records", "--help"], None).ok();
    assert!(help.contains("brooklet topic delete-records events.brooklet orders"));
}
