//! The record types users produce and consume, shaped like Kafka's: nullable key and value,
//! ordered headers with string keys and nullable values, and a millisecond timestamp.

/// One record header. Kafka header keys are strings; values are nullable bytes. A record may
/// hold several headers with the same key; their order is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header's key.
    pub key: String,
    /// The header's value; `None` is Kafka's null.
    pub value: Option<Vec<u8>>,
}

/// A record to produce.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Record {
    /// The key; `None` is Kafka's null (a keyless record). The key chooses the partition
    /// and is what compaction keeps the latest value of.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is Kafka's null (a tombstone under compaction).
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// The record's create time in milliseconds since the Unix epoch; `None` uses the time
    /// of the append. Must not be negative.
    pub timestamp_ms: Option<i64>,
}

/// A record read back from a partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StoredRecord {
    /// The record's offset in its partition.
    pub offset: u64,
    /// Milliseconds since the Unix epoch: the create time, or for a topic that uses log
    /// append time, the time the batch was appended (see [`TimestampType`]).
    pub timestamp_ms: i64,
    /// The key; `None` is Kafka's null.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is Kafka's null.
    pub value: Option<Vec<u8>>,
    /// Headers, in the order they were produced.
    pub headers: Vec<Header>,
}

/// Which time a batch's record timestamps mean (Kafka's `message.timestamp.type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Each record carries the time its producer gave it (or the append time if it gave
    /// none).
    #[default]
    CreateTime,
    /// Every record of a batch reads as the batch's append time.
    LogAppendTime,
}

impl Record {
    /// A record with an optional key and a value.
    #[must_use]
    pub fn new(key: Option<Vec<u8>>, value: Vec<u8>) -> Self {
        Self {
            key,
            value: Some(value),
            ..Self::default()
        }
    }

    /// A record with only a value (no key: the partition is chosen by the producer).
    #[must_use]
    pub fn value(value: impl Into<Vec<u8>>) -> Self {
        Self::new(None, value.into())
    }

    /// A record with a key and a value.
    #[must_use]
    pub fn keyed(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self::new(Some(key.into()), value.into())
    }

    /// A tombstone: a key with a null value (deletes the key under compaction).
    #[must_use]
    pub fn tombstone(key: impl Into<Vec<u8>>) -> Self {
        Self {
            key: Some(key.into()),
            ..Self::default()
        }
    }

    /// Adds a header (duplicates allowed, order kept).
    #[must_use]
    pub fn with_header(mut self, key: impl Into<String>, value: Option<Vec<u8>>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value,
        });
        self
    }

    /// Sets the create time.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }
}

/// Records as the encoder reads them: by index, each a key (for partitioning and the
/// compaction check), a timestamp, and its encoded tail (key, value and headers).
pub(crate) trait RecordSource {
    /// Number of records.
    fn count(&self) -> usize;
    /// Record `i`'s key.
    fn key(&self, i: usize) -> Option<&[u8]>;
    /// Record `i`'s create time, if it has one.
    fn timestamp_ms(&self, i: usize) -> Option<i64>;
    /// Size of record `i`'s encoded tail; see [`RecordSource::put_tail`].
    fn tail_size(&self, i: usize) -> usize;
    /// Appends record `i`'s key, value, header count and headers in Kafka's encoding.
    /// Callers check first that the record fits
    /// [`MAX_RECORD_SIZE`](super::MAX_RECORD_SIZE).
    fn put_tail(&self, i: usize, out: &mut Vec<u8>);
}
