//! What `mirror` asks of the broker it copies into: which topics it has and with how many
//! partitions, creating the missing ones, a producer id, a partition's end offset, and
//! producing batches.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, InitProducerIdRequest, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::client::{Client, error_name, is_retriable};
use crate::common::CliError;

/// Kafka's `TOPIC_ALREADY_EXISTS`: another client created the topic first.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Kafka's `DUPLICATE_SEQUENCE_NUMBER`: an idempotent retry of a batch the broker holds.
const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
/// Times a produce is retried after a retriable error, a second apart at most.
const RETRIES: u32 = 10;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// The partition count of each of `topics` the broker has (absent: it has no such topic).
pub fn partition_counts(
    client: &mut Client,
    topics: &[String],
) -> Result<BTreeMap<String, u32>, CliError> {
    let version = client.require::<MetadataRequest>(1..=12)?;
    let request = MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(false);
    let response = client.call(version, &request)?;
    let mut counts = BTreeMap::new();
    for topic in response.topics {
        let Some(name) = topic.name else { continue };
        match topic.error_code {
            0 => {
                let count = u32::try_from(topic.partitions.len()).unwrap_or(u32::MAX);
                counts.insert(name.0.to_string(), count);
            }
            3 => {} // UNKNOWN_TOPIC_OR_PARTITION: to be created
            code => {
                return Err(client.kafka_error(&format!("Metadata for topic {}", &*name.0), code));
            }
        }
    }
    Ok(counts)
}

/// Creates `topic` with `partitions` partitions and the broker's default replication.
pub fn create_topic(client: &mut Client, topic: &str, partitions: u32) -> Result<(), CliError> {
    let version = client.require::<CreateTopicsRequest>(2..=7)?;
    // Versions 4 and later take -1 for "the broker's default"; earlier ones need a number.
    let replication = if version >= 4 { -1 } else { 1 };
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(topic))
                .with_num_partitions(i32::try_from(partitions).unwrap_or(i32::MAX))
                .with_replication_factor(replication),
        ])
        .with_timeout_ms(30_000);
    let response = client.call(version, &request)?;
    for result in response.topics {
        if result.error_code != 0 && result.error_code != TOPIC_ALREADY_EXISTS {
            let detail = result
                .error_message
                .map(|m| format!(": {}", &*m))
                .unwrap_or_default();
            return Err(CliError::failure(format!(
                "{}: creating topic {topic} failed: {}{detail}",
                client.address(),
                error_name(result.error_code)
            )));
        }
    }
    Ok(())
}

/// The producer fields of every batch `mirror` sends.
#[derive(Clone, Copy, Debug)]
pub struct ProducerFields {
    /// The broker's producer id, or -1 without idempotence.
    pub producer_id: i64,
    /// Its epoch, or -1.
    pub producer_epoch: i16,
}

impl ProducerFields {
    /// Whether the broker gave an id, so its batches carry sequences.
    pub fn idempotent(self) -> bool {
        self.producer_id >= 0
    }
}

/// An idempotent producer id from the broker, or none when the broker has no `InitProducerId`.
pub fn init_producer(client: &mut Client) -> Result<ProducerFields, CliError> {
    let Some(version) = client.version::<InitProducerIdRequest>(0..=4) else {
        return Ok(ProducerFields {
            producer_id: -1,
            producer_epoch: -1,
        });
    };
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let response = client.call(version, &request)?;
    if response.error_code != 0 {
        return Err(client.kafka_error("InitProducerId", response.error_code));
    }
    Ok(ProducerFields {
        producer_id: response.producer_id.0,
        producer_epoch: response.producer_epoch,
    })
}

/// The end offset (Kafka's "latest", the next offset) of a partition on the broker.
pub fn end_offset(client: &mut Client, topic: &str, partition: u32) -> Result<u64, CliError> {
    let version = client.require::<ListOffsetsRequest>(1..=7)?;
    let index = i32::try_from(partition).unwrap_or(i32::MAX);
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(index)
                        .with_current_leader_epoch(-1)
                        .with_timestamp(-1),
                ]),
        ]);
    let response = client.call(version, &request)?;
    let found = response
        .topics
        .iter()
        .filter(|t| &*t.name.0 == topic)
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == index);
    let Some(p) = found else {
        return Err(CliError::failure(format!(
            "{}: ListOffsets has no answer for {topic}/{partition}",
            client.address()
        )));
    };
    if p.error_code != 0 {
        return Err(client.kafka_error(
            &format!("ListOffsets for {topic}/{partition}"),
            p.error_code,
        ));
    }
    u64::try_from(p.offset).map_err(|_| {
        CliError::failure(format!(
            "{}: ListOffsets gave offset {} for {topic}/{partition}",
            client.address(),
            p.offset
        ))
    })
}

/// One batch for one partition.
#[derive(Debug)]
pub struct Outgoing {
    pub topic: String,
    pub partition: u32,
    pub batch: Bytes,
}

/// Produces `batches` (at most one per partition) with acks=all, retrying retriable errors
/// with the same batches (an idempotent broker drops what it already holds). Returns each
/// batch's base offset on the broker, in the order given.
pub fn produce(client: &mut Client, batches: &[Outgoing]) -> Result<Vec<u64>, CliError> {
    let version = client.require::<ProduceRequest>(3..=9)?;
    let mut by_topic: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
    for b in batches {
        by_topic.entry(&b.topic).or_default().push(
            PartitionProduceData::default()
                .with_index(i32::try_from(b.partition).unwrap_or(i32::MAX))
                .with_records(Some(b.batch.clone())),
        );
    }
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(
            by_topic
                .into_iter()
                .map(|(t, data)| {
                    TopicProduceData::default()
                        .with_name(topic_name(t))
                        .with_partition_data(data)
                })
                .collect(),
        );
    let mut attempt = 0;
    loop {
        let response = client.call(version, &request)?;
        let mut bases = Vec::with_capacity(batches.len());
        let mut retry = None;
        for b in batches {
            let index = i32::try_from(b.partition).unwrap_or(i32::MAX);
            let answer = response
                .responses
                .iter()
                .filter(|t| *t.name.0 == *b.topic)
                .flat_map(|t| &t.partition_responses)
                .find(|p| p.index == index);
            let Some(answer) = answer else {
                return Err(CliError::failure(format!(
                    "{}: Produce has no answer for {}/{}",
                    client.address(),
                    b.topic,
                    b.partition
                )));
            };
            match answer.error_code {
                0 | DUPLICATE_SEQUENCE_NUMBER => {
                    bases.push(u64::try_from(answer.base_offset).unwrap_or(0));
                }
                code if is_retriable(code) => retry = Some(code),
                code => {
                    let what = format!("Produce to {}/{}", b.topic, b.partition);
                    return Err(client.kafka_error(&what, code));
                }
            }
        }
        match retry {
            None => return Ok(bases),
            Some(code) if attempt >= RETRIES => {
                return Err(client.kafka_error("Produce (after retries)", code));
            }
            Some(_) => {
                attempt += 1;
                std::thread::sleep(
                    Duration::from_millis(100 * u64::from(attempt)).min(Duration::from_secs(1)),
                );
            }
        }
    }
}
