//! A partition's producer state (Kafka's `ProducerStateManager`): the last sequences each
//! idempotent or transactional producer stored in it, the transactions still open in it
//! (which bound the last stable offset), and the aborted transactions (Kafka's `.txnindex`).
//!
//! | tree             | key                                              | value |
//! |------------------|--------------------------------------------------|-------|
//! | `log.producers`  | topic id u32, partition u32, producer id u64     | [`ProducerState`] |
//! | `log.txn-open`   | topic id u32, partition u32, first offset u64    | producer id u64 |
//! | `log.aborted`    | topic id u32, partition u32, marker offset u64   | producer id u64, first offset u64 |
//!
//! Keys are big-endian, values little-endian, as in the rest of the log's trees. The
//! state lives beside the data, not in it, so retention and compaction never lose it.
//!
//! Sequences follow Kafka's rules: a producer's first send to a partition (or its first
//! under a new epoch) starts at sequence 0; each later one starts where the last ended; a
//! send whose sequences are exactly one of the last [`KEPT_SENDS`] is a duplicate (a
//! retry of a send that was stored) and returns the stored offsets; anything else is
//! [`Error::OutOfOrderSequence`], and an older epoch is [`Error::Fenced`].

use core::mem::size_of;

use zerocopy::{FromBytes as _, IntoBytes as _};

use super::append::{Appended, append};
use super::meta::{offset_key, split_offset_key};
use crate::catalog::TopicMeta;
use crate::engine::{TreeRead, WriteTransaction};
use crate::error::{Error, Result};
use crate::kafka::send::RecordSource;
use crate::kafka::{ProducerStamp, sequence_add};
use crate::page::format;

pub(crate) const TREE_PRODUCERS: &str = "log.producers";
pub(crate) const TREE_TXN_OPEN: &str = "log.txn-open";
pub(crate) const TREE_ABORTED: &str = "log.aborted";

/// Sends remembered per producer and partition, as Kafka keeps the last 5 batches.
pub(crate) const KEPT_SENDS: usize = 5;

/// One send a producer stored in a partition: its first and last sequence numbers, the
/// offset of its first record and its append time (the timestamp of its records that
/// carried none, and of all of them in a `LogAppendTime` topic), so that a retry returns
/// the timestamps the first try stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredSend {
    pub sequence_first: i32,
    pub sequence_last: i32,
    pub offset_first: u64,
    pub timestamp_ms: i64,
}

/// A producer's state in one partition: a [`format::ProducerStateHead`], then its sends
/// ([`format::ProducerSend`]), oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProducerState {
    pub epoch: i16,
    pub updated_ms: i64,
    pub sends: Vec<StoredSend>,
}

impl ProducerState {
    pub fn encode(&self) -> Vec<u8> {
        let head = format::ProducerStateHead {
            epoch: self.epoch.into(),
            send_count: u8::try_from(self.sends.len()).expect("at most KEPT_SENDS"),
            reserved: 0,
            updated_ms: self.updated_ms.into(),
        };
        let mut out = Vec::with_capacity(
            size_of::<format::ProducerStateHead>()
                + size_of::<format::ProducerSend>() * self.sends.len(),
        );
        out.extend_from_slice(head.as_bytes());
        for s in &self.sends {
            let send = format::ProducerSend {
                sequence_first: s.sequence_first.into(),
                sequence_last: s.sequence_last.into(),
                offset_first: s.offset_first.into(),
                timestamp_ms: s.timestamp_ms.into(),
            };
            out.extend_from_slice(send.as_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = |why| Error::bad_value(TREE_PRODUCERS, why);
        let (head, rest) = format::ProducerStateHead::ref_from_prefix(bytes)
            .map_err(|_| bad("producer state is shorter than its head"))?;
        let count = usize::from(head.send_count);
        if count > KEPT_SENDS || head.reserved != 0 {
            return Err(bad("producer state has a bad send count"));
        }
        let sends = <[format::ProducerSend]>::ref_from_bytes(rest)
            .ok()
            .filter(|sends| sends.len() == count)
            .ok_or_else(|| bad("producer state length does not match its send count"))?;
        let epoch = head.epoch.get();
        if epoch < 0 {
            return Err(bad("producer epoch is negative"));
        }
        let sends = sends
            .iter()
            .map(|s| {
                let send = StoredSend {
                    sequence_first: s.sequence_first.get(),
                    sequence_last: s.sequence_last.get(),
                    offset_first: s.offset_first.get(),
                    timestamp_ms: s.timestamp_ms.get(),
                };
                if send.sequence_first < 0 || send.sequence_last < 0 {
                    return Err(bad("producer sequence is negative"));
                }
                Ok(send)
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            epoch,
            updated_ms: head.updated_ms.get(),
            sends,
        })
    }
}

fn producer_key(topic_id: u32, partition: u32, producer_id: i64) -> [u8; 16] {
    offset_key(topic_id, partition, producer_id.cast_unsigned())
}

/// What a producer's send to a partition is, by its sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sequenced {
    /// The next send: store it.
    Next,
    /// A retry of a stored send: return where it was stored.
    Duplicate(StoredSend),
}

/// Checks a send of `count` records stamped `stamp` against the producer's state in the
/// partition. `what` names the partition in errors.
fn check_sequence(
    read: &impl TreeRead,
    (topic_id, partition): (u32, u32),
    stamp: &ProducerStamp,
    count: u32,
    what: &str,
) -> Result<Sequenced> {
    let last = sequence_add(stamp.sequence_base, count - 1);
    let key = producer_key(topic_id, partition, stamp.producer_id);
    let Some(value) = read.get(TREE_PRODUCERS, &key)? else {
        return first_send(stamp, what);
    };
    let state = ProducerState::decode(&value)?;
    if stamp.producer_epoch < state.epoch {
        return Err(Error::Fenced(format!(
            "producer {} epoch {} is older than epoch {} in {what}: a newer instance took over",
            stamp.producer_id, stamp.producer_epoch, state.epoch
        )));
    }
    if stamp.producer_epoch > state.epoch {
        return first_send(stamp, what);
    }
    if let Some(sent) = state
        .sends
        .iter()
        .find(|s| s.sequence_first == stamp.sequence_base)
    {
        if sent.sequence_last == last {
            return Ok(Sequenced::Duplicate(*sent));
        }
        return Err(Error::OutOfOrderSequence(format!(
            "producer {} sent sequences {}..={last} to {what}, but {}..={} are stored: the retry holds other records",
            stamp.producer_id, stamp.sequence_base, sent.sequence_first, sent.sequence_last
        )));
    }
    let Some(newest) = state.sends.last() else {
        return first_send(stamp, what);
    };
    let expected = sequence_add(newest.sequence_last, 1);
    if stamp.sequence_base == expected {
        return Ok(Sequenced::Next);
    }
    Err(Error::OutOfOrderSequence(format!(
        "producer {} sent sequence {} to {what}, expected {expected}",
        stamp.producer_id, stamp.sequence_base
    )))
}

/// A producer's send to a partition as [`append_sequenced`] handled it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SequencedAppend {
    /// Where its records are.
    pub appended: Appended,
    /// The append time its records sent without a timestamp have: now, or for a retry the
    /// first try's.
    pub append_ms: i64,
    /// True when it was a retry of a stored send, and nothing was written.
    pub duplicate: bool,
}

/// Appends a send stamped `stamp` (an idempotent or transactional producer's) to a
/// partition and records it in the producer's state, after checking its sequences; a
/// retry of a stored send writes nothing and returns where that send went. A send out of
/// order is [`Error::OutOfOrderSequence`], an older epoch [`Error::Fenced`].
pub(crate) fn append_sequenced<S: RecordSource + ?Sized>(
    txn: &mut WriteTransaction,
    (topic, partition): (&TopicMeta, u32),
    records: &S,
    stamp: &ProducerStamp,
    now_ms: i64,
) -> Result<SequencedAppend> {
    let count = u32::try_from(records.count()).expect("a send holds under 2^32 records");
    sequenced(txn, (topic, partition), stamp, count, now_ms, |txn| {
        append(txn, topic, partition, records, now_ms, Some(stamp))
    })
}

/// [`append_sequenced`] for one batch a Kafka producer encoded
/// ([`super::append::append_batch`]): its producer fields are the stamp.
pub(crate) fn append_sequenced_batch(
    txn: &mut WriteTransaction,
    (topic, partition): (&TopicMeta, u32),
    batch: &mut [u8],
    now_ms: i64,
) -> Result<SequencedAppend> {
    let header =
        crate::kafka::BatchHeader::parse(batch).map_err(|e| Error::invalid(e.to_string()))?;
    let stamp = ProducerStamp {
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        sequence_base: header.sequence_base,
        transactional: header.is_transactional(),
    };
    if stamp.producer_id < 0 || stamp.producer_epoch < 0 || stamp.sequence_base < 0 {
        return Err(Error::invalid(
            "an idempotent batch needs a producer id, epoch and sequence",
        ));
    }
    let count = header
        .offset_delta_last
        .checked_add(1)
        .ok_or_else(|| Error::invalid("last offset delta overflows"))?;
    sequenced(txn, (topic, partition), &stamp, count, now_ms, |txn| {
        super::append::append_batch(txn, topic, partition, batch, now_ms)
    })
}

/// Checks a send's sequences, appends it with `append` unless it is a duplicate, and
/// records it in the producer's state.
fn sequenced(
    txn: &mut WriteTransaction,
    (topic, partition): (&TopicMeta, u32),
    stamp: &ProducerStamp,
    count: u32,
    now_ms: i64,
    append: impl FnOnce(&mut WriteTransaction) -> Result<Appended>,
) -> Result<SequencedAppend> {
    let key = (topic.id, partition);
    let what = format!("{}/{partition}", topic.name);
    if let Sequenced::Duplicate(sent) = check_sequence(txn, key, stamp, count, &what)? {
        return Ok(SequencedAppend {
            appended: Appended {
                offset_base: sent.offset_first,
                count: u64::from(count),
                timestamp_ms: sent.timestamp_ms,
            },
            append_ms: sent.timestamp_ms,
            duplicate: true,
        });
    }
    let appended = append(txn)?;
    let send = StoredSend {
        sequence_first: stamp.sequence_base,
        sequence_last: sequence_add(stamp.sequence_base, count - 1),
        offset_first: appended.offset_base,
        timestamp_ms: now_ms,
    };
    record_send(txn, key, stamp, send, now_ms)?;
    Ok(SequencedAppend {
        appended,
        append_ms: now_ms,
        duplicate: false,
    })
}

fn first_send(stamp: &ProducerStamp, what: &str) -> Result<Sequenced> {
    if stamp.sequence_base == 0 {
        Ok(Sequenced::Next)
    } else {
        Err(Error::OutOfOrderSequence(format!(
            "producer {} epoch {} has stored nothing in {what}, so its first sequence must be 0, not {}",
            stamp.producer_id, stamp.producer_epoch, stamp.sequence_base
        )))
    }
}

/// Records a stored send (after [`check_sequence`] said [`Sequenced::Next`]).
fn record_send(
    txn: &mut WriteTransaction,
    (topic_id, partition): (u32, u32),
    stamp: &ProducerStamp,
    send: StoredSend,
    now_ms: i64,
) -> Result<()> {
    let key = producer_key(topic_id, partition, stamp.producer_id);
    let mut state = match txn.get(TREE_PRODUCERS, &key)? {
        Some(v) => ProducerState::decode(&v)?,
        None => ProducerState {
            epoch: stamp.producer_epoch,
            updated_ms: now_ms,
            sends: Vec::new(),
        },
    };
    if state.epoch != stamp.producer_epoch {
        state.epoch = stamp.producer_epoch;
        state.sends.clear();
    }
    state.updated_ms = now_ms;
    state.sends.push(send);
    if state.sends.len() > KEPT_SENDS {
        state.sends.remove(0);
    }
    txn.insert_pending(TREE_PRODUCERS, &key, &state.encode())
}

/// Raises a producer's epoch in a partition without a send (a transaction marker after a
/// fence), so that older epochs are fenced there too.
pub(crate) fn raise_epoch(
    txn: &mut WriteTransaction,
    (topic_id, partition): (u32, u32),
    producer_id: i64,
    epoch: i16,
    now_ms: i64,
) -> Result<()> {
    let key = producer_key(topic_id, partition, producer_id);
    let state = match txn.get(TREE_PRODUCERS, &key)? {
        Some(v) => ProducerState::decode(&v)?,
        None => return Ok(()),
    };
    if state.epoch >= epoch {
        return Ok(());
    }
    // A new epoch starts its sequences at 0 again.
    let raised = ProducerState {
        epoch,
        updated_ms: now_ms,
        sends: Vec::new(),
    };
    txn.insert_pending(TREE_PRODUCERS, &key, &raised.encode())
}

/// Notes that a transaction of `producer_id` holds records from `first_offset` on in the
/// partition, unless it already does.
pub(crate) fn open_transaction(
    txn: &mut WriteTransaction,
    (topic_id, partition): (u32, u32),
    producer_id: i64,
    first_offset: u64,
) -> Result<()> {
    if open_first_offset(txn, (topic_id, partition), producer_id)?.is_some() {
        return Ok(());
    }
    txn.insert(
        TREE_TXN_OPEN,
        &offset_key(topic_id, partition, first_offset),
        &producer_id.to_le_bytes(),
    )
}

/// The first offset of `producer_id`'s open transaction in the partition, if it has one.
fn open_first_offset(
    read: &impl TreeRead,
    (topic_id, partition): (u32, u32),
    producer_id: i64,
) -> Result<Option<u64>> {
    let low = offset_key(topic_id, partition, 0);
    let high = offset_key(topic_id, partition, u64::MAX);
    for item in read.range(TREE_TXN_OPEN, &low[..]..=&high[..])? {
        let (key, value) = item?;
        if decode_producer(TREE_TXN_OPEN, &value)? == producer_id {
            return Ok(Some(split_offset_key(TREE_TXN_OPEN, &key)?.2));
        }
    }
    Ok(None)
}

fn decode_producer(tree: &'static str, value: &[u8]) -> Result<i64> {
    let bytes: [u8; 8] = value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::bad_value(tree, "producer id is not 8 bytes"))?;
    Ok(i64::from_le_bytes(bytes))
}

/// Ends `producer_id`'s transaction in the partition after its marker was appended at
/// `marker_offset`: the open entry goes, and an aborted one is indexed.
pub(crate) fn close_transaction(
    txn: &mut WriteTransaction,
    (topic_id, partition): (u32, u32),
    producer_id: i64,
    marker_offset: u64,
    aborted: bool,
) -> Result<()> {
    let Some(first) = open_first_offset(txn, (topic_id, partition), producer_id)? else {
        return Ok(());
    };
    txn.remove(TREE_TXN_OPEN, &offset_key(topic_id, partition, first))?;
    if aborted {
        let mut value = Vec::with_capacity(16);
        value.extend_from_slice(&producer_id.to_le_bytes());
        value.extend_from_slice(&first.to_le_bytes());
        txn.insert(
            TREE_ABORTED,
            &offset_key(topic_id, partition, marker_offset),
            &value,
        )?;
    }
    Ok(())
}

/// The partition's first offset held by an open transaction, if any: the last stable
/// offset is this (or the log end, when there is none).
pub(crate) fn first_unstable(
    read: &impl TreeRead,
    topic_id: u32,
    partition: u32,
) -> Result<Option<u64>> {
    let low = offset_key(topic_id, partition, 0);
    let high = offset_key(topic_id, partition, u64::MAX);
    match read.range(TREE_TXN_OPEN, &low[..]..=&high[..])?.next() {
        Some(item) => Ok(Some(split_offset_key(TREE_TXN_OPEN, &item?.0)?.2)),
        None => Ok(None),
    }
}

/// An aborted transaction in a partition: its producer and its offsets, marker included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Aborted {
    pub producer_id: i64,
    pub first_offset: u64,
    pub last_offset: u64,
}

/// Whether `header`'s batch belongs to one of the `aborted` transactions.
pub(crate) fn is_aborted(aborted: &[Aborted], header: &crate::kafka::BatchHeader) -> bool {
    header.is_transactional()
        && !header.is_control()
        && aborted.iter().any(|a| {
            a.producer_id == header.producer_id
                && a.first_offset <= header.offset_base
                && header.offset_base <= a.last_offset
        })
}

/// The aborted transactions of the partition whose markers are at or after `from` and
/// whose first offset is before `to`.
pub(crate) fn aborted_between(
    read: &impl TreeRead,
    (topic_id, partition): (u32, u32),
    from: u64,
    to: u64,
) -> Result<Vec<Aborted>> {
    let low = offset_key(topic_id, partition, from);
    let high = offset_key(topic_id, partition, u64::MAX);
    let mut out = Vec::new();
    for item in read.range(TREE_ABORTED, &low[..]..=&high[..])? {
        let (key, value) = item?;
        let (.., last_offset) = split_offset_key(TREE_ABORTED, &key)?;
        let aborted = decode_aborted(&value, last_offset)?;
        if aborted.first_offset < to {
            out.push(aborted);
        }
    }
    Ok(out)
}

fn decode_aborted(value: &[u8], last_offset: u64) -> Result<Aborted> {
    if value.len() != 16 {
        return Err(Error::bad_value(
            TREE_ABORTED,
            "aborted entry is not 16 bytes",
        ));
    }
    let producer_id = decode_producer(TREE_ABORTED, value)?;
    let first_offset = u64::from_le_bytes(value[8..16].try_into().expect("8 bytes"));
    if first_offset > last_offset {
        return Err(Error::bad_value(
            TREE_ABORTED,
            "aborted transaction starts after its marker",
        ));
    }
    Ok(Aborted {
        producer_id,
        first_offset,
        last_offset,
    })
}

/// Every aborted transaction of a partition, oldest first (for `.txnindex` export).
pub(crate) fn aborted_all(
    read: &impl TreeRead,
    topic_id: u32,
    partition: u32,
) -> Result<Vec<Aborted>> {
    aborted_between(read, (topic_id, partition), 0, u64::MAX)
}

/// Forgets aborted transactions whose markers are below the log start `log_start`.
pub(crate) fn trim_aborted(
    txn: &mut WriteTransaction,
    (topic_id, partition): (u32, u32),
    log_start: u64,
) -> Result<()> {
    let low = offset_key(topic_id, partition, 0);
    let high = offset_key(topic_id, partition, log_start);
    if txn
        .range(TREE_ABORTED, &low[..]..&high[..])?
        .next()
        .is_none()
    {
        return Ok(());
    }
    txn.remove_range(TREE_ABORTED, &low[..]..&high[..])?;
    Ok(())
}

/// Whether some producer's state has not changed since `before_ms`.
pub(crate) fn any_idle(read: &impl TreeRead, before_ms: i64) -> Result<bool> {
    for item in read.range(TREE_PRODUCERS, &[][..]..)? {
        let (_, value) = item?;
        if ProducerState::decode(&value)?.updated_ms < before_ms {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Forgets the state of producers that have stored nothing in a partition since
/// `before_ms` (Kafka's `producer.id.expiration.ms`), except those in `keep`. Returns how
/// many entries went. Such a producer's next send there must start at sequence 0 again.
pub(crate) fn expire(
    txn: &mut WriteTransaction,
    before_ms: i64,
    keep: &std::collections::BTreeSet<i64>,
) -> Result<u64> {
    let mut old = Vec::new();
    for item in txn.range(TREE_PRODUCERS, &[][..]..)? {
        let (key, value) = item?;
        let (.., producer) = split_offset_key(TREE_PRODUCERS, &key)?;
        let state = ProducerState::decode(&value)?;
        if state.updated_ms < before_ms && !keep.contains(&producer.cast_signed()) {
            old.push(key.clone());
        }
    }
    for key in &old {
        txn.remove(TREE_PRODUCERS, key)?;
    }
    Ok(old.len() as u64)
}

/// Drops every partition's producer state of a deleted topic.
pub(crate) fn drop_topic(txn: &mut WriteTransaction, topic_id: u32) -> Result<()> {
    let low = offset_key(topic_id, 0, 0);
    let high = offset_key(topic_id, u32::MAX, u64::MAX);
    for tree in [TREE_PRODUCERS, TREE_TXN_OPEN, TREE_ABORTED] {
        txn.remove_range(tree, &low[..]..=&high[..])?;
    }
    Ok(())
}

/// Checks every entry of the three trees: keys of their length naming a partition of an
/// existing topic (`partitions`: topic id to partition count), values that decode, and
/// producer ids below `next_id`. Returns the problems in words.
pub(crate) fn check_trees(
    read: &impl TreeRead,
    partitions: &std::collections::BTreeMap<u32, u32>,
    next_id: i64,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for tree in [TREE_PRODUCERS, TREE_TXN_OPEN, TREE_ABORTED] {
        for item in read.range(tree, &[][..]..)? {
            let (key, value) = item?;
            let (topic, partition, suffix) = match split_offset_key(tree, &key) {
                Ok(parts) => parts,
                Err(e) => {
                    problems.push(format!("{tree}: {e}"));
                    continue;
                }
            };
            if partitions
                .get(&topic)
                .is_none_or(|&count| partition >= count)
            {
                problems.push(format!(
                    "{tree}: an entry names topic #{topic} partition {partition}, which does not exist"
                ));
            }
            let producer = match tree {
                TREE_PRODUCERS => ProducerState::decode(&value).map(|_| suffix.cast_signed()),
                TREE_TXN_OPEN => decode_producer(tree, &value).and_then(|p| {
                    (value.len() == 8)
                        .then_some(p)
                        .ok_or_else(|| Error::bad_value(tree, "value is not 8 bytes"))
                }),
                _ => decode_aborted(&value, suffix).map(|a| a.producer_id),
            };
            match producer {
                Ok(p) if p < 0 || p >= next_id => problems.push(format!(
                    "{tree}: producer id {p} of topic #{topic} partition {partition} was never allocated (next id {next_id})"
                )),
                Ok(_) => {}
                Err(e) => problems.push(format!(
                    "{tree}: topic #{topic} partition {partition}: {e}"
                )),
            }
        }
    }
    Ok(problems)
}

/// The open transactions of every partition: (topic id, partition, first offset, producer
/// id), for the integrity check and for aborting a dead owner's transaction.
pub(crate) fn open_all(read: &impl TreeRead) -> Result<Vec<(u32, u32, u64, i64)>> {
    read.range(TREE_TXN_OPEN, &[][..]..)?
        .map(|item| {
            let (key, value) = item?;
            let (topic, partition, first) = split_offset_key(TREE_TXN_OPEN, &key)?;
            Ok((
                topic,
                partition,
                first,
                decode_producer(TREE_TXN_OPEN, &value)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_rejects_bad_values() {
        let state = ProducerState {
            epoch: 3,
            updated_ms: 77,
            sends: vec![StoredSend {
                sequence_first: 0,
                sequence_last: 9,
                offset_first: 100,
                timestamp_ms: 5,
            }],
        };
        let bytes = state.encode();
        assert_eq!(ProducerState::decode(&bytes).expect("decodes"), state);
        for cut in 0..bytes.len() {
            assert!(ProducerState::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut six = bytes.clone();
        six[2] = 6;
        assert!(ProducerState::decode(&six).is_err());
        let mut negative = bytes.clone();
        negative[1] = 0x80;
        assert!(ProducerState::decode(&negative).is_err());
        let mut seq = bytes;
        seq[size_of::<format::ProducerStateHead>() + 3] = 0x80;
        assert!(ProducerState::decode(&seq).is_err());
    }
}
