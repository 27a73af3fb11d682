//! Consumer groups: `FindCoordinator`, join, sync, heartbeat, leave, and offsets that
//! land in the file's groups.

use brooklet::TopicConfig;
use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest,
    HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::harness::{Client, name, serve};

fn group() -> GroupId {
    GroupId(StrBytes::from_static_str("billing"))
}

fn join(client: &mut Client, member: &str) -> JoinGroupResponse {
    let request = JoinGroupRequest::default()
        .with_group_id(group())
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(StrBytes::from_string(member.to_owned()))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(b"meta")),
        ]);
    client.call(ApiKey::JoinGroup, 5, &request)
}

fn heartbeat(client: &mut Client, member: &str, generation: i32) -> i16 {
    let request = HeartbeatRequest::default()
        .with_group_id(group())
        .with_generation_id(generation)
        .with_member_id(StrBytes::from_string(member.to_owned()));
    let response: HeartbeatResponse = client.call(ApiKey::Heartbeat, 3, &request);
    response.error_code
}

#[test]
fn one_member_joins_syncs_commits_and_leaves() {
    let served = serve();
    served
        .db
        .admin()
        .create_topic("orders", 2, TopicConfig::default())
        .expect("create");
    let mut client = served.connect();
    let coordinator: FindCoordinatorResponse = client.call(
        ApiKey::FindCoordinator,
        3,
        &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("billing")),
    );
    assert_eq!(coordinator.port, i32::from(served.addr.port()));

    let joined = join(&mut client, "");
    assert_eq!(joined.error_code, 0);
    let member = joined.member_id.to_string();
    assert_eq!(joined.leader.as_str(), member, "the only member leads");
    assert_eq!(joined.members.len(), 1);
    let generation = joined.generation_id;

    let sync = SyncGroupRequest::default()
        .with_group_id(group())
        .with_generation_id(generation)
        .with_member_id(joined.member_id.clone())
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(joined.member_id.clone())
                .with_assignment(Bytes::from_static(b"both partitions")),
        ]);
    let synced: SyncGroupResponse = client.call(ApiKey::SyncGroup, 3, &sync);
    assert_eq!(
        (synced.error_code, &synced.assignment[..]),
        (0, &b"both partitions"[..])
    );
    assert_eq!(heartbeat(&mut client, &member, generation), 0);
    assert_eq!(
        heartbeat(&mut client, &member, generation + 1),
        22,
        "ILLEGAL_GENERATION"
    );
    assert_eq!(
        heartbeat(&mut client, "stranger", generation),
        25,
        "UNKNOWN_MEMBER_ID"
    );

    assert_eq!(commit(&mut client, &joined.member_id, generation, 1), 0);
    let fetch = OffsetFetchRequest::default()
        .with_group_id(group())
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(name("orders"))
                .with_partition_indexes(vec![0, 1]),
        ]));
    let fetched: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 7, &fetch);
    let offsets: Vec<i64> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offsets, [-1, 0]);

    let leave = LeaveGroupRequest::default()
        .with_group_id(group())
        .with_member_id(joined.member_id.clone());
    let left: LeaveGroupResponse = client.call(ApiKey::LeaveGroup, 1, &leave);
    assert_eq!(left.error_code, 0);
    assert_eq!(heartbeat(&mut client, &member, generation), 25);
    let described = served.db.admin().describe_group("billing").expect("stored");
    let committed: Vec<(u32, Option<u64>)> = described
        .partitions
        .iter()
        .map(|p| (p.partition, p.committed))
        .collect();
    assert!(committed.contains(&(1, Some(0))), "{committed:?}");
    served.stop();
}

/// Commits offset 0 of `orders` partition `partition` as `member` at `generation`; the
/// error code.
fn commit(client: &mut Client, member: &str, generation: i32, partition: i32) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(group())
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member.to_owned()))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(name("orders"))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(0),
                ]),
        ]);
    let response: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 7, &request);
    response.topics[0].partitions[0].error_code
}

/// A second member makes the first join again; meanwhile, as in Kafka's coordinator, the
/// first may still commit at its generation, and nobody may between the joins and the
/// leader's assignment.
#[test]
fn a_second_member_makes_the_first_join_again() {
    let served = serve();
    served
        .db
        .admin()
        .create_topic("orders", 1, TopicConfig::default())
        .expect("create");
    let mut first = served.connect();
    let joined = join(&mut first, "");
    let member = joined.member_id.to_string();
    let generation = joined.generation_id;
    let sync = SyncGroupRequest::default()
        .with_group_id(group())
        .with_generation_id(generation)
        .with_member_id(joined.member_id.clone());
    let _: SyncGroupResponse = first.call(ApiKey::SyncGroup, 3, &sync);

    let mut second = served.connect();
    second.send(
        ApiKey::JoinGroup,
        5,
        &JoinGroupRequest::default()
            .with_group_id(group())
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(StrBytes::from_static_str(""))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(Bytes::from_static(b"meta")),
            ]),
    );
    // The second join waits for the first member, which learns of it by heartbeat.
    let mut code = 0;
    for _ in 0..1000 {
        code = heartbeat(&mut first, &member, generation);
        if code != 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(code, 27, "REBALANCE_IN_PROGRESS");
    assert_eq!(
        commit(&mut first, &member, generation, 0),
        0,
        "commits while joining"
    );
    let rejoined = join(&mut first, &member);
    let other: JoinGroupResponse = second.receive(ApiKey::JoinGroup, 5);
    assert_eq!(rejoined.generation_id, generation + 1);
    assert_eq!(other.generation_id, generation + 1);
    assert_eq!(
        commit(&mut first, &member, generation + 1, 0),
        27,
        "no commits before the assignment"
    );
    assert_eq!(
        commit(&mut first, &member, generation, 0),
        22,
        "ILLEGAL_GENERATION"
    );
    let leaders = [&rejoined, &other]
        .iter()
        .filter(|r| r.leader == r.member_id)
        .count();
    assert_eq!(leaders, 1);
    assert_eq!(
        rejoined.members.len() + other.members.len(),
        2,
        "the leader sees both"
    );
    served.stop();
}

/// A member that dies while the group rebalances (it neither joins again nor heartbeats)
/// is removed at its session timeout, as Kafka's coordinator removes it, so the members
/// waiting in `JoinGroup` are answered then, not at the 120 s rebalance timeout (which is
/// past the client's 30 s read timeout).
#[test]
fn a_member_that_dies_during_a_rebalance_does_not_hold_it() {
    let served = serve();
    let request = |member: &str, session_ms: i32| {
        JoinGroupRequest::default()
            .with_group_id(group())
            .with_session_timeout_ms(session_ms)
            .with_rebalance_timeout_ms(120_000)
            .with_member_id(StrBytes::from_string(member.to_owned()))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(Bytes::from_static(b"meta")),
            ])
    };
    let mut doomed = served.connect();
    let joined: JoinGroupResponse = doomed.call(ApiKey::JoinGroup, 5, &request("", 1000));
    let sync = SyncGroupRequest::default()
        .with_group_id(group())
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone());
    let _: SyncGroupResponse = doomed.call(ApiKey::SyncGroup, 3, &sync);
    // Another member joins; the first never calls again.
    let mut survivor = served.connect();
    let answer: JoinGroupResponse = survivor.call(ApiKey::JoinGroup, 5, &request("", 10_000));
    assert_eq!(answer.error_code, 0);
    assert_eq!(answer.generation_id, joined.generation_id + 1);
    assert_eq!(answer.leader, answer.member_id, "the survivor leads");
    assert_eq!(answer.members.len(), 1, "the dead member is gone");
    served.stop();
}
