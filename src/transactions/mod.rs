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
//! May call: the engine's transactions, `page` (the value's fixed layout) and `error`.

use core::mem::size_of;

use zerocopy::{FromBytes as _, IntoBytes as _};

use crate::engine::{TreeRead, WriteTransaction};
use crate::error::{Error, Result};
use crate::page::format;

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

/// A transactional id's record: a [`format::TxnIdHead`], then its partitions
/// ([`format::TxnPartition`]).
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

impl TxnRecord {
    pub fn encode(&self) -> Vec<u8> {
        let head = format::TxnIdHead {
            producer_id: self.producer_id.into(),
            epoch: self.epoch.into(),
            state: self.state.code(),
            reserved: 0,
            timeout_ms: self.timeout_ms.into(),
            owner: self.owner.into(),
            started_ms: self.started_ms.into(),
            updated_ms: self.updated_ms.into(),
            partition_count: u32::try_from(self.partitions.len())
                .expect("partitions fit a u32")
                .into(),
        };
        let mut out = Vec::with_capacity(
            size_of::<format::TxnIdHead>()
                + size_of::<format::TxnPartition>() * self.partitions.len(),
        );
        out.extend_from_slice(head.as_bytes());
        for (topic, partition) in &self.partitions {
            let entry = format::TxnPartition {
                topic_id: (*topic).into(),
                partition: (*partition).into(),
            };
            out.extend_from_slice(entry.as_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = |why| Error::bad_value(TREE_TXN_IDS, why);
        let (head, rest) = format::TxnIdHead::ref_from_prefix(bytes)
            .map_err(|_| bad("transactional id record is shorter than its head"))?;
        let (producer_id, epoch) = (head.producer_id.get(), head.epoch.get());
        if producer_id < 0 || epoch < 0 {
            return Err(bad("producer id or epoch is negative"));
        }
        let state = TransactionState::from_code(head.state)?;
        if head.reserved != 0 {
            return Err(bad("reserved byte is not 0"));
        }
        let partitions = <[format::TxnPartition]>::ref_from_bytes(rest)
            .ok()
            .filter(|p| p.len() == head.partition_count.get() as usize)
            .ok_or_else(|| bad("record length does not match its partition count"))?;
        Ok(Self {
            producer_id,
            epoch,
            state,
            timeout_ms: head.timeout_ms.get(),
            owner: head.owner.get(),
            started_ms: head.started_ms.get(),
            updated_ms: head.updated_ms.get(),
            partitions: partitions
                .iter()
                .map(|p| (p.topic_id.get(), p.partition.get()))
                .collect(),
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

/// Removes a transactional id's record.
pub(crate) fn remove(txn: &mut WriteTransaction, id: &str) -> Result<()> {
    txn.remove(TREE_TXN_IDS, id.as_bytes())?;
    Ok(())
}

/// Every transactional id and its record, in id order.
pub(crate) fn list(read: &impl TreeRead) -> Result<Vec<(String, TxnRecord)>> {
    read.range(TREE_TXN_IDS, &[][..]..)?
        .map(|item| {
            let (key, value) = item?;
            let id = String::from_utf8(key)
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
        count[size_of::<format::TxnIdHead>() - 4] = 0xff;
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
