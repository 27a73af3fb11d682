//! `DeleteRecords` (Kafka's `Admin.deleteRecords`, `kafka-delete-records`): moves each
//! partition's log start up to the offset asked for (-1: the high watermark, which for
//! one broker is the end offset), through [`crate::Admin::delete_records`]. Each partition
//! is its own commit and gets its own error code: `UNKNOWN_TOPIC_OR_PARTITION`, or
//! `OFFSET_OUT_OF_RANGE` for an offset past the end or below -1.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::Context;
use super::blocking::{code, run};
use crate::db::Brooklet;
use crate::error::{Error, Result};

/// Kafka's offset for "the high watermark" in a `DeleteRecords` request.
const HIGH_WATERMARK: i64 = -1;

/// `DeleteRecords`: every partition of the request, one commit each; the response names
/// each partition's new low watermark (its log start).
pub(super) async fn delete_records(
    context: &Context,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len().min(1024));
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len().min(1024));
        for partition in topic.partitions {
            let (index, offset) = (partition.partition_index, partition.offset);
            let db = context.db.clone();
            let topic = name.clone();
            let result = run(move || delete_one(&db, &topic, index, offset)).await;
            let response = DeleteRecordsPartitionResult::default().with_partition_index(index);
            partitions.push(match result {
                Ok(low_watermark) => {
                    response.with_low_watermark(i64::try_from(low_watermark).unwrap_or(-1))
                }
                Err(e) => response
                    .with_low_watermark(-1)
                    .with_error_code(code(&e, ResponseError::OffsetOutOfRange)),
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}

/// Deletes the records of one partition below `offset` (-1: below the end). Returns the
/// new log start.
fn delete_one(db: &Brooklet, topic: &str, partition: i32, offset: i64) -> Result<u64> {
    let partition = u32::try_from(partition).map_err(|_| Error::UnknownPartition {
        topic: topic.to_owned(),
        partition: 0,
        partitions: 0,
    })?;
    let before = if offset == HIGH_WATERMARK {
        db.end_offset(topic, partition)?
    } else {
        u64::try_from(offset).map_err(|_| Error::invalid("DeleteRecords offset below -1"))?
    };
    db.admin().delete_records(topic, partition, before)
}
