//! `brooklet consume`: prints records of a topic, up to the end offsets of the start, or
//! following new records.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use brooklet::{ConsumedRecord, OffsetReset, PartitionInfo, StartAt};

use crate::args::{ConsumeArgs, ConsumeFormat};
use crate::common::{Access, CliError, CliResult, Out, note, open, progress};
use crate::json::record_line;

/// How long one poll waits while following without an idle timeout.
const FOLLOW_POLL: Duration = Duration::from_secs(1);
/// How long a poll waits when reading up to fixed end offsets: records are there, or gone.
const BOUNDED_POLL: Duration = Duration::from_millis(100);
/// Ranges at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_RECORDS_MIN: u64 = 100_000;

pub fn run(args: &ConsumeArgs) -> CliResult {
    if args.group.is_some() {
        return Err(CliError::not_supported("--group needs consumer groups"));
    }
    let db = open(&args.file, Access::Read)?;
    let mut reader = db.reader().with_reset(OffsetReset::Earliest);
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

/// Assigns the partitions to read at their start positions. Without --follow, returns
/// each partition's stop (its end offset at the start) and the records up to the stops.
fn assign(
    db: &brooklet::Brooklet,
    reader: &mut brooklet::Reader,
    args: &ConsumeArgs,
) -> CliResult<(BTreeMap<u32, u64>, u64)> {
    let description = db.describe_topic(&args.topic)?;
    let partitions: Vec<PartitionInfo> = match args.partition {
        None => description.partitions,
        Some(p) => {
            let count = description.partitions.len();
            let found = description.partitions.into_iter().nth(p as usize);
            vec![found.ok_or_else(|| {
                CliError::failure(format!(
                    "topic {:?} has {count} partitions; partition {p} does not exist",
                    args.topic
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
        if position >= p.end_offset {
            reader.unassign(&args.topic, p.partition);
        } else {
            total += p.end_offset - position;
            stops.insert(p.partition, p.end_offset);
        }
    }
    Ok((stops, total))
}

/// The start position in one partition, per the flags.
fn start_for(args: &ConsumeArgs, p: &PartitionInfo) -> StartAt {
    if args.from_beginning {
        StartAt::Beginning
    } else if let Some(offset) = args.offset {
        let clamped = offset.clamp(p.beginning_offset, p.end_offset);
        if clamped != offset {
            note(&format!(
                "note: partition {} holds offsets {}..{}; reading from {clamped}",
                p.partition, p.beginning_offset, p.end_offset
            ));
        }
        StartAt::Offset(clamped)
    } else if let Some(time) = args.since {
        StartAt::Timestamp(time)
    } else if args.follow {
        StartAt::End
    } else {
        StartAt::Beginning
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
