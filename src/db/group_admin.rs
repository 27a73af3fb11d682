//! Consumer-group inspection for tools: list, describe, delete, and reset offsets.

use std::collections::{BTreeMap, BTreeSet};

use super::{Admin, Position, TopicPartition, now_ms};
use crate::error::{Error, Result};
use crate::group::kafka::{self, KafkaGroup};
use crate::group::store as groups;
use crate::group::{Assignor, GroupState, Member};
use crate::pager::Durability;

/// Which protocol a group member speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberKind {
    /// One of the file's own consumers ([`crate::Consumer`]), in any process.
    Embedded,
    /// A Kafka client in a group that `brooklet serve` coordinates; it is shown while the
    /// serving process runs.
    Kafka,
}

/// A member as shown by [`Admin::describe_group`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id: 16 hex digits for the file's own consumers, Kafka's member id for
    /// Kafka clients.
    pub id: String,
    /// The member's process id (for a Kafka client, the serving process's).
    pub pid: u32,
    /// Subscribed topics (for a Kafka client, the topics of its assignment).
    pub topics: Vec<String>,
    /// Last heartbeat, milliseconds since the epoch (for a Kafka client, when the server
    /// last recorded the group: at a rebalance's end or a leave).
    pub heartbeat_ms: u64,
    /// False once the member is past its session timeout or max poll interval (it is
    /// removed at the next rebalance).
    pub live: bool,
    /// The file's own consumer, or a Kafka client.
    pub kind: MemberKind,
    /// A Kafka client's client id; `None` for the file's own consumers.
    pub client_id: Option<String>,
    /// Where a Kafka client connected from; `None` for the file's own consumers.
    pub client_host: Option<String>,
    /// The partitions the member owns (a Kafka client: its assignment), in order.
    pub partitions: Vec<TopicPartition>,
}

/// One partition as shown by [`Admin::describe_group`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The group's committed offset, if any.
    pub committed: Option<u64>,
    /// The partition's end offset.
    pub end: u64,
    /// Records between the committed offset (or the log start, if none) and the end.
    pub lag: u64,
    /// The owning member's id, if a member owns it.
    pub owner: Option<String>,
}

/// A consumer group, from [`Admin::describe_group`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group: String,
    /// Rises with every change of partition ownership.
    pub generation: u64,
    /// How partitions are spread over members.
    pub assignor: Assignor,
    /// The members.
    pub members: Vec<MemberDescription>,
    /// Every partition the group subscribes to or has committed offsets for.
    pub partitions: Vec<GroupPartition>,
}

fn no_group(name: &str) -> Error {
    Error::UnknownGroup(name.to_owned())
}

fn hex(id: u64) -> String {
    format!("{id:016x}")
}

/// One of the file's own consumers, as a member (shown live; the caller decides).
fn embedded_member(
    id: u64,
    m: &Member,
    state: &GroupState,
    topic_name: &impl Fn(u32) -> Option<String>,
) -> MemberDescription {
    MemberDescription {
        id: hex(id),
        pid: m.pid,
        topics: m.topics.clone(),
        heartbeat_ms: m.heartbeat_ms,
        live: true,
        kind: MemberKind::Embedded,
        client_id: None,
        client_host: None,
        partitions: state
            .owners
            .iter()
            .filter(|o| o.member == id)
            .filter_map(|o| Some(TopicPartition::new(topic_name(o.topic_id)?, o.partition)))
            .collect(),
    }
}

/// The Kafka clients of a live `group.kafka` record, as members.
fn kafka_members(
    group: &KafkaGroup,
    topic_name: &impl Fn(u32) -> Option<String>,
) -> Vec<MemberDescription> {
    group
        .members
        .iter()
        .map(|m| {
            let partitions: Vec<TopicPartition> = m
                .partitions
                .iter()
                .filter_map(|&(topic_id, p)| Some(TopicPartition::new(topic_name(topic_id)?, p)))
                .collect();
            let topics: BTreeSet<String> = partitions.iter().map(|tp| tp.topic.clone()).collect();
            MemberDescription {
                id: m.member_id.clone(),
                pid: group.pid,
                topics: topics.into_iter().collect(),
                heartbeat_ms: group.updated_ms,
                live: true,
                kind: MemberKind::Kafka,
                client_id: Some(m.client_id.clone()),
                client_host: Some(m.client_host.clone()),
                partitions,
            }
        })
        .collect()
}

impl Admin {
    /// Every consumer group, by name.
    pub fn groups(&self) -> Result<Vec<String>> {
        self.db
            .with_snapshot(|read| Ok(groups::list(read)?.into_iter().map(|(_, n)| n).collect()))
    }

    /// A group's members, assignment, and per partition the committed offset, end and lag.
    /// Kafka clients of a group that `brooklet serve` coordinates are members too, of
    /// kind [`MemberKind::Kafka`], while the serving process runs.
    pub fn describe_group(&self, name: &str) -> Result<GroupDescription> {
        let now = now_ms().cast_unsigned();
        let engine = &self.db.inner.engine;
        self.db.with_snapshot(|read| {
            let id = groups::find(read, name)?.ok_or_else(|| no_group(name))?;
            let state = groups::state(read, id)?;
            let members = groups::members(read, id)?;
            let kafka_group = kafka::get_live(read, engine, id)?;
            let topics = crate::catalog::list(read)?;
            let topic_name = |topic_id: u32| {
                topics
                    .iter()
                    .find(|t| t.id == topic_id)
                    .map(|t| t.name.clone())
            };
            let mut wanted: BTreeSet<(u32, u32)> = BTreeSet::new();
            for m in members.values() {
                for t in topics.iter().filter(|t| m.topics.contains(&t.name)) {
                    wanted.extend((0..t.partitions).map(|p| (t.id, p)));
                }
            }
            let mut kafka_owners = BTreeMap::new();
            for m in kafka_group.iter().flat_map(|g| &g.members) {
                for &tp in &m.partitions {
                    kafka_owners.insert(tp, m.member_id.clone());
                }
            }
            wanted.extend(kafka_owners.keys().copied());
            wanted.extend(groups::committed_partitions(read, id)?);
            let owner = |topic_id: u32, p: u32| {
                state
                    .owner(topic_id, p)
                    .map(|o| hex(o.member))
                    .or_else(|| kafka_owners.get(&(topic_id, p)).cloned())
            };
            let mut partitions = Vec::new();
            for (topic_id, p) in wanted {
                let Some(topic) = topics.iter().find(|t| t.id == topic_id) else {
                    continue;
                };
                if p >= topic.partitions {
                    continue;
                }
                let pstate = crate::log::read::partition_state(read, topic_id, p)?;
                let committed = groups::committed(read, id, topic_id, p)?.map(|c| c.offset);
                let from = committed.unwrap_or(pstate.log_start).max(pstate.log_start);
                partitions.push(GroupPartition {
                    topic: topic.name.clone(),
                    partition: p,
                    committed,
                    end: pstate.next_offset,
                    lag: pstate.next_offset.saturating_sub(from),
                    owner: owner(topic_id, p),
                });
            }
            partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            let mut described = Vec::new();
            for (mid, m) in &members {
                let mut member = embedded_member(*mid, m, &state, &topic_name);
                member.live = !groups::is_gone(engine, *mid, m, now)?;
                described.push(member);
            }
            if let Some(group) = &kafka_group {
                described.extend(kafka_members(group, &topic_name));
            }
            Ok(GroupDescription {
                group: name.to_owned(),
                generation: state.generation,
                assignor: state.assignor,
                members: described,
                partitions,
            })
        })
    }

    /// Fails unless every member of the group (the file's own, and Kafka clients through
    /// a running `brooklet serve`) has expired or left.
    fn require_idle(
        &self,
        txn: &mut crate::engine::WriteTransaction,
        id: u32,
        name: &str,
    ) -> Result<()> {
        let now = now_ms().cast_unsigned();
        let engine = &self.db.inner.engine;
        let mut live = kafka::get_live(txn, engine, id)?.map_or(0, |g| g.members.len());
        for (mid, m) in groups::members(txn, id)? {
            if !groups::is_gone(engine, mid, &m, now)? {
                live += 1;
            }
        }
        if live > 0 {
            return Err(Error::invalid(format!(
                "consumer group {name:?} has {live} live member(s); stop them first"
            )));
        }
        Ok(())
    }

    /// Deletes a group and its committed offsets. The group must have no live members.
    pub fn delete_group(&self, name: &str) -> Result<()> {
        let mut txn = self.db.inner.engine.begin_write()?;
        let id = groups::find(&txn, name)?.ok_or_else(|| no_group(name))?;
        self.require_idle(&mut txn, id, name)?;
        groups::delete(&mut txn, id)?;
        txn.commit(Durability::Immediate)?;
        Ok(())
    }

    /// Moves a group's committed offsets, for every partition of `topic` (or of every topic
    /// the group has committed offsets for). The group must have no live members.
    /// Returns the new offsets.
    ///
    /// An explicit [`Position::Offset`] is clamped into each partition's range;
    /// [`Position::Committed`] is refused (there is nothing to move).
    pub fn reset_group_offsets(
        &self,
        name: &str,
        to: Position,
        topic: Option<&str>,
    ) -> Result<Vec<(TopicPartition, u64)>> {
        if to == Position::Committed {
            return Err(Error::invalid(
                "a group's offsets cannot be reset to Position::Committed",
            ));
        }
        let mut txn = self.db.inner.engine.begin_write()?;
        let id = groups::find(&txn, name)?.ok_or_else(|| no_group(name))?;
        self.require_idle(&mut txn, id, name)?;
        let mut targets: BTreeSet<(String, u32)> = BTreeSet::new();
        if let Some(t) = topic {
            let d = self.describe_topic(t)?;
            targets.extend(d.partitions.iter().map(|p| (t.to_owned(), p.partition)));
        } else {
            let names: std::collections::BTreeMap<u32, String> = self.topics_by_id()?;
            for (tid, p) in groups::committed_partitions(&txn, id)? {
                if let Some(n) = names.get(&tid) {
                    targets.insert((n.clone(), p));
                }
            }
        }
        let mut out = Vec::new();
        let mut resolved = Vec::new();
        for (t, p) in targets {
            let tp = TopicPartition::new(t.clone(), p);
            let offset = self
                .db
                .resolve(&tp, to, true, crate::Isolation::ReadCommitted)?;
            let meta = self
                .db
                .inner
                .catalog
                .lock()
                .expect("catalog lock")
                .lookup(&txn, &t)?;
            resolved.push((meta, p, offset, String::new()));
            out.push((tp, offset));
        }
        groups::commit_offsets(
            &mut txn,
            id,
            name,
            None,
            &resolved,
            now_ms().cast_unsigned(),
        )?;
        txn.commit(Durability::Immediate)?;
        Ok(out)
    }

    fn topics_by_id(&self) -> Result<std::collections::BTreeMap<u32, String>> {
        self.db.with_snapshot(|read| {
            Ok(crate::catalog::list(read)?
                .into_iter()
                .map(|t| (t.id, t.name))
                .collect())
        })
    }
}

impl super::Brooklet {
    /// Stores committed offsets of group `name` (created if missing) for a consumer that
    /// is not one of the file's members: a Kafka client's, whose group the Kafka-protocol
    /// server coordinates in memory. One durable commit; `brooklet group describe` shows
    /// the offsets and lag. Each offset is `(topic, partition, offset, metadata)`.
    /// Fails with [`Error::InconsistentGroupProtocol`] while the file's own consumers are
    /// live members of the group: only a partition's owner commits its offset.
    #[cfg_attr(
        not(feature = "serve"),
        expect(dead_code, reason = "the Kafka-protocol server's offset commits")
    )]
    pub(crate) fn commit_external_offsets(
        &self,
        name: &str,
        offsets: &[(String, u32, u64, String)],
    ) -> Result<()> {
        let mut txn = self.inner.engine.begin_write()?;
        let id = groups::find_or_create(&mut txn, name, Assignor::Range)?;
        let now = now_ms().cast_unsigned();
        let live = kafka::live_embedded_members(&txn, &self.inner.engine, id, now)?;
        if live > 0 {
            return Err(Error::InconsistentGroupProtocol(format!(
                "consumer group {name:?} has {live} live member(s) of the file's own consumers, \
                 which own its partitions: a Kafka client cannot commit its offsets"
            )));
        }
        let mut resolved = Vec::with_capacity(offsets.len());
        for (topic, partition, offset, metadata) in offsets {
            let meta = self
                .inner
                .catalog
                .lock()
                .expect("catalog lock")
                .lookup(&txn, topic)?;
            Self::check_partition(&meta, *partition)?;
            resolved.push((meta, *partition, *offset, metadata.clone()));
        }
        groups::commit_offsets(&mut txn, id, name, None, &resolved, now)?;
        txn.commit(Durability::Immediate)?;
        Ok(())
    }

    /// The committed offset of each `(topic, partition)` of group `name` (`None` where
    /// none is, or the group or topic does not exist).
    #[cfg_attr(
        not(feature = "serve"),
        expect(dead_code, reason = "the Kafka-protocol server's offset fetches")
    )]
    pub(crate) fn external_offsets(
        &self,
        name: &str,
        partitions: &[(String, u32)],
    ) -> Result<Vec<Option<(u64, String)>>> {
        self.with_snapshot(|read| {
            let Some(id) = groups::find(read, name)? else {
                return Ok(vec![None; partitions.len()]);
            };
            let mut out = Vec::with_capacity(partitions.len());
            for (topic, partition) in partitions {
                let meta = match self.topic_in(read, topic) {
                    Ok(meta) => meta,
                    Err(Error::UnknownTopic(_)) => {
                        out.push(None);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                out.push(
                    groups::committed(read, id, meta.id, *partition)?
                        .map(|c| (c.offset, c.metadata)),
                );
            }
            Ok(out)
        })
    }
}
