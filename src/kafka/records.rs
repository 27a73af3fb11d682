//! The records of a batch: zero-copy reading ([`Records`] lends out [`RecordRef`]s that
//! borrow keys, values and headers from stored batches, so reading a partition costs no
//! allocation per record), full decoding ([`decode_batch`]), and the filtering compaction
//! does ([`filter_batch`]).
//!
//! Record parsing is strict: every length and varint is bounds-checked and offset deltas
//! must rise; a malformed record is an [`crate::Error::Corrupt`] item, never a panic.

use super::batch::RECORD_SIZE_MIN;
use super::batch::{
    BATCH_HEADER_SIZE, BatchHeader, LOG_OVERHEAD, OFF_ATTRIBUTES, OFF_BATCH_LENGTH, OFF_CRC,
    OFF_LEADER_EPOCH, OFF_RECORD_COUNT, OFF_TIMESTAMP_MAX, verify_batch,
};
use super::compression::{Compression, compress, decompress};
use super::record::{Header, StoredRecord, TimestampType};
use super::wire::{Reader, bad_batch};
use crate::error::{CorruptionKind, Error, Result};

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
    /// The decompressed records of the compressed batches in `rest`, not yet read.
    sections: &'a [u8],
    /// Why decompressing stopped at the compressed batch after the last section, if it did.
    failure: Option<&'a CorruptionKind>,
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
    /// `sections` holds the batches' compressed records decompressed ([`Sections::of`];
    /// [`NO_SECTIONS`] if none is compressed).
    pub(crate) fn new(bytes: &'a [u8], from: u64, sections: &'a Sections) -> Self {
        Self {
            rest: bytes,
            batch: None,
            from,
            sections: &sections.bytes,
            failure: sections.failure.as_ref(),
        }
    }
}

/// The records sections of the compressed data batches among stored batches, decompressed
/// once so that [`Records`] can lend out records that borrow from them as it lends out
/// records of uncompressed batches from the stored bytes. Each section is kept behind its
/// length (a big-endian `u32`), in batch order.
#[derive(Debug, Default)]
pub(crate) struct Sections {
    bytes: Vec<u8>,
    /// What was wrong with the compressed batch after the last section, if any.
    failure: Option<CorruptionKind>,
}

/// No sections: for batches of which none is compressed.
pub(crate) static NO_SECTIONS: Sections = Sections {
    bytes: Vec::new(),
    failure: None,
};

impl Sections {
    /// Decompresses the records of every compressed data batch in `batches` (stored batches
    /// back to back), stopping at the first that fails.
    pub(crate) fn of(batches: &[u8]) -> Self {
        let mut sections = Self::default();
        if let Err(error) = sections.fill(batches) {
            sections.failure = Some(match error {
                Error::Corrupt { kind, .. } => kind,
                _ => CorruptionKind::BadBatch("compressed records fail to decompress"),
            });
        }
        sections
    }

    fn fill(&mut self, mut batches: &[u8]) -> Result<()> {
        while !batches.is_empty() {
            let header = BatchHeader::parse(batches)?;
            let Some(bytes) = batches.get(..header.size()) else {
                return Err(bad_batch("batch length runs past the end of the bytes"));
            };
            batches = &batches[header.size()..];
            if header.is_control() || header.compression() == 0 {
                continue;
            }
            let at = self.bytes.len();
            self.bytes.extend_from_slice(&[0; 4]);
            if let Err(error) = decompress_records(&header, bytes, &mut self.bytes) {
                self.bytes.truncate(at);
                return Err(error);
            }
            let length = u32::try_from(self.bytes.len() - at - 4)
                .expect("MAX_DECOMPRESSED_SIZE is under 4 GiB");
            self.bytes[at..at + 4].copy_from_slice(&length.to_be_bytes());
        }
        Ok(())
    }
}

/// Appends to `out` the records section of the compressed batch `bytes` (whose parsed
/// header is `header`), decompressed, and checks that its record count can fit it.
pub(crate) fn decompress_records(
    header: &BatchHeader,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let codec = header
        .codec()
        .ok_or_else(|| bad_batch("compression codec is not 0 to 4"))?;
    let start = out.len();
    decompress(codec, &bytes[BATCH_HEADER_SIZE..header.size()], out)?;
    if header.record_count as usize > (out.len() - start) / RECORD_SIZE_MIN {
        out.truncate(start);
        return Err(bad_batch(
            "record count does not fit the decompressed records",
        ));
    }
    Ok(())
}

impl<'a> Records<'a> {
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
            let records = if header.compression() == 0 {
                &bytes[BATCH_HEADER_SIZE..]
            } else {
                self.next_section()?
            };
            self.batch = Some(Current::new(header, records));
            return Ok(true);
        }
    }

    /// The decompressed records of the compressed batch just reached.
    #[cold]
    fn next_section(&mut self) -> Result<&'a [u8]> {
        let Some((length, rest)) = self.sections.split_first_chunk::<4>() else {
            let kind = self.failure.cloned().unwrap_or(CorruptionKind::BadBatch(
                "compressed batch has no decompressed records",
            ));
            return Err(Error::Corrupt { page: None, kind });
        };
        let (section, rest) = rest
            .split_at_checked(u32::from_be_bytes(*length) as usize)
            .expect("Sections::fill wrote the length of the section after it");
        self.sections = rest;
        Ok(section)
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
    /// The records of a data batch whose header is `header` and whose records section
    /// (decompressed if it was compressed) is `records`.
    fn new(header: BatchHeader, records: &'a [u8]) -> Self {
        Self {
            records: Reader::new(records),
            left: header.record_count,
            header,
            delta_min: 0,
        }
    }
}

/// Visits every record of the records section `records` (decompressed if it was
/// compressed) of a data batch whose parsed header is `header` with its raw bytes, length
/// prefix included, and checks that nothing follows the last record.
fn visit_records<'a>(
    header: BatchHeader,
    records: &'a [u8],
    mut visit: impl FnMut(RecordRef<'a>, &'a [u8]),
) -> Result<()> {
    let mut batch = Current::new(header, records);
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
    let mut decompressed = Vec::new();
    let section = records_section(&header, bytes, &mut decompressed)?;
    // parse() bounded the count by the bytes present, and decompress_records by the bytes
    // decompressed, so this allocation is bounded too.
    let mut records = Vec::with_capacity(header.record_count as usize);
    visit_records(header, section, |record, _| {
        records.push(record.to_owned_record());
    })?;
    Ok(DecodedBatch { header, records })
}

/// The records section of the verified batch `bytes`: in place, or decompressed into
/// `scratch` if the batch is compressed.
fn records_section<'a>(
    header: &BatchHeader,
    bytes: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8]> {
    if header.compression() == 0 {
        return Ok(&bytes[BATCH_HEADER_SIZE..header.size()]);
    }
    scratch.clear();
    decompress_records(header, bytes, scratch)?;
    Ok(scratch)
}

/// Visits every record of the batch at the start of `bytes`, verified (CRC-checked) here
/// and decompressed if compressed, with its raw bytes, length prefix included (as the
/// records section holds them, decompressed). Returns the batch header. Control batches
/// are not visited.
pub(crate) fn for_each_record(
    bytes: &[u8],
    visit: impl for<'r> FnMut(RecordRef<'r>, &'r [u8]),
) -> Result<BatchHeader> {
    let header = verify_batch(bytes)?;
    visit_verified(header, bytes, visit)?;
    Ok(header)
}

/// [`for_each_record`] over a batch whose CRC the caller has verified (`header` is what
/// [`verify_batch`] returned for `bytes`), so that it is not computed a second time.
pub(crate) fn visit_verified(
    header: BatchHeader,
    bytes: &[u8],
    visit: impl for<'r> FnMut(RecordRef<'r>, &'r [u8]),
) -> Result<()> {
    if header.is_control() {
        return Ok(());
    }
    let mut decompressed = Vec::new();
    let section = records_section(&header, bytes, &mut decompressed)?;
    visit_records(header, section, visit)
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
/// batch, and a batch that keeps every record, is kept whole. A compressed batch that loses
/// records keeps its codec: its kept records are compressed again with it (at the codec's
/// default level), as Kafka's cleaner does.
pub(crate) fn filter_batch(
    bytes: &[u8],
    out: &mut Vec<u8>,
    mut keep: impl FnMut(&RecordRef<'_>) -> bool,
) -> Result<Filtered> {
    let mut filtered = Filtered::default();
    let mut timestamp_max = i64::MIN;
    // The kept records, uncompressed, each as the records section holds it.
    let mut kept = Vec::new();
    let header = for_each_record(bytes, |view, raw| {
        if keep(&view) {
            kept.extend_from_slice(raw);
            filtered.kept += 1;
            timestamp_max = timestamp_max.max(view.timestamp_ms);
        } else {
            filtered.removed += 1;
        }
    })?;
    if header.is_control() || (filtered.kept > 0 && filtered.removed == 0) {
        out.extend_from_slice(&bytes[..header.size()]);
        filtered.kept = header.record_count;
        filtered.bytes = header.size();
        filtered.timestamp_max_ms = header.timestamp_max_ms;
        return Ok(filtered);
    }
    if filtered.kept == 0 {
        return Ok(filtered);
    }
    let timestamp_max_ms = match header.timestamp_type() {
        TimestampType::LogAppendTime => header.timestamp_max_ms,
        TimestampType::CreateTime => timestamp_max,
    };
    let start = out.len();
    out.extend_from_slice(&bytes[..BATCH_HEADER_SIZE]);
    let codec = header.codec().unwrap_or(Compression::None);
    compress(codec, &kept, out);
    let batch = &mut out[start..];
    let batch_length = i32::try_from(batch.len() - LOG_OVERHEAD)
        .expect("kept records are at most MAX_DECOMPRESSED_SIZE, compressed or not");
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
        let got: Vec<StoredRecord> = Records::new(&bytes, 15, &NO_SECTIONS)
            .map(|r| r.expect("record").to_owned_record())
            .collect();
        let want: Vec<StoredRecord> = want.into_iter().filter(|r| r.offset >= 15).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn damaged_bytes_give_one_error_and_end() {
        let bytes = encode_batch(0, &records(), TimestampType::CreateTime, 5).expect("batch");
        for cut in [1, BATCH_HEADER_SIZE, bytes.len() - 1] {
            let items: Vec<_> = Records::new(&bytes[..cut], 0, &NO_SECTIONS).collect();
            assert!(items.last().is_some_and(Result::is_err), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        // A record length made huge: parse error, not a panic.
        flipped[BATCH_HEADER_SIZE] = 0x7f;
        assert!(Records::new(&flipped, 0, &NO_SECTIONS).any(|r| r.is_err()));
    }
}
