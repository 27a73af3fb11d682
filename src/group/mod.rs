//! L7, consumer groups: committed offsets, members with liveness, partition ownership and
//! assignment. The file itself is the group coordinator: every member reads and writes the
//! group's records in ordinary transactions, and whoever changes the membership (a join, a
//! leave, an expiry noticed at a heartbeat) recomputes the assignment in the same commit.
//!
//! | tree            | key                                        | value            |
//! |-----------------|--------------------------------------------|------------------|
//! | `group.groups`  | group id u32                               | name             |
//! | `group.state`   | group id u32                               | [`GroupState`]   |
//! | `group.members` | group id u32, member id u64                | [`Member`]       |
//! | `group.offsets` | group id u32, topic id u32, partition u32  | [`Committed`]    |
//! | `group.kafka`   | group id u32                               | [`kafka::KafkaGroup`] |
//!
//! A group is served by one protocol at a time: its members are either the file's own
//! (`group.members`, with the cooperative assignment in `group.state`) or Kafka clients
//! of a `brooklet serve` process (`group.kafka`, one record per group, live while that
//! process holds its liveness lock; the clients assign partitions themselves). A join
//! of either kind is refused while the group has live members of the other, so no
//! partition ever has two owners.
//!
//! Ownership is cooperative: a partition that the assignment moves stays with its old
//! owner, marked `pending`, until that owner releases it (after its `on_revoked` callback
//! and a final commit) or stops being a member. So each partition has exactly one owner at
//! a time, and only the owner's commits are accepted (fencing).
//!
//! Invariants:
//! 1. Every owner and pending owner in a group's state is a member of the group.
//! 2. `generation` rises with every change of ownership.
//! 3. A committed offset is written only by the partition's owner.
//!
//! `store.rs` reads and writes the trees; `assign.rs` computes assignments; `check.rs` is
//! the groups' part of the integrity check. The group id counter is in `counters`.
//!
//! May call: the engine (transactions, liveness locks), the catalog (subscribed topics),
//! `counters`, `page` (the cursor and the values' fixed layouts) and `error`.

pub(crate) mod assign;
pub(crate) mod check;
pub(crate) mod kafka;
pub(crate) mod store;

use zerocopy::IntoBytes as _;

use crate::error::{Error, Result};
use crate::page::{Cursor, format, put_u16};

pub(crate) const TREE_GROUPS: &str = "group.groups";
pub(crate) const TREE_STATE: &str = "group.state";
pub(crate) const TREE_MEMBERS: &str = "group.members";
pub(crate) const TREE_OFFSETS: &str = "group.offsets";
pub(crate) const TREE_KAFKA: &str = "group.kafka";

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u16(
        out,
        u16::try_from(s.len()).expect("group strings are short"),
    );
    out.extend_from_slice(s.as_bytes());
}

fn get_str(c: &mut Cursor<'_>, tree: &'static str) -> Result<String> {
    let len = c.u16()?;
    String::from_utf8(c.take(usize::from(len))?.to_vec())
        .map_err(|_| Error::bad_value(tree, "string is not UTF-8"))
}

/// Runs a decoder over `bytes` and requires it to use them all; a value too short for
/// its fields, or with bytes left over, is a bad value of `tree`.
fn decode_whole<T>(
    tree: &'static str,
    bytes: &[u8],
    decode: impl FnOnce(&mut Cursor<'_>) -> Result<T>,
) -> Result<T> {
    let mut c = Cursor::new(bytes);
    let value = decode(&mut c).map_err(|e| match e {
        Error::Corrupt {
            kind: crate::CorruptionKind::BadLength,
            ..
        } => Error::bad_value(tree, "value is shorter than its fields"),
        other => other,
    })?;
    if c.remaining() != 0 {
        return Err(Error::bad_value(tree, "value is longer than its fields"));
    }
    Ok(value)
}

/// The group id of a 4-byte key of `group.groups` or `group.state`.
pub(crate) fn group_key_id(tree: &'static str, key: &[u8]) -> Result<u32> {
    key.try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| Error::bad_value(tree, "group key is not 4 bytes"))
}

/// The group id and member id of a 12-byte `group.members` key.
pub(crate) fn member_key_parts(key: &[u8]) -> Result<(u32, u64)> {
    let bytes: [u8; 12] = key
        .try_into()
        .map_err(|_| Error::bad_value(TREE_MEMBERS, "member key is not 12 bytes"))?;
    let (group, member) = bytes.split_at(4);
    Ok((
        u32::from_be_bytes(group.try_into().expect("4 bytes")),
        u64::from_be_bytes(member.try_into().expect("8 bytes")),
    ))
}

/// Key of a member.
pub(crate) fn member_key(group_id: u32, member_id: u64) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&group_id.to_be_bytes());
    key[4..].copy_from_slice(&member_id.to_be_bytes());
    key
}

/// Key of a committed offset.
pub(crate) fn offset_key(group_id: u32, topic_id: u32, partition: u32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&group_id.to_be_bytes());
    key[4..8].copy_from_slice(&topic_id.to_be_bytes());
    key[8..].copy_from_slice(&partition.to_be_bytes());
    key
}

/// Decodes the topic id and partition of a committed-offset key.
pub(crate) fn offset_key_parts(key: &[u8]) -> Result<(u32, u32)> {
    offset_key_all(key).map(|(_, topic_id, partition)| (topic_id, partition))
}

/// Decodes the group id, topic id and partition of a committed-offset key.
pub(crate) fn offset_key_all(key: &[u8]) -> Result<(u32, u32, u32)> {
    let bytes: [u8; 12] = key
        .try_into()
        .map_err(|_| Error::bad_value(TREE_OFFSETS, "committed-offset key is not 12 bytes"))?;
    let field = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    Ok((field(0), field(4), field(8)))
}

/// How partitions are spread over members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Assignor {
    /// Per topic, contiguous ranges of partitions (Kafka's `range`).
    #[default]
    Range,
    /// All partitions dealt out in turn (Kafka's `roundrobin`).
    RoundRobin,
    /// Balanced, moving as few partitions as possible (Kafka's cooperative sticky).
    Sticky,
}

impl Assignor {
    fn code(self) -> u8 {
        match self {
            Self::Range => 0,
            Self::RoundRobin => 1,
            Self::Sticky => 2,
        }
    }

    fn from_code(code: u8) -> Result<Self> {
        match code {
            0 => Ok(Self::Range),
            1 => Ok(Self::RoundRobin),
            2 => Ok(Self::Sticky),
            _ => Err(Error::bad_value(TREE_STATE, "unknown assignor")),
        }
    }
}

/// One member of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    /// When the member last showed it is alive (ms since the epoch).
    pub heartbeat_ms: u64,
    /// When the member last polled; a member stuck longer than `max_poll_ms` is dropped.
    pub polled_ms: u64,
    pub session_timeout_ms: u32,
    pub max_poll_ms: u32,
    /// The operating-system process id, for tools.
    pub pid: u32,
    /// Topic names the member subscribes to.
    pub topics: Vec<String>,
}

impl Member {
    pub fn encode(&self) -> Vec<u8> {
        let head = format::MemberHead {
            heartbeat_ms: self.heartbeat_ms.into(),
            polled_ms: self.polled_ms.into(),
            session_timeout_ms: self.session_timeout_ms.into(),
            max_poll_ms: self.max_poll_ms.into(),
            pid: self.pid.into(),
            topic_count: u16::try_from(self.topics.len()).expect("few topics").into(),
        };
        let topics_len = self.topics.iter().map(|t| t.len() + 2).sum::<usize>();
        let mut out = Vec::with_capacity(size_of::<format::MemberHead>() + topics_len);
        out.extend_from_slice(head.as_bytes());
        for t in &self.topics {
            put_str(&mut out, t);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        decode_whole(TREE_MEMBERS, bytes, |c| {
            let head: &format::MemberHead = c.read()?;
            let mut m = Self {
                heartbeat_ms: head.heartbeat_ms.get(),
                polled_ms: head.polled_ms.get(),
                session_timeout_ms: head.session_timeout_ms.get(),
                max_poll_ms: head.max_poll_ms.get(),
                pid: head.pid.get(),
                topics: Vec::new(),
            };
            for _ in 0..head.topic_count.get() {
                m.topics.push(get_str(c, TREE_MEMBERS)?);
            }
            Ok(m)
        })
    }

    /// True if the member has shown no sign of life within its limits.
    pub fn expired(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.heartbeat_ms) > u64::from(self.session_timeout_ms)
            || now_ms.saturating_sub(self.polled_ms) > u64::from(self.max_poll_ms)
    }
}

/// Who owns one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    pub topic_id: u32,
    pub partition: u32,
    /// The member that owns the partition now.
    pub member: u64,
    /// The member the assignment moves it to, once the owner releases it (0: none).
    pub pending: u64,
}

/// A group's assignment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupState {
    pub generation: u64,
    pub assignor: Assignor,
    /// Owned partitions, sorted by (topic id, partition).
    pub owners: Vec<Owner>,
}

impl GroupState {
    pub fn encode(&self) -> Vec<u8> {
        let head = format::GroupStateHead {
            generation: self.generation.into(),
            assignor: self.assignor.code(),
            count: u32::try_from(self.owners.len())
                .expect("owners fit u32")
                .into(),
        };
        let mut out = Vec::with_capacity(
            size_of::<format::GroupStateHead>() + self.owners.len() * size_of::<format::Owner>(),
        );
        out.extend_from_slice(head.as_bytes());
        for o in &self.owners {
            let owner = format::Owner {
                topic_id: o.topic_id.into(),
                partition: o.partition.into(),
                member: o.member.into(),
                pending: o.pending.into(),
            };
            out.extend_from_slice(owner.as_bytes());
        }
        out
    }

    /// Decodes a state; its owner entries must be in strictly increasing (topic id,
    /// partition) order, which [`GroupState::owner`] relies on.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        decode_whole(TREE_STATE, bytes, |c| {
            let head: &format::GroupStateHead = c.read()?;
            let assignor = Assignor::from_code(head.assignor)?;
            let count = head.count.get() as usize;
            if count > c.remaining() / size_of::<format::Owner>() {
                return Err(Error::bad_value(
                    TREE_STATE,
                    "owner count exceeds the value",
                ));
            }
            let mut owners: Vec<Owner> = Vec::with_capacity(count);
            for raw in c.slice::<format::Owner>(count)? {
                let owner = Owner {
                    topic_id: raw.topic_id.get(),
                    partition: raw.partition.get(),
                    member: raw.member.get(),
                    pending: raw.pending.get(),
                };
                if owners
                    .last()
                    .is_some_and(|o| (o.topic_id, o.partition) >= (owner.topic_id, owner.partition))
                {
                    return Err(Error::bad_value(TREE_STATE, "owners out of order"));
                }
                owners.push(owner);
            }
            Ok(Self {
                generation: head.generation.get(),
                assignor,
                owners,
            })
        })
    }

    /// Raises the generation by one; a generation at its largest value is damage (no
    /// group changes owners 2^64 - 1 times).
    pub fn next_generation(&mut self) -> Result<()> {
        self.generation = self
            .generation
            .checked_add(1)
            .ok_or_else(|| Error::bad_value(TREE_STATE, "generation is at its largest value"))?;
        Ok(())
    }

    /// The owner record of a partition.
    pub fn owner(&self, topic_id: u32, partition: u32) -> Option<&Owner> {
        self.owners
            .binary_search_by_key(&(topic_id, partition), |o| (o.topic_id, o.partition))
            .ok()
            .map(|i| &self.owners[i])
    }
}

/// A committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Committed {
    pub offset: u64,
    pub time_ms: u64,
    pub metadata: String,
}

impl Committed {
    pub fn encode(&self) -> Vec<u8> {
        let head = format::CommittedHead {
            offset: self.offset.into(),
            time_ms: self.time_ms.into(),
        };
        let mut out =
            Vec::with_capacity(size_of::<format::CommittedHead>() + 2 + self.metadata.len());
        out.extend_from_slice(head.as_bytes());
        put_str(&mut out, &self.metadata);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        decode_whole(TREE_OFFSETS, bytes, |c| {
            let head: &format::CommittedHead = c.read()?;
            Ok(Self {
                offset: head.offset.get(),
                time_ms: head.time_ms.get(),
                metadata: get_str(c, TREE_OFFSETS)?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let m = Member {
            heartbeat_ms: 5,
            polled_ms: 6,
            session_timeout_ms: 7,
            max_poll_ms: 8,
            pid: 9,
            topics: vec!["a".into(), "bb".into()],
        };
        assert_eq!(Member::decode(&m.encode()).expect("member"), m);
        assert!(m.expired(100));
        assert!(!m.expired(12));
        let s = GroupState {
            generation: 3,
            assignor: Assignor::Sticky,
            owners: vec![Owner {
                topic_id: 1,
                partition: 2,
                member: 3,
                pending: 0,
            }],
        };
        assert_eq!(GroupState::decode(&s.encode()).expect("state"), s);
        assert!(GroupState::decode(&s.encode()[..20]).is_err());
        let mut longer = s.encode();
        longer.push(0);
        assert!(GroupState::decode(&longer).is_err());
        let mut unordered = s.clone();
        unordered.owners.push(unordered.owners[0]);
        assert!(GroupState::decode(&unordered.encode()).is_err());
        let c = Committed {
            offset: 42,
            time_ms: 1,
            metadata: "m".into(),
        };
        assert_eq!(Committed::decode(&c.encode()).expect("committed"), c);
        assert_eq!(offset_key_parts(&offset_key(1, 2, 3)).expect("key"), (2, 3));
    }
}
