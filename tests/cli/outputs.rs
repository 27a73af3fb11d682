//! Files the CLI writes besides the brooklet file (`export --out`): an output is never the
//! brooklet file itself, by whatever name, and a failed export leaves nothing behind.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::cli::{Run, file_with_topic, p, run};

/// Runs `brooklet args...` in `dir` (for relative paths).
fn run_in(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(crate::support::cli::bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run brooklet");
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every file and directory under `dir`, as paths relative to it.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).expect("read dir") {
            let path = entry.expect("entry").path();
            let relative = path.strip_prefix(dir).expect("under dir");
            found.insert(relative.to_string_lossy().into_owned());
            if path.is_dir() && !path.is_symlink() {
                pending.push(path);
            }
        }
    }
    found
}

/// A file with topic `t` of `partitions` partitions holding `count` records in each.
fn file_with_records(dir: &Path, name: &str, partitions: u32, count: usize) -> PathBuf {
    let path = file_with_topic(dir, name, "t", partitions);
    for partition in 0..partitions {
        let input = (0..count)
            .map(|i| format!("record {i} of partition {partition}\n"))
            .collect::<Vec<_>>()
            .concat();
        let number = partition.to_string();
        run(
            &["produce", p(&path), "t", "--partition", &number],
            Some(input.as_bytes()),
        )
        .ok();
    }
    path
}

#[test]
fn export_refuses_an_out_that_is_the_brooklet_file_by_any_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_records(dir.path(), "t.brooklet", 2, 50);
    let before = std::fs::read(&path).expect("read");
    std::os::unix::fs::symlink(&path, dir.path().join("link.jsonl")).expect("symlink");
    std::fs::hard_link(&path, dir.path().join("hard.jsonl")).expect("hardlink");
    let absolute = p(&path);
    let names_before = tree(dir.path());
    // (the brooklet file as named, --out as named), run in the file's directory.
    let cases: [(&str, &str); 7] = [
        ("t.brooklet", "t.brooklet"),
        ("t.brooklet", "./t.brooklet"),
        ("./t.brooklet", "t.brooklet"),
        ("t.brooklet", absolute),
        ("t.brooklet", "link.jsonl"),
        ("t.brooklet", "hard.jsonl"),
        ("link.jsonl", "t.brooklet"),
    ];
    for (file, out) in cases {
        for format in ["jsonl", "kafka-segment"] {
            let args = ["export", file, "t", "--format", format, "--out", out];
            let refused = run_in(dir.path(), &args);
            refused.fails(2, "refusing to overwrite it");
            assert!(
                refused.stderr.contains("is the brooklet file"),
                "{refused:?}"
            );
            assert_eq!(std::fs::read(&path).expect("read"), before, "{args:?}");
            assert_eq!(tree(dir.path()), names_before, "{args:?} left files behind");
        }
    }
    run(&["check", absolute], None).ok();
}

#[test]
fn export_kafka_segment_refuses_a_directory_that_holds_the_brooklet_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    let partition_dir = logs.join("t-0");
    std::fs::create_dir_all(&partition_dir).expect("mkdir");
    // The brooklet file is exactly where the export would write partition 0's first segment.
    let path = file_with_topic(&partition_dir, "00000000000000000000.log", "t", 2);
    for partition in ["0", "1"] {
        run(
            &["produce", p(&path), "t", "--partition", partition],
            Some(b"one\ntwo\n"),
        )
        .ok();
    }
    let before = std::fs::read(&path).expect("read");
    let names_before = tree(dir.path());
    let args = [
        "export",
        p(&path),
        "t",
        "--format",
        "kafka-segment",
        "--out",
        p(&logs),
    ];
    let refused = run(&args, None);
    refused.fails(2, "refusing to overwrite it");
    assert!(
        refused.stderr.contains("00000000000000000000.log"),
        "{refused:?}"
    );
    assert_eq!(std::fs::read(&path).expect("read"), before);
    assert_eq!(
        tree(dir.path()),
        names_before,
        "nothing written, not even t-1"
    );
    run(&["check", p(&path)], None).ok();
}

/// Flips one byte of every stored copy of `marker` in the file, so that reading the batch
/// holding it fails its CRC.
fn damage(path: &Path, marker: &[u8]) {
    let mut bytes = std::fs::read(path).expect("read");
    let mut found = 0;
    let mut at = 0;
    while let Some(position) = bytes[at..].windows(marker.len()).position(|w| w == marker) {
        bytes[at + position] ^= 0x20;
        at += position + marker.len();
        found += 1;
    }
    assert!(found > 0, "marker stored in the file");
    std::fs::write(path, bytes).expect("write");
}

/// A file whose partition 0 reads fine and whose partition 1 fails its CRC, so an export
/// fails after it has written partition 0.
fn file_damaged_in_partition_1(dir: &Path) -> PathBuf {
    let path = file_with_records(dir, "t.brooklet", 2, 2000);
    // A last commit to partition 0, so that partition 1's records are in segment pages.
    run(
        &["produce", p(&path), "t", "--partition", "0"],
        Some(b"last\n"),
    )
    .ok();
    damage(&path, b"record 1000 of partition 1");
    let partition_1 = run(
        &[
            "consume",
            p(&path),
            "t",
            "--partition",
            "1",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(
        partition_1.code, 1,
        "partition 1 is damaged: {partition_1:?}"
    );
    run(&["consume", p(&path), "t", "--partition", "0"], None).ok();
    path
}

#[test]
fn a_failed_jsonl_export_leaves_no_output_and_keeps_an_old_one_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_damaged_in_partition_1(dir.path());
    let file = p(&path);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(dir.path().join("not-a-dir"), b"x").expect("write");
    let old = out.join("old.jsonl");
    std::fs::write(&old, b"the old export\n").expect("write");
    let names_before = tree(dir.path());
    let new = out.join("new.jsonl");
    let unwritable = dir.path().join("not-a-dir").join("x.jsonl");
    let failing: [(&str, &Path, &str); 4] = [
        ("t", &new, "corrupt"),          // fails after partition 0 was written
        ("t", &old, "corrupt"),          // the same, over an existing export
        ("absent", &new, "absent"),      // an unknown topic
        ("t", &unwritable, "not-a-dir"), // a directory that cannot be written
    ];
    for (topic, target, needle) in failing {
        let args = [
            "export",
            file,
            topic,
            "--format",
            "jsonl",
            "--out",
            p(target),
        ];
        let failed = run(&args, None);
        assert_eq!(failed.code, 1, "{failed:?}");
        assert!(failed.stderr.contains(needle), "{needle}: {failed:?}");
        assert_eq!(tree(dir.path()), names_before, "{args:?} left files behind");
        assert_eq!(std::fs::read(&old).expect("read"), b"the old export\n");
    }
    // A good export replaces the old one whole, and leaves no temporary file either.
    let healthy = file_with_records(dir.path(), "healthy.brooklet", 1, 3);
    let args = [
        "export",
        p(&healthy),
        "t",
        "--format",
        "jsonl",
        "--out",
        p(&old),
    ];
    let exported = run(&args, None);
    exported.ok();
    assert!(
        exported.stderr.contains("exported 3 records of t"),
        "{exported:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&old).expect("read").lines().count(),
        3
    );
    assert_eq!(tree(&out), BTreeSet::from(["old.jsonl".to_owned()]));
}

#[test]
fn a_failed_kafka_segment_export_leaves_no_files_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_damaged_in_partition_1(dir.path());
    let file = p(&path);
    let healthy = file_with_records(dir.path(), "healthy.brooklet", 2, 3);
    // A directory the export creates, and one where t-1 cannot be created (a file is there).
    let fresh = dir.path().join("fresh").join("logs");
    let blocked = dir.path().join("blocked");
    std::fs::create_dir(&blocked).expect("mkdir");
    std::fs::write(blocked.join("t-1"), b"in the way").expect("write");
    let names_before = tree(dir.path());
    let failing: [(&str, &Path, &str); 3] = [
        (file, &fresh, "corrupt"), // partition 1 does not read: t-0 was written
        (file, &blocked, "t-1"),   // t-1 cannot be created after t-0 was written
        (p(&healthy), &blocked, "t-1"),
    ];
    for (source, target, needle) in failing {
        let args = [
            "export",
            source,
            "t",
            "--format",
            "kafka-segment",
            "--out",
            p(target),
        ];
        let failed = run(&args, None);
        assert_eq!(failed.code, 1, "{failed:?}");
        assert!(failed.stderr.contains(needle), "{needle}: {failed:?}");
        assert_eq!(tree(dir.path()), names_before, "{args:?} left files behind");
    }
    // The same export into a directory that can be written: every file, no temporary one.
    let args = [
        "export",
        p(&healthy),
        "t",
        "--format",
        "kafka-segment",
        "--out",
        p(&fresh),
    ];
    run(&args, None).ok();
    let expected: BTreeSet<String> = [
        "t-0",
        "t-0/00000000000000000000.log",
        "t-1",
        "t-1/00000000000000000000.log",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(tree(&fresh), expected);
}
