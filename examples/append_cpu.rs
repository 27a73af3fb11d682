//! The append CPU workload, for instruction counts: `commits` commits of 1000 records
//! (16-byte key, 100-byte value) to one partition, at `Durability::None` or
//! `Durability::Immediate`. The records are made before the timed loop; run it under
//! callgrind and count only the loop:
//!
//! ```text
//! cargo build --release --example append_cpu
//! valgrind --tool=callgrind --toggle-collect='append_cpu::commit_loop' \
//!     target/release/examples/append_cpu none owned 200
//! ```
//!
//! Arguments: `none` or `immediate`, `owned` (`Vec<Record>`) or `borrowed`
//! (`SendRecord`s over the caller's buffers), the number of commits, and optionally
//! `idempotent` (an idempotent producer: what its sequence checks cost).

use brooklet::{BorrowedRecord, Brooklet, Durability, Producer, Record, TopicConfig};

const BATCH: usize = 1000;

fn main() -> brooklet::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let durability = match args.get(1).map(String::as_str) {
        Some("immediate") => Durability::Immediate,
        _ => Durability::None,
    };
    let borrowed = args.get(2).is_some_and(|a| a == "borrowed");
    let commits: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let db = Brooklet::open(dir.path().join("cpu.brooklet"))?;
    db.admin().create_topic("log", 1, TopicConfig::default())?;
    let mut producer = db.producer().with_durability(durability);
    if args.get(4).is_some_and(|a| a == "idempotent") {
        producer = producer.idempotent()?;
    }
    let batches: Vec<Vec<Record>> = (0..commits)
        .map(|c| {
            (0..BATCH)
                .map(|i| {
                    let n = (c * BATCH + i) as u64;
                    let key = n.to_be_bytes().repeat(2);
                    let value = n.to_le_bytes().repeat(13)[..100].to_vec();
                    Record::keyed(key, value)
                })
                .collect()
        })
        .collect();
    let kept = commit_loop(&producer, batches, borrowed)?;
    drop(kept);
    producer.flush()
}

/// The measured part: the owned sends give up their records (and brooklet drops them);
/// the borrowed sends build a `Vec<BorrowedRecord>` per commit over buffers the caller
/// keeps, as a caller with its own buffers would.
#[inline(never)]
fn commit_loop(
    producer: &Producer,
    batches: Vec<Vec<Record>>,
    borrowed: bool,
) -> brooklet::Result<Vec<Vec<Record>>> {
    let mut kept = Vec::new();
    for batch in batches {
        if borrowed {
            let records: Vec<BorrowedRecord<'_>> = batch
                .iter()
                .map(|r| BorrowedRecord {
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                    ..BorrowedRecord::default()
                })
                .collect();
            producer.send_batch_borrowed_to("log", 0, &records)?;
            kept.push(batch);
        } else {
            producer.send_batch_to("log", 0, batch)?;
        }
    }
    Ok(kept)
}
