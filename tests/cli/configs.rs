//! Topic configs on the command line: `topic create` and `topic alter` refuse every value a
//! key does not allow with one line naming the key and its allowed values, and leave the
//! file as it was.

use std::fmt::Write as _;

use crate::support::cli::{file_with_topic, p, run};
use serde_json::Value;

/// Configs refused, each with the key the error must name and words of its allowed values.
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "cleanup.policy=compact,compact",
        "cleanup.policy",
        "each once",
    ),
    (
        "cleanup.policy=delete,compact,delete",
        "cleanup.policy",
        "each once",
    ),
    ("cleanup.policy=compact,", "cleanup.policy", "each once"),
    ("cleanup.policy=", "cleanup.policy", "each once"),
    ("segment.bytes=0", "segment.bytes", "65536 to 2147483647"),
    ("segment.bytes=-5", "segment.bytes", "65536 to 2147483647"),
    (
        "segment.bytes=65535",
        "segment.bytes",
        "65536 to 2147483647",
    ),
    (
        "segment.bytes=2147483648",
        "segment.bytes",
        "65536 to 2147483647",
    ),
    (
        "retention.ms=-2",
        "retention.ms",
        "-1 (keep forever) or 0 to",
    ),
    (
        "retention.ms=9223372036854775808",
        "retention.ms",
        "-1 (keep forever) or 0 to",
    ),
    (
        "retention.bytes=-7",
        "retention.bytes",
        "-1 (no limit) or 0 to",
    ),
    (
        "delete.retention.ms=-1",
        "delete.retention.ms",
        "0 to 9223372036854775807",
    ),
    (
        "min.compaction.lag.ms=-1",
        "min.compaction.lag.ms",
        "0 to 9223372036854775807",
    ),
    (
        "min.cleanable.dirty.ratio=1.5",
        "min.cleanable.dirty.ratio",
        "a number from 0 to 1",
    ),
    (
        "min.cleanable.dirty.ratio=-0.1",
        "min.cleanable.dirty.ratio",
        "a number from 0 to 1",
    ),
    (
        "min.cleanable.dirty.ratio=NaN",
        "min.cleanable.dirty.ratio",
        "a number from 0 to 1",
    ),
    ("max.message.bytes=0", "max.message.bytes", "64 to 1048588"),
    (
        "max.message.bytes=1048589",
        "max.message.bytes",
        "64 to 1048588",
    ),
    (
        "message.timestamp.type=createtime",
        "message.timestamp.type",
        "CreateTime or LogAppendTime",
    ),
    (
        "compression.type=brotli",
        "compression.type",
        "producer, uncompressed, gzip, snappy, lz4 or zstd",
    ),
    (
        "compression.type=none",
        "compression.type",
        "producer, uncompressed, gzip, snappy, lz4 or zstd",
    ),
    ("no.such.key=1", "no.such.key", "known: retention.ms"),
];

fn config_of(file: &str, topic: &str) -> Value {
    let text = run(&["topic", "describe", file, topic, "--json"], None).ok();
    serde_json::from_str::<Value>(&text).expect("json")["config"].clone()
}

#[test]
fn topic_create_refuses_bad_configs_with_one_line_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    let before = std::fs::read(&path).expect("read");
    let mut cases: Vec<(Vec<&str>, &str, &str)> = REFUSED
        .iter()
        .map(|&(pair, key, allowed)| {
            (
                vec!["topic", "create", file, "x", "--config", pair],
                key,
                allowed,
            )
        })
        .collect();
    cases.push((
        vec!["topic", "create", file, "x", "--cleanup", "compact,compact"],
        "cleanup.policy",
        "each once",
    ));
    cases.push((
        vec!["topic", "create", file, "x", "--retention-bytes", "-2"],
        "retention.bytes",
        "-1 (no limit)",
    ));
    cases.push((
        vec![
            "topic",
            "create",
            file,
            "x",
            "--config",
            "retention.ms=1",
            "--config",
            "retention.ms=2",
        ],
        "retention.ms",
        "given twice",
    ));
    for (args, key, allowed) in cases {
        let refused = run(&args, None);
        refused.fails(2, key);
        assert!(refused.stderr.contains(allowed), "{allowed}: {refused:?}");
        assert_eq!(std::fs::read(&path).expect("read"), before, "{args:?}");
    }
    assert_eq!(run(&["topic", "list", file], None).ok(), "t\n");
    // A dedicated flag still overrides the same key given with --config.
    let args = [
        "topic",
        "create",
        file,
        "x",
        "--config",
        "retention.ms=5",
        "--retention-ms",
        "7",
    ];
    run(&args, None).ok();
    assert_eq!(config_of(file, "x")["retention.ms"], "7");
}

#[test]
fn topic_alter_refuses_bad_configs_with_one_line_and_leaves_the_topic_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    let config_before = config_of(file, "t");
    let before = std::fs::read(&path).expect("read");
    let mut cases: Vec<(Vec<&str>, &str, &str)> = REFUSED
        .iter()
        .map(|&(pair, key, allowed)| {
            (
                vec!["topic", "alter", file, "t", "--config", pair],
                key,
                allowed,
            )
        })
        .collect();
    cases.push((
        vec![
            "topic",
            "alter",
            file,
            "t",
            "--config",
            "cleanup.policy=compact",
            "--config",
            "cleanup.policy=delete",
        ],
        "cleanup.policy",
        "given twice",
    ));
    // A good value does not carry a bad one through.
    cases.push((
        vec![
            "topic",
            "alter",
            file,
            "t",
            "--config",
            "retention.ms=1000",
            "--config",
            "segment.bytes=1",
        ],
        "segment.bytes",
        "65536 to 2147483647",
    ));
    for (args, key, allowed) in cases {
        let refused = run(&args, None);
        refused.fails(2, key);
        assert!(refused.stderr.contains(allowed), "{allowed}: {refused:?}");
        assert_eq!(std::fs::read(&path).expect("read"), before, "{args:?}");
    }
    assert_eq!(config_of(file, "t"), config_before);
}

#[test]
fn topic_create_help_lists_every_key_with_its_allowed_values() {
    let help = run(&["topic", "create", "--help"], None).ok();
    for needle in [
        "cleanup.policy",
        "delete, compact, or compact,delete",
        "segment.bytes",
        "65536 to 2147483647",
        "segment.bytes is at least 65536",
        "retention.ms",
        "-1 (keep forever)",
        "retention.bytes",
        "delete.retention.ms",
        "min.compaction.lag.ms",
        "min.cleanable.dirty.ratio",
        "a number from 0 to 1",
        "max.message.bytes",
        "64 to 1048588",
        "message.timestamp.type",
        "CreateTime or LogAppendTime",
        "compression.type",
        "producer, uncompressed, gzip, snappy, lz4 or zstd",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}

#[test]
fn topic_alter_takes_the_flags_topic_create_takes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    run(
        &[
            "topic",
            "alter",
            file,
            "t",
            "--retention-ms",
            "86400000",
            "--retention-bytes",
            "-1",
            "--cleanup",
            "compact,delete",
            "--config",
            "max.message.bytes=2000",
        ],
        None,
    )
    .ok();
    let config = config_of(file, "t");
    assert_eq!(config["retention.ms"], "86400000", "{config}");
    assert_eq!(config["retention.bytes"], "-1", "{config}");
    assert_eq!(config["max.message.bytes"], "2000", "{config}");
    assert!(
        config["cleanup.policy"]
            .as_str()
            .is_some_and(|p| p.contains("compact") && p.contains("delete")),
        "{config}"
    );
    // A flag overrides the same key given with --config, as in `topic create`.
    run(
        &[
            "topic",
            "alter",
            file,
            "t",
            "--config",
            "retention.ms=5",
            "--retention-ms",
            "7",
        ],
        None,
    )
    .ok();
    assert_eq!(config_of(file, "t")["retention.ms"], "7");
    // Naming nothing to change is a usage error, and changes nothing.
    let before = std::fs::read(&path).expect("read");
    run(&["topic", "alter", file, "t"], None).fails(2, "at least one config");
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

/// Partition 0 of `topic` as `topic describe --json` reports it.
fn partition_of(file: &str, topic: &str) -> Value {
    let text = run(&["topic", "describe", file, topic, "--json"], None).ok();
    serde_json::from_str::<Value>(&text).expect("json")["partitions"][0].clone()
}

#[test]
fn compacted_topics_compact_themselves_across_cli_runs_and_describe_says_what_is_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("auto.brooklet");
    let file = p(&path);
    run(&["init", file], None).ok();
    for (topic, ratio) in [("auto", "0.5"), ("never", "1")] {
        let ratio = format!("min.cleanable.dirty.ratio={ratio}");
        let args = [
            "topic",
            "create",
            file,
            topic,
            "--cleanup",
            "compact",
            "--config",
            "segment.bytes=65536",
            "--config",
            &ratio,
        ];
        run(&args, None).ok();
    }
    // 50 keys, 12000 updates, in four processes; nobody runs `compact`.
    for part in 0..4u32 {
        let mut lines = String::new();
        for n in part * 3000..(part + 1) * 3000 {
            let key = n % 50;
            writeln!(
                lines,
                "key-{key}:value of update {n:06}, padded to a realistic size"
            )
            .expect("write to String");
        }
        for topic in ["auto", "never"] {
            // At most 100 records a commit, so that no batch outgrows a segment.
            let args = [
                "produce",
                file,
                topic,
                "--key-separator",
                ":",
                "--batch",
                "100",
            ];
            run(&args, Some(lines.as_bytes())).ok();
        }
    }
    let auto = partition_of(file, "auto");
    let never = partition_of(file, "never");
    assert_eq!(auto["end_offset"], 12_000);
    assert_eq!(never["end_offset"], 12_000);
    let auto_bytes = auto["bytes"].as_u64().expect("bytes");
    let never_bytes = never["bytes"].as_u64().expect("bytes");
    assert!(auto_bytes <= 2 * 65_536, "{auto}");
    assert!(auto_bytes * 10 < never_bytes, "{auto} vs {never}");
    // The records left: every key's last update, and few others besides.
    let consumed = run(
        &[
            "consume",
            file,
            "auto",
            "--from-beginning",
            "--format",
            "json",
        ],
        None,
    )
    .ok();
    let records: Vec<Value> = consumed
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert!(
        records.len() < 12_000 / 10,
        "{} records left",
        records.len()
    );
    let mut latest = std::collections::BTreeMap::new();
    for record in &records {
        latest.insert(record["key"].to_string(), record["value"].to_string());
    }
    assert_eq!(latest.len(), 50);
    assert!(
        latest.values().any(|v| v.contains("update 011999")),
        "{latest:?}"
    );
    run(&["check", file], None).ok();
}
