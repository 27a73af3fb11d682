//! The group trees, read and written: find, create and delete a group, its members and
//! state, rebalance and release partitions, and fenced offset commits. With the codecs in
//! `mod.rs`, this is the one place that touches `group.*` keys and values.

use std::collections::{BTreeMap, BTreeSet};

use super::assign::{TopicParts, assign};
use super::{
    Assignor, Committed, GroupState, Member, Owner, TREE_GROUPS, TREE_KAFKA, TREE_MEMBERS,
    TREE_OFFSETS, TREE_STATE, group_key_id, member_key, member_key_parts, offset_key,
    offset_key_parts,
};
use crate::catalog::{CatalogCache, TopicMeta};
use crate::counters;
use crate::engine::{TreeRead, WriteTransaction};
use crate::error::{Error, Result};

/// Checks a group id: the same characters and length as a topic name.
pub(crate) fn validate_group_name(name: &str) -> Result<()> {
    crate::catalog::validate_topic_name(name)
        .map_err(|e| Error::invalid(e.to_string().replace("topic name", "group id")))
}

/// The id of group `name`, if it exists.
pub(crate) fn find(read: &impl TreeRead, name: &str) -> Result<Option<u32>> {
    for item in read.range(TREE_GROUPS, ..)? {
        let (k, v) = item?;
        if v == name.as_bytes() {
            return Ok(Some(group_key_id(TREE_GROUPS, &k)?));
        }
    }
    Ok(None)
}

/// Every group: (id, name).
pub(crate) fn list(read: &impl TreeRead) -> Result<Vec<(u32, String)>> {
    let mut out = Vec::new();
    for item in read.range(TREE_GROUPS, ..)? {
        let (k, v) = item?;
        let name = String::from_utf8(v)
            .map_err(|_| Error::bad_value(TREE_GROUPS, "group name is not UTF-8"))?;
        out.push((group_key_id(TREE_GROUPS, &k)?, name));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// The id of group `name`, created if missing.
pub(crate) fn find_or_create(
    txn: &mut WriteTransaction,
    name: &str,
    assignor: Assignor,
) -> Result<u32> {
    validate_group_name(name)?;
    if let Some(id) = find(txn, name)? {
        return Ok(id);
    }
    let id = counters::take_group_id(txn)?;
    txn.insert(TREE_GROUPS, &id.to_be_bytes(), name.as_bytes())?;
    let state = GroupState {
        generation: 0,
        assignor,
        owners: Vec::new(),
    };
    txn.insert(TREE_STATE, &id.to_be_bytes(), &state.encode())?;
    Ok(id)
}

/// The members of a group, by id.
pub(crate) fn members(read: &impl TreeRead, group_id: u32) -> Result<BTreeMap<u64, Member>> {
    let low = member_key(group_id, 0);
    let high = member_key(group_id, u64::MAX);
    read.range(TREE_MEMBERS, &low[..]..=&high[..])?
        .map(|item| {
            let (k, v) = item?;
            Ok((member_key_parts(&k)?.1, Member::decode(&v)?))
        })
        .collect()
}

/// A group's state.
pub(crate) fn state(read: &impl TreeRead, group_id: u32) -> Result<GroupState> {
    match read.get(TREE_STATE, &group_id.to_be_bytes())? {
        Some(v) => GroupState::decode(&v),
        None => Err(Error::bad_value(TREE_STATE, "group has no state")),
    }
}

/// Removes expired members, recomputes the assignment over the live ones and applies it
/// cooperatively: a partition whose owner is gone moves at once; one whose owner lives is
/// marked pending until released. Bumps the generation if ownership changed.
pub(crate) fn rebalance(
    txn: &mut WriteTransaction,
    engine: &crate::engine::Engine,
    group_id: u32,
    now_ms: u64,
) -> Result<GroupState> {
    let mut members = members(txn, group_id)?;
    let mut expired = Vec::new();
    for (id, m) in &members {
        if is_gone(engine, *id, m, now_ms)? {
            expired.push(*id);
        }
    }
    for id in &expired {
        txn.remove(TREE_MEMBERS, &member_key(group_id, *id))?;
        members.remove(id);
    }
    let mut state = state(txn, group_id)?;
    let subscriptions: BTreeMap<u64, BTreeSet<String>> = members
        .iter()
        .map(|(id, m)| (*id, m.topics.iter().cloned().collect()))
        .collect();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for m in members.values() {
        names.extend(m.topics.iter().map(String::as_str));
    }
    let mut parts = Vec::new();
    let mut catalog = CatalogCache::default();
    for name in names {
        // A subscribed topic that does not exist (yet) is skipped.
        if let Ok(t) = catalog.lookup(txn, name) {
            parts.push(TopicParts {
                id: t.id,
                name: t.name.clone(),
                partitions: t.partitions,
            });
        }
    }
    parts.sort_by_key(|t| t.id);
    let current: BTreeMap<(u32, u32), u64> = state
        .owners
        .iter()
        .filter(|o| members.contains_key(&o.member))
        .map(|o| {
            let effective = if o.pending != 0 && members.contains_key(&o.pending) {
                o.pending
            } else {
                o.member
            };
            ((o.topic_id, o.partition), effective)
        })
        .collect();
    let target = assign(state.assignor, &parts, &subscriptions, &current);
    let mut owners = Vec::with_capacity(target.len());
    for ((topic_id, partition), to) in &target {
        let owner = match state.owner(*topic_id, *partition) {
            Some(o) if members.contains_key(&o.member) && o.member != *to => Owner {
                topic_id: *topic_id,
                partition: *partition,
                member: o.member,
                pending: *to,
            },
            _ => Owner {
                topic_id: *topic_id,
                partition: *partition,
                member: *to,
                pending: 0,
            },
        };
        owners.push(owner);
    }
    if owners != state.owners {
        state.owners = owners;
        state.next_generation()?;
        txn.insert(TREE_STATE, &group_id.to_be_bytes(), &state.encode())?;
    }
    Ok(state)
}

/// True if a member is gone: its heartbeats or polls lapsed, or its process died (its
/// liveness lock is free, where the storage has such locks: then a killed process loses
/// its partitions at once instead of after the session timeout).
pub(crate) fn is_gone(
    engine: &crate::engine::Engine,
    id: u64,
    m: &Member,
    now_ms: u64,
) -> Result<bool> {
    Ok(m.expired(now_ms) || engine.liveness_held(id)? == Some(false))
}

/// Hands `partitions` (owned by `member` with a pending new owner) to their new owners.
pub(crate) fn release(
    txn: &mut WriteTransaction,
    group_id: u32,
    member: u64,
    partitions: &[(u32, u32)],
) -> Result<()> {
    let mut state = state(txn, group_id)?;
    let mut changed = false;
    for o in &mut state.owners {
        if o.member == member && o.pending != 0 && partitions.contains(&(o.topic_id, o.partition)) {
            o.member = o.pending;
            o.pending = 0;
            changed = true;
        }
    }
    if changed {
        state.next_generation()?;
        txn.insert(TREE_STATE, &group_id.to_be_bytes(), &state.encode())?;
    }
    Ok(())
}

/// Writes committed offsets after checking that `member` is live and owns every partition.
pub(crate) fn commit_offsets(
    txn: &mut WriteTransaction,
    group_id: u32,
    group: &str,
    member: Option<u64>,
    offsets: &[(std::sync::Arc<TopicMeta>, u32, u64, String)],
    now_ms: u64,
) -> Result<()> {
    let state = state(txn, group_id)?;
    if let Some(member) = member {
        if txn
            .get(TREE_MEMBERS, &member_key(group_id, member))?
            .is_none()
        {
            return Err(Error::Fenced(format!(
                "member {member:016x} is no longer in group {group:?} (expired or left); its commit is rejected"
            )));
        }
        for (topic, partition, _, _) in offsets {
            let owns = state
                .owner(topic.id, *partition)
                .is_some_and(|o| o.member == member);
            if !owns {
                return Err(Error::Fenced(format!(
                    "member {member:016x} no longer owns {}/{partition} in group {group:?} (generation {}); its commit is rejected",
                    topic.name, state.generation
                )));
            }
        }
    }
    for (topic, partition, offset, metadata) in offsets {
        let value = Committed {
            offset: *offset,
            time_ms: now_ms,
            metadata: metadata.clone(),
        };
        // Pending: a commit of a few offsets writes only the commit slot.
        txn.insert_pending(
            TREE_OFFSETS,
            &offset_key(group_id, topic.id, *partition),
            &value.encode(),
        )?;
    }
    Ok(())
}

/// The committed offset of a partition.
pub(crate) fn committed(
    read: &impl TreeRead,
    group_id: u32,
    topic_id: u32,
    partition: u32,
) -> Result<Option<Committed>> {
    read.get(TREE_OFFSETS, &offset_key(group_id, topic_id, partition))?
        .map(|v| Committed::decode(&v))
        .transpose()
}

/// The partitions a group has committed offsets for: (topic id, partition), in order.
pub(crate) fn committed_partitions(read: &impl TreeRead, group_id: u32) -> Result<Vec<(u32, u32)>> {
    let low = offset_key(group_id, 0, 0);
    let high = offset_key(group_id, u32::MAX, u32::MAX);
    read.range(TREE_OFFSETS, &low[..]..=&high[..])?
        .map(|item| offset_key_parts(&item?.0))
        .collect()
}

/// Deletes a group: its committed offsets, members (of both kinds), state and name.
pub(crate) fn delete(txn: &mut WriteTransaction, group_id: u32) -> Result<()> {
    let low = offset_key(group_id, 0, 0);
    let high = offset_key(group_id, u32::MAX, u32::MAX);
    txn.remove_range(TREE_OFFSETS, &low[..]..=&high[..])?;
    let mlow = member_key(group_id, 0);
    let mhigh = member_key(group_id, u64::MAX);
    txn.remove_range(TREE_MEMBERS, &mlow[..]..=&mhigh[..])?;
    txn.remove(TREE_STATE, &group_id.to_be_bytes())?;
    txn.remove(TREE_KAFKA, &group_id.to_be_bytes())?;
    txn.remove(TREE_GROUPS, &group_id.to_be_bytes())?;
    Ok(())
}
