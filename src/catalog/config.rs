//! Topic names and configs: names validated as Kafka validates them, configs under Kafka's
//! names, checked by one validator wherever they come from (the API, the CLI, the file).

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};
use crate::kafka::{Compression, TimestampType};

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
    /// True if the policy includes compaction: only the latest record of each key is kept.
    #[must_use]
    pub fn compacts(self) -> bool {
        matches!(self, Self::Compact | Self::CompactDelete)
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Compact => "compact",
            Self::CompactDelete => "compact,delete",
        }
    }

    /// Kafka's list syntax: `delete`, `compact`, or both in either order, spaces around the
    /// items ignored. An empty item, an unknown one, or one named twice is refused.
    fn parse(value: &str) -> Option<Self> {
        let mut compact = false;
        let mut delete = false;
        for item in value.split(',').map(str::trim) {
            let seen = match item {
                "compact" => &mut compact,
                "delete" => &mut delete,
                _ => return None,
            };
            if *seen {
                return None;
            }
            *seen = true;
        }
        match (compact, delete) {
            (false, true) => Some(Self::Delete),
            (true, false) => Some(Self::Compact),
            (true, true) => Some(Self::CompactDelete),
            (false, false) => None,
        }
    }
}

/// How brooklet's producers compress the batches they write to a topic
/// (`compression.type`). Batches are stored as they were written whatever the topic's
/// setting; readers read every codec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompressionType {
    /// `producer` (the default): as the producer chose. brooklet's producers choose no
    /// compression.
    #[default]
    Producer,
    /// `uncompressed`.
    Uncompressed,
    /// `gzip`.
    Gzip,
    /// `snappy`.
    Snappy,
    /// `lz4`.
    Lz4,
    /// `zstd`.
    Zstd,
}

impl CompressionType {
    /// Kafka's name: `producer`, `uncompressed`, `gzip`, `snappy`, `lz4` or `zstd`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Producer => "producer",
            Self::Uncompressed => "uncompressed",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// The codec brooklet's producers write batches with.
    #[must_use]
    pub fn codec(self) -> Compression {
        match self {
            Self::Producer | Self::Uncompressed => Compression::None,
            Self::Gzip => Compression::Gzip,
            Self::Snappy => Compression::Snappy,
            Self::Lz4 => Compression::Lz4,
            Self::Zstd => Compression::Zstd,
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Some(match value.trim() {
            "producer" => Self::Producer,
            "uncompressed" => Self::Uncompressed,
            "gzip" => Self::Gzip,
            "snappy" => Self::Snappy,
            "lz4" => Self::Lz4,
            "zstd" => Self::Zstd,
            _ => return None,
        })
    }
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A topic's configuration, under Kafka's names. The defaults keep data forever.
///
/// One validator checks every way of making or changing a config: [`TopicConfig::set`],
/// [`TopicConfig::from_pairs`] and [`Admin::alter_topic_config`] check each value as
/// they parse it (a key given twice is refused too), and [`Admin::create_topic`] checks a
/// config built field by field with [`TopicConfig::validate`] before it writes anything.
/// The allowed values are Kafka's (`long` configs up to `i64::MAX`, `int` ones up to
/// `i32::MAX`), narrowed where brooklet needs it: `segment.bytes` is at least
/// [`TopicConfig::SEGMENT_BYTES_MIN`] (65536) and `max.message.bytes` 64 to 1048588.
/// [`TopicConfig::allowed_values`] says each key's rule in words.
///
/// [`Admin::alter_topic_config`]: crate::Admin::alter_topic_config
/// [`Admin::create_topic`]: crate::Admin::create_topic
#[derive(Clone, Debug, PartialEq)]
pub struct TopicConfig {
    /// `retention.ms`: delete segments whose newest record is older. `None` (Kafka's -1,
    /// the default) keeps them forever; otherwise 0 to `i64::MAX` milliseconds.
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: per partition, delete the oldest segments beyond this size.
    /// `None` (-1, the default) means no limit; otherwise 0 to `i64::MAX` bytes.
    pub retention_bytes: Option<u64>,
    /// `cleanup.policy`: `delete` (default), `compact` or `compact,delete` (written in
    /// either order; an item named twice is refused).
    pub cleanup_policy: CleanupPolicy,
    /// `segment.bytes`: the size of a full segment, the unit retention deletes. Default
    /// 4 MiB; [`TopicConfig::SEGMENT_BYTES_MIN`] (64 KiB) to
    /// [`TopicConfig::SEGMENT_BYTES_MAX`] (`i32::MAX`, as in Kafka).
    pub segment_bytes: u32,
    /// `min.compaction.lag.ms`: records younger than this are not compacted. Default 0;
    /// 0 to `i64::MAX`.
    pub min_compaction_lag_ms: u64,
    /// `min.cleanable.dirty.ratio`: produce commits compact a partition by themselves once
    /// more than this share of its cleanable bytes would be removed (Kafka's log cleaner
    /// threshold; see [`Admin::compact`]). Default 0.5; 0 to 1, where 1 never cleans by
    /// itself.
    ///
    /// [`Admin::compact`]: crate::Admin::compact
    pub min_cleanable_dirty_ratio: f64,
    /// `delete.retention.ms`: how long tombstones survive compaction. Default 1 day; 0 to
    /// `i64::MAX`.
    pub delete_retention_ms: u64,
    /// `max.message.bytes`: the largest batch accepted. Default 1048588, as in Kafka, which
    /// is also the most allowed ([`TopicConfig::MESSAGE_BYTES_MAX`]); at least
    /// [`TopicConfig::MESSAGE_BYTES_MIN`].
    pub max_message_bytes: u32,
    /// `message.timestamp.type`: `CreateTime` (default) or `LogAppendTime`.
    pub timestamp_type: TimestampType,
    /// `compression.type`: the codec brooklet's producers compress the records of each
    /// batch with: `producer` (default, meaning none for brooklet's producers),
    /// `uncompressed`, `gzip`, `snappy`, `lz4` or `zstd`. A batch that compression would
    /// not make smaller is written uncompressed.
    pub compression_type: CompressionType,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            retention_ms: None,
            retention_bytes: None,
            cleanup_policy: CleanupPolicy::Delete,
            segment_bytes: 4 << 20,
            min_compaction_lag_ms: 0,
            min_cleanable_dirty_ratio: 0.5,
            delete_retention_ms: 86_400_000,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            compression_type: CompressionType::Producer,
        }
    }
}

// A valid config's ratio is a number from 0 to 1, never NaN, so equality is reflexive.
impl Eq for TopicConfig {}

/// Smallest `segment.bytes` accepted (also [`TopicConfig::SEGMENT_BYTES_MIN`]).
pub const SEGMENT_BYTES_MIN: u32 = 64 << 10;

/// Largest time (ms) or size (bytes) in the configs of Kafka's type `long`.
const LONG_MAX: u64 = i64::MAX.cast_unsigned();

/// The one error for a value a key does not allow: names the key, the allowed values and
/// what was given, on one line.
fn invalid_value(key: &str, value: &str) -> Error {
    let allowed = TopicConfig::allowed_values(key).expect("a known key");
    Error::invalid(format!("{key} must be {allowed}; got {value:?}"))
}

/// Kafka's `long` syntax: an optional sign and decimal digits, spaces around them ignored.
fn parse_long(key: &str, value: &str) -> Result<i64> {
    value.trim().parse().map_err(|_| invalid_value(key, value))
}

/// A `long` that must not be negative.
fn parse_non_negative(key: &str, value: &str) -> Result<u64> {
    u64::try_from(parse_long(key, value)?).map_err(|_| invalid_value(key, value))
}

/// A `long` limit where -1 means none (and no other negative is allowed).
fn parse_limit(key: &str, value: &str) -> Result<Option<u64>> {
    match parse_long(key, value)? {
        -1 => Ok(None),
        v => u64::try_from(v)
            .map(Some)
            .map_err(|_| invalid_value(key, value)),
    }
}

/// An `int` that must not be negative.
fn parse_int(key: &str, value: &str) -> Result<u32> {
    u32::try_from(parse_long(key, value)?).map_err(|_| invalid_value(key, value))
}

impl TopicConfig {
    /// Smallest `segment.bytes` accepted: 64 KiB, the size a partition's first segment
    /// starts at.
    pub const SEGMENT_BYTES_MIN: u32 = SEGMENT_BYTES_MIN;
    /// Largest `segment.bytes` accepted: Kafka's, the largest `int`.
    pub const SEGMENT_BYTES_MAX: u32 = i32::MAX.cast_unsigned();
    /// Smallest `max.message.bytes` accepted.
    pub const MESSAGE_BYTES_MIN: u32 = 64;
    /// Largest `max.message.bytes` accepted: the largest batch brooklet writes (Kafka's
    /// default).
    pub const MESSAGE_BYTES_MAX: u32 = {
        assert!(crate::kafka::MAX_BATCH_SIZE <= i32::MAX as usize);
        crate::kafka::MAX_BATCH_SIZE as u32
    };

    /// The config keys brooklet understands.
    pub const KEYS: [&'static str; 10] = [
        "retention.ms",
        "retention.bytes",
        "cleanup.policy",
        "segment.bytes",
        "min.compaction.lag.ms",
        "min.cleanable.dirty.ratio",
        "delete.retention.ms",
        "max.message.bytes",
        "message.timestamp.type",
        "compression.type",
    ];

    /// The values `key` allows, in words (as error messages and `--help` say them), or
    /// `None` for a key brooklet does not know.
    #[must_use]
    pub fn allowed_values(key: &str) -> Option<String> {
        let long = "0 to 9223372036854775807";
        Some(match key {
            "retention.ms" => format!("-1 (keep forever) or {long} (milliseconds)"),
            "retention.bytes" => format!("-1 (no limit) or {long} (bytes per partition)"),
            "cleanup.policy" => {
                "delete, compact, or compact,delete (either order, each once)".into()
            }
            "segment.bytes" => format!(
                "{} to {} (bytes)",
                Self::SEGMENT_BYTES_MIN,
                Self::SEGMENT_BYTES_MAX
            ),
            "min.compaction.lag.ms" | "delete.retention.ms" => format!("{long} (milliseconds)"),
            "min.cleanable.dirty.ratio" => "a number from 0 to 1 (such as 0.5)".into(),
            "max.message.bytes" => format!(
                "{} to {} (bytes)",
                Self::MESSAGE_BYTES_MIN,
                Self::MESSAGE_BYTES_MAX
            ),
            "message.timestamp.type" => "CreateTime or LogAppendTime".into(),
            "compression.type" => "producer, uncompressed, gzip, snappy, lz4 or zstd".into(),
            _ => return None,
        })
    }

    /// Sets one config by its Kafka name. A value the key does not allow, or an unknown key,
    /// is refused with a message naming the key and its allowed values, and leaves the
    /// config unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let mut candidate = self.clone();
        candidate.assign(key, value)?;
        if !candidate.in_range(key) {
            return Err(invalid_value(key, value));
        }
        *self = candidate;
        Ok(())
    }

    /// Sets several configs at once, all or none: as [`TopicConfig::set`] each, and a key
    /// given twice is refused.
    pub fn set_pairs<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<()> {
        let mut candidate = self.clone();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            if seen.contains(&key) {
                return Err(Error::invalid(format!(
                    "topic config {key} is given twice; give each key once"
                )));
            }
            candidate.set(key, value)?;
            seen.push(key);
        }
        *self = candidate;
        Ok(())
    }

    /// Builds a config from `key=value` pairs over the defaults (see
    /// [`TopicConfig::set_pairs`]).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut config = Self::default();
        config.set_pairs(pairs)?;
        Ok(config)
    }

    /// Checks every field against the values its key allows, as [`TopicConfig::set`] would
    /// have: for a config built field by field.
    pub fn validate(&self) -> Result<()> {
        match Self::KEYS.into_iter().find(|key| !self.in_range(key)) {
            None => Ok(()),
            Some(key) => {
                let pairs = self.to_pairs();
                Err(invalid_value(key, &pairs[key]))
            }
        }
    }

    /// Parses `value` into the field of `key` (the syntax; [`TopicConfig::in_range`] checks
    /// the range).
    fn assign(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "retention.ms" => self.retention_ms = parse_limit(key, value)?,
            "retention.bytes" => self.retention_bytes = parse_limit(key, value)?,
            "cleanup.policy" => {
                self.cleanup_policy =
                    CleanupPolicy::parse(value).ok_or_else(|| invalid_value(key, value))?;
            }
            "segment.bytes" => self.segment_bytes = parse_int(key, value)?,
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = parse_non_negative(key, value)?,
            "min.cleanable.dirty.ratio" => {
                self.min_cleanable_dirty_ratio = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid_value(key, value))?;
            }
            "delete.retention.ms" => self.delete_retention_ms = parse_non_negative(key, value)?,
            "max.message.bytes" => self.max_message_bytes = parse_int(key, value)?,
            "message.timestamp.type" => {
                self.timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(invalid_value(key, value)),
                }
            }
            "compression.type" => {
                self.compression_type =
                    CompressionType::parse(value).ok_or_else(|| invalid_value(key, value))?;
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

    /// The ranges: whether the field of `key` holds a value the key allows.
    fn in_range(&self, key: &str) -> bool {
        match key {
            "retention.ms" => self.retention_ms.is_none_or(|v| v <= LONG_MAX),
            "retention.bytes" => self.retention_bytes.is_none_or(|v| v <= LONG_MAX),
            "segment.bytes" => {
                (Self::SEGMENT_BYTES_MIN..=Self::SEGMENT_BYTES_MAX).contains(&self.segment_bytes)
            }
            "min.compaction.lag.ms" => self.min_compaction_lag_ms <= LONG_MAX,
            // Also refuses NaN and the infinities.
            "min.cleanable.dirty.ratio" => (0.0..=1.0).contains(&self.min_cleanable_dirty_ratio),
            "delete.retention.ms" => self.delete_retention_ms <= LONG_MAX,
            "max.message.bytes" => (Self::MESSAGE_BYTES_MIN..=Self::MESSAGE_BYTES_MAX)
                .contains(&self.max_message_bytes),
            // Every value of these enums is allowed.
            "cleanup.policy" | "message.timestamp.type" | "compression.type" => true,
            _ => unreachable!("in_range of unknown key {key:?}"),
        }
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
            (
                "min.cleanable.dirty.ratio",
                self.min_cleanable_dirty_ratio.to_string(),
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
            (
                "compression.type",
                self.compression_type.as_str().to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TopicMeta;

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
        assert_eq!(
            config.retention_ms,
            Some(60_000),
            "refused values change nothing"
        );
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

    /// Asserts that `key=value` is refused with one line naming the key and its allowed
    /// values, and leaves the config unchanged.
    #[track_caller]
    fn refused(key: &str, value: &str) {
        let mut config = TopicConfig::default();
        let err = config.set(key, value).expect_err(value);
        let message = err.to_string();
        assert!(message.contains(key), "{key}={value}: {message}");
        if let Some(allowed) = TopicConfig::allowed_values(key) {
            assert!(message.contains(&allowed), "{key}={value}: {message}");
        }
        assert!(!message.contains('\n'), "one line: {message}");
        assert_eq!(
            config,
            TopicConfig::default(),
            "{key}={value} changed the config"
        );
    }

    #[track_caller]
    fn accepted(key: &str, value: &str) -> TopicConfig {
        let mut config = TopicConfig::default();
        config.set(key, value).expect(value);
        config.validate().expect("a set config validates");
        config
    }

    #[test]
    fn limits_are_minus_one_or_a_long_that_is_not_negative() {
        for key in ["retention.ms", "retention.bytes"] {
            let field = |c: &TopicConfig| {
                if key == "retention.ms" {
                    c.retention_ms
                } else {
                    c.retention_bytes
                }
            };
            assert_eq!(field(&accepted(key, "-1")), None);
            assert_eq!(field(&accepted(key, " -1 ")), None);
            assert_eq!(field(&accepted(key, "0")), Some(0));
            assert_eq!(field(&accepted(key, "+5")), Some(5));
            let max = "9223372036854775807";
            assert_eq!(field(&accepted(key, max)), Some(i64::MAX.cast_unsigned()));
            for bad in [
                "-2",
                "-9223372036854775808",
                "9223372036854775808",
                "",
                "soon",
                "1.5",
            ] {
                refused(key, bad);
            }
        }
    }

    #[test]
    fn lags_and_tombstone_retention_are_longs_that_are_not_negative() {
        for key in ["min.compaction.lag.ms", "delete.retention.ms"] {
            accepted(key, "0");
            accepted(key, "9223372036854775807");
            for bad in ["-1", "9223372036854775808", "", "1e3"] {
                refused(key, bad);
            }
        }
    }

    #[test]
    fn the_dirty_ratio_is_a_number_from_0_to_1() {
        let ratio = |v| accepted("min.cleanable.dirty.ratio", v).min_cleanable_dirty_ratio;
        assert!((TopicConfig::default().min_cleanable_dirty_ratio - 0.5).abs() < f64::EPSILON);
        assert!(ratio("0").abs() < f64::EPSILON);
        assert!((ratio(" 1 ") - 1.0).abs() < f64::EPSILON);
        assert!((ratio("0.25") - 0.25).abs() < f64::EPSILON);
        for bad in ["-0.1", "1.01", "NaN", "inf", "-inf", "", "half", "50%"] {
            refused("min.cleanable.dirty.ratio", bad);
        }
        // The stored text reads back as the same number.
        let config = accepted("min.cleanable.dirty.ratio", "0.3");
        let text = &config.to_pairs()["min.cleanable.dirty.ratio"];
        assert_eq!(accepted("min.cleanable.dirty.ratio", text), config);
    }

    #[test]
    fn sizes_are_ints_in_their_ranges() {
        assert_eq!(accepted("segment.bytes", "65536").segment_bytes, 65_536);
        assert_eq!(
            accepted("segment.bytes", "2147483647").segment_bytes,
            i32::MAX.cast_unsigned()
        );
        for bad in ["0", "-1", "65535", "2147483648", "4294967296", "4MiB"] {
            refused("segment.bytes", bad);
        }
        accepted("max.message.bytes", "64");
        accepted("max.message.bytes", "1048588");
        for bad in ["0", "63", "-1", "1048589", "4294967296"] {
            refused("max.message.bytes", bad);
        }
    }

    #[test]
    fn named_values_are_kafkas_names_each_once() {
        let policy = |v| accepted("cleanup.policy", v).cleanup_policy;
        assert_eq!(policy("delete"), CleanupPolicy::Delete);
        assert_eq!(policy("compact"), CleanupPolicy::Compact);
        assert_eq!(policy("compact,delete"), CleanupPolicy::CompactDelete);
        assert_eq!(policy(" delete , compact "), CleanupPolicy::CompactDelete);
        for bad in [
            "compact,compact",
            "delete,delete",
            "compact,delete,compact",
            "",
            ",",
            "compact,",
            "Compact",
            "shred",
        ] {
            refused("cleanup.policy", bad);
        }
        accepted("message.timestamp.type", "CreateTime");
        accepted("message.timestamp.type", "LogAppendTime");
        for bad in ["createtime", "", "Now"] {
            refused("message.timestamp.type", bad);
        }
    }

    #[test]
    fn unknown_and_repeated_keys_are_refused() {
        let err = TopicConfig::default()
            .set("retention.hours", "1")
            .expect_err("unknown");
        assert!(err.to_string().contains("retention.hours"), "{err}");
        assert!(
            err.to_string().contains("segment.bytes"),
            "lists the keys: {err}"
        );
        let err = TopicConfig::from_pairs([("retention.ms", "1"), ("retention.ms", "2")])
            .expect_err("twice");
        assert!(
            err.to_string().contains("retention.ms is given twice"),
            "{err}"
        );
        let mut config = TopicConfig::default();
        let err = config.set_pairs([("retention.ms", "1"), ("segment.bytes", "1")]);
        assert!(err.is_err());
        assert_eq!(config, TopicConfig::default(), "all or nothing");
    }

    #[test]
    fn validate_checks_a_config_built_as_a_struct_with_the_same_rules() {
        TopicConfig::default()
            .validate()
            .expect("defaults are valid");
        let cases = [
            (
                TopicConfig {
                    segment_bytes: 100,
                    ..TopicConfig::default()
                },
                "segment.bytes",
            ),
            (
                TopicConfig {
                    segment_bytes: u32::MAX,
                    ..TopicConfig::default()
                },
                "segment.bytes",
            ),
            (
                TopicConfig {
                    max_message_bytes: 0,
                    ..TopicConfig::default()
                },
                "max.message.bytes",
            ),
            (
                TopicConfig {
                    retention_ms: Some(u64::MAX),
                    ..TopicConfig::default()
                },
                "retention.ms",
            ),
            (
                TopicConfig {
                    retention_bytes: Some(u64::MAX),
                    ..TopicConfig::default()
                },
                "retention.bytes",
            ),
            (
                TopicConfig {
                    delete_retention_ms: u64::MAX,
                    ..TopicConfig::default()
                },
                "delete.retention.ms",
            ),
            (
                TopicConfig {
                    min_compaction_lag_ms: u64::MAX,
                    ..TopicConfig::default()
                },
                "min.compaction.lag.ms",
            ),
            (
                TopicConfig {
                    min_cleanable_dirty_ratio: f64::NAN,
                    ..TopicConfig::default()
                },
                "min.cleanable.dirty.ratio",
            ),
            (
                TopicConfig {
                    min_cleanable_dirty_ratio: 2.0,
                    ..TopicConfig::default()
                },
                "min.cleanable.dirty.ratio",
            ),
        ];
        for (config, key) in cases {
            let message = config.validate().expect_err(key).to_string();
            let value = &config.to_pairs()[key];
            let mut parsed = TopicConfig::default();
            let same = parsed.set(key, value).expect_err(key).to_string();
            assert_eq!(message, same, "validate and set say the same");
        }
    }
}
