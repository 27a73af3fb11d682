//! Consumer groups between the server's memory and the file: `JoinGroup`, `SyncGroup`
//! and `LeaveGroup` as `groups.rs` answers them, with each group's members recorded in
//! the file (`group.kafka`) so that `brooklet group describe` in another process shows
//! them; and `ListGroups`, `DescribeGroups`, `DeleteGroups` over both the server's groups
//! and the file's own.
//!
//! A group's record is written when the first member joins (claiming the group: a group
//! with live members of the file's own consumers is refused with
//! `INCONSISTENT_GROUP_PROTOCOL`), when its leader hands out an assignment, and when a
//! member leaves (or a sweep every second finds members the server dropped at their
//! session timeout); never per heartbeat. Only the claim is written in the request;
//! the other writes are queued for the recorder task ([`sweep`]), so that a request
//! never waits for the file's writer lock. The writes are serialized by the coordinator's
//! `writes` lock, and each copies the group's state after taking it, so the file ends
//! with the latest state.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, GroupId, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, RequestHeader, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable as _, Encodable as _, StrBytes};
use tokio::sync::watch;

use super::Context;
use super::blocking::{code, run};
use super::groups::{Client, GroupView};
use crate::db::{GroupDescription, KafkaClient, KafkaGroupView, MemberKind};
use crate::error::Error;
use crate::group::Assignor;

tokio::task_local! {
    /// The address of the connection a request came on.
    pub(super) static PEER: Option<std::net::SocketAddr>;
}

/// The protocol type of Kafka's consumers, whose assignments the server can read.
const CONSUMER: &str = "consumer";

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Where the request came from, as Kafka's broker writes it (`/127.0.0.1`).
fn peer_host() -> String {
    PEER.try_with(|peer| peer.map(|a| format!("/{}", a.ip())))
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// `JoinGroup`: claims the group in the file when it has no members yet, then joins.
pub(super) async fn join(
    context: &Context,
    request: JoinGroupRequest,
    header: &RequestHeader,
) -> JoinGroupResponse {
    let name = request.group_id.0.to_string();
    let failed = |error: ResponseError| JoinGroupResponse::default().with_error_code(error.code());
    let client = Client {
        id: header
            .client_id
            .as_ref()
            .map_or_else(String::new, ToString::to_string),
        host: peer_host(),
    };
    let mut writes = context.groups.writes.lock().await;
    if !name.is_empty() && context.groups.view(&name).is_none() {
        let claim = KafkaGroupView {
            protocol_type: request.protocol_type.to_string(),
            ..KafkaGroupView::default()
        };
        if let Err(e) = record(context, &name, Some(claim)).await {
            return failed(match e {
                Error::InconsistentGroupProtocol(_) => ResponseError::InconsistentGroupProtocol,
                Error::InvalidArgument(_) => ResponseError::InvalidGroupId,
                _ => ResponseError::CoordinatorNotAvailable,
            });
        }
        writes.insert(name.clone(), Vec::new());
    }
    let response = context
        .groups
        .join(request, client, move || drop(writes))
        .await;
    if response.error_code != 0 && context.groups.view(&name).is_none() {
        queue(context, name);
    }
    response
}

/// `SyncGroup`; the leader's hand-out of the assignment is recorded in the file.
pub(super) async fn sync(context: &Context, request: SyncGroupRequest) -> SyncGroupResponse {
    let name = request.group_id.0.to_string();
    let assigns = !request.assignments.is_empty();
    let response = context.groups.sync(request).await;
    if assigns && response.error_code == 0 {
        queue(context, name);
    }
    response
}

/// `LeaveGroup`; the members left are recorded in the file (none: the record goes).
pub(super) fn leave(context: &Context, request: &LeaveGroupRequest) -> LeaveGroupResponse {
    let name = request.group_id.0.to_string();
    let response = context.groups.leave(request);
    queue(context, name);
    response
}

/// Queues group `name`'s record to be written by the recorder ([`sweep`]), so that no
/// request waits for the file's writer lock behind busy producers (a leader's
/// `SyncGroup` that waited could miss its session timeout). A full queue drops it: the
/// sweep still finds membership changes.
fn queue(context: &Context, name: String) {
    let _ = context.groups.changes.try_send(name);
}

/// Writes group `name`'s record as the group is now.
async fn persist(context: &Context, name: &str) {
    let mut recorded = context.groups.writes.lock().await;
    let view = context.groups.view(name);
    let ids: Option<Vec<String>> = view
        .as_ref()
        .map(|v| v.members.iter().map(|m| m.member_id.clone()).collect());
    // A failed write leaves the previous record; the next change, or the sweep, writes
    // it again.
    if record(context, name, view.as_ref().map(file_view))
        .await
        .is_ok()
    {
        match ids {
            Some(ids) => recorded.insert(name.to_owned(), ids),
            None => recorded.remove(name),
        };
    }
}

/// How often [`sweep`] looks for members the server dropped without a call.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The recorder, until `stop`: writes the records of queued groups, and rewrites the
/// record of every group whose members differ from those recorded, as when members miss
/// their session timeout and no one else of the group calls (Kafka's broker expires them
/// by its own timer, too). At `stop` it writes what is still queued.
pub(super) async fn sweep(context: Arc<Context>, mut stop: watch::Receiver<bool>) {
    let Some(mut changes) = context.groups.take_changes() else {
        return;
    };
    let mut every = tokio::time::interval(SWEEP_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            Some(name) = changes.recv() => {
                persist(&context, &name).await;
                continue;
            }
            _ = stop.changed() => {
                while let Ok(name) = changes.try_recv() {
                    persist(&context, &name).await;
                }
                return;
            }
        }
        let stale: Vec<String> = {
            let recorded = context.groups.writes.lock().await;
            recorded
                .iter()
                .filter(|(name, ids)| context.groups.member_ids(name) != **ids)
                .map(|(name, _)| name.clone())
                .collect()
        };
        for name in stale {
            persist(&context, &name).await;
        }
    }
}

async fn record(context: &Context, name: &str, view: Option<KafkaGroupView>) -> crate::Result<()> {
    let (db, host, name) = (
        context.db.clone(),
        Arc::clone(&context.groups.host),
        name.to_owned(),
    );
    run(move || db.record_kafka_group(&host, &name, view.as_ref())).await
}

/// A group as its record holds it: assignments are read where the protocol is Kafka's
/// consumer protocol.
fn file_view(view: &GroupView) -> KafkaGroupView {
    let consumer = view.protocol_type == CONSUMER;
    KafkaGroupView {
        generation: view.generation,
        protocol_type: view.protocol_type.clone(),
        protocol: view.protocol.clone(),
        members: view
            .members
            .iter()
            .map(|m| KafkaClient {
                member_id: m.member_id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                assigned: if consumer {
                    assigned(&m.assignment)
                } else {
                    Vec::new()
                },
            })
            .collect(),
    }
}

/// The partitions of a consumer-protocol assignment (a version, then the body); none if
/// it does not decode.
fn assigned(assignment: &Bytes) -> Vec<(String, u32)> {
    let mut buf = assignment.clone();
    if buf.remaining() < 2 {
        return Vec::new();
    }
    // Later versions only add fields after those of version 3.
    let version = buf.get_i16().clamp(0, 3);
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        ConsumerProtocolAssignment::decode(&mut buf, version)
    }));
    let Ok(Ok(decoded)) = decoded else {
        return Vec::new();
    };
    decoded
        .assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter_map(|&p| Some((t.topic.0.to_string(), u32::try_from(p).ok()?)))
        })
        .collect()
}

/// A consumer-protocol assignment (version 0) of `partitions`.
fn assignment_of(partitions: &[crate::TopicPartition]) -> Bytes {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        if let Ok(p) = i32::try_from(tp.partition) {
            topics.entry(&tp.topic).or_default().push(p);
        }
    }
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        topics
            .into_iter()
            .map(|(topic, partitions)| {
                AssignedTopic::default()
                    .with_topic(TopicName(text(topic)))
                    .with_partitions(partitions)
            })
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    if assignment.encode(&mut buf, 0).is_err() {
        return Bytes::new();
    }
    buf.freeze()
}

/// A group of the file (not one of this server's): its state and members as Kafka shows
/// them.
fn file_group(d: &GroupDescription) -> (&'static str, Vec<DescribedGroupMember>) {
    let members: Vec<DescribedGroupMember> = d
        .members
        .iter()
        .filter(|m| m.live)
        .map(|m| {
            let (client_id, host) = match m.kind {
                MemberKind::Kafka => (
                    m.client_id.clone().unwrap_or_default(),
                    m.client_host.clone().unwrap_or_default(),
                ),
                _ => ("brooklet".to_owned(), String::new()),
            };
            DescribedGroupMember::default()
                .with_member_id(text(&m.id))
                .with_client_id(text(&client_id))
                .with_client_host(text(&host))
                .with_member_assignment(assignment_of(&m.partitions))
        })
        .collect();
    let state = if members.is_empty() {
        "Empty"
    } else {
        "Stable"
    };
    (state, members)
}

fn assignor_name(assignor: Assignor) -> &'static str {
    match assignor {
        Assignor::RoundRobin => "roundrobin",
        Assignor::Sticky => "cooperative-sticky",
        _ => "range",
    }
}

/// `ListGroups`: the server's groups with members, and every group of the file; from
/// version 4, only those in the states asked for.
pub(super) async fn list(context: &Context, request: ListGroupsRequest) -> ListGroupsResponse {
    let mut listed: BTreeMap<String, (String, &'static str)> = BTreeMap::new();
    for name in context.groups.names() {
        if let Some(view) = context.groups.view(&name) {
            listed.insert(name, (view.protocol_type, view.state));
        }
    }
    let db = context.db.clone();
    let known: Vec<String> = listed.keys().cloned().collect();
    let found = run(move || {
        let admin = db.admin();
        let mut out = Vec::new();
        for name in admin.groups()? {
            if known.contains(&name) {
                continue;
            }
            match admin.describe_group(&name) {
                Ok(d) => out.push((name, file_group(&d).0)),
                Err(Error::UnknownGroup(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    })
    .await;
    match found {
        Ok(found) => {
            for (name, state) in found {
                listed.insert(name, (CONSUMER.to_owned(), state));
            }
        }
        Err(e) => {
            return ListGroupsResponse::default()
                .with_error_code(code(&e, ResponseError::UnknownServerError));
        }
    }
    let wanted: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    let groups = listed
        .into_iter()
        .filter(|(_, (_, state))| wanted.is_empty() || wanted.contains(&state.to_lowercase()))
        .map(|(name, (protocol_type, state))| {
            ListedGroup::default()
                .with_group_id(GroupId(text(&name)))
                .with_protocol_type(text(&protocol_type))
                .with_group_state(StrBytes::from_static_str(state))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

/// `DescribeGroups`: a group of this server from memory (members with their metadata and
/// assignment), any other from the file; an unknown group is `Dead`, as Kafka shows it.
pub(super) async fn describe(
    context: &Context,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let mut groups = Vec::with_capacity(request.groups.len());
    for group_id in request.groups {
        let name = group_id.0.to_string();
        let described = DescribedGroup::default().with_group_id(group_id);
        if name.is_empty() {
            groups.push(described.with_error_code(ResponseError::InvalidGroupId.code()));
            continue;
        }
        if let Some(view) = context.groups.view(&name) {
            let members = view
                .members
                .iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(text(&m.member_id))
                        .with_group_instance_id(m.instance_id.as_deref().map(text))
                        .with_client_id(text(&m.client_id))
                        .with_client_host(text(&m.client_host))
                        .with_member_metadata(m.metadata.clone())
                        .with_member_assignment(m.assignment.clone())
                })
                .collect();
            groups.push(
                described
                    .with_group_state(StrBytes::from_static_str(view.state))
                    .with_protocol_type(text(&view.protocol_type))
                    .with_protocol_data(text(&view.protocol))
                    .with_members(members),
            );
            continue;
        }
        let db = context.db.clone();
        let found = run(move || db.admin().describe_group(&name)).await;
        groups.push(match found {
            Ok(d) => {
                let (state, members) = file_group(&d);
                let embedded = d.members.iter().any(|m| m.kind == MemberKind::Embedded);
                let protocol = if embedded {
                    assignor_name(d.assignor)
                } else {
                    ""
                };
                described
                    .with_group_state(StrBytes::from_static_str(state))
                    .with_protocol_type(text(CONSUMER))
                    .with_protocol_data(text(protocol))
                    .with_members(members)
            }
            Err(Error::UnknownGroup(_)) => {
                described.with_group_state(StrBytes::from_static_str("Dead"))
            }
            Err(e) => described.with_error_code(code(&e, ResponseError::UnknownServerError)),
        });
    }
    DescribeGroupsResponse::default().with_groups(groups)
}

/// `DeleteGroups`: deletes a group's committed offsets (and the group) when it has no
/// live members: `NON_EMPTY_GROUP` otherwise, `GROUP_ID_NOT_FOUND` when it is unknown.
pub(super) async fn delete(
    context: &Context,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        let name = group_id.0.to_string();
        let error = if name.is_empty() {
            ResponseError::InvalidGroupId.code()
        } else {
            let mut recorded = context.groups.writes.lock().await;
            if context.groups.forget(&name) {
                // This server's record of the group goes first (its last member may
                // have left with the write still queued).
                if recorded.remove(&name).is_some() {
                    let _ = record(context, &name, None).await;
                }
                let db = context.db.clone();
                match run(move || db.admin().delete_group(&name)).await {
                    Ok(()) => 0,
                    Err(Error::UnknownGroup(_)) => ResponseError::GroupIdNotFound.code(),
                    Err(Error::InvalidArgument(_)) => ResponseError::NonEmptyGroup.code(),
                    Err(e) => code(&e, ResponseError::UnknownServerError),
                }
            } else {
                ResponseError::NonEmptyGroup.code()
            }
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(error),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
