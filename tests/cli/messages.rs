//! What an operator reads: counts agree with their nouns ("1 record", "2 records"), and
//! messages hold no stray runs of spaces.

use crate::support::cli::{Run, file_with_topic, p, run};

/// Nouns that must not follow a count of exactly one in their plural.
const PLURALS: [&str; 10] = [
    "records",
    "commits",
    "partitions",
    "segment files",
    "segments",
    "pages",
    "bytes",
    "topics",
    "entries",
    "files",
];

/// Asserts that no "1 <plural>" appears in `text` (as a whole number: "21 records" is fine).
#[track_caller]
fn assert_singular_after_one(text: &str) {
    for noun in PLURALS {
        let wrong = format!("1 {noun}");
        for (at, _) in text.match_indices(&wrong) {
            let before = text[..at].chars().next_back();
            assert!(
                before.is_some_and(|c| c.is_ascii_digit()),
                "{wrong:?} in {text:?}"
            );
        }
    }
}

#[track_caller]
fn assert_tidy(run: &Run) {
    assert_singular_after_one(&run.stderr);
    assert_singular_after_one(&String::from_utf8_lossy(&run.stdout));
    assert!(!run.stderr.contains("  "), "a run of spaces: {run:?}");
}

#[test]
fn counts_of_one_are_singular() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);

    let produced = run(&["produce", file, "t"], Some(b"one\n"));
    produced.ok();
    assert_tidy(&produced);
    assert!(
        produced
            .stderr
            .contains("produced 1 record to t in 1 commit\n"),
        "{produced:?}"
    );

    let imported = run(
        &["import", file, "t", "--format", "jsonl"],
        Some(b"{\"value\":\"two\"}\n"),
    );
    imported.ok();
    assert_tidy(&imported);
    assert!(
        imported
            .stderr
            .contains("imported 1 record into t in 1 commit\n"),
        "{imported:?}"
    );

    let other = file_with_topic(dir.path(), "u.brooklet", "t", 1);
    run(&["produce", p(&other), "t"], Some(b"only\n")).ok();
    let exported = run(&["export", p(&other), "t", "--format", "jsonl"], None);
    exported.ok();
    assert_tidy(&exported);
    assert!(
        exported.stderr.contains("exported 1 record of t to stdout"),
        "{exported:?}"
    );
    let out = dir.path().join("kafka");
    let segments = run(
        &[
            "export",
            p(&other),
            "t",
            "--format",
            "kafka-segment",
            "--out",
            p(&out),
        ],
        None,
    );
    segments.ok();
    assert_tidy(&segments);
    assert!(
        segments
            .stderr
            .contains("exported 1 partition of t as 1 segment file ("),
        "{segments:?}"
    );

    for args in [
        vec!["produce", file, "t", "--partition", "3"],
        vec!["consume", file, "t", "--partition", "3"],
    ] {
        let refused = run(&args, Some(b"x\n"));
        refused.fails(1, "topic \"t\" has 1 partition; partition 3 does not exist");
        assert_tidy(&refused);
    }

    // One topic: the topics tree holds one entry.
    let dumped = run(&["dump", file], None);
    let text = dumped.ok();
    assert!(text.contains("log.topics: 1 entry\n"), "{text}");
    assert_tidy(&dumped);
}

#[test]
fn the_compaction_key_error_is_one_tidy_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.brooklet");
    let file = p(&path);
    run(&["init", file], None).ok();
    run(
        &["topic", "create", file, "t", "--cleanup", "compact"],
        None,
    )
    .ok();
    let refused = run(&["produce", file, "t"], Some(b"no key here\n"));
    refused.fails(
        1,
        "line 1: topic t is compacted (cleanup.policy=compact), so every record needs a key; \
         record 0 of the batch has none",
    );
    assert_tidy(&refused);
}
