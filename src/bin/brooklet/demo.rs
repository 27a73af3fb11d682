//! `brooklet demo`: the README's main job. Creates a file with two topics, produces a few
//! thousand records, consumes them with a two-member consumer group (two threads), checks
//! the file, and prints the commands to explore it further.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use brooklet::{
    Brooklet, Consumer, ConsumerOptions, OnHandlerError, Position, Record, TopicConfig,
    TopicPartition,
};

use crate::common::{CliError, CliResult, Out, counted, has_magic, io_error};
use crate::group::description_lines;
use crate::json::record_line;

const ORDERS: &str = "orders";
const PAYMENTS: &str = "payments";
const ORDER_COUNT: u64 = 3000;
const PAYMENT_COUNT: u64 = 1000;
const BATCH_RECORDS: u64 = 100;
const CUSTOMERS: u64 = 50;
const GROUP: &str = "demo";
/// Longer than the 200 ms after which a member's poll brings its assignment up to date.
const SETTLE: Duration = Duration::from_millis(300);
/// `run` returns after this long without a record; the member then checks the group's lag.
const IDLE: Duration = Duration::from_millis(300);

pub fn run(file: Option<PathBuf>) -> CliResult {
    let path = prepare(file)?;
    let mut out = Out::new();
    let shown = path.display().to_string();
    let db = Brooklet::open(&path)
        .map_err(|e| CliError::failure(format!("{shown}: {}", crate::common::describe(&e))))?;
    out.line(&format!("brooklet demo: created {shown}"))?;
    db.admin().create_topic(ORDERS, 3, TopicConfig::default())?;
    db.admin()
        .create_topic(PAYMENTS, 2, TopicConfig::default())?;
    out.line(&format!(
        "created topics {ORDERS} (3 partitions) and {PAYMENTS} (2 partitions)"
    ))?;

    let syncs_before = db.sync_count();
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
        db.sync_count() - syncs_before,
        elapsed.as_millis()
    ))?;
    out.line("keyed records go to partition murmur2(key) % partitions, as in Kafka:")?;
    for topic in [ORDERS, PAYMENTS] {
        let d = db.admin().describe_topic(topic)?;
        let spread: Vec<String> = d
            .partitions
            .iter()
            .map(|p| format!("{topic}-{}: {}", p.partition, p.end_offset))
            .collect();
        out.line(&format!("  {}", spread.join(", ")))?;
    }

    consume(&db, &mut out)?;

    let report = db.admin().check()?;
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

/// A two-member consumer group on two threads: both members join, split the five
/// partitions, handle their share with `run` (which commits after each batch) until the
/// group has no lag, and leave. Checks that every record was handled (at-least-once: counts
/// distinct offsets) and shows the group as `group describe` does.
fn consume(db: &Brooklet, out: &mut Out) -> CliResult {
    out.line(&format!(
        "consumer group {GROUP}: two members on two threads subscribe to {ORDERS} and \
         {PAYMENTS} and split their five partitions:"
    ))?;
    let options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        ..ConsumerOptions::default()
    };
    let members = (0..2)
        .map(|_| db.consumer(GROUP, &[ORDERS, PAYMENTS], options.clone()))
        .collect::<brooklet::Result<Vec<Consumer>>>()?;
    let seen: Mutex<BTreeSet<(String, u32, u64)>> = Mutex::new(BTreeSet::new());
    let started = Instant::now();
    let results: Vec<CliResult<Share>> = std::thread::scope(|scope| {
        let handles: Vec<_> = members
            .into_iter()
            .map(|consumer| {
                let seen = &seen;
                scope.spawn(move || handle_share(db, consumer, seen))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("member thread does not panic"))
            .collect()
    });
    let elapsed = started.elapsed();
    let shares = results.into_iter().collect::<CliResult<Vec<Share>>>()?;
    let deliveries = print_shares(out, &shares)?;
    let distinct = seen.lock().expect("no thread panicked").len() as u64;
    let expected = ORDER_COUNT + PAYMENT_COUNT;
    out.line(&format!(
        "  together: {distinct} of {expected} records, in {deliveries} deliveries ({} handled \
         twice), committed after each batch, in {} ms",
        deliveries - distinct,
        elapsed.as_millis()
    ))?;
    if distinct != expected {
        return Err(CliError::failure(format!(
            "the group handled {distinct} distinct records, expected {expected}"
        )));
    }
    out.line(&format!(
        "  the group, as `brooklet group describe FILE {GROUP}` shows it while both members \
         are still in:"
    ))?;
    print_group(db, out, &shares)?;
    for share in shares {
        share.consumer.close()?;
    }
    out.line(
        "  both members left the group (close); its committed offsets stay in the file, and \
         a new member continues from them",
    )?;
    Ok(())
}

/// One line per member: what it handled, from which partitions. Returns the deliveries.
fn print_shares(out: &mut Out, shares: &[Share]) -> CliResult<u64> {
    let mut deliveries = 0;
    for (member, share) in shares.iter().enumerate() {
        deliveries += share.handled;
        let parts: Vec<String> = share
            .per_partition
            .iter()
            .map(|((t, p), n)| format!("{t}-{p} ({n})"))
            .collect();
        out.line(&format!(
            "  member-{}: handled {} from {}",
            member + 1,
            counted(share.handled, "record"),
            if parts.is_empty() {
                "no partition".to_owned()
            } else {
                parts.join(", ")
            }
        ))?;
    }
    Ok(deliveries)
}

/// The group as `group describe` shows it, and which member is which member id.
fn print_group(db: &Brooklet, out: &mut Out, shares: &[Share]) -> CliResult {
    let description = db.admin().describe_group(GROUP)?;
    let unstable = crate::group::unstable_offsets(db, &description)?;
    for line in description_lines(&description, &unstable) {
        out.line(&format!("    {line}"))?;
    }
    let labels: Vec<String> = shares
        .iter()
        .enumerate()
        .filter_map(|(i, share)| {
            let owner = description
                .partitions
                .iter()
                .find(|p| {
                    share
                        .owned
                        .contains(&TopicPartition::new(p.topic.clone(), p.partition))
                })?
                .owner
                .clone()?;
            Some(format!("member-{} is {owner}", i + 1))
        })
        .collect();
    if !labels.is_empty() {
        out.line(&format!("    ({})", labels.join(", ")))?;
    }
    Ok(())
}

/// What one member did.
struct Share {
    consumer: Consumer,
    handled: u64,
    per_partition: BTreeMap<(String, u32), u64>,
    owned: Vec<TopicPartition>,
}

/// One member's work: waits for the group to settle, then handles records with `run` until
/// the group has no lag. Returns the member still in the group, so it can be shown.
fn handle_share(
    db: &Brooklet,
    mut consumer: Consumer,
    seen: &Mutex<BTreeSet<(String, u32, u64)>>,
) -> CliResult<Share> {
    // A member brings its view of the assignment up to date at its first poll after
    // SETTLE; by then both have joined, so neither reads partitions the other will own.
    std::thread::sleep(SETTLE);
    let mut handled = 0;
    let mut per_partition: BTreeMap<(String, u32), u64> = BTreeMap::new();
    loop {
        handled += consumer
            .run(Some(IDLE), OnHandlerError::Stop, |r| {
                *per_partition
                    .entry((r.topic.clone(), r.partition))
                    .or_default() += 1;
                seen.lock().expect("no thread panicked").insert((
                    r.topic.clone(),
                    r.partition,
                    r.record.offset,
                ));
                Ok::<(), Infallible>(())
            })
            .map_err(|e| CliError::failure(e.to_string()))?;
        let lag: u64 = db
            .admin()
            .describe_group(GROUP)?
            .partitions
            .iter()
            .map(|p| p.lag)
            .sum();
        if lag == 0 {
            break;
        }
    }
    let owned = consumer.assignment();
    Ok(Share {
        consumer,
        handled,
        per_partition,
        owned,
    })
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
        format!("{prefix} group describe {file} {GROUP}"),
        format!("{prefix} group reset {file} {GROUP} --to earliest --topic {ORDERS}"),
        format!("{prefix} consume {file} {ORDERS} --group {GROUP} --max 5"),
        format!("{prefix} consume {file} {ORDERS} --group {GROUP} --follow   # in two terminals"),
        format!("{prefix} info {file}"),
        format!("{prefix} check {file}"),
        format!("{prefix} export {file} {ORDERS} --format kafka-segment --out /tmp/brooklet-kafka"),
        format!("{prefix} --help"),
    ] {
        out.line(&format!("  {command}"))?;
    }
    Ok(())
}
