//! [`Reader`]: follows a set of partitions from chosen start positions, with `poll`.
//! It is the building block of consumers; it holds positions only, never a snapshot, so
//! nothing is pinned while user code handles the records it returned.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Brooklet, Position, TopicPartition};
use crate::error::{Error, Result};
use crate::kafka::StoredRecord;
use crate::log::read::{FetchLimits, Isolation};

/// A record returned by [`Reader::poll`], with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The record.
    pub record: StoredRecord,
}

/// Reads a set of partitions from positions it keeps in memory.
///
/// ```
/// use brooklet::{Brooklet, Position, Record, TopicConfig};
/// use std::time::Duration;
///
/// # fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("r.brooklet"))?;
/// db.admin().create_topic("logs", 1, TopicConfig::default())?;
/// db.producer().send("logs", Record::value("hello"))?;
/// let mut reader = db.reader();
/// reader.assign("logs", 0, Position::Beginning)?;
/// let records = reader.poll(Duration::from_millis(100))?;
/// assert_eq!(records[0].record.value.as_deref(), Some(&b"hello"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Reader {
    pub(super) db: Brooklet,
    positions: BTreeMap<TopicPartition, u64>,
    reset: Option<Position>,
    limits: FetchLimits,
    isolation: Isolation,
    /// Partition to start the next poll at, so that busy partitions do not starve others.
    next_start: usize,
}

impl Brooklet {
    /// A reader with no partitions assigned yet.
    #[must_use]
    pub fn reader(&self) -> Reader {
        Reader {
            db: self.clone(),
            positions: BTreeMap::new(),
            reset: Some(Position::Beginning),
            limits: FetchLimits::default(),
            isolation: Isolation::default(),
            next_start: 0,
        }
    }
}

impl Reader {
    /// Sets where a position that falls outside the log moves (Kafka's
    /// `auto.offset.reset`): a [`Position`], or `None` for an
    /// [`Error::OffsetOutOfRange`] from `poll`. Default [`Position::Beginning`].
    /// [`Position::Committed`] is refused by `poll`: a reader has no group.
    #[must_use]
    pub fn with_reset(mut self, reset: Option<Position>) -> Self {
        self.reset = reset;
        self
    }

    /// Sets the limits of each poll.
    #[must_use]
    pub fn with_limits(mut self, limits: FetchLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets which records this reader returns. Default [`Isolation::ReadCommitted`]: only
    /// committed transactions' records, up to the last stable offset.
    #[must_use]
    pub fn with_isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Adds a partition (or moves it) to a start position. [`Position::Committed`] is
    /// refused: a reader has no group.
    pub fn assign(&mut self, topic: &str, partition: u32, start: Position) -> Result<()> {
        let tp = TopicPartition::new(topic, partition);
        let offset = self.db.resolve(&tp, start, false, self.isolation)?;
        self.positions.insert(tp, offset);
        Ok(())
    }

    /// Adds every partition of a topic at a start position.
    pub fn assign_topic(&mut self, topic: &str, start: Position) -> Result<()> {
        let description = self.db.admin().describe_topic(topic)?;
        for p in description.partitions {
            self.assign(topic, p.partition, start)?;
        }
        Ok(())
    }

    /// Stops reading a partition.
    pub fn unassign(&mut self, topic: &str, partition: u32) {
        self.positions
            .remove(&TopicPartition::new(topic, partition));
    }

    /// Moves an assigned partition to a position.
    pub fn seek(&mut self, topic: &str, partition: u32, start: Position) -> Result<()> {
        if !self
            .positions
            .contains_key(&TopicPartition::new(topic, partition))
        {
            return Err(Error::invalid(format!(
                "{topic}/{partition} is not assigned"
            )));
        }
        self.assign(topic, partition, start)
    }

    /// The next offset this reader will return for a partition.
    #[must_use]
    pub fn position(&self, topic: &str, partition: u32) -> Option<u64> {
        self.positions
            .get(&TopicPartition::new(topic, partition))
            .copied()
    }

    /// Every assigned partition and its position.
    #[must_use]
    pub fn positions(&self) -> &BTreeMap<TopicPartition, u64> {
        &self.positions
    }

    /// Returns the records available now, or waits up to `timeout` for some.
    ///
    /// Holds no lock or snapshot between calls. A position before the log start (deleted by
    /// retention) or past its end is handled by the reset policy.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumedRecord>> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.poll_now()?;
            let now = Instant::now();
            if !records.is_empty() || now >= deadline {
                return Ok(records);
            }
            let positions: Vec<(TopicPartition, u64)> = self
                .positions
                .iter()
                .map(|(tp, o)| (tp.clone(), *o))
                .collect();
            if positions.is_empty() {
                std::thread::sleep(deadline - now);
                return Ok(Vec::new());
            }
            self.db
                .wait_readable(&positions, deadline - now, self.isolation)?;
        }
    }

    /// Like [`Reader::poll`], with the records grouped by partition, in offset order
    /// within each.
    pub fn poll_by_partition(
        &mut self,
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Vec<StoredRecord>>> {
        Ok(group_by_partition(self.poll(timeout)?))
    }

    /// One round over the assigned partitions without waiting.
    fn poll_now(&mut self) -> Result<Vec<ConsumedRecord>> {
        let keys: Vec<TopicPartition> = self.positions.keys().cloned().collect();
        let out = fetch_round(
            &self.db,
            &mut self.positions,
            &keys,
            self.next_start,
            (self.limits, self.isolation),
            self.reset,
        )?;
        self.next_start = self.next_start.wrapping_add(1);
        Ok(out)
    }
}

/// One fetch round over `keys`, reading each from its position in `positions` and moving
/// it on, with `limits` shared by all partitions. The round starts at key `start` (callers
/// rotate it, so busy partitions do not starve the others). A position outside the log is
/// moved by `reset` (`None`: [`Error::OffsetOutOfRange`]). Shared by [`Reader`] and the
/// group consumer.
pub(super) fn fetch_round(
    db: &Brooklet,
    positions: &mut BTreeMap<TopicPartition, u64>,
    keys: &[TopicPartition],
    start: usize,
    (limits, isolation): (FetchLimits, Isolation),
    reset: Option<Position>,
) -> Result<Vec<ConsumedRecord>> {
    let mut out = Vec::new();
    let mut budget = limits;
    for i in 0..keys.len() {
        if budget.max_records == 0 {
            break;
        }
        let tp = &keys[(start + i) % keys.len()];
        let offset = positions[tp];
        let fetched = match db.fetch_with(&tp.topic, tp.partition, offset, budget, isolation) {
            Ok(f) => f,
            Err(Error::OffsetOutOfRange {
                offset,
                beginning,
                end,
            }) => {
                let Some(reset) = reset else {
                    return Err(Error::OffsetOutOfRange {
                        offset,
                        beginning,
                        end,
                    });
                };
                positions.insert(tp.clone(), reset_offset(db, tp, reset, isolation)?);
                continue;
            }
            Err(e) => return Err(e),
        };
        let offset_now = match reset {
            // Past the end (the log was reset under us): apply the policy.
            Some(reset) if offset > fetched.end_offset => reset_offset(db, tp, reset, isolation)?,
            _ => fetched.next_offset,
        };
        positions.insert(tp.clone(), offset_now);
        budget.max_records -= fetched.records.len().min(budget.max_records);
        out.extend(fetched.records.into_iter().map(|record| ConsumedRecord {
            topic: tp.topic.clone(),
            partition: tp.partition,
            record,
        }));
    }
    Ok(out)
}

/// Where `reset` moves a position that fell outside the log: always into the log.
fn reset_offset(
    db: &Brooklet,
    tp: &TopicPartition,
    reset: Position,
    isolation: Isolation,
) -> Result<u64> {
    if reset == Position::Committed {
        return Err(Error::invalid(
            "auto_offset_reset cannot be Position::Committed: it applies when the committed offset is unusable",
        ));
    }
    db.resolve(tp, reset, true, isolation)
}

/// Records grouped by partition, each group in offset order.
pub(super) fn group_by_partition(
    records: Vec<ConsumedRecord>,
) -> BTreeMap<TopicPartition, Vec<crate::StoredRecord>> {
    let mut out: BTreeMap<TopicPartition, Vec<crate::StoredRecord>> = BTreeMap::new();
    for r in records {
        out.entry(TopicPartition::new(r.topic, r.partition))
            .or_default()
            .push(r.record);
    }
    out
}
