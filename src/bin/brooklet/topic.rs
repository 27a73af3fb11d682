//! `init` and the `topic` commands.

use std::fmt::Write as _;
use std::path::Path;

use brooklet::{Brooklet, Error, Options, TopicConfig};
use serde_json::{Value, json};

use crate::args::TopicCommand;
use crate::common::{Access, CliError, CliResult, Out, has_magic, io_error, note, open};

/// `brooklet init FILE`: creates a new file. Refuses an existing non-empty file; a file
/// that already is brooklet's is reported (exit 1) and left alone.
pub fn init(path: &Path, page_size: u32) -> CliResult {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(CliError::failure(format!("{shown} is a directory")));
        }
        Ok(meta) if meta.len() > 0 => {
            if !has_magic(path)? {
                return Err(CliError::failure(format!(
                    "{shown} exists and is not a brooklet file; refusing to overwrite it"
                )));
            }
            let db = open(path, Access::Read)?;
            return Err(CliError::failure(format!(
                "{shown} is already a brooklet file (page size {}); nothing changed",
                db.page_size()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(path, &e)),
    }
    let db = Brooklet::open_with(path, Options::default().page_size(page_size))
        .map_err(|e| CliError::failure(format!("{shown}: {}", crate::common::describe(&e))))?;
    note(&format!("created {shown} (page size {})", db.page_size()));
    Ok(())
}

pub fn run(command: TopicCommand) -> CliResult {
    match command {
        TopicCommand::Create {
            file,
            topic,
            partitions,
            configs,
        } => create(&file, &topic, partitions, &configs.pairs()),
        TopicCommand::List { file, json } => list(&file, json),
        TopicCommand::Describe { file, topic, json } => describe(&file, &topic, json),
        TopicCommand::Delete { file, topic } => {
            let db = open(&file, Access::Write)?;
            db.admin().delete_topic(&topic)?;
            note(&format!("deleted topic {topic}"));
            Ok(())
        }
        TopicCommand::DeleteRecords {
            file,
            topic,
            partition,
            before,
        } => delete_records(&file, &topic, partition, before),
        TopicCommand::Alter {
            file,
            topic,
            configs,
        } => {
            let pairs = configs.pairs();
            if pairs.is_empty() {
                return Err(CliError::usage(
                    "name at least one config to change: --retention-ms, --retention-bytes, \
                     --cleanup or --config K=V",
                ));
            }
            alter(&file, &topic, &pairs)
        }
    }
}

/// Validates configs before the file is opened, so a bad value is a usage error.
fn build_config(pairs: &[(String, String)]) -> CliResult<TopicConfig> {
    TopicConfig::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| CliError::usage(crate::common::describe(&e)))
}

fn create(file: &Path, topic: &str, partitions: u32, pairs: &[(String, String)]) -> CliResult {
    brooklet::validate_topic_name(topic)
        .map_err(|e| CliError::usage(crate::common::describe(&e)))?;
    let config = build_config(pairs)?;
    let db = open(file, Access::Write)?;
    db.admin().create_topic(topic, partitions, config)?;
    let plural = if partitions == 1 { "" } else { "s" };
    note(&format!(
        "created topic {topic} with {partitions} partition{plural}"
    ));
    Ok(())
}

fn alter(file: &Path, topic: &str, pairs: &[(String, String)]) -> CliResult {
    build_config(pairs)?;
    let db = open(file, Access::Write)?;
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let config = db.admin().alter_topic_config(topic, &borrowed)?;
    let mut out = Out::new();
    for (key, value) in config.to_pairs() {
        out.line(&format!("{key}={value}"))?;
    }
    out.flush()?;
    note(&format!("altered topic {topic}"));
    Ok(())
}

/// `topic create --help`: examples, then every config key with the values it allows, as the
/// library's validator states them.
pub fn topic_create_help() -> String {
    let mut help = String::from(
        "\
Examples:
  brooklet topic create events.brooklet orders --partitions 3
  brooklet topic create events.brooklet audit --retention-ms 604800000 --retention-bytes 1073741824
  brooklet topic create events.brooklet users --cleanup compact --config segment.bytes=1048576

Configs use Kafka's names. The values each allows:
",
    );
    for key in TopicConfig::KEYS {
        let allowed = TopicConfig::allowed_values(key).expect("a known key");
        let _ = writeln!(help, "  {key:<27}{allowed}");
    }
    let _ = write!(
        help,
        "
segment.bytes is at least {} (64 KiB, the size a partition's first segment starts at).
The dedicated flags override the same key given with --config; a key given twice with
--config is refused. Invalid configs are usage errors (exit 2), found before the file is
opened, so the file is unchanged.",
        TopicConfig::SEGMENT_BYTES_MIN
    );
    help
}

/// Where `topic delete-records` moves a partition's beginning offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Before {
    /// This offset.
    Offset(u64),
    /// The partition's end offset: every record goes.
    End,
}

pub fn parse_before(text: &str) -> Result<Before, String> {
    if text == "end" {
        return Ok(Before::End);
    }
    text.parse::<u64>()
        .map(Before::Offset)
        .map_err(|_| format!("expected an offset (a non-negative integer) or `end`, got {text:?}"))
}

/// `topic delete-records`: moves a partition's beginning offset up to `before`; an offset
/// past the end or an unknown partition is bad input (exit 2).
fn delete_records(file: &Path, topic: &str, partition: u32, before: Before) -> CliResult {
    let db = open(file, Access::Write)?;
    let offset = match before {
        Before::Offset(offset) => offset,
        Before::End => db.end_offset(topic, partition).map_err(bad_input)?,
    };
    let beginning = db
        .admin()
        .delete_records(topic, partition, offset)
        .map_err(bad_input)?;
    let mut out = Out::new();
    out.line(&format!("{topic} {partition} {beginning}"))?;
    out.flush()
}

/// An error that names bad input (an offset out of range, an unknown partition) as a
/// usage error; others as failures.
fn bad_input(err: Error) -> CliError {
    match err {
        Error::OffsetOutOfRange { .. } | Error::UnknownPartition { .. } => {
            CliError::usage(crate::common::describe(&err))
        }
        other => other.into(),
    }
}

/// A topic config as a JSON object of strings, under Kafka's names.
pub fn config_json(config: &TopicConfig) -> Value {
    Value::Object(
        config
            .to_pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect(),
    )
}

fn list(file: &Path, as_json: bool) -> CliResult {
    let db = open(file, Access::Read)?;
    let topics = db.admin().topics()?;
    let mut out = Out::new();
    if as_json {
        let items: Vec<Value> = topics
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "partitions": t.partitions,
                    "config": config_json(&t.config),
                })
            })
            .collect();
        out.line(&Value::Array(items).to_string())?;
    } else {
        for t in &topics {
            out.line(&t.name)?;
        }
    }
    out.flush()
}

fn describe(file: &Path, topic: &str, as_json: bool) -> CliResult {
    let db = open(file, Access::Read)?;
    let description = db.admin().describe_topic(topic)?;
    let mut out = Out::new();
    if as_json {
        let partitions = crate::inspect::partitions_json(&description);
        let value = json!({
            "name": description.name,
            "config": config_json(&description.config),
            "partitions": partitions,
        });
        out.line(&value.to_string())?;
        return out.flush();
    }
    out.line(&format!(
        "Topic: {}\tPartitions: {}",
        description.name,
        description.partitions.len()
    ))?;
    out.line(&format!("Config: {}", description.config))?;
    for p in &description.partitions {
        // The last stable offset only where an open transaction holds it below the end.
        let lso = if p.last_stable_offset == p.end_offset {
            String::new()
        } else {
            format!("\tLSO: {}", p.last_stable_offset)
        };
        out.line(&format!(
            "\tPartition: {}\tOffsets: {}..{}\tBytes: {}\tSegments: {}{lso}",
            p.partition, p.beginning_offset, p.end_offset, p.bytes, p.segments
        ))?;
    }
    out.flush()
}
