//! Topic configs on the command line: `topic create` and `topic alter` refuse every value a
//! key does not allow with one line naming the key and its allowed values, and leave the
//! file as it was.

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
