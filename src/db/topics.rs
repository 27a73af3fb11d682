//! Topic administration and the in-memory catalog cache.
//!
//! The cache maps names to topic metadata. It is valid for one value of the catalog
//! version (`log.meta` key `catalog-version`), which every catalog change increments, so a
//! change made by any process is seen by the next operation that reads the version.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::{PARTITIONS_MAX, TopicConfig, TopicMeta, validate_topic_name};
use crate::engine::{ReadTransaction, WriteTransaction};
use crate::error::{Error, Result};
use crate::log::meta::{
    KEY_CATALOG_VERSION, KEY_NEXT_TOPIC_ID, PartitionState, Segment, TREE_META, TREE_OFFSETS,
    TREE_PARTITIONS, TREE_SEGMENTS, TREE_TIMES, TREE_TOPICS, decode_u32, decode_u64, encode_u64,
    offset_key, partition_key, topic_key,
};

/// Topics by name, valid for one catalog version.
#[derive(Debug, Default)]
pub(crate) struct CatalogCache {
    version: Option<u64>,
    by_name: HashMap<String, Arc<TopicMeta>>,
}

/// The not-found error for a topic.
pub(crate) fn no_topic(name: &str) -> Error {
    Error::invalid(format!("topic {name:?} does not exist"))
}

fn decode_version(value: Option<Vec<u8>>) -> Result<u64> {
    value.map_or(Ok(0), |v| decode_u64(TREE_META, &v))
}

impl CatalogCache {
    fn refill(&mut self, version: u64, topics: Vec<TopicMeta>) {
        self.version = Some(version);
        self.by_name = topics
            .into_iter()
            .map(|t| (t.name.clone(), Arc::new(t)))
            .collect();
    }

    /// Looks a topic up in a snapshot.
    pub fn lookup_read(&mut self, read: &ReadTransaction, name: &str) -> Result<Arc<TopicMeta>> {
        let version = decode_version(read.get(TREE_META, KEY_CATALOG_VERSION)?)?;
        if self.version != Some(version) {
            let mut topics = Vec::new();
            for item in read.range(TREE_TOPICS, ..)? {
                topics.push(TopicMeta::decode(&item?.1)?);
            }
            self.refill(version, topics);
        }
        self.by_name
            .get(name)
            .cloned()
            .ok_or_else(|| no_topic(name))
    }

    /// Looks a topic up inside a write transaction.
    pub fn lookup_write(
        &mut self,
        txn: &mut WriteTransaction,
        name: &str,
    ) -> Result<Arc<TopicMeta>> {
        let version = decode_version(txn.get(TREE_META, KEY_CATALOG_VERSION)?)?;
        if self.version != Some(version) {
            let mut topics = Vec::new();
            for (_, value) in txn.range(TREE_TOPICS, .., false)? {
                topics.push(TopicMeta::decode(&value)?);
            }
            self.refill(version, topics);
        }
        self.by_name
            .get(name)
            .cloned()
            .ok_or_else(|| no_topic(name))
    }
}

/// Every topic in a snapshot, by name.
pub(crate) fn list(read: &ReadTransaction) -> Result<Vec<TopicMeta>> {
    let mut topics = Vec::new();
    for item in read.range(TREE_TOPICS, ..)? {
        topics.push(TopicMeta::decode(&item?.1)?);
    }
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

fn bump_version(txn: &mut WriteTransaction) -> Result<()> {
    let version = decode_version(txn.get(TREE_META, KEY_CATALOG_VERSION)?)?;
    // No writer can have made 2^64 - 1 catalog changes: a version at its largest value is
    // damage, and wrapping it could reuse a version a cache still holds.
    let next = version
        .checked_add(1)
        .ok_or_else(|| Error::bad_value(TREE_META, "catalog version is at its largest value"))?;
    txn.insert(TREE_META, KEY_CATALOG_VERSION, &encode_u64(next))
}

fn find(txn: &mut WriteTransaction, name: &str) -> Result<Option<TopicMeta>> {
    for (_, value) in txn.range(TREE_TOPICS, .., false)? {
        let meta = TopicMeta::decode(&value)?;
        if meta.name == name {
            return Ok(Some(meta));
        }
    }
    Ok(None)
}

/// Creates a topic and its empty partitions. Checks the name, config and partition count
/// before it writes anything.
pub(crate) fn create(
    txn: &mut WriteTransaction,
    name: &str,
    partitions: u32,
    config: TopicConfig,
    now_ms: u64,
) -> Result<TopicMeta> {
    validate_topic_name(name)?;
    config.validate()?;
    if partitions == 0 || partitions > PARTITIONS_MAX {
        return Err(Error::invalid(format!(
            "partition count must be 1 to {PARTITIONS_MAX}, got {partitions}"
        )));
    }
    if find(txn, name)?.is_some() {
        return Err(Error::invalid(format!("topic {name:?} already exists")));
    }
    let id = match txn.get(TREE_META, KEY_NEXT_TOPIC_ID)? {
        Some(v) => decode_u32(TREE_META, &v)?,
        None => 1,
    };
    let next = id
        .checked_add(1)
        .ok_or_else(|| Error::invalid("topic ids exhausted"))?;
    txn.insert(TREE_META, KEY_NEXT_TOPIC_ID, &next.to_le_bytes())?;
    let meta = TopicMeta {
        id,
        name: name.to_owned(),
        partitions,
        created_ms: now_ms,
        config,
    };
    txn.insert(TREE_TOPICS, &topic_key(id), &meta.encode())?;
    let state = PartitionState::new().encode();
    for p in 0..partitions {
        txn.insert(TREE_PARTITIONS, &partition_key(id, p), &state)?;
    }
    bump_version(txn)?;
    Ok(meta)
}

/// Replaces a topic's config.
pub(crate) fn alter(
    txn: &mut WriteTransaction,
    name: &str,
    pairs: &[(&str, &str)],
) -> Result<TopicMeta> {
    let mut meta = find(txn, name)?.ok_or_else(|| no_topic(name))?;
    meta.config.set_pairs(pairs.iter().copied())?;
    txn.insert(TREE_TOPICS, &topic_key(meta.id), &meta.encode())?;
    bump_version(txn)?;
    Ok(meta)
}

/// Deletes a topic: frees every segment and removes its partitions and indexes.
pub(crate) fn delete(txn: &mut WriteTransaction, name: &str) -> Result<()> {
    let meta = find(txn, name)?.ok_or_else(|| no_topic(name))?;
    let low = offset_key(meta.id, 0, 0);
    let high = offset_key(meta.id, u32::MAX, u64::MAX);
    let bounds = txn.bounds();
    for (_, value) in txn.range(TREE_SEGMENTS, &low[..]..=&high[..], false)? {
        let seg = Segment::decode(&value, bounds)?;
        txn.free_extent(crate::PageId(seg.first_page))?;
    }
    for tree in [TREE_SEGMENTS, TREE_OFFSETS, TREE_TIMES] {
        txn.remove_range(tree, &low[..]..=&high[..])?;
    }
    let plow = partition_key(meta.id, 0);
    let phigh = partition_key(meta.id, u32::MAX);
    txn.remove_range(TREE_PARTITIONS, &plow[..]..=&phigh[..])?;
    txn.remove(TREE_TOPICS, &topic_key(meta.id))?;
    bump_version(txn)
}
