//! L7, transactional ids: the file is its own transaction coordinator. Each transactional
//! id maps to the producer id and epoch of its current instance, the state of its
//! transaction, the partitions the transaction has stored records in, and the liveness
//! slot of the instance's owner. This module owns the `txn.ids` tree: its name, keys and
//! codec. The producer id counter is in `counters`; each partition's producer state, open
//! transactions and aborted index are the log's (`log::producers`).
//!
//! | tree      | key                          | value        |
//! |-----------|------------------------------|--------------|
//! | `txn.ids` | transactional id (UTF-8)     | [`TxnRecord`] |
//!
//! May call: the engine's transactions and `error`.

use crate::engine::{TreeRead, WriteTransaction};
use crate::error::{Error, Result};

pub(crate) const TREE_TXN_IDS: &str = "txn.ids";

/// Longest transactional id, in bytes.
pub const TRANSACTIONAL_ID_MAX: usize = 249;

/// The state of a transactional id's transaction (Kafka's `TransactionState`, without the
/// prepare states: one commit of the file ends a transaction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionState {
    /// No transaction has stored anything since the last ended (or the id is new).
    Empty,
    /// A transaction has stored records that are not yet committed or aborted.
    Ongoing,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction was aborted.
    CompleteAbort,
}

impl TransactionState {
    fn code(self) -> u8 {
        match self {
            Self::Empty => 0,
            Self::Ongoing => 1,
            Self::CompleteCommit => 2,
            Self::CompleteAbort => 3,
        }
    }

    fn from_code(code: u8) -> Result<Self> {
        Ok(match code {
            0 => Self::Empty,
            1 => Self::Ongoing,
            2 => Self::CompleteCommit,
            3 => Self::CompleteAbort,
            _ => return Err(Error::bad_value(TREE_TXN_IDS, "unknown transaction state")),
        })
    }

    /// Kafka's name for the state, as `kafka-transactions.sh` prints it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Ongoing => "Ongoing",
            Self::CompleteCommit => "CompleteCommit",
            Self::CompleteAbort => "CompleteAbort",
        }
    }
}

/// A transactional id's record.
///
/// Layout (little-endian): producer id i64, epoch i16, state u8, reserved u8 (0), timeout
/// u32 (ms), owner u64 (liveness slot), transaction start i64 (ms, 0 when none), last
/// update i64 (ms), partition count u32, then per partition: topic id u32, partition u32.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TxnRecord {
    pub producer_id: i64,
    pub epoch: i16,
    pub state: TransactionState,
    pub timeout_ms: u32,
    pub owner: u64,
    pub started_ms: i64,
    pub updated_ms: i64,
    /// Partitions the ongoing transaction has stored records in: (topic id, partition).
    pub partitions: Vec<(u32, u32)>,
}

const HEAD: usize = 44;

impl TxnRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD + 8 * self.partitions.len());
        out.extend_from_slice(&self.producer_id.to_le_bytes());
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.push(self.state.code());
        out.push(0);
        out.extend_from_slice(&self.timeout_ms.to_le_bytes());
        out.extend_from_slice(&self.owner.to_le_bytes());
        out.extend_from_slice(&self.started_ms.to_le_bytes());
        out.extend_from_slice(&self.updated_ms.to_le_bytes());
        let count = u32::try_from(self.partitions.len()).expect("partitions fit a u32");
        out.extend_from_slice(&count.to_le_bytes());
        for (topic, partition) in &self.partitions {
            out.extend_from_slice(&topic.to_le_bytes());
            out.extend_from_slice(&partition.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = |why| Error::bad_value(TREE_TXN_IDS, why);
        if bytes.len() < HEAD {
            return Err(bad("transactional id record is shorter than its head"));
        }
        let le8 = |at: usize| <[u8; 8]>::try_from(&bytes[at..at + 8]).expect("8 bytes");
        let le4 = |at: usize| <[u8; 4]>::try_from(&bytes[at..at + 4]).expect("4 bytes");
        let producer_id = i64::from_le_bytes(le8(0));
        let epoch = i16::from_le_bytes([bytes[8], bytes[9]]);
        if producer_id < 0 || epoch < 0 {
            return Err(bad("producer id or epoch is negative"));
        }
        let state = TransactionState::from_code(bytes[10])?;
        if bytes[11] != 0 {
            return Err(bad("reserved byte is not 0"));
        }
        let count = u32::from_le_bytes(le4(40)) as usize;
        if bytes.len() != HEAD + count.saturating_mul(8) {
            return Err(bad("record length does not match its partition count"));
        }
        let partitions = (0..count)
            .map(|i| {
                let at = HEAD + i * 8;
                (u32::from_le_bytes(le4(at)), u32::from_le_bytes(le4(at + 4)))
            })
            .collect();
        Ok(Self {
            producer_id,
            epoch,
            state,
            timeout_ms: u32::from_le_bytes(le4(12)),
            owner: u64::from_le_bytes(le8(16)),
            started_ms: i64::from_le_bytes(le8(24)),
            updated_ms: i64::from_le_bytes(le8(32)),
            partitions,
        })
    }
}

/// Checks a transactional id: 1 to [`TRANSACTIONAL_ID_MAX`] bytes, no control characters.
pub(crate) fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > TRANSACTIONAL_ID_MAX {
        return Err(Error::invalid(format!(
            "a transactional id needs 1 to {TRANSACTIONAL_ID_MAX} bytes; {id:?} has {}",
            id.len()
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "transactional id {id:?} holds a control character"
        )));
    }
    Ok(())
}

/// The record of a transactional id.
pub(crate) fn get(read: &impl TreeRead, id: &str) -> Result<Option<TxnRecord>> {
    read.get(TREE_TXN_IDS, id.as_bytes())?
        .map(|v| TxnRecord::decode(&v))
        .transpose()
}

/// Writes the record of a transactional id.
pub(crate) fn put(txn: &mut WriteTransaction, id: &str, record: &TxnRecord) -> Result<()> {
    txn.insert_pending(TREE_TXN_IDS, id.as_bytes(), &record.encode())
}

/// Every transactional id and its record, in id order.
pub(crate) fn list(read: &impl TreeRead) -> Result<Vec<(String, TxnRecord)>> {
    read.range(TREE_TXN_IDS, &[][..]..)?
        .map(|item| {
            let (key, value) = item?;
            let id = String::from_utf8(key.to_vec())
                .map_err(|_| Error::bad_value(TREE_TXN_IDS, "transactional id is not UTF-8"))?;
            Ok((id, TxnRecord::decode(&value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_damage() {
        let record = TxnRecord {
            producer_id: 4,
            epoch: 2,
            state: TransactionState::Ongoing,
            timeout_ms: 60_000,
            owner: 0xdead_beef,
            started_ms: 10,
            updated_ms: 11,
            partitions: vec![(1, 0), (2, 3)],
        };
        let bytes = record.encode();
        assert_eq!(TxnRecord::decode(&bytes).expect("decodes"), record);
        for cut in 0..bytes.len() {
            assert!(TxnRecord::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut state = bytes.clone();
        state[10] = 9;
        assert!(TxnRecord::decode(&state).is_err());
        let mut count = bytes.clone();
        count[40] = 0xff;
        assert!(TxnRecord::decode(&count).is_err());
        let mut negative = bytes;
        negative[7] = 0x80;
        assert!(TxnRecord::decode(&negative).is_err());
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("").is_err());
        assert!(validate_id(&"x".repeat(TRANSACTIONAL_ID_MAX + 1)).is_err());
        assert!(validate_id("a\nb").is_err());
        assert!(validate_id("orders-worker-1").is_ok());
    }
}
