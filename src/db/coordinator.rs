//! The file as its own transaction coordinator: giving a transactional id its producer id
//! and epoch (fencing the instance before it), and ending transactions whose instance was
//! fenced, died or ran past its timeout. Each step is one write transaction over the
//! registry (`transactions`), the partitions' producer state and markers (`log`), so a
//! crash leaves a transaction either open (and aborted later) or ended, never half ended.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Brooklet;
use crate::catalog::TopicMeta;
use crate::engine::{Engine, WriteTransaction};
use crate::error::{Error, Result};
use crate::kafka::{ControlType, ProducerStamp};
use crate::log::append::append_control;
use crate::log::producers;
use crate::pager::Durability;
use crate::transactions::{self, TransactionState, TxnRecord};

/// Topics by id, as a marker needs them.
pub(super) fn topics_by_id(txn: &WriteTransaction) -> Result<BTreeMap<u32, Arc<TopicMeta>>> {
    Ok(crate::catalog::list(txn)?
        .into_iter()
        .map(|t| (t.id, Arc::new(t)))
        .collect())
}

/// Writes a marker of `kind` for `stamp`'s producer in each of `partitions` (skipping
/// topics deleted since) and ends its transaction there: the open entry goes, an aborted
/// one is indexed, and the partition's producer epoch is raised to the marker's.
pub(super) fn write_markers(
    txn: &mut WriteTransaction,
    partitions: &[(u32, u32)],
    stamp: &ProducerStamp,
    kind: ControlType,
    now_ms: i64,
) -> Result<()> {
    if partitions.is_empty() {
        return Ok(());
    }
    let topics = topics_by_id(txn)?;
    write_markers_in(txn, &topics, partitions, (stamp, kind), now_ms)
}

/// [`write_markers`] with the topics already read.
pub(super) fn write_markers_in(
    txn: &mut WriteTransaction,
    topics: &BTreeMap<u32, Arc<TopicMeta>>,
    partitions: &[(u32, u32)],
    (stamp, kind): (&ProducerStamp, ControlType),
    now_ms: i64,
) -> Result<()> {
    for &(topic_id, partition) in partitions {
        let Some(topic) = topics.get(&topic_id) else {
            continue;
        };
        if partition >= topic.partitions {
            continue;
        }
        let at = append_control(txn, topic, partition, stamp, kind, now_ms)?;
        let tp = (topic_id, partition);
        producers::raise_epoch(txn, tp, stamp.producer_id, stamp.producer_epoch, now_ms)?;
        producers::close_transaction(txn, tp, stamp.producer_id, at, kind == ControlType::Abort)?;
    }
    Ok(())
}

/// The next epoch of a producer: `(producer id, epoch)`, with a new producer id once the
/// epoch would pass `i16::MAX`, as Kafka's coordinator does.
fn next_epoch(txn: &mut WriteTransaction, record: &TxnRecord) -> Result<(i64, i16)> {
    match record.epoch.checked_add(1) {
        Some(epoch) if epoch < i16::MAX => Ok((record.producer_id, epoch)),
        _ => Ok((crate::counters::take_producer_id(txn)?, 0)),
    }
}

/// Aborts the stored part of `record`'s open transaction with markers at a raised epoch,
/// and returns the record fenced and ended: the new epoch, state `CompleteAbort`, no
/// partitions. Nothing older than the new epoch can write again.
fn abort_and_fence(
    txn: &mut WriteTransaction,
    record: &TxnRecord,
    now_ms: i64,
) -> Result<TxnRecord> {
    let (producer_id, epoch) = next_epoch(txn, record)?;
    let marker = ProducerStamp {
        producer_id: record.producer_id,
        producer_epoch: if producer_id == record.producer_id {
            epoch
        } else {
            record.epoch
        },
        sequence_base: -1,
        transactional: true,
    };
    write_markers(txn, &record.partitions, &marker, ControlType::Abort, now_ms)?;
    Ok(TxnRecord {
        producer_id,
        epoch,
        state: TransactionState::CompleteAbort,
        started_ms: 0,
        updated_ms: now_ms,
        partitions: Vec::new(),
        ..record.clone()
    })
}

/// Whether an ongoing transaction is past its timeout, or its owner is known dead.
fn expired(engine: &Engine, record: &TxnRecord, now_ms: i64) -> Result<bool> {
    if record.state != TransactionState::Ongoing {
        return Ok(false);
    }
    let timeout = i64::from(record.timeout_ms);
    if now_ms.saturating_sub(record.started_ms) > timeout {
        return Ok(true);
    }
    Ok(engine.liveness_held(record.owner)? == Some(false))
}

/// Aborts (and fences) every ongoing transaction past its timeout or whose owner died, in
/// `txn`. Returns how many.
pub(super) fn abort_expired(
    txn: &mut WriteTransaction,
    engine: &Engine,
    now_ms: i64,
) -> Result<usize> {
    let mut aborted = 0;
    for (id, record) in transactions::list(txn)? {
        if expired(engine, &record, now_ms)? {
            let ended = abort_and_fence(txn, &record, now_ms)?;
            transactions::put(txn, &id, &ended)?;
            aborted += 1;
        }
    }
    Ok(aborted)
}

/// The producer id and epoch a new instance of transactional id `id` gets, written in one
/// durable commit: a new id's first, or the last instance's raised by one (fencing it),
/// after aborting the transaction that instance left open. Other ids' expired transactions
/// are aborted in the same commit.
pub(super) fn init_producer(
    db: &Brooklet,
    id: &str,
    owner: u64,
    timeout_ms: u32,
    now_ms: i64,
) -> Result<(i64, i16)> {
    transactions::validate_id(id)?;
    let engine = &db.inner.engine;
    let mut txn = engine.begin_write()?;
    let (producer_id, epoch) = match transactions::get(&txn, id)? {
        None => (crate::counters::take_producer_id(&mut txn)?, 0),
        Some(record) if record.state == TransactionState::Ongoing => {
            let ended = abort_and_fence(&mut txn, &record, now_ms)?;
            (ended.producer_id, ended.epoch)
        }
        Some(record) => next_epoch(&mut txn, &record)?,
    };
    transactions::put(
        &mut txn,
        id,
        &TxnRecord {
            producer_id,
            epoch,
            state: TransactionState::Empty,
            timeout_ms,
            owner,
            started_ms: 0,
            updated_ms: now_ms,
            partitions: Vec::new(),
        },
    )?;
    abort_expired(&mut txn, engine, now_ms)?;
    txn.commit(Durability::Immediate)?;
    Ok((producer_id, epoch))
}

/// Checks in `txn` that `id` still belongs to the instance `(producer id, epoch)`, and
/// returns its record; a newer instance (or a timeout's abort) fenced it otherwise.
pub(super) fn check_owner(
    txn: &WriteTransaction,
    id: &str,
    (producer_id, epoch): (i64, i16),
) -> Result<TxnRecord> {
    match transactions::get(txn, id)? {
        Some(record) if record.producer_id == producer_id && record.epoch == epoch => Ok(record),
        Some(record) => Err(Error::Fenced(format!(
            "transactional id {id:?} was taken over (producer {} epoch {}, this instance is producer {producer_id} epoch {epoch}); its transaction was aborted",
            record.producer_id, record.epoch
        ))),
        None => Err(Error::Fenced(format!(
            "transactional id {id:?} is no longer registered"
        ))),
    }
}

impl Brooklet {
    /// Aborts transactions whose instance died or ran past its timeout, if there are any,
    /// in one commit. Returns how many. Reads only, unless one is found.
    pub(super) fn abort_expired_transactions(&self) -> Result<usize> {
        let now = super::now_ms();
        let engine = &self.inner.engine;
        let any = self.with_snapshot(|read| {
            for (_, record) in transactions::list(read)? {
                if expired(engine, &record, now)? {
                    return Ok(true);
                }
            }
            Ok(false)
        })?;
        if !any {
            return Ok(0);
        }
        let mut txn = engine.begin_write()?;
        let aborted = abort_expired(&mut txn, engine, now)?;
        if aborted > 0 {
            txn.commit(Durability::Immediate)?;
        }
        Ok(aborted)
    }
}

/// A transactional id and its current instance, from [`Admin::transactions`](crate::Admin::transactions) (what
/// `kafka-transactions.sh describe` shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionInfo {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id of its current instance.
    pub producer_id: i64,
    /// The epoch of its current instance.
    pub producer_epoch: i16,
    /// The state of its transaction.
    pub state: TransactionState,
    /// The partitions its ongoing transaction has stored records in.
    pub partitions: Vec<super::TopicPartition>,
    /// When the ongoing transaction started storing records (ms since the epoch), if one is.
    pub started_ms: Option<i64>,
    /// When the record last changed (ms since the epoch).
    pub updated_ms: i64,
    /// The instance's transaction timeout.
    pub timeout_ms: u32,
}

impl super::Admin {
    /// Every transactional id in the file, finished ones included, in id order.
    pub fn transactions(&self) -> Result<Vec<TransactionInfo>> {
        self.db.with_snapshot(|read| {
            let names: BTreeMap<u32, String> = crate::catalog::list(read)?
                .into_iter()
                .map(|t| (t.id, t.name))
                .collect();
            transactions::list(read)?
                .into_iter()
                .map(|(id, r)| Ok(describe(id, &r, &names)))
                .collect()
        })
    }

    /// One transactional id; [`Error::InvalidArgument`] if the file has none of that name.
    pub fn describe_transaction(&self, transactional_id: &str) -> Result<TransactionInfo> {
        self.transactions()?
            .into_iter()
            .find(|t| t.transactional_id == transactional_id)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "transactional id {transactional_id:?} does not exist"
                ))
            })
    }
}

fn describe(id: String, r: &TxnRecord, names: &BTreeMap<u32, String>) -> TransactionInfo {
    TransactionInfo {
        transactional_id: id,
        producer_id: r.producer_id,
        producer_epoch: r.epoch,
        state: r.state,
        partitions: r
            .partitions
            .iter()
            .map(|(t, p)| {
                let name = names.get(t).cloned().unwrap_or_else(|| format!("#{t}"));
                super::TopicPartition::new(name, *p)
            })
            .collect(),
        started_ms: (r.state == TransactionState::Ongoing).then_some(r.started_ms),
        updated_ms: r.updated_ms,
        timeout_ms: r.timeout_ms,
    }
}

/// The transactions' part of the integrity check: every entry of the producer-state trees
/// and the registry decodes and names an existing partition and an allocated producer id,
/// and the open transactions of the partitions are exactly those the registry holds open.
pub(super) fn check_transactions(
    read: &crate::engine::ReadTransaction,
    report: &mut crate::CheckReport,
) {
    let mut problems = Vec::new();
    let mut note = |message: String| {
        problems.push(crate::Problem {
            page: None,
            message,
        });
    };
    let result = (|| -> Result<()> {
        let partitions: BTreeMap<u32, u32> = crate::catalog::list(read)?
            .into_iter()
            .map(|t| (t.id, t.partitions))
            .collect();
        let next_id = crate::counters::next_producer_id(read)?;
        for message in producers::check_trees(read, &partitions, next_id)? {
            note(message);
        }
        let mut open: std::collections::BTreeSet<(u32, u32, i64)> = producers::open_all(read)?
            .into_iter()
            .map(|(topic, partition, _, producer)| (topic, partition, producer))
            .collect();
        for (id, record) in transactions::list(read)? {
            if record.producer_id >= next_id {
                note(format!(
                    "transactional id {id:?} has producer id {} at or above the next id {next_id}",
                    record.producer_id
                ));
            }
            let ongoing = record.state == TransactionState::Ongoing;
            if !ongoing && !record.partitions.is_empty() {
                note(format!(
                    "transactional id {id:?} is {} but lists partitions",
                    record.state.name()
                ));
            }
            for &(topic, partition) in &record.partitions {
                // A topic deleted during the transaction took its open entries with it.
                if !partitions.contains_key(&topic) {
                    continue;
                }
                if !open.remove(&(topic, partition, record.producer_id)) && ongoing {
                    note(format!(
                        "transactional id {id:?} holds topic #{topic} partition {partition} open, but the partition has no open transaction of producer {}",
                        record.producer_id
                    ));
                }
            }
        }
        for (topic, partition, producer) in &open {
            note(format!(
                "topic #{topic} partition {partition} has an open transaction of producer {producer} that no transactional id holds"
            ));
        }
        Ok(())
    })();
    if let Err(e) = result {
        note(format!("transactions: {e}"));
    }
    report.problems.extend(problems);
}

/// How long an idle producer's state, and a transactional id with no transaction open, are
/// kept (Kafka's `transactional.id.expiration.ms` default): 7 days.
pub(super) const EXPIRATION_MS: i64 = 7 * 24 * 3600 * 1000;

impl Brooklet {
    /// Forgets transactional ids with no transaction open and producer state in partitions
    /// that have not changed for [`EXPIRATION_MS`], so neither grows without bound. The
    /// current instances of the ids kept keep their state. Returns how many entries went.
    pub(super) fn expire_producers(&self) -> Result<u64> {
        let now = super::now_ms();
        let before = now.saturating_sub(EXPIRATION_MS);
        let due = self.with_snapshot(|read| {
            let ids = transactions::list(read)?;
            let old_id = ids
                .iter()
                .any(|(_, r)| r.state != TransactionState::Ongoing && r.updated_ms < before);
            Ok(old_id || producers::any_idle(read, before)?)
        })?;
        if !due {
            return Ok(0);
        }
        let mut txn = self.inner.engine.begin_write()?;
        let mut removed = 0;
        let mut keep = std::collections::BTreeSet::new();
        for (id, record) in transactions::list(&txn)? {
            if record.state != TransactionState::Ongoing && record.updated_ms < before {
                transactions::remove(&mut txn, &id)?;
                removed += 1;
            } else {
                keep.insert(record.producer_id);
            }
        }
        removed += producers::expire(&mut txn, before, &keep)?;
        txn.commit(Durability::Immediate)?;
        Ok(removed)
    }
}
