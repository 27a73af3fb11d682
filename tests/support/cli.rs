//! Helpers for the CLI tests: run the built `brooklet` binary and look at what it did.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout_text().lines().map(str::to_owned).collect()
    }

    /// Asserts success and returns stdout as text.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        self.stdout_text()
    }

    /// Asserts a one-line error with `code` whose text contains `needle`.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "exit code: {self:?}");
        assert!(!self.stderr.contains("panicked"), "panic: {self:?}");
        assert!(
            !self.stderr.contains("RUST_BACKTRACE"),
            "stack trace: {self:?}"
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        let error_lines: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("brooklet: error: "))
            .collect();
        assert_eq!(error_lines.len(), 1, "one error line: {self:?}");
        assert!(
            lines.last() == error_lines.last().copied(),
            "the error is the last line: {self:?}"
        );
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {self:?}"
        );
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_brooklet")
}

/// Runs `brooklet args...` with `stdin` (empty if `None`).
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn brooklet");
    let input = stdin.unwrap_or_default().to_vec();
    let mut pipe = child.stdin.take().expect("stdin pipe");
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for brooklet");
    writer.join().expect("stdin writer");
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// A new brooklet file `name` in `dir`, with `topic` of `partitions` partitions.
pub fn file_with_topic(dir: &Path, name: &str, topic: &str, partitions: u32) -> PathBuf {
    let path = dir.join(name);
    run(&["init", p(&path)], None).ok();
    let count = partitions.to_string();
    run(
        &["topic", "create", p(&path), topic, "--partitions", &count],
        None,
    )
    .ok();
    path
}

/// Every command that takes FILE (and TOPIC where needed), for the bad-file tests.
pub fn commands_on(file: &str) -> Vec<Vec<String>> {
    let lines: &[&[&str]] = &[
        &["topic", "create", file, "t"],
        &["topic", "list", file],
        &["topic", "list", file, "--json"],
        &["topic", "describe", file, "t"],
        &["topic", "delete", file, "t"],
        &["topic", "alter", file, "t", "--config", "retention.ms=5"],
        &["produce", file, "t"],
        &["consume", file, "t"],
        &["consume", file, "t", "--follow", "--timeout-ms", "10"],
        &["consume", file, "t", "--group", "g"],
        &["group", "list", file],
        &["group", "list", file, "--json"],
        &["group", "describe", file, "g"],
        &["group", "describe", file, "g", "--json"],
        &["group", "reset", file, "g", "--to", "earliest"],
        &["group", "delete", file, "g"],
        &["transactions", "list", file],
        &["transactions", "list", file, "--json"],
        &["transactions", "describe", file, "x"],
        &["check", file],
        &["info", file],
        &["info", file, "--json"],
        &["dump", file],
        &["dump", file, "--page", "2"],
        &["compact", file],
        &["compact", file, "t"],
        &["export", file, "t", "--format", "jsonl"],
        &["import", file, "t", "--format", "jsonl"],
        &["vacuum", file],
        &["vacuum", file, "--json"],
    ];
    lines
        .iter()
        .map(|l| l.iter().map(|s| (*s).to_owned()).collect())
        .collect()
}

pub fn run_owned(args: &[String], stdin: Option<&[u8]>) -> Run {
    let borrowed: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&borrowed, stdin)
}

/// Starts `brooklet args...` in the background with stdout and stderr piped.
pub fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn brooklet")
}

/// Waits for a background run and returns what it did.
pub fn finish(child: std::process::Child) -> Run {
    let output = child.wait_with_output().expect("wait for brooklet");
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `group describe FILE GROUP --json`, parsed.
pub fn describe_group(file: &str, group: &str) -> serde_json::Value {
    let text = run(&["group", "describe", file, group, "--json"], None).ok();
    serde_json::from_str(&text).expect("group describe prints JSON")
}

/// `group describe FILE GROUP --json`, parsed, or `None` while the group does not exist.
pub fn group_json(file: &str, group: &str) -> Option<serde_json::Value> {
    let out = run(&["group", "describe", file, group, "--json"], None);
    if out.code == 1 && out.stderr.contains("does not exist") {
        return None;
    }
    Some(serde_json::from_str(&out.ok()).expect("group describe prints JSON"))
}

/// Polls `done` every 50 ms until it holds; panics with `what` after `limit`.
#[track_caller]
pub fn wait_until(limit: std::time::Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
