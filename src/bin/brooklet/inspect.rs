//! `brooklet check` and `brooklet info`.

use std::path::Path;

use brooklet::{CheckReport, FileStats, PartitionInfo};
use brooklet::{RecoveryReport, TopicDescription};
use serde_json::{Value, json};

use crate::common::{
    Access, CliError, CliResult, EXIT_ROLLED_BACK, Out, counted, describe_rollback, human_bytes,
    open_quiet, spinner,
};
use crate::dump::read_headers;
use crate::time::format_time;
use crate::topic::config_json;

fn run_check(db: &brooklet::Brooklet) -> CliResult<CheckReport> {
    // The check is one library call without progress reports: a spinner says it is busy.
    let spin = spinner("checking every page");
    let report = db.admin().check();
    spin.finish_and_clear();
    Ok(report?)
}

fn kinds_json(report: &CheckReport) -> Value {
    Value::Object(
        report
            .pages_by_kind
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect(),
    )
}

/// The rolled-back commits of a report, as JSON.
fn rolled_back_json(report: &RecoveryReport) -> Value {
    report
        .rolled_back
        .iter()
        .map(|c| {
            json!({
                "txn": c.txn,
                "durable": c.durable,
                "slot": c.slot,
                "written_at": format_time(i64::try_from(c.written_at_ms).unwrap_or(i64::MAX)),
                "written_at_ms": c.written_at_ms,
                "verified": c.verified,
                "reason": c.reason,
            })
        })
        .collect()
}

/// `brooklet check FILE`: exit 0 when clean, 1 with the problems listed on stdout, 3 when
/// the file is clean but opening it rolled back a commit (its records are lost).
///
/// The file is opened read-only and the check reads one pinned snapshot: it writes
/// nothing, takes no lock, and is right while other processes write.
pub fn check(file: &Path, as_json: bool) -> CliResult {
    let db = open_quiet(file, Access::Read)?;
    let report = run_check(&db)?;
    let mut out = Out::new();
    if as_json {
        out.line(&check_json(&report).to_string())?;
    } else {
        print_check(&mut out, &report)?;
    }
    out.flush()?;
    check_outcome(file, &report)
}

/// What `check` found, in three words: `problems`, `rolled_back` or `clean`.
fn check_status(report: &CheckReport) -> &'static str {
    if !report.is_clean() {
        "problems"
    } else if !report.recovery.is_clean() {
        "rolled_back"
    } else {
        "clean"
    }
}

/// `check --json`: one object.
fn check_json(report: &CheckReport) -> Value {
    let problems: Vec<Value> = report
        .problems
        .iter()
        .map(|p| json!({"page": p.page.map(brooklet::PageId::get), "message": p.message}))
        .collect();
    json!({
        "clean": report.is_clean(),
        "status": check_status(report),
        "page_size": report.page_size,
        "page_count": report.page_count,
        "txn": report.txn,
        "pages_by_kind": kinds_json(report),
        "tree_count": report.tree_count,
        "entry_count": report.entry_count,
        "problems": problems,
        "rolled_back": rolled_back_json(&report.recovery),
        "recovery_notes": report.recovery.lines(),
    })
}

/// `check` in words: a summary line when clean, then every problem, rollback and note.
fn print_check(out: &mut Out, report: &CheckReport) -> CliResult {
    if report.is_clean() {
        out.line(&format!(
            "ok: {}, {}, {}, last commit {}",
            counted(u64::from(report.page_count), "page"),
            counted(report.tree_count, "tree"),
            counted(report.entry_count, "entry"),
            report.txn
        ))?;
    }
    for problem in &report.problems {
        out.line(&format!("problem: {problem}"))?;
    }
    for commit in &report.recovery.rolled_back {
        out.line(&format!("rolled back: {}", describe_rollback(commit)))?;
    }
    for note in &report.recovery.notes {
        out.line(&format!("note: {note}"))?;
    }
    Ok(())
}

/// The exit status of `check`: 1 with problems, 3 (with a warning) after a rollback.
fn check_outcome(file: &Path, report: &CheckReport) -> CliResult {
    let recovery = &report.recovery;
    if !report.is_clean() {
        let count = report.problems.len();
        let plural = if count == 1 { "" } else { "s" };
        return Err(CliError::failure(format!(
            "{}: {count} problem{plural} found",
            file.display()
        )));
    }
    if let Some(newest) = recovery.rolled_back.first() {
        let kind = newest.kind();
        eprintln!(
            "brooklet: warning: {} is healthy after rolling back commit {} ({kind}); the records \
             of the {} commit{} rolled back are lost and their offsets will go to new records",
            file.display(),
            newest.txn,
            recovery.rolled_back.len(),
            if recovery.rolled_back.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        return Err(CliError::exit(EXIT_ROLLED_BACK));
    }
    Ok(())
}

/// What `info` shows.
struct Info {
    format_version: Option<u32>,
    file_bytes: u64,
    report: CheckReport,
    /// The file's part of the handle's stats, read after the check.
    file: FileStats,
    topics: Vec<TopicDescription>,
}

/// `brooklet info FILE`.
pub fn info(file: &Path, as_json: bool) -> CliResult {
    let db = open_quiet(file, Access::Read)?;
    let headers = read_headers(file)?;
    let file_bytes = std::fs::metadata(file)
        .map_err(|e| crate::common::io_error(file, &e))?
        .len();
    let report = run_check(&db)?;
    let file_stats = db.stats().file;
    let mut topics = Vec::new();
    for topic in db.admin().topics()? {
        topics.push(db.admin().describe_topic(&topic.name)?);
    }
    let info = Info {
        format_version: headers.iter().flatten().map(|h| h.version).max(),
        file_bytes,
        report,
        file: file_stats,
        topics,
    };
    let mut out = Out::new();
    if as_json {
        out.line(&info_json(file, &info).to_string())?;
    } else {
        info_text(&mut out, file, &info)?;
    }
    out.flush()
}

pub fn partitions_json(topic: &TopicDescription) -> Vec<Value> {
    topic
        .partitions
        .iter()
        .map(|p| {
            json!({
                "partition": p.partition,
                "beginning_offset": p.beginning_offset,
                "end_offset": p.end_offset,
                "last_stable_offset": p.last_stable_offset,
                "bytes": p.bytes,
                "segments": p.segments,
            })
        })
        .collect()
}

fn info_json(file: &Path, info: &Info) -> Value {
    let topics: Vec<Value> = info
        .topics
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "bytes": t.partitions.iter().map(|p| p.bytes).sum::<u64>(),
                "config": config_json(&t.config),
                "partitions": partitions_json(t),
            })
        })
        .collect();
    let report = &info.report;
    json!({
        "file": file.display().to_string(),
        "format_version": info.format_version,
        "page_size": report.page_size,
        "file_bytes": info.file_bytes,
        "page_count": report.page_count,
        "txn": report.txn,
        "pages_by_kind": kinds_json(report),
        "free_pages": report.free_pages(),
        "file_stats": file_stats_json(&info.file),
        "problems": report.problems.len(),
        "rolled_back": rolled_back_json(&report.recovery),
        "recovery_notes": report.recovery.lines(),
        "topics": topics,
    })
}

/// The file's part of `Brooklet::stats`, by the names it gives them.
fn file_stats_json(file: &FileStats) -> Value {
    Value::Object(
        file.fields()
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect(),
    )
}

fn info_text(out: &mut Out, file: &Path, info: &Info) -> CliResult {
    let report = &info.report;
    let version = info
        .format_version
        .map_or_else(|| "unknown".to_owned(), |v| v.to_string());
    let kinds: Vec<String> = report
        .pages_by_kind
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    out.line(&format!("file:            {}", file.display()))?;
    out.line(&format!("format version:  {version}"))?;
    out.line(&format!("page size:       {}", report.page_size))?;
    out.line(&format!(
        "file size:       {} ({} bytes)",
        human_bytes(info.file_bytes),
        info.file_bytes
    ))?;
    out.line(&format!(
        "pages:           {} ({})",
        report.page_count,
        kinds.join(", ")
    ))?;
    out.line(&format!(
        "free pages:      {} (in {})",
        report.free_pages(),
        counted(info.file.free_extents, "run")
    ))?;
    out.line(&format!("last commit:     {}", report.txn))?;
    out.line(&format!(
        "not yet durable: {}",
        counted(info.file.commits_since_durable, "commit")
    ))?;
    out.line(&format!(
        "held in slot:    {} of record batches, {} of tree entries",
        counted(info.file.pending_data_bytes, "byte"),
        counted(info.file.pending_entry_bytes, "byte")
    ))?;
    for commit in &report.recovery.rolled_back {
        out.line(&format!("rolled back:     {}", describe_rollback(commit)))?;
    }
    if !report.is_clean() {
        out.line(&format!(
            "problems:        {} (run `brooklet check {}`)",
            report.problems.len(),
            file.display()
        ))?;
    }
    out.line(&format!("topics:          {}", info.topics.len()))?;
    for t in &info.topics {
        let bytes: u64 = t.partitions.iter().map(|p| p.bytes).sum();
        let span: u64 = t
            .partitions
            .iter()
            .map(|p| p.end_offset - p.beginning_offset)
            .sum();
        out.line(&format!(
            "  {}: {}, {}, {}",
            t.name,
            counted(t.partitions.len() as u64, "partition"),
            counted(span, "offset"),
            human_bytes(bytes)
        ))?;
        for p in &t.partitions {
            out.line(&partition_line(p))?;
        }
    }
    Ok(())
}

/// One partition in `info`'s words; its last stable offset only where an open transaction
/// holds it below the end.
fn partition_line(p: &PartitionInfo) -> String {
    let lso = if p.last_stable_offset == p.end_offset {
        String::new()
    } else {
        format!(", last stable offset {}", p.last_stable_offset)
    };
    format!(
        "    partition {}: offsets {}..{}, {}, {}{lso}",
        p.partition,
        p.beginning_offset,
        p.end_offset,
        counted(p.bytes, "byte"),
        counted(u64::from(p.segments), "segment")
    )
}
