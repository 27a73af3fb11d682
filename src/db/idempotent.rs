//! Idempotent producers: each batch carries the producer's id, epoch and sequence numbers,
//! as Kafka's `enable.idempotence` producer stamps them, and each partition remembers the
//! producer's last sends (`log::producers`). A send that is retried after its commit's
//! outcome was unknown ([`Error::CommitOutcomeUnknown`]) is then stored once: the retry
//! finds its sequences stored and returns the original offsets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Brooklet, Producer, TopicPartition};
use crate::catalog::TopicMeta;
use crate::engine::WriteTransaction;
use crate::error::Result;
use crate::kafka::send::RecordSource;
use crate::kafka::{ProducerStamp, sequence_add};
use crate::log::append::Appended;
use crate::log::producers;
use crate::pager::Durability;

/// An idempotent producer's identity and the next sequence number per partition, as
/// [`Producer::idempotence`] returns it. Give it to
/// [`Producer::with_idempotence`] on a new handle to retry, after
/// [`Error::CommitOutcomeUnknown`](crate::Error::CommitOutcomeUnknown), sends whose outcome
/// is unknown: those that were stored are not stored again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotenceState {
    /// Kafka's `producerId`.
    pub producer_id: i64,
    /// Kafka's `producerEpoch`.
    pub producer_epoch: i16,
    /// The sticky partition of records without a key (so a retry goes where the first try
    /// went).
    pub sticky: u32,
    /// The sequence number of the next record sent to each partition (0 when absent).
    pub sequences: BTreeMap<TopicPartition, i32>,
}

/// An idempotent producer's shared state: its clones use one sequence per partition.
#[derive(Debug)]
pub(crate) struct Idempotence {
    producer_id: i64,
    epoch: i16,
    sequences: Mutex<BTreeMap<TopicPartition, i32>>,
}

/// Sequences to advance once a commit holds: (producer, partition, next sequence).
pub(super) type Advances = Vec<(Arc<Idempotence>, TopicPartition, i32)>;

/// Advances the sequences of a commit that held.
pub(super) fn apply(advances: Advances) {
    for (idempotence, tp, next) in advances {
        idempotence
            .sequences
            .lock()
            .expect("sequence lock")
            .insert(tp, next);
    }
}

/// Appends an idempotent producer's records to one partition, stamped with its next
/// sequences, or finds them already stored (a retry) and returns where they went, with
/// the append time their records without a timestamp of their own were given (`now`, or
/// for a retry, the first try's time). The sequences to advance go to `advances`.
pub(super) fn append_idempotent<S: RecordSource + ?Sized>(
    txn: &mut WriteTransaction,
    (topic, partition): (&TopicMeta, u32),
    records: &S,
    now: i64,
    idempotence: &Arc<Idempotence>,
    advances: &mut Advances,
) -> Result<(Appended, i64)> {
    let tp = TopicPartition::new(topic.name.clone(), partition);
    let sequence_base = advances
        .iter()
        .rev()
        .find(|(i, t, _)| Arc::ptr_eq(i, idempotence) && *t == tp)
        .map(|(.., next)| *next)
        .or_else(|| {
            let sequences = idempotence.sequences.lock().expect("sequence lock");
            sequences.get(&tp).copied()
        })
        .unwrap_or(0);
    let stamp = ProducerStamp {
        producer_id: idempotence.producer_id,
        producer_epoch: idempotence.epoch,
        sequence_base,
        transactional: false,
    };
    let count = u32::try_from(records.count()).expect("a send holds under 2^32 records");
    let sent = producers::append_sequenced(txn, (topic, partition), records, &stamp, now)?;
    advances.push((
        Arc::clone(idempotence),
        tp,
        sequence_add(sequence_base, count),
    ));
    Ok((sent.appended, sent.append_ms))
}

impl Producer {
    /// Makes this producer idempotent (Kafka's `enable.idempotence`): it gets a producer
    /// id of its own, allocated in the file, and stamps each batch with it and with
    /// sequence numbers, so that a send retried after an unknown outcome is not stored
    /// twice, and a gap or reorder is refused with
    /// [`Error::OutOfOrderSequence`](crate::Error::OutOfOrderSequence).
    ///
    /// ```
    /// use brooklet::{Brooklet, Record, TopicConfig};
    ///
    /// # fn main() -> brooklet::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("idem.brooklet");
    /// let db = Brooklet::open(&path)?;
    /// db.admin().create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = db.producer().idempotent()?;
    /// let state = producer.idempotence().expect("idempotent");
    /// let first = producer.send("orders", Record::value("order 1"))?;
    /// // Say that send failed with CommitOutcomeUnknown: reopen, and retry it with the
    /// // state from before it. Stored once, at the same offset.
    /// let db = Brooklet::open(&path)?;
    /// let retry = db.producer().with_idempotence(state);
    /// assert_eq!(retry.send("orders", Record::value("order 1"))?.offset, first.offset);
    /// assert_eq!(db.end_offset("orders", 0)?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn idempotent(self) -> Result<Self> {
        let producer_id = self.db.allocate_producer_id()?;
        let sticky = self.sticky;
        Ok(self.with_idempotence(IdempotenceState {
            producer_id,
            producer_epoch: 0,
            sticky,
            sequences: BTreeMap::new(),
        }))
    }

    /// Continues an idempotent producer from `state` (see [`Producer::idempotence`]).
    #[must_use]
    pub fn with_idempotence(mut self, state: IdempotenceState) -> Self {
        self.sticky = state.sticky;
        self.idempotence = Some(Arc::new(Idempotence {
            producer_id: state.producer_id,
            epoch: state.producer_epoch,
            sequences: Mutex::new(state.sequences),
        }));
        self
    }

    /// The idempotent producer's id, epoch and next sequences, as of its last send that
    /// committed; `None` if it is not idempotent.
    #[must_use]
    pub fn idempotence(&self) -> Option<IdempotenceState> {
        self.idempotence.as_ref().map(|i| IdempotenceState {
            producer_id: i.producer_id,
            producer_epoch: i.epoch,
            sticky: self.sticky,
            sequences: i.sequences.lock().expect("sequence lock").clone(),
        })
    }
}

impl Brooklet {
    /// Allocates a producer id in one durable commit.
    pub(crate) fn allocate_producer_id(&self) -> Result<i64> {
        let mut txn = self.inner.engine.begin_write()?;
        let id = crate::counters::take_producer_id(&mut txn)?;
        txn.commit(Durability::Immediate)?;
        Ok(id)
    }
}
