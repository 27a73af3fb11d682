//! brooklet's own counters ([`brooklet::Stats`]) beside the timings: what each measured
//! operation cost in syncs, bytes, pages and cache lookups, so that a figure of the table
//! comes with its cause.
//!
//! The brooklet subject keeps a [`Ledger`]: it takes a snapshot of the counters at the
//! untimed calls around the timed ones (`stage`, `prepare_read`, the first offset commit
//! of each kind, `sender`, closing) and charges the difference to the operation that ran
//! since, so no snapshot falls inside a timed region. Each workload opens a subject of its
//! own; when it closes, its rows go to one list for the whole run, printed by
//! [`section`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use brooklet::{Brooklet, Stats};

/// An operation the workloads time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// Opening the file and creating the topic (not printed).
    Open,
    /// Appends of this many records, durable or not.
    Append { durable: bool, records: u64 },
    /// Sequential reads of the whole log.
    Read,
    /// Group-offset commits.
    Offset { durable: bool },
    /// Durable 1-record sends from other threads.
    Sends,
}

impl Op {
    fn label(self) -> String {
        let durable = |d: bool| if d { "durable" } else { "non-durable" };
        match self {
            Op::Open => "open".to_owned(),
            Op::Append {
                durable: d,
                records,
            } => format!("{} {records}-record appends", durable(d)),
            Op::Read => "sequential reads of the whole log".to_owned(),
            Op::Offset { durable: d } => format!("{} group-offset commits", durable(d)),
            Op::Sends => "durable 1-record sends (1 and 8 threads)".to_owned(),
        }
    }
}

/// What a run of one operation did: how many, with how many records and payload bytes,
/// and the counters it moved (summed by name).
#[derive(Clone, Debug, Default)]
struct Row {
    ops: u64,
    records: u64,
    payload: u64,
    counters: BTreeMap<&'static str, u64>,
}

impl Row {
    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

/// Rows of every brooklet subject closed so far: (workload, operation, row).
static RUN: Mutex<Vec<(String, Op, Row)>> = Mutex::new(Vec::new());

/// One subject's accounts.
#[derive(Debug)]
pub struct Ledger {
    workload: String,
    last: Stats,
    current: Op,
    rows: BTreeMap<Op, Row>,
}

impl Ledger {
    pub fn new(workload: &str, db: &Brooklet) -> Self {
        let mut ledger = Self {
            workload: workload.to_owned(),
            last: Stats::default(),
            current: Op::Open,
            rows: BTreeMap::new(),
        };
        // The handle counts from its opening: all of that goes to `Open`.
        ledger.settle(db);
        ledger
    }

    /// Charges the counters moved since the last snapshot to the current operation.
    pub fn settle(&mut self, db: &Brooklet) {
        let now = db.stats();
        let spent = now.since(&self.last);
        let row = self.rows.entry(self.current).or_default();
        for (name, value) in spent.fields() {
            // Figures of the file, and the largest group, are not sums.
            if !name.starts_with("file.") && name != "group_largest" {
                *row.counters.entry(name).or_insert(0) += value;
            }
        }
        self.last = now;
    }

    /// From now on, counters go to `op` (after settling, if it is a new operation).
    pub fn begin(&mut self, db: &Brooklet, op: Op) {
        if op != self.current {
            self.settle(db);
            self.current = op;
        }
    }

    /// From now on, counters go to `op`, without a snapshot: for a timed call right
    /// after [`Ledger::settle`] was called.
    pub fn name(&mut self, op: Op) {
        self.current = op;
    }

    /// One operation of the current kind ran, with `records` records of `payload` bytes.
    pub fn count(&mut self, records: u64, payload: u64) {
        let row = self.rows.entry(self.current).or_default();
        row.ops += 1;
        row.records += records;
        row.payload += payload;
    }

    /// Closes the accounts and hands the rows to the run's list.
    pub fn close(&mut self, db: &Brooklet) {
        self.settle(db);
        let mut run = RUN.lock().expect("counters lock");
        for (op, row) in std::mem::take(&mut self.rows) {
            run.push((self.workload.clone(), op, row));
        }
    }
}

/// The report's section on brooklet's counters; empty when brooklet did not run.
#[must_use]
pub fn section() -> String {
    let run = RUN.lock().expect("counters lock");
    let rows: Vec<&(String, Op, Row)> = run.iter().filter(|(_, op, _)| *op != Op::Open).collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## brooklet's counters\n\n\
         What each timed brooklet operation cost, from `Brooklet::stats` (snapshots taken \
         between the timed calls). Per op: per append, read pass or offset commit; for the \
         sends, per record. Ops include the untimed first call of their kind (the warm-up \
         commit; the offset commit that joins the group). Payload is key + value bytes. A \
         group commit is one commit of the producer's queue; its mean size is requests per \
         group.\n\n\
         | workload | operation | ops | fdatasyncs per op | fdatasyncs per record | bytes \
         written per payload byte | bytes written per op | bytes read per op | pages \
         allocated per op (grown) | pages freed per op | cache hits | pending-data flushes \
         per op | requests per group commit |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (workload, op, row) in rows {
        let mut row = row.clone();
        if *op == Op::Sends {
            // Sent from other threads: one request per record, every record the same size.
            row.ops = row.counter("group_requests");
            row.records = row.ops;
            row.payload = row.ops * crate::data::PAYLOAD_LEN;
        }
        let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        // Offset commits carry no records: no figure per record or payload byte.
        let per_text = |n: u64, d: u64, places: usize| {
            if d == 0 {
                "-".to_owned()
            } else {
                format!("{:.places$}", per(n, d))
            }
        };
        let c = |name| row.counter(name);
        let (hits, misses) = (c("cache_hits"), c("cache_misses"));
        let hit_rate = if hits + misses == 0 {
            "-".to_owned()
        } else {
            format!(
                "{:.1}% of {}",
                100.0 * per(hits, hits + misses),
                hits + misses
            )
        };
        let groups = if c("group_commits") == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}", per(c("group_requests"), c("group_commits")))
        };
        let _ = writeln!(
            out,
            "| {workload} | {} | {} | {:.3} | {} | {} | {} | {} | {:.2} ({:.2}) | {:.2} | \
             {hit_rate} | {:.3} | {groups} |",
            op.label(),
            row.ops,
            per(c("fdatasyncs"), row.ops),
            per_text(c("fdatasyncs"), row.records, 4),
            per_text(c("bytes_written"), row.payload, 2),
            round_bytes(per(c("bytes_written"), row.ops)),
            round_bytes(per(c("bytes_read"), row.ops)),
            per(c("pages_allocated"), row.ops),
            per(c("pages_grown"), row.ops),
            per(c("pages_freed"), row.ops),
            per(c("pending_data_flushes"), row.ops),
        );
    }
    out
}

/// Bytes as a whole number, or in KiB/MiB when large.
fn round_bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 10.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brooklet::{Record, TopicConfig};

    #[test]
    fn a_closed_ledger_prints_what_each_operation_cost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Brooklet::open(dir.path().join("ledger.brooklet")).expect("open");
        db.admin()
            .create_topic("t", 1, TopicConfig::default())
            .expect("create");
        let mut ledger = Ledger::new("unit test", &db);
        for i in 0..3 {
            ledger.settle(&db);
            ledger.name(Op::Append {
                durable: true,
                records: 1,
            });
            ledger.count(1, 10);
            db.producer()
                .send("t", Record::value(format!("ten bytes{i}")))
                .expect("send");
        }
        ledger.close(&db);
        let text = section();
        let row = text
            .lines()
            .find(|l| {
                l.starts_with("| unit test | durable 1-record appends | 3 | 1.000 | 1.0000 |")
            })
            .unwrap_or_else(|| panic!("no row for the appends:\n{text}"));
        assert!(row.ends_with("| 1.00 |"), "one request per group: {row}");
        assert!(
            !text.contains("| open |"),
            "opening is not printed:\n{text}"
        );
    }
}
