//! `brooklet vacuum`.

use std::path::Path;

use brooklet::{VacuumOptions, VacuumReport};
use indicatif::ProgressBar;
use serde_json::json;

use crate::common::{Access, CliResult, Out, counted, human_bytes, note, open, progress};

/// Vacuums moving at least this many pages get a progress bar (on a terminal).
const PROGRESS_PAGES_MIN: u64 = 4096;

/// `brooklet vacuum FILE`: summary on stderr, the report as JSON on stdout with `--json`.
pub fn run(file: &Path, as_json: bool) -> CliResult {
    let db = open(file, Access::Write)?;
    let mut bar: Option<ProgressBar> = None;
    let result = db.admin().vacuum_with(VacuumOptions::default(), |step| {
        let bar = bar.get_or_insert_with(|| {
            progress(step.pages_to_move, PROGRESS_PAGES_MIN, "moving pages")
        });
        bar.set_length(step.pages_to_move);
        bar.set_position(step.pages_moved);
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = result?;
    note(&summary(file, &report));
    if as_json {
        let mut out = Out::new();
        out.line(&report_json(&report).to_string())?;
        out.flush()?;
    }
    Ok(())
}

/// The one-line summary: the file size before and after, and what moved.
fn summary(file: &Path, report: &VacuumReport) -> String {
    format!(
        "vacuumed {}: {} -> {} ({} returned, {} moved)",
        file.display(),
        human_bytes(report.bytes_before),
        human_bytes(report.bytes_after),
        counted(report.pages_returned, "page"),
        counted(report.pages_moved, "page")
    )
}

fn report_json(report: &VacuumReport) -> serde_json::Value {
    json!({
        "bytes_before": report.bytes_before,
        "bytes_after": report.bytes_after,
        "pages_moved": report.pages_moved,
        "pages_returned": report.pages_returned,
        "pages_trimmed": report.pages_trimmed,
        "commits": report.commits,
    })
}
