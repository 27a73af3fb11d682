//! The `brooklet` command-line tool on bad input: unknown files, files that are not
//! brooklet's, corrupt files, missing topics, bad values and bad command lines. Each gets
//! one clear error line and an exit code, never a panic, and never a changed file.

use std::time::Duration;

use crate::support::cli::{
    commands_on, describe_group, file_with_topic, finish, group_json, p, run, run_owned, spawn,
    wait_until,
};

#[test]
fn an_unknown_file_is_an_error_and_is_not_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.brooklet");
    for args in commands_on(p(&missing)) {
        run_owned(&args, None).fails(1, "no such file");
        assert!(!missing.exists(), "{args:?} created the file");
    }
}

#[test]
fn files_that_are_not_brooklets_are_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "just some text\nnot a database\n").expect("write");
    let zeros = dir.path().join("zeros.bin");
    std::fs::write(&zeros, vec![0u8; 3 * 4096]).expect("write");
    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").expect("write");
    for (path, needle) in [
        (&text, "is not a brooklet file"),
        (&zeros, "is not a brooklet file"),
        (&empty, "is empty"),
    ] {
        let before = std::fs::read(path).expect("read");
        for args in commands_on(p(path)) {
            run_owned(&args, Some(b"a record\n")).fails(1, needle);
            assert_eq!(std::fs::read(path).expect("read"), before, "{args:?}");
        }
    }
    let before = std::fs::read(&text).expect("read");
    run(&["init", p(&text)], None).fails(1, "refusing to overwrite");
    run(&["demo", p(&text)], None).fails(1, "exists");
    assert_eq!(std::fs::read(&text).expect("read"), before);
    run(&["check", p(dir.path())], None).fails(1, "is a directory");
}

/// A small file with records in several partitions and pages.
fn populated(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("c.brooklet");
    run(&["init", p(&path), "--page-size", "1024"], None).ok();
    run(
        &["topic", "create", p(&path), "t", "--partitions", "2"],
        None,
    )
    .ok();
    let input = (0..400)
        .map(|i| format!("k{}:value {i}\n", i % 5))
        .collect::<Vec<_>>()
        .concat();
    run(
        &["produce", p(&path), "t", "--key-separator", ":"],
        Some(input.as_bytes()),
    )
    .ok();
    run(&["topic", "create", p(&path), "u"], None).ok();
    run(&["produce", p(&path), "u"], Some(b"x\ny\n")).ok();
    path
}

#[test]
fn a_corrupt_file_gives_one_line_errors_or_a_problem_list_never_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = populated(dir.path());
    let original = std::fs::read(&good).expect("read");
    let page_size = 1024;
    let page_count = original.len() / page_size;
    let damaged = dir.path().join("damaged.brooklet");
    let mut check_failures = 0;
    for page in 0..page_count {
        let mut bytes = original.clone();
        for at in [40, 300, 900].map(|at| page * page_size + at) {
            bytes[at] ^= 0x5a;
        }
        std::fs::write(&damaged, &bytes).expect("write");
        let file = p(&damaged);
        let check = run(&["check", file], None);
        if check.code == 0 {
            assert!(check.stdout_text().starts_with("ok: "));
        } else if check.code == 3 {
            // Healthy after a rollback (the damage hit the newest commit): said on stdout
            // and stderr, never silently.
            let listed = check.stdout_text();
            assert!(listed.starts_with("ok: "), "{check:?}");
            assert!(listed.contains("\nrolled back: "), "{check:?}");
            assert!(
                check.stderr.contains("healthy after rolling back"),
                "{check:?}"
            );
        } else {
            check.fails(1, "");
            check_failures += 1;
            let listed = check.stdout_text();
            assert!(
                listed.is_empty() || listed.lines().all(|l| l.starts_with("problem: ")),
                "{listed}"
            );
        }
        for args in [
            vec!["consume", file, "t"],
            vec!["info", file],
            vec!["topic", "describe", file, "t"],
            vec!["export", file, "t", "--format", "jsonl"],
            vec!["dump", file],
            // Last: it writes to the file.
            vec!["vacuum", file],
        ] {
            let out = run(&args, None);
            if out.code != 0 {
                out.fails(1, "");
            }
        }
    }
    // Many pages are free, preallocated past the last page, or unused tails of segments,
    // where a flip changes nothing.
    assert!(
        check_failures >= 5,
        "check found damage in {check_failures} of {page_count} pages"
    );
    // A damaged data page: check names the problem; consume and export fail in one line.
    let mut bytes = original.clone();
    let dump = run(&["dump", p(&good), "--json"], None).ok();
    let dump: serde_json::Value = serde_json::from_str(&dump).expect("json");
    let first = dump["segments"][0]["first_page"].as_u64().expect("page") as usize;
    bytes[first * page_size + 30] ^= 0xff;
    std::fs::write(&damaged, &bytes).expect("write");
    let check = run(&["check", p(&damaged)], None);
    check.fails(1, "problem");
    assert!(
        check.stdout_text().contains("CRC-32C mismatch"),
        "{check:?}"
    );
    run(
        &[
            "export",
            p(&damaged),
            "t",
            "--format",
            "kafka-segment",
            "--out",
            p(&dir.path().join("out")),
        ],
        None,
    )
    .fails(1, "CRC-32C mismatch");
}

#[test]
fn a_missing_topic_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "present", 1);
    let file = p(&path);
    for args in [
        vec!["topic", "describe", file, "absent"],
        vec!["topic", "delete", file, "absent"],
        vec![
            "topic",
            "alter",
            file,
            "absent",
            "--config",
            "retention.ms=1",
        ],
        vec!["produce", file, "absent"],
        vec!["consume", file, "absent"],
        vec!["consume", file, "absent", "--group", "g"],
        vec!["export", file, "absent", "--format", "jsonl"],
        vec!["import", file, "absent", "--format", "jsonl"],
    ] {
        run(&args, Some(b"x\n")).fails(1, "topic \"absent\" does not exist");
    }
}

#[test]
fn bad_config_values_are_usage_errors_that_leave_the_file_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    let before = std::fs::read(&path).expect("read");
    for (args, needle) in [
        (
            vec!["topic", "create", file, "x", "--retention-ms", "soon"],
            "retention.ms must be",
        ),
        (
            vec!["topic", "create", file, "x", "--cleanup", "shred"],
            "cleanup.policy must be",
        ),
        (
            vec!["topic", "create", file, "x", "--config", "no.such=1"],
            "unknown topic config",
        ),
        (
            vec!["topic", "create", file, "x", "--config", "noequals"],
            "expected key=value",
        ),
        (vec!["topic", "create", file, "bad name"], "topic name"),
        (
            vec!["topic", "create", file, "x", "--partitions", "0"],
            "--partitions",
        ),
        (
            vec!["topic", "alter", file, "t", "--config", "segment.bytes=10"],
            "segment.bytes must be 65536 to 2147483647",
        ),
        (vec!["topic", "alter", file, "t"], "--config"),
    ] {
        run(&args, None).fails(2, needle);
        assert_eq!(std::fs::read(&path).expect("read"), before, "{args:?}");
    }
}

#[test]
fn bad_command_lines_are_one_line_usage_errors() {
    for (args, needle) in [
        (vec!["frobnicate"], "unrecognized subcommand"),
        (vec!["consume"], "required arguments"),
        (vec!["consume", "f", "t", "--bogus"], "--bogus"),
        (
            vec!["consume", "f", "t", "--offset", "1", "--since", "0"],
            "cannot be used with",
        ),
        (vec!["consume", "f", "t", "--format", "xml"], "xml"),
        (vec!["init", "f", "--page-size", "1000"], "power of two"),
        (
            vec!["produce", "f", "t", "--durability", "always"],
            "always",
        ),
        (vec!["export", "f", "t"], "--format"),
        (
            vec!["consume", "f", "t", "--group", "g", "--partition", "1"],
            "--partition cannot be used with --group",
        ),
        (
            vec!["consume", "f", "t", "--group", "g", "--offset", "3"],
            "--offset cannot be used with --group",
        ),
        (
            vec!["consume", "f", "t", "--group", "g", "--since", "0"],
            "--since cannot be used with --group",
        ),
        (
            vec!["consume", "f", "t", "--group", "bad group"],
            "group id",
        ),
        (
            vec!["consume", "f", "t", "--session-timeout-ms", "5000"],
            "--group",
        ),
        (
            vec![
                "consume",
                "f",
                "t",
                "--group",
                "g",
                "--session-timeout-ms",
                "5",
            ],
            "--session-timeout-ms",
        ),
        (vec!["group", "reset", "f", "g"], "--to"),
        (
            vec!["group", "reset", "f", "g", "--to", "soon"],
            "earliest, latest",
        ),
        (vec!["group", "reset", "f", "g", "--to", "-3"], "'-3'"),
        (vec!["group", "describe", "f"], "required arguments"),
        (vec!["group", "rename", "f", "g"], "unrecognized subcommand"),
    ] {
        run(&args, None).fails(2, needle);
    }
}

#[test]
fn a_record_too_large_is_refused_with_its_line_and_the_lines_before_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    run(
        &[
            "topic",
            "alter",
            file,
            "t",
            "--config",
            "max.message.bytes=1000",
        ],
        None,
    )
    .ok();
    let input = format!("small\n{}\nafter\n", "x".repeat(5000));
    let out = run(&["produce", file, "t", "--acks"], Some(input.as_bytes()));
    out.fails(1, "line 2:");
    assert_eq!(out.stdout_text(), "0 0\n");
    assert_eq!(run(&["consume", file, "t"], None).ok(), "small\n");
}

#[test]
fn a_group_with_a_live_member_cannot_be_reset_or_deleted_until_the_member_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 2);
    let file = p(&path);
    run(&["produce", file, "t"], Some(b"a\nb\n")).ok();
    let mut member = spawn(&[
        "consume",
        file,
        "t",
        "--group",
        "g",
        "--follow",
        "--timeout-ms",
        "60000",
        "--session-timeout-ms",
        "1000",
    ]);
    let pid = u64::from(member.id());
    wait_until(Duration::from_secs(20), "a live member", || {
        group_json(file, "g").is_some_and(|group| {
            group["members"]
                .as_array()
                .is_some_and(|m| m.len() == 1 && m[0]["live"] == true && m[0]["pid"] == pid)
        })
    });
    let group = describe_group(file, "g");
    let id = group["members"][0]["id"].as_str().expect("id").to_owned();
    assert!(
        group["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .all(|p| p["owner"] == id.as_str()),
        "{group}"
    );
    for args in [
        vec!["group", "reset", file, "g", "--to", "earliest"],
        vec![
            "group", "reset", file, "g", "--to", "earliest", "--topic", "t",
        ],
        vec!["group", "delete", file, "g"],
    ] {
        run(&args, None).fails(1, "1 live member(s); stop them first");
    }
    // A killed member is not closed: it stays until its session timeout passes.
    member.kill().expect("kill");
    let killed = finish_killed(member);
    assert!(killed.is_empty(), "{killed}");
    wait_until(Duration::from_secs(20), "the member to expire", || {
        describe_group(file, "g")["members"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["live"] == false))
    });
    let out = run(
        &[
            "group", "reset", file, "g", "--to", "earliest", "--topic", "t",
        ],
        None,
    );
    assert_eq!(out.ok(), "t 0 0\nt 1 0\n");
    run(&["group", "delete", file, "g"], None).ok();
    assert_eq!(run(&["group", "list", file], None).ok(), "");
    run(&["check", file], None).ok();
}

/// Waits for a killed run; returns its stdout.
fn finish_killed(child: std::process::Child) -> String {
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.code().is_none(), "killed: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_group_member_ends_with_an_error_line_when_its_topic_goes_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    let member = spawn(&[
        "consume",
        file,
        "t",
        "--group",
        "g",
        "--follow",
        "--timeout-ms",
        "20000",
    ]);
    wait_until(Duration::from_secs(20), "a member", || {
        group_json(file, "g")
            .is_some_and(|group| group["members"].as_array().is_some_and(|m| m.len() == 1))
    });
    run(&["topic", "delete", file, "t"], None).ok();
    let out = finish(member);
    out.fails(1, "");
}
