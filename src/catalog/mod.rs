//! L6, the topic catalog: topic names and configs (`config.rs`), the topic metadata stored
//! in the `log.topics` tree, and creating, altering, deleting, listing and looking up
//! topics (`topics.rs`). This module owns the `log.topics` tree: its name, keys and codec.
//!
//! A topic is identified on disk by a numeric id (so per-partition keys stay short whatever
//! the name's length and the page size); the name lives in the metadata. A topic's
//! partitions, segments and indexes belong to the log, which creates and drops them when
//! the catalog creates and deletes the topic (the public layer does both in one commit).
//!
//! May call: the engine's transactions, the file's counters (`counters`), `kafka` (the
//! timestamp type and batch size configs refer to), `page` (the cursor) and `error`.

mod config;
mod topics;

pub(crate) use config::PARTITIONS_MAX;
pub use config::{CleanupPolicy, CompressionType, TopicConfig, validate_topic_name};
pub(crate) use topics::{CatalogCache, alter, create, delete, get, list};

use crate::error::{CorruptionKind, Error, Result};
use crate::page::{Cursor, put_u16, put_u32, put_u64};

/// The catalog's tree: topic id (u32, big-endian) to [`TopicMeta`].
pub(crate) const TREE_TOPICS: &str = "log.topics";

/// Key of a topic in `log.topics`.
pub(crate) fn topic_key(topic_id: u32) -> [u8; 4] {
    topic_id.to_be_bytes()
}

/// The topic id of a `log.topics` key.
pub(crate) fn split_topic_key(key: &[u8]) -> Result<u32> {
    let bytes: [u8; 4] = key
        .try_into()
        .map_err(|_| Error::bad_value(TREE_TOPICS, "topic key is not 4 bytes"))?;
    Ok(u32::from_be_bytes(bytes))
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
        // Checked where it was made (create validates, set checks), so a bug if not.
        if let Err(e) = self.config.validate() {
            panic!("encoding topic {:?} with an invalid config: {e}", self.name);
        }
        let mut out = vec![TOPIC_META_VERSION];
        put_u32(&mut out, self.id);
        put_u32(&mut out, self.partitions);
        put_u64(&mut out, self.created_ms);
        put_str(&mut out, &self.name);
        let mut pairs = self.config.to_pairs();
        // Stored only when set, so that files which do not use it stay readable by
        // writers from before it, which refuse keys they do not know (FORMAT.md).
        let default_ratio = TopicConfig::default().min_cleanable_dirty_ratio;
        if self.config.min_cleanable_dirty_ratio.to_bits() == default_ratio.to_bits() {
            pairs.remove("min.cleanable.dirty.ratio");
        }
        if self.config.compression_type == CompressionType::default() {
            pairs.remove("compression.type");
        }
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
        let bad = |why| Error::bad_value(TREE_TOPICS, why);
        Self::decode_fields(bytes).map_err(|e| match e {
            Error::Corrupt {
                kind: CorruptionKind::BadLength,
                ..
            } => bad("topic metadata is shorter than its fields"),
            other => other,
        })
    }

    fn decode_fields(bytes: &[u8]) -> Result<Self> {
        let bad = |why| Error::bad_value(TREE_TOPICS, why);
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
        .map_err(|_| Error::bad_value(TREE_TOPICS, "catalog string is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(config: TopicConfig) -> TopicMeta {
        TopicMeta {
            id: 7,
            partitions: 1,
            name: "t".into(),
            created_ms: 1,
            config,
        }
    }

    #[test]
    fn compression_type_is_stored_only_when_set() {
        let plain = meta(TopicConfig::default()).encode();
        let needle = b"compression.type";
        assert!(!plain.windows(needle.len()).any(|w| w == needle));
        for codec in ["uncompressed", "gzip", "snappy", "lz4", "zstd"] {
            let config = TopicConfig::from_pairs([("compression.type", codec)]).expect("valid");
            let topic = meta(config);
            let bytes = topic.encode();
            assert!(bytes.windows(needle.len()).any(|w| w == needle), "{codec}");
            assert_eq!(TopicMeta::decode(&bytes).expect("decode"), topic);
        }
        assert!(TopicConfig::from_pairs([("compression.type", "brotli")]).is_err());
    }
}
