//! File work off the async threads, and brooklet's errors as Kafka error codes.
//!
//! Every call into the file goes through [`run`]: the blocking API on tokio's blocking
//! pool. An async API of the library would replace it here, and only here.

use kafka_protocol::ResponseError;

use crate::error::{Error, Result};

/// Runs blocking file work `f` on the blocking pool. A task that panicked (a broken
/// invariant in the library) is reported as an I/O error, not passed on.
pub(super) async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(Error::Io(std::io::Error::other(format!(
            "a file task ended without a result: {e}"
        )))),
    }
}

/// What a request failed with, as Kafka's error: `invalid` is the code for
/// [`Error::InvalidArgument`], which depends on the request (a record, a config, a
/// topic name).
pub(super) fn code(error: &Error, invalid: ResponseError) -> i16 {
    match error {
        Error::UnknownTopic(_) | Error::UnknownPartition { .. } => {
            ResponseError::UnknownTopicOrPartition
        }
        Error::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        Error::RecordTooLarge { .. } => ResponseError::MessageTooLarge,
        Error::InvalidArgument(_) => invalid,
        Error::TopicExists(_) => ResponseError::TopicAlreadyExists,
        Error::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber,
        Error::Fenced(_) => ResponseError::InvalidProducerEpoch,
        Error::InconsistentGroupProtocol(_) => ResponseError::InconsistentGroupProtocol,
        Error::Busy => ResponseError::RequestTimedOut,
        Error::Corrupt { .. } | Error::Io(_) | Error::Poisoned => ResponseError::KafkaStorageError,
        _ => ResponseError::UnknownServerError,
    }
    .code()
}
