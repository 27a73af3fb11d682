//! [`Reader`]: follows a set of partitions from chosen start positions, with `poll`.
//! It is the building block of consumers; it holds positions only, never a snapshot, so
//! nothing is pinned while user code handles the records it returned.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::Brooklet;
use crate::error::{Error, Result};
use crate::kafka::StoredRecord;
use crate::log::read::FetchLimits;

/// Where a reader starts in a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The first offset still stored.
    Beginning,
    /// The end: only records produced from now on.
    End,
    /// An explicit offset.
    Offset(u64),
    /// The first record at or after this time (milliseconds since the Unix epoch); the end
    /// if every record is older.
    Timestamp(i64),
}

/// What to do when a position falls outside the log (Kafka's `auto.offset.reset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffsetReset {
    /// Jump to the first offset still stored.
    #[default]
    Earliest,
    /// Jump to the end.
    Latest,
    /// Return [`Error::OffsetOutOfRange`] from `poll`.
    Error,
}

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
/// use brooklet::{Brooklet, Record, StartAt, TopicConfig};
/// use std::time::Duration;
///
/// # fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("r.brooklet"))?;
/// db.create_topic("logs", 1, TopicConfig::default())?;
/// db.send("logs", Record::value("hello"))?;
/// let mut reader = db.reader();
/// reader.assign("logs", 0, StartAt::Beginning)?;
/// let records = reader.poll(Duration::from_millis(100))?;
/// assert_eq!(records[0].record.value.as_deref(), Some(&b"hello"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Reader {
    db: Brooklet,
    positions: BTreeMap<(String, u32), u64>,
    reset: OffsetReset,
    limits: FetchLimits,
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
            reset: OffsetReset::default(),
            limits: FetchLimits::default(),
            next_start: 0,
        }
    }
}

impl Reader {
    /// Sets what happens when a position falls outside the log.
    #[must_use]
    pub fn with_reset(mut self, reset: OffsetReset) -> Self {
        self.reset = reset;
        self
    }

    /// Sets the limits of each poll.
    #[must_use]
    pub fn with_limits(mut self, limits: FetchLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds a partition (or moves it) to a start position.
    pub fn assign(&mut self, topic: &str, partition: u32, start: StartAt) -> Result<()> {
        let offset = self.resolve(topic, partition, start)?;
        self.positions.insert((topic.to_owned(), partition), offset);
        Ok(())
    }

    /// Adds every partition of a topic at a start position.
    pub fn assign_topic(&mut self, topic: &str, start: StartAt) -> Result<()> {
        let description = self.db.describe_topic(topic)?;
        for p in description.partitions {
            self.assign(topic, p.partition, start)?;
        }
        Ok(())
    }

    /// Stops reading a partition.
    pub fn unassign(&mut self, topic: &str, partition: u32) {
        self.positions.remove(&(topic.to_owned(), partition));
    }

    /// Moves an assigned partition to a start position.
    pub fn seek(&mut self, topic: &str, partition: u32, start: StartAt) -> Result<()> {
        if !self.positions.contains_key(&(topic.to_owned(), partition)) {
            return Err(Error::invalid(format!(
                "{topic}/{partition} is not assigned"
            )));
        }
        self.assign(topic, partition, start)
    }

    /// The next offset this reader will return for a partition.
    #[must_use]
    pub fn position(&self, topic: &str, partition: u32) -> Option<u64> {
        self.positions.get(&(topic.to_owned(), partition)).copied()
    }

    /// Every assigned partition and its position.
    #[must_use]
    pub fn positions(&self) -> &BTreeMap<(String, u32), u64> {
        &self.positions
    }

    fn resolve(&self, topic: &str, partition: u32, start: StartAt) -> Result<u64> {
        match start {
            StartAt::Beginning => self.db.beginning_offset(topic, partition),
            StartAt::End => self.db.end_offset(topic, partition),
            StartAt::Offset(o) => Ok(o),
            StartAt::Timestamp(t) => match self.db.offset_for_time(topic, partition, t)? {
                Some(o) => Ok(o),
                None => self.db.end_offset(topic, partition),
            },
        }
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
            let positions: Vec<(&str, u32, u64)> = self
                .positions
                .iter()
                .map(|((t, p), o)| (t.as_str(), *p, *o))
                .collect();
            if positions.is_empty() {
                std::thread::sleep(deadline - now);
                return Ok(Vec::new());
            }
            self.db.wait_for_records(&positions, deadline - now)?;
        }
    }

    /// One round over the assigned partitions without waiting.
    fn poll_now(&mut self) -> Result<Vec<ConsumedRecord>> {
        let keys: Vec<(String, u32)> = self.positions.keys().cloned().collect();
        let out = fetch_round(
            &self.db,
            &mut self.positions,
            &keys,
            self.next_start,
            self.limits,
            self.reset,
        )?;
        self.next_start = self.next_start.wrapping_add(1);
        Ok(out)
    }
}

/// One fetch round over `keys`, reading each from its position in `positions` and moving
/// it on, with `limits` shared by all partitions. The round starts at key `start` (callers
/// rotate it, so busy partitions do not starve the others). A position outside the log is
/// handled by `reset`. Shared by [`Reader`] and the group consumer.
pub(super) fn fetch_round(
    db: &Brooklet,
    positions: &mut BTreeMap<(String, u32), u64>,
    keys: &[(String, u32)],
    start: usize,
    limits: FetchLimits,
    reset: OffsetReset,
) -> Result<Vec<ConsumedRecord>> {
    let mut out = Vec::new();
    let mut budget = limits;
    for i in 0..keys.len() {
        if budget.max_records == 0 {
            break;
        }
        let key = &keys[(start + i) % keys.len()];
        let (topic, partition) = (key.0.as_str(), key.1);
        let offset = positions[key];
        let fetched = match db.fetch(topic, partition, offset, budget) {
            Ok(f) => f,
            Err(Error::OffsetOutOfRange { beginning, end, .. }) => {
                let reset_to = match reset {
                    OffsetReset::Earliest => beginning,
                    OffsetReset::Latest => end,
                    OffsetReset::Error => {
                        return Err(Error::OffsetOutOfRange {
                            offset,
                            beginning,
                            end,
                        });
                    }
                };
                positions.insert(key.clone(), reset_to);
                continue;
            }
            Err(e) => return Err(e),
        };
        let offset_now = match reset {
            // Past the end (the log was reset under us): apply the policy.
            OffsetReset::Earliest if offset > fetched.end_offset => fetched.beginning_offset,
            OffsetReset::Latest if offset > fetched.end_offset => fetched.end_offset,
            _ => fetched.next_offset,
        };
        positions.insert(key.clone(), offset_now);
        budget.max_records -= fetched.records.len().min(budget.max_records);
        out.extend(fetched.records.into_iter().map(|record| ConsumedRecord {
            topic: topic.to_owned(),
            partition,
            record,
        }));
    }
    Ok(out)
}
