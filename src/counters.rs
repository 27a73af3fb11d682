//! L5, the file's counters: the small `log.meta` tree of named integers that more than one
//! owner needs a share of. This module is the tree's one owner: its name, keys and codec.
//!
//! | key               | value | used by |
//! |-------------------|-------|---------|
//! | `next-topic-id`   | u32: the id the next topic gets (absent: 1) | the catalog |
//! | `catalog-version` | u64: raised by every topic change (absent: 0) | the catalog's cache |
//! | `next-group-id`   | u32: the id the next consumer group gets (absent: 1) | groups |
//! | `leader-epoch`    | u32: the file's epoch (absent: -1 in batches) | the log |
//! | `next-producer-id`| u64: the id the next idempotent or transactional producer gets (absent: 0) | producers |
//!
//! Values are little-endian; a value of the wrong size, or a counter at its largest value
//! that must be raised, is corruption (`BadValue` naming the tree).
//!
//! May call: the engine's transactions and `error`.

use crate::engine::{TreeRead, WriteTransaction};
use crate::error::{Error, Result};

/// The tree's name (kept from the format's first version, when only the log used it).
pub(crate) const TREE_META: &str = "log.meta";

const NEXT_TOPIC_ID: &[u8] = b"next-topic-id";
const CATALOG_VERSION: &[u8] = b"catalog-version";
const NEXT_GROUP_ID: &[u8] = b"next-group-id";
const LEADER_EPOCH: &[u8] = b"leader-epoch";
const NEXT_PRODUCER_ID: &[u8] = b"next-producer-id";

/// Takes the id for a new idempotent or transactional producer (Kafka's `producerId`, a
/// non-negative i64), and raises the counter.
pub(crate) fn take_producer_id(txn: &mut WriteTransaction) -> Result<i64> {
    let id = next_producer_id(txn)?;
    let next = id
        .checked_add(1)
        .ok_or_else(|| Error::bad_value(TREE_META, "producer ids are exhausted"))?;
    txn.insert(TREE_META, NEXT_PRODUCER_ID, &next.to_le_bytes())?;
    Ok(id)
}

/// The id the next producer will get (every producer id in the file is below it).
pub(crate) fn next_producer_id(read: &impl TreeRead) -> Result<i64> {
    match read.get(TREE_META, NEXT_PRODUCER_ID)? {
        None => Ok(0),
        Some(v) => i64::try_from(decode_u64(&v)?)
            .map_err(|_| Error::bad_value(TREE_META, "next producer id is past i64::MAX")),
    }
}

fn decode_u32(bytes: &[u8]) -> Result<u32> {
    let b: [u8; 4] = bytes
        .try_into()
        .map_err(|_| Error::bad_value(TREE_META, "expected a 4-byte value"))?;
    Ok(u32::from_le_bytes(b))
}

fn decode_u64(bytes: &[u8]) -> Result<u64> {
    let b: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::bad_value(TREE_META, "expected an 8-byte value"))?;
    Ok(u64::from_le_bytes(b))
}

/// Takes the next id from a u32 counter that starts at 1, and raises it.
fn take_id(txn: &mut WriteTransaction, key: &[u8], what: &'static str) -> Result<u32> {
    let id = match txn.get(TREE_META, key)? {
        Some(v) => decode_u32(&v)?,
        None => 1,
    };
    let next = id
        .checked_add(1)
        .ok_or_else(|| Error::bad_value(TREE_META, what))?;
    txn.insert(TREE_META, key, &next.to_le_bytes())?;
    Ok(id)
}

/// Takes the id for a new topic. Ids are never reused, even after a topic is deleted.
pub(crate) fn take_topic_id(txn: &mut WriteTransaction) -> Result<u32> {
    take_id(txn, NEXT_TOPIC_ID, "topic ids are exhausted")
}

/// The id the next topic will get (for the integrity check: every topic id is below it).
pub(crate) fn next_topic_id(read: &impl TreeRead) -> Result<Option<u32>> {
    read.get(TREE_META, NEXT_TOPIC_ID)?
        .map(|v| decode_u32(&v))
        .transpose()
}

/// Takes the id for a new consumer group.
pub(crate) fn take_group_id(txn: &mut WriteTransaction) -> Result<u32> {
    take_id(txn, NEXT_GROUP_ID, "group ids are exhausted")
}

/// The id the next group will get (for the integrity check).
pub(crate) fn next_group_id(read: &impl TreeRead) -> Result<Option<u32>> {
    read.get(TREE_META, NEXT_GROUP_ID)?
        .map(|v| decode_u32(&v))
        .transpose()
}

/// The catalog version: every topic creation, deletion and config change raises it, so a
/// cached catalog is valid while the version is the same.
pub(crate) fn catalog_version(read: &impl TreeRead) -> Result<u64> {
    read.get(TREE_META, CATALOG_VERSION)?
        .map_or(Ok(0), |v| decode_u64(&v))
}

/// Raises the catalog version by one.
pub(crate) fn bump_catalog_version(txn: &mut WriteTransaction) -> Result<()> {
    // No writer can have made 2^64 - 1 catalog changes: a version at its largest value is
    // damage, and wrapping it could reuse a version a cache still holds.
    let next = catalog_version(txn)?
        .checked_add(1)
        .ok_or_else(|| Error::bad_value(TREE_META, "catalog version is at its largest value"))?;
    txn.insert(TREE_META, CATALOG_VERSION, &next.to_le_bytes())
}

/// The file's epoch, which every batch appended carries as Kafka's `partitionLeaderEpoch`:
/// -1 (Kafka's "unset") until recovery first rolls a commit back, then 0, 1, ...: one more
/// each time a writer opens the file after a rollback (see [`bump_leader_epoch`]). Kafka
/// raises the leader epoch after a log truncation for the same reason: a reader that saw
/// records later lost can tell the records now at those offsets from them.
pub(crate) fn leader_epoch(read: &impl TreeRead) -> Result<i32> {
    match read.get(TREE_META, LEADER_EPOCH)? {
        None => Ok(-1),
        Some(value) => i32::try_from(decode_u32(&value)?)
            .map_err(|_| Error::bad_value(TREE_META, "leader epoch is past i32::MAX")),
    }
}

/// Raises the file's epoch by one (from -1 to 0 the first time); returns the new epoch.
/// Called by a writer that opened the file after recovery rolled back a commit, in its
/// first commit, before the damaged slot is overwritten and the rollback forgotten.
pub(crate) fn bump_leader_epoch(txn: &mut WriteTransaction) -> Result<i32> {
    let epoch = leader_epoch(txn)?
        .checked_add(1)
        .ok_or_else(|| Error::bad_value(TREE_META, "leader epoch is past i32::MAX"))?;
    let value = u32::try_from(epoch).expect("an epoch after -1 is not negative");
    txn.insert(TREE_META, LEADER_EPOCH, &value.to_le_bytes())?;
    Ok(epoch)
}
