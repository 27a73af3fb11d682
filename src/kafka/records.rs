//! The records of a batch: zero-copy reading ([`Records`] lends out [`RecordRef`]s that
//! borrow keys, values and headers from stored batches, so reading a partition costs no
//! allocation per record), full decoding ([`decode_batch`]), and the filtering compaction
//! does ([`filter_batch`]).
//!
//! Record parsing is strict: every length and varint is bounds-checked and offset deltas
//! must rise; a malformed record is an [`crate::Error::Corrupt`] item, never a panic.

use super::batch::{
    BATCH_HEADER_SIZE, BatchHeader, LOG_OVERHEAD, OFF_ATTRIBUTES, OFF_BATCH_LENGTH, OFF_CRC,
    OFF_LEADER_EPOCH, OFF_RECORD_COUNT, OFF_TIMESTAMP_MAX, verify_batch,
};
use super::record::{Header, StoredRecord, TimestampType};
use super::wire::{Reader, bad_batch};
use crate::error::{Error, Result};

/// A record borrowed from fetched batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The record's offset.
    pub offset: u64,
    /// The record's timestamp (create or log-append time, by the batch's type).
    pub timestamp_ms: i64,
    /// The key; `None` is Kafka's null.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is Kafka's null.
    pub value: Option<&'a [u8]>,
    headers: &'a [u8],
    header_count: usize,
}

impl<'a> RecordRef<'a> {
    /// The headers, in order: `(key, value)` with `None` for a null value.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, Option<&'a [u8]>)> + 'a {
        let mut reader = Reader::new(self.headers);
        // The record's parse already checked every header, so these reads succeed.
        (0..self.header_count).map_while(move |_| read_header(&mut reader).ok())
    }

    /// Number of headers.
    #[must_use]
    pub fn header_count(&self) -> usize {
        self.header_count
    }

    /// An owned copy.
    #[must_use]
    pub fn to_owned_record(&self) -> StoredRecord {
        StoredRecord {
            offset: self.offset,
            timestamp_ms: self.timestamp_ms,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            headers: self
                .headers()
                .map(|(key, value)| Header {
                    key: key.to_owned(),
                    value: value.map(<[u8]>::to_vec),
                })
                .collect(),
        }
    }
}

/// The batch being read: its header, its unread records, and the last offset delta seen.
#[derive(Debug)]
struct Current<'a> {
    header: BatchHeader,
    records: Reader<'a>,
    left: u32,
    delta_min: u32,
}

/// The records of fetched batches (`FetchedBatches::records`), in offset order. An item is an error only if a
/// record is malformed despite its batch's valid CRC; the iteration ends after it.
#[derive(Debug)]
pub struct Records<'a> {
    rest: &'a [u8],
    batch: Option<Current<'a>>,
    from: u64,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordRef<'a>>;

    // Inlined into the caller's loop, so that each record goes to it in registers rather
    // than through copies on the stack.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some(batch) = self.batch.as_mut().filter(|batch| batch.left > 0) else {
                match self.next_batch() {
                    Ok(true) => continue,
                    Ok(false) => return None,
                    Err(e) => return Some(Err(self.fail(e))),
                }
            };
            batch.left -= 1;
            match read_record(batch) {
                Ok((record, _)) if record.offset < self.from => {}
                Ok((record, _)) => return Some(Ok(record)),
                Err(e) => return Some(Err(self.fail(e))),
            }
        }
    }
}

impl<'a> Records<'a> {
    /// The records of the stored batches `bytes` (back to back, each CRC-checked by whoever
    /// read them) at or after offset `from`.
    pub(crate) fn new(bytes: &'a [u8], from: u64) -> Self {
        Self {
            rest: bytes,
            batch: None,
            from,
        }
    }
}

impl Records<'_> {
    /// Finishes the current batch (nothing may follow its last record) and starts the
    /// next data batch; `false` at the end of the bytes.
    #[inline(never)]
    fn next_batch(&mut self) -> Result<bool> {
        if let Some(batch) = self.batch.take()
            && batch.records.remaining() != 0
        {
            return Err(bad_batch("bytes left after the last record"));
        }
        loop {
            if self.rest.is_empty() {
                return Ok(false);
            }
            let header = BatchHeader::parse(self.rest)?;
            let size = header.size();
            let Some(bytes) = self.rest.get(..size) else {
                return Err(bad_batch("batch length runs past the end of the bytes"));
            };
            self.rest = &self.rest[size..];
            if header.is_control() {
                continue;
            }
            if header.compression() != 0 {
                return Err(bad_batch("compressed batches are not supported"));
            }
            self.batch = Some(Current::new(header, bytes));
            return Ok(true);
        }
    }

    /// Ends the iteration after an error.
    #[cold]
    fn fail(&mut self, error: Error) -> Error {
        self.rest = &[];
        self.batch = None;
        error
    }
}

impl<'a> Current<'a> {
    /// The records of a data batch whose header is `header` and whose bytes (header
    /// included) are `bytes`.
    fn new(header: BatchHeader, bytes: &'a [u8]) -> Self {
        Self {
            records: Reader::new(&bytes[BATCH_HEADER_SIZE..header.size()]),
            left: header.record_count,
            header,
            delta_min: 0,
        }
    }
}

/// Visits every record of the batch at the start of `bytes` (whose parsed header is
/// `header`, uncompressed, not a control batch) with its raw bytes, length prefix
/// included, and checks that nothing follows the last record.
pub(crate) fn visit_records<'a>(
    header: BatchHeader,
    bytes: &'a [u8],
    mut visit: impl FnMut(RecordRef<'a>, &'a [u8]),
) -> Result<()> {
    let mut batch = Current::new(header, bytes);
    while batch.left > 0 {
        batch.left -= 1;
        let (record, raw) = read_record(&mut batch)?;
        visit(record, raw);
    }
    if batch.records.remaining() != 0 {
        return Err(bad_batch("bytes left after the last record"));
    }
    Ok(())
}

/// Parses the next record of `batch`; returns it and its raw bytes (length prefix
/// included). Inlined into its two callers: it is the whole per-record cost of reading,
/// and returned through memory its result costs as much as the parse.
#[inline]
fn read_record<'a>(batch: &mut Current<'a>) -> Result<(RecordRef<'a>, &'a [u8])> {
    let header = &batch.header;
    let before = batch.records.clone();
    let length = usize::try_from(batch.records.varint()?)
        .map_err(|_| bad_batch("negative record length"))?;
    let mut reader = Reader::new(batch.records.take(length, "record runs past the batch")?);
    let raw = before.taken_until(&batch.records);
    reader.take(1, "record is truncated")?;
    let timestamp_delta = reader.varlong()?;
    let offset_delta = u32::try_from(reader.varint()?)
        .ok()
        .filter(|delta| (batch.delta_min..=header.offset_delta_last).contains(delta))
        .ok_or_else(|| bad_batch("offset delta out of order or past the last offset delta"))?;
    batch.delta_min = offset_delta + 1;
    let timestamp_ms = match header.timestamp_type() {
        TimestampType::LogAppendTime => header.timestamp_max_ms,
        TimestampType::CreateTime => header
            .timestamp_base_ms
            .checked_add(timestamp_delta)
            .ok_or_else(|| bad_batch("record timestamp overflows"))?,
    };
    let key = nullable(&mut reader, "record key runs past the record")?;
    let value = nullable(&mut reader, "record value runs past the record")?;
    let header_count = usize::try_from(reader.varint()?)
        .ok()
        .filter(|&count| count <= reader.remaining() / 2)
        .ok_or_else(|| bad_batch("header count does not fit the record"))?;
    let headers = reader.take(reader.remaining(), "headers")?;
    if header_count == 0 {
        // The common case, checked without a header loop.
        if !headers.is_empty() {
            return Err(bad_batch("record length does not match its fields"));
        }
    } else {
        check_headers(headers, header_count)?;
    }
    let record = RecordRef {
        offset: header.offset_base + u64::from(offset_delta),
        timestamp_ms,
        key,
        value,
        headers,
        header_count,
    };
    Ok((record, raw))
}

/// Checks that `headers` holds exactly `header_count` well-formed headers.
fn check_headers(headers: &[u8], header_count: usize) -> Result<()> {
    let mut check = Reader::new(headers);
    for _ in 0..header_count {
        read_header(&mut check)?;
    }
    if check.remaining() != 0 {
        return Err(bad_batch("record length does not match its fields"));
    }
    Ok(())
}

fn read_header<'a>(reader: &mut Reader<'a>) -> Result<(&'a str, Option<&'a [u8]>)> {
    let key_length = usize::try_from(reader.varint()?).map_err(|_| bad_batch("null header key"))?;
    let key = reader.take(key_length, "header key runs past the record")?;
    let key = std::str::from_utf8(key).map_err(|_| bad_batch("header key is not UTF-8"))?;
    let value = nullable(reader, "header value runs past the record")?;
    Ok((key, value))
}

#[inline]
fn nullable<'a>(reader: &mut Reader<'a>, why: &'static str) -> Result<Option<&'a [u8]>> {
    match reader.varint()? {
        -1 => Ok(None),
        length => {
            let length = usize::try_from(length).map_err(|_| bad_batch("negative length"))?;
            Ok(Some(reader.take(length, why)?))
        }
    }
}

/// A decoded batch: its header and its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedBatch {
    /// The batch header.
    pub header: BatchHeader,
    /// The records, in offset order.
    pub records: Vec<StoredRecord>,
}

/// Decodes and fully verifies the batch at the start of `bytes` (see the module docs for the
/// checks). Bytes after the batch are ignored; the batch's size is `header.size()`.
pub fn decode_batch(bytes: &[u8]) -> Result<DecodedBatch> {
    let header = verify_batch(bytes)?;
    if header.compression() != 0 {
        return Err(bad_batch("compressed batches are not supported"));
    }
    // parse() bounded the count by the bytes present, so this allocation is too.
    let mut records = Vec::with_capacity(header.record_count as usize);
    visit_records(header, bytes, |record, _| {
        records.push(record.to_owned_record());
    })?;
    Ok(DecodedBatch { header, records })
}

/// Visits every record of the verified (CRC-checked), uncompressed batch at the start of
/// `bytes` with its raw bytes, length prefix included. Returns the batch header. Control
/// batches are not visited.
pub(crate) fn for_each_record<'a>(
    bytes: &'a [u8],
    visit: impl FnMut(RecordRef<'a>, &'a [u8]),
) -> Result<BatchHeader> {
    let header = verify_batch(bytes)?;
    if header.is_control() {
        return Ok(header);
    }
    if header.compression() != 0 {
        return Err(bad_batch("compressed batches are not supported"));
    }
    visit_records(header, bytes, visit)?;
    Ok(header)
}

/// What [`filter_batch`] kept of a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Filtered {
    /// Records kept.
    pub kept: u32,
    /// Records removed.
    pub removed: u32,
    /// Bytes appended to the output (0 when every record was removed).
    pub bytes: usize,
    /// The kept batch's `maxTimestamp` (meaningful when `bytes > 0`).
    pub timestamp_max_ms: i64,
}

/// Appends to `out` the batch at the start of `bytes` with only the records `keep` accepts,
/// as Kafka's log cleaner writes it: the same `baseOffset`, `lastOffsetDelta`,
/// `baseTimestamp` and attributes, each kept record's bytes unchanged (so its offset and
/// timestamp deltas still hold), and a new length, record count, `maxTimestamp` (create time:
/// the largest kept timestamp) and CRC. A batch left with no records is dropped; a control
/// batch is kept whole.
pub(crate) fn filter_batch(
    bytes: &[u8],
    out: &mut Vec<u8>,
    mut keep: impl FnMut(&RecordRef<'_>) -> bool,
) -> Result<Filtered> {
    let start = out.len();
    out.extend_from_slice(bytes.get(..BATCH_HEADER_SIZE).unwrap_or_default());
    let mut filtered = Filtered::default();
    let mut timestamp_max = i64::MIN;
    let header = for_each_record(bytes, |view, raw| {
        if keep(&view) {
            out.extend_from_slice(raw);
            filtered.kept += 1;
            timestamp_max = timestamp_max.max(view.timestamp_ms);
        } else {
            filtered.removed += 1;
        }
    });
    let header = match header {
        Ok(h) => h,
        Err(e) => {
            out.truncate(start);
            return Err(e);
        }
    };
    if header.is_control() {
        out.truncate(start);
        out.extend_from_slice(&bytes[..header.size()]);
        filtered.kept = header.record_count;
        filtered.bytes = header.size();
        filtered.timestamp_max_ms = header.timestamp_max_ms;
        return Ok(filtered);
    }
    if filtered.kept == 0 {
        out.truncate(start);
        return Ok(filtered);
    }
    if filtered.removed == 0 {
        out.truncate(start);
        out.extend_from_slice(&bytes[..header.size()]);
        filtered.bytes = header.size();
        filtered.timestamp_max_ms = header.timestamp_max_ms;
        return Ok(filtered);
    }
    let timestamp_max_ms = match header.timestamp_type() {
        TimestampType::LogAppendTime => header.timestamp_max_ms,
        TimestampType::CreateTime => timestamp_max,
    };
    let batch = &mut out[start..];
    let batch_length =
        i32::try_from(batch.len() - LOG_OVERHEAD).expect("a filtered batch is no larger");
    batch[OFF_BATCH_LENGTH..OFF_LEADER_EPOCH].copy_from_slice(&batch_length.to_be_bytes());
    batch[OFF_TIMESTAMP_MAX..OFF_TIMESTAMP_MAX + 8]
        .copy_from_slice(&timestamp_max_ms.to_be_bytes());
    let count = i32::try_from(filtered.kept).expect("a filtered batch has no more records");
    batch[OFF_RECORD_COUNT..BATCH_HEADER_SIZE].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&batch[OFF_ATTRIBUTES..]);
    batch[OFF_CRC..OFF_ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    filtered.bytes = batch.len();
    filtered.timestamp_max_ms = timestamp_max_ms;
    Ok(filtered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::batch::encode_batch;
    use crate::kafka::record::Record;

    fn records() -> Vec<Record> {
        (0..20u8)
            .map(|i| Record {
                key: (i % 3 != 0).then(|| vec![i; usize::from(i)]),
                value: (i % 4 != 0).then(|| vec![i; 3]),
                headers: (0..i % 3)
                    .map(|h| Header {
                        key: format!("h{h}"),
                        value: (h == 1).then(|| vec![h]),
                    })
                    .collect(),
                timestamp_ms: Some(1_000 + i64::from(i)),
            })
            .collect()
    }

    #[test]
    fn borrowed_records_equal_decoded_ones_and_skip_below_from() {
        let mut bytes = encode_batch(10, &records(), TimestampType::CreateTime, 5).expect("a");
        bytes.extend(encode_batch(30, &records(), TimestampType::LogAppendTime, 7).expect("b"));
        let mut want = decode_batch(&bytes).expect("a").records;
        let first_len = BatchHeader::parse(&bytes).expect("header").size();
        want.extend(decode_batch(&bytes[first_len..]).expect("b").records);
        let got: Vec<StoredRecord> = Records::new(&bytes, 15)
            .map(|r| r.expect("record").to_owned_record())
            .collect();
        let want: Vec<StoredRecord> = want.into_iter().filter(|r| r.offset >= 15).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn damaged_bytes_give_one_error_and_end() {
        let bytes = encode_batch(0, &records(), TimestampType::CreateTime, 5).expect("batch");
        for cut in [1, BATCH_HEADER_SIZE, bytes.len() - 1] {
            let items: Vec<_> = Records::new(&bytes[..cut], 0).collect();
            assert!(items.last().is_some_and(Result::is_err), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        // A record length made huge: parse error, not a panic.
        flipped[BATCH_HEADER_SIZE] = 0x7f;
        assert!(Records::new(&flipped, 0).any(|r| r.is_err()));
    }
}
