//! `brooklet compact FILE [TOPIC]`: compacts topics whose `cleanup.policy` includes
//! `compact`, keeping each key's latest record.

use std::path::Path;

use brooklet::{Brooklet, CleanupPolicy, CompactionReport};
use serde_json::json;

use crate::common::{Access, CliError, CliResult, Out, counted, note, open, progress};

/// Shows a progress bar from this many partitions on.
const PROGRESS_PARTITIONS: u64 = 2;

/// `brooklet compact FILE [TOPIC] [--json]`.
pub fn run(file: &Path, topic: Option<&str>, as_json: bool) -> CliResult {
    let db = open(file, Access::Write)?;
    let topics = topics_to_compact(&db, file, topic)?;
    let total: u64 = topics.iter().map(|(_, p)| u64::from(*p)).sum();
    let bar = progress(total, PROGRESS_PARTITIONS, "compacting");
    let mut rows = Vec::new();
    let mut sum = CompactionReport::default();
    for (name, partitions) in &topics {
        let mut report = CompactionReport::default();
        for partition in 0..*partitions {
            report += db.admin().compact_partition(name, partition)?;
            bar.inc(1);
        }
        sum += report;
        rows.push((name.clone(), report));
    }
    bar.finish_and_clear();
    if as_json {
        print_json(&rows, &sum)?;
    }
    if topics.is_empty() {
        note("no topic has cleanup.policy=compact; nothing to compact");
    } else {
        note(&format!(
            "compacted {} of {}: removed {}; {} rewritten, {} -> {}",
            counted(sum.partitions, "partition"),
            counted(topics.len() as u64, "topic"),
            counted(sum.records_removed, "record"),
            counted(sum.segments_rewritten, "segment"),
            sum.bytes_before,
            counted(sum.bytes_after, "byte")
        ));
    }
    Ok(())
}

/// The topics to compact with their partition counts: the one named (which must have
/// compaction in its cleanup.policy), or every topic that has it.
fn topics_to_compact(
    db: &Brooklet,
    file: &Path,
    topic: Option<&str>,
) -> CliResult<Vec<(String, u32)>> {
    Ok(match topic {
        Some(name) => {
            let description = db.admin().describe_topic(name)?;
            if description.config.cleanup_policy == CleanupPolicy::Delete {
                return Err(CliError::failure(format!(
                    "topic {name} has cleanup.policy=delete; compaction applies to topics \
                         with cleanup.policy=compact or compact,delete (change it with \
                         `brooklet topic alter {} {name} --config cleanup.policy=compact`)",
                    file.display()
                )));
            }
            vec![(
                name.to_owned(),
                u32::try_from(description.partitions.len()).unwrap_or(0),
            )]
        }
        None => db
            .admin()
            .topics()?
            .into_iter()
            .filter(|t| t.config.cleanup_policy != CleanupPolicy::Delete)
            .map(|t| (t.name, t.partitions))
            .collect(),
    })
}

/// `compact --json`: per topic and in total.
fn print_json(rows: &[(String, CompactionReport)], sum: &CompactionReport) -> CliResult {
    let topics: Vec<_> = rows
        .iter()
        .map(|(name, r)| {
            json!({
                "topic": name,
                "partitions": r.partitions,
                "segments_rewritten": r.segments_rewritten,
                "records_removed": r.records_removed,
                "bytes_before": r.bytes_before,
                "bytes_after": r.bytes_after,
            })
        })
        .collect();
    let mut out = Out::new();
    out.line(
        &json!({
            "topics": topics,
            "records_removed": sum.records_removed,
            "segments_rewritten": sum.segments_rewritten,
            "bytes_before": sum.bytes_before,
            "bytes_after": sum.bytes_after,
        })
        .to_string(),
    )?;
    out.flush()?;
    Ok(())
}
