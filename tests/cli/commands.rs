//! The `brooklet` command-line tool, driven as a user drives it: every command's behaviour
//! and output format. Bad input (unknown, foreign and corrupt files, bad values) is in
//! `errors.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::num::NonZeroU32;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::cli::{describe_group, file_with_topic, finish, p, run, spawn, wait_until};
use serde_json::Value;

#[test]
fn init_creates_a_file_and_refuses_existing_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.brooklet");
    let created = run(&["init", p(&path), "--page-size", "1024"], None);
    created.ok();
    assert!(created.stderr.contains("page size 1024"), "{created:?}");
    assert_eq!(created.stdout, b"");
    let info = run(&["info", p(&path), "--json"], None).ok();
    let info: Value = serde_json::from_str(&info).expect("json");
    assert_eq!(info["page_size"], 1024);
    let before = std::fs::read(&path).expect("read");
    run(&["init", p(&path)], None).fails(1, "already a brooklet file");
    assert_eq!(std::fs::read(&path).expect("read"), before);
    // An empty file (from mktemp, say) may be initialised.
    let empty = dir.path().join("empty.brooklet");
    std::fs::write(&empty, b"").expect("write");
    run(&["init", p(&empty)], None).ok();
    run(&["check", p(&empty)], None).ok();
}

#[test]
fn topics_are_created_listed_described_altered_and_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "orders", 3);
    let file = p(&path);
    run(
        &[
            "topic",
            "create",
            file,
            "audit",
            "--retention-ms",
            "60000",
            "--retention-bytes",
            "-1",
            "--cleanup",
            "compact,delete",
            "--config",
            "segment.bytes=1048576",
        ],
        None,
    )
    .ok();
    assert_eq!(
        run(&["topic", "list", file], None).stdout_lines(),
        ["audit", "orders"]
    );
    let listed: Value =
        serde_json::from_str(&run(&["topic", "list", file, "--json"], None).ok()).expect("json");
    assert_eq!(listed[0]["name"], "audit");
    assert_eq!(listed[0]["partitions"], 1);
    assert_eq!(listed[0]["config"]["retention.ms"], "60000");
    assert_eq!(listed[0]["config"]["cleanup.policy"], "compact,delete");
    assert_eq!(listed[0]["config"]["segment.bytes"], "1048576");
    assert_eq!(listed[1]["partitions"], 3);

    let text = run(&["topic", "describe", file, "orders"], None).ok();
    assert!(text.contains("Partitions: 3"), "{text}");
    assert!(text.contains("Partition: 2\tOffsets: 0..0"), "{text}");
    let described: Value =
        serde_json::from_str(&run(&["topic", "describe", file, "orders", "--json"], None).ok())
            .expect("json");
    assert_eq!(described["name"], "orders");
    assert_eq!(described["partitions"].as_array().map(Vec::len), Some(3));
    assert_eq!(described["partitions"][1]["end_offset"], 0);

    let altered = run(
        &[
            "topic",
            "alter",
            file,
            "orders",
            "--config",
            "retention.ms=1000",
            "--config",
            "max.message.bytes=2000",
        ],
        None,
    )
    .ok();
    assert!(
        altered.lines().any(|l| l == "retention.ms=1000"),
        "{altered}"
    );
    assert!(
        altered.lines().any(|l| l == "max.message.bytes=2000"),
        "{altered}"
    );
    run(&["topic", "create", file, "orders"], None).fails(1, "already exists");
    run(&["topic", "delete", file, "orders"], None).ok();
    run(&["topic", "delete", file, "orders"], None).fails(1, "does not exist");
    assert_eq!(
        run(&["topic", "list", file], None).stdout_lines(),
        ["audit"]
    );
    run(&["check", file], None).ok();
}

/// The partition Kafka's default partitioner picks for a key.
fn partition_of(key: &str, partitions: u32) -> u32 {
    brooklet::kafka::partition_for_key(
        key.as_bytes(),
        NonZeroU32::new(partitions).expect("nonzero"),
    )
}

#[test]
fn produce_acks_give_partition_and_offset_per_line_in_input_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "orders", 3);
    let file = p(&path);
    let keys: Vec<String> = (0..50).map(|i| format!("customer-{}", i % 7)).collect();
    let input = keys
        .iter()
        .map(|k| format!("{k}:value of {k}\n"))
        .collect::<Vec<_>>()
        .concat();
    let produced = run(
        &["produce", file, "orders", "--key-separator", ":", "--acks"],
        Some(input.as_bytes()),
    );
    let acks = produced.ok();
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    let expected: String = keys
        .iter()
        .map(|k| {
            let partition = partition_of(k, 3);
            let offset = next.entry(partition).or_default();
            let line = format!("{partition} {offset}\n");
            *offset += 1;
            line
        })
        .collect();
    assert_eq!(acks, expected, "acks are exactly `PARTITION OFFSET` lines");
    assert!(
        produced.stderr.contains("produced 50 records"),
        "{produced:?}"
    );

    // An explicit partition; a last line without newline is a record too.
    let explicit = run(
        &["produce", file, "orders", "--partition", "2", "--acks"],
        Some(b"x\ny"),
    );
    let base = next.get(&2).copied().unwrap_or(0);
    assert_eq!(explicit.ok(), format!("2 {base}\n2 {}\n", base + 1));
    // Without --acks nothing goes to stdout.
    let quiet = run(&["produce", file, "orders"], Some(b"z\n"));
    assert_eq!(quiet.ok(), "");
    run(
        &["produce", file, "orders", "--partition", "3"],
        Some(b"z\n"),
    )
    .fails(1, "partition 3 does not exist");
}

#[test]
fn produce_stops_at_a_line_without_separator_and_keeps_the_lines_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    let produced = run(
        &["produce", file, "t", "--key-separator", "::", "--acks"],
        Some(b"a::1\nb::2::x\nno separator\nc::3\n"),
    );
    produced.fails(1, "line 3: no key separator \"::\" found");
    assert_eq!(produced.stdout_text(), "0 0\n0 1\n");
    let consumed = run(&["consume", file, "t", "--key-separator", "="], None).ok();
    assert_eq!(consumed, "a=1\nb=2::x\n");
}

#[test]
fn produce_takes_bytes_that_are_not_utf8_and_strips_crlf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    let input = b"\xff\xfe\x00raw\r\nplain\n\nk\x80:v\n";
    run(&["produce", file, "t"], Some(input)).ok();
    let text = run(&["consume", file, "t"], None);
    assert_eq!(text.stdout, b"\xff\xfe\x00raw\nplain\n\nk\x80:v\n");
    let json = run(&["consume", file, "t", "--format", "json"], None).ok();
    let values: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(
        values[0]["value"],
        serde_json::json!({"base64": "//4AcmF3"})
    );
    assert_eq!(values[1]["value"], "plain");
    assert_eq!(values[2]["value"], "");
    assert_eq!(
        values[3]["value"],
        serde_json::json!({"base64": "a4A6dg=="})
    );
}

#[test]
fn consume_json_has_the_documented_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "orders", 2);
    let file = p(&path);
    run(
        &[
            "produce",
            file,
            "orders",
            "--key-separator",
            "\t",
            "--header",
            "h=1",
            "--header",
            "h=2",
            "--header",
            "empty=",
        ],
        Some(b"k1\t{\"total\":42}\n"),
    )
    .ok();
    let started_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("fits");
    let out = run(&["consume", file, "orders", "--format", "json"], None).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let record: Value = serde_json::from_str(lines[0]).expect("json");
    let object = record.as_object().expect("object");
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "topic",
            "partition",
            "offset",
            "timestamp",
            "key",
            "value",
            "headers"
        ]
    );
    assert_eq!(record["topic"], "orders");
    assert_eq!(record["partition"], partition_of("k1", 2));
    assert_eq!(record["offset"], 0);
    let timestamp = record["timestamp"].as_i64().expect("integer ms");
    assert!((started_ms - 60_000..=started_ms).contains(&timestamp));
    assert_eq!(record["key"], "k1");
    assert_eq!(record["value"], "{\"total\":42}");
    assert_eq!(
        record["headers"],
        serde_json::json!([["h", "1"], ["h", "2"], ["empty", ""]])
    );
}

/// Imports records with given timestamps and keys into partition 0 of `t`.
fn import_timed(file: &str, records: &[(i64, &str)]) {
    let input = records
        .iter()
        .map(|(ts, value)| {
            format!("{{\"partition\":0,\"timestamp\":{ts},\"key\":null,\"value\":\"{value}\"}}\n")
        })
        .collect::<Vec<_>>()
        .concat();
    run(
        &["import", file, "t", "--format", "jsonl"],
        Some(input.as_bytes()),
    )
    .ok();
}

#[test]
fn consume_starts_and_stops_where_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 2);
    let file = p(&path);
    // 2026-11-26T10:00:00Z is 1795687200000.
    let base = 1_795_687_200_000_i64;
    import_timed(
        file,
        &[
            (base - 1000, "a"),
            (base, "b"),
            (base + 60_000, "c"),
            (base + 120_000, "d"),
        ],
    );
    run(&["produce", file, "t", "--partition", "1"], Some(b"p1\n")).ok();
    let all = run(&["consume", file, "t", "--partition", "0"], None).ok();
    assert_eq!(all, "a\nb\nc\nd\n");
    let since = run(
        &[
            "consume",
            file,
            "t",
            "--partition",
            "0",
            "--since",
            "2026-11-26T10:00:00Z",
        ],
        None,
    );
    assert_eq!(since.ok(), "b\nc\nd\n");
    let since_offset = run(
        &[
            "consume",
            file,
            "t",
            "--partition",
            "0",
            "--since",
            "2026-11-26T11:01:00+01:00",
        ],
        None,
    );
    assert_eq!(since_offset.ok(), "c\nd\n");
    let since_ms = (base + 1).to_string();
    let since_ms = run(
        &[
            "consume",
            file,
            "t",
            "--partition",
            "0",
            "--since",
            &since_ms,
        ],
        None,
    );
    assert_eq!(since_ms.ok(), "c\nd\n");
    let offset = run(
        &["consume", file, "t", "--partition", "0", "--offset", "2"],
        None,
    );
    assert_eq!(offset.ok(), "c\nd\n");
    let clamped = run(
        &["consume", file, "t", "--partition", "0", "--offset", "99"],
        None,
    );
    assert_eq!(clamped.ok(), "");
    assert!(clamped.stderr.contains("reading from 4"), "{clamped:?}");
    let max = run(&["consume", file, "t", "--max", "3"], None);
    assert_eq!(max.ok().lines().count(), 3);
    let both = run(&["consume", file, "t", "--from-beginning"], None).ok();
    let mut lines: Vec<&str> = both.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["a", "b", "c", "d", "p1"]);
    run(&["consume", file, "t", "--partition", "2"], None).fails(1, "partition 2 does not exist");
    run(&["consume", file, "t", "--since", "tomorrow"], None).fails(2, "RFC 3339");
}

#[test]
fn consume_follow_prints_new_records_and_ends_on_max_or_idle_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    run(&["produce", file, "t"], Some(b"old\n")).ok();
    let child = Command::new(crate::support::cli::bin())
        .args([
            "consume",
            file,
            "t",
            "--follow",
            "--max",
            "2",
            "--timeout-ms",
            "20000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(300));
    run(&["produce", file, "t"], Some(b"new 1\n")).ok();
    std::thread::sleep(Duration::from_millis(50));
    run(&["produce", file, "t"], Some(b"new 2\nnew 3\n")).ok();
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0));
    // --follow starts at the end: only new records, and --max 2 of them.
    assert_eq!(String::from_utf8_lossy(&output.stdout), "new 1\nnew 2\n");

    let started = Instant::now();
    let idle = run(
        &["consume", file, "t", "--follow", "--timeout-ms", "300"],
        None,
    );
    assert_eq!(idle.ok(), "");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    let from_start = run(
        &[
            "consume",
            file,
            "t",
            "--follow",
            "--from-beginning",
            "--timeout-ms",
            "200",
        ],
        None,
    );
    assert_eq!(from_start.ok(), "old\nnew 1\nnew 2\nnew 3\n");
}

#[test]
fn consume_ends_quietly_when_its_reader_goes_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    let input = (0..50_000)
        .map(|i| format!("record {i}\n"))
        .collect::<Vec<_>>()
        .concat();
    run(&["produce", file, "t"], Some(input.as_bytes())).ok();
    let mut child = Command::new(crate::support::cli::bin())
        .args(["consume", file, "t"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 9];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("read");
    assert_eq!(&first, b"record 0\n");
    drop(stdout);
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// Two small sends to partition 0 of `orders`, each its own commit.
fn produce_two_small_records(file: &str) {
    for n in 0..2 {
        let line = format!("small|last {n}\n");
        let args = [
            "produce",
            file,
            "orders",
            "--partition",
            "0",
            "--key-separator",
            "|",
        ];
        run(&args, Some(line.as_bytes())).ok();
    }
}

#[test]
fn export_kafka_segment_writes_kafkas_log_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "orders", 3);
    let file = p(&path);
    // Several commits, so that partitions get several segments.
    for round in 0..4 {
        let input = (0..1500)
            .map(|i| format!("key-{}|value {round}.{i} {}\n", i % 11, "x".repeat(i % 90)))
            .collect::<Vec<_>>()
            .concat();
        run(
            &["produce", file, "orders", "--key-separator", "|"],
            Some(input.as_bytes()),
        )
        .ok();
    }
    // The last small send's batch stays in the commit slot (pending data), and the export
    // must read it from there.
    produce_two_small_records(file);
    let out = dir.path().join("kafka");
    let exported = run(
        &[
            "export",
            file,
            "orders",
            "--format",
            "kafka-segment",
            "--out",
            p(&out),
        ],
        None,
    );
    exported.ok();
    let consumed = run(&["consume", file, "orders", "--format", "json"], None).ok();
    let mut expected: BTreeMap<u32, Vec<Value>> = BTreeMap::new();
    for line in consumed.lines() {
        let v: Value = serde_json::from_str(line).expect("json");
        let partition = u32::try_from(v["partition"].as_u64().expect("u64")).expect("u32");
        expected.entry(partition).or_default().push(v);
    }
    let mut dirs: Vec<String> = std::fs::read_dir(&out)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, ["orders-0", "orders-1", "orders-2"]);
    for partition in 0..3u32 {
        let mut files: Vec<String> = std::fs::read_dir(out.join(format!("orders-{partition}")))
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert!(!files.is_empty());
        let mut offset_next = 0;
        let mut records = Vec::new();
        for name in &files {
            let (stem, ext) = name.split_once('.').expect("name.ext");
            assert_eq!(ext, "log");
            assert_eq!(stem.len(), 20, "{name}");
            assert_eq!(stem.parse::<u64>().expect("digits"), offset_next, "{name}");
            let bytes = std::fs::read(out.join(format!("orders-{partition}")).join(name))
                .expect("read segment");
            let mut position = 0;
            while position < bytes.len() {
                let batch = brooklet::kafka::decode_batch(&bytes[position..]).expect("Kafka batch");
                assert_eq!(batch.header.offset_base, offset_next);
                offset_next = batch.header.offset_last() + 1;
                position += batch.header.size();
                records.extend(batch.records);
            }
        }
        let want = &expected[&partition];
        assert_eq!(records.len(), want.len());
        for (got, want) in records.iter().zip(want) {
            assert_eq!(got.offset, want["offset"].as_u64().expect("offset"));
            let value = String::from_utf8(got.value.clone().expect("value")).expect("utf8");
            assert_eq!(value, want["value"].as_str().expect("string"));
        }
    }
    let first_segments = std::fs::read_dir(out.join("orders-0"))
        .expect("dir")
        .count();
    assert!(
        first_segments >= 2,
        "6000 records in 4 commits span more than one segment"
    );
    run(
        &["export", file, "orders", "--format", "kafka-segment"],
        None,
    )
    .fails(2, "--out");
}

#[test]
fn export_and_import_round_trip_every_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = file_with_topic(dir.path(), "a.brooklet", "t", 3);
    let records = [
        r#"{"partition":0,"timestamp":1000,"key":"k","value":"v","headers":[["h","1"],["h",null],["h","1"]]}"#,
        r#"{"partition":1,"timestamp":2000,"key":null,"value":null,"headers":[]}"#,
        r#"{"partition":1,"timestamp":3000,"key":{"base64":"/w=="},"value":{"base64":"AAEC/w=="},"headers":[["b",{"base64":"gA=="}]]}"#,
        "",
        r#"{"partition":2,"timestamp":4000,"key":"ünï","value":"multi\nline"}"#,
    ];
    let input = records.join("\n");
    let imported = run(
        &["import", p(&source), "t", "--format", "jsonl"],
        Some(input.as_bytes()),
    );
    imported.ok();
    assert!(
        imported.stderr.contains("imported 4 records"),
        "{imported:?}"
    );
    let exported = run(&["export", p(&source), "t", "--format", "jsonl"], None).ok();
    assert_eq!(exported.lines().count(), 4);
    let file_out = dir.path().join("t.jsonl");
    run(
        &[
            "export",
            p(&source),
            "t",
            "--format",
            "jsonl",
            "--out",
            p(&file_out),
        ],
        None,
    )
    .ok();
    assert_eq!(std::fs::read_to_string(&file_out).expect("read"), exported);

    let copy = file_with_topic(dir.path(), "b.brooklet", "t", 3);
    run(
        &[
            "import",
            p(&copy),
            "t",
            "--format",
            "jsonl",
            "--in",
            p(&file_out),
        ],
        None,
    )
    .ok();
    let again = run(&["export", p(&copy), "t", "--format", "jsonl"], None).ok();
    assert_eq!(again, exported, "export, import, export is the identity");
    let second: Value = serde_json::from_str(exported.lines().nth(1).expect("line")).expect("json");
    assert_eq!(second["key"], Value::Null);
    assert_eq!(second["value"], Value::Null);
    let third: Value = serde_json::from_str(exported.lines().nth(2).expect("line")).expect("json");
    assert_eq!(third["key"], serde_json::json!({"base64": "/w=="}));
    assert_eq!(
        third["headers"],
        serde_json::json!([["b", {"base64": "gA=="}]])
    );
}

#[test]
fn import_stops_at_a_bad_line_and_keeps_the_lines_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 1);
    let file = p(&path);
    let input = "{\"value\":\"a\"}\n{\"value\":\"b\"}\n{not json\n{\"value\":\"c\"}\n";
    run(
        &["import", file, "t", "--format", "jsonl"],
        Some(input.as_bytes()),
    )
    .fails(1, "line 3: not valid JSON");
    assert_eq!(run(&["consume", file, "t"], None).ok(), "a\nb\n");
    for (bad, needle) in [
        ("[1]", "expected a JSON object"),
        ("{\"key\":5}", "key must be"),
        ("{\"timestamp\":-1}", "timestamp"),
        ("{\"partition\":1}", "partition 1 does not exist"),
        ("{\"value\":{\"base64\":\"!!\"}}", "invalid base64"),
        ("{\"headers\":[[1,\"x\"]]}", "header"),
    ] {
        run(
            &["import", file, "t", "--format", "jsonl"],
            Some(bad.as_bytes()),
        )
        .fails(1, needle);
    }
    assert_eq!(run(&["consume", file, "t"], None).ok(), "a\nb\n");
}

#[test]
fn check_info_and_dump_describe_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "orders", 2);
    let file = p(&path);
    run(&["produce", file, "orders"], Some(b"one\ntwo\nthree\n")).ok();
    let check = run(&["check", file], None).ok();
    assert!(check.starts_with("ok: "), "{check}");
    let report: Value =
        serde_json::from_str(&run(&["check", file, "--json"], None).ok()).expect("json");
    assert_eq!(report["clean"], true);
    assert_eq!(report["problems"], serde_json::json!([]));

    let info: Value =
        serde_json::from_str(&run(&["info", file, "--json"], None).ok()).expect("json");
    assert_eq!(info["format_version"], 4);
    assert_eq!(info["page_size"], 4096);
    assert_eq!(info["pages_by_kind"]["header"], 2);
    assert!(info["pages_by_kind"]["data"].as_u64().expect("data pages") > 0);
    assert!(info["free_pages"].is_u64());
    // The file's part of `Brooklet::stats` agrees with the check beside it.
    let stats = &info["file_stats"];
    assert_eq!(stats["free_pages"], info["free_pages"]);
    assert_eq!(stats["page_count"], info["page_count"]);
    assert_eq!(stats["txn"], info["txn"]);
    assert_eq!(stats["commits_since_durable"], 0, "produce commits durably");
    assert!(
        stats["free_extents"].as_u64().expect("runs")
            <= stats["free_pages"].as_u64().expect("free")
    );
    assert!(stats["pending_data_bytes"].is_u64() && stats["pending_entry_bytes"].is_u64());
    let topic = &info["topics"][0];
    assert_eq!(topic["name"], "orders");
    let ends: u64 = topic["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| p["end_offset"].as_u64().expect("end"))
        .sum();
    assert_eq!(ends, 3);
    let text = run(&["info", file], None).ok();
    for needle in [
        "format version:  4",
        "page size:       4096",
        "free pages:",
        "not yet durable: 0 commits",
        "held in slot:    ",
        "orders: 2 partitions",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }

    let dump = run(&["dump", file], None).ok();
    for needle in [
        "header page 0:",
        "header page 1:",
        "log.topics:",
        "segments:",
        "orders-",
    ] {
        assert!(dump.contains(needle), "{needle}: {dump}");
    }
    let dumped: Value =
        serde_json::from_str(&run(&["dump", file, "--json"], None).ok()).expect("json");
    assert_eq!(dumped["headers"][0]["slot"]["crc_ok"], true);
    let first_data = dumped["segments"][0]["first_page"].as_u64().expect("page");
    let page = run(&["dump", file, "--page", &first_data.to_string()], None).ok();
    assert!(page.contains("kind: data"), "{page}");
    assert!(
        page.contains(&format!("{:08x}: ", first_data * 4096)),
        "{page}"
    );
    let header = run(&["dump", file, "--page", "0", "--json"], None).ok();
    let header: Value = serde_json::from_str(&header).expect("json");
    assert_eq!(header["kind"]["kind"], "header");
    run(&["dump", file, "--page", "100000"], None).fails(1, "past the end");
}

#[test]
fn demo_runs_and_leaves_a_file_to_explore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("demo.brooklet");
    let demo = run(&["demo", p(&path)], None);
    let out = demo.ok();
    for needle in [
        "created topics orders (3 partitions) and payments (2 partitions)",
        "consumer group demo: two members",
        "together: 4000 of 4000 records",
        "Group: demo",
        "COMMITTED",
        "both members left the group",
        "check: clean",
        "explore further:",
        "topic list",
        "group describe",
        "--group demo",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    // Each member handled a share: the range assignor gives one two of the five partitions
    // and the other three.
    let shares: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("member-") && l.contains("handled"))
        .collect();
    assert_eq!(shares.len(), 2, "{out}");
    for share in &shares {
        let partitions = share.matches(" (").count();
        assert!((2..=3).contains(&partitions), "{share}");
    }
    run(&["check", p(&path)], None).ok();
    // The group committed every record and left.
    let group = describe_group(p(&path), "demo");
    assert_eq!(group["members"], serde_json::json!([]));
    let partitions = group["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 5);
    for partition in partitions {
        assert_eq!(partition["committed"], partition["end"], "{partition}");
        assert_eq!(partition["lag"], 0, "{partition}");
    }
    assert_eq!(
        run(&["consume", p(&path), "orders", "--group", "demo"], None).ok(),
        ""
    );
    assert_eq!(
        run(&["topic", "list", p(&path)], None).stdout_lines(),
        ["orders", "payments"]
    );
    assert_eq!(
        run(&["consume", p(&path), "orders"], None)
            .ok()
            .lines()
            .count(),
        3000
    );
    run(&["demo", p(&path)], None).fails(1, "exists");
}

#[test]
fn every_command_has_help_with_examples() {
    let commands: &[&[&str]] = &[
        &[],
        &["init"],
        &["topic", "create"],
        &["topic", "list"],
        &["topic", "describe"],
        &["topic", "delete"],
        &["topic", "alter"],
        &["produce"],
        &["consume"],
        &["group", "list"],
        &["group", "describe"],
        &["group", "reset"],
        &["group", "delete"],
        &["check"],
        &["info"],
        &["dump"],
        &["export"],
        &["import"],
        &["vacuum"],
        &["compact"],
        &["demo"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let help = run(&args, None).ok();
        assert!(help.contains("Examples:"), "{command:?}: {help}");
    }
}

#[test]
fn compact_keeps_the_latest_record_per_key_and_reports_what_it_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.brooklet");
    let file = p(&path);
    run(&["init", file, "--page-size", "512"], None).ok();
    run(
        &[
            "topic",
            "create",
            file,
            "prices",
            "--cleanup",
            "compact",
            "--config",
            "segment.bytes=65536",
            // Only `compact` compacts: produce commits do not by themselves at ratio 1.
            "--config",
            "min.cleanable.dirty.ratio=1",
        ],
        None,
    )
    .ok();
    run(&["topic", "create", file, "plain"], None).ok();
    // 4000 lines over 10 keys, in 10 runs of the command: several segments (growing with
    // the partition, up to 64 KiB).
    let value = "v".repeat(60);
    for chunk in 0..10 {
        let mut input = String::new();
        for i in chunk * 400..(chunk + 1) * 400 {
            writeln!(input, "item-{}:{i}-{value}", i % 10).expect("write to String");
        }
        run(
            &["produce", file, "prices", "--key-separator", ":"],
            Some(input.as_bytes()),
        )
        .ok();
    }
    let report = run(&["compact", file, "--json"], None);
    let json: Value = serde_json::from_str(report.ok().trim()).expect("one JSON object");
    let removed = json["records_removed"].as_u64().expect("records_removed");
    assert!(removed > 3000, "{json}");
    assert_eq!(json["topics"][0]["topic"], "prices");
    assert!(
        report.stderr.contains("compacted 1 partition of 1 topic"),
        "{}",
        report.stderr
    );
    // What is left: offsets rise with gaps, the last record of each key is there, and the
    // records after the last compacted segment are all there.
    let out = run(&["consume", file, "prices", "--format", "json"], None).ok();
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(records.len() as u64, 4000 - removed);
    let offsets: Vec<u64> = records
        .iter()
        .map(|r| r["offset"].as_u64().expect("offset"))
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(offsets.last(), Some(&3999));
    for key in 0..10u64 {
        let last = 3990 + key;
        assert!(offsets.contains(&last), "the latest record of item-{key}");
    }
    // Again: nothing more to remove. One topic by name; a delete topic is refused.
    let again = run(&["compact", file, "prices"], None);
    again.ok();
    assert!(
        again.stderr.contains("removed 0 records"),
        "{}",
        again.stderr
    );
    run(&["compact", file, "plain"], None).fails(1, "cleanup.policy=delete");
    run(&["compact", file, "missing"], None).fails(1, "missing");
    run(&["check", file], None).ok();
}

/// Records of `consume --format json` output as (partition, offset, value).
fn records_of(stdout: &str) -> Vec<(u64, u64, String)> {
    stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("a JSON record");
            (
                v["partition"].as_u64().expect("partition"),
                v["offset"].as_u64().expect("offset"),
                v["value"].as_str().expect("value").to_owned(),
            )
        })
        .collect()
}

/// Sum of the committed offsets of a group (`null` counts 0).
fn committed_total(group: &Value) -> u64 {
    group["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| p["committed"].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn consume_group_starts_at_the_end_or_the_beginning_and_continues_from_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 2);
    let file = p(&path);
    let first = (0..10)
        .map(|i| format!("k{i}:first {i}\n"))
        .collect::<Vec<_>>()
        .concat();
    run(
        &["produce", file, "t", "--key-separator", ":"],
        Some(first.as_bytes()),
    )
    .ok();
    let ends: Vec<u64> = (0..2)
        .map(|partition| {
            let d: Value =
                serde_json::from_str(&run(&["topic", "describe", file, "t", "--json"], None).ok())
                    .expect("json");
            d["partitions"][partition]["end_offset"]
                .as_u64()
                .expect("end")
        })
        .collect();
    assert!(ends.iter().all(|e| *e > 0), "keys spread: {ends:?}");

    // A new group without --from-beginning starts at the end, says so, and commits the end.
    let started = Instant::now();
    let fresh = run(&["consume", file, "t", "--group", "fresh"], None);
    assert_eq!(fresh.ok(), "");
    assert!(fresh.stderr.contains("no committed offset"), "{fresh:?}");
    // A lone member owns every partition, so it does not wait for hand-overs.
    assert!(started.elapsed() < Duration::from_secs(5));
    let group = describe_group(file, "fresh");
    assert_eq!(committed_total(&group), 10, "{group}");
    run(&["produce", file, "t"], Some(b"second\n")).ok();
    assert_eq!(
        run(&["consume", file, "t", "--group", "fresh"], None).ok(),
        "second\n"
    );

    // --max commits exactly what was printed, across partitions.
    let four = run(
        &[
            "consume",
            file,
            "t",
            "--group",
            "g",
            "--from-beginning",
            "--max",
            "4",
            "--format",
            "json",
        ],
        None,
    );
    let four = records_of(&four.ok());
    assert_eq!(four.len(), 4);
    let group = describe_group(file, "g");
    assert_eq!(committed_total(&group), 4, "{group}");
    for printed in &four {
        let committed = group["partitions"][printed.0 as usize]["committed"]
            .as_u64()
            .expect("committed");
        assert!(printed.1 < committed, "{printed:?} {group}");
    }
    // --from-beginning does not override committed offsets: the rest, and nothing again.
    let rest = run(
        &[
            "consume",
            file,
            "t",
            "--group",
            "g",
            "--from-beginning",
            "--format",
            "json",
        ],
        None,
    );
    let rest = records_of(&rest.ok());
    assert_eq!(rest.len(), 7);
    let all: BTreeSet<(u64, u64)> = four.iter().chain(&rest).map(|r| (r.0, r.1)).collect();
    assert_eq!(all.len(), 11);
    let group = describe_group(file, "g");
    for partition in group["partitions"].as_array().expect("partitions") {
        assert_eq!(partition["committed"], partition["end"], "{group}");
        assert_eq!(partition["lag"], 0, "{group}");
        assert_eq!(partition["owner"], Value::Null, "{group}");
    }
    assert_eq!(group["members"], serde_json::json!([]));
    assert_eq!(
        run(
            &["consume", file, "t", "--group", "g", "--from-beginning"],
            None
        )
        .ok(),
        ""
    );
}

/// Waits until group `group` has a live member for each pid, each owning `each`
/// partitions; returns each partition's owner pid.
fn wait_for_split(file: &str, group: &str, pids: &[u32], each: usize) -> BTreeMap<u64, u32> {
    let mut owners: BTreeMap<u64, u32> = BTreeMap::new();
    wait_until(
        Duration::from_secs(20),
        "the group to split its partitions",
        || {
            let Some(group) = crate::support::cli::group_json(file, group) else {
                return false;
            };
            let members = group["members"].as_array().expect("members");
            let ids: BTreeMap<String, u32> = members
                .iter()
                .filter(|m| m["live"] == true)
                .map(|m| {
                    (
                        m["id"].as_str().expect("id").to_owned(),
                        u32::try_from(m["pid"].as_u64().expect("pid")).expect("pid"),
                    )
                })
                .collect();
            owners = group["partitions"]
                .as_array()
                .expect("partitions")
                .iter()
                .filter_map(|p| {
                    let pid = ids.get(p["owner"].as_str()?)?;
                    Some((p["partition"].as_u64().expect("partition"), *pid))
                })
                .collect();
            pids.iter()
                .all(|pid| owners.values().filter(|o| *o == pid).count() == each)
        },
    );
    owners
}

/// Produces `count` records `PREFIX pP I` to each of `partitions` partitions of `t`.
fn produce_to_each(file: &str, partitions: u32, count: u32, prefix: &str) {
    for partition in 0..partitions {
        let input = (0..count)
            .map(|i| format!("{prefix} p{partition} {i}\n"))
            .collect::<Vec<_>>()
            .concat();
        run(
            &["produce", file, "t", "--partition", &partition.to_string()],
            Some(input.as_bytes()),
        )
        .ok();
    }
}

#[test]
fn two_group_members_share_a_topic_and_hand_over_when_one_leaves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 4);
    let file = p(&path);
    // A long session timeout: partitions that move before it passes moved because the
    // member that left closed its membership, not because it was timed out.
    let member = |max: &'static str| {
        spawn(&[
            "consume",
            file,
            "t",
            "--group",
            "g",
            "--from-beginning",
            "--follow",
            "--format",
            "json",
            "--max",
            max,
            "--timeout-ms",
            "60000",
            "--session-timeout-ms",
            "60000",
        ])
    };
    let a = member("20");
    let b = member("60");
    let (pid_a, pid_b) = (a.id(), b.id());
    let owners = wait_for_split(file, "g", &[pid_a, pid_b], 2);
    let produce_wave = |wave: u32| produce_to_each(file, 4, 10, &format!("w{wave}"));
    produce_wave(1);
    // A ends after its 20 records: the ten of each of its two partitions.
    let a = finish(a);
    let got_a = records_of(&a.ok());
    assert_eq!(got_a.len(), 20);
    for (partition, offset, value) in &got_a {
        assert_eq!(owners[partition], pid_a, "{partition} went to A");
        assert_eq!(value, &format!("w1 p{partition} {offset}"));
    }
    // A left: its partitions move to B at once, from A's committed offsets.
    let left = Instant::now();
    produce_wave(2);
    let b = finish(b);
    let elapsed = left.elapsed();
    assert!(
        elapsed < Duration::from_secs(20),
        "hand-over took {elapsed:?}"
    );
    let got_b = records_of(&b.ok());
    assert_eq!(got_b.len(), 60);
    let mut seen: BTreeSet<(u64, u64)> = BTreeSet::new();
    for (partition, offset, _) in got_a.iter().chain(&got_b) {
        assert!(
            seen.insert((*partition, *offset)),
            "twice: {partition}/{offset}"
        );
    }
    let every: BTreeSet<(u64, u64)> = (0..4).flat_map(|p| (0..20).map(move |o| (p, o))).collect();
    assert_eq!(seen, every);
    for (partition, offset, _) in &got_b {
        if *offset < 10 {
            assert_eq!(owners[partition], pid_b, "{partition}/{offset} went to B");
        }
    }
    let group = describe_group(file, "g");
    assert_eq!(group["members"], serde_json::json!([]));
    for partition in group["partitions"].as_array().expect("partitions") {
        assert_eq!(partition["committed"], 20, "{group}");
        assert_eq!(partition["end"], 20, "{group}");
        assert_eq!(partition["lag"], 0, "{group}");
    }
}

#[test]
fn group_members_without_follow_together_print_every_record_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_with_topic(dir.path(), "t.brooklet", "t", 4);
    let file = p(&path);
    let input = (0..4000)
        .map(|i| format!("k{i}:v{i}\n"))
        .collect::<Vec<_>>()
        .concat();
    run(
        &["produce", file, "t", "--key-separator", ":"],
        Some(input.as_bytes()),
    )
    .ok();
    let member = || {
        spawn(&[
            "consume",
            file,
            "t",
            "--group",
            "g",
            "--from-beginning",
            "--format",
            "json",
        ])
    };
    let (a, b) = (member(), member());
    let (a, b) = (finish(a), finish(b));
    let (got_a, got_b) = (records_of(&a.ok()), records_of(&b.ok()));
    let mut seen = BTreeSet::new();
    for (_, _, value) in got_a.iter().chain(&got_b) {
        assert!(seen.insert(value.clone()), "{value} printed twice");
    }
    assert_eq!(seen.len(), 4000);
    let group = describe_group(file, "g");
    for partition in group["partitions"].as_array().expect("partitions") {
        assert_eq!(partition["committed"], partition["end"], "{group}");
    }
}

/// Timestamps of the records `group_g_with_3_of_10` imports: one a second from here.
const TIMED_BASE: i64 = 1_764_151_200_000; // 2025-11-26T10:00:00Z

/// A file with topic `t` holding records r0..r9 (one a second from [`TIMED_BASE`]) and
/// group `g` that committed the first three.
fn group_g_with_3_of_10(dir: &std::path::Path) -> std::path::PathBuf {
    let path = file_with_topic(dir, "t.brooklet", "t", 1);
    let file = p(&path);
    let timed: Vec<(i64, String)> = (0..10)
        .map(|i| (TIMED_BASE + i * 1000, format!("r{i}")))
        .collect();
    let timed_refs: Vec<(i64, &str)> = timed.iter().map(|(t, v)| (*t, v.as_str())).collect();
    import_timed(file, &timed_refs);
    let three = run(
        &[
            "consume",
            file,
            "t",
            "--group",
            "g",
            "--from-beginning",
            "--max",
            "3",
        ],
        None,
    );
    assert_eq!(three.ok(), "r0\nr1\nr2\n");
    path
}

#[test]
fn group_list_and_describe_show_offsets_lag_and_owners_and_delete_removes_a_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = file_with_topic(dir.path(), "empty.brooklet", "t", 1);
    assert_eq!(run(&["group", "list", p(&empty)], None).ok(), "");
    assert_eq!(
        run(&["group", "list", p(&empty), "--json"], None).ok(),
        "[]\n"
    );
    let path = group_g_with_3_of_10(dir.path());
    let file = p(&path);
    assert_eq!(run(&["group", "list", file], None).ok(), "g\n");
    let list: Value =
        serde_json::from_str(&run(&["group", "list", file, "--json"], None).ok()).expect("json");
    assert_eq!(
        list,
        serde_json::json!([{"group": "g", "members": 0, "live_members": 0, "topics": ["t"], "lag": 7}])
    );
    let text = run(&["group", "describe", file, "g"], None).ok();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("Group: g\t"), "{text}");
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        header,
        ["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "OWNER"]
    );
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(row, ["t", "0", "3", "10", "7", "-"]);
    let group = describe_group(file, "g");
    assert_eq!(group["group"], "g");
    assert_eq!(group["members"], serde_json::json!([]));
    assert_eq!(
        group["partitions"],
        serde_json::json!([{"topic": "t", "partition": 0, "committed": 3, "end": 10,
                            "last_stable_offset": 10, "lag": 7, "owner": null}])
    );
    assert!(group["partitions"][0]["lag"].is_u64());

    run(&["consume", file, "t", "--group", "h"], None).ok();
    let deleted = run(&["group", "delete", file, "g"], None);
    assert_eq!(deleted.ok(), "");
    assert!(deleted.stderr.contains("deleted group g"));
    assert_eq!(run(&["group", "list", file], None).ok(), "h\n");
    for args in [
        vec!["group", "describe", file, "g"],
        vec!["group", "describe", file, "g", "--json"],
        vec!["group", "delete", file, "g"],
        vec!["group", "reset", file, "g", "--to", "earliest"],
    ] {
        run(&args, None).fails(1, "consumer group \"g\" does not exist");
    }
    // A deleted group starts over.
    assert_eq!(
        run(
            &[
                "consume",
                file,
                "t",
                "--group",
                "g",
                "--from-beginning",
                "--max",
                "1"
            ],
            None
        )
        .ok(),
        "r0\n"
    );
    run(&["check", file], None).ok();
}

#[test]
fn group_reset_moves_committed_offsets_and_prints_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = group_g_with_3_of_10(dir.path());
    let file = p(&path);
    // Resets print the new offsets; offsets are clamped; times pick the first record at or
    // after them (the end if none).
    let reset = |to: &str| run(&["group", "reset", file, "g", "--to", to], None);
    for (to, expected) in [
        ("earliest", "t 0 0\n"),
        ("latest", "t 0 10\n"),
        ("4", "t 0 4\n"),
        ("999", "t 0 10\n"),
        (&format!("@{}", TIMED_BASE + 2500), "t 0 3\n"),
        ("2025-11-26T10:00:05Z", "t 0 5\n"),
        ("2030-01-01", "t 0 10\n"),
        ("1970-01-01", "t 0 0\n"),
    ] {
        let out = reset(to);
        assert_eq!(out.ok(), expected, "--to {to}");
        assert!(out.stderr.contains("reset group g: 1 partition"), "{out:?}");
    }
    reset("6").ok();
    assert_eq!(
        run(&["consume", file, "t", "--group", "g"], None).ok(),
        "r6\nr7\nr8\nr9\n"
    );
    // --topic sets every partition of a topic the group has no offsets for yet.
    run(&["topic", "create", file, "u", "--partitions", "2"], None).ok();
    run(&["produce", file, "u", "--partition", "1"], Some(b"x\ny\n")).ok();
    let out = run(
        &[
            "group", "reset", file, "g", "--to", "latest", "--topic", "u",
        ],
        None,
    );
    assert_eq!(out.ok(), "u 0 0\nu 1 2\n");
    let topics: Vec<String> = describe_group(file, "g")["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| format!("{}-{}", p["topic"].as_str().expect("topic"), p["partition"]))
        .collect();
    assert_eq!(topics, ["t-0", "u-0", "u-1"]);
    run(
        &[
            "group", "reset", file, "g", "--to", "0", "--topic", "absent",
        ],
        None,
    )
    .fails(1, "topic \"absent\" does not exist");

    // A group whose only topic was deleted has nothing to reset without --topic.
    run(&["topic", "create", file, "gone"], None).ok();
    run(&["consume", file, "gone", "--group", "h"], None).ok();
    run(&["topic", "delete", file, "gone"], None).ok();
    run(&["group", "reset", file, "h", "--to", "earliest"], None)
        .fails(1, "no committed offsets to reset");
    run(&["check", file], None).ok();
}

/// Damage to the newest commit's pages rolls it back on open; `check` says so on stderr.
#[test]
fn check_reports_a_rolled_back_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rb.brooklet");
    run(&["init", p(&path), "--page-size", "512"], None).ok();
    run(&["topic", "create", p(&path), "t"], None).ok();
    run(&["produce", p(&path), "t"], Some(b"a\nb\n")).ok();
    // Find the slot with the newer txn (format 2: slot at byte 32 of pages 0 and 1) and
    // damage the first page its inline journal lists.
    let mut bytes = std::fs::read(&path).expect("read");
    let u32_at =
        |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let txn_at =
        |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let newest = (0..2usize)
        .max_by_key(|i| txn_at(&bytes, i * 512 + 40))
        .expect("slot");
    let slot = newest * 512 + 32;
    assert!(
        u32_at(&bytes, slot + 80) > 0,
        "the newest commit has an inline journal"
    );
    let page = u32_at(&bytes, slot + 108) as usize;
    bytes[page * 512 + 10] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let before = std::fs::read(&path).expect("read");
    // Healthy after a rollback: its own exit code, a `rolled back:` line on stdout naming
    // the commit, and a warning on stderr.
    let checked = run(&["check", p(&path)], None);
    assert_eq!(checked.code, 3, "{checked:?}");
    let stdout = checked.stdout_text();
    assert!(stdout.starts_with("ok: "), "{checked:?}");
    assert!(
        stdout.contains("rolled back: opening rolled back commit 3 (durable, written at "),
        "{checked:?}"
    );
    assert!(
        checked
            .stderr
            .contains("healthy after rolling back commit 3 (durable)"),
        "{checked:?}"
    );
    let json = run(&["check", p(&path), "--json"], None);
    assert_eq!(json.code, 3, "{json:?}");
    let value: Value = serde_json::from_str(&json.stdout_text()).expect("json");
    assert_eq!(value["status"], "rolled_back", "{value}");
    assert_eq!(value["clean"], true, "{value}");
    assert_eq!(value["rolled_back"][0]["txn"], 3, "{value}");
    assert_eq!(value["rolled_back"][0]["durable"], true, "{value}");
    assert_eq!(value["rolled_back"][0]["verified"], true, "{value}");
    assert_eq!(
        value["recovery_notes"].as_array().map(Vec::len),
        Some(2),
        "{value}"
    );
    // Inspection changed nothing: the next writer still sees the rollback, says so, and
    // then the file is healthy again.
    assert_eq!(std::fs::read(&path).expect("read"), before);
    let info = run(&["info", p(&path)], None).ok();
    assert!(
        info.contains("rolled back:     opening rolled back commit 3"),
        "{info}"
    );
    let produced = run(&["produce", p(&path), "t"], Some(b"c\n"));
    produced.ok();
    assert!(
        produced.stderr.contains("brooklet: warning: ")
            && produced
                .stderr
                .contains("opening rolled back commit 3 (durable"),
        "{produced:?}"
    );
    assert_eq!(run(&["check", p(&path)], None).code, 0);
}
