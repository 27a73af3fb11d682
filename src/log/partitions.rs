//! A topic's partitions come and go with the topic: created empty when the catalog records
//! the topic, and dropped (every segment freed, every entry of the log's trees removed)
//! when the catalog deletes it, in the same transaction.

use super::meta::{
    PartitionState, Segment, TREE_OFFSETS, TREE_PARTITIONS, TREE_SEGMENTS, TREE_TIMES, offset_key,
    partition_key,
};
use crate::catalog::TopicMeta;
use crate::engine::WriteTransaction;
use crate::error::{PageId, Result};

/// Creates the empty partitions of a topic the catalog has just recorded.
pub(crate) fn create(txn: &mut WriteTransaction, topic: &TopicMeta) -> Result<()> {
    let state = PartitionState::new().encode();
    for p in 0..topic.partitions {
        txn.insert(TREE_PARTITIONS, &partition_key(topic.id, p), &state)?;
    }
    Ok(())
}

/// Drops every partition of a topic the catalog has just deleted: frees its segments and
/// removes its partition states and index entries.
pub(crate) fn drop_all(txn: &mut WriteTransaction, topic: &TopicMeta) -> Result<()> {
    let low = offset_key(topic.id, 0, 0);
    let high = offset_key(topic.id, u32::MAX, u64::MAX);
    let bounds = txn.bounds();
    let segments: Vec<Segment> = txn
        .range(TREE_SEGMENTS, &low[..]..=&high[..])?
        .map(|item| Segment::decode(&item?.1, bounds))
        .collect::<Result<_>>()?;
    for segment in segments {
        txn.free_extent(PageId(segment.first_page))?;
    }
    for tree in [TREE_SEGMENTS, TREE_OFFSETS, TREE_TIMES] {
        txn.remove_range(tree, &low[..]..=&high[..])?;
    }
    let plow = partition_key(topic.id, 0);
    let phigh = partition_key(topic.id, u32::MAX);
    txn.remove_range(TREE_PARTITIONS, &plow[..]..=&phigh[..])?;
    super::producers::drop_topic(txn, topic.id)?;
    Ok(())
}
