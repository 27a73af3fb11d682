//! The sequential-read workload, for instruction counts: `records` records (16-byte key,
//! 100-byte value) in 1000-record commits to one partition, then read back whole with
//! `fetch_batches`, touching every key and value, `passes` times. Count only the reads:
//!
//! ```text
//! cargo build --release --example read_cpu
//! valgrind --tool=callgrind --toggle-collect='read_cpu::read_loop' \
//!     target/release/examples/read_cpu 200000 1
//! ```

use brooklet::{BorrowedRecord, Brooklet, Durability, FetchLimits, TopicConfig};

fn main() -> brooklet::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let records: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let passes: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let dir = tempfile::tempdir()?;
    let db = Brooklet::open(dir.path().join("read.brooklet"))?;
    db.admin().create_topic("log", 1, TopicConfig::default())?;
    let producer = db.producer().with_durability(Durability::None);
    let mut next = 0u64;
    while next < records {
        let n = (records - next).min(1000);
        let keys: Vec<Vec<u8>> = (next..next + n)
            .map(|i| i.to_be_bytes().repeat(2))
            .collect();
        let values: Vec<Vec<u8>> = (next..next + n)
            .map(|i| i.to_le_bytes().repeat(13)[..100].to_vec())
            .collect();
        let batch: Vec<BorrowedRecord<'_>> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| BorrowedRecord {
                key: Some(k),
                value: Some(v),
                ..BorrowedRecord::default()
            })
            .collect();
        producer.send_batch_borrowed_to("log", 0, &batch)?;
        next += n;
    }
    producer.flush()?;
    let started = std::time::Instant::now();
    let mut total = (0u64, 0u64);
    for _ in 0..passes {
        let (count, bytes) = read_loop(&db)?;
        total = (total.0 + count, total.1 + bytes);
    }
    println!(
        "{} records, {} key and value bytes in {:?}",
        total.0,
        total.1,
        started.elapsed()
    );
    Ok(())
}

/// The measured part: the whole log, fetched in whole batches and walked record by record.
#[inline(never)]
fn read_loop(db: &Brooklet) -> brooklet::Result<(u64, u64)> {
    let limits = FetchLimits {
        max_records: 10_000,
        max_bytes: 4 << 20,
    };
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut offset = db.beginning_offset("log", 0)?;
    loop {
        let fetched = db.fetch_batches("log", 0, offset, limits)?;
        for record in fetched.records() {
            let record = record?;
            count += 1;
            bytes +=
                (record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len)) as u64;
        }
        if fetched.next_offset >= fetched.end_offset {
            return Ok((count, bytes));
        }
        offset = fetched.next_offset;
    }
}
