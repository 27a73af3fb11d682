//! Records to send without owned buffers, and the one record interface the batch encoder
//! reads.
//!
//! [`BorrowedRecord`] borrows its key, value and headers from the caller. A producer copies
//! every record of a borrowed send into one [`PackedRecords`] buffer (its key, value and
//! headers already in Kafka's record encoding, the part after `offsetDelta`), so a send of
//! N records makes two allocations in all rather than two per record, and the leader of a
//! group commit copies each record's encoded tail with one `memcpy`.
//!
//! [`RecordSource`] (in `record`) is what the encoder reads: owned [`Record`]s, packed
//! records, and views over either (a run of a slice, or records gathered from several
//! sends).

use super::batch::{MAX_RECORD_SIZE, nullable_size, put_length_checked, put_nullable};
use super::record::Record;
pub(crate) use super::record::RecordSource;
use crate::error::{Error, Result};

/// A header of a [`BorrowedRecord`]: a UTF-8 key and a nullable value, both borrowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BorrowedHeader<'a> {
    /// The header's key.
    pub key: &'a str,
    /// The header's value; `None` is Kafka's null.
    pub value: Option<&'a [u8]>,
}

/// A record to produce whose key, value and headers are borrowed from the caller, for
/// [`Producer::send_batch_borrowed`](crate::Producer::send_batch_borrowed) and the other
/// `*_borrowed` sends. It stores exactly what the [`Record`] with the same fields stores.
///
/// ```
/// use brooklet::{BorrowedHeader, BorrowedRecord};
///
/// let headers = [BorrowedHeader { key: "source", value: Some(b"web") }];
/// let record = BorrowedRecord::keyed(b"customer-7", b"{\"total\":42}")
///     .with_headers(&headers)
///     .with_timestamp(1_700_000_000_000);
/// assert_eq!(record.key, Some(&b"customer-7"[..]));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BorrowedRecord<'a> {
    /// The key; `None` is Kafka's null (a keyless record).
    pub key: Option<&'a [u8]>,
    /// The value; `None` is Kafka's null (a tombstone under compaction).
    pub value: Option<&'a [u8]>,
    /// Headers, in order (duplicates allowed).
    pub headers: &'a [BorrowedHeader<'a>],
    /// The create time in milliseconds since the Unix epoch; `None` uses the append time.
    pub timestamp_ms: Option<i64>,
}

impl<'a> BorrowedRecord<'a> {
    /// A record with only a value.
    #[must_use]
    pub fn value(value: &'a [u8]) -> Self {
        Self {
            value: Some(value),
            ..Self::default()
        }
    }

    /// A record with a key and a value.
    #[must_use]
    pub fn keyed(key: &'a [u8], value: &'a [u8]) -> Self {
        Self {
            key: Some(key),
            value: Some(value),
            ..Self::default()
        }
    }

    /// A tombstone: a key with a null value.
    #[must_use]
    pub fn tombstone(key: &'a [u8]) -> Self {
        Self {
            key: Some(key),
            ..Self::default()
        }
    }

    /// Sets the headers.
    #[must_use]
    pub fn with_headers(mut self, headers: &'a [BorrowedHeader<'a>]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the create time.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// Size of the record's tail: key, value, header count and headers, encoded.
    fn tail_size(&self) -> usize {
        nullable_size(self.key)
            + nullable_size(self.value)
            + super::batch::length_size(self.headers.len())
            + self
                .headers
                .iter()
                .map(|h| nullable_size(Some(h.key.as_bytes())) + nullable_size(h.value))
                .sum::<usize>()
    }
}

/// One packed record: where its tail ends in the buffer, where its key is, its timestamp.
#[derive(Clone, Copy, Debug)]
struct Packed {
    tail_start: usize,
    tail_end: usize,
    /// The key's bytes in the buffer, or `None` for a null key.
    key: Option<(usize, usize)>,
    timestamp_ms: Option<i64>,
}

/// Borrowed records copied into one buffer in Kafka's record encoding (each record's tail:
/// key, value, header count, headers), with an index of where each record's tail is.
#[derive(Clone, Debug, Default)]
pub(crate) struct PackedRecords {
    tails: Vec<u8>,
    records: Vec<Packed>,
}

impl PackedRecords {
    /// Packs `records` with two allocations. Fails, copying nothing, if a record cannot fit
    /// a batch even alone ([`MAX_RECORD_SIZE`]).
    pub(crate) fn pack<'r, 'a: 'r>(
        records: impl ExactSizeIterator<Item = &'r BorrowedRecord<'a>> + Clone,
    ) -> Result<Self> {
        let mut size = 0;
        for (index, record) in records.clone().enumerate() {
            let tail = record.tail_size();
            // The tail alone, without length, attributes and deltas, is a lower bound.
            if tail > MAX_RECORD_SIZE {
                return Err(Error::RecordTooLarge {
                    what: format!("record {index} (MAX_RECORD_SIZE)"),
                    size: tail,
                    max: MAX_RECORD_SIZE,
                });
            }
            size += tail;
        }
        let mut packed = Self {
            tails: Vec::with_capacity(size),
            records: Vec::with_capacity(records.len()),
        };
        for record in records {
            let tail_start = packed.tails.len();
            let key = record.key.map(|k| {
                let end = packed.tails.len() + super::batch::length_size(k.len()) + k.len();
                (end - k.len(), end)
            });
            put_nullable(&mut packed.tails, record.key);
            put_nullable(&mut packed.tails, record.value);
            put_length_checked(&mut packed.tails, record.headers.len());
            for h in record.headers {
                put_nullable(&mut packed.tails, Some(h.key.as_bytes()));
                put_nullable(&mut packed.tails, h.value);
            }
            packed.records.push(Packed {
                tail_start,
                tail_end: packed.tails.len(),
                key,
                timestamp_ms: record.timestamp_ms,
            });
        }
        assert_eq!(packed.tails.len(), size, "planned and packed sizes differ");
        Ok(packed)
    }

    fn tail(&self, i: usize) -> &[u8] {
        let record = &self.records[i];
        &self.tails[record.tail_start..record.tail_end]
    }
}

impl RecordSource for PackedRecords {
    fn count(&self) -> usize {
        self.records.len()
    }
    fn key(&self, i: usize) -> Option<&[u8]> {
        self.records[i]
            .key
            .map(|(start, end)| &self.tails[start..end])
    }
    fn timestamp_ms(&self, i: usize) -> Option<i64> {
        self.records[i].timestamp_ms
    }
    fn tail_size(&self, i: usize) -> usize {
        let record = &self.records[i];
        record.tail_end - record.tail_start
    }
    fn put_tail(&self, i: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tail(i));
    }
}

/// Records `start..start + count` of a source.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run<'s, S: RecordSource + ?Sized> {
    pub(crate) source: &'s S,
    pub(crate) start: usize,
    pub(crate) count: usize,
}

impl<S: RecordSource + ?Sized> RecordSource for Run<'_, S> {
    fn count(&self) -> usize {
        self.count
    }
    fn key(&self, i: usize) -> Option<&[u8]> {
        self.source.key(self.start + i)
    }
    fn timestamp_ms(&self, i: usize) -> Option<i64> {
        self.source.timestamp_ms(self.start + i)
    }
    fn tail_size(&self, i: usize) -> usize {
        self.source.tail_size(self.start + i)
    }
    fn put_tail(&self, i: usize, out: &mut Vec<u8>) {
        self.source.put_tail(self.start + i, out);
    }
}

/// Records picked from several sources, in order: record `i` is record `picks[i].1` of
/// `picks[i].0`.
#[derive(Debug)]
pub(crate) struct Gathered<'s, S: RecordSource + ?Sized> {
    pub(crate) picks: Vec<(&'s S, usize)>,
}

impl<S: RecordSource + ?Sized> RecordSource for Gathered<'_, S> {
    fn count(&self) -> usize {
        self.picks.len()
    }
    fn key(&self, i: usize) -> Option<&[u8]> {
        let (s, j) = self.picks[i];
        s.key(j)
    }
    fn timestamp_ms(&self, i: usize) -> Option<i64> {
        let (s, j) = self.picks[i];
        s.timestamp_ms(j)
    }
    fn tail_size(&self, i: usize) -> usize {
        let (s, j) = self.picks[i];
        s.tail_size(j)
    }
    fn put_tail(&self, i: usize, out: &mut Vec<u8>) {
        let (s, j) = self.picks[i];
        s.put_tail(j, out);
    }
}

/// The records of one send: owned, or packed from borrowed records.
#[derive(Debug)]
pub(crate) enum SendRecords {
    Owned(Vec<Record>),
    Packed(PackedRecords),
}

impl RecordSource for SendRecords {
    fn count(&self) -> usize {
        match self {
            Self::Owned(r) => r.len(),
            Self::Packed(p) => p.count(),
        }
    }
    fn key(&self, i: usize) -> Option<&[u8]> {
        match self {
            Self::Owned(r) => r.as_slice().key(i),
            Self::Packed(p) => p.key(i),
        }
    }
    fn timestamp_ms(&self, i: usize) -> Option<i64> {
        match self {
            Self::Owned(r) => r[i].timestamp_ms,
            Self::Packed(p) => p.timestamp_ms(i),
        }
    }
    fn tail_size(&self, i: usize) -> usize {
        match self {
            Self::Owned(r) => r.as_slice().tail_size(i),
            Self::Packed(p) => p.tail_size(i),
        }
    }
    fn put_tail(&self, i: usize, out: &mut Vec<u8>) {
        match self {
            Self::Owned(r) => r.as_slice().put_tail(i, out),
            Self::Packed(p) => p.put_tail(i, out),
        }
    }
}
