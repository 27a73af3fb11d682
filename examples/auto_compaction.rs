//! What compaction that runs by itself costs a durable send, and what it saves: `sends`
//! durable 1-record sends (16-byte key, 100-byte value) over 50 keys, alternating between
//! a compacted topic (`min.cleanable.dirty.ratio` 0.5, the default), the same topic with
//! ratio 1 (never compacts by itself) and a delete-policy topic, all with the same
//! `segment.bytes`. Prints each topic's send latencies (median, 99th percentile, largest;
//! then the median and largest of the sends whose commit closed a segment, which are the
//! ones that carry a compaction step) and its stored bytes.
//!
//! ```text
//! cargo run --release --example auto_compaction -- SENDS SEGMENT_BYTES [DIR] [none]
//! cargo run --release --example auto_compaction -- 6000 65536 target
//! ```

use std::time::{Duration, Instant};

use brooklet::{Brooklet, Durability, Record, TopicConfig};

const KEYS: u64 = 50;
const TOPICS: [(&str, &[(&str, &str)]); 3] = [
    ("compact", &[("cleanup.policy", "compact")]),
    (
        "compact-ratio-1",
        &[
            ("cleanup.policy", "compact"),
            ("min.cleanable.dirty.ratio", "1"),
        ],
    ),
    ("delete", &[("cleanup.policy", "delete")]),
];

fn main() -> brooklet::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let sends: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(6000);
    let segment_bytes = args.get(2).map_or("65536", String::as_str);
    let dir = tempfile::tempdir_in(args.get(3).map_or(".", String::as_str))?;
    let db = Brooklet::open(dir.path().join("auto.brooklet"))?;
    for (name, pairs) in TOPICS {
        let mut config = TopicConfig::from_pairs(pairs.iter().copied())?;
        config.set("segment.bytes", segment_bytes)?;
        db.admin().create_topic(name, 1, config)?;
    }
    let durability = match args.get(4).map(String::as_str) {
        Some("none") => Durability::None,
        _ => Durability::Immediate,
    };
    let producer = db.producer().with_durability(durability);
    let mut latencies: Vec<Vec<Duration>> = vec![Vec::new(); TOPICS.len()];
    let mut closing: Vec<Vec<Duration>> = vec![Vec::new(); TOPICS.len()];
    for n in 0..sends {
        for (t, (name, _)) in TOPICS.iter().enumerate() {
            let key = (n % KEYS).to_be_bytes().repeat(2);
            let value = n.to_le_bytes().repeat(13)[..100].to_vec();
            let active_before = active_base(&db, name)?;
            let started = Instant::now();
            producer.send(name, Record::keyed(key, value))?;
            let took = started.elapsed();
            latencies[t].push(took);
            if n > 0 && active_base(&db, name)? != active_before {
                closing[t].push(took);
            }
        }
    }
    println!(
        "{sends} 1-record sends per topic ({durability:?}), 50 keys, segment.bytes={segment_bytes}"
    );
    println!(
        "topic            median     p99        max      closing: median   max   stored bytes  segments"
    );
    for (t, (name, _)) in TOPICS.iter().enumerate() {
        let all = percentiles(&latencies[t]);
        let closed = percentiles(&closing[t]);
        let stored = &db.admin().describe_topic(name)?.partitions[0];
        println!(
            "{name:<16} {:>8.3}ms {:>8.3}ms {:>8.3}ms {:>8.3}ms {:>8.3}ms {:>11} {:>9}",
            all[0], all[1], all[2], closed[0], closed[2], stored.bytes, stored.segments
        );
    }
    Ok(())
}

/// The base offset of partition 0's active segment.
fn active_base(db: &Brooklet, topic: &str) -> brooklet::Result<Option<u64>> {
    Ok(db.admin().segments(topic, 0)?.last().map(|s| s.base_offset))
}

/// The median, 99th percentile and largest of `times`, in milliseconds.
fn percentiles(times: &[Duration]) -> [f64; 3] {
    let mut sorted = times.to_vec();
    sorted.sort();
    let at = |percent: usize| {
        sorted
            .get(sorted.len().saturating_sub(1) * percent / 100)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    [at(50), at(99), at(100)]
}
