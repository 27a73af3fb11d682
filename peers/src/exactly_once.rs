//! brooklet's exactly-once figures, which no peer has a counterpart for, each beside the
//! plain operation it is measured against in the same run:
//! - a transaction of one record plus one group-offset commit, against a plain durable
//!   1-record send (latency, p50 and p99, alternating so both meet the same disk);
//! - a consume-transform-produce loop over 1000-record polls, transactional (records and
//!   offsets in one commit) against at-least-once (a durable send, then a durable offset
//!   commit);
//! - a bulk append of 1000-record commits (not durable) by an idempotent producer, against a
//!   plain one.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use brooklet::{
    Brooklet, ConsumerOptions, Durability, GroupMetadata, Position, Record, TopicConfig,
    TopicPartition,
};

use crate::args::Sizes;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn record(i: u64) -> Record {
    Record::keyed(format!("key-{:012}", i % 100_000), vec![b'v'; 100])
}

/// A new file `name` in `dir` with one-partition `topics`.
fn open(dir: &Path, name: &str, topics: &[&str]) -> Brooklet {
    let db = Brooklet::open(dir.join(format!("{name}.brooklet"))).expect("open");
    for topic in topics {
        db.admin()
            .create_topic(topic, 1, TopicConfig::default())
            .expect("topic");
    }
    db
}

/// The transaction-latency rows: (plain p50, p99, transaction p50, p99, syncs per txn).
fn latency(dir: &Path, commits: u64) -> (Duration, Duration, Duration, Duration, f64) {
    let db = open(dir, "latency", &["out"]);
    let producer = db.producer();
    let mut transactional = db.transactional_producer("latency").expect("producer");
    let group = GroupMetadata::new("g");
    let (mut plain, mut txns) = (Vec::new(), Vec::new());
    let mut txn_syncs = 0;
    for i in 0..commits {
        let start = Instant::now();
        producer.send_to("out", 0, record(i)).expect("send");
        plain.push(start.elapsed());
        let before = db.sync_count();
        let start = Instant::now();
        let mut txn = transactional.begin().expect("begin");
        txn.send_to("out", 0, record(i)).expect("send");
        txn.send_offsets(&group, &[(TopicPartition::new("out", 0), i)])
            .expect("offsets");
        txn.commit().expect("commit");
        txns.push(start.elapsed());
        txn_syncs += db.sync_count() - before;
    }
    (
        percentile(&mut plain, 0.5),
        percentile(&mut plain, 0.99),
        percentile(&mut txns, 0.5),
        percentile(&mut txns, 0.99),
        txn_syncs as f64 / commits as f64,
    )
}

/// Records per second of a consume-transform-produce loop over `records` input records.
fn transform(dir: &Path, records: u64, transactional: bool) -> f64 {
    let name = if transactional {
        "ctp-txn"
    } else {
        "ctp-plain"
    };
    let db = open(dir, name, &["in", "out"]);
    let bulk = db.producer().with_durability(Durability::None);
    for start in (0..records).step_by(1000) {
        let batch = (start..(start + 1000).min(records)).map(record).collect();
        bulk.send_batch_to("in", 0, batch).expect("fill");
    }
    bulk.flush().expect("flush");
    let options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        limits: brooklet::FetchLimits {
            max_records: 1000,
            max_bytes: 8 << 20,
        },
        ..ConsumerOptions::default()
    };
    let mut consumer = db.consumer(name, &["in"], options).expect("consumer");
    let producer = db.producer();
    let mut txp = db.transactional_producer(name).expect("producer");
    let start = Instant::now();
    let mut done = 0;
    while done < records {
        let polled = consumer.poll(Duration::from_millis(100)).expect("poll");
        let out: Vec<Record> = polled
            .iter()
            .map(|r| {
                Record::new(
                    r.record.key.clone(),
                    r.record.value.clone().unwrap_or_default(),
                )
            })
            .collect();
        done += polled.len() as u64;
        if transactional {
            let mut txn = txp.begin().expect("begin");
            txn.send_batch("out", out).expect("send");
            let position = consumer.position("in", 0).expect("assigned");
            txn.send_offsets(
                &consumer.group_metadata(),
                &[(TopicPartition::new("in", 0), position)],
            )
            .expect("offsets");
            txn.commit().expect("commit");
        } else {
            producer.send_batch_to("out", 0, out).expect("send");
            consumer.commit().expect("commit");
        }
    }
    let rate = records as f64 / start.elapsed().as_secs_f64();
    consumer.close().expect("close");
    rate
}

/// Records per second of a non-durable bulk append, idempotent or not.
fn bulk(dir: &Path, records: u64, idempotent: bool) -> f64 {
    let name = if idempotent {
        "bulk-idem"
    } else {
        "bulk-plain"
    };
    let db = open(dir, name, &["t"]);
    let mut producer = db.producer().with_durability(Durability::None);
    if idempotent {
        producer = producer.idempotent().expect("idempotent");
    }
    let batches: Vec<Vec<Record>> = (0..records)
        .step_by(1000)
        .map(|s| (s..(s + 1000).min(records)).map(record).collect())
        .collect();
    let start = Instant::now();
    for batch in batches {
        producer.send_batch_to("t", 0, batch).expect("send");
    }
    let rate = records as f64 / start.elapsed().as_secs_f64();
    producer.flush().expect("flush");
    rate
}

/// Runs the three comparisons in `dir` and renders them as a report section.
pub fn section(sizes: &Sizes, dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("directory");
    let commits = sizes.commits_1.max(20);
    let (plain_p50, plain_p99, txn_p50, txn_p99, syncs) = latency(dir, commits);
    let ctp_records = (sizes.records / 5).max(10_000);
    // Alternate the two loops twice and keep each one's better run: the disk's spells
    // fall on both.
    let (mut plain_rate, mut txn_rate) = (0.0_f64, 0.0_f64);
    for round in 0..2 {
        let sub = dir.join(format!("round-{round}"));
        std::fs::create_dir_all(&sub).expect("directory");
        plain_rate = plain_rate.max(transform(&sub, ctp_records, false));
        txn_rate = txn_rate.max(transform(&sub, ctp_records, true));
        std::fs::remove_dir_all(&sub).expect("clean up");
    }
    let bulk_records = sizes.records.max(10_000);
    let (mut plain_bulk, mut idem_bulk) = (0.0_f64, 0.0_f64);
    // Each run is short (well under a second): four rounds, the order alternating, and the
    // best of each kept.
    for round in 0..4 {
        let sub = dir.join(format!("bulk-{round}"));
        std::fs::create_dir_all(&sub).expect("directory");
        for idempotent in [round % 2 == 0, round % 2 == 1] {
            let rate = bulk(&sub, bulk_records, idempotent);
            let best = if idempotent {
                &mut idem_bulk
            } else {
                &mut plain_bulk
            };
            *best = best.max(rate);
        }
        std::fs::remove_dir_all(&sub).expect("clean up");
    }
    let mut out = String::from("\n## brooklet exactly-once\n\n");
    out.push_str("| workload | plain | exactly-once | ratio | target |\n|---|---|---|---|---|\n");
    let _ = writeln!(
        out,
        "| durable 1-record send vs transaction of 1 record + 1 offset, p50 ({commits} each, alternating) | {:.0} us | {:.0} us | {:.2}x | at most 1.2x |",
        us(plain_p50),
        us(txn_p50),
        us(txn_p50) / us(plain_p50)
    );
    let _ = writeln!(
        out,
        "| the same, p99 | {:.0} us | {:.0} us | {:.2}x | |",
        us(plain_p99),
        us(txn_p99),
        us(txn_p99) / us(plain_p99)
    );
    let _ = writeln!(out, "| fdatasyncs per transaction | 1 | {syncs:.2} | | 1 |");
    let _ = writeln!(
        out,
        "| consume-transform-produce, 1000-record polls, {ctp_records} records (at-least-once: durable send + durable offset commit) | {plain_rate:.0} rec/s | {txn_rate:.0} rec/s | {:.2} | at least 0.80 |",
        txn_rate / plain_rate
    );
    let _ = writeln!(
        out,
        "| non-durable bulk append, 1000-record commits, {bulk_records} records, idempotent | {plain_bulk:.0} rec/s | {idem_bulk:.0} rec/s | {:.2} | at least 0.95 |",
        idem_bulk / plain_bulk
    );
    out
}
