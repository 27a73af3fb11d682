//! Consumer groups of Kafka clients: the broker's side of Kafka's group protocol, in
//! memory (members, generations, the leader, the rebalance and session timeouts; the
//! assignment is the clients' own), and committed offsets in the file's groups, where
//! `brooklet group describe` shows them and their lag.
//!
//! A rebalance starts when a member joins, leaves or misses its session timeout: every
//! member must join again (heartbeats answer `REBALANCE_IN_PROGRESS`) before the
//! rebalance timeout, or it is removed. Then the generation rises, the leader gets the
//! members' metadata, and its `SyncGroup` hands every member its assignment. Expiry is
//! checked whenever a member of the group calls, and by the once-a-second sweep of
//! `group_admin.rs`, which records the members in the file.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;

use crate::db::KafkaHost;

/// Record writes queued at most; past it a change waits for the sweep (membership) or
/// the group's next change.
const CHANGES_MAX: usize = 4096;

/// The longest a rebalance waits for members, whatever they ask.
const REBALANCE_MAX: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No members.
    Empty,
    /// Waiting for every member to join again.
    Joining,
    /// Joined; waiting for the leader's assignment.
    Syncing,
    /// Every member has its assignment.
    Stable,
}

#[derive(Debug)]
struct Member {
    /// The static member's `group.instance.id`.
    instance_id: Option<String>,
    /// The client id of its join.
    client_id: String,
    /// Where it connected from.
    client_host: String,
    protocols: Vec<(String, Bytes)>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    last_seen: Instant,
    /// Joined the rebalance in progress.
    joined: bool,
    assignment: Bytes,
}

#[derive(Debug)]
struct Group {
    phase: Phase,
    generation: i32,
    protocol_type: String,
    protocol: String,
    leader: String,
    members: BTreeMap<String, Member>,
    /// When the rebalance in progress gives up on members that have not joined.
    deadline: Instant,
    /// Bumped at every change, to wake members waiting in join or sync.
    changed: watch::Sender<u64>,
}

/// Every group the server coordinates.
#[derive(Debug)]
pub(super) struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
    next_member: Mutex<u64>,
    /// The liveness lock that keeps the groups' records in the file live.
    pub(super) host: Arc<KafkaHost>,
    /// The member ids last recorded in the file, by group; held while a group's record
    /// is written, so records reach the file in the order of the states they copy
    /// (`group_admin.rs`).
    pub(super) writes: tokio::sync::Mutex<BTreeMap<String, Vec<String>>>,
    /// Groups whose record is to be written again, for the server's recorder task: a
    /// request never waits for that write.
    pub(super) changes: tokio::sync::mpsc::Sender<String>,
    changes_rx: Mutex<Option<tokio::sync::mpsc::Receiver<String>>>,
}

/// Who sent a join: the client id of its request header, and its address.
#[derive(Clone, Debug, Default)]
pub(super) struct Client {
    pub id: String,
    pub host: String,
}

/// A group as `DescribeGroups` and `ListGroups` show it, and as its record in the file
/// holds it.
#[derive(Clone, Debug, Default)]
pub(super) struct GroupView {
    /// Kafka's name of the group's state.
    pub state: &'static str,
    pub generation: i32,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberView>,
}

/// A member of a [`GroupView`].
#[derive(Clone, Debug, Default)]
pub(super) struct MemberView {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Its metadata for the group's protocol.
    pub metadata: Bytes,
    pub assignment: Bytes,
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Group {
    fn new() -> Self {
        Self {
            phase: Phase::Empty,
            generation: 0,
            protocol_type: String::new(),
            protocol: String::new(),
            leader: String::new(),
            members: BTreeMap::new(),
            deadline: Instant::now(),
            changed: watch::channel(0).0,
        }
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Starts a rebalance: every member must join again.
    fn rebalance(&mut self, now: Instant) {
        if self.members.is_empty() {
            self.phase = Phase::Empty;
            self.bump();
            return;
        }
        if self.phase != Phase::Joining {
            self.phase = Phase::Joining;
            for member in self.members.values_mut() {
                member.joined = false;
            }
            let wait = self
                .members
                .values()
                .map(|m| m.rebalance_timeout)
                .max()
                .unwrap_or_default()
                .min(REBALANCE_MAX);
            self.deadline = now + wait;
        }
        self.bump();
    }

    /// Removes members past their session timeout (in a rebalance, those not waiting to
    /// join) and, at the deadline of a rebalance, members that did not join; then ends the
    /// rebalance if every member left has joined.
    fn tick(&mut self, now: Instant) {
        let before = self.members.len();
        if self.phase == Phase::Joining {
            if now >= self.deadline {
                self.members.retain(|_, m| m.joined);
            } else {
                // As Kafka's coordinator: a member that has not joined again yet is still
                // held to its session timeout (its heartbeats keep it), so a member that
                // died during a rebalance does not hold the others for the whole
                // rebalance timeout.
                self.members.retain(|_, m| {
                    m.joined || now.duration_since(m.last_seen) <= m.session_timeout
                });
            }
        } else {
            self.members
                .retain(|_, m| now.duration_since(m.last_seen) <= m.session_timeout);
        }
        if self.members.len() < before && self.phase != Phase::Joining {
            self.rebalance(now);
        }
        if self.phase == Phase::Joining && self.members.values().all(|m| m.joined) {
            self.complete();
        }
    }

    /// Ends a rebalance: a new generation, a leader, the protocol every member offers.
    fn complete(&mut self) {
        if self.members.is_empty() {
            self.phase = Phase::Empty;
            self.bump();
            return;
        }
        self.generation = self.generation.wrapping_add(1).max(1);
        if !self.members.contains_key(&self.leader) {
            self.leader = self.members.keys().next().cloned().unwrap_or_default();
        }
        let offered = self
            .members
            .get(&self.leader)
            .map(|m| {
                m.protocols
                    .iter()
                    .map(|(n, _)| n.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        self.protocol = offered
            .into_iter()
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .unwrap_or_default();
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
        }
        self.phase = Phase::Syncing;
        self.bump();
    }
}

impl Coordinator {
    pub(super) fn new(host: KafkaHost) -> Self {
        let (changes, changes_rx) = tokio::sync::mpsc::channel(CHANGES_MAX);
        Self {
            changes,
            changes_rx: Mutex::new(Some(changes_rx)),
            groups: Mutex::new(HashMap::new()),
            next_member: Mutex::new(0),
            host: Arc::new(host),
            writes: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The receiving end of [`Coordinator::changes`], once.
    pub(super) fn take_changes(&self) -> Option<tokio::sync::mpsc::Receiver<String>> {
        self.changes_rx.lock().expect("changes lock").take()
    }

    /// Group `name` as it is now, if it has members.
    pub(super) fn view(&self, name: &str) -> Option<GroupView> {
        let mut groups = self.groups.lock().expect("groups lock");
        let group = groups.get_mut(name)?;
        group.tick(Instant::now());
        if group.members.is_empty() {
            return None;
        }
        let members = group
            .members
            .iter()
            .map(|(id, m)| MemberView {
                member_id: id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: m
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == group.protocol)
                    .map(|(_, meta)| meta.clone())
                    .unwrap_or_default(),
                assignment: m.assignment.clone(),
            })
            .collect();
        Some(GroupView {
            state: match group.phase {
                Phase::Empty => "Empty",
                Phase::Joining => "PreparingRebalance",
                Phase::Syncing => "CompletingRebalance",
                Phase::Stable => "Stable",
            },
            generation: group.generation,
            protocol_type: group.protocol_type.clone(),
            protocol: group.protocol.clone(),
            members,
        })
    }

    /// The ids of group `name`'s members (none if it has none).
    pub(super) fn member_ids(&self, name: &str) -> Vec<String> {
        let mut groups = self.groups.lock().expect("groups lock");
        groups.get_mut(name).map_or_else(Vec::new, |group| {
            group.tick(Instant::now());
            group.members.keys().cloned().collect()
        })
    }

    /// The names of the groups that have members.
    pub(super) fn names(&self) -> Vec<String> {
        let mut groups = self.groups.lock().expect("groups lock");
        let now = Instant::now();
        groups
            .iter_mut()
            .filter_map(|(name, group)| {
                group.tick(now);
                (!group.members.is_empty()).then(|| name.clone())
            })
            .collect()
    }

    /// Forgets group `name` if it has no members; false if it has some.
    pub(super) fn forget(&self, name: &str) -> bool {
        let mut groups = self.groups.lock().expect("groups lock");
        if let Some(group) = groups.get_mut(name) {
            group.tick(Instant::now());
            if !group.members.is_empty() {
                return false;
            }
        }
        groups.remove(name);
        true
    }

    fn member_id(&self) -> String {
        let mut next = self.next_member.lock().expect("member counter lock");
        *next += 1;
        format!("brooklet-member-{next}")
    }

    /// `JoinGroup`: joins (or rejoins) and waits until the rebalance ends. `entered` is
    /// called once the member is in the group (or the join failed).
    pub(super) async fn join(
        &self,
        request: JoinGroupRequest,
        client: Client,
        entered: impl FnOnce(),
    ) -> JoinGroupResponse {
        let name = request.group_id.0.to_string();
        let failed =
            |error: ResponseError| JoinGroupResponse::default().with_error_code(error.code());
        if name.is_empty() {
            return failed(ResponseError::InvalidGroupId);
        }
        let member_id = if request.member_id.is_empty() {
            self.member_id()
        } else {
            request.member_id.to_string()
        };
        let mut changed = {
            let mut groups = self.groups.lock().expect("groups lock");
            let group = groups.entry(name.clone()).or_insert_with(Group::new);
            let now = Instant::now();
            group.tick(now);
            if !request.member_id.is_empty() && !group.members.contains_key(&member_id) {
                return failed(ResponseError::UnknownMemberId);
            }
            if !group.members.is_empty() && group.protocol_type != request.protocol_type.as_str() {
                return failed(ResponseError::InconsistentGroupProtocol);
            }
            group.protocol_type = request.protocol_type.to_string();
            let member = Member {
                instance_id: request.group_instance_id.as_ref().map(ToString::to_string),
                client_id: client.id,
                client_host: client.host,
                protocols: request
                    .protocols
                    .iter()
                    .map(|p| (p.name.to_string(), p.metadata.clone()))
                    .collect(),
                session_timeout: millis(request.session_timeout_ms),
                rebalance_timeout: millis(
                    request.rebalance_timeout_ms.max(request.session_timeout_ms),
                ),
                last_seen: now,
                joined: true,
                assignment: Bytes::new(),
            };
            group.members.insert(member_id.clone(), member);
            group.rebalance(now);
            if let Some(member) = group.members.get_mut(&member_id) {
                member.joined = true;
            }
            group.tick(now);
            group.changed.subscribe()
        };
        entered();
        loop {
            let deadline = {
                let mut groups = self.groups.lock().expect("groups lock");
                let Some(group) = groups.get_mut(&name) else {
                    return failed(ResponseError::UnknownMemberId);
                };
                group.tick(Instant::now());
                if !group.members.contains_key(&member_id) {
                    return failed(ResponseError::UnknownMemberId);
                }
                if group.phase != Phase::Joining {
                    return joined(group, &member_id);
                }
                changed.borrow_and_update();
                group.deadline
            };
            // At least every second, so that members that die meanwhile are noticed.
            let wait = (deadline.saturating_duration_since(Instant::now())
                + Duration::from_millis(5))
            .min(Duration::from_secs(1));
            let _ = tokio::time::timeout(wait, changed.changed()).await;
        }
    }

    /// `SyncGroup`: the leader hands out the assignment; every member waits for its own.
    pub(super) async fn sync(&self, request: SyncGroupRequest) -> SyncGroupResponse {
        let name = request.group_id.0.to_string();
        let member_id = request.member_id.to_string();
        let failed =
            |error: ResponseError| SyncGroupResponse::default().with_error_code(error.code());
        let mut changed = {
            let mut groups = self.groups.lock().expect("groups lock");
            let Some(group) = groups.get_mut(&name) else {
                return failed(ResponseError::UnknownMemberId);
            };
            let now = Instant::now();
            group.tick(now);
            if let Some(error) = check_member(group, &member_id, request.generation_id) {
                return failed(error);
            }
            if let Some(member) = group.members.get_mut(&member_id) {
                member.last_seen = now;
            }
            if member_id == group.leader && group.phase == Phase::Syncing {
                for assignment in &request.assignments {
                    if let Some(member) = group.members.get_mut(assignment.member_id.as_str()) {
                        member.assignment = assignment.assignment.clone();
                    }
                }
                group.phase = Phase::Stable;
                group.bump();
            }
            group.changed.subscribe()
        };
        loop {
            let wait = {
                let mut groups = self.groups.lock().expect("groups lock");
                let Some(group) = groups.get_mut(&name) else {
                    return failed(ResponseError::UnknownMemberId);
                };
                group.tick(Instant::now());
                if let Some(error) = check_member(group, &member_id, request.generation_id) {
                    return failed(error);
                }
                if group.phase == Phase::Stable {
                    let assignment = group
                        .members
                        .get(&member_id)
                        .map(|m| m.assignment.clone())
                        .unwrap_or_default();
                    return SyncGroupResponse::default()
                        .with_protocol_type(Some(text(&group.protocol_type)))
                        .with_protocol_name(Some(text(&group.protocol)))
                        .with_assignment(assignment);
                }
                changed.borrow_and_update();
                group
                    .members
                    .get(&member_id)
                    .map_or(Duration::ZERO, |m| m.session_timeout)
            };
            if tokio::time::timeout(wait, changed.changed()).await.is_err() {
                return failed(ResponseError::RebalanceInProgress);
            }
        }
    }

    /// `Heartbeat`: keeps a member alive, and tells it when to join again.
    pub(super) fn heartbeat(&self, request: &HeartbeatRequest) -> HeartbeatResponse {
        let name = request.group_id.0.to_string();
        let member_id = request.member_id.to_string();
        let mut groups = self.groups.lock().expect("groups lock");
        let error = match groups.get_mut(&name) {
            None => Some(ResponseError::UnknownMemberId),
            Some(group) => {
                let now = Instant::now();
                if let Some(member) = group.members.get_mut(&member_id) {
                    member.last_seen = now;
                }
                group.tick(now);
                check_member(group, &member_id, request.generation_id)
            }
        };
        HeartbeatResponse::default().with_error_code(error.map_or(0, |e| e.code()))
    }

    /// `LeaveGroup`: the member (or, from version 3, members) leave; the rest rebalance.
    pub(super) fn leave(&self, request: &LeaveGroupRequest) -> LeaveGroupResponse {
        let name = request.group_id.0.to_string();
        let mut leaving: Vec<String> = request
            .members
            .iter()
            .map(|m| m.member_id.to_string())
            .collect();
        if !request.member_id.is_empty() {
            leaving.push(request.member_id.to_string());
        }
        let mut groups = self.groups.lock().expect("groups lock");
        let Some(group) = groups.get_mut(&name) else {
            return LeaveGroupResponse::default()
                .with_error_code(ResponseError::UnknownMemberId.code());
        };
        let before = group.members.len();
        for id in &leaving {
            group.members.remove(id);
        }
        if group.members.len() < before {
            group.rebalance(Instant::now());
            group.tick(Instant::now());
        }
        LeaveGroupResponse::default()
    }

    /// Whether `member_id` at `generation` may commit offsets of group `name`: the
    /// generation -1 of a consumer outside the group always may; a member of the current
    /// generation may, except while the group waits for its leader's assignment.
    pub(super) fn may_commit(
        &self,
        name: &str,
        member_id: &str,
        generation: i32,
    ) -> Option<ResponseError> {
        if generation < 0 {
            return None;
        }
        let groups = self.groups.lock().expect("groups lock");
        match groups.get(name) {
            None => Some(ResponseError::IllegalGeneration),
            Some(group) if !group.members.contains_key(member_id) => {
                Some(ResponseError::UnknownMemberId)
            }
            Some(group) if group.generation != generation => Some(ResponseError::IllegalGeneration),
            // As Kafka's coordinator: while members join again their generation still
            // stands, so that they can commit what they processed before giving partitions
            // up; between the join and the leader's assignment none may.
            Some(group) if group.phase == Phase::Syncing => {
                Some(ResponseError::RebalanceInProgress)
            }
            Some(_) => None,
        }
    }
}

/// Why a member's call at `generation` is refused, if it is.
fn check_member(group: &Group, member_id: &str, generation: i32) -> Option<ResponseError> {
    if !group.members.contains_key(member_id) {
        Some(ResponseError::UnknownMemberId)
    } else if group.phase == Phase::Joining {
        Some(ResponseError::RebalanceInProgress)
    } else if generation != group.generation {
        Some(ResponseError::IllegalGeneration)
    } else {
        None
    }
}

/// The join response of a rebalance that ended: the leader also gets every member's
/// metadata for the chosen protocol.
fn joined(group: &Group, member_id: &str) -> JoinGroupResponse {
    let members = if member_id == group.leader {
        group
            .members
            .iter()
            .map(|(id, m)| {
                let metadata = m
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == group.protocol)
                    .map(|(_, meta)| meta.clone())
                    .unwrap_or_default();
                JoinGroupResponseMember::default()
                    .with_member_id(text(id))
                    .with_metadata(metadata)
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinGroupResponse::default()
        .with_generation_id(group.generation)
        .with_protocol_type(Some(text(&group.protocol_type)))
        .with_protocol_name(Some(text(&group.protocol)))
        .with_leader(text(&group.leader))
        .with_member_id(text(member_id))
        .with_members(members)
}
