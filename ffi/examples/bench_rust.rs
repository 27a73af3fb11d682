//! The Rust counterpart of `examples/c/bench.c`: the same workload through brooklet's Rust
//! API (`send_batch` of 1000-record batches, 16-byte key, 100-byte value, durability none,
//! then 5 passes fetching and iterating every record with `fetch_batches`, the call the C
//! library's `brooklet_fetch` makes). Each workload is one function (`send_phase`,
//! `fetch_phase`), so that a profiler can count its instructions. `examples/c/bench.sh` runs
//! both programs and compares them.
//!
//! Usage: `cargo run --release -p brooklet-ffi --example bench_rust -- [--quick] DIR`

use std::time::Instant;

use brooklet_core::{Brooklet, Durability, FetchLimits, Producer, Record, TopicConfig};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
const BATCH: usize = 1000;
const PASSES: usize = 5;

/// The value of record `i`: pseudo-random bytes (xorshift64 seeded by `i`), as bench.c
/// makes them.
fn fill_value(i: u64, value: &mut [u8]) {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    for byte in value {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = x.to_le_bytes()[0];
    }
}

/// Sends records `0..count` in batches of [`BATCH`]; returns the seconds it took.
#[inline(never)]
fn send_phase(
    producer: &Producer,
    keys: &[u8],
    values: &[u8],
    count: usize,
) -> brooklet_core::Result<f64> {
    let start = Instant::now();
    for first in (0..count).step_by(BATCH) {
        let batch: Vec<Record> = (first..first + BATCH)
            .map(|i| Record {
                key: Some(keys[i * KEY_LEN..(i + 1) * KEY_LEN].to_vec()),
                value: Some(values[i * VALUE_LEN..(i + 1) * VALUE_LEN].to_vec()),
                headers: Vec::new(),
                timestamp_ms: None,
            })
            .collect();
        producer.send_batch_to("bench", 0, batch)?;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Fetches and iterates the partition [`PASSES`] times; returns the seconds it took.
#[inline(never)]
fn fetch_phase(db: &Brooklet, count: usize) -> brooklet_core::Result<f64> {
    let (mut seen, mut bytes) = (0usize, 0usize);
    let end = db.end_offset("bench", 0)?;
    let start = Instant::now();
    for _ in 0..PASSES {
        let mut offset = 0;
        while offset < end {
            let batches = db.fetch_batches("bench", 0, offset, FetchLimits::default())?;
            for record in batches.records() {
                let record = record?;
                seen += 1;
                bytes += record.key.map_or(0, <[u8]>::len)
                    + record.value.map_or(0, <[u8]>::len)
                    + record.header_count();
            }
            offset = batches.next_offset;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(
        (seen, bytes),
        (PASSES * count, PASSES * count * (KEY_LEN + VALUE_LEN))
    );
    Ok(seconds)
}

fn main() -> brooklet_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.first().is_some_and(|a| a == "--quick");
    let [dir] = &args[usize::from(quick)..] else {
        eprintln!("usage: bench_rust [--quick] DIR");
        std::process::exit(2);
    };
    let count: usize = if quick { 100_000 } else { 1_000_000 };
    let path =
        std::path::Path::new(dir).join(format!("bench-rust-{}.brooklet", std::process::id()));
    let _ = std::fs::remove_file(&path);

    let mut keys = Vec::with_capacity(count * KEY_LEN);
    let mut values = vec![0u8; count * VALUE_LEN];
    for i in 0..count {
        keys.extend_from_slice(format!("key-{i:012}").as_bytes());
        fill_value(i as u64, &mut values[i * VALUE_LEN..(i + 1) * VALUE_LEN]);
    }

    let db = Brooklet::open(&path)?;
    db.admin()
        .create_topic("bench", 1, TopicConfig::default())?;
    let producer = db.producer().with_durability(Durability::None);

    let send_s = send_phase(&producer, &keys, &values, count)?;
    db.flush()?;
    let fetch_s = fetch_phase(&db, count)?;

    // Record counts are far below 2^52: the conversion is exact.
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts below 2^52 convert exactly"
    )]
    let rate = |n: usize, s: f64| n as f64 / s;
    println!(
        "Rust send_batch {count} records {send_s:.3} s {:.0} records/s",
        rate(count, send_s)
    );
    let fetched = PASSES * count;
    println!(
        "Rust fetch {fetched} records {fetch_s:.3} s {:.0} records/s",
        rate(fetched, fetch_s)
    );
    drop(producer);
    drop(db);
    let _ = std::fs::remove_file(&path);
    Ok(())
}
