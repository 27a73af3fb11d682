//! The `transactions` commands: list and describe transactional ids, as Kafka's
//! `kafka-transactions.sh` does.

use std::path::Path;

use brooklet::TransactionInfo;
use serde_json::{Value, json};

use crate::args::TransactionsCommand;
use crate::common::{Access, CliResult, Out, aligned, open};
use crate::time::format_time;

pub fn run(command: TransactionsCommand) -> CliResult {
    match command {
        TransactionsCommand::List { file, json } => {
            let db = open(&file, Access::Read)?;
            let all = db.admin().transactions()?;
            print(&all, json)
        }
        TransactionsCommand::Describe {
            file,
            transactional_id,
            json,
        } => describe(&file, &transactional_id, json),
    }
}

fn describe(file: &Path, transactional_id: &str, as_json: bool) -> CliResult {
    let db = open(file, Access::Read)?;
    let info = db.admin().describe_transaction(transactional_id)?;
    if as_json {
        let mut out = Out::new();
        out.line(&info_json(&info).to_string())?;
        return out.flush();
    }
    print(std::slice::from_ref(&info), false)
}

/// A table of ids (nothing when there are none), or a JSON array (`list --json`).
fn print(all: &[TransactionInfo], as_json: bool) -> CliResult {
    let mut out = Out::new();
    if as_json {
        let items: Vec<Value> = all.iter().map(info_json).collect();
        out.line(&Value::Array(items).to_string())?;
        return out.flush();
    }
    if all.is_empty() {
        return out.flush();
    }
    let mut rows = vec![
        [
            "TRANSACTIONAL-ID",
            "PRODUCER-ID",
            "EPOCH",
            "STATE",
            "PARTITIONS",
            "STARTED",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for t in all {
        rows.push(vec![
            t.transactional_id.clone(),
            t.producer_id.to_string(),
            t.producer_epoch.to_string(),
            t.state.name().to_owned(),
            partitions_text(t),
            t.started_ms.map_or_else(|| "-".to_owned(), format_time),
        ]);
    }
    for line in aligned(&rows) {
        out.line(&line)?;
    }
    out.flush()
}

/// `topic-partition` pairs joined by commas, `-` for none.
fn partitions_text(t: &TransactionInfo) -> String {
    if t.partitions.is_empty() {
        return "-".to_owned();
    }
    t.partitions
        .iter()
        .map(|tp| format!("{}-{}", tp.topic, tp.partition))
        .collect::<Vec<_>>()
        .join(",")
}

fn info_json(t: &TransactionInfo) -> Value {
    let partitions: Vec<Value> = t
        .partitions
        .iter()
        .map(|tp| json!({"topic": tp.topic, "partition": tp.partition}))
        .collect();
    json!({
        "transactional_id": t.transactional_id,
        "producer_id": t.producer_id,
        "producer_epoch": t.producer_epoch,
        "state": t.state.name(),
        "partitions": partitions,
        "started_ms": t.started_ms,
        "started": t.started_ms.map(format_time),
        "updated_ms": t.updated_ms,
        "timeout_ms": t.timeout_ms,
    })
}
