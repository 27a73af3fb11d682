//! Space and memory of the event log with default options: appends records (16-byte key,
//! 100-byte value) in `send_batch` calls, then reads them all back with `fetch`, and prints
//! the file size against the payload and the process's peak resident memory in each phase.
//!
//! Not a criterion bench (one pass, no timing loop): `cargo bench --bench footprint`.
//! `BROOKLET_BENCH_FOOTPRINT_RECORDS` sets the record count (default 1 000 000) and
//! `BROOKLET_BENCH_FOOTPRINT_BATCH` the records per `send_batch` (default 1000).
//!
//! A second part sends `BROOKLET_BENCH_FOOTPRINT_NOSYNC_SENDS` (default 10 000; 0 skips)
//! 1-record sends at `Durability::None` to a new file, then flushes, and prints the time per
//! send and the file size as they go: a non-durable commit should not cost more, nor grow
//! the file more, the longer ago the last durable commit was.
//!
//! A third part creates a topic of `BROOKLET_BENCH_FOOTPRINT_PARTITIONS` (default 10 000; 0
//! skips) partitions, sends one record to each, then vacuums, and prints the time to create
//! the topic and the file size at each step: a partition should cost what it holds.
//!
//! Peak memory is `VmHWM` from `/proc/self/status` (Linux); it is reset between phases by
//! writing 5 to `/proc/self/clear_refs`, so each phase reports its own peak. Records are
//! generated one batch at a time, so the bench's own data stays small next to the peak.

use std::os::unix::fs::MetadataExt;
use std::time::Instant;

use brooklet::{Brooklet, Durability, FetchLimits, Record, TopicConfig};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
const TOPIC: &str = "footprint";

/// A `kB` line of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Resets `VmHWM` to the current resident size; false where the kernel does not allow it.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[expect(
    clippy::cast_precision_loss,
    reason = "figures for a report: 52 bits of mantissa are plenty"
)]
fn float(n: u64) -> f64 {
    n as f64
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "n/a".to_owned(),
        |b| format!("{:.1} MiB", float(b) / 1_048_576.0),
    )
}

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a count, got {v:?}"))
    })
}

fn record(i: u64) -> Record {
    let key = format!("key-{:012}", i % 1_000_000_000_000).into_bytes();
    assert_eq!(key.len(), KEY_LEN);
    let value: Vec<u8> = (0..VALUE_LEN)
        .map(|n| (i as u8).wrapping_add(n as u8))
        .collect();
    Record::keyed(key, value)
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches`: nothing to check here
    }
    let count = env_count("BROOKLET_BENCH_FOOTPRINT_RECORDS", 1_000_000);
    let batch = env_count("BROOKLET_BENCH_FOOTPRINT_BATCH", 1000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("footprint.brooklet");
    let resettable = reset_peak();
    let rss_start = status_bytes("VmRSS:");

    let started = Instant::now();
    let db = Brooklet::open(&path).expect("open"); // default options: Immediate, 32 MiB cache
    db.admin()
        .create_topic(TOPIC, 1, TopicConfig::default())
        .expect("create topic");
    let mut next = 0u64;
    while next < count {
        let n = batch.min(count - next);
        let records: Vec<Record> = (next..next + n).map(record).collect();
        db.producer().send_batch(TOPIC, records).expect("send");
        next += n;
    }
    let append_s = started.elapsed().as_secs_f64();
    let peak_append = status_bytes("VmHWM:");

    let meta = std::fs::metadata(&path).expect("file");
    let part = db
        .admin()
        .describe_topic(TOPIC)
        .expect("describe")
        .partitions[0]
        .clone();
    let payload = count * (KEY_LEN + VALUE_LEN) as u64;

    reset_peak();
    let started = Instant::now();
    let mut offset = 0;
    let mut read = 0u64;
    while offset < count {
        let fetched = db
            .fetch(TOPIC, 0, offset, FetchLimits::default())
            .expect("fetch");
        read += fetched.records.len() as u64;
        offset = fetched.next_offset;
    }
    assert_eq!(read, count, "every record read back");
    let read_s = started.elapsed().as_secs_f64();
    let peak_read = status_bytes("VmHWM:");

    let per = |bytes: u64| float(bytes) / float(count);
    println!(
        "## footprint: {count} records of {KEY_LEN}+{VALUE_LEN} bytes, send_batch of {batch}, default options\n"
    );
    println!("| measure | value |\n|---|---|");
    println!(
        "| payload (key + value) | {payload} bytes ({:.1} B/record) |",
        per(payload)
    );
    println!(
        "| Kafka batch bytes stored | {} bytes ({:.1} B/record, {:.3}x payload) |",
        part.bytes,
        per(part.bytes),
        float(part.bytes) / float(payload)
    );
    println!(
        "| file size | {} bytes ({:.1} B/record, {:.3}x payload) |",
        meta.len(),
        per(meta.len()),
        float(meta.len()) / float(payload)
    );
    println!(
        "| file blocks allocated | {} bytes ({:.3}x payload) |",
        meta.blocks() * 512,
        float(meta.blocks() * 512) / float(payload)
    );
    println!("| segments | {} |", part.segments);
    println!("| RSS before opening | {} |", mib(rss_start));
    println!(
        "| peak RSS while appending{} | {} ({append_s:.1} s, {:.0} rec/s) |",
        if resettable { "" } else { " (not reset)" },
        mib(peak_append),
        float(count) / append_s
    );
    println!(
        "| peak RSS while reading (fetch, default limits){} | {} ({read_s:.2} s, {:.0} rec/s) |",
        if resettable { "" } else { " (not reset)" },
        mib(peak_read),
        float(count) / read_s
    );
    nosync_growth();
    many_partitions();
}

/// `Durability::None` sends of 1 record each, then one `flush()`: file size and time per
/// send, per block of sends. A log that only appends should grow by about the batch bytes.
fn nosync_growth() {
    let sends = env_count("BROOKLET_BENCH_FOOTPRINT_NOSYNC_SENDS", 10_000);
    if sends == 0 {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nosync.brooklet");
    let db = Brooklet::open(&path).expect("open");
    db.admin()
        .create_topic(TOPIC, 1, TopicConfig::default())
        .expect("create topic");
    let producer = db.producer().with_durability(Durability::None);
    println!("\n## {sends} sends of 1 record at Durability::None, then flush()\n");
    println!("| sends | time per send | file size |\n|---|---|---|");
    let block = (sends / 5).max(1);
    let mut started = Instant::now();
    for i in 0..sends {
        producer.send_to(TOPIC, 0, record(i)).expect("send");
        if (i + 1) % block == 0 {
            let len = std::fs::metadata(&path).expect("file").len();
            println!(
                "| {}..{} | {:.1} us | {} |",
                i + 1 - block,
                i + 1,
                started.elapsed().as_secs_f64() * 1e6 / float(block),
                mib(Some(len))
            );
            started = Instant::now();
        }
    }
    db.flush().expect("flush");
    let part = db
        .admin()
        .describe_topic(TOPIC)
        .expect("describe")
        .partitions[0]
        .clone();
    let len = std::fs::metadata(&path).expect("file").len();
    println!(
        "| after flush | batch bytes {} | {} ({:.0}x the batch bytes) |",
        mib(Some(part.bytes)),
        mib(Some(len)),
        float(len) / float(part.bytes)
    );
}

/// One topic of many partitions, one record in each (`Durability::None` sends, then a
/// flush), then a vacuum: the time to create the topic and the file size at each step.
fn many_partitions() {
    let partitions = env_count("BROOKLET_BENCH_FOOTPRINT_PARTITIONS", 10_000);
    if partitions == 0 {
        return;
    }
    let partitions = u32::try_from(partitions).expect("a partition count");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("partitions.brooklet");
    let db = Brooklet::open(&path).expect("open");
    let size = || mib(Some(std::fs::metadata(&path).expect("file").len()));
    println!("\n## {partitions} partitions, one record of {KEY_LEN}+{VALUE_LEN} bytes each\n");
    println!("| step | time | file size |\n|---|---|---|");
    let started = Instant::now();
    db.admin()
        .create_topic(TOPIC, partitions, TopicConfig::default())
        .expect("create topic");
    let create_s = started.elapsed().as_secs_f64();
    println!(
        "| create the topic | {:.1} ms | {} |",
        create_s * 1e3,
        size()
    );
    let producer = db.producer().with_durability(Durability::None);
    let started = Instant::now();
    for p in 0..partitions {
        producer
            .send_to(TOPIC, p, record(u64::from(p)))
            .expect("send");
    }
    db.flush().expect("flush");
    let send_s = started.elapsed().as_secs_f64();
    println!(
        "| one record to each (Durability::None, then flush) | {send_s:.2} s | {} |",
        size()
    );
    let started = Instant::now();
    let report = db.admin().vacuum().expect("vacuum");
    let vacuum_s = started.elapsed().as_secs_f64();
    println!(
        "| vacuum ({} pages moved, {} trimmed) | {vacuum_s:.2} s | {} |",
        report.pages_moved,
        report.pages_trimmed,
        size()
    );
}
