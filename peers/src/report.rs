//! The results table: one row per measurement, one column per subject, each figure with
//! its ratio to the row's reference (the raw ceiling measured in the same run, or what the
//! row names), and brooklet's ratio checked against its target.
//!
//! Every ratio is `figure / reference`, so its direction follows the row: throughput rows
//! want a high ratio, latency and size rows a low one. The targets say which.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::args::Sizes;

/// One measured quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    BulkRate,
    BulkNoSyncRate,
    BulkSize,
    Commit1P50,
    Commit1P99,
    Commit1P50Append,
    Commit100Rate,
    ReadRate,
    OffsetRate,
    OffsetDurableRate,
    ChurnRate,
    ChurnSizeFirst,
    ChurnSizeLast,
    Threads1Rate,
    ThreadsNRate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Records,
    Commits,
    Latency,
    Bytes,
}

/// A bound on brooklet's ratio.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    #[must_use]
    pub fn met(self, ratio: f64) -> bool {
        match self {
            Target::AtLeast(bound) => ratio >= bound,
            Target::AtMost(bound) => ratio <= bound,
        }
    }

    fn text(self) -> String {
        match self {
            Target::AtLeast(bound) => format!(">= {bound:.2}"),
            Target::AtMost(bound) => format!("<= {bound:.2}"),
        }
    }
}

/// Number of threads in the thread comparison.
pub const THREADS: usize = 8;

impl Metric {
    pub const ALL: [Metric; 15] = [
        Metric::BulkRate,
        Metric::BulkNoSyncRate,
        Metric::BulkSize,
        Metric::Commit1P50,
        Metric::Commit1P99,
        Metric::Commit1P50Append,
        Metric::Commit100Rate,
        Metric::ReadRate,
        Metric::OffsetRate,
        Metric::OffsetDurableRate,
        Metric::ChurnRate,
        Metric::ChurnSizeFirst,
        Metric::ChurnSizeLast,
        Metric::Threads1Rate,
        Metric::ThreadsNRate,
    ];

    #[must_use]
    pub fn unit(self) -> Unit {
        match self {
            Metric::BulkSize | Metric::ChurnSizeFirst | Metric::ChurnSizeLast => Unit::Bytes,
            Metric::Commit1P50 | Metric::Commit1P99 | Metric::Commit1P50Append => Unit::Latency,
            Metric::OffsetRate | Metric::OffsetDurableRate => Unit::Commits,
            _ => Unit::Records,
        }
    }

    /// What the row measures, with the run's sizes.
    #[must_use]
    pub fn label(self, s: &Sizes) -> String {
        let n = count;
        match self {
            Metric::BulkRate => format!(
                "bulk append, {} records in durable {}-record commits",
                n(s.records),
                s.batch
            ),
            Metric::BulkNoSyncRate => format!(
                "non-durable bulk append, {} records in {}-record commits",
                n(s.records),
                s.batch
            ),
            Metric::BulkSize => format!(
                "size on disk after the bulk append (payload {})",
                bytes((crate::data::PAYLOAD_LEN * s.records) as f64)
            ),
            // The two p50 rows differ in their reference column.
            Metric::Commit1P50 | Metric::Commit1P50Append => {
                format!("durable 1-record commit, p50 ({} commits)", n(s.commits_1))
            }
            Metric::Commit1P99 => {
                format!("durable 1-record commit, p99 ({} commits)", n(s.commits_1))
            }
            Metric::Commit100Rate => {
                format!("durable 100-record commits ({} commits)", n(s.commits_100))
            }
            Metric::ReadRate => format!("sequential read of the {} records", n(s.records)),
            Metric::OffsetRate => format!("group-offset commits, not durable ({})", n(s.offsets)),
            Metric::OffsetDurableRate => {
                format!("group-offset commits, durable ({})", n(s.offsets_durable))
            }
            Metric::ChurnRate => format!(
                "retention churn: {} rounds of appending {} and deleting the oldest {}",
                s.churn_rounds,
                n(s.churn_records),
                n(s.churn_records)
            ),
            Metric::ChurnSizeFirst => "churn: size on disk after round 1".to_owned(),
            Metric::ChurnSizeLast => format!("churn: size on disk after round {}", s.churn_rounds),
            Metric::Threads1Rate => "durable 1-record sends, 1 thread".to_owned(),
            Metric::ThreadsNRate => format!("durable 1-record sends, {THREADS} threads"),
        }
    }

    /// What the ratio divides by.
    #[must_use]
    pub fn reference(self) -> &'static str {
        match self {
            Metric::BulkRate | Metric::Commit100Rate | Metric::ChurnRate => {
                "raw: write + fdatasync per commit"
            }
            Metric::BulkNoSyncRate => "raw: write per commit, no fdatasync",
            Metric::BulkSize => "payload (key + value bytes)",
            Metric::Commit1P50 | Metric::Commit1P99 => "one 4 KiB pwrite + fdatasync",
            Metric::Commit1P50Append => "one 4 KiB append + fdatasync",
            Metric::ReadRate => "raw: read() of the file",
            Metric::OffsetRate => "raw: 16-byte pwrite",
            Metric::OffsetDurableRate => "raw: 16-byte pwrite + fdatasync",
            Metric::ChurnSizeFirst => "payload of the retained records",
            Metric::ChurnSizeLast => "its size after round 1",
            Metric::Threads1Rate => "-",
            Metric::ThreadsNRate => "the same subject, 1 thread",
        }
    }

    /// brooklet's target for the ratio, if it has one.
    #[must_use]
    pub fn target(self) -> Option<Target> {
        match self {
            Metric::BulkRate | Metric::BulkNoSyncRate | Metric::ChurnRate => {
                Some(Target::AtLeast(0.5))
            }
            Metric::BulkSize => Some(Target::AtMost(1.15)),
            Metric::Commit1P50 => Some(Target::AtMost(1.3)),
            Metric::ReadRate => Some(Target::AtLeast(0.8)),
            Metric::ChurnSizeLast => Some(Target::AtMost(1.05)),
            Metric::ThreadsNRate => Some(Target::AtLeast(5.0)),
            _ => None,
        }
    }

    /// True when the reference is the raw ceiling measured in the same rounds as the
    /// subject (op by op, alternating), so it differs from subject to subject.
    #[must_use]
    pub fn paired(self) -> bool {
        matches!(
            self,
            Metric::BulkRate
                | Metric::BulkNoSyncRate
                | Metric::Commit1P50
                | Metric::Commit1P99
                | Metric::Commit1P50Append
                | Metric::Commit100Rate
                | Metric::ReadRate
                | Metric::OffsetRate
                | Metric::OffsetDurableRate
                | Metric::ChurnRate
        )
    }
}

/// A figure and what its ratio divides by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measure {
    pub value: f64,
    pub reference: Option<f64>,
}

impl Measure {
    #[must_use]
    pub fn ratio(self) -> Option<f64> {
        self.reference.filter(|r| *r > 0.0).map(|r| self.value / r)
    }
}

pub type Figures = BTreeMap<Metric, Measure>;

/// One column of the table.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub figures: Figures,
}

/// `1000000` as `1M`, `2000` as `2k`, others as they are.
#[must_use]
pub fn count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

#[must_use]
pub fn bytes(b: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if b >= 1024.0 * MIB {
        format!("{:.2} GiB", b / (1024.0 * MIB))
    } else if b >= MIB {
        format!("{:.1} MiB", b / MIB)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn per_second(rate: f64, what: &str) -> String {
    if rate >= 1e6 {
        format!("{:.2} M {what}/s", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1} k {what}/s", rate / 1e3)
    } else {
        format!("{rate:.0} {what}/s")
    }
}

/// A latency given in seconds.
fn latency(seconds: f64) -> String {
    if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.0} us", seconds * 1e6)
    }
}

#[must_use]
pub fn figure(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Records => per_second(value, "rec"),
        Unit::Commits => per_second(value, "commits"),
        Unit::Latency => latency(value),
        Unit::Bytes => bytes(value),
    }
}

/// A cell: the figure and its ratio; with `target`, whether the ratio meets it.
#[must_use]
pub fn cell(metric: Metric, measure: Option<&Measure>, target: Option<Target>) -> String {
    let Some(m) = measure else {
        return "-".to_owned();
    };
    let text = figure(metric.unit(), m.value);
    match (m.ratio(), target) {
        (None, _) => text,
        (Some(r), None) => format!("{text} ({r:.2})"),
        (Some(r), Some(t)) if t.met(r) => format!("{text} ({r:.2}, met)"),
        (Some(r), Some(_)) => format!("{text} ({r:.2}, **short**)"),
    }
}

/// The main table: measurement, reference, brooklet's target, then one column each.
#[must_use]
pub fn table(sizes: &Sizes, columns: &[Column]) -> String {
    let mut out = String::new();
    out.push_str("| measurement | ratio to | brooklet target |");
    for c in columns {
        let _ = write!(out, " {} |", c.name);
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    for metric in Metric::ALL {
        if columns.iter().all(|c| !c.figures.contains_key(&metric)) {
            continue;
        }
        let target = metric.target();
        let _ = write!(
            out,
            "| {} | {} | {} |",
            metric.label(sizes),
            metric.reference(),
            target.map_or_else(|| "-".to_owned(), Target::text)
        );
        for c in columns {
            let judged = if c.name == "brooklet" { target } else { None };
            let _ = write!(out, " {} |", cell(metric, c.figures.get(&metric), judged));
        }
        out.push('\n');
    }
    out
}

/// brooklet's targets, one line each: met, or where it falls short and by how much.
#[must_use]
pub fn verdicts(sizes: &Sizes, brooklet: &Figures) -> Vec<String> {
    let mut lines = Vec::new();
    for metric in Metric::ALL {
        let (Some(target), Some(ratio)) = (
            metric.target(),
            brooklet.get(&metric).and_then(|m| m.ratio()),
        ) else {
            continue;
        };
        let verdict = if target.met(ratio) {
            "met".to_owned()
        } else {
            "FALLS SHORT".to_owned()
        };
        lines.push(format!(
            "{}: {ratio:.2} x {} (target {}): {verdict}",
            metric.label(sizes),
            metric.reference(),
            target.text()
        ));
    }
    lines
}

/// The paired ceilings: for each subject, the reference measured alongside it.
#[must_use]
pub fn ceilings(sizes: &Sizes, columns: &[Column]) -> String {
    let mut out = String::from("| ceiling measured alongside | ");
    out.push_str(
        &columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push_str(" |\n|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    for metric in Metric::ALL.into_iter().filter(|m| m.paired()) {
        if columns.iter().all(|c| !c.figures.contains_key(&metric)) {
            continue;
        }
        let _ = write!(out, "| {} ({}) |", metric.label(sizes), metric.reference());
        for c in columns {
            let text = c
                .figures
                .get(&metric)
                .and_then(|m| m.reference)
                .map_or_else(|| "-".to_owned(), |r| figure(metric.unit(), r));
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(value: f64, reference: f64) -> Measure {
        Measure {
            value,
            reference: Some(reference),
        }
    }

    #[test]
    fn figures_are_scaled_to_readable_units() {
        assert_eq!(figure(Unit::Records, 1_234_567.0), "1.23 M rec/s");
        assert_eq!(figure(Unit::Records, 45_600.0), "45.6 k rec/s");
        assert_eq!(figure(Unit::Commits, 950.0), "950 commits/s");
        assert_eq!(figure(Unit::Latency, 0.000_089), "89 us");
        assert_eq!(figure(Unit::Latency, 0.0123), "12.30 ms");
        assert_eq!(figure(Unit::Bytes, 116e6), "110.6 MiB");
        assert_eq!(count(1_000_000), "1M");
        assert_eq!(count(100_000), "100k");
        assert_eq!(count(1500), "1500");
    }

    #[test]
    fn cells_show_the_ratio_and_judge_only_with_a_target() {
        let m = measure(600_000.0, 1_000_000.0);
        assert_eq!(
            cell(Metric::BulkRate, Some(&m), None),
            "600.0 k rec/s (0.60)"
        );
        let target = Metric::BulkRate.target();
        assert_eq!(
            cell(Metric::BulkRate, Some(&m), target),
            "600.0 k rec/s (0.60, met)"
        );
        let slow = measure(300_000.0, 1_000_000.0);
        assert_eq!(
            cell(Metric::BulkRate, Some(&slow), target),
            "300.0 k rec/s (0.30, **short**)"
        );
        // Lower is better for latency: 1.5x the fsync misses `<= 1.3`.
        let commit = measure(0.000_150, 0.000_100);
        assert!(
            cell(
                Metric::Commit1P50,
                Some(&commit),
                Metric::Commit1P50.target()
            )
            .contains("short")
        );
        assert_eq!(cell(Metric::ReadRate, None, None), "-");
        let no_reference = Measure {
            value: 2000.0,
            reference: None,
        };
        assert_eq!(
            cell(Metric::Threads1Rate, Some(&no_reference), None),
            "2.0 k rec/s"
        );
    }

    #[test]
    fn the_table_has_a_row_per_measured_metric_and_a_column_per_subject() {
        let mut figures = Figures::new();
        figures.insert(Metric::BulkRate, measure(500_000.0, 1_000_000.0));
        figures.insert(Metric::ThreadsNRate, measure(10_000.0, 4000.0));
        let columns = vec![
            Column {
                name: "raw".to_owned(),
                figures: Figures::from([(Metric::BulkRate, measure(1e6, 1e6))]),
            },
            Column {
                name: "brooklet".to_owned(),
                figures: figures.clone(),
            },
        ];
        let text = table(&Sizes::full(), &columns);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "header, rule, two rows:\n{text}");
        assert!(lines[0].ends_with("| raw | brooklet |"));
        assert!(lines[2].starts_with("| bulk append, 1M records in durable 1000-record commits |"));
        assert!(lines[2].ends_with("| 1.00 M rec/s (1.00) | 500.0 k rec/s (0.50, met) |"));
        assert!(lines[3].contains("| - | 10.0 k rec/s (2.50, **short**) |"));
        let verdicts = verdicts(&Sizes::full(), &figures);
        assert_eq!(verdicts.len(), 2);
        assert!(verdicts[0].ends_with(": met"));
        assert!(verdicts[1].ends_with(": FALLS SHORT"));
    }
}
