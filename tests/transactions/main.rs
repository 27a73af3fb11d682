//! Exactly-once: transactions over records and group offsets, isolation, fencing, timeouts,
//! and idempotent producers (sequence checks, duplicates), through the public API; power
//! cuts during transactions (`crash`), workers killed with SIGKILL (`kill`), a fenced
//! instance in another process (`zombie`), and a model of idempotent retries
//! (`idempotent_model`). The multi-process tests start this binary again on one test
//! (`--exact`, the name [`test_name`] gives), their role in an environment variable.

mod basic;
mod crash;
mod idempotent_model;

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
#[allow(dead_code)]
fn test_name(module_path: &str, function: &str) -> String {
    let (_crate, module) = module_path
        .split_once("::")
        .expect("a module of the test binary");
    format!("{module}::{function}")
}
