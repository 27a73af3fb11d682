//! Costs at scale: grows one file to `records` records (default 10 million) through the
//! public API and prints what a large file costs. BENCHMARKS.md, *Costs at scale*, holds
//! its figures.
//!
//! ```text
//! cargo run --release --example scale -- 10000000 [dir]
//! ```
//!
//! The load is the peer benchmark's bulk append: commits of 1000 records (16-byte key,
//! 100-byte value) to one partition at `Durability::None`, then `flush`. Printed: each
//! send's latency (p50, p99, p99.9, max: the stall of the durable commits the window
//! forces), the appender's peak memory, the file's size against its payload; then, per
//! open of the closed file, its time and reads, with the file cached (median of 9) and
//! with its pages evicted from the cache (`posix_fadvise(DONTNEED)`), after the flush and
//! again after an unflushed tail as long as the load's longest window; a seek (fetch of
//! one batch at a random offset, file cached) p50 by where the offset lies; the
//! sequential read rate (file cached).

#![expect(
    clippy::cast_precision_loss,
    reason = "figures for people: sizes and counts far below 2^52"
)]

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use brooklet::{Brooklet, Durability, FetchLimits, Record, TopicConfig};

const BATCH: u64 = 1000;
const TOPIC: &str = "log";

fn main() -> brooklet::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let records: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let temp = tempfile::tempdir()?;
    let dir = args
        .get(2)
        .map_or_else(|| temp.path().to_path_buf(), Into::into);
    let path = dir.join("scale.brooklet");
    let _ = std::fs::remove_file(&path);
    println!("costs at scale: {records} records of 16 + 100 bytes, {BATCH} per send");
    let started = Instant::now();
    let (sends, window) = load(&path, records)?;
    println!("load: {:.1} s", started.elapsed().as_secs_f64());
    report_sends(&sends);
    println!("appender peak memory (VmHWM): {}", peak_rss());
    let size = std::fs::metadata(&path)?.len();
    let payload = records * (16 + 100);
    println!(
        "file: {:.2} GB for {:.2} GB of keys and values ({:.3}x)",
        gb(size),
        gb(payload),
        size as f64 / payload as f64
    );
    // Seeks and the sequential read first, while the file is in the page cache (the
    // evicted opens drop it).
    report_seeks(&path, records)?;
    report_sequential(&path, records)?;
    report_opens(&path, "after flush")?;
    // The worst open: the newest commit is not durable and its window is as long as the
    // load's longest (the next send would be made durable).
    append_unflushed(&path, records, window.saturating_sub(1))?;
    report_opens(
        &path,
        &format!("{} sends unflushed", window.saturating_sub(1)),
    )?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// One send of `BATCH` records from record number `first`.
fn batch(first: u64, end: u64) -> Vec<Record> {
    (first..(first + BATCH).min(end))
        .map(|i| {
            let value = i.to_le_bytes().repeat(13)[..100].to_vec();
            Record::keyed(i.to_be_bytes().repeat(2), value)
        })
        .collect()
}

/// Appends `records` records in sends of `BATCH`, timing each send; flushes at the end.
/// Returns the times and the most sends in a row that were not made durable.
fn load(path: &Path, records: u64) -> brooklet::Result<(Vec<Duration>, usize)> {
    let db = Brooklet::open(path)?;
    db.admin().create_topic(TOPIC, 1, TopicConfig::default())?;
    let producer = db.producer().with_durability(Durability::None);
    let mut sends = Vec::with_capacity(usize::try_from(records / BATCH).unwrap_or(0));
    let (mut n, mut window, mut run, mut made_durable) = (0, 0, 0, 0);
    while n < records {
        let batch = batch(n, records);
        n += batch.len() as u64;
        let at = Instant::now();
        producer.send_batch_to(TOPIC, 0, batch)?;
        sends.push(at.elapsed());
        run += 1;
        let now = db.stats().commits_made_durable;
        if now > made_durable {
            (made_durable, run) = (now, 0);
        }
        window = window.max(run);
    }
    producer.flush()?;
    let stats = db.stats();
    println!(
        "load: {} fdatasyncs, {} commits made durable",
        stats.fdatasyncs, stats.commits_made_durable
    );
    Ok((sends, window))
}

/// Appends `sends` sends after the log's end, not durable, and closes the file unflushed.
fn append_unflushed(path: &Path, records: u64, sends: usize) -> brooklet::Result<()> {
    let db = Brooklet::open(path)?;
    let producer = db.producer().with_durability(Durability::None);
    for i in 0..sends as u64 {
        producer.send_batch_to(TOPIC, 0, batch(records + i * BATCH, u64::MAX))?;
    }
    Ok(())
}

fn report_sends(sends: &[Duration]) {
    let mut sorted = sends.to_vec();
    sorted.sort_unstable();
    // The sample at quantile `per_mille` / 1000.
    let at = |per_mille: usize| sorted[(sorted.len() * per_mille / 1000).min(sorted.len() - 1)];
    println!(
        "non-durable send of {BATCH}: p50 {:?}, p99 {:?}, p99.9 {:?}, max {:?} ({} sends)",
        at(500),
        at(990),
        at(999),
        sorted[sorted.len() - 1],
        sorted.len()
    );
}

/// Opens the closed file repeatedly: cached, then with its pages evicted first.
fn report_opens(path: &Path, label: &str) -> brooklet::Result<()> {
    for evict in [false, true] {
        let mut times = Vec::new();
        let mut reads = (0, 0);
        for _ in 0..9 {
            if evict {
                evict_file(path)?;
            }
            let at = Instant::now();
            let db = Brooklet::open(path)?;
            times.push(at.elapsed());
            let stats = db.stats();
            reads = (stats.read_calls, stats.bytes_read);
        }
        times.sort_unstable();
        println!(
            "open {label} ({}): median {:?}, max {:?}; {} reads, {} bytes",
            if evict { "evicted" } else { "cached" },
            times[times.len() / 2],
            times[times.len() - 1],
            reads.0,
            reads.1
        );
    }
    Ok(())
}

/// Asks the kernel to drop the file's cached pages (after they are written back).
fn evict_file(path: &Path) -> brooklet::Result<()> {
    let file = std::fs::File::open(path)?;
    file.sync_all()?;
    nix::fcntl::posix_fadvise(
        &file,
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    )
    .map_err(std::io::Error::from)?;
    Ok(())
}

/// Fetches one batch at random offsets in each tenth of the log; prints the p50 per tenth.
fn report_seeks(path: &Path, records: u64) -> brooklet::Result<()> {
    let db = Brooklet::open(path)?;
    let limits = FetchLimits {
        max_records: 1,
        max_bytes: 1,
    };
    let mut line = String::from("seek p50 by offset (tenths of the log):");
    for tenth in 0..10 {
        let mut times = Vec::new();
        for _ in 0..200 {
            let offset = records / 10 * tenth + fastrand::u64(0..records / 10);
            let at = Instant::now();
            let fetched = db.fetch(TOPIC, 0, offset, limits)?;
            times.push(at.elapsed());
            assert!(!fetched.records.is_empty(), "a record at {offset}");
        }
        times.sort_unstable();
        let _ = write!(line, " {:.1}us", times[times.len() / 2].as_secs_f64() * 1e6);
    }
    println!("{line}");
    Ok(())
}

/// Reads the whole log with `fetch_batches`, touching every value.
fn report_sequential(path: &Path, records: u64) -> brooklet::Result<()> {
    let db = Brooklet::open(path)?;
    let limits = FetchLimits {
        max_records: 100_000,
        max_bytes: 8 << 20,
    };
    let at = Instant::now();
    let (mut offset, mut count, mut bytes) = (0, 0u64, 0usize);
    while offset < records {
        let fetched = db.fetch_batches(TOPIC, 0, offset, limits)?;
        for record in fetched.records() {
            bytes += record?.value.map_or(0, <[u8]>::len);
            count += 1;
        }
        offset = fetched.next_offset;
    }
    let secs = at.elapsed().as_secs_f64();
    assert_eq!(count, records, "read every record");
    println!(
        "sequential read: {:.2} M records/s ({:.0} MB/s of values)",
        count as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

/// The process's peak resident memory, from /proc (Linux).
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn gb(bytes: u64) -> f64 {
    bytes as f64 / 1e9
}
