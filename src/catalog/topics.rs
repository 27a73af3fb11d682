//! Topics in the `log.topics` tree: create, alter, delete, list and look up, and the
//! in-memory cache of topics by name.
//!
//! The cache is valid for one value of the catalog version (see `counters`), which every
//! catalog change raises, so a change made by any process is seen by the next operation
//! that reads the version.

use std::collections::HashMap;
use std::sync::Arc;

use super::{PARTITIONS_MAX, TREE_TOPICS, TopicConfig, TopicMeta, topic_key, validate_topic_name};
use crate::counters;
use crate::engine::{TreeRead, WriteTransaction};
use crate::error::{Error, Result};

/// Topics by name, valid for one catalog version.
#[derive(Debug, Default)]
pub(crate) struct CatalogCache {
    version: Option<u64>,
    by_name: HashMap<String, Arc<TopicMeta>>,
}

/// The not-found error for a topic.
pub(crate) fn no_topic(name: &str) -> Error {
    Error::UnknownTopic(name.to_owned())
}

impl CatalogCache {
    /// Looks a topic up in a snapshot or a write transaction, reading the catalog again
    /// when its version changed.
    pub fn lookup(&mut self, read: &impl TreeRead, name: &str) -> Result<Arc<TopicMeta>> {
        let version = counters::catalog_version(read)?;
        if self.version != Some(version) {
            self.version = Some(version);
            self.by_name = all(read)?
                .into_iter()
                .map(|t| (t.name.clone(), Arc::new(t)))
                .collect();
        }
        self.by_name
            .get(name)
            .cloned()
            .ok_or_else(|| no_topic(name))
    }
}

/// Every topic, in id order.
fn all(read: &impl TreeRead) -> Result<Vec<TopicMeta>> {
    read.range(TREE_TOPICS, ..)?
        .map(|item| TopicMeta::decode(&item?.1))
        .collect()
}

/// Every topic, by name.
pub(crate) fn list(read: &impl TreeRead) -> Result<Vec<TopicMeta>> {
    let mut topics = all(read)?;
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

fn find(read: &impl TreeRead, name: &str) -> Result<Option<TopicMeta>> {
    Ok(all(read)?.into_iter().find(|t| t.name == name))
}

/// The topic named `name`, read from the tree (not the cache).
pub(crate) fn get(read: &impl TreeRead, name: &str) -> Result<TopicMeta> {
    find(read, name)?.ok_or_else(|| no_topic(name))
}

/// Records a new topic. Checks the name, config and partition count before it writes
/// anything. The caller creates the topic's partitions in the same transaction.
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
        return Err(Error::TopicExists(name.to_owned()));
    }
    let meta = TopicMeta {
        id: counters::take_topic_id(txn)?,
        name: name.to_owned(),
        partitions,
        created_ms: now_ms,
        config,
    };
    txn.insert(TREE_TOPICS, &topic_key(meta.id), &meta.encode())?;
    counters::bump_catalog_version(txn)?;
    Ok(meta)
}

/// Changes a topic's configs by their Kafka names, all or none.
pub(crate) fn alter(
    txn: &mut WriteTransaction,
    name: &str,
    pairs: &[(&str, &str)],
) -> Result<TopicMeta> {
    let mut meta = find(txn, name)?.ok_or_else(|| no_topic(name))?;
    meta.config.set_pairs(pairs.iter().copied())?;
    txn.insert(TREE_TOPICS, &topic_key(meta.id), &meta.encode())?;
    counters::bump_catalog_version(txn)?;
    Ok(meta)
}

/// Removes a topic from the catalog. The caller drops the topic's partitions in the same
/// transaction.
pub(crate) fn delete(txn: &mut WriteTransaction, topic: &TopicMeta) -> Result<()> {
    txn.remove(TREE_TOPICS, &topic_key(topic.id))?;
    counters::bump_catalog_version(txn)
}
