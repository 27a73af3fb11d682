//! `brooklet export` and `brooklet import`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use brooklet::{Brooklet, Error, FetchLimits, PartitionInfo};

use crate::args::{ExportArgs, ExportFormat, ImportArgs};
use crate::common::{
    Access, CliError, CliResult, counted, io_error, note, open, progress, spinner, stdout_error,
};
use crate::json::{parse_record, record_line};
use crate::output::Outputs;
use crate::produce::{Lines, Sink, durability};
use crate::segments;
use crate::txnindex;

/// Exports of at least this many records get a progress bar (on a terminal).
const PROGRESS_RECORDS_MIN: u64 = 100_000;

pub fn export(args: &ExportArgs) -> CliResult {
    if args.format == ExportFormat::KafkaSegment && args.out.is_none() {
        return Err(CliError::usage(
            "--format kafka-segment needs --out DIR (the directory to write segments into)",
        ));
    }
    // Refused before the file is even opened: an export never writes over its input.
    let mut outputs = Outputs::new(&args.file);
    if let Some(out) = &args.out {
        outputs.refuse_database(out)?;
    }
    let db = open(&args.file, Access::Read)?;
    let description = db.admin().describe_topic(&args.topic)?;
    match args.format {
        ExportFormat::Jsonl => {
            export_jsonl(
                &db,
                &args.topic,
                &description.partitions,
                args,
                &mut outputs,
            )?;
        }
        ExportFormat::KafkaSegment => {
            let dir = args.out.as_deref().expect("checked above");
            export_segments(&db, &args.topic, &description.partitions, dir, &mut outputs)?;
        }
    }
    outputs.commit()
}

/// Where export writes: stdout or a file, with errors in words.
struct Target<'a> {
    writer: io::BufWriter<Box<dyn Write + 'a>>,
    path: Option<&'a Path>,
}

impl Target<'_> {
    fn error(&self, err: &io::Error) -> CliError {
        match self.path {
            None => stdout_error(err),
            Some(path) => io_error(path, err),
        }
    }

    fn line(&mut self, text: &str) -> CliResult {
        let result = self
            .writer
            .write_all(text.as_bytes())
            .and_then(|()| self.writer.write_all(b"\n"));
        result.map_err(|e| self.error(&e))
    }

    fn finish(mut self) -> CliResult {
        let result = self.writer.flush();
        result.map_err(|e| self.error(&e))
    }
}

fn export_jsonl(
    db: &Brooklet,
    topic: &str,
    partitions: &[PartitionInfo],
    args: &ExportArgs,
    outputs: &mut Outputs,
) -> CliResult {
    let writer: Box<dyn Write + '_> = match &args.out {
        None => Box::new(io::stdout().lock()),
        Some(path) => Box::new(outputs.create(path)?),
    };
    let mut target = Target {
        writer: io::BufWriter::with_capacity(1 << 16, writer),
        path: args.out.as_deref(),
    };
    let total: u64 = partitions
        .iter()
        .map(|p| p.end_offset - p.beginning_offset)
        .sum();
    let bar = progress(total, PROGRESS_RECORDS_MIN, "exporting");
    let mut count: u64 = 0;
    for p in partitions {
        // Up to the end offset at the start, as `consume` without --follow.
        let mut position = p.beginning_offset;
        while position < p.end_offset {
            let fetched = match db.fetch(topic, p.partition, position, FetchLimits::default()) {
                Ok(fetched) => fetched,
                Err(Error::OffsetOutOfRange { beginning, .. }) if beginning > position => {
                    position = beginning;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for record in fetched.records.iter().filter(|r| r.offset < p.end_offset) {
                target.line(&record_line(topic, p.partition, record))?;
                count += 1;
            }
            bar.inc(fetched.records.len() as u64);
            if fetched.next_offset <= position {
                break;
            }
            position = fetched.next_offset;
        }
    }
    target.finish()?;
    bar.finish_and_clear();
    let to = args
        .out
        .as_ref()
        .map_or_else(|| "stdout".to_owned(), |p| p.display().to_string());
    note(&format!(
        "exported {} of {topic} to {to}",
        counted(count, "record")
    ));
    Ok(())
}

/// The path of the segment file of `partition` starting at `base_offset`.
fn segment_path(dir: &Path, topic: &str, partition: u32, base_offset: u64) -> PathBuf {
    dir.join(format!("{topic}-{partition}"))
        .join(format!("{base_offset:020}.log"))
}

/// One partition's part of a kafka-segment export: its segments, and the aborted
/// transactions of each segment's `.txnindex`.
struct PartitionPlan<'a> {
    partition: &'a PartitionInfo,
    segments: Vec<segments::SegmentRef>,
    aborted: BTreeMap<u64, Vec<brooklet::AbortedTransaction>>,
}

/// What a kafka-segment export writes, with every path checked against the brooklet file
/// before any is written.
fn plan_segments<'a>(
    db: &Brooklet,
    topic: &str,
    partitions: &'a [PartitionInfo],
    dir: &Path,
    outputs: &Outputs,
) -> CliResult<Vec<PartitionPlan<'a>>> {
    let mut plan = Vec::new();
    for p in partitions {
        let list = segments::list(db, topic, p.partition)?;
        // Kafka keeps an empty active segment named after the next offset.
        let bases: Vec<u64> = if list.is_empty() {
            vec![p.end_offset]
        } else {
            list.iter().map(|s| s.base_offset).collect()
        };
        for &base in &bases {
            outputs.refuse_database(&segment_path(dir, topic, p.partition, base))?;
        }
        let aborted = db.admin().aborted_transactions(topic, p.partition)?;
        let aborted = txnindex::by_segment(&aborted, &bases);
        for &base in aborted.keys() {
            outputs.refuse_database(&txnindex::path(dir, topic, p.partition, base))?;
        }
        plan.push(PartitionPlan {
            partition: p,
            segments: list,
            aborted,
        });
    }
    Ok(plan)
}

fn export_segments(
    db: &Brooklet,
    topic: &str,
    partitions: &[PartitionInfo],
    dir: &Path,
    outputs: &mut Outputs,
) -> CliResult {
    let plan = plan_segments(db, topic, partitions, dir, outputs)?;
    let bar = progress(
        partitions.iter().map(|p| p.bytes).sum(),
        64 << 20,
        "exporting",
    );
    let (mut files, mut indexes, mut bytes_total) = (0u64, 0u64, 0u64);
    for PartitionPlan {
        partition: p,
        segments: list,
        aborted,
    } in &plan
    {
        outputs.create_dir_all(&dir.join(format!("{topic}-{}", p.partition)))?;
        if list.is_empty() {
            outputs.create(&segment_path(dir, topic, p.partition, p.end_offset))?;
            files += 1;
        }
        let mut stable = txnindex::StableOffsets::default();
        for seg in list {
            let bytes = segments::read_verified(db, topic, p.partition, seg)?;
            stable.scan(&bytes);
            write_file(
                outputs,
                &segment_path(dir, topic, p.partition, seg.base_offset),
                &bytes,
            )?;
            files += 1;
            bytes_total += bytes.len() as u64;
            bar.inc(bytes.len() as u64);
            if let Some(entries) = aborted.get(&seg.base_offset) {
                let path = txnindex::path(dir, topic, p.partition, seg.base_offset);
                write_file(outputs, &path, &stable.encode(entries))?;
                indexes += 1;
            }
        }
    }
    bar.finish_and_clear();
    let indexes = if indexes == 0 {
        String::new()
    } else {
        format!(" and {}", counted(indexes, "transaction index"))
    };
    note(&format!(
        "exported {} of {topic} as {} ({}){indexes} under {}",
        counted(partitions.len() as u64, "partition"),
        counted(files, "segment file"),
        counted(bytes_total, "byte"),
        dir.display()
    ));
    Ok(())
}

/// Writes one output file whole.
fn write_file(outputs: &mut Outputs, path: &Path, bytes: &[u8]) -> CliResult {
    outputs
        .create(path)?
        .write_all(bytes)
        .map_err(|e| io_error(path, &e))
}

pub fn import(args: &ImportArgs) -> CliResult {
    let db = open(&args.file, Access::Write)?;
    let partitions = db.admin().describe_topic(&args.topic)?.partitions.len();
    let input: Box<dyn io::Read + Send> = match &args.input {
        None => Box::new(io::stdin()),
        Some(path) => Box::new(File::open(path).map_err(|e| io_error(path, &e))?),
    };
    let mut lines = Lines::spawn(input, args.commit.batch);
    let mut sink = Sink::new(&db, &args.topic, durability(args.commit.durability));
    let spin = spinner("importing");
    let result = loop {
        let (line_first, batch) = match lines.next_batch() {
            Ok(Some(batch)) => batch,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let outcome = import_batch(&mut sink, &batch, line_first, partitions);
        spin.set_message(format!("importing: {}", counted(sink.records, "record")));
        if let Err(e) = outcome {
            break Err(e);
        }
    };
    spin.finish_and_clear();
    note(&sink.summary("imported", "into"));
    result
}

/// Parses a batch of lines and commits them in one commit, each record to the partition its
/// line names (or to the partitioner's choice); stops at the first bad line after
/// committing the lines before it.
fn import_batch(
    sink: &mut Sink<'_>,
    batch: &[Vec<u8>],
    line_first: u64,
    partitions: usize,
) -> CliResult {
    let mut records: Vec<(Option<u32>, brooklet::Record)> = Vec::with_capacity(batch.len());
    let mut numbers: Vec<u64> = Vec::with_capacity(batch.len());
    for (line, bytes) in (line_first..).zip(batch) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = parse_record(bytes).and_then(|parsed| match parsed.partition {
            Some(p) if p as usize >= partitions => Err(format!(
                "partition {p} does not exist (the topic has {}); remove the \
                 \"partition\" field to let keys choose",
                counted(partitions as u64, "partition")
            )),
            _ => Ok(parsed),
        });
        match parsed {
            Ok(parsed) => {
                records.push((parsed.partition, parsed.record));
                numbers.push(line);
            }
            Err(problem) => {
                sink.commit(records, &numbers)?;
                return Err(CliError::failure(format!("line {line}: {problem}")));
            }
        }
    }
    sink.commit(records, &numbers)
}
