//! Records: Produce (batches stored as sent), Fetch (stored batches returned as they are,
//! long polls woken by commits), `ListOffsets`, and `InitProducerId` for idempotent
//! producers.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    FetchRequest, FetchResponse, InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest,
    ListOffsetsResponse, ProduceRequest, ProduceResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use super::blocking::{code, run};
use crate::db::{Brooklet, RecordMetadata};
use crate::error::{Error, Result};
use crate::kafka::{BatchHeader, verify_batch};
use crate::log::{FetchLimits, FetchedBatches, Isolation};
use crate::pager::Durability;

/// The longest a fetch waits for records, whatever the client asks.
const WAIT_MAX: Duration = Duration::from_secs(60);
/// How often a fetch without the commit watcher (its thread could not start) reads again.
const POLL: Duration = Duration::from_millis(1);

/// Produce: every partition's batches are checked, then stored as sent, all partitions at
/// once through the commit queue (so one request's partitions share a commit). `acks=0`
/// and `acks=1` commit without `fdatasync` (`Durability::None`), `acks=-1` durably
/// (`Durability::Immediate`). Returns the acks, since `acks=0` gets no response.
pub(super) async fn produce(context: &Context, request: ProduceRequest) -> (i16, ProduceResponse) {
    let durability = match request.acks {
        -1 => Some(Durability::Immediate),
        0 | 1 => Some(Durability::None),
        _ => None,
    };
    let refused = if request.transactional_id.is_some() {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if durability.is_none() {
        Some(ResponseError::InvalidRequiredAcks)
    } else {
        None
    };
    let mut pending = Vec::new();
    for topic in request.topic_data {
        let name = topic.name.0.to_string();
        for partition in topic.partition_data {
            let index = partition.index;
            let batches = split_batches(partition.records.as_ref());
            let task = match (refused, batches, u32::try_from(index)) {
                (Some(error), ..) | (None, Err(error), _) => Err(error.code()),
                (None, Ok(_), Err(_)) => Err(ResponseError::UnknownTopicOrPartition.code()),
                (None, Ok(batches), Ok(p)) => {
                    let db = context.db.clone();
                    let create = context.options.auto_create_topics;
                    let durability = durability.unwrap_or(Durability::Immediate);
                    let topic = name.clone();
                    Ok(tokio::spawn(run(move || {
                        store(&db, (&topic, p), batches, durability, create)
                    })))
                }
            };
            pending.push((name.clone(), index, task));
        }
    }
    let mut responses: Vec<TopicProduceResponse> = Vec::new();
    for (name, index, task) in pending {
        let partition = PartitionProduceResponse::default().with_index(index);
        let partition = match task {
            Err(error) => partition.with_error_code(error),
            Ok(handle) => match handle.await {
                Ok(Ok(first)) => partition
                    .with_base_offset(i64::try_from(first.offset).unwrap_or(-1))
                    .with_log_append_time_ms(first.timestamp_ms),
                Ok(Err(e)) => partition
                    .with_error_code(code(&e, ResponseError::InvalidRecord))
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                Err(_) => partition.with_error_code(ResponseError::UnknownServerError.code()),
            },
        };
        match responses.last_mut() {
            Some(last) if last.name.0.as_str() == name => last.partition_responses.push(partition),
            _ => responses.push(
                TopicProduceResponse::default()
                    .with_name(kafka_protocol::messages::TopicName(StrBytes::from_string(
                        name,
                    )))
                    .with_partition_responses(vec![partition]),
            ),
        }
    }
    (
        request.acks,
        ProduceResponse::default().with_responses(responses),
    )
}

/// Splits a partition's record set into its batches, each checked (magic 2, lengths,
/// CRC) and none a control batch.
fn split_batches(records: Option<&Bytes>) -> std::result::Result<Vec<Vec<u8>>, ResponseError> {
    let Some(mut rest) = records.map(|r| &r[..]) else {
        return Err(ResponseError::InvalidRecord);
    };
    let mut batches = Vec::new();
    while !rest.is_empty() {
        if BatchHeader::parse(rest).is_err() && rest.len() > 16 && rest[16] != 2 {
            return Err(ResponseError::UnsupportedForMessageFormat);
        }
        let header = verify_batch(rest).map_err(|_| ResponseError::CorruptMessage)?;
        if header.is_control() {
            return Err(ResponseError::InvalidRecord);
        }
        let (batch, after) = rest.split_at(header.size());
        batches.push(batch.to_vec());
        rest = after;
    }
    if batches.is_empty() {
        return Err(ResponseError::InvalidRecord);
    }
    Ok(batches)
}

/// Stores a partition's batches; creates the topic first if it is unknown and `create`.
/// Returns the first batch's offset and its log append time (-1 under create time).
fn store(
    db: &Brooklet,
    (topic, partition): (&str, u32),
    batches: Vec<Vec<u8>>,
    durability: Durability,
    create: bool,
) -> Result<RecordMetadata> {
    // Create an unknown topic first (when asked to) rather than retry the send, so that
    // the batches are not copied for a retry.
    if create
        && matches!(
            db.admin().describe_topic(topic),
            Err(Error::UnknownTopic(_))
        )
    {
        match db
            .admin()
            .create_topic(topic, 1, crate::TopicConfig::default())
        {
            Ok(()) | Err(Error::TopicExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let sent = db.send_stored_batches(topic, partition, batches, durability)?;
    sent.into_iter()
        .next()
        .ok_or_else(|| Error::invalid("no batch"))
}

/// The partitions a fetch asks for: by topic, each partition's index, offset and byte limit.
type Wanted = Vec<(String, Vec<(i32, i64, i32)>)>;

/// One partition of a fetch, read.
struct Read {
    topic: usize,
    partition: i32,
    result: Result<FetchedBatches>,
}

/// Fetch: each partition's stored batches from its offset, within the request's and the
/// partition's byte limits (at least one batch in all); waits up to `max_wait_ms` (woken
/// by commits, this process's or another's) until `min_bytes` are there.
pub(super) async fn fetch(
    context: &Context,
    request: FetchRequest,
    _version: i16,
) -> FetchResponse {
    let isolation = if request.isolation_level == 1 {
        Isolation::ReadCommitted
    } else {
        Isolation::ReadUncommitted
    };
    let wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0)).min(WAIT_MAX);
    let deadline = Instant::now() + wait;
    let wanted: Wanted = request
        .topics
        .iter()
        .map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|p| (p.partition, p.fetch_offset, p.partition_max_bytes))
                .collect();
            (t.topic.0.to_string(), parts)
        })
        .collect();
    let max_bytes = usize::try_from(request.max_bytes).unwrap_or(0);
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    // The async API's commit watcher: one thread per handle however many fetches wait, a
    // commit of this process waking them at once and one of another within about 1 ms.
    let mut commits = context.db.subscribe_commits().ok();
    let mut stopping = context.stopping.subscribe();
    loop {
        if let Some(c) = commits.as_mut() {
            c.mark_seen();
        }
        let db = context.db.clone();
        let asked = wanted.clone();
        let reads = run(move || Ok(read_all(&db, &asked, max_bytes, isolation))).await;
        let reads = reads.unwrap_or_default();
        let bytes: usize = reads
            .iter()
            .map(|r| r.result.as_ref().map_or(0, |b| b.bytes().len()))
            .sum();
        let failed = reads.iter().any(|r| r.result.is_err());
        let done = bytes >= min_bytes.max(1) || failed || Instant::now() >= deadline;
        if done || *stopping.borrow() {
            return fetch_response(&wanted, reads, isolation);
        }
        // Wait for the next commit, the deadline or the server's stop, then read again.
        let until = tokio::time::Instant::from_std(deadline);
        let woken = async {
            match commits.as_mut() {
                Some(c) => {
                    let _ = tokio::time::timeout_at(until, c.changed()).await;
                }
                None => {
                    tokio::time::sleep_until(until.min(tokio::time::Instant::now() + POLL)).await;
                }
            }
        };
        tokio::select! {
            () = woken => {}
            _ = stopping.changed() => {}
        }
    }
}

/// Reads every partition asked for, in order, within `max_bytes` in all (the first
/// partition with records returns at least one batch).
fn read_all(db: &Brooklet, wanted: &Wanted, max_bytes: usize, isolation: Isolation) -> Vec<Read> {
    let mut reads = Vec::new();
    let mut budget = max_bytes;
    let mut any = false;
    for (t, (topic, parts)) in wanted.iter().enumerate() {
        for &(partition, offset, partition_max) in parts {
            let limit = usize::try_from(partition_max).unwrap_or(0).min(budget);
            let result = read_one(db, (topic, partition), offset, (limit, !any), isolation);
            if let Ok(batches) = &result {
                budget = budget.saturating_sub(batches.bytes().len());
                any |= !batches.is_empty();
            }
            reads.push(Read {
                topic: t,
                partition,
                result,
            });
        }
    }
    reads
}

/// One partition's batches from `offset`, at most `limit` bytes unless `first` (then at
/// least one batch). An offset past the end is out of range, as in Kafka.
fn read_one(
    db: &Brooklet,
    (topic, partition): (&str, i32),
    offset: i64,
    (limit, first): (usize, bool),
    isolation: Isolation,
) -> Result<FetchedBatches> {
    let (Ok(p), Ok(from)) = (u32::try_from(partition), u64::try_from(offset)) else {
        return Err(Error::OffsetOutOfRange {
            offset: 0,
            beginning: 0,
            end: 0,
        });
    };
    let limits = FetchLimits {
        max_records: usize::MAX,
        max_bytes: if limit == 0 && !first {
            1
        } else {
            limit.max(1)
        },
    };
    let batches = db.fetch_batches_with(topic, p, from, limits, isolation)?;
    if from > batches.end_offset {
        return Err(Error::OffsetOutOfRange {
            offset: from,
            beginning: batches.beginning_offset,
            end: batches.end_offset,
        });
    }
    if limit == 0 && !first {
        // Over the request's budget: the partition's offsets, no batch.
        return Ok(FetchedBatches {
            bytes: Vec::new(),
            len: 0,
            from: batches.from,
            next_offset: batches.next_offset,
            end_offset: batches.end_offset,
            beginning_offset: batches.beginning_offset,
            last_stable_offset: batches.last_stable_offset,
            compressed: false,
            sections: std::sync::OnceLock::new(),
        });
    }
    Ok(batches)
}

fn fetch_response(wanted: &Wanted, reads: Vec<Read>, isolation: Isolation) -> FetchResponse {
    let mut topics: Vec<FetchableTopicResponse> = wanted
        .iter()
        .map(|(name, _)| {
            FetchableTopicResponse::default().with_topic(kafka_protocol::messages::TopicName(
                StrBytes::from_string(name.clone()),
            ))
        })
        .collect();
    for read in reads {
        let data = PartitionData::default().with_partition_index(read.partition);
        let data = match read.result {
            Ok(batches) => data
                .with_high_watermark(i64::try_from(batches.end_offset).unwrap_or(-1))
                .with_last_stable_offset(i64::try_from(batches.last_stable_offset).unwrap_or(-1))
                .with_log_start_offset(i64::try_from(batches.beginning_offset).unwrap_or(-1))
                .with_aborted_transactions(match isolation {
                    // Aborted batches are left out of a read-committed fetch already.
                    Isolation::ReadCommitted => Some(Vec::new()),
                    Isolation::ReadUncommitted => None,
                })
                .with_records(Some(Bytes::copy_from_slice(batches.bytes()))),
            Err(e) => data
                .with_error_code(code(&e, ResponseError::InvalidRequest))
                .with_high_watermark(-1),
        };
        if let Some(topic) = topics.get_mut(read.topic) {
            topic.partitions.push(data);
        }
    }
    FetchResponse::default().with_responses(topics)
}

/// `ListOffsets`: the earliest offset (-2), the latest (-1: the end, or under
/// `read_committed` the last stable offset), or the first at or after a timestamp.
pub(super) async fn list_offsets(
    context: &Context,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let isolation = if request.isolation_level == 1 {
        Isolation::ReadCommitted
    } else {
        Isolation::ReadUncommitted
    };
    let mut topics = Vec::with_capacity(request.topics.len().min(1024));
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len().min(1024));
        for partition in topic.partitions {
            let db = context.db.clone();
            let topic = name.clone();
            let (index, timestamp) = (partition.partition_index, partition.timestamp);
            let found = run(move || offset_for(&db, &topic, index, timestamp, isolation)).await;
            let response = ListOffsetsPartitionResponse::default().with_partition_index(index);
            partitions.push(match found {
                Ok(Some(offset)) => response
                    .with_offset(i64::try_from(offset).unwrap_or(-1))
                    .with_timestamp(-1),
                Ok(None) => response,
                Err(e) => response.with_error_code(code(&e, ResponseError::InvalidRequest)),
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

fn offset_for(
    db: &Brooklet,
    topic: &str,
    partition: i32,
    timestamp: i64,
    isolation: Isolation,
) -> Result<Option<u64>> {
    let partition = u32::try_from(partition).map_err(|_| Error::UnknownPartition {
        topic: topic.to_owned(),
        partition: 0,
        partitions: 0,
    })?;
    match timestamp {
        -2 => db.beginning_offset(topic, partition).map(Some),
        -1 => db.readable_end(topic, partition, isolation).map(Some),
        t if t >= 0 => db.offset_for_time(topic, partition, t),
        _ => Err(Error::invalid("unsupported ListOffsets timestamp")),
    }
}

/// `InitProducerId` for an idempotent producer: a new producer id (allocated in the file),
/// or for a producer that gives its id and epoch (after an error, KIP-360) the next
/// epoch. Transactional ids are refused: brooklet's transactions are not served here.
pub(super) async fn init_producer_id(
    context: &Context,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default();
    if request.transactional_id.is_some() {
        return response.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    if request.producer_id.0 >= 0 && request.producer_epoch >= 0 {
        let Some(epoch) = request.producer_epoch.checked_add(1) else {
            return response.with_error_code(ResponseError::InvalidProducerEpoch.code());
        };
        return response
            .with_producer_id(request.producer_id)
            .with_producer_epoch(epoch);
    }
    let db = context.db.clone();
    match run(move || db.allocate_producer_id()).await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => response.with_error_code(code(&e, ResponseError::InvalidRequest)),
    }
}
