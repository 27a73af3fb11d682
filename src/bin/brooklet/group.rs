//! The `group` commands: list, describe, reset and delete consumer groups.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use brooklet::{Assignor, Brooklet, Error, GroupDescription, MemberKind, Position};
use serde_json::{Value, json};

use crate::args::GroupCommand;
use crate::common::{Access, CliError, CliResult, Out, aligned, note, open};

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
    let unstable = unstable_offsets(&db, &description)?;
    let mut out = Out::new();
    if as_json {
        out.line(&description_json(&description, &unstable).to_string())?;
    } else {
        for line in description_lines(&description, &unstable) {
            out.line(&line)?;
        }
    }
    out.flush()
}

/// How `group describe` names a member's protocol: the file's own consumers are
/// `embedded`, Kafka clients through `brooklet serve` are `kafka`.
pub fn kind_name(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Kafka => "kafka",
        _ => "embedded",
    }
}

pub fn assignor_name(assignor: Assignor) -> String {
    match assignor {
        Assignor::Range => "range".to_owned(),
        Assignor::RoundRobin => "roundrobin".to_owned(),
        Assignor::Sticky => "sticky".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    }
}

pub fn description_json(d: &GroupDescription, unstable: &Unstable) -> Value {
    let members: Vec<Value> = d
        .members
        .iter()
        .map(|m| {
            let partitions: Vec<Value> = m
                .partitions
                .iter()
                .map(|tp| json!({"topic": tp.topic, "partition": tp.partition}))
                .collect();
            json!({
                "id": m.id,
                "pid": m.pid,
                "topics": m.topics,
                "heartbeat_ms": m.heartbeat_ms,
                "live": m.live,
                "protocol": kind_name(m.kind),
                "client_id": m.client_id,
                "client_host": m.client_host,
                "partitions": partitions,
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
                "last_stable_offset": unstable
                    .get(&(p.topic.clone(), p.partition))
                    .copied()
                    .unwrap_or(p.end),
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

/// Last stable offsets below the end, by (topic, partition).
pub type Unstable = BTreeMap<(String, u32), u64>;

/// The text form of `group describe`: a summary line, the members, and a table of
/// partitions with aligned columns (an LSO column when `unstable` holds any).
pub fn description_lines(d: &GroupDescription, unstable: &Unstable) -> Vec<String> {
    let live = d.members.iter().filter(|m| m.live).count();
    let mut lines = vec![format!(
        "Group: {}\tGeneration: {}\tAssignor: {}\tMembers: {} ({live} live)",
        d.group,
        d.generation,
        assignor_name(d.assignor),
        d.members.len()
    )];
    for m in &d.members {
        let client = m.client_id.as_ref().map_or_else(String::new, |client_id| {
            format!(
                "\tClient: {client_id}\tHost: {}",
                m.client_host.as_deref().unwrap_or("")
            )
        });
        lines.push(format!(
            "\tMember: {}\tPid: {}\tLive: {}\tTopics: {}\tProtocol: {}{client}",
            m.id,
            m.pid,
            if m.live { "yes" } else { "no" },
            m.topics.join(","),
            kind_name(m.kind)
        ));
    }
    if d.partitions.is_empty() {
        lines.push(
            "no partitions: no member subscribes to a topic and no offsets are committed"
                .to_owned(),
        );
        return lines;
    }
    let dash = || "-".to_owned();
    let mut header = ["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "OWNER"]
        .map(str::to_owned)
        .to_vec();
    // The last stable offset only where an open transaction holds it below the end, in a
    // last column, so the columns before it stay where scripts expect them.
    if !unstable.is_empty() {
        header.push("LSO".to_owned());
    }
    let mut rows = vec![header];
    for p in &d.partitions {
        let mut row = vec![
            p.topic.clone(),
            p.partition.to_string(),
            p.committed.map_or_else(dash, |c| c.to_string()),
            p.end.to_string(),
            p.lag.to_string(),
            p.owner.clone().unwrap_or_else(dash),
        ];
        if !unstable.is_empty() {
            let lso = unstable.get(&(p.topic.clone(), p.partition));
            row.push(lso.map_or_else(dash, u64::to_string));
        }
        rows.push(row);
    }
    lines.extend(aligned(&rows));
    lines
}

/// The last stable offset of each of the group's partitions where it differs from the end
/// offset (a transaction is open there). Partitions of topics deleted meanwhile are left
/// out.
pub fn unstable_offsets(db: &Brooklet, d: &GroupDescription) -> CliResult<Unstable> {
    let mut out = Unstable::new();
    for p in &d.partitions {
        match db.last_stable_offset(&p.topic, p.partition) {
            Ok(lso) if lso != p.end => {
                out.insert((p.topic.clone(), p.partition), lso);
            }
            Ok(_) | Err(Error::UnknownTopic(_) | Error::UnknownPartition { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
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
