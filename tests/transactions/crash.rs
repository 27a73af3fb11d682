//! Power cuts during transactions. A scripted run on the fault-injecting backend commits
//! transactions over several partitions with group offsets, aborts a large one, fences an
//! instance whose large transaction is stored ahead, and commits a transaction stored
//! across several storage commits. The run is then repeated with a power cut at each of
//! its storage operations (every write, `set_len` and sync), and every crash image (unsynced
//! writes dropped, kept, or torn per sector) must open clean and show, to `read_committed`
//! readers, a prefix of the committed transactions, each one whole, with the group's
//! offset saying exactly which, and nothing of the aborted or fenced ones. Transactions the
//! cut left open are aborted by a new instance of their id (the fault backend has no
//! liveness locks), after which the last stable offset is the end offset everywhere.

use std::collections::BTreeMap;
use std::sync::Arc;

use brooklet::storage::{CrashMode, FaultConfig, FaultStorage, MemStorage, Storage};
use brooklet::{
    Brooklet, Error, GroupMetadata, Isolation, Options, Record, TopicConfig, TopicPartition,
    TransactionOptions, TransactionState,
};

use crate::read_values;

const OUT: &str = "out";
const OUT_PARTITIONS: u32 = 3;
const IN: &str = "in";
const GROUP: &str = "g";

/// How a scripted transaction ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Commit,
    Abort,
    Fenced,
}

/// The script's transactions, numbered from 1: transactional id, small buffer (stores
/// ahead), fate, record count. Transaction `k` commits offset `k + 1` of `in/0`.
const PLAN: [(&str, bool, Fate, u32); 7] = [
    ("a", false, Fate::Commit, 6),
    ("b", true, Fate::Abort, 60),
    ("a", false, Fate::Commit, 3),
    ("c", true, Fate::Fenced, 60),
    ("c", true, Fate::Commit, 4),
    ("c", true, Fate::Commit, 120),
    ("a", false, Fate::Commit, 3),
];

fn fate(k: u32) -> Fate {
    PLAN[k as usize - 1].2
}

fn count(k: u32) -> u32 {
    PLAN[k as usize - 1].3
}

fn options(page_size: u32) -> Options {
    Options::default()
        .page_size(page_size)
        .cache_bytes(64 * page_size as usize)
}

fn transaction_options(small: bool) -> TransactionOptions {
    TransactionOptions {
        buffer_bytes: if small { 1000 } else { 4 << 20 },
        ..TransactionOptions::default()
    }
}

/// Record `i` of transaction `k`: its value names both, and the transaction's size.
fn record(k: u32, i: u32) -> (u32, Record) {
    let value = format!("{k}:{i}:{}:{}", count(k), "x".repeat(30));
    // Fixed create times: the time index follows them, and with the clock's times runs
    // would differ by a few operations.
    let timestamp_ms = 1_700_000_000_000 + i64::from(k) * 1000 + i64::from(i);
    (
        i % OUT_PARTITIONS,
        Record::value(value).with_timestamp(timestamp_ms),
    )
}

/// Parses a value written by [`record`]: (transaction, record, count).
fn parse(value: &[u8]) -> (u32, u32, u32) {
    let text = std::str::from_utf8(value).expect("UTF-8 value");
    let mut fields = text.split(':').map(str::parse::<u32>);
    let mut next = || fields.next().and_then(Result::ok).expect("a number");
    (next(), next(), next())
}

/// What a run got through before the end or the power cut.
#[derive(Debug, Default)]
struct Outcome {
    /// The transactions whose commit returned `Ok` (durably: the default durability).
    committed: Vec<u32>,
    /// The transaction whose commit was called last and did not return.
    in_flight: Option<u32>,
}

/// Runs the script on `db`, noting commits in `outcome`. Errors other than the planned
/// fencing are returned (they come from the power cut).
fn script(db: &Brooklet, outcome: &mut Outcome) -> brooklet::Result<()> {
    let mut producers: BTreeMap<&str, brooklet::TransactionalProducer> = BTreeMap::new();
    for k in 1..=PLAN.len() as u32 {
        let (id, small, fate, _) = PLAN[k as usize - 1];
        if !producers.contains_key(id) {
            let p = db.transactional_producer_with(id, transaction_options(small))?;
            producers.insert(id, p);
        }
        let producer = producers.get_mut(id).expect("just inserted");
        let mut txn = producer.begin()?;
        for i in 0..count(k) {
            let (partition, record) = record(k, i);
            txn.send_to(OUT, partition, record)?;
        }
        let offsets = [(TopicPartition::new(IN, 0), u64::from(k) + 1)];
        txn.send_offsets(&GroupMetadata::new(GROUP), &offsets)?;
        match fate {
            Fate::Commit => {
                outcome.in_flight = Some(k);
                txn.commit()?;
                outcome.in_flight = None;
                outcome.committed.push(k);
            }
            Fate::Abort => txn.abort()?,
            Fate::Fenced => {
                // A new instance of the id takes over while this one's records are stored
                // ahead: it aborts them at once, and this instance can no longer commit.
                let fresh = db.transactional_producer_with(id, transaction_options(small))?;
                match txn.commit() {
                    Err(Error::Fenced(_)) => {}
                    Err(e) => return Err(e),
                    Ok(_) => panic!("a fenced instance committed transaction {k}"),
                }
                producers.insert(id, fresh);
            }
        }
    }
    Ok(())
}

/// The file before the script: the topics, in memory.
fn base_image(page_size: u32) -> Vec<u8> {
    let storage = Arc::new(MemStorage::new());
    let db = Brooklet::open_storage(storage.clone(), options(page_size)).expect("open");
    db.admin()
        .create_topic(OUT, OUT_PARTITIONS, TopicConfig::default())
        .expect("topic out");
    db.admin()
        .create_topic(IN, 1, TopicConfig::default())
        .expect("topic in");
    drop(db);
    storage.to_bytes()
}

/// Runs the script over `storage` until the end or the power cut.
fn run(storage: Arc<dyn Storage>, fault: &FaultStorage, page_size: u32) -> Outcome {
    let mut outcome = Outcome::default();
    let Ok(db) = Brooklet::open_storage(storage, options(page_size)) else {
        assert!(fault.is_crashed(), "open failed without a power cut");
        return outcome;
    };
    if let Err(e) = script(&db, &mut outcome) {
        assert!(
            fault.is_crashed(),
            "the script failed without a power cut: {e}"
        );
    }
    outcome
}

/// The transactions a `read_committed` reader sees, each checked whole.
fn visible(db: &Brooklet, label: &str) -> Vec<u32> {
    let mut seen: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for p in 0..OUT_PARTITIONS {
        let values = read_values(db, OUT, p, Isolation::ReadCommitted)
            .unwrap_or_else(|e| panic!("{label}: read failed: {e}"));
        for value in values {
            let (k, i, n) = parse(&value);
            assert_eq!(n, count(k), "{label}: record {k}:{i} names a wrong count");
            assert_eq!(
                i % OUT_PARTITIONS,
                p,
                "{label}: record {k}:{i} in partition {p}"
            );
            seen.entry(k).or_default().push(i);
        }
    }
    for (k, indexes) in &mut seen {
        assert_eq!(
            fate(*k),
            Fate::Commit,
            "{label}: transaction {k} ({:?}) is visible",
            fate(*k)
        );
        indexes.sort_unstable();
        assert!(
            indexes.iter().copied().eq(0..count(*k)),
            "{label}: transaction {k} is visible in part: {} of {} records",
            indexes.len(),
            count(*k)
        );
    }
    seen.into_keys().collect()
}

/// Checks what a reader sees against the run: a prefix of the committed transactions that
/// holds every commit that returned, and the group offset of its last. Returns the last.
fn check_visible(db: &Brooklet, outcome: &Outcome, label: &str) -> u32 {
    let seen = visible(db, label);
    let last = seen.last().copied().unwrap_or(0);
    let prefix: Vec<u32> = (1..=last).filter(|&k| fate(k) == Fate::Commit).collect();
    assert_eq!(
        seen, prefix,
        "{label}: not a prefix of the committed transactions"
    );
    let returned = outcome.committed.last().copied().unwrap_or(0);
    assert!(
        last == returned || Some(last) == outcome.in_flight,
        "{label}: transactions up to {last} visible; commits returned up to {returned}, \
         in flight {:?}",
        outcome.in_flight
    );
    let committed = match db.admin().describe_group(GROUP) {
        Ok(d) => d
            .partitions
            .iter()
            .find(|p| p.topic == IN && p.partition == 0)
            .and_then(|p| p.committed),
        Err(Error::UnknownGroup(_)) => None,
        Err(e) => panic!("{label}: describe group: {e}"),
    };
    let expected = (last > 0).then(|| u64::from(last) + 1);
    assert_eq!(
        committed, expected,
        "{label}: group offset with {seen:?} visible"
    );
    last
}

fn check_clean(db: &Brooklet, label: &str) {
    let report = db.admin().check().expect("check runs");
    assert!(
        report.is_clean(),
        "{label}: check found {:?}",
        report.problems
    );
}

/// What one crash image held.
struct Verified {
    /// The last transaction visible.
    last: u32,
    /// Open transactions aborted by a new instance of their id.
    aborted: usize,
}

/// Opens a crash image and checks it.
fn verify_image(image: Vec<u8>, outcome: &Outcome, page_size: u32, label: &str) -> Verified {
    let storage = Arc::new(MemStorage::from_bytes(image));
    let db = Brooklet::open_storage(storage, options(page_size))
        .unwrap_or_else(|e| panic!("{label}: open after the power cut failed: {e}"));
    check_clean(&db, label);
    let last = check_visible(&db, outcome, label);
    // The process that held them is gone: a new instance of each id aborts what it left.
    let open: Vec<String> = db
        .admin()
        .transactions()
        .expect("transactions")
        .into_iter()
        .filter(|t| t.state == TransactionState::Ongoing)
        .map(|t| t.transactional_id)
        .collect();
    for id in &open {
        db.transactional_producer(id)
            .unwrap_or_else(|e| panic!("{label}: new instance of {id}: {e}"));
    }
    db.admin().maintain().expect("maintain");
    let listed = db.admin().transactions().expect("transactions");
    assert!(
        listed.iter().all(|t| t.state != TransactionState::Ongoing),
        "{label}: a transaction is still open: {listed:?}"
    );
    for p in 0..OUT_PARTITIONS {
        let lso = db.last_stable_offset(OUT, p).expect("lso");
        let end = db.end_offset(OUT, p).expect("end");
        assert_eq!(lso, end, "{label}: partition {p} is held back after aborts");
    }
    assert_eq!(
        check_visible(&db, outcome, label),
        last,
        "{label}: aborts changed it"
    );
    check_clean(&db, label);
    // And the file takes new transactions.
    let mut producer = db.transactional_producer("after").expect("producer");
    let mut txn = producer.begin().expect("begin");
    txn.send_to(OUT, 0, Record::value("after the cut"))
        .expect("send");
    txn.commit()
        .unwrap_or_else(|e| panic!("{label}: commit after recovery: {e}"));
    let values = read_values(&db, OUT, 0, Isolation::ReadCommitted).expect("read");
    assert_eq!(
        values.last().map(Vec::as_slice),
        Some(&b"after the cut"[..])
    );
    Verified {
        last,
        aborted: open.len(),
    }
}

/// Extra seeds of torn-write images per crash point, beside [`CrashMode::SWEEP`].
const EXTRA_TORN_IMAGES: u64 = 4;

/// What a sweep covered.
#[derive(Debug, Default)]
struct Coverage {
    crash_points: u64,
    writes: u64,
    syncs: u64,
    images: u64,
    /// Cuts that came while a commit call was running.
    in_commit: u64,
    aborted_on_reopen: usize,
    /// Images by the last transaction visible.
    reached: BTreeMap<u32, u64>,
}

/// Cuts the power at every storage operation of the script on `page_size` pages.
fn sweep(page_size: u32, cov: &mut Coverage) {
    let base = base_image(page_size);
    let probe = Arc::new(FaultStorage::new(FaultConfig::seeded(1), base.clone()));
    let full = run(probe.clone(), &probe, page_size);
    let committed: Vec<u32> = (1..=PLAN.len() as u32)
        .filter(|&k| fate(k) == Fate::Commit)
        .collect();
    assert_eq!(
        full.committed, committed,
        "the fault-free run commits as planned"
    );
    let total_ops = probe.op_count();
    let syncs = probe.sync_count();
    {
        let image = MemStorage::from_bytes(probe.volatile_image());
        let db = Brooklet::open_storage(Arc::new(image), options(page_size)).expect("open");
        let aborted = db.admin().aborted_transactions(OUT, 0).expect("aborted");
        assert!(
            aborted.len() >= 2,
            "the abort and the fencing are indexed: {aborted:?}"
        );
    }
    cov.writes += total_ops - syncs;
    cov.syncs += syncs;
    // Runs make the same operations (records carry fixed times), but the cuts go on until
    // a run ends before its cut anyway: every operation of every run is covered.
    for crash_at in 0.. {
        assert!(crash_at <= 2 * total_ops, "runs do not end");
        let config = FaultConfig::seeded(crash_at).with_crash_at(crash_at);
        let storage = Arc::new(FaultStorage::new(config, base.clone()));
        let outcome = run(storage.clone(), &storage, page_size);
        cov.crash_points += 1;
        cov.in_commit += u64::from(outcome.in_flight.is_some());
        let torn = (0..EXTRA_TORN_IMAGES).map(|i| {
            let seed = crash_at * 1000 + i;
            (
                format!("torn seed {seed}"),
                storage.crash_image_seeded(CrashMode::Random, seed),
            )
        });
        let images = CrashMode::SWEEP
            .iter()
            .map(|(name, mode)| ((*name).to_owned(), storage.crash_image(*mode)))
            .chain(torn);
        for (name, image) in images {
            let label =
                format!("{page_size}-byte pages: crash at op {crash_at} of {total_ops} ({name})");
            let verified = verify_image(image, &outcome, page_size, &label);
            cov.aborted_on_reopen += verified.aborted;
            *cov.reached.entry(verified.last).or_default() += 1;
            cov.images += 1;
        }
        if !storage.is_crashed() {
            break;
        }
    }
}

#[test]
fn power_cuts_during_transactions_keep_each_whole_or_absent() {
    let mut cov = Coverage::default();
    for page_size in [512, 4096] {
        sweep(page_size, &mut cov);
    }
    println!(
        "transaction power cuts: {} crash points (every operation; the fault-free runs made \
         {} writes and set_len and {} syncs), {} crash images, {} cuts inside a commit call, \
         {} open transactions aborted on reopen; images by last visible transaction {:?}",
        cov.crash_points,
        cov.writes,
        cov.syncs,
        cov.images,
        cov.in_commit,
        cov.aborted_on_reopen,
        cov.reached,
    );
    assert!(
        cov.aborted_on_reopen > 0,
        "some cuts left a transaction open"
    );
    let mut states = vec![0];
    states.extend((1..=PLAN.len() as u32).filter(|&k| fate(k) == Fate::Commit));
    assert!(
        states.iter().all(|k| cov.reached.contains_key(k)),
        "every committed prefix was recovered to: {:?}",
        cov.reached
    );
}
