//! The `group` commands: list, describe, reset and delete consumer groups.

use std::collections::BTreeSet;
use std::path::Path;

use brooklet::{Assignor, GroupDescription, Position};
use serde_json::{Value, json};

use crate::args::GroupCommand;
use crate::common::{Access, CliError, CliResult, Out, note, open};

pub fn run(command: GroupCommand) -> CliResult {
    match command {
        GroupCommand::List { file, json } => list(&file, json),
        GroupCommand::Describe { file, group, json } => describe(&file, &group, json),
        GroupCommand::Reset {
            file,
            group,
            to,
            topic,
        } => reset(&file, &group, to, topic.as_deref()),
        GroupCommand::Delete { file, group } => {
            let db = open(&file, Access::Write)?;
            db.admin().delete_group(&group)?;
            note(&format!("deleted group {group}"));
            Ok(())
        }
    }
}

fn list(file: &Path, as_json: bool) -> CliResult {
    let db = open(file, Access::Read)?;
    let names = db.admin().groups()?;
    let mut out = Out::new();
    if !as_json {
        for name in &names {
            out.line(name)?;
        }
        return out.flush();
    }
    let mut items = Vec::with_capacity(names.len());
    for name in &names {
        let d = db.admin().describe_group(name)?;
        let topics: BTreeSet<&str> = d.partitions.iter().map(|p| p.topic.as_str()).collect();
        items.push(json!({
            "group": d.group,
            "members": d.members.len(),
            "live_members": d.members.iter().filter(|m| m.live).count(),
            "topics": topics,
            "lag": d.partitions.iter().map(|p| p.lag).sum::<u64>(),
        }));
    }
    out.line(&Value::Array(items).to_string())?;
    out.flush()
}

fn describe(file: &Path, group: &str, as_json: bool) -> CliResult {
    let db = open(file, Access::Read)?;
    let description = db.admin().describe_group(group)?;
    let mut out = Out::new();
    if as_json {
        out.line(&description_json(&description).to_string())?;
    } else {
        for line in description_lines(&description) {
            out.line(&line)?;
        }
    }
    out.flush()
}

pub fn assignor_name(assignor: Assignor) -> String {
    match assignor {
        Assignor::Range => "range".to_owned(),
        Assignor::RoundRobin => "roundrobin".to_owned(),
        Assignor::Sticky => "sticky".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    }
}

pub fn description_json(d: &GroupDescription) -> Value {
    let members: Vec<Value> = d
        .members
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "pid": m.pid,
                "topics": m.topics,
                "heartbeat_ms": m.heartbeat_ms,
                "live": m.live,
            })
        })
        .collect();
    let partitions: Vec<Value> = d
        .partitions
        .iter()
        .map(|p| {
            json!({
                "topic": p.topic,
                "partition": p.partition,
                "committed": p.committed,
                "end": p.end,
                "lag": p.lag,
                "owner": p.owner,
            })
        })
        .collect();
    json!({
        "group": d.group,
        "generation": d.generation,
        "assignor": assignor_name(d.assignor),
        "members": members,
        "partitions": partitions,
    })
}

/// The text form of `group describe`: a summary line, the members, and a table of
/// partitions with aligned columns.
pub fn description_lines(d: &GroupDescription) -> Vec<String> {
    let live = d.members.iter().filter(|m| m.live).count();
    let mut lines = vec![format!(
        "Group: {}\tGeneration: {}\tAssignor: {}\tMembers: {} ({live} live)",
        d.group,
        d.generation,
        assignor_name(d.assignor),
        d.members.len()
    )];
    for m in &d.members {
        lines.push(format!(
            "\tMember: {}\tPid: {}\tLive: {}\tTopics: {}",
            m.id,
            m.pid,
            if m.live { "yes" } else { "no" },
            m.topics.join(",")
        ));
    }
    let dash = || "-".to_owned();
    let mut rows = vec![[
        "TOPIC".to_owned(),
        "PARTITION".to_owned(),
        "COMMITTED".to_owned(),
        "END".to_owned(),
        "LAG".to_owned(),
        "OWNER".to_owned(),
    ]];
    for p in &d.partitions {
        rows.push([
            p.topic.clone(),
            p.partition.to_string(),
            p.committed.map_or_else(dash, |c| c.to_string()),
            p.end.to_string(),
            p.lag.to_string(),
            p.owner.clone().unwrap_or_else(dash),
        ]);
    }
    if d.partitions.is_empty() {
        lines.push(
            "no partitions: no member subscribes to a topic and no offsets are committed"
                .to_owned(),
        );
        return lines;
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        lines.push(cells.join("  ").trim_end().to_owned());
    }
    lines
}

fn reset(file: &Path, group: &str, to: Position, topic: Option<&str>) -> CliResult {
    let db = open(file, Access::Write)?;
    let offsets = db.admin().reset_group_offsets(group, to, topic)?;
    if offsets.is_empty() {
        return Err(CliError::failure(format!(
            "group {group:?} has no committed offsets to reset; name a topic with --topic"
        )));
    }
    let mut out = Out::new();
    for (tp, offset) in &offsets {
        out.line(&format!("{} {} {offset}", tp.topic, tp.partition))?;
    }
    out.flush()?;
    let count = offsets.len();
    let plural = if count == 1 { "" } else { "s" };
    note(&format!("reset group {group}: {count} partition{plural}"));
    Ok(())
}
