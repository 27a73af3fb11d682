//! `DeleteRecords`: each partition's log start moves (-1: to the high watermark), with
//! Kafka's error codes per partition; `ListOffsets` earliest then returns the new start,
//! and a fetch below it gets `OFFSET_OUT_OF_RANGE`.

use brooklet::TopicConfig;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse,
};

use crate::harness::{Client, batch, name, serve};
use crate::records::{fetch_request, produce, produce_request};

/// A `DeleteRecords` request for `(topic, partition, offset)` triples, one topic entry each.
fn delete_request(partitions: &[(&str, i32, i64)]) -> DeleteRecordsRequest {
    DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(
            partitions
                .iter()
                .map(|&(topic, partition, offset)| {
                    DeleteRecordsTopic::default()
                        .with_name(name(topic))
                        .with_partitions(vec![
                            DeleteRecordsPartition::default()
                                .with_partition_index(partition)
                                .with_offset(offset),
                        ])
                })
                .collect(),
        )
}

/// Each partition's (error code, low watermark), in request order.
fn delete(client: &mut Client, version: i16, partitions: &[(&str, i32, i64)]) -> Vec<(i16, i64)> {
    let response: DeleteRecordsResponse =
        client.call(ApiKey::DeleteRecords, version, &delete_request(partitions));
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (p.error_code, p.low_watermark)))
        .collect()
}

/// `ListOffsets` earliest of partition 0 of `topic`.
fn earliest(client: &mut Client, topic: &str) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-2),
                ]),
        ]);
    let response: ListOffsetsResponse = client.call(ApiKey::ListOffsets, 6, &request);
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    partition.offset
}

#[test]
fn delete_records_moves_the_start_that_list_offsets_and_fetch_see() {
    let served = serve();
    let admin = served.db.admin();
    admin
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    admin
        .create_topic("u", 1, TopicConfig::default())
        .expect("create");
    let mut client = served.connect();
    for topic in ["t", "u"] {
        for _ in 0..3 {
            let request = produce_request(topic, 0, batch(&["a", "b", "c", "d"]), -1);
            assert_eq!(produce(&mut client, 9, &request).0, 0);
        }
    }
    let out_of_range = ResponseError::OffsetOutOfRange.code();
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    for version in 0..=2 {
        assert_eq!(
            delete(&mut client, version, &[("t", 0, 5)]),
            [(0, 5)],
            "v{version}"
        );
    }
    assert_eq!(earliest(&mut client, "t"), 5);
    let fetched: FetchResponse = client.call(ApiKey::Fetch, 12, &fetch_request("t", 2, 0));
    assert_eq!(fetched.responses[0].partitions[0].error_code, out_of_range);
    let fetched: FetchResponse = client.call(ApiKey::Fetch, 12, &fetch_request("t", 5, 0));
    let partition = &fetched.responses[0].partitions[0];
    assert_eq!((partition.error_code, partition.log_start_offset), (0, 5));
    // Per partition: one error does not stop the others.
    assert_eq!(
        delete(
            &mut client,
            2,
            &[
                ("t", 0, 13),
                ("t", 1, 0),
                ("nope", 0, 0),
                ("t", 0, -7),
                ("u", 0, -1),
                ("t", 0, 3),
            ]
        ),
        [
            (out_of_range, -1),
            (unknown, -1),
            (unknown, -1),
            (out_of_range, -1),
            (0, 12),
            (0, 5),
        ]
    );
    assert_eq!(earliest(&mut client, "t"), 5);
    assert_eq!(earliest(&mut client, "u"), 12);
    assert_eq!(served.db.beginning_offset("u", 0).expect("start"), 12);
    let report = admin.check().expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);
    served.stop();
}
