//! Exactly-once: transactions over records and group offsets, isolation, fencing, timeouts,
//! and idempotent producers (sequence checks, duplicates), through the public API; power
//! cuts during transactions (`crash`), workers killed with SIGKILL (`kill`), a fenced
//! instance in another process (`zombie`), and a model of idempotent retries
//! (`idempotent_model`). The multi-process tests start this binary again on one test
//! (`--exact`, the name [`test_name`] gives), their role in an environment variable.

mod basic;
mod crash;
mod idempotent_model;
mod kill;
mod zombie;

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Child, Command, Stdio};

use brooklet::{Brooklet, FetchLimits, Isolation};

/// The values of a partition from its beginning, as a reader at `isolation` sees them.
fn read_values(
    db: &Brooklet,
    topic: &str,
    partition: u32,
    isolation: Isolation,
) -> brooklet::Result<Vec<Vec<u8>>> {
    let limits = FetchLimits {
        max_records: 1_000_000,
        max_bytes: 1 << 30,
    };
    let mut out = Vec::new();
    let mut offset = db.beginning_offset(topic, partition)?;
    loop {
        let fetched = db.fetch_with(topic, partition, offset, limits, isolation)?;
        out.extend(
            fetched
                .records
                .into_iter()
                .map(|r| r.value.unwrap_or_default()),
        );
        if fetched.next_offset == offset {
            return Ok(out);
        }
        offset = fetched.next_offset;
    }
}

/// The name the test harness gives `function` of the module `module_path` (its
/// `module_path!()`): the path without the crate's name, as `--exact` matches it.
fn test_name(module_path: &str, function: &str) -> String {
    let (_crate, module) = module_path
        .split_once("::")
        .expect("a module of the test binary");
    format!("{module}::{function}")
}

/// Starts this test binary again on test `function` of `module_path` alone, with `env`
/// set, stdout piped (for the child's lines) and stderr inherited.
fn spawn_child(module_path: &str, function: &str, env: &[(&str, &OsStr)]) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new(exe);
    command
        .args([
            "--exact",
            test_name(module_path, function).as_str(),
            "--nocapture",
            "--test-threads=1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("spawn a child process")
}

/// Prints one line on stdout and flushes it, so that a kill cannot keep it in a buffer.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("write stdout");
    out.flush().expect("flush stdout");
}
