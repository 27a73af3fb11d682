//! `brooklet demo`: the README's main job. Creates a file with two topics, produces a few
//! thousand records, consumes them with two readers that split the partitions between
//! them (standing in for a two-member consumer group until groups land), checks the file,
//! and prints the commands to explore it further.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use brooklet::{Brooklet, Record, StartAt, TopicConfig};

use crate::common::{CliError, CliResult, Out, has_magic, io_error};
use crate::json::record_line;

const ORDERS: &str = "orders";
const PAYMENTS: &str = "payments";
const ORDER_COUNT: u64 = 3000;
const PAYMENT_COUNT: u64 = 1000;
const BATCH_RECORDS: u64 = 100;
const CUSTOMERS: u64 = 50;

pub fn run(file: Option<PathBuf>) -> CliResult {
    let path = prepare(file)?;
    let mut out = Out::new();
    let shown = path.display().to_string();
    let db = Brooklet::open(&path)
        .map_err(|e| CliError::failure(format!("{shown}: {}", crate::common::describe(&e))))?;
    out.line(&format!("brooklet demo: created {shown}"))?;
    db.create_topic(ORDERS, 3, TopicConfig::default())?;
    db.create_topic(PAYMENTS, 2, TopicConfig::default())?;
    out.line(&format!(
        "created topics {ORDERS} (3 partitions) and {PAYMENTS} (2 partitions)"
    ))?;

    let syncs_before = db.engine().sync_count();
    let started = Instant::now();
    let order_commits = produce(&db, ORDERS, ORDER_COUNT, |i| {
        let customer = i % CUSTOMERS;
        Record::keyed(
            format!("customer-{customer}"),
            format!(
                "{{\"order\":{i},\"customer\":{customer},\"total\":{}}}",
                5 + i % 95
            ),
        )
        .with_header("source", Some(b"demo".to_vec()))
    })?;
    let payment_commits = produce(&db, PAYMENTS, PAYMENT_COUNT, |i| {
        Record::keyed(
            format!("order-{}", i * 3),
            format!("{{\"order\":{},\"paid\":true}}", i * 3),
        )
    })?;
    let elapsed = started.elapsed();
    out.line(&format!(
        "produced {ORDER_COUNT} records to {ORDERS} and {PAYMENT_COUNT} to {PAYMENTS} in {} \
         durable commits of {BATCH_RECORDS} records ({} fdatasyncs, {} ms)",
        order_commits + payment_commits,
        db.engine().sync_count() - syncs_before,
        elapsed.as_millis()
    ))?;
    out.line("keyed records go to partition murmur2(key) % partitions, as in Kafka:")?;
    for topic in [ORDERS, PAYMENTS] {
        let d = db.describe_topic(topic)?;
        let spread: Vec<String> = d
            .partitions
            .iter()
            .map(|p| format!("{topic}-{}: {}", p.partition, p.end_offset))
            .collect();
        out.line(&format!("  {}", spread.join(", ")))?;
    }

    consume(&db, &mut out)?;

    let report = db.check()?;
    out.line(&format!(
        "check: {} ({} pages of {} bytes, {} free)",
        if report.is_clean() {
            "clean"
        } else {
            "PROBLEMS FOUND"
        },
        report.page_count,
        report.page_size,
        report.free_pages()
    ))?;
    let first = db.fetch(ORDERS, 0, 0, brooklet::FetchLimits::default())?;
    if let Some(record) = first.records.first() {
        out.line("the first record of orders-0, as `consume --format json` prints it:")?;
        out.line(&format!("  {}", record_line(ORDERS, 0, record)))?;
    }
    explore(&mut out, &shown)?;
    out.flush()
}

/// Picks the demo file: a named file must be new (or empty); the default file in the
/// temporary directory is replaced on every run, but only if it is brooklet's.
fn prepare(file: Option<PathBuf>) -> CliResult<PathBuf> {
    let named = file.is_some();
    let path = file.unwrap_or_else(|| std::env::temp_dir().join("brooklet-demo.brooklet"));
    let shown = path.display();
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(path),
        Err(e) => Err(io_error(&path, &e)),
        Ok(meta) if meta.len() == 0 && meta.is_file() => Ok(path),
        Ok(_) if named => Err(CliError::failure(format!(
            "{shown} exists; the demo writes a new file, so name one that does not exist"
        ))),
        Ok(meta) if meta.is_file() && has_magic(&path)? => {
            std::fs::remove_file(&path).map_err(|e| io_error(&path, &e))?;
            Ok(path)
        }
        Ok(_) => Err(CliError::failure(format!(
            "{shown} exists and is not a brooklet file; refusing to replace it"
        ))),
    }
}

/// Produces `count` records in durable commits of [`BATCH_RECORDS`]; returns the commits.
fn produce(db: &Brooklet, topic: &str, count: u64, make: impl Fn(u64) -> Record) -> CliResult<u64> {
    let producer = db.producer();
    let mut commits = 0;
    let mut next = 0;
    while next < count {
        let end = (next + BATCH_RECORDS).min(count);
        producer.send_batch(topic, (next..end).map(&make).collect())?;
        commits += 1;
        next = end;
    }
    Ok(commits)
}

/// Two readers on two threads, each reading its share of the partitions to the end.
fn consume(db: &Brooklet, out: &mut Out) -> CliResult {
    out.line(
        "consumer groups are not built yet: two readers split the five partitions round \
         robin, as the two members of a group will",
    )?;
    let all = [
        (ORDERS, 0),
        (ORDERS, 1),
        (ORDERS, 2),
        (PAYMENTS, 0),
        (PAYMENTS, 1),
    ];
    let shares: Vec<Vec<(&str, u32)>> = (0..2)
        .map(|member| all.iter().copied().skip(member).step_by(2).collect())
        .collect();
    let started = Instant::now();
    let results: Vec<CliResult<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter()
            .map(|share| scope.spawn(move || read_share(db, share)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reader thread does not panic"))
            .collect()
    });
    let mut total = 0;
    for (member, (share, result)) in shares.iter().zip(results).enumerate() {
        let count = result?;
        total += count;
        let names: Vec<String> = share.iter().map(|(t, p)| format!("{t}-{p}")).collect();
        out.line(&format!(
            "  member-{}: read {count} records from {}",
            member + 1,
            names.join(", ")
        ))?;
    }
    out.line(&format!(
        "  together: {total} of {} records, each exactly once, in {} ms",
        ORDER_COUNT + PAYMENT_COUNT,
        started.elapsed().as_millis()
    ))?;
    if total != ORDER_COUNT + PAYMENT_COUNT {
        return Err(CliError::failure(format!(
            "the readers saw {total} records, expected {}",
            ORDER_COUNT + PAYMENT_COUNT
        )));
    }
    Ok(())
}

/// Reads a share of partitions to their end offsets; checks that every offset arrives
/// exactly once, in order. Returns the record count.
fn read_share(db: &Brooklet, share: &[(&str, u32)]) -> CliResult<u64> {
    let mut reader = db.reader();
    let mut expected: BTreeMap<(String, u32), (u64, u64)> = BTreeMap::new();
    for &(topic, partition) in share {
        reader.assign(topic, partition, StartAt::Beginning)?;
        let end = db.end_offset(topic, partition)?;
        expected.insert((topic.to_owned(), partition), (0, end));
    }
    let mut count = 0;
    while expected.values().any(|(next, end)| next < end) {
        for consumed in reader.poll(std::time::Duration::from_millis(100))? {
            let key = (consumed.topic.clone(), consumed.partition);
            let (next, _) = expected.get_mut(&key).expect("only assigned partitions");
            if consumed.record.offset != *next {
                return Err(CliError::failure(format!(
                    "{}-{}: expected offset {next}, read {}",
                    key.0, key.1, consumed.record.offset
                )));
            }
            *next += 1;
            count += 1;
        }
    }
    Ok(count)
}

/// Prints the commands to explore the demo file.
fn explore(out: &mut Out, file: &str) -> CliResult {
    // `cargo run` sets CARGO_MANIFEST_DIR for the program it runs.
    let prefix = if std::env::var_os("CARGO_MANIFEST_DIR").is_some() {
        "cargo run --release --"
    } else {
        "brooklet"
    };
    out.line("")?;
    out.line("explore further:")?;
    for command in [
        format!("{prefix} topic list {file}"),
        format!("{prefix} topic describe {file} {ORDERS}"),
        format!("{prefix} consume {file} {ORDERS} --partition 0 --max 5 --format json"),
        format!(
            "echo 'customer-7:{{\"total\":42}}' | {prefix} produce {file} {ORDERS} --key-separator : --acks"
        ),
        format!("{prefix} consume {file} {ORDERS} --follow --timeout-ms 10000"),
        format!("{prefix} info {file}"),
        format!("{prefix} check {file}"),
        format!("{prefix} export {file} {ORDERS} --format kafka-segment --out /tmp/brooklet-kafka"),
        format!("{prefix} --help"),
    ] {
        out.line(&format!("  {command}"))?;
    }
    Ok(())
}
