//! `group.kafka`: the consumer groups of Kafka clients that a `brooklet serve` process
//! coordinates, one record per group: the serving process's liveness slot, the protocol,
//! and each member with its client id, host and assigned partitions.
//!
//! The record is written when a rebalance completes and when a member leaves (never per
//! heartbeat), and it is live only while the serving process holds the liveness lock on
//! its slot: when the process stops, even by `SIGKILL`, the kernel releases the lock and
//! readers stop showing the members. A record whose lock is free is stale; the next join
//! of the group, of either kind, removes or replaces it.

use super::store::{self as groups, is_gone};
use super::{TREE_KAFKA, decode_whole, get_str, group_key_id, put_str};
use crate::engine::{Engine, TreeRead, WriteTransaction};
use crate::error::{Error, Result};
use crate::page::{Cursor, format, put_u32};
use zerocopy::IntoBytes as _;

/// The longest string stored for a member; longer client ids and hosts are cut.
const STRING_MAX: usize = 1024;

/// One Kafka client in a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KafkaMember {
    /// Kafka's member id, chosen by the server.
    pub member_id: String,
    /// The static member's `group.instance.id`; empty for none.
    pub instance_id: String,
    /// The client id of its join.
    pub client_id: String,
    /// Where it connected from.
    pub client_host: String,
    /// Its assigned partitions: (topic id, partition), in order.
    pub partitions: Vec<(u32, u32)>,
}

/// A consumer group of Kafka clients, as a `brooklet serve` process records it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KafkaGroup {
    /// The liveness slot of the serving process.
    pub server: u64,
    /// When the record was written, ms since the Unix epoch.
    pub updated_ms: u64,
    /// The serving process's id.
    pub pid: u32,
    /// Kafka's generation id.
    pub generation: i32,
    /// Kafka's protocol type (`consumer` for consumers).
    pub protocol_type: String,
    /// The protocol the members chose (the assignor's name).
    pub protocol: String,
    pub members: Vec<KafkaMember>,
}

/// `s`, cut to at most [`STRING_MAX`] bytes at a character boundary.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(STRING_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl KafkaGroup {
    pub fn encode(&self) -> Vec<u8> {
        let head = format::KafkaGroupHead {
            server: self.server.into(),
            updated_ms: self.updated_ms.into(),
            pid: self.pid.into(),
            generation: self.generation.into(),
            member_count: u16::try_from(self.members.len())
                .expect("a server holds fewer than 65536 members of one group")
                .into(),
        };
        let mut out = Vec::with_capacity(size_of::<format::KafkaGroupHead>() + 64);
        out.extend_from_slice(head.as_bytes());
        put_str(&mut out, clip(&self.protocol_type));
        put_str(&mut out, clip(&self.protocol));
        for m in &self.members {
            for s in [&m.member_id, &m.instance_id, &m.client_id, &m.client_host] {
                put_str(&mut out, clip(s));
            }
            put_u32(
                &mut out,
                u32::try_from(m.partitions.len()).expect("partitions fit u32"),
            );
            for &(topic_id, partition) in &m.partitions {
                let entry = format::TxnPartition {
                    topic_id: topic_id.into(),
                    partition: partition.into(),
                };
                out.extend_from_slice(entry.as_bytes());
            }
        }
        out
    }

    /// Decodes a record; each member's partitions must be in strictly increasing order.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        decode_whole(TREE_KAFKA, bytes, |c| {
            let head: &format::KafkaGroupHead = c.read()?;
            let mut group = Self {
                server: head.server.get(),
                updated_ms: head.updated_ms.get(),
                pid: head.pid.get(),
                generation: head.generation.get(),
                protocol_type: get_str(c, TREE_KAFKA)?,
                protocol: get_str(c, TREE_KAFKA)?,
                members: Vec::new(),
            };
            for _ in 0..head.member_count.get() {
                group.members.push(decode_member(c)?);
            }
            Ok(group)
        })
    }

    /// Whether the serving process still runs: its liveness lock is held, or the storage
    /// cannot tell (then the server removes the record itself when it stops).
    pub fn live(&self, engine: &Engine) -> Result<bool> {
        Ok(engine.liveness_held(self.server)? != Some(false))
    }
}

fn decode_member(c: &mut Cursor<'_>) -> Result<KafkaMember> {
    let mut member = KafkaMember {
        member_id: get_str(c, TREE_KAFKA)?,
        instance_id: get_str(c, TREE_KAFKA)?,
        client_id: get_str(c, TREE_KAFKA)?,
        client_host: get_str(c, TREE_KAFKA)?,
        partitions: Vec::new(),
    };
    let count = c.u32()? as usize;
    if count > c.remaining() / size_of::<format::TxnPartition>() {
        return Err(Error::bad_value(
            TREE_KAFKA,
            "partition count exceeds the value",
        ));
    }
    member.partitions.reserve(count);
    for raw in c.slice::<format::TxnPartition>(count)? {
        let entry = (raw.topic_id.get(), raw.partition.get());
        if member.partitions.last().is_some_and(|last| *last >= entry) {
            return Err(Error::bad_value(TREE_KAFKA, "partitions out of order"));
        }
        member.partitions.push(entry);
    }
    Ok(member)
}

/// The record of group `group_id`, if it has one.
pub(crate) fn get(read: &impl TreeRead, group_id: u32) -> Result<Option<KafkaGroup>> {
    read.get(TREE_KAFKA, &group_id.to_be_bytes())?
        .map(|v| KafkaGroup::decode(&v))
        .transpose()
}

/// The record of group `group_id` if its server is live.
pub(crate) fn get_live(
    read: &impl TreeRead,
    engine: &Engine,
    group_id: u32,
) -> Result<Option<KafkaGroup>> {
    match get(read, group_id)? {
        Some(group) if group.live(engine)? => Ok(Some(group)),
        _ => Ok(None),
    }
}

/// Every record: (group id, record), in group-id order.
#[cfg_attr(
    not(feature = "serve"),
    expect(dead_code, reason = "only the Kafka-protocol server writes records")
)]
pub(crate) fn all(read: &impl TreeRead) -> Result<Vec<(u32, KafkaGroup)>> {
    read.range(TREE_KAFKA, ..)?
        .map(|item| {
            let (k, v) = item?;
            Ok((group_key_id(TREE_KAFKA, &k)?, KafkaGroup::decode(&v)?))
        })
        .collect()
}

/// Writes the record of group `group_id`.
#[cfg_attr(
    not(feature = "serve"),
    expect(dead_code, reason = "only the Kafka-protocol server writes records")
)]
pub(crate) fn put(txn: &mut WriteTransaction, group_id: u32, group: &KafkaGroup) -> Result<()> {
    txn.insert(TREE_KAFKA, &group_id.to_be_bytes(), &group.encode())
}

/// Removes the record of group `group_id`, if any.
pub(crate) fn remove(txn: &mut WriteTransaction, group_id: u32) -> Result<()> {
    txn.remove(TREE_KAFKA, &group_id.to_be_bytes())?;
    Ok(())
}

/// Before one of the file's own consumers joins group `name`: refuses if Kafka clients
/// are live members of it, and removes a stale record.
pub(crate) fn refuse_kafka_members(
    txn: &mut WriteTransaction,
    engine: &Engine,
    group_id: u32,
    name: &str,
) -> Result<()> {
    let Some(group) = get(txn, group_id)? else {
        return Ok(());
    };
    if group.live(engine)? {
        return Err(Error::InconsistentGroupProtocol(format!(
            "consumer group {name:?} has live Kafka-protocol members (brooklet serve, pid {}); \
             a group is served by one protocol at a time: use another group id, or stop those clients",
            group.pid
        )));
    }
    remove(txn, group_id)
}

/// Before a Kafka client's join (through the server holding slot `server`): refuses if
/// the file's own consumers are live members of group `name`, or another live server
/// holds it. Gone members are removed first (a rebalance), so their partitions have no
/// owner left.
#[cfg_attr(
    not(feature = "serve"),
    expect(dead_code, reason = "only the Kafka-protocol server writes records")
)]
pub(crate) fn refuse_embedded_members(
    txn: &mut WriteTransaction,
    engine: &Engine,
    (group_id, name): (u32, &str),
    server: u64,
    now_ms: u64,
) -> Result<()> {
    groups::rebalance(txn, engine, group_id, now_ms)?;
    let live = live_embedded_members(txn, engine, group_id, now_ms)?;
    if live > 0 {
        return Err(Error::InconsistentGroupProtocol(format!(
            "consumer group {name:?} has {live} live member(s) of the file's own consumers; \
             a group is served by one protocol at a time"
        )));
    }
    if let Some(other) = get(txn, group_id)?
        && other.server != server
        && other.live(engine)?
    {
        return Err(Error::InconsistentGroupProtocol(format!(
            "consumer group {name:?} is coordinated by another brooklet serve process (pid {})",
            other.pid
        )));
    }
    Ok(())
}

/// How many of the file's own consumers are live members of group `group_id`.
pub(crate) fn live_embedded_members(
    read: &impl TreeRead,
    engine: &Engine,
    group_id: u32,
    now_ms: u64,
) -> Result<usize> {
    let mut live = 0usize;
    for (id, member) in groups::members(read, group_id)? {
        if !is_gone(engine, id, &member, now_ms)? {
            live += 1;
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_ones_are_refused() {
        let group = KafkaGroup {
            server: 7,
            updated_ms: 8,
            pid: 9,
            generation: 3,
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            members: vec![KafkaMember {
                member_id: "m-1".into(),
                instance_id: String::new(),
                client_id: "rdkafka".into(),
                client_host: "/127.0.0.1".into(),
                partitions: vec![(1, 0), (1, 2)],
            }],
        };
        let bytes = group.encode();
        assert_eq!(KafkaGroup::decode(&bytes).expect("decode"), group);
        assert!(KafkaGroup::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(KafkaGroup::decode(&longer).is_err());
        let mut unordered = group.clone();
        unordered.members[0].partitions.reverse();
        assert!(KafkaGroup::decode(&unordered.encode()).is_err());
        let mut huge = bytes;
        let count_at = huge.len() - 20;
        huge[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(KafkaGroup::decode(&huge).is_err());
        assert_eq!(clip(&"\u{e9}".repeat(600)).len(), STRING_MAX);
    }
}
