//! brooklet with compression on and off, on compressible values (no peer takes part): the
//! bulk append of `--records` JSON-like records in `--batch`-record commits (not durable,
//! so the CPU sets the pace, as in the non-durable bulk row), the file's allocated bytes,
//! and a sequential read of every record through `fetch_batches` and its borrowed records
//! (the median of `--read-passes`), once per `compression.type`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use brooklet::{Brooklet, Durability, FetchLimits, Record, TopicConfig};

use crate::args::Sizes;
use crate::subjects;

const CODECS: [&str; 5] = ["uncompressed", "gzip", "snappy", "lz4", "zstd"];

/// Record `i`: a 16-byte key and a JSON-like value of about 150 bytes, the shape of event
/// payloads (repeated field names, a few varying values).
fn record(i: u64) -> Record {
    let value = format!(
        r#"{{"user_id":"user-{:06}","event":"{}","page":"/products/{}","ts":{},"ok":true,"ms":{}}}"#,
        i % 50_000,
        ["page_view", "click", "add_to_cart", "purchase"][(i % 4) as usize],
        i % 997,
        1_700_000_000_000 + i,
        i % 250
    );
    Record::keyed(
        format!("key-{:012}", i % 1_000_000_000_000),
        value.into_bytes(),
    )
}

/// One codec's figures: (records/s appended, bytes allocated, records/s read, value bytes).
fn measure(codec: &str, sizes: &Sizes, dir: &Path) -> (f64, u64, f64, u64) {
    std::fs::create_dir_all(dir).expect("directory");
    let db = Brooklet::open(dir.join("c.brooklet")).expect("open");
    let config = TopicConfig::from_pairs([("compression.type", codec)]).expect("config");
    db.admin().create_topic("t", 1, config).expect("topic");
    let producer = db.producer().with_durability(Durability::None);
    let (mut appending, mut payload) = (Duration::ZERO, 0u64);
    let mut first = 0;
    while first < sizes.records {
        let n = sizes.batch.min(sizes.records - first);
        let records: Vec<Record> = (first..first + n).map(record).collect();
        payload += records
            .iter()
            .map(|r| r.value.as_ref().map_or(0, Vec::len) as u64 + 16)
            .sum::<u64>();
        let start = Instant::now();
        producer.send_batch_to("t", 0, records).expect("send");
        appending += start.elapsed();
        first += n;
    }
    db.flush().expect("flush");
    let bytes = subjects::allocated_bytes(dir);
    let mut reads: Vec<Duration> = (0..sizes.read_passes)
        .map(|_| {
            let start = Instant::now();
            assert_eq!(read_all(&db), sizes.records, "{codec}: every record read");
            start.elapsed()
        })
        .collect();
    reads.sort_unstable();
    let read = reads[reads.len() / 2];
    let rate = |time: Duration| sizes.records as f64 / time.as_secs_f64();
    (rate(appending), bytes, rate(read), payload)
}

/// Reads every record of the topic; returns how many there were.
fn read_all(db: &Brooklet) -> u64 {
    let end = db.end_offset("t", 0).expect("end");
    let (mut offset, mut count, mut value_bytes) = (0, 0u64, 0usize);
    while offset < end {
        let fetched = db
            .fetch_batches("t", 0, offset, FetchLimits::default())
            .expect("fetch");
        for record in fetched.records() {
            let record = record.expect("record");
            value_bytes += record.value.map_or(0, <[u8]>::len);
            count += 1;
        }
        offset = fetched.next_offset;
    }
    assert!(value_bytes > 0);
    count
}

/// The section of the report: a table with a row per `compression.type`.
pub fn section(sizes: &Sizes, dir: &Path) -> String {
    let mut out = String::from(
        "\n## brooklet: compressible values, compression on and off\n\n\
         JSON-like values (about 130 bytes, repeated field names) under 16-byte keys, one \
         partition; bulk append in non-durable commits, then a sequential read through \
         `fetch_batches` (compressed batches are decompressed once per fetch).\n\n\
         | compression.type | append (records/s) | file (bytes allocated) | vs uncompressed | read (records/s) |\n\
         |---|---|---|---|---|\n",
    );
    let mut plain_bytes = None;
    for codec in CODECS {
        let start = Instant::now();
        let (append, bytes, read, payload) = measure(codec, sizes, &dir.join(codec));
        eprintln!(
            "  brooklet  compression {codec}: {:.1} s",
            start.elapsed().as_secs_f64()
        );
        let plain = *plain_bytes.get_or_insert(bytes);
        let _ = writeln!(
            out,
            "| {codec} | {append:.0} | {bytes} ({:.2} x payload) | {:.2} | {read:.0} |",
            bytes as f64 / payload as f64,
            bytes as f64 / plain as f64,
        );
    }
    out
}
