//! brooklet-peers: the same event-log workloads, in one run, against brooklet, rusqlite,
//! redb, fjall and kafko, each next to a raw append-only file written with `write` and
//! `fdatasync` (the physical ceiling), printed as a markdown table of figures and ratios.
//! `--help` lists the flags; BENCHMARKS.md at the repository root has a full run's results.
//!
//! This is a benchmark binary: a failed write, a wrong record count or a refused commit
//! means the run measured nothing, so it fails loudly with `expect("what failed")` rather
//! than handling errors.

#![expect(
    clippy::cast_precision_loss,
    reason = "figures are counts, bytes and seconds far below 2^52: f64 holds them exactly enough"
)]
#![expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "quantile ranks: a fraction of a slice length, clamped to the slice"
)]

mod args;
mod compression;
mod data;
mod exactly_once;
mod report;
mod subjects;
mod workloads;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use args::{Config, Kind, Sizes};
use report::Column;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let config = match args::parse(&argv) {
        Ok(config) => config,
        Err(message) => {
            let help = argv.iter().any(|a| a == "--help" || a == "-h");
            eprintln!("{message}");
            std::process::exit(if help { 0 } else { 2 });
        }
    };
    let parent = config.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let fs = filesystem(&parent);
    if fs == "tmpfs" {
        eprintln!(
            "warning: {} is on tmpfs: fdatasync costs nothing there, so the figures say \
             nothing about a disk; use --dir on a real disk",
            parent.display()
        );
    }
    let root = tempfile::Builder::new()
        .prefix(".brooklet-peers-")
        .tempdir_in(&parent)
        .expect("temporary directory for the run");
    let started = Instant::now();
    let fsync = fsync_latency(root.path());
    eprintln!(
        "brooklet-peers: in {} ({fs}); 4 KiB write + fdatasync: {}",
        root.path().display(),
        fsync.text()
    );
    // Workload by workload, each on every subject in turn: a slow spell of the disk then
    // falls on several subjects rather than on all of one subject's workloads.
    let mut outcomes: Vec<workloads::Outcome> = config
        .kinds
        .iter()
        .map(|_| workloads::Outcome::default())
        .collect();
    let mut raw_threads = report::Figures::new();
    for workload in workloads::WORKLOADS {
        for (kind, outcome) in config.kinds.iter().zip(&mut outcomes) {
            workloads::run(*kind, &config.sizes, root.path(), workload, outcome);
        }
        if workload.0 == "threads" {
            let start = Instant::now();
            raw_threads = workloads::raw_threads(&config.sizes, &root.path().join("raw-threads"));
            eprintln!(
                "  raw       threads: {:.1} s",
                start.elapsed().as_secs_f64()
            );
        }
    }
    let exactly_once = config.kinds.contains(&Kind::Brooklet).then(|| {
        let start = Instant::now();
        let section = exactly_once::section(&config.sizes, &root.path().join("exactly-once"));
        eprintln!(
            "  brooklet  exactly-once: {:.1} s",
            start.elapsed().as_secs_f64()
        );
        section
    });
    let compressed = config
        .kinds
        .contains(&Kind::Brooklet)
        .then(|| compression::section(&config.sizes, &root.path().join("compression")));
    let fsync_end = fsync_latency(root.path());
    let mut columns = Vec::new();
    for (kind, outcome) in config.kinds.iter().zip(outcomes) {
        if columns.is_empty() {
            let mut figures = outcome.ceiling;
            figures.extend(raw_threads.clone());
            columns.push(Column {
                name: "raw ceiling".to_owned(),
                figures,
            });
        }
        columns.push(Column {
            name: kind.name().to_owned(),
            figures: outcome.subject,
        });
    }
    let elapsed = started.elapsed();
    print!(
        "{}",
        render(&config, &columns, &fs, [fsync, fsync_end], elapsed, &parent)
    );
    if let Some(section) = exactly_once {
        print!("{section}");
    }
    if let Some(section) = compressed {
        print!("{section}");
    }
}

/// The whole report: the run, the table, brooklet's targets, the ceilings and the notes.
fn render(
    config: &Config,
    columns: &[Column],
    fs: &str,
    fsync: [FsyncProbe; 2],
    elapsed: Duration,
    parent: &Path,
) -> String {
    let sizes = &config.sizes;
    let mut out = String::new();
    out.push_str("# brooklet-peers\n\n");
    let _ = write!(
        out,
        "Run: `{}`{}, {:.0} s. Machine: {}, {} cores; directory on {fs} ({}). \
         One 4 KiB write + fdatasync, 200 samples each: {} before the run; {} after it.\n\n",
        command_line(config),
        if config.quick {
            " (a smoke run: sizes far below the targets' workloads)"
        } else {
            ""
        },
        elapsed.as_secs_f64(),
        cpu_model(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        parent.display(),
        fsync[0].text(),
        fsync[1].text(),
    );
    out.push_str(
        "Each cell: the figure, then (ratio to the row's reference). The raw ceiling column \
         shows the ceiling measured alongside the first subject; every subject's ratio is to \
         the ceiling measured op by op alongside it (see *Ceilings* below).\n\n",
    );
    out.push_str(&report::table(sizes, columns));
    if let Some(brooklet) = columns.iter().find(|c| c.name == Kind::Brooklet.name()) {
        out.push_str("\n## brooklet against its targets\n\n");
        for line in report::verdicts(sizes, &brooklet.figures) {
            let _ = writeln!(out, "- {line}");
        }
    }
    out.push_str(&subjects::brooklet_counters());
    out.push_str("\n## Ceilings measured alongside each subject\n\n");
    out.push_str(&report::ceilings(sizes, &columns[1..]));
    out.push_str("\n## What each subject guarantees here\n\n");
    out.push_str(
        "- raw ceiling: Kafka RecordBatch v2 bytes (as brooklet stores them) appended with \
         write(); durable rows add fdatasync per commit. Churn: 1 MiB segment files, the \
         directory fsynced when one is created, whole oldest files deleted. Reads are bytes \
         only (no decoding). Group offsets: a 16-byte pwrite in place.\n",
    );
    for kind in &config.kinds {
        let _ = writeln!(out, "- {}: {}", kind.name(), subjects::guarantees(*kind));
    }
    out.push_str(&notes(sizes));
    out
}

fn notes(sizes: &Sizes) -> String {
    format!(
        "\n## Notes\n\n\
         - Records: 16-byte key, 100-byte value of random bytes (incompressible), one topic \
         with one partition. Record generation and conversion to each API's input type are \
         not timed.\n\
         - Reads run right after the writes: the data is in the page cache for every \
         subject; the median of {} passes is reported.\n\
         - Churn: the log first holds {} records; each round appends {} in durable \
         {}-record commits and deletes as many of the oldest. brooklet and kafko drop whole \
         1 MiB segments by retention bytes (brooklet in the produce commits, kafko on a 10 ms \
         retention timer); the key/value stores delete the oldest offsets in the same \
         commit as each append.\n\
         - kafko's sequential read runs on a second topic with 64 KiB segments, filled \
         untimed with the same records: kafko reads one record by reading from its index \
         entry to the end of the segment, so with its default 1 GiB segments a sequential \
         read is quadratic and would not finish.\n\
         - Threads: each round, one thread sends {} durable 1-record commits, then {} \
         threads send {} each at once (order alternating); the ratio is the records/s of \
         {} threads over 1 thread.\n",
        sizes.read_passes,
        sizes.churn_records,
        sizes.churn_records,
        sizes.batch,
        sizes.thread_sends,
        report::THREADS,
        sizes.thread_sends,
        report::THREADS,
    )
}

/// The command that reproduces this run.
fn command_line(config: &Config) -> String {
    let mut line = "cargo run --release -p brooklet-peers --".to_owned();
    if config.quick {
        line.push_str(" --quick");
    }
    if config.kinds != Kind::ALL.to_vec() {
        let names: Vec<&str> = config.kinds.iter().map(|k| k.name()).collect();
        let _ = write!(line, " --peers {}", names.join(","));
    }
    let defaults = if config.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    if config.sizes != defaults {
        line.push_str(" (with size flags)");
    }
    line
}

/// The disk's durable-write latency, in seconds, over 200 samples each.
#[derive(Clone, Copy, Debug)]
struct FsyncProbe {
    /// p50 and p99 of a 4 KiB `pwrite` at offset 0 (an overwrite) + `fdatasync`.
    overwrite: (f64, f64),
    /// p50 and p99 of a 4 KiB append (the file grows) + `fdatasync`.
    append: (f64, f64),
}

impl FsyncProbe {
    fn text(self) -> String {
        let t = |s| report::figure(report::Unit::Latency, s);
        format!(
            "overwrite p50 {} p99 {}, append p50 {} p99 {}",
            t(self.overwrite.0),
            t(self.overwrite.1),
            t(self.append.0),
            t(self.append.1)
        )
    }
}

fn fsync_latency(dir: &Path) -> FsyncProbe {
    const SAMPLES: usize = 200;
    let p50_p99 = |mut samples: Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        (samples[SAMPLES / 2 - 1], samples[SAMPLES * 99 / 100 - 1])
    };
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed().as_secs_f64()
    };
    let path = dir.join("fsync-probe");
    let mut probe = subjects::Fsync4k::overwrite(&path);
    let overwrite = (0..SAMPLES).map(|_| time(&mut || probe.commit())).collect();
    let mut probe = subjects::Fsync4k::append(&path);
    let append = (0..SAMPLES).map(|_| time(&mut || probe.commit())).collect();
    std::fs::remove_file(&path).expect("remove the probe file");
    FsyncProbe {
        overwrite: p50_p99(overwrite),
        append: p50_p99(append),
    }
}

/// The file system type of `dir`, by name where known.
fn filesystem(dir: &Path) -> String {
    use nix::sys::statfs::{
        BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, OVERLAYFS_SUPER_MAGIC, TMPFS_MAGIC, XFS_SUPER_MAGIC,
        statfs,
    };
    let Ok(stat) = statfs(dir) else {
        return "an unknown file system".to_owned();
    };
    let kind = stat.filesystem_type();
    let known = [
        (TMPFS_MAGIC, "tmpfs"),
        (EXT4_SUPER_MAGIC, "ext4"),
        (XFS_SUPER_MAGIC, "xfs"),
        (BTRFS_SUPER_MAGIC, "btrfs"),
        (OVERLAYFS_SUPER_MAGIC, "overlayfs"),
    ];
    known.iter().find(|(magic, _)| *magic == kind).map_or_else(
        || format!("file system {kind:?}"),
        |(_, name)| (*name).to_owned(),
    )
}

/// The CPU model from /proc/cpuinfo, where there is one.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}
