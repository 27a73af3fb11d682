//! `brooklet consume`: prints records of a topic, up to the end offsets of the start, or
//! following new records; with `--group`, as a member of a consumer group.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use brooklet::{
    Brooklet, ConsumedRecord, Consumer, ConsumerOptions, Isolation, PartitionInfo, Position,
};

use crate::args::{ConsumeArgs, ConsumeFormat};
use crate::common::{Access, CliError, CliResult, Out, counted, note, open, progress};
use crate::json::record_line;

/// How long one poll waits while following without an idle timeout.
const FOLLOW_POLL: Duration = Duration::from_secs(1);
/// How long a poll waits when reading up to fixed end offsets: records are there, or gone.
const BOUNDED_POLL: Duration = Duration::from_millis(100);
/// Ranges at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_RECORDS_MIN: u64 = 100_000;
/// A group member without --follow that is done with its partitions still waits this long
/// for partitions other members are handing over (they release them within about 200 ms),
/// unless it owns every partition of the topic.
const SETTLE: Duration = Duration::from_millis(500);
/// The longest heartbeat interval of a group member (a third of the session timeout if
/// that is shorter).
const HEARTBEAT_MAX: Duration = Duration::from_secs(1);

pub fn run(args: &ConsumeArgs) -> CliResult {
    if let Some(group) = &args.group {
        return run_group(args, group);
    }
    let db = open(&args.file, Access::Read)?;
    let mut reader = db
        .reader()
        .with_reset(Some(Position::Beginning))
        .with_isolation(args.isolation.isolation());
    let (stops, total) = assign(&db, &mut reader, args)?;
    let bar = progress(
        args.max.map_or(total, |m| m.min(total)),
        PROGRESS_RECORDS_MIN,
        "consuming",
    );
    let mut printer = Printer {
        out: Out::new(),
        format: args.format,
        separator: args.key_separator.as_deref().map(str::as_bytes),
    };
    let idle_timeout = args.timeout_ms.map(Duration::from_millis);
    let mut count: u64 = 0;
    let mut last_record = Instant::now();
    loop {
        if args.max.is_some_and(|m| count >= m) || reader.positions().is_empty() {
            break;
        }
        let idle = last_record.elapsed();
        let wait = match idle_timeout {
            Some(t) if idle >= t => break,
            Some(t) => t.saturating_sub(idle),
            None => FOLLOW_POLL,
        };
        let wait = if args.follow {
            wait
        } else {
            wait.min(BOUNDED_POLL)
        };
        let records = reader.poll(wait)?;
        if records.is_empty() && !args.follow {
            // Every partition with records below its stop would have returned some; the
            // rest are gone (deleted under us).
            break;
        }
        let mut round: u64 = 0;
        for record in &records {
            if args.max.is_some_and(|m| count >= m) {
                break;
            }
            if stops
                .get(&record.partition)
                .is_some_and(|stop| record.record.offset >= *stop)
            {
                continue;
            }
            printer.print(record)?;
            count += 1;
            round += 1;
        }
        for (&partition, &stop) in &stops {
            if reader
                .position(&args.topic, partition)
                .is_some_and(|pos| pos >= stop)
            {
                reader.unassign(&args.topic, partition);
            }
        }
        if round > 0 {
            last_record = Instant::now();
            bar.inc(round);
        }
        printer.out.flush()?;
    }
    bar.finish_and_clear();
    printer.out.flush()
}

/// Where a read without --follow stops in a partition: its end offset, or under
/// read-committed its last stable offset (a transaction still open holds such a reader
/// before its first record, so it could never reach the end).
fn stop_for(p: &PartitionInfo, isolation: Isolation) -> u64 {
    match isolation {
        Isolation::ReadUncommitted => p.end_offset,
        Isolation::ReadCommitted => p.last_stable_offset,
    }
}

/// Assigns the partitions to read at their start positions. Without --follow, returns
/// each partition's stop (see [`stop_for`]) and the records up to the stops.
fn assign(
    db: &brooklet::Brooklet,
    reader: &mut brooklet::Reader,
    args: &ConsumeArgs,
) -> CliResult<(BTreeMap<u32, u64>, u64)> {
    let description = db.admin().describe_topic(&args.topic)?;
    let partitions: Vec<PartitionInfo> = match args.partition {
        None => description.partitions,
        Some(p) => {
            let count = description.partitions.len();
            let found = description.partitions.into_iter().nth(p as usize);
            vec![found.ok_or_else(|| {
                CliError::failure(format!(
                    "topic {:?} has {}; partition {p} does not exist",
                    args.topic,
                    counted(count as u64, "partition")
                ))
            })?]
        }
    };
    let mut stops = BTreeMap::new();
    let mut total: u64 = 0;
    for p in &partitions {
        reader.assign(&args.topic, p.partition, start_for(args, p))?;
        if args.follow {
            continue;
        }
        let position = reader
            .position(&args.topic, p.partition)
            .expect("just assigned");
        let stop = stop_for(p, args.isolation.isolation());
        if position >= stop {
            reader.unassign(&args.topic, p.partition);
        } else {
            total += stop - position;
            stops.insert(p.partition, stop);
        }
    }
    Ok((stops, total))
}

/// The start position in one partition, per the flags.
fn start_for(args: &ConsumeArgs, p: &PartitionInfo) -> Position {
    if args.from_beginning {
        Position::Beginning
    } else if let Some(offset) = args.offset {
        let clamped = offset.clamp(p.beginning_offset, p.end_offset);
        if clamped != offset {
            note(&format!(
                "note: partition {} holds offsets {}..{}; reading from {clamped}",
                p.partition, p.beginning_offset, p.end_offset
            ));
        }
        Position::Offset(clamped)
    } else if let Some(time) = args.since {
        Position::Timestamp(time)
    } else if args.follow {
        Position::End
    } else {
        Position::Beginning
    }
}

/// `consume --group G`: a member of consumer group G subscribed to the topic.
fn run_group(args: &ConsumeArgs, group: &str) -> CliResult {
    if args.partition.is_some() {
        return Err(CliError::usage(
            "--partition cannot be used with --group: a group member reads the partitions \
             the group assigns it",
        ));
    }
    if args.offset.is_some() || args.since.is_some() {
        return Err(CliError::usage(format!(
            "--{} cannot be used with --group: a member starts at the group's committed \
             offsets; move them with `brooklet group reset`",
            if args.offset.is_some() {
                "offset"
            } else {
                "since"
            }
        )));
    }
    let db = open(&args.file, Access::Write)?;
    let description = db.admin().describe_topic(&args.topic)?;
    let partitions = description.partitions.len();
    let nonempty: BTreeSet<u32> = description
        .partitions
        .iter()
        .filter(|p| p.end_offset > p.beginning_offset)
        .map(|p| p.partition)
        .collect();
    let stops: BTreeMap<u32, u64> = if args.follow {
        BTreeMap::new()
    } else {
        description
            .partitions
            .iter()
            .map(|p| (p.partition, stop_for(p, args.isolation.isolation())))
            .collect()
    };
    let session = Duration::from_millis(args.session_timeout_ms);
    let options = ConsumerOptions {
        auto_offset_reset: if args.from_beginning {
            Some(Position::Beginning)
        } else {
            Some(Position::End)
        },
        auto_commit_interval: None,
        session_timeout: session,
        heartbeat_interval: (session / 3).min(HEARTBEAT_MAX),
        isolation: args.isolation.isolation(),
        ..ConsumerOptions::default()
    };
    let mut consumer = db.consumer(group, &[args.topic.as_str()], options)?;
    let mut member = Member {
        db: &db,
        consumer: &mut consumer,
        args,
        group,
        stops: &stops,
        partitions,
        printer: Printer {
            out: Out::new(),
            format: args.format,
            separator: args.key_separator.as_deref().map(str::as_bytes),
        },
        known: BTreeSet::new(),
        nonempty,
    };
    let result = member.consume();
    // Leave the group in any case, so the partitions move to the other members at once.
    let closed = consumer.close();
    result?;
    Ok(closed?)
}

/// A group member at work.
struct Member<'a> {
    db: &'a Brooklet,
    consumer: &'a mut Consumer,
    args: &'a ConsumeArgs,
    group: &'a str,
    /// Without --follow: each partition's end offset when the command started.
    stops: &'a BTreeMap<u32, u64>,
    /// The topic's partition count.
    partitions: usize,
    printer: Printer<'a>,
    /// Partitions owned at some point, to note where the group had no committed offset.
    known: BTreeSet<u32>,
    /// Partitions that held records when the command started.
    nonempty: BTreeSet<u32>,
}

impl Member<'_> {
    /// Polls, prints, flushes and commits until done; then commits every owned position.
    fn consume(&mut self) -> CliResult {
        let args = self.args;
        let idle_timeout = args.timeout_ms.map(Duration::from_millis);
        let mut count: u64 = 0;
        let mut last_record = Instant::now();
        let mut owned = Vec::new();
        let mut owned_since = Instant::now();
        self.note_new_partitions()?;
        loop {
            if args.max.is_some_and(|m| count >= m) {
                break;
            }
            if !args.follow {
                let now_owned = self.consumer.assignment();
                if now_owned != owned {
                    owned = now_owned;
                    owned_since = Instant::now();
                }
                if self.reached_stops()?
                    && (owned.len() == self.partitions || owned_since.elapsed() >= SETTLE)
                {
                    break;
                }
            }
            let idle = last_record.elapsed();
            let wait = match idle_timeout {
                Some(t) if idle >= t => break,
                Some(t) => t.saturating_sub(idle),
                None => FOLLOW_POLL,
            };
            // Short polls, so a deleted topic is noticed within a second.
            let wait = wait.min(if args.follow {
                FOLLOW_POLL
            } else {
                BOUNDED_POLL
            });
            let records = self.consumer.poll(wait)?;
            if records.is_empty() {
                // The group drops a deleted topic's partitions quietly; the command ends
                // with an error naming the topic instead of idling on.
                self.db.admin().describe_topic(&args.topic)?;
            }
            self.note_new_partitions()?;
            // Print what is due; note the first record of each partition not printed
            // (past its stop, or past --max), so the commit does not pass it.
            let mut unprinted: BTreeMap<u32, u64> = BTreeMap::new();
            let mut round: u64 = 0;
            for record in &records {
                let past_stop = self
                    .stops
                    .get(&record.partition)
                    .is_some_and(|stop| record.record.offset >= *stop);
                if past_stop || args.max.is_some_and(|m| count >= m) {
                    unprinted
                        .entry(record.partition)
                        .or_insert(record.record.offset);
                    continue;
                }
                self.printer.print(record)?;
                count += 1;
                round += 1;
            }
            // At-least-once: the records are out before their offsets are committed.
            self.printer.out.flush()?;
            for (partition, offset) in unprinted {
                self.consumer
                    .seek(&args.topic, partition, Position::Offset(offset))?;
            }
            if !records.is_empty() {
                self.consumer.commit()?;
            }
            if round > 0 {
                last_record = Instant::now();
            }
        }
        // Also commits start positions taken from the reset policy, so the next run of the
        // group continues from here.
        Ok(self.consumer.commit()?)
    }

    /// Without --follow: pauses owned partitions whose position reached their stop, and
    /// tells whether all did.
    fn reached_stops(&mut self) -> CliResult<bool> {
        let topic = self.args.topic.as_str();
        let mut finished = Vec::new();
        let mut reading = Vec::new();
        for tp in self.consumer.assignment() {
            let position = self.consumer.position(topic, tp.partition);
            let stop = self.stops.get(&tp.partition).copied().unwrap_or(0);
            if position.is_some_and(|p| p >= stop) {
                finished.push(tp);
            } else {
                reading.push(tp);
            }
        }
        // Both calls mean "every partition" when given none.
        if !finished.is_empty() {
            self.consumer.pause(&finished)?;
        }
        if !reading.is_empty() {
            self.consumer.resume(&reading);
        }
        Ok(reading.is_empty())
    }

    /// Without --follow or --from-beginning, says on stderr where a newly owned partition
    /// with records had no committed offset and so started at the end.
    fn note_new_partitions(&mut self) -> CliResult {
        if self.args.follow || self.args.from_beginning {
            return Ok(());
        }
        let topic = self.args.topic.as_str();
        let mut at_end = Vec::new();
        for partition in self
            .consumer
            .assignment()
            .into_iter()
            .map(|tp| tp.partition)
        {
            if self.known.insert(partition)
                && self.nonempty.contains(&partition)
                && self.consumer.committed(topic, partition)?.is_none()
            {
                at_end.push(partition.to_string());
            }
        }
        if !at_end.is_empty() {
            note(&format!(
                "note: group {} has no committed offset for {topic} partition {}; started at \
                 the end (--from-beginning starts such partitions at the first offset)",
                self.group,
                at_end.join(", ")
            ));
        }
        Ok(())
    }
}

struct Printer<'a> {
    out: Out,
    format: ConsumeFormat,
    separator: Option<&'a [u8]>,
}

impl Printer<'_> {
    fn print(&mut self, consumed: &ConsumedRecord) -> CliResult {
        let record = &consumed.record;
        match self.format {
            ConsumeFormat::Json => {
                self.out
                    .line(&record_line(&consumed.topic, consumed.partition, record))
            }
            ConsumeFormat::Text => {
                if let Some(sep) = self.separator {
                    self.out.write(record.key.as_deref().unwrap_or(b"null"))?;
                    self.out.write(sep)?;
                }
                self.out.write(record.value.as_deref().unwrap_or(b"null"))?;
                self.out.write(b"\n")
            }
        }
    }
}
