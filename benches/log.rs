//! The event log on real files, each measurement next to a raw-file ceiling in the same run.
//!
//! Records are 16-byte keys and 100-byte values (the Kafka batch holding one is about 130
//! bytes). Files live in a tempdir (`TMPDIR` chooses the file system).
//!
//! | group | brooklet | ceiling |
//! |---|---|---|
//! | `append/{brooklet,raw}/N` | `Producer::send_batch_to` of N records, `Immediate` (one commit per call) | the same Kafka batch bytes (`kafka::encode_batch`), `write` + `fdatasync` to an append-only file |
//! | `append_nosync/{brooklet,raw}/N` | the same with `Durability::None` | the same bytes, `write` only (no sync: what brooklet costs besides the sync) |
//! | `commit_latency/brooklet_1_thread` | one durable 1-record `send_to` per iteration | `raw_4k_overwrite`: one 4 KiB `pwrite` at offset 0 + `fdatasync`; `raw_4k_append`: 4 KiB appended + `fdatasync` |
//! | `commit_latency/brooklet_8_threads` | 8 threads each sending durably (`iter_custom`); one iteration is 8 records, one per thread | `brooklet_1_thread` (group commit: ratio of records/s) |
//! | `read/brooklet_fetch` | `Brooklet::fetch` from offset 0 to the end, 10 000 records or 4 MiB per call | `raw_read`: `read` of the same bytes in 4 MiB calls; `raw_read_decode` adds `kafka::decode_batch` (how much is decoding) |
//! | `seek/{by_offset,by_time}` | `fetch` of 1 record at a random offset; `offset_for_time` at a random timestamp | none (latency) |
//!
//! Run it all with `cargo bench --bench log` (about 4 minutes on 2 cores), or one group
//! with `cargo bench --bench log -- seek`. Criterion's flags shorten or lengthen every
//! group: `-- --warm-up-time 0.5 --measurement-time 1` (defaults here: 1 s and 2 s, 20
//! samples; `read` takes 10 flat samples, one pass over the partition each). Building the
//! 10-million-record `seek` partition takes 8 to 20 s on a 2-core VM. Environment variables:
//!
//! - `BROOKLET_BENCH_READ_RECORDS`: records in the `read` partition (default 1 000 000).
//! - `BROOKLET_BENCH_SEEK_RECORDS`: records in the `seek` partition (default 10 000 000;
//!   building it writes about 1.3 GB once per run).
//! - `BROOKLET_BENCH_SEEK_BATCH_BYTES`: `max.message.bytes` of the `seek` topic, so the
//!   size of its stored batches (default 16384, the Kafka producer's `batch.size`). A
//!   1-record fetch reads and decodes the whole batch holding the record, so seek latency
//!   grows with it (about 30 us at 16 KiB, about 1 ms at 1 MiB batches).
//! - `BROOKLET_BENCH_PAIRED_ROUNDS`: rounds of the paired comparisons below (default 200;
//!   0 skips them).
//!
//! # Ratios
//!
//! Criterion reports time per iteration and, from the throughput set per bench, records/s
//! (`thrpt:`). The ratios compare medians (`estimates.json`, `median.point_estimate`, in
//! nanoseconds per iteration, under `$CARGO_TARGET_DIR/criterion/<group>/<bench>/new/`):
//!
//! - append: `raw time / brooklet time` for the same N (= brooklet records/s over raw
//!   records/s; target >= 0.5 for bulk batches).
//! - commit latency: `brooklet_1_thread time / raw_4k_overwrite time` (target <= 1.3).
//! - group commit: `8 * brooklet_1_thread time / brooklet_8_threads time` (8 threads'
//!   records/s over 1 thread's; target >= 5).
//! - read: `raw_read time / brooklet_fetch time` (target >= 0.8).
//!
//! After the run, this bench prints these ratios as a markdown table, from the estimates
//! files it finds; a bench filtered out of this run is marked as from an earlier run.
//!
//! `fdatasync` latency on shared disks and VMs drifts by 10x within minutes, more than the
//! differences measured, so criterion's fsync-bound ratios (benches run a minute apart) are
//! unreliable. When `append` or `commit_latency` ran, the bench then runs them paired
//! (`log/paired.rs`: brooklet and ceiling alternate, one operation each per round) and
//! prints the median of the per-round ratios: check the fsync-bound targets against that.

#[path = "log/paired.rs"]
mod paired;
#[path = "log/summary.rs"]
mod summary;

use std::cell::OnceCell;
use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime};

use brooklet::{
    Brooklet, Durability, FetchLimits, Options, Record, TimestampType, TopicConfig, kafka,
};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use tempfile::TempDir;

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
const TOPIC: &str = "bench";
/// Record timestamps of the `read` and `seek` partitions: record `i` gets this plus `i` ms.
const TIMESTAMP_BASE_MS: i64 = 1_700_000_000_000;
/// Records per `send_batch_to` while building a partition to read.
const BUILD_CHUNK: usize = 10_000;
const THREADS: usize = 8;
const FETCH_LIMITS: FetchLimits = FetchLimits {
    max_records: 10_000,
    max_bytes: 4 << 20,
};
const RAW_READ_SIZE: usize = 4 << 20;

/// Record `i`: a 16-byte key and a 100-byte value that vary with `i`.
fn record(i: u64, timestamp_ms: Option<i64>) -> Record {
    let key = format!("key-{:012}", i % 1_000_000_000_000).into_bytes();
    debug_assert_eq!(key.len(), KEY_LEN);
    let mut value = vec![0u8; VALUE_LEN];
    for (n, byte) in value.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_add(n as u8);
    }
    Record {
        key: Some(key),
        value: Some(value),
        headers: Vec::new(),
        timestamp_ms,
    }
}

/// Records `first..first + count`, stamped with the append time.
fn records(first: u64, count: usize) -> Vec<Record> {
    (first..first + count as u64)
        .map(|i| record(i, None))
        .collect()
}

/// Records `first..first + count`, record `i` stamped `TIMESTAMP_BASE_MS + i`.
fn timed_records(first: u64, count: usize) -> Vec<Record> {
    (first..first + count as u64)
        .map(|i| record(i, Some(TIMESTAMP_BASE_MS + i.cast_signed())))
        .collect()
}

fn env_count(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a count, got {v:?}")),
        Err(_) => default,
    }
}

/// True under `cargo test --benches` (criterion's test mode runs each bench once): then
/// the partitions are kept small.
fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// A new file in a new tempdir holding topic [`TOPIC`] with one partition.
fn open_with_topic(config: TopicConfig) -> (TempDir, Brooklet) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db =
        Brooklet::open_with(dir.path().join("bench.brooklet"), Options::default()).expect("open");
    db.admin()
        .create_topic(TOPIC, 1, config)
        .expect("create topic");
    (dir, db)
}

/// `append` (durable: `Immediate` against `write` + `fdatasync`) or `append_nosync`
/// (`Durability::None` against `write` alone: the CPU and write cost without the sync).
/// Record generation is not timed; a `flush()` after each sample is not timed either.
fn append(c: &mut Criterion, name: &str, durability: Durability) {
    let sync = durability != Durability::None;
    let mut group = c.benchmark_group(name);
    for batch in [1usize, 10, 100, 1000] {
        group.throughput(Throughput::Elements(batch as u64));
        let (dir, db) = open_with_topic(TopicConfig::default());
        let producer = db.producer().with_durability(durability);
        let mut next = 0u64;
        group.bench_with_input(BenchmarkId::new("brooklet", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let recs = records(next, batch);
                    next += batch as u64;
                    let start = Instant::now();
                    black_box(producer.send_batch_to(TOPIC, 0, recs).expect("send"));
                    elapsed += start.elapsed();
                }
                // Untimed, between samples: under `Durability::None` each commit costs more
                // the more commits came since the last durable one; this bounds the run.
                db.flush().expect("flush");
                elapsed
            });
        });
        let bytes = kafka::encode_batch(
            0,
            &records(0, batch),
            TimestampType::CreateTime,
            brooklet_now_ms(),
        )
        .expect("encode");
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("raw.log"))
            .expect("raw file");
        group.bench_with_input(BenchmarkId::new("raw", batch), &batch, |b, _| {
            b.iter(|| {
                file.write_all(&bytes).expect("write");
                if sync {
                    file.sync_data().expect("fdatasync");
                }
            });
        });
    }
    group.finish();
}

fn brooklet_now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit i64")
}

fn commit_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_latency");
    let (dir, db) = open_with_topic(TopicConfig::default());
    let mut next = 0u64;
    group.throughput(Throughput::Elements(1));
    let producer = db.producer().with_durability(Durability::Immediate);
    group.bench_function("brooklet_1_thread", |b| {
        b.iter(|| {
            next += 1;
            black_box(
                producer
                    .send_to(TOPIC, 0, record(next, None))
                    .expect("send"),
            );
        });
    });
    group.throughput(Throughput::Elements(THREADS as u64));
    group.bench_function(format!("brooklet_{THREADS}_threads"), |b| {
        b.iter_custom(|iters| parallel_sends(&db, iters));
    });
    group.throughput(Throughput::Elements(1));
    let page = vec![0x5au8; 4096];
    let overwrite = File::create(dir.path().join("raw-overwrite")).expect("raw file");
    overwrite.write_all_at(&page, 0).expect("write");
    overwrite.sync_all().expect("sync");
    group.bench_function("raw_4k_overwrite", |b| {
        b.iter(|| {
            overwrite.write_all_at(&page, 0).expect("write");
            overwrite.sync_data().expect("fdatasync");
        });
    });
    let mut appended = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("raw-append"))
        .expect("raw file");
    group.bench_function("raw_4k_append", |b| {
        b.iter(|| {
            appended.write_all(&page).expect("write");
            appended.sync_data().expect("fdatasync");
        });
    });
    group.finish();
}

/// [`THREADS`] threads each send `iters` durable 1-record batches; returns the wall time
/// from the moment all are ready until the last one finishes.
fn parallel_sends(db: &Brooklet, iters: u64) -> Duration {
    let ready = Barrier::new(THREADS + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS as u64)
            .map(|t| {
                let producer = db.producer().with_durability(Durability::Immediate);
                let ready = &ready;
                s.spawn(move || {
                    ready.wait();
                    for i in 0..iters {
                        let rec = record(t << 40 | i, None);
                        black_box(producer.send_to(TOPIC, 0, rec).expect("send"));
                    }
                })
            })
            .collect();
        ready.wait();
        let start = Instant::now();
        for w in workers {
            w.join().expect("sender thread");
        }
        start.elapsed()
    })
}

/// A partition of `count` timed records, and a plain file holding the same batch bytes.
struct ReadFixture {
    _dir: TempDir,
    db: Brooklet,
    raw_path: PathBuf,
    count: u64,
}

/// Appends `count` timed records in `BUILD_CHUNK` sends with `Durability::None`, then
/// flushes once; writes the same batches to `raw.log` when `raw` is set.
fn build_partition(count: u64, config: &TopicConfig, raw: bool) -> ReadFixture {
    let started = Instant::now();
    let (dir, db) = open_with_topic(config.clone());
    let raw_path = dir.path().join("raw.log");
    let mut raw_file = raw.then(|| File::create(&raw_path).expect("raw file"));
    let producer = db.producer().with_durability(Durability::None);
    let mut first = 0u64;
    while first < count {
        let n = usize::try_from((count - first).min(BUILD_CHUNK as u64)).expect("chunk fits");
        let recs = timed_records(first, n);
        if let Some(file) = raw_file.as_mut() {
            write_raw_batches(file, first, &recs, config.max_message_bytes as usize);
        }
        producer.send_batch_to(TOPIC, 0, recs).expect("send");
        first += n as u64;
    }
    db.flush().expect("flush");
    let description = db.admin().describe_topic(TOPIC).expect("describe");
    let part = &description.partitions[0];
    assert_eq!(part.end_offset, count, "every record appended");
    if raw {
        let raw_len = std::fs::metadata(&raw_path).expect("raw file").len();
        assert_eq!(
            raw_len, part.bytes,
            "raw file holds the partition's batch bytes"
        );
    }
    let file_len = std::fs::metadata(dir.path().join("bench.brooklet"))
        .expect("file")
        .len();
    eprintln!(
        "built a partition of {count} records in {:.1} s: {} batch bytes in {} segments, file {} bytes",
        started.elapsed().as_secs_f64(),
        part.bytes,
        part.segments,
        file_len
    );
    ReadFixture {
        _dir: dir,
        db,
        raw_path,
        count,
    }
}

/// Writes `recs` as brooklet would store them: batches split at the same record
/// boundaries (the batches are checked to match byte for byte in total size).
fn write_raw_batches(file: &mut File, first: u64, recs: &[Record], max_batch: usize) {
    // brooklet splits a send into batches under `max.message.bytes` by an estimate of
    // 32 + key + value bytes per record past the 61-byte header; mirror it.
    let per_record = 32 + KEY_LEN + VALUE_LEN;
    let per_batch = ((max_batch - kafka::BATCH_HEADER_SIZE) / per_record).max(1);
    let mut offset = first;
    for chunk in recs.chunks(per_batch) {
        let bytes =
            kafka::encode_batch(offset, chunk, TimestampType::CreateTime, 0).expect("encode");
        file.write_all(&bytes).expect("write");
        offset += chunk.len() as u64;
    }
}

fn read(c: &mut Criterion) {
    let count = if test_mode() {
        10_000
    } else {
        env_count("BROOKLET_BENCH_READ_RECORDS", 1_000_000)
    };
    let cell = OnceCell::new();
    let fixture = || cell.get_or_init(|| build_partition(count, &TopicConfig::default(), true));
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(count));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("brooklet_fetch", |b| {
        let f = fixture();
        b.iter(|| read_all(&f.db, f.count));
    });
    group.bench_function("brooklet_fetch_batches", |b| {
        let f = fixture();
        b.iter(|| read_all_borrowed(&f.db, f.count));
    });
    group.bench_function("raw_read", |b| {
        let f = fixture();
        let mut buf = vec![0u8; RAW_READ_SIZE];
        b.iter(|| {
            let mut file = File::open(&f.raw_path).expect("raw file");
            let mut total = 0usize;
            loop {
                let n = file.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                total += n;
            }
            black_box(total)
        });
    });
    group.bench_function("raw_read_decode", |b| {
        let f = fixture();
        b.iter(|| {
            let records = read_decode_raw(&f.raw_path);
            assert_eq!(records, f.count, "raw file decodes to every record");
        });
    });
    group.finish();
}

/// Fetches a partition from offset 0 to its end; returns the number of records.
fn read_all(db: &Brooklet, count: u64) -> u64 {
    let mut offset = 0;
    let mut records = 0u64;
    while offset < count {
        let fetched = db.fetch(TOPIC, 0, offset, FETCH_LIMITS).expect("fetch");
        records += fetched.records.len() as u64;
        offset = fetched.next_offset;
        black_box(fetched);
    }
    assert_eq!(records, count, "fetched every record");
    records
}

/// Reads a partition from offset 0 to its end with `fetch_batches`, touching every key and
/// value through the borrowed records; returns the number of records.
fn read_all_borrowed(db: &Brooklet, count: u64) -> u64 {
    let mut offset = 0;
    let mut records = 0u64;
    while offset < count {
        let fetched = db
            .fetch_batches(TOPIC, 0, offset, FETCH_LIMITS)
            .expect("fetch_batches");
        for record in fetched.records() {
            let record = record.expect("record");
            black_box((record.key, record.value));
            records += 1;
        }
        offset = fetched.next_offset;
    }
    assert_eq!(records, count, "fetched every record");
    records
}

/// Reads a file of back-to-back batches in `RAW_READ_SIZE` calls and decodes each batch;
/// returns the number of records.
fn read_decode_raw(path: &Path) -> u64 {
    let mut file = File::open(path).expect("raw file");
    let mut buf: Vec<u8> = Vec::with_capacity(2 * RAW_READ_SIZE);
    let mut chunk = vec![0u8; RAW_READ_SIZE];
    let mut records = 0u64;
    loop {
        let n = file.read(&mut chunk).expect("read");
        buf.extend_from_slice(&chunk[..n]);
        let mut pos = 0;
        while buf.len() - pos >= kafka::BATCH_HEADER_SIZE {
            let header = kafka::BatchHeader::parse(&buf[pos..]).expect("batch header");
            if buf.len() - pos < header.size() {
                break;
            }
            let batch = kafka::decode_batch(&buf[pos..pos + header.size()]).expect("batch decodes");
            records += batch.records.len() as u64;
            black_box(batch);
            pos += header.size();
        }
        buf.drain(..pos);
        if n == 0 {
            assert!(buf.is_empty(), "raw file ends on a batch boundary");
            return records;
        }
    }
}

fn seek(c: &mut Criterion) {
    let count = if test_mode() {
        10_000
    } else {
        env_count("BROOKLET_BENCH_SEEK_RECORDS", 10_000_000)
    };
    let batch_bytes = env_count("BROOKLET_BENCH_SEEK_BATCH_BYTES", 16_384);
    let config = TopicConfig {
        max_message_bytes: u32::try_from(batch_bytes).expect("batch bytes fit u32"),
        ..TopicConfig::default()
    };
    let cell = OnceCell::new();
    let fixture = || cell.get_or_init(|| build_partition(count, &config, false));
    let mut group = c.benchmark_group("seek");
    group.throughput(Throughput::Elements(1));
    let mut rng = fastrand::Rng::with_seed(7);
    let one = FetchLimits {
        max_records: 1,
        max_bytes: 1,
    };
    group.bench_function("by_offset", |b| {
        let f = fixture();
        b.iter(|| {
            let offset = rng.u64(0..f.count);
            let fetched = f.db.fetch(TOPIC, 0, offset, one).expect("fetch");
            assert_eq!(
                fetched.records[0].offset, offset,
                "fetch lands on the offset"
            );
            black_box(fetched)
        });
    });
    group.bench_function("by_time", |b| {
        let f = fixture();
        b.iter(|| {
            let i = rng.u64(0..f.count);
            let found =
                f.db.offset_for_time(TOPIC, 0, TIMESTAMP_BASE_MS + i.cast_signed())
                    .expect("offset for time");
            assert_eq!(found, Some(i), "record i has timestamp base + i");
        });
    });
    group.finish();
}

fn main() {
    let started = SystemTime::now();
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    append(&mut c, "append", Durability::Immediate);
    append(&mut c, "append_nosync", Durability::None);
    commit_latency(&mut c);
    read(&mut c);
    seek(&mut c);
    c.final_summary();
    if !test_mode() {
        // Paired runs only when the fsync-bound groups ran in this run (not filtered out).
        let fsync_groups_ran = summary::ran("append/brooklet/1", started)
            || summary::ran("commit_latency/brooklet_1_thread", started);
        let paired = if fsync_groups_ran {
            paired::run()
        } else {
            Vec::new()
        };
        summary::print(started, THREADS, &paired);
    }
}
