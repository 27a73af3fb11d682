//! Prints the `log` bench's brooklet/ceiling ratios as a markdown table, from the
//! `estimates.json` (median, ns per iteration) and `benchmark.json` (throughput elements per
//! iteration) files criterion leaves under `<criterion dir>/<group>/<bench>/new/`.
//!
//! Throughput ratios are brooklet records/s over ceiling records/s (higher is better);
//! latency ratios are brooklet time over ceiling time (lower is better).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::paired::Row;

/// One bench's median, as criterion stored it.
struct Estimate {
    median_ns: f64,
    /// Records per iteration (the bench's `Throughput::Elements`).
    elements: f64,
    /// Written by this run (not left by an earlier one).
    fresh: bool,
}

impl Estimate {
    fn per_second(&self) -> f64 {
        self.elements * 1e9 / self.median_ns
    }
}

/// Where criterion writes, by its own rule: `$CRITERION_HOME`, `$CARGO_TARGET_DIR/criterion`,
/// else `target/criterion` (cargo runs benches from the package root).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        PathBuf::from(home)
    } else if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        PathBuf::from(target).join("criterion")
    } else {
        PathBuf::from("target/criterion")
    }
}

/// The number after `"key":` for the first key, then each later key after it in turn.
fn number_after(text: &str, keys: &[&str]) -> Option<f64> {
    let mut rest = text;
    for key in keys {
        let at = rest.find(&format!("\"{key}\":"))?;
        rest = &rest[at + key.len() + 3..];
    }
    let end = rest
        .find(|ch: char| !(ch.is_ascii_digit() || matches!(ch, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn load(id: &str, since: SystemTime) -> Option<Estimate> {
    let dir = criterion_dir().join(id).join("new");
    let estimates = std::fs::read_to_string(dir.join("estimates.json")).ok()?;
    let benchmark = std::fs::read_to_string(dir.join("benchmark.json")).ok()?;
    let modified = std::fs::metadata(dir.join("estimates.json"))
        .and_then(|m| m.modified())
        .ok()?;
    Some(Estimate {
        median_ns: number_after(&estimates, &["median", "point_estimate"])?,
        elements: number_after(&benchmark, &["throughput", "Elements"]).unwrap_or(1.0),
        fresh: modified >= since,
    })
}

fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M rec/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1} k rec/s", per_second / 1e3)
    } else {
        format!("{per_second:.0} rec/s")
    }
}

fn time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn mark(e: &Estimate) -> &'static str {
    if e.fresh { "" } else { " (earlier run)" }
}

/// The table being written, and when this run started.
struct Table {
    out: String,
    since: SystemTime,
}

impl Table {
    /// A throughput row: brooklet records/s against a ceiling's.
    fn throughput(&mut self, what: &str, brooklet: &str, ceiling: &str, target: &str) {
        let (Some(b), Some(c)) = (load(brooklet, self.since), load(ceiling, self.since)) else {
            return;
        };
        let _ = writeln!(
            self.out,
            "| {what} | {}{} | {}{} | {:.2} | {target} |",
            rate(b.per_second()),
            mark(&b),
            rate(c.per_second()),
            mark(&c),
            b.per_second() / c.per_second(),
        );
    }

    /// A latency row: brooklet time per iteration against a ceiling's.
    fn latency(&mut self, what: &str, brooklet: &str, ceiling: Option<&str>, target: &str) {
        let Some(b) = load(brooklet, self.since) else {
            return;
        };
        let (ceiling_text, ratio) = match ceiling.and_then(|id| load(id, self.since)) {
            Some(c) => (
                format!("{}{}", time(c.median_ns), mark(&c)),
                format!("{:.2}", b.median_ns / c.median_ns),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            self.out,
            "| {what} | {}{} | {ceiling_text} | {ratio} | {target} |",
            time(b.median_ns),
            mark(&b),
        );
    }
}

/// True if this run wrote the estimates of bench `id`.
pub fn ran(id: &str, since: SystemTime) -> bool {
    load(id, since).is_some_and(|e| e.fresh)
}

fn paired_table(out: &mut String, rows: &[Row]) {
    out.push_str("\n## paired: brooklet and ceiling alternating, one operation each per round\n\n");
    out.push_str("Medians of each side, and the median of the per-round ratios (throughput rows: ");
    out.push_str("ceiling time / brooklet time; latency rows: brooklet time / ceiling time).\n\n");
    out.push_str("| measurement | brooklet | ceiling | ratio | target |\n|---|---|---|---|---|\n");
    for row in rows {
        let (b, c, ratio) = if row.throughput {
            let per = |ns: f64| f64::from(row.records) * 1e9 / ns;
            (
                format!("{} ({})", rate(per(row.brooklet_ns)), time(row.brooklet_ns)),
                format!("{} ({})", rate(per(row.ceiling_ns)), time(row.ceiling_ns)),
                1.0 / row.time_ratio,
            )
        } else {
            (time(row.brooklet_ns), time(row.ceiling_ns), row.time_ratio)
        };
        let _ = writeln!(
            out,
            "| {} | {b} | {c} | {ratio:.2} | {} |",
            row.what, row.target
        );
    }
}

/// Prints the table for benches whose estimates exist, then the paired rows; `since` is
/// when this run started.
pub fn print(since: SystemTime, threads: usize, paired: &[Row]) {
    let mut out = String::new();
    out.push_str("\n## brooklet vs raw file (criterion medians)\n\n");
    out.push_str("Throughput rows: ratio = brooklet records/s / ceiling records/s. ");
    out.push_str("Latency rows: ratio = brooklet time / ceiling time.\n\n");
    out.push_str("| measurement | brooklet | ceiling | ratio | target |\n|---|---|---|---|---|\n");
    let mut t = Table { out, since };
    for batch in [1, 10, 100, 1000] {
        let target = if batch >= 100 { ">= 0.5" } else { "" };
        t.throughput(
            &format!("append, {batch}-record batches, Immediate vs write+fdatasync"),
            &format!("append/brooklet/{batch}"),
            &format!("append/raw/{batch}"),
            target,
        );
    }
    for batch in [1, 10, 100, 1000] {
        t.throughput(
            &format!("append, {batch}-record batches, Durability::None vs write"),
            &format!("append_nosync/brooklet/{batch}"),
            &format!("append_nosync/raw/{batch}"),
            "",
        );
    }
    t.latency(
        "durable 1-record send vs 4 KiB pwrite+fdatasync (overwrite)",
        "commit_latency/brooklet_1_thread",
        Some("commit_latency/raw_4k_overwrite"),
        "<= 1.3",
    );
    t.latency(
        "durable 1-record send vs 4 KiB append+fdatasync",
        "commit_latency/brooklet_1_thread",
        Some("commit_latency/raw_4k_append"),
        "",
    );
    t.throughput(
        &format!("durable 1-record sends, {threads} threads vs 1 thread"),
        &format!("commit_latency/brooklet_{threads}_threads"),
        "commit_latency/brooklet_1_thread",
        ">= 5",
    );
    t.throughput(
        "sequential read, fetch vs raw read",
        "read/brooklet_fetch",
        "read/raw_read",
        ">= 0.8",
    );
    t.throughput(
        "sequential read, fetch vs raw read + decode_batch",
        "read/brooklet_fetch",
        "read/raw_read_decode",
        "",
    );
    t.latency(
        "seek by offset (1-record fetch)",
        "seek/by_offset",
        None,
        "",
    );
    t.latency("seek by time (offset_for_time)", "seek/by_time", None, "");
    if !paired.is_empty() {
        paired_table(&mut t.out, paired);
    }
    println!("{}", t.out);
}
