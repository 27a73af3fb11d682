//! Space under size retention: the file's pages against the pages `retention.bytes`
//! keeps, counted after every commit of a churn driven the way `brooklet produce` cuts its
//! commits (up to 10,000 records each, of whatever size the input read happened to give).
//! Kafka's disk use is about `retention.bytes` plus a segment; brooklet's adds the pages
//! of one commit in flight (a commit cannot reuse the pages it frees: the commit before
//! it, which a crash falls back to, still reads them).

use brooklet::{Brooklet, Durability, Options, Record, TopicConfig};

/// One churn: a partition with `retention.bytes` = `retention` (and `segment.bytes` if
/// given) takes `rounds` rounds of `per_round` records of 90 to 110 bytes, in commits of
/// up to `commit_max` records. Returns the most pages the file (its length on disk) held
/// after any commit, and the pages of `retention`.
struct Churn {
    retention: u64,
    segment: Option<u32>,
    page_size: u32,
    rounds: u32,
    per_round: u32,
    commit_max: u32,
    durability: Durability,
}

impl Churn {
    fn run(&self, seed: u64) -> (u64, u64) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("space.brooklet");
        let db =
            Brooklet::open_with(&path, Options::default().page_size(self.page_size)).expect("open");
        let retention = self.retention.to_string();
        let segment = self.segment.map(|s| s.to_string());
        let mut pairs = vec![("retention.bytes", retention.as_str())];
        if let Some(s) = &segment {
            pairs.push(("segment.bytes", s.as_str()));
        }
        let config = TopicConfig::from_pairs(pairs).expect("config");
        db.admin().create_topic("t", 1, config).expect("create");
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut ts = 1_700_000_000_000i64;
        let page_size = u64::from(self.page_size);
        let mut file_pages_max = 0;
        for _ in 0..self.rounds {
            let mut left = self.per_round;
            while left > 0 {
                let n = commit_size(&mut rng, self.commit_max).min(left);
                left -= n;
                let records: Vec<Record> = (0..n)
                    .map(|_| {
                        // Fixed timestamps keep the run, and so the page layout, the same.
                        ts += 1;
                        Record::value(vec![b'x'; rng.usize(90..=110)]).with_timestamp(ts)
                    })
                    .collect();
                db.producer()
                    .with_durability(self.durability)
                    .send_batch("t", records)
                    .expect("send");
                let len = std::fs::metadata(&path).expect("metadata").len();
                file_pages_max = file_pages_max.max(len / page_size);
            }
        }
        let held = db.admin().describe_topic("t").expect("describe").partitions[0].bytes;
        assert!(held >= self.retention, "retention keeps {held} bytes");
        let report = db.admin().check().expect("check");
        assert!(report.is_clean(), "{:?}", report.problems);
        (file_pages_max, self.retention.div_ceil(page_size))
    }
}

/// Records in one commit, as `produce` happens to cut them: its whole limit, whole 64 KiB
/// reads of lines (about 600 of these), or anything up to the limit.
fn commit_size(rng: &mut fastrand::Rng, commit_max: u32) -> u32 {
    let chunk = (commit_max * 6 / 100).max(1);
    match rng.u32(0..10) {
        0..=4 => commit_max,
        5..=7 => (rng.u32(1..=16) * chunk).min(commit_max),
        _ => rng.u32(1..=commit_max),
    }
}

/// The CLI-sized case: R = 2 MB, S = 256 KiB, 120 rounds of 20,000 records of about 100
/// bytes, commits of up to 10,000 records. The file stays within 3.6x R after every
/// commit (3.46x for seed 1). The goal is 2.0x: a 10,000-record commit makes a segment of
/// about 1 MB whatever `segment.bytes` says, and extents of mixed sizes do not fit one
/// another; cutting batches at `segment.bytes` and filling segments' unused tails before
/// opening the next reached 1.8x to 1.9x in trials, not yet landed.
#[test]
fn the_file_stays_within_3_6_times_retention_bytes_under_produce_sized_commits() {
    let churn = Churn {
        retention: 2_000_000,
        segment: Some(256 << 10),
        page_size: 4096,
        rounds: 120,
        per_round: 20_000,
        commit_max: 10_000,
        durability: Durability::Immediate,
    };
    for seed in [1, 3] {
        let (file_pages, retained_pages) = churn.run(seed);
        println!("seed {seed}: file {file_pages} pages, retention.bytes {retained_pages} pages");
        assert!(
            file_pages * 10 <= retained_pages * 36,
            "seed {seed}: the file reached {file_pages} pages, R is {retained_pages}"
        );
    }
}

/// The same mechanism at the proportions of R = 64 MiB with default 4 MiB segments and
/// 10,000-record commits, scaled down 64 times so that it runs in the suite: R = 1 MiB,
/// S = 64 KiB, 512-byte pages (a segment is 128 pages), commits of up to 156 records. The
/// file stays within 1.5x R (1.44x; the goal is 1.25x, reached in trials only with
/// segments' tails filled, see above). `the_file_stays_near_64_mib_of_retention` runs the
/// full size.
#[test]
fn the_file_stays_within_one_and_a_half_times_retention_bytes_at_large_proportions() {
    let churn = Churn {
        retention: 1 << 20,
        segment: Some(64 << 10),
        page_size: 512,
        rounds: 30,
        per_round: 20_000,
        commit_max: 156,
        durability: Durability::Immediate,
    };
    let (file_pages, retained_pages) = churn.run(1);
    println!("file {file_pages} pages, retention.bytes {retained_pages} pages");
    assert!(
        file_pages * 100 <= retained_pages * 150,
        "the file reached {file_pages} pages, R is {retained_pages}"
    );
}

/// R = 64 MiB with default segments and commits of up to 10,000 records: within 1.35x R
/// (1.28x to 1.34x over three seeds; 1.19x in trials with segments' tails filled).
/// About 12 seconds in release mode: `cargo test --release --test log -- --ignored`.
#[test]
#[ignore = "large: run in release mode"]
fn the_file_stays_near_64_mib_of_retention() {
    let churn = Churn {
        retention: 64 << 20,
        segment: None,
        page_size: 4096,
        rounds: 60,
        per_round: 200_000,
        commit_max: 10_000,
        durability: Durability::Immediate,
    };
    let (file_pages, retained_pages) = churn.run(1);
    println!("file {file_pages} pages, retention.bytes {retained_pages} pages");
    assert!(
        file_pages * 100 <= retained_pages * 135,
        "the file reached {file_pages} pages, R is {retained_pages}"
    );
}

/// Non-durable commits: pages that retention frees wait for a durable commit, which
/// comes once they pass a sixteenth of the file, not only every 1024 commits: within 5.5x
/// R (4.9x). Before, the CLI-sized churn at `--durability none` grew to more than 9x R
/// in 120 rounds.
#[test]
fn non_durable_commits_do_not_hold_freed_segments_out_of_reuse_for_long() {
    let churn = Churn {
        retention: 2_000_000,
        segment: Some(256 << 10),
        page_size: 4096,
        rounds: 60,
        per_round: 20_000,
        commit_max: 10_000,
        durability: Durability::None,
    };
    let (file_pages, retained_pages) = churn.run(1);
    println!("file {file_pages} pages, retention.bytes {retained_pages} pages");
    assert!(
        file_pages * 10 <= retained_pages * 55,
        "the file reached {file_pages} pages, R is {retained_pages}"
    );
}
