//! `FindCoordinator` (this server coordinates every group) and committed offsets
//! (`OffsetCommit`, `OffsetFetch`), stored in the file's groups.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::blocking::{code, run};
use super::{Context, NODE_ID};

/// `FindCoordinator`: this server, for every group.
pub(super) fn find_coordinator(
    context: &Context,
    _request: &FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    FindCoordinatorResponse::default()
        .with_node_id(BrokerId(NODE_ID))
        .with_host(StrBytes::from_string(context.advertised.ip().to_string()))
        .with_port(i32::from(context.advertised.port()))
}

/// `OffsetCommit`: a member of the current generation (or a consumer outside the group,
/// generation -1) stores offsets, all in one durable commit.
pub(super) async fn commit(
    context: &Context,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group = request.group_id.0.to_string();
    let refused = context.groups.may_commit(
        &group,
        request.member_id.as_str(),
        request.generation_id_or_member_epoch,
    );
    let mut offsets = Vec::new();
    let mut bad = Vec::new();
    for topic in &request.topics {
        for partition in &topic.partitions {
            match (
                u32::try_from(partition.partition_index),
                u64::try_from(partition.committed_offset),
            ) {
                (Ok(p), Ok(offset)) => {
                    let metadata = partition
                        .committed_metadata
                        .as_ref()
                        .map_or_else(String::new, ToString::to_string);
                    offsets.push((topic.name.0.to_string(), p, offset, metadata));
                }
                _ => bad.push((topic.name.0.to_string(), partition.partition_index)),
            }
        }
    }
    let stored = match refused {
        Some(error) => Err(error.code()),
        None if offsets.is_empty() => Ok(()),
        None => {
            let db = context.db.clone();
            run(move || db.commit_external_offsets(&group, &offsets))
                .await
                .map_err(|e| code(&e, ResponseError::InvalidCommitOffsetSize))
        }
    };
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let error = if bad.contains(&(name.clone(), p.partition_index)) {
                        ResponseError::InvalidRequest.code()
                    } else {
                        stored.err().unwrap_or(0)
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// `OffsetFetch`: the committed offset of each partition asked for (-1 where none is).
pub(super) async fn fetch(context: &Context, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let group = request.group_id.0.to_string();
    let topics = request.topics.unwrap_or_default();
    let wanted: Vec<(String, u32)> = topics
        .iter()
        .flat_map(|t| {
            t.partition_indexes
                .iter()
                .filter_map(|&p| Some((t.name.0.to_string(), u32::try_from(p).ok()?)))
        })
        .collect();
    let db = context.db.clone();
    let asked = wanted.clone();
    let found = run(move || db.external_offsets(&group, &asked)).await;
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            return OffsetFetchResponse::default()
                .with_error_code(code(&e, ResponseError::InvalidRequest));
        }
    };
    let committed = |topic: &str, partition: i32| {
        wanted
            .iter()
            .zip(&found)
            .find(|((t, p), _)| t == topic && i64::from(*p) == i64::from(partition))
            .and_then(|(_, c)| c.clone())
    };
    let topics = topics
        .iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&p| {
                    let response = OffsetFetchResponsePartition::default().with_partition_index(p);
                    match committed(&name, p) {
                        Some((offset, metadata)) => response
                            .with_committed_offset(i64::try_from(offset).unwrap_or(-1))
                            .with_metadata(Some(StrBytes::from_string(metadata))),
                        None => response
                            .with_committed_offset(-1)
                            .with_metadata(Some(StrBytes::from_static_str(""))),
                    }
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
