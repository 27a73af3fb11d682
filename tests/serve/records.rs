//! Produce, Fetch, `ListOffsets` and `InitProducerId`.

use std::time::Duration;

use brooklet::{FetchLimits, TopicConfig};
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, InitProducerIdRequest, InitProducerIdResponse,
    ListOffsetsRequest, ListOffsetsResponse, ProduceRequest, ProduceResponse, ProducerId,
};

use crate::harness::{Client, batch, name, serve, stamp};

pub fn produce_request(topic: &str, partition: i32, records: Vec<u8>, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(Bytes::from(records))),
                ]),
        ])
}

/// Produces and returns (error code, base offset).
pub fn produce(client: &mut Client, version: i16, request: &ProduceRequest) -> (i16, i64) {
    let response: ProduceResponse = client.call(ApiKey::Produce, version, request);
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

pub fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(1)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}

#[test]
fn produced_batches_are_stored_as_sent_and_fetched_back() {
    let served = serve();
    served
        .db
        .admin()
        .create_topic("orders", 1, TopicConfig::default())
        .expect("create");
    let mut client = served.connect();
    let first = batch(&["one", "two"]);
    let second = batch(&["three"]);
    assert_eq!(
        produce(
            &mut client,
            9,
            &produce_request("orders", 0, first.clone(), -1)
        ),
        (0, 0)
    );
    assert_eq!(
        produce(
            &mut client,
            3,
            &produce_request("orders", 0, second.clone(), 1)
        ),
        (0, 2)
    );
    // acks=0: no response; the next request's answer comes first.
    client.send(
        ApiKey::Produce,
        7,
        &produce_request("orders", 0, batch(&["four"]), 0),
    );
    let stored = served
        .db
        .fetch_batches("orders", 0, 0, FetchLimits::default())
        .expect("fetch");
    // As sent, but for the base offset (bytes 0..8) and the leader epoch (12..16).
    let mut expected = first.clone();
    expected.extend_from_slice(&second);
    expected[first.len() + 7] = 2;
    let got = stored.bytes();
    assert_eq!(&got[16..first.len()], &first[16..]);
    assert_eq!(
        &got[first.len() + 16..first.len() + second.len()],
        &second[16..]
    );
    assert_eq!(&got[..8], &expected[..8]);
    let values: Vec<Vec<u8>> = served
        .db
        .fetch("orders", 0, 0, FetchLimits::default())
        .expect("fetch")
        .records
        .into_iter()
        .map(|r| r.value.expect("value"))
        .collect();
    assert_eq!(
        values[..3],
        [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );

    for version in [4, 11, 12] {
        let response: FetchResponse =
            client.call(ApiKey::Fetch, version, &fetch_request("orders", 0, 100));
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, 0);
        assert!(partition.high_watermark >= 3);
        let records = partition.records.as_ref().expect("records");
        assert_eq!(
            &records[..first.len() + second.len()],
            &got[..first.len() + second.len()]
        );
    }
    served.stop();
}

#[test]
fn a_fetch_waits_for_a_produce() {
    let served = serve();
    served
        .db
        .admin()
        .create_topic("waits", 1, TopicConfig::default())
        .expect("create");
    let mut fetcher = served.connect();
    fetcher.send(ApiKey::Fetch, 12, &fetch_request("waits", 0, 30_000));
    std::thread::sleep(Duration::from_millis(50));
    let mut producer = served.connect();
    assert_eq!(
        produce(
            &mut producer,
            9,
            &produce_request("waits", 0, batch(&["late"]), 1)
        )
        .0,
        0
    );
    let response: FetchResponse = fetcher.receive(ApiKey::Fetch, 12);
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.high_watermark, 1);
    assert!(!partition.records.as_ref().expect("records").is_empty());
    served.stop();
}

/// A fetch waiting for records when the server stops answers at once with what it has,
/// rather than holding the stop for its whole `max_wait_ms`: its answer comes within the
/// client's 30 s read timeout although it asked to wait 60 s.
#[test]
fn a_waiting_fetch_answers_when_the_server_stops() {
    let served = serve();
    served
        .db
        .admin()
        .create_topic("quiet", 1, TopicConfig::default())
        .expect("create");
    let mut fetcher = served.connect();
    fetcher.send(ApiKey::Fetch, 12, &fetch_request("quiet", 0, 60_000));
    // The fetch is waiting once a later request on another connection has been answered.
    let mut other = served.connect();
    let _: FetchResponse = other.call(ApiKey::Fetch, 12, &fetch_request("quiet", 0, 0));
    let stopper = std::thread::spawn(move || served.stop());
    let response: FetchResponse = fetcher.receive(ApiKey::Fetch, 12);
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.high_watermark, 0);
    stopper.join().expect("the server stops cleanly");
}

#[test]
fn list_offsets_earliest_latest_and_by_time() {
    let served = serve();
    served
        .db
        .admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    let mut client = served.connect();
    produce(
        &mut client,
        9,
        &produce_request("t", 0, batch(&["a", "b", "c"]), -1),
    );
    let ask = |timestamp| {
        ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(timestamp),
                    ]),
            ])
    };
    for (timestamp, offset) in [
        (-2, 0),
        (-1, 3),
        (1_700_000_000_001, 1),
        (1_800_000_000_000, -1),
    ] {
        let response: ListOffsetsResponse = client.call(ApiKey::ListOffsets, 6, &ask(timestamp));
        let partition = &response.topics[0].partitions[0];
        assert_eq!(
            (partition.error_code, partition.offset),
            (0, offset),
            "at {timestamp}"
        );
    }
    served.stop();
}

#[test]
fn idempotent_producer_retries_are_stored_once() {
    let served = serve();
    served
        .db
        .admin()
        .create_topic("idem", 1, TopicConfig::default())
        .expect("create");
    let mut client = served.connect();
    let response: InitProducerIdResponse = client.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(response.error_code, 0);
    let producer = response.producer_id.0;
    assert!(producer >= 0);
    let mut first = batch(&["x", "y"]);
    stamp(&mut first, producer, 0, 0);
    let mut next = batch(&["z"]);
    stamp(&mut next, producer, 0, 2);
    let mut gap = batch(&["gap"]);
    stamp(&mut gap, producer, 0, 7);
    assert_eq!(
        produce(
            &mut client,
            9,
            &produce_request("idem", 0, first.clone(), -1)
        ),
        (0, 0)
    );
    assert_eq!(
        produce(&mut client, 9, &produce_request("idem", 0, first, -1)),
        (0, 0),
        "a retry"
    );
    assert_eq!(
        produce(&mut client, 9, &produce_request("idem", 0, next, -1)),
        (0, 2)
    );
    assert_eq!(
        produce(&mut client, 9, &produce_request("idem", 0, gap, -1)).0,
        45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    assert_eq!(served.db.end_offset("idem", 0).expect("end"), 3);
    served.stop();
}
