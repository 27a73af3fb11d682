//! Paired timing of the `fdatasync`-bound comparisons: brooklet and its ceiling take turns,
//! one operation each per round (the order alternating), and the ratio is the median of the
//! per-round ratios.
//!
//! On a shared disk or a VM, one `fdatasync` may take 0.3 ms one minute and 4 ms the next,
//! so two criterion benches run a minute apart can disagree by more than the difference
//! being measured. Operations a few milliseconds apart see the same disk; the median of
//! their ratios is what the targets are checked against.
//!
//! The group-commit comparison pairs rounds the same way: one thread's durable sends against
//! [`THREADS`] threads', per record.
//!
//! `BROOKLET_BENCH_PAIRED_ROUNDS` sets the rounds per comparison (default 200, a fifth of
//! that for group commit; 0 skips).

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use brooklet::{Brooklet, Durability, TimestampType, TopicConfig, kafka};

use crate::{
    THREADS, TOPIC, brooklet_now_ms, env_count, open_with_topic, parallel_sends, record, records,
};

/// One paired comparison.
pub struct Row {
    pub what: String,
    /// Records per operation.
    pub records: u32,
    pub brooklet_ns: f64,
    pub ceiling_ns: f64,
    /// Median of per-round ratios: brooklet time / ceiling time.
    pub time_ratio: f64,
    /// True when the row compares throughput (same records both sides): the ratio to
    /// report is then ceiling time / brooklet time.
    pub throughput: bool,
    pub target: &'static str,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

/// Runs `rounds` rounds of one brooklet and one ceiling operation, each closure timing its
/// own operation (so preparing its input is not counted).
fn pair(
    rounds: usize,
    mut brooklet: impl FnMut() -> Duration,
    mut ceiling: impl FnMut() -> Duration,
) -> (f64, f64, f64) {
    let mut b = Vec::with_capacity(rounds);
    let mut c = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (tb, tc) = if round % 2 == 0 {
            let tb = brooklet();
            (tb, ceiling())
        } else {
            let tc = ceiling();
            (brooklet(), tc)
        };
        b.push(nanos(tb));
        c.push(nanos(tc));
        ratios.push(nanos(tb) / nanos(tc));
    }
    (median(&mut b), median(&mut c), median(&mut ratios))
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// The paired comparisons; empty if `BROOKLET_BENCH_PAIRED_ROUNDS` is 0.
pub fn run() -> Vec<Row> {
    let rounds =
        usize::try_from(env_count("BROOKLET_BENCH_PAIRED_ROUNDS", 200)).expect("rounds fit usize");
    if rounds == 0 {
        return Vec::new();
    }
    eprintln!("paired runs: {rounds} rounds per comparison");
    let mut rows = Vec::new();
    let (dir, db) = open_with_topic(TopicConfig::default());
    let producer = db.producer().with_durability(Durability::Immediate);
    let mut next = 0u64;
    for batch in [1usize, 10, 100, 1000] {
        let bytes = kafka::encode_batch(
            0,
            &records(0, batch),
            TimestampType::CreateTime,
            brooklet_now_ms(),
        )
        .expect("encode");
        let mut raw = append_file(&dir.path().join(format!("raw-{batch}")));
        let (brooklet_ns, ceiling_ns, time_ratio) = pair(
            rounds,
            || {
                let recs = records(next, batch);
                next += batch as u64;
                timed(|| {
                    black_box(producer.send_batch_to(TOPIC, 0, recs).expect("send"));
                })
            },
            || {
                timed(|| {
                    raw.write_all(&bytes).expect("write");
                    raw.sync_data().expect("fdatasync");
                })
            },
        );
        rows.push(Row {
            what: format!("append, {batch}-record batches, Immediate vs write+fdatasync"),
            records: u32::try_from(batch).expect("batch fits u32"),
            brooklet_ns,
            ceiling_ns,
            time_ratio,
            throughput: true,
            target: if batch >= 100 { ">= 0.5" } else { "" },
        });
    }
    let page = vec![0x5au8; 4096];
    let overwrite = File::create(dir.path().join("raw-overwrite")).expect("raw file");
    overwrite.write_all_at(&page, 0).expect("write");
    overwrite.sync_all().expect("sync");
    let mut appended = append_file(&dir.path().join("raw-append"));
    let mut send_one = || {
        let rec = record(next, None);
        next += 1;
        timed(|| {
            black_box(producer.send_to(TOPIC, 0, rec).expect("send"));
        })
    };
    let (brooklet_ns, ceiling_ns, time_ratio) = pair(rounds, &mut send_one, || {
        timed(|| {
            overwrite.write_all_at(&page, 0).expect("write");
            overwrite.sync_data().expect("fdatasync");
        })
    });
    rows.push(Row {
        what: "durable 1-record send vs 4 KiB pwrite+fdatasync (overwrite)".to_owned(),
        records: 1,
        brooklet_ns,
        ceiling_ns,
        time_ratio,
        throughput: false,
        target: "<= 1.3",
    });
    let (brooklet_ns, ceiling_ns, time_ratio) = pair(rounds, &mut send_one, || {
        timed(|| {
            appended.write_all(&page).expect("write");
            appended.sync_data().expect("fdatasync");
        })
    });
    rows.push(Row {
        what: "durable 1-record send vs 4 KiB append+fdatasync".to_owned(),
        records: 1,
        brooklet_ns,
        ceiling_ns,
        time_ratio,
        throughput: false,
        target: "",
    });
    rows.push(group_commit(&db, (rounds / 5).max(10)));
    rows
}

/// Sends per thread in one round of the group-commit comparison.
const GROUP_SENDS: u64 = 8;

/// Durable 1-record sends: one thread sending `GROUP_SENDS` records in turn, against
/// `THREADS` threads sending `GROUP_SENDS` each at once; compared per record.
fn group_commit(db: &Brooklet, rounds: usize) -> Row {
    let producer = db.producer().with_durability(Durability::Immediate);
    let threads = THREADS as u64;
    let mut next = 1u64 << 50;
    let mut one_thread = || {
        let start = Instant::now();
        for _ in 0..GROUP_SENDS {
            next += 1;
            black_box(
                producer
                    .send_to(TOPIC, 0, record(next, None))
                    .expect("send"),
            );
        }
        start.elapsed() / u32::try_from(GROUP_SENDS).expect("sends fit u32")
    };
    let per_record = u32::try_from(GROUP_SENDS * threads).expect("records fit u32");
    let (brooklet_ns, ceiling_ns, time_ratio) = pair(
        rounds,
        || parallel_sends(db, GROUP_SENDS) / per_record,
        &mut one_thread,
    );
    Row {
        what: format!(
            "durable 1-record sends, {THREADS} threads vs 1 thread ({rounds} rounds of {GROUP_SENDS} sends per thread)"
        ),
        records: 1,
        brooklet_ns,
        ceiling_ns,
        time_ratio,
        throughput: true,
        target: ">= 5",
    }
}

fn append_file(path: &std::path::Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("raw file")
}
