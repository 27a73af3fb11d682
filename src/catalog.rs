//! L4, topics and their configs: names validated as Kafka validates them, configs under
//! Kafka's names, and the topic metadata stored in the `log.topics` tree.
//!
//! A topic is identified on disk by a numeric id (so per-partition keys stay short whatever
//! the name's length and the page size); the name lives in the metadata.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{CorruptionKind, Error, Result};
use crate::log::TimestampType;
use crate::page::{Cursor, put_u16, put_u32, put_u64};

/// The longest topic name Kafka accepts.
pub const TOPIC_NAME_MAX: usize = 249;
/// The most partitions a topic may have.
pub const PARTITIONS_MAX: u32 = 10_000;

/// Checks a topic name as Kafka does: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or
/// `..`.
pub fn validate_topic_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > TOPIC_NAME_MAX {
        return Err(Error::invalid(format!(
            "topic name must be 1 to {TOPIC_NAME_MAX} characters, got {}",
            name.len()
        )));
    }
    if name == "." || name == ".." {
        return Err(Error::invalid(format!("topic name cannot be {name:?}")));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Error::invalid(format!(
            "topic name {name:?} contains {c:?}; allowed are ASCII letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// What happens to old records of a topic (`cleanup.policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CleanupPolicy {
    /// Old segments are deleted by `retention.ms` and `retention.bytes`.
    #[default]
    Delete,
    /// Only the latest record per key is kept.
    Compact,
    /// Both: compaction, and deletion by the retention limits.
    CompactDelete,
}

impl std::fmt::Display for CleanupPolicy {
    /// Kafka's spelling: `delete`, `compact` or `compact,delete`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CleanupPolicy {
    fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Compact => "compact",
            Self::CompactDelete => "compact,delete",
        }
    }

    fn parse(value: &str) -> Result<Self> {
        let mut parts: Vec<&str> = value.split(',').map(str::trim).collect();
        parts.sort_unstable();
        parts.dedup();
        match parts.as_slice() {
            ["delete"] => Ok(Self::Delete),
            ["compact"] => Ok(Self::Compact),
            ["compact", "delete"] => Ok(Self::CompactDelete),
            _ => Err(Error::invalid(format!(
                "cleanup.policy must be delete, compact or compact,delete; got {value:?}"
            ))),
        }
    }
}

/// A topic's configuration, under Kafka's names. The defaults keep data forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicConfig {
    /// `retention.ms`: delete segments whose newest record is older. `None` (Kafka's -1,
    /// the default) keeps them forever.
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: per partition, delete the oldest segments beyond this size.
    /// `None` (-1, the default) means no limit.
    pub retention_bytes: Option<u64>,
    /// `cleanup.policy`: `delete` (default), `compact` or `compact,delete`.
    pub cleanup_policy: CleanupPolicy,
    /// `segment.bytes`: the size of a full segment, the unit retention deletes. Default 4 MiB.
    pub segment_bytes: u32,
    /// `min.compaction.lag.ms`: records younger than this are not compacted. Default 0.
    pub min_compaction_lag_ms: u64,
    /// `delete.retention.ms`: how long tombstones survive compaction. Default 1 day.
    pub delete_retention_ms: u64,
    /// `max.message.bytes`: the largest batch accepted. Default 1048588, as in Kafka.
    pub max_message_bytes: u32,
    /// `message.timestamp.type`: `CreateTime` (default) or `LogAppendTime`.
    pub timestamp_type: TimestampType,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            retention_ms: None,
            retention_bytes: None,
            cleanup_policy: CleanupPolicy::Delete,
            segment_bytes: 4 << 20,
            min_compaction_lag_ms: 0,
            delete_retention_ms: 86_400_000,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
        }
    }
}

/// Smallest `segment.bytes` accepted.
pub const SEGMENT_BYTES_MIN: u32 = 64 << 10;

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| {
        Error::invalid(format!(
            "{key} must be a non-negative integer, got {value:?}"
        ))
    })
}

fn parse_limit(key: &str, value: &str) -> Result<Option<u64>> {
    if value.trim() == "-1" {
        Ok(None)
    } else {
        parse_num(key, value).map(Some)
    }
}

impl TopicConfig {
    /// The config keys brooklet understands.
    pub const KEYS: [&'static str; 8] = [
        "retention.ms",
        "retention.bytes",
        "cleanup.policy",
        "segment.bytes",
        "min.compaction.lag.ms",
        "delete.retention.ms",
        "max.message.bytes",
        "message.timestamp.type",
    ];

    /// Sets one config by its Kafka name, validating the value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "retention.ms" => self.retention_ms = parse_limit(key, value)?,
            "retention.bytes" => self.retention_bytes = parse_limit(key, value)?,
            "cleanup.policy" => self.cleanup_policy = CleanupPolicy::parse(value)?,
            "segment.bytes" => {
                let bytes: u32 = parse_num(key, value)?;
                if bytes < SEGMENT_BYTES_MIN {
                    return Err(Error::invalid(format!(
                        "segment.bytes must be at least {SEGMENT_BYTES_MIN}, got {bytes}"
                    )));
                }
                self.segment_bytes = bytes;
            }
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = parse_num(key, value)?,
            "delete.retention.ms" => self.delete_retention_ms = parse_num(key, value)?,
            "max.message.bytes" => {
                let bytes: u32 = parse_num(key, value)?;
                let max = u32::try_from(crate::log::kafka::MAX_BATCH_SIZE).expect("fits");
                if !(64..=max).contains(&bytes) {
                    return Err(Error::invalid(format!(
                        "max.message.bytes must be 64 to {max}, got {bytes}"
                    )));
                }
                self.max_message_bytes = bytes;
            }
            "message.timestamp.type" => {
                self.timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => {
                        return Err(Error::invalid(format!(
                            "message.timestamp.type must be CreateTime or LogAppendTime, got {value:?}"
                        )));
                    }
                }
            }
            _ => {
                return Err(Error::invalid(format!(
                    "unknown topic config {key:?}; known: {}",
                    Self::KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Builds a config from `key=value` pairs over the defaults.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut config = Self::default();
        for (k, v) in pairs {
            config.set(k, v)?;
        }
        Ok(config)
    }

    /// Every config as `(Kafka name, value)`, in a stable order.
    #[must_use]
    pub fn to_pairs(&self) -> BTreeMap<&'static str, String> {
        let limit = |v: Option<u64>| v.map_or_else(|| "-1".to_owned(), |v| v.to_string());
        BTreeMap::from([
            ("retention.ms", limit(self.retention_ms)),
            ("retention.bytes", limit(self.retention_bytes)),
            ("cleanup.policy", self.cleanup_policy.as_str().to_owned()),
            ("segment.bytes", self.segment_bytes.to_string()),
            (
                "min.compaction.lag.ms",
                self.min_compaction_lag_ms.to_string(),
            ),
            ("delete.retention.ms", self.delete_retention_ms.to_string()),
            ("max.message.bytes", self.max_message_bytes.to_string()),
            (
                "message.timestamp.type",
                match self.timestamp_type {
                    TimestampType::CreateTime => "CreateTime",
                    TimestampType::LogAppendTime => "LogAppendTime",
                }
                .to_owned(),
            ),
        ])
    }
}

impl fmt::Display for TopicConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self
            .to_pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(f, "{}", pairs.join(" "))
    }
}

/// A topic as stored in the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TopicMeta {
    pub id: u32,
    pub name: String,
    pub partitions: u32,
    pub created_ms: u64,
    pub config: TopicConfig,
}

const TOPIC_META_VERSION: u8 = 1;

impl TopicMeta {
    /// `version u8, id u32, partitions u32, created_ms u64, name_len u16, name,
    /// config count u16, then (key_len u16, key, value_len u16, value)` per config.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![TOPIC_META_VERSION];
        put_u32(&mut out, self.id);
        put_u32(&mut out, self.partitions);
        put_u64(&mut out, self.created_ms);
        put_str(&mut out, &self.name);
        let pairs = self.config.to_pairs();
        put_u16(&mut out, u16::try_from(pairs.len()).expect("few configs"));
        for (k, v) in &pairs {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        out
    }

    /// Decodes metadata from `log.topics`. Every byte must belong to a field, and the
    /// name, partition count and configs must be ones `create` accepts.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = |why| Error::bad_value(crate::log::meta::TREE_TOPICS, why);
        Self::decode_fields(bytes).map_err(|e| match e {
            Error::Corrupt {
                kind: CorruptionKind::BadLength,
                ..
            } => bad("topic metadata is shorter than its fields"),
            other => other,
        })
    }

    fn decode_fields(bytes: &[u8]) -> Result<Self> {
        let bad = |why| Error::bad_value(crate::log::meta::TREE_TOPICS, why);
        let mut c = Cursor::new(bytes);
        if c.u8()? != TOPIC_META_VERSION {
            return Err(bad("unknown topic metadata version"));
        }
        let id = c.u32()?;
        let partitions = c.u32()?;
        let created_ms = c.u64()?;
        let name = get_str(&mut c)?;
        let count = c.u16()?;
        let mut config = TopicConfig::default();
        for _ in 0..count {
            let k = get_str(&mut c)?;
            let v = get_str(&mut c)?;
            config
                .set(&k, &v)
                .map_err(|_| bad("invalid topic config in catalog"))?;
        }
        if partitions == 0 || partitions > PARTITIONS_MAX || validate_topic_name(&name).is_err() {
            return Err(bad("invalid topic metadata"));
        }
        if c.remaining() != 0 {
            return Err(bad("topic metadata is longer than its fields"));
        }
        Ok(Self {
            id,
            name,
            partitions,
            created_ms,
            config,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u16(
        out,
        u16::try_from(s.len()).expect("catalog strings are short"),
    );
    out.extend_from_slice(s.as_bytes());
}

fn get_str(c: &mut Cursor<'_>) -> Result<String> {
    let len = c.u16()?;
    let bytes = c.take(usize::from(len))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::bad_value(crate::log::meta::TREE_TOPICS, "catalog string is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka() {
        for good in ["a", "orders", "my.topic_v2-x", &"x".repeat(249)] {
            assert!(validate_topic_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "has space", "slash/y", "é", &"x".repeat(250)] {
            let err = validate_topic_name(bad).expect_err(bad);
            assert!(err.to_string().contains("topic name"), "{err}");
        }
    }

    #[test]
    fn configs_parse_and_round_trip() {
        let mut config = TopicConfig::from_pairs([
            ("retention.ms", "60000"),
            ("retention.bytes", "-1"),
            ("cleanup.policy", "delete,compact"),
            ("message.timestamp.type", "LogAppendTime"),
        ])
        .expect("valid");
        assert_eq!(config.retention_ms, Some(60_000));
        assert_eq!(config.cleanup_policy, CleanupPolicy::CompactDelete);
        assert!(config.set("retention.ms", "soon").is_err());
        assert!(config.set("segment.bytes", "100").is_err());
        assert!(config.set("bogus", "1").is_err());
        let meta = TopicMeta {
            id: 7,
            name: "orders".to_owned(),
            partitions: 3,
            created_ms: 5,
            config,
        };
        assert_eq!(TopicMeta::decode(&meta.encode()).expect("decode"), meta);
        assert!(TopicMeta::decode(&meta.encode()[..10]).is_err());
        let mut longer = meta.encode();
        longer.push(0);
        assert!(TopicMeta::decode(&longer).is_err());
    }
}
