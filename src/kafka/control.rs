//! Kafka's transaction markers: the control batches that end a transaction in each
//! partition it wrote ([`encode_control_batch`], [`ControlRecord`]), stamped with the
//! producer's [`ProducerStamp`].
//!
//! A control batch is what Kafka's broker writes for `WriteTxnMarkers`: attributes
//! transactional (bit 4) and control (bit 5), the producer's id and epoch, `baseSequence`
//! -1, and one record whose key is the control key (`version: int16 = 0`, `type: int16`,
//! 0 abort, 1 commit) and whose value is the end-transaction marker (`version: int16 = 0`,
//! `coordinatorEpoch: int32`).

use super::batch::{ATTR_CONTROL, OFF_ATTRIBUTES, OFF_CRC, ProducerStamp, encode_source_into};
use super::compression::Compression;
use super::record::{Record, TimestampType};
use super::wire::{Reader, bad_batch};
use crate::error::Result;

/// The kind of a control record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlType {
    /// The transaction was aborted: its records are never visible to `read_committed`.
    Abort,
    /// The transaction committed.
    Commit,
}

/// A decoded control record (a transaction marker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlRecord {
    /// Abort or commit.
    pub kind: ControlType,
    /// The coordinator epoch of the marker (brooklet writes 0: one file, one coordinator).
    pub coordinator_epoch: i32,
}

impl ControlRecord {
    /// Parses a control record from its key and value. A control type other than abort (0)
    /// or commit (1), or a key or value too short, is [`crate::CorruptionKind::BadBatch`].
    pub fn parse(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Self> {
        let mut k = Reader::new(key.ok_or_else(|| bad_batch("control record without a key"))?);
        let _version = k.i16()?;
        let kind = match k.i16()? {
            0 => ControlType::Abort,
            1 => ControlType::Commit,
            _ => return Err(bad_batch("control record type is neither abort nor commit")),
        };
        let mut v = Reader::new(value.ok_or_else(|| bad_batch("control record without a value"))?);
        let _version = v.i16()?;
        let coordinator_epoch = v.i32()?;
        Ok(Self {
            kind,
            coordinator_epoch,
        })
    }
}

/// Encodes a control batch of one marker at `offset`, for the producer `stamp` names (its
/// sequence is ignored: markers carry -1), with `timestamp_ms` as its create time.
pub(crate) fn encode_control_batch(
    offset: u64,
    stamp: &ProducerStamp,
    kind: ControlType,
    timestamp_ms: i64,
) -> Result<Vec<u8>> {
    let kind: i16 = match kind {
        ControlType::Abort => 0,
        ControlType::Commit => 1,
    };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0_i16.to_be_bytes());
    key.extend_from_slice(&kind.to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0_i16.to_be_bytes());
    value.extend_from_slice(&0_i32.to_be_bytes());
    let record = Record::keyed(key, value).with_timestamp(timestamp_ms);
    let marker = ProducerStamp {
        sequence_base: -1,
        transactional: true,
        ..*stamp
    };
    let mut out = Vec::with_capacity(80);
    encode_source_into(
        &mut out,
        offset,
        &[record][..],
        TimestampType::CreateTime,
        timestamp_ms,
        Some(&marker),
        Compression::None,
    )?;
    let attributes = u16::from_be_bytes([out[OFF_ATTRIBUTES], out[OFF_ATTRIBUTES + 1]]);
    out[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2]
        .copy_from_slice(&(attributes | ATTR_CONTROL).to_be_bytes());
    let crc = crc32c::crc32c(&out[OFF_ATTRIBUTES..]);
    out[OFF_CRC..OFF_ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::batch::{sequence_add, verify_batch};
    use crate::kafka::records::decode_batch;

    #[test]
    fn sequences_wrap_as_kafka_does() {
        assert_eq!(sequence_add(0, 5), 5);
        assert_eq!(sequence_add(i32::MAX, 1), 0);
        assert_eq!(sequence_add(i32::MAX - 1, 3), 1);
    }

    #[test]
    fn markers_round_trip_with_kafka_attributes() {
        let stamp = ProducerStamp {
            producer_id: 7,
            producer_epoch: 3,
            sequence_base: 99,
            transactional: true,
        };
        for kind in [ControlType::Abort, ControlType::Commit] {
            let bytes = encode_control_batch(41, &stamp, kind, 1_000).expect("marker");
            let header = verify_batch(&bytes).expect("valid batch");
            assert!(header.is_control() && header.is_transactional());
            assert_eq!(header.attributes & 0x30, 0x30);
            assert_eq!((header.producer_id, header.producer_epoch), (7, 3));
            assert_eq!(header.sequence_base, -1);
            let decoded = decode_batch(&bytes).expect("decodes");
            let record = &decoded.records[0];
            assert_eq!(record.offset, 41);
            let control =
                ControlRecord::parse(record.key.as_deref(), record.value.as_deref()).expect("ok");
            assert_eq!(control.kind, kind);
            assert_eq!(control.coordinator_epoch, 0);
        }
    }

    #[test]
    fn bad_control_records_are_errors() {
        assert!(ControlRecord::parse(None, Some(&[0; 6])).is_err());
        assert!(ControlRecord::parse(Some(&[0, 0, 0, 2]), Some(&[0; 6])).is_err());
        assert!(ControlRecord::parse(Some(&[0, 0, 0, 1]), Some(&[0; 3])).is_err());
        assert!(ControlRecord::parse(Some(&[0, 0]), Some(&[0; 6])).is_err());
    }
}
