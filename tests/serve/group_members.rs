//! Consumer groups of Kafka clients as the file shows them: `ListGroups`,
//! `DescribeGroups` and `DeleteGroups`; members that another handle sees while they are
//! in the group and not after they left or the server went away; and a group that is
//! refused to one protocol while the other has live members in it.

use brooklet::{Brooklet, ConsumerOptions, Error, MemberKind, TopicConfig, TopicPartition};
use bytes::{BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Assigned;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, DeleteGroupsRequest, DeleteGroupsResponse,
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
    OffsetCommitRequest, OffsetCommitResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::{Encodable as _, StrBytes};

use crate::harness::{Client, Served, name, serve};

const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;

fn group_id(name: &str) -> GroupId {
    GroupId(StrBytes::from_string(name.to_owned()))
}

fn join(client: &mut Client, group: &str) -> JoinGroupResponse {
    join_with_timeout(client, group, 10_000)
}

fn join_with_timeout(client: &mut Client, group: &str, session_ms: i32) -> JoinGroupResponse {
    let request = JoinGroupRequest::default()
        .with_group_id(group_id(group))
        .with_session_timeout_ms(session_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(StrBytes::from_static_str(""))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(b"meta")),
        ]);
    client.call(ApiKey::JoinGroup, 5, &request)
}

/// Kafka's consumer-protocol assignment (version 1) of `partitions` of `topic`.
fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
        Assigned::default()
            .with_topic(name(topic))
            .with_partitions(partitions.to_vec()),
    ]);
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    assignment.encode(&mut buf, 1).expect("encode");
    buf.freeze()
}

/// One member joins `group` and, as its leader, takes `orders` 0 and 1.
fn join_and_sync(client: &mut Client, group: &str) -> JoinGroupResponse {
    join_and_sync_with_timeout(client, group, 10_000)
}

fn join_and_sync_with_timeout(
    client: &mut Client,
    group: &str,
    session_ms: i32,
) -> JoinGroupResponse {
    let joined = join_with_timeout(client, group, session_ms);
    assert_eq!(joined.error_code, 0);
    let sync = SyncGroupRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(joined.member_id.clone())
                .with_assignment(assignment("orders", &[0, 1])),
        ]);
    let synced: SyncGroupResponse = client.call(ApiKey::SyncGroup, 3, &sync);
    assert_eq!(synced.error_code, 0);
    joined
}

fn leave(client: &mut Client, group: &str, member: &StrBytes) {
    let leave = LeaveGroupRequest::default()
        .with_group_id(group_id(group))
        .with_member_id(member.clone());
    let left: LeaveGroupResponse = client.call(ApiKey::LeaveGroup, 1, &leave);
    assert_eq!(left.error_code, 0);
}

/// Commits offset `offset` of `orders` 0 for `group` from outside the group.
fn commit(client: &mut Client, group: &str, offset: i64) {
    assert_eq!(try_commit(client, group, offset), 0);
}

/// The error code of a commit of offset `offset` of `orders` 0 for `group`, from outside
/// the group.
fn try_commit(client: &mut Client, group: &str, offset: i64) -> i16 {
    let commit = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(name("orders"))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset),
                ]),
        ]);
    let committed: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 7, &commit);
    committed.topics[0].partitions[0].error_code
}

fn served_with_orders() -> Served {
    let served = serve();
    served
        .db
        .admin()
        .create_topic("orders", 2, TopicConfig::default())
        .expect("create");
    served
}

fn list(client: &mut Client, states: &[&str]) -> Vec<(String, String, String)> {
    let request = ListGroupsRequest::default().with_states_filter(
        states
            .iter()
            .map(|s| StrBytes::from_string((*s).to_owned()))
            .collect(),
    );
    let listed: ListGroupsResponse = client.call(ApiKey::ListGroups, 4, &request);
    assert_eq!(listed.error_code, 0);
    listed
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.0.to_string(),
                g.protocol_type.to_string(),
                g.group_state.to_string(),
            )
        })
        .collect()
}

fn delete(client: &mut Client, groups: &[&str]) -> Vec<i16> {
    let request = DeleteGroupsRequest::default()
        .with_groups_names(groups.iter().map(|g| group_id(g)).collect());
    let deleted: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, 2, &request);
    deleted.results.iter().map(|r| r.error_code).collect()
}

/// The Kafka-protocol members of `group` as a handle sees it: (id, client id, partitions).
fn kafka_members(db: &Brooklet, group: &str) -> Vec<(String, Option<String>, Vec<TopicPartition>)> {
    db.admin()
        .describe_group(group)
        .expect("describe")
        .members
        .into_iter()
        .filter(|m| m.kind == MemberKind::Kafka)
        .map(|m| (m.id, m.client_id, m.partitions))
        .collect()
}

/// Waits (a bounded number of rounds) until `count` Kafka-protocol members of `group`
/// are recorded: the server writes a group's record after the request that changed it.
fn wait_for_kafka_members(db: &Brooklet, group: &str, count: usize) {
    let mut rounds = 0;
    while kafka_members(db, group).len() != count {
        rounds += 1;
        assert!(rounds < 3000, "{count} members never recorded in {group}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn orders(partitions: &[u32]) -> Vec<TopicPartition> {
    partitions
        .iter()
        .map(|&p| TopicPartition::new("orders", p))
        .collect()
}

#[test]
fn groups_are_listed_described_and_deleted() {
    let served = served_with_orders();
    let mut client = served.connect();
    let joined = join_and_sync(&mut client, "billing");
    commit(&mut client, "archive", 3);

    let all = list(&mut client, &[]);
    assert_eq!(
        all,
        [
            ("archive".into(), "consumer".into(), "Empty".into()),
            ("billing".into(), "consumer".into(), "Stable".into()),
        ]
    );
    let stable = list(&mut client, &["stable"]);
    assert_eq!(stable.len(), 1);
    assert_eq!(stable[0].0, "billing");

    let request = DescribeGroupsRequest::default().with_groups(vec![
        group_id("billing"),
        group_id("archive"),
        group_id("nobody"),
    ]);
    let described: DescribeGroupsResponse = client.call(ApiKey::DescribeGroups, 5, &request);
    let [billing, archive, nobody] = &described.groups[..] else {
        panic!("three groups: {described:?}");
    };
    assert_eq!(billing.error_code, 0);
    assert_eq!(billing.group_state.as_str(), "Stable");
    assert_eq!(billing.protocol_type.as_str(), "consumer");
    assert_eq!(billing.protocol_data.as_str(), "range");
    assert_eq!(billing.members.len(), 1);
    let member = &billing.members[0];
    assert_eq!(member.member_id, joined.member_id);
    assert_eq!(member.client_id.as_str(), "serve-test");
    assert_eq!(member.client_host.as_str(), "/127.0.0.1");
    assert_eq!(&member.member_metadata[..], b"meta");
    assert_eq!(member.member_assignment, assignment("orders", &[0, 1]));
    assert_eq!(
        (archive.group_state.as_str(), archive.members.len()),
        ("Empty", 0)
    );
    assert_eq!(nobody.group_state.as_str(), "Dead");

    assert_eq!(
        delete(&mut client, &["billing", "archive", "nobody"]),
        [NON_EMPTY_GROUP, 0, GROUP_ID_NOT_FOUND]
    );
    wait_for_kafka_members(&served.db, "billing", 1);
    leave(&mut client, "billing", &joined.member_id);
    assert_eq!(delete(&mut client, &["billing"]), [0]);
    assert!(matches!(
        served.db.admin().describe_group("billing"),
        Err(Error::UnknownGroup(_))
    ));
    assert_eq!(list(&mut client, &[]), []);
    served.stop();
}

#[test]
fn another_handle_sees_kafka_members_until_they_leave() {
    let served = served_with_orders();
    let other = Brooklet::open(served.path()).expect("another handle");
    let mut client = served.connect();
    let joined = join_and_sync(&mut client, "billing");
    commit(&mut client, "billing", 5);
    let member = joined.member_id.to_string();
    wait_for_kafka_members(&other, "billing", 1);
    assert_eq!(
        kafka_members(&other, "billing"),
        [(
            member.clone(),
            Some("serve-test".to_owned()),
            orders(&[0, 1])
        )]
    );
    let described = other.admin().describe_group("billing").expect("describe");
    let owners: Vec<Option<String>> = described
        .partitions
        .iter()
        .map(|p| p.owner.clone())
        .collect();
    assert_eq!(owners, [Some(member.clone()), Some(member)]);

    leave(&mut client, "billing", &joined.member_id);
    wait_for_kafka_members(&other, "billing", 0);
    let described = other
        .admin()
        .describe_group("billing")
        .expect("offsets stay");
    assert_eq!(described.partitions[0].committed, Some(5));
    served.stop();
    assert!(other.admin().check().expect("check").is_clean());
}

#[test]
fn a_member_past_its_session_timeout_is_gone_from_the_file() {
    let served = served_with_orders();
    let other = Brooklet::open(served.path()).expect("another handle");
    let mut client = served.connect();
    join_and_sync_with_timeout(&mut client, "billing", 5_000);
    wait_for_kafka_members(&other, "billing", 1);
    // No heartbeat follows: the server drops the member at its session timeout, with
    // no call from the group, and its sweep rewrites the record.
    let mut rounds = 0;
    while !kafka_members(&other, "billing").is_empty() {
        rounds += 1;
        assert!(rounds < 3000, "the expired member is still recorded");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    served.stop();
}

#[test]
fn kafka_members_are_gone_when_the_server_stops() {
    let served = served_with_orders();
    let other = Brooklet::open(served.path()).expect("another handle");
    let mut client = served.connect();
    join_and_sync(&mut client, "billing");
    wait_for_kafka_members(&other, "billing", 1);
    served.stop();
    assert_eq!(kafka_members(&other, "billing"), []);
}

#[test]
fn kafka_members_are_gone_when_the_server_dies() {
    let served = served_with_orders();
    let other = Brooklet::open(served.path()).expect("another handle");
    let mut client = served.connect();
    join_and_sync(&mut client, "billing");
    wait_for_kafka_members(&other, "billing", 1);
    let _dir = served.abandon();
    // The record is still in the file, but no process holds its liveness lock.
    assert_eq!(kafka_members(&other, "billing"), []);
    other
        .admin()
        .delete_group("billing")
        .expect("a group of dead members can be deleted");
    assert!(other.admin().check().expect("check").is_clean());
}

#[test]
fn a_group_is_served_to_one_protocol_at_a_time() {
    let served = served_with_orders();
    let mut client = served.connect();
    let options = ConsumerOptions {
        auto_commit_interval: None,
        ..ConsumerOptions::default()
    };
    let embedded = served
        .db
        .consumer("local", &["orders"], options.clone())
        .expect("an embedded consumer");
    let refused = join(&mut client, "local");
    assert_eq!(refused.error_code, INCONSISTENT_GROUP_PROTOCOL);
    assert_eq!(
        try_commit(&mut client, "local", 1),
        INCONSISTENT_GROUP_PROTOCOL,
        "a commit from outside moves no offset of the embedded members' partitions"
    );
    drop(embedded);
    let joined = join(&mut client, "local");
    assert_eq!(
        joined.error_code, 0,
        "the group is free once its member left"
    );

    join_and_sync(&mut client, "billing");
    match served.db.consumer("billing", &["orders"], options.clone()) {
        Err(Error::InconsistentGroupProtocol(why)) => assert!(why.contains("Kafka"), "{why}"),
        other => panic!("expected InconsistentGroupProtocol, got {other:?}"),
    }
    let check = served.db.admin().check().expect("check");
    assert!(check.is_clean(), "{check:?}");
    let db = served.db.clone();
    let _dir = served.stop_keeping_file();
    // With the server stopped, the file's own consumers may use the group.
    db.consumer("billing", &["orders"], options)
        .expect("the group is free once the server stopped");
}
