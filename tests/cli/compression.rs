//! `compression.type` through the CLI: a topic created with each codec stores compressed
//! batches (seen in exported Kafka segment files), and `consume`, `export` and `dump` read
//! them; `topic describe --json` shows the setting.

use serde_json::Value;

use crate::support::cli::{p, run};

#[test]
fn each_codec_is_produced_consumed_exported_and_described() {
    for (codec, id) in [("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.brooklet");
        let file = p(&path);
        run(&["init", file], None).ok();
        let pair = format!("compression.type={codec}");
        run(&["topic", "create", file, "t", "--config", &pair], None).ok();
        let mut input = String::new();
        for i in 0..2000 {
            let line = format!(
                "k{}|{{\"event\":\"view\",\"item\":{},\"ok\":true}}\n",
                i % 9,
                i % 13
            );
            input.push_str(&line);
        }
        run(
            &["produce", file, "t", "--key-separator", "|"],
            Some(input.as_bytes()),
        )
        .ok();
        let consumed = run(&["consume", file, "t", "--format", "json"], None).ok();
        let lines: Vec<Value> = consumed
            .lines()
            .map(|line| serde_json::from_str(line).expect("json"))
            .collect();
        assert_eq!(lines.len(), 2000, "{codec}");
        for (i, line) in lines.iter().enumerate() {
            let want = format!("{{\"event\":\"view\",\"item\":{},\"ok\":true}}", i % 13);
            assert_eq!(line["value"].as_str(), Some(want.as_str()), "{codec} {i}");
            assert_eq!(line["key"].as_str(), Some(format!("k{}", i % 9).as_str()));
        }
        let exported = run(&["export", file, "t", "--format", "jsonl"], None).ok();
        assert_eq!(exported.lines().count(), 2000, "{codec}");

        let out = dir.path().join("kafka");
        run(
            &[
                "export",
                file,
                "t",
                "--format",
                "kafka-segment",
                "--out",
                p(&out),
            ],
            None,
        )
        .ok();
        let mut records = 0;
        for entry in std::fs::read_dir(out.join("t-0")).expect("segments") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
            let mut position = 0;
            while position < bytes.len() {
                let batch = brooklet::kafka::decode_batch(&bytes[position..]).expect("batch");
                assert_eq!(batch.header.compression(), id, "{codec}");
                records += batch.records.len();
                position += batch.header.size();
            }
        }
        assert_eq!(records, 2000, "{codec}");

        let describe = run(&["topic", "describe", file, "t", "--json"], None).ok();
        let describe: Value = serde_json::from_str(&describe).expect("json");
        assert_eq!(describe["config"]["compression.type"].as_str(), Some(codec));
        run(&["dump", file], None).ok();
        run(&["check", file], None).ok();
    }
}
