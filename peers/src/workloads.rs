//! The workloads, run against one subject at a time with the raw ceiling beside it.
//!
//! `fdatasync` latency on shared disks and VMs drifts by several times within minutes, so a
//! ceiling measured once would flatter or wrong whichever subject ran at a bad moment.
//! Instead each workload runs the subject and its ceiling op by op, alternating which goes
//! first, and every ratio compares figures taken over the same seconds. Record generation
//! and [`Subject::stage`] are outside the timed region.

use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::args::{Kind, Sizes};
use crate::data::{self, PAYLOAD_LEN};
use crate::report::{Figures, Measure, Metric, THREADS};
use crate::subjects::{self, Fsync4k, Raw, Setup, Subject};

/// Segment size of the churn workload's log-structured subjects: whole segments drop.
const CHURN_SEGMENT_BYTES: u64 = 1 << 20;

/// What the workloads measured on one subject, and the raw ceiling's figures from its side
/// of the pairs (the raw column of the table).
#[derive(Debug, Default)]
pub struct Outcome {
    pub subject: Figures,
    pub ceiling: Figures,
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Runs `a` and `b` once each, `a` first on even rounds; returns their times.
fn pair(
    round: u64,
    a: impl FnOnce() -> Duration,
    b: impl FnOnce() -> Duration,
) -> (Duration, Duration) {
    if round.is_multiple_of(2) {
        let ta = a();
        (ta, b())
    } else {
        let tb = b();
        (a(), tb)
    }
}

fn rate(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

/// The `q`-quantile (0..=1) of `samples`, by nearest rank.
fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    assert!(!samples.is_empty(), "a quantile of no samples");
    samples.sort_unstable();
    let rank = (q * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// A throughput figure and its paired ceiling: (subject measure, ceiling measure).
fn rates(count: u64, subject: Duration, ceiling: Duration) -> (Measure, Measure) {
    let (s, c) = (rate(count, subject), rate(count, ceiling));
    (
        Measure {
            value: s,
            reference: Some(c),
        },
        Measure {
            value: c,
            reference: Some(c),
        },
    )
}

/// One workload: runs on a subject of a kind in a directory, adds its figures.
pub type Workload = fn(Kind, &Sizes, &Path, &mut Outcome);

/// The workloads, in the order they run and are reported.
pub const WORKLOADS: [(&str, Workload); 6] = [
    ("bulk append and sequential read", bulk_and_read),
    ("non-durable bulk append", bulk_no_sync),
    ("durable commits", commits),
    ("group offsets", offsets),
    ("retention churn", churn),
    ("threads", threads),
];

/// Runs one workload on `kind` in a directory under `root`.
///
/// The directory stays until the whole run ends: deleting a few hundred MB (on a file
/// system mounted with `discard`, as this project's VMs are) stalled every `fdatasync` on
/// the disk at about 4 ms for tens of seconds in trial runs, which would fall on whichever
/// subject ran next.
pub fn run(
    kind: Kind,
    sizes: &Sizes,
    root: &Path,
    (name, workload): (&str, Workload),
    out: &mut Outcome,
) {
    let dir = root.join(kind.name()).join(name.replace(' ', "-"));
    let start = Instant::now();
    workload(kind, sizes, &dir, out);
    eprintln!(
        "  {:<9} {name}: {:.1} s",
        kind.name(),
        start.elapsed().as_secs_f64()
    );
}

/// Bytes on disk of a subject's files (allocated blocks).
fn disk(subject: &dyn Subject) -> u64 {
    subjects::allocated_bytes(subject.dir())
}

fn insert(out: &mut Outcome, metric: Metric, (subject, ceiling): (Measure, Measure)) {
    out.subject.insert(metric, subject);
    out.ceiling.insert(metric, ceiling);
}

/// Appends records `first..first + count` to both in `batch`-record durable commits,
/// untimed (filling a log before the measured part).
fn fill(subject: &mut dyn Subject, ceiling: &mut Raw, first: u64, count: u64, batch: u64) {
    let mut next = first;
    while next < first + count {
        let n = batch.min(first + count - next);
        let records = data::records(next, n);
        subject.stage(records.clone());
        ceiling.stage(records);
        subject.append(true);
        ceiling.append(true);
        next += n;
    }
}

/// Opens a subject and its ceiling in `dir` and appends `sizes.records` records to both in
/// `sizes.batch`-record commits, durable or not, timing each commit pairwise; returns
/// both, and the metric's measures.
fn bulk_append(
    kind: Kind,
    sizes: &Sizes,
    dir: &Path,
    durable: bool,
) -> (Box<dyn Subject>, Raw, (Measure, Measure)) {
    let mut subject = subjects::open(kind, &dir.join("subject"), Setup::default());
    let mut ceiling = Raw::open(&dir.join("ceiling"), Setup::default());
    let (mut ts, mut tc) = (Duration::ZERO, Duration::ZERO);
    let mut first = 0;
    let mut round = 0;
    while first < sizes.records {
        let n = sizes.batch.min(sizes.records - first);
        let records = data::records(first, n);
        subject.stage(records.clone());
        ceiling.stage(records);
        let (s, c) = pair(
            round,
            || timed(|| subject.append(durable)),
            || timed(|| ceiling.append(durable)),
        );
        ts += s;
        tc += c;
        first += n;
        round += 1;
    }
    (subject, ceiling, rates(sizes.records, ts, tc))
}

fn bulk_and_read(kind: Kind, sizes: &Sizes, dir: &Path, out: &mut Outcome) {
    let (mut subject, mut ceiling, measures) = bulk_append(kind, sizes, dir, true);
    insert(out, Metric::BulkRate, measures);
    let payload = (sizes.records * PAYLOAD_LEN) as f64;
    let size = |bytes: u64| Measure {
        value: bytes as f64,
        reference: Some(payload),
    };
    out.subject
        .insert(Metric::BulkSize, size(disk(subject.as_ref())));
    out.ceiling.insert(Metric::BulkSize, size(disk(&ceiling)));
    eprintln!(
        "  {:<9} after the bulk append: {} bytes allocated, file lengths {} bytes",
        kind.name(),
        disk(subject.as_ref()),
        subjects::length_bytes(subject.dir())
    );

    subject.prepare_read(sizes.records);
    let (mut s_times, mut c_times) = (Vec::new(), Vec::new());
    for pass in 0..sizes.read_passes {
        let (s, c) = pair(
            pass,
            || timed(|| check_read(subject.read_all(), sizes.records, true)),
            || timed(|| check_read(ceiling.read_all(), sizes.records, false)),
        );
        s_times.push(s);
        c_times.push(c);
    }
    let s = quantile(&mut s_times, 0.5);
    let c = quantile(&mut c_times, 0.5);
    insert(out, Metric::ReadRate, rates(sizes.records, s, c));
}

/// The bulk append without `fdatasync`: the same 1000-record commits at each subject's
/// non-durable setting (brooklet's `Durability::None`), beside a raw `write()` of the same
/// encoded bytes per commit. Where the CPU, not the disk, sets the pace.
fn bulk_no_sync(kind: Kind, sizes: &Sizes, dir: &Path, out: &mut Outcome) {
    let (_, _, measures) = bulk_append(kind, sizes, dir, false);
    insert(out, Metric::BulkNoSyncRate, measures);
}

/// A read must hand back every record, and (`payload`) exactly their keys and values.
fn check_read(count: subjects::ReadCount, records: u64, payload: bool) {
    assert_eq!(count.records, records, "the read returned every record");
    if payload {
        assert_eq!(
            count.bytes,
            records * PAYLOAD_LEN,
            "keys and values read back"
        );
    }
}

fn commits(kind: Kind, sizes: &Sizes, dir: &Path, out: &mut Outcome) {
    let mut subject = subjects::open(kind, &dir.join("subject"), Setup::default());
    let mut ceiling = Raw::open(&dir.join("ceiling"), Setup::default());
    let mut overwrite = Fsync4k::overwrite(&dir.join("fsync-4k-overwrite"));
    let mut append = Fsync4k::append(&dir.join("fsync-4k-append"));
    // One untimed commit each: first-use costs (statements, files) are not the figure.
    fill(subject.as_mut(), &mut ceiling, 0, 1, 1);
    let mut next = 1;
    // Latencies of the subject, the overwrite and the append, in turn (rotating who goes
    // first).
    let mut latencies: [Vec<Duration>; 3] = Default::default();
    for round in 0..sizes.commits_1 {
        subject.stage(data::records(next, 1));
        next += 1;
        let ops: [&mut dyn FnMut() -> Duration; 3] = [
            &mut || timed(|| subject.append(true)),
            &mut || timed(|| overwrite.commit()),
            &mut || timed(|| append.commit()),
        ];
        for k in 0..3 {
            let i = (round as usize + k) % 3;
            latencies[i].push(ops[i]());
        }
    }
    let [mut s_lat, mut over_lat, mut append_lat] = latencies;
    for (metric, q, append_ceiling) in [
        (Metric::Commit1P50, 0.5, false),
        (Metric::Commit1P99, 0.99, false),
        (Metric::Commit1P50Append, 0.5, true),
    ] {
        let ceiling_lat = if append_ceiling {
            &mut append_lat
        } else {
            &mut over_lat
        };
        let s = quantile(&mut s_lat, q).as_secs_f64();
        let c = quantile(ceiling_lat, q).as_secs_f64();
        let reference = Some(c);
        let pair = (
            Measure {
                value: s,
                reference,
            },
            Measure {
                value: c,
                reference,
            },
        );
        insert(out, metric, pair);
    }

    let (mut ts, mut tc) = (Duration::ZERO, Duration::ZERO);
    for round in 0..sizes.commits_100 {
        let records = data::records(next, 100);
        next += 100;
        subject.stage(records.clone());
        ceiling.stage(records);
        let (s, c) = pair(
            round,
            || timed(|| subject.append(true)),
            || timed(|| ceiling.append(true)),
        );
        ts += s;
        tc += c;
    }
    insert(
        out,
        Metric::Commit100Rate,
        rates(sizes.commits_100 * 100, ts, tc),
    );
}

fn offsets(kind: Kind, sizes: &Sizes, dir: &Path, out: &mut Outcome) {
    let mut subject = subjects::open(kind, &dir.join("subject"), Setup::default());
    let mut ceiling = Raw::open(&dir.join("ceiling"), Setup::default());
    fill(subject.as_mut(), &mut ceiling, 0, 1000, 1000);
    for (metric, count, sync) in [
        (Metric::OffsetRate, sizes.offsets, false),
        (Metric::OffsetDurableRate, sizes.offsets_durable, true),
    ] {
        // Untimed: joins the group (brooklet) or opens the group's store (kafko).
        subject.commit_offset(0, sync);
        ceiling.commit_offset(0, sync);
        let (mut ts, mut tc) = (Duration::ZERO, Duration::ZERO);
        for round in 0..count {
            let offset = round % 1000 + 1;
            let (s, c) = pair(
                round,
                || timed(|| subject.commit_offset(offset, sync)),
                || timed(|| ceiling.commit_offset(offset, sync)),
            );
            ts += s;
            tc += c;
        }
        insert(out, metric, rates(count, ts, tc));
    }
}

fn churn(kind: Kind, sizes: &Sizes, dir: &Path, out: &mut Outcome) {
    let setup = Setup {
        segment_bytes: Some(CHURN_SEGMENT_BYTES),
        retain_records: Some(sizes.churn_records),
    };
    let mut subject = subjects::open(kind, &dir.join("subject"), setup);
    let mut ceiling = Raw::open(&dir.join("ceiling"), setup);
    let window = sizes.churn_records;
    fill(subject.as_mut(), &mut ceiling, 0, window, sizes.batch);
    let mut next = window;
    let (mut ts, mut tc) = (Duration::ZERO, Duration::ZERO);
    let mut round = 0;
    let mut first_sizes = (0, 0);
    for r in 1..=sizes.churn_rounds {
        let end = next + window;
        while next < end {
            let n = sizes.batch.min(end - next);
            let records = data::records(next, n);
            subject.stage(records.clone());
            ceiling.stage(records);
            let (s, c) = pair(
                round,
                || timed(|| subject.append(true)),
                || timed(|| ceiling.append(true)),
            );
            ts += s;
            tc += c;
            next += n;
            round += 1;
        }
        if r == 1 {
            first_sizes = (disk(subject.as_ref()), disk(&ceiling));
        }
    }
    let appended = sizes.churn_rounds * window;
    insert(out, Metric::ChurnRate, rates(appended, ts, tc));
    let payload = (window * PAYLOAD_LEN) as f64;
    let last_sizes = (disk(subject.as_ref()), disk(&ceiling));
    for (figures, first, last) in [
        (&mut out.subject, first_sizes.0, last_sizes.0),
        (&mut out.ceiling, first_sizes.1, last_sizes.1),
    ] {
        figures.insert(
            Metric::ChurnSizeFirst,
            Measure {
                value: first as f64,
                reference: Some(payload),
            },
        );
        figures.insert(
            Metric::ChurnSizeLast,
            Measure {
                value: last as f64,
                reference: Some(first as f64),
            },
        );
    }
}

fn threads(kind: Kind, sizes: &Sizes, dir: &Path, out: &mut Outcome) {
    let subject = subjects::open(kind, &dir.join("subject"), Setup::default());
    out.subject.extend(thread_figures(subject.as_ref(), sizes));
}

/// The thread comparison of the raw ceiling itself (its own column's figures).
pub fn raw_threads(sizes: &Sizes, dir: &Path) -> Figures {
    let raw = Raw::open(dir, Setup::default());
    thread_figures(&raw, sizes)
}

/// Rounds of one thread sending `thread_sends` durable records, then [`THREADS`] threads
/// sending as many each (alternating which goes first); records/s of each.
fn thread_figures(subject: &dyn Subject, sizes: &Sizes) -> Figures {
    let per_thread = sizes.thread_sends;
    let (mut t1, mut tn) = (Duration::ZERO, Duration::ZERO);
    let mut next = 0u64;
    for round in 0..sizes.thread_rounds {
        let one = || {
            let mut sender = subject.sender();
            let records = data::records(next, per_thread);
            timed(|| {
                for record in records {
                    sender.send(record);
                }
            })
        };
        let many = || parallel_sends(subject, next + per_thread, per_thread);
        let (a, b) = pair(round, one, many);
        t1 += a;
        tn += b;
        next += per_thread * (1 + THREADS as u64);
    }
    let rate_1 = rate(sizes.thread_rounds * per_thread, t1);
    let rate_n = rate(sizes.thread_rounds * per_thread * THREADS as u64, tn);
    Figures::from([
        (
            Metric::Threads1Rate,
            Measure {
                value: rate_1,
                reference: None,
            },
        ),
        (
            Metric::ThreadsNRate,
            Measure {
                value: rate_n,
                reference: Some(rate_1),
            },
        ),
    ])
}

/// [`THREADS`] threads each send `count` records (numbered from `first`) durably; the wall
/// time from the moment all are ready until the last finishes.
fn parallel_sends(subject: &dyn Subject, first: u64, count: u64) -> Duration {
    let ready = Barrier::new(THREADS + 1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS as u64)
            .map(|t| {
                let mut sender = subject.sender();
                let records = data::records(first + t * count, count);
                let ready = &ready;
                scope.spawn(move || {
                    ready.wait();
                    for record in records {
                        sender.send(record);
                    }
                })
            })
            .collect();
        ready.wait();
        let start = Instant::now();
        for worker in workers {
            worker.join().expect("sender thread");
        }
        start.elapsed()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(quantile(&mut samples, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&mut samples, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&mut samples, 1.0), Duration::from_millis(100));
        assert_eq!(
            quantile(&mut [Duration::from_millis(7)], 0.99),
            Duration::from_millis(7)
        );
    }
}
