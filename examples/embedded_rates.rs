//! The library's own rates on the records `tests/clients/bench.py` sends through
//! `brooklet serve`, so that the served figures compare with the embedded ones in the same
//! run: a durable bulk append (1000-record commits at `Durability::Immediate`, records
//! borrowing the caller's buffers, as the peer benchmark's bulk append) and a sequential
//! read of the partition with `fetch_batches`, touching every key and value.
//!
//! ```text
//! cargo build --release --example embedded_rates
//! target/release/examples/embedded_rates 300000
//! ```
//!
//! Prints `append RECORDS_PER_SECOND` and `read RECORDS_PER_SECOND`, one line each.

use std::time::Instant;

use brooklet::{BorrowedRecord, Brooklet, Durability, FetchLimits, TopicConfig};

const BATCH: usize = 1000;

fn main() -> brooklet::Result<()> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300_000);
    let dir = tempfile::tempdir()?;
    let db = Brooklet::open(dir.path().join("rates.brooklet"))?;
    db.admin()
        .create_topic("bench", 1, TopicConfig::default())?;
    // The same records as the served producer sends: 14-byte keys, 100-byte values.
    let keys: Vec<Vec<u8>> = (0..count)
        .map(|i| format!("key-{i:010}").into_bytes())
        .collect();
    let value = vec![b'v'; 100];
    let producer = db.producer().with_durability(Durability::Immediate);
    let start = Instant::now();
    for chunk in keys.chunks(BATCH) {
        let records: Vec<BorrowedRecord<'_>> = chunk
            .iter()
            .map(|key| BorrowedRecord {
                key: Some(key),
                value: Some(&value),
                ..BorrowedRecord::default()
            })
            .collect();
        producer.send_batch_borrowed_to("bench", 0, &records)?;
    }
    println!("append {:.0}", rate(count, start));

    let limits = FetchLimits {
        max_records: 10_000,
        max_bytes: 4 << 20,
    };
    let start = Instant::now();
    let (mut offset, mut read, mut touched) = (0, 0usize, 0usize);
    loop {
        let fetched = db.fetch_batches("bench", 0, offset, limits)?;
        for record in fetched.records() {
            let record = record?;
            touched += record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len);
            read += 1;
        }
        if fetched.next_offset >= fetched.end_offset {
            break;
        }
        offset = fetched.next_offset;
    }
    assert_eq!(
        (read, touched),
        (count, count * 114),
        "every record read back"
    );
    println!("read {:.0}", rate(count, start));
    Ok(())
}

fn rate(count: usize, start: Instant) -> f64 {
    #[allow(clippy::cast_precision_loss)] // record counts far below 2^52
    let count = count as f64;
    count / start.elapsed().as_secs_f64()
}
