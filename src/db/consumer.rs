//! [`Consumer`]: a member of a consumer group. It shares the subscribed topics'
//! partitions with the group's other live members (threads or processes), commits offsets
//! in the file, and hands partitions over when members join, leave or die.
//!
//! A background thread heartbeats for the member, so a member whose handler is slow stays
//! in the group until `max_poll_interval` passes without a poll; a killed process stops
//! heartbeating and its liveness lock is released by the operating system, so its
//! partitions move within about half a second (the session timeout applies to a live
//! process that stops heartbeating, and `max_poll_interval` to one that stops polling).
//!
//! The membership protocol (join, heartbeat, sync, leave) is in `membership.rs`, and the
//! handler loops ([`Consumer::run`]) in `run.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::reader::{fetch_round, group_by_partition};
use super::{Brooklet, now_ms};
use super::{ConsumedRecord, Position, TopicPartition};
use crate::catalog::TopicMeta;
use crate::error::{Error, Result};
use crate::group::Assignor;
use crate::group::store as groups;
use crate::log::read::{FetchLimits, Isolation};
use crate::pager::Durability;

/// Settings for [`Brooklet::consumer`].
#[derive(Clone, Debug)]
pub struct ConsumerOptions {
    /// Where to start in a partition the group has no committed offset for, or whose
    /// committed offset fell out of the log (Kafka's `auto.offset.reset`): usually
    /// [`Position::Beginning`] (Kafka's `earliest`) or [`Position::End`] (`latest`); `None`
    /// (Kafka's `none`) makes `poll` fail instead. Default `Some(Position::End)`, as in
    /// Kafka: a new group reads only what is produced after it joined.
    pub auto_offset_reset: Option<Position>,
    /// Subscribe to topics that do not exist yet: the member joins, and gets their
    /// partitions once they are created, as Kafka's consumer does. Default false: a topic
    /// that does not exist fails [`Brooklet::consumer`] with [`Error::UnknownTopic`].
    pub wait_for_topics: bool,
    /// Commit positions automatically this often (during `poll`, and on close). `None`
    /// turns auto-commit off. Default 5 s, as in Kafka.
    pub auto_commit_interval: Option<Duration>,
    /// A member not heard from for this long is dropped. Default 10 s.
    pub session_timeout: Duration,
    /// A member that does not poll for this long is dropped, even if alive. Default 300 s.
    pub max_poll_interval: Duration,
    /// How often the background thread heartbeats. Default 1 s.
    pub heartbeat_interval: Duration,
    /// How partitions are spread. Used when the group is created. Default range.
    pub assignor: Assignor,
    /// Limits of each poll.
    pub limits: FetchLimits,
    /// Durability of offset commits. Default immediate.
    pub commit_durability: Durability,
    /// Which records `poll` returns (Kafka's `isolation.level`). Default
    /// [`Isolation::ReadCommitted`]: records of committed transactions only.
    pub isolation: Isolation,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            auto_offset_reset: Some(Position::End),
            wait_for_topics: false,
            auto_commit_interval: Some(Duration::from_secs(5)),
            session_timeout: Duration::from_secs(10),
            max_poll_interval: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(1),
            assignor: Assignor::Range,
            limits: FetchLimits::default(),
            commit_durability: Durability::Immediate,
            isolation: Isolation::ReadCommitted,
        }
    }
}

/// A rebalance callback.
pub(super) type Callback = Box<dyn FnMut(&[TopicPartition]) + Send>;

/// A member of a consumer group: it shares the subscribed topics' partitions with the
/// group's other live members, in this process or others, and commits offsets in the file.
///
/// A killed member's partitions move to the others within about half a second (its
/// liveness lock dies with the process); a live member that stops heartbeating moves them
/// after `session_timeout`, and one that stops polling after `max_poll_interval`.
///
/// ```
/// use brooklet::{Brooklet, ConsumerOptions, Position, Record, TopicConfig};
/// use std::time::Duration;
///
/// # fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("g.brooklet"))?;
/// db.admin().create_topic("jobs", 2, TopicConfig::default())?;
/// db.producer().send("jobs", Record::value("resize image 1"))?;
/// let options = ConsumerOptions { auto_offset_reset: Some(Position::Beginning), ..Default::default() };
/// let mut consumer = db.consumer("workers", &["jobs"], options)?;
/// let records = consumer.poll(Duration::from_secs(1))?;
/// assert_eq!(records.len(), 1);
/// consumer.commit()?;
/// # Ok(())
/// # }
/// ```
pub struct Consumer {
    pub(super) db: Brooklet,
    pub(super) group: String,
    pub(super) group_id: u32,
    pub(super) member_id: u64,
    pub(super) topics: Vec<String>,
    pub(super) options: ConsumerOptions,
    pub(super) owned: BTreeSet<TopicPartition>,
    pub(super) positions: BTreeMap<TopicPartition, u64>,
    pub(super) paused: BTreeSet<TopicPartition>,
    pub(super) last_commit: Instant,
    pub(super) last_sync: Option<Instant>,
    /// The group generation at the last sync; a change means partitions moved.
    pub(super) seen_generation: u64,
    pub(super) next_start: usize,
    pub(super) on_assigned: Option<Callback>,
    pub(super) on_revoked: Option<Callback>,
    pub(super) on_lost: Option<Callback>,
    pub(super) heartbeat: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    /// The member's liveness lock, where the storage has them (see `Storage::lock_liveness`).
    pub(super) liveness: Option<crate::os::LivenessGuard>,
    pub(super) closed: bool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group", &self.group)
            .field("member_id", &format_args!("{:016x}", self.member_id))
            .field("owned", &self.owned)
            .field("positions", &self.positions)
            .finish_non_exhaustive()
    }
}

impl Brooklet {
    /// Joins consumer group `group` subscribed to `topics` (the group is created if new).
    /// A topic that does not exist fails with [`Error::UnknownTopic`], unless
    /// [`ConsumerOptions::wait_for_topics`] is set.
    pub fn consumer(
        &self,
        group: &str,
        topics: &[&str],
        options: ConsumerOptions,
    ) -> Result<Consumer> {
        groups::validate_group_name(group)?;
        if topics.is_empty() {
            return Err(Error::invalid("a consumer needs at least one topic"));
        }
        if let Some(Position::Committed) = options.auto_offset_reset {
            return Err(Error::invalid(
                "auto_offset_reset cannot be Position::Committed: it applies when the committed offset is unusable",
            ));
        }
        if !options.wait_for_topics {
            for t in topics {
                self.admin().describe_topic(t)?;
            }
        }
        let member_id = loop {
            let id = fastrand::u64(1..);
            if id != 0 {
                break id;
            }
        };
        let mut consumer = Consumer {
            db: self.clone(),
            group: group.to_owned(),
            group_id: 0,
            member_id,
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            options,
            owned: BTreeSet::new(),
            positions: BTreeMap::new(),
            paused: BTreeSet::new(),
            last_commit: Instant::now(),
            last_sync: None,
            seen_generation: 0,
            next_start: 0,
            on_assigned: None,
            on_revoked: None,
            on_lost: None,
            heartbeat: None,
            liveness: None,
            closed: false,
        };
        consumer.join()?;
        consumer.start_heartbeat();
        consumer.sync()?;
        Ok(consumer)
    }
}

impl Consumer {
    /// Calls `f` with newly assigned partitions (after their positions are set). The
    /// partitions assigned when the consumer joined are reported at once.
    #[must_use]
    pub fn on_assigned(mut self, f: impl FnMut(&[TopicPartition]) + Send + 'static) -> Self {
        let mut f: Callback = Box::new(f);
        if !self.owned.is_empty() {
            f(&self.owned.iter().cloned().collect::<Vec<_>>());
        }
        self.on_assigned = Some(f);
        self
    }

    /// Calls `f` with partitions about to be handed to another member, before the hand
    /// over, and with every owned partition when the consumer closes (Kafka's
    /// `onPartitionsRevoked`); with auto-commit on, their positions are committed right
    /// after `f` returns, so `f` may also commit offsets of its own.
    #[must_use]
    pub fn on_revoked(mut self, f: impl FnMut(&[TopicPartition]) + Send + 'static) -> Self {
        self.on_revoked = Some(Box::new(f));
        self
    }

    /// Calls `f` with partitions this member lost without a chance to commit them: it was
    /// dropped from the group (it stopped polling for longer than `max_poll_interval`, or
    /// heartbeats failed for the whole session timeout) and they were already handed to
    /// another member (Kafka's `onPartitionsLost`). Offsets of lost partitions cannot be
    /// committed; records handled since the last commit will be handled again.
    #[must_use]
    pub fn on_lost(mut self, f: impl FnMut(&[TopicPartition]) + Send + 'static) -> Self {
        self.on_lost = Some(Box::new(f));
        self
    }

    /// Returns records from the partitions this member owns, waiting up to `timeout`.
    /// No lock or snapshot is held once it returns.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumedRecord>> {
        self.ensure_open()?;
        let deadline = Instant::now() + timeout;
        loop {
            // Sync (a write: heartbeat and rebalance) at most every 200 ms, or at once when
            // the group's generation moved (a cheap read), so hand-overs are picked up fast.
            let due = self.last_sync.is_none_or(|t| {
                t.elapsed()
                    >= self
                        .options
                        .heartbeat_interval
                        .min(Duration::from_millis(200))
            }) || self.generation_moved()?;
            if due {
                self.sync()?;
            }
            self.maybe_auto_commit()?;
            let records = self.fetch_now()?;
            let now = Instant::now();
            if !records.is_empty() || now >= deadline {
                return Ok(records);
            }
            let positions: Vec<(TopicPartition, u64)> = self
                .positions
                .iter()
                .filter(|(tp, _)| !self.paused.contains(*tp))
                .map(|(tp, o)| (tp.clone(), *o))
                .collect();
            let wait = (deadline - now).min(Duration::from_millis(200));
            if positions.is_empty() {
                std::thread::sleep(wait);
            } else {
                self.db
                    .wait_readable(&positions, wait, self.options.isolation)?;
            }
        }
    }

    fn fetch_now(&mut self) -> Result<Vec<ConsumedRecord>> {
        let keys: Vec<TopicPartition> = self
            .positions
            .keys()
            .filter(|tp| !self.paused.contains(*tp))
            .cloned()
            .collect();
        let (limits, reset) = (self.options.limits, self.options.auto_offset_reset);
        let out = fetch_round(
            &self.db,
            &mut self.positions,
            &keys,
            self.next_start,
            (limits, self.options.isolation),
            reset,
        )?;
        self.next_start = self.next_start.wrapping_add(1);
        Ok(out)
    }

    fn maybe_auto_commit(&mut self) -> Result<()> {
        if let Some(interval) = self.options.auto_commit_interval
            && self.last_commit.elapsed() >= interval
        {
            self.commit()?;
        }
        Ok(())
    }

    /// Like [`Consumer::poll`], with the records grouped by partition, in offset order
    /// within each: for handlers that work one partition at a time.
    pub fn poll_by_partition(
        &mut self,
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Vec<crate::StoredRecord>>> {
        Ok(group_by_partition(self.poll(timeout)?))
    }

    /// Commits the current position of every owned partition: the offset after the last
    /// record `poll` returned, as Kafka's `commitSync()` does.
    pub fn commit(&mut self) -> Result<()> {
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        self.commit_positions(&owned)
    }

    pub(super) fn commit_positions(&mut self, tps: &[TopicPartition]) -> Result<()> {
        let offsets: Vec<(TopicPartition, u64)> = tps
            .iter()
            .filter_map(|tp| self.positions.get(tp).map(|o| (tp.clone(), *o)))
            .collect();
        self.commit_offsets(offsets)
    }

    /// Commits explicit offsets: for each partition, the next offset to read, as in Kafka.
    /// Fails with [`Error::Fenced`] if this member no longer owns a partition.
    ///
    /// ```no_run
    /// # fn f(consumer: &mut brooklet::Consumer) -> brooklet::Result<()> {
    /// use brooklet::TopicPartition;
    /// consumer.commit_offsets([(TopicPartition::new("orders", 0), 42)])?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit_offsets(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, u64)>,
    ) -> Result<()> {
        self.commit_with_metadata(offsets, "")
    }

    /// Commits explicit offsets with a metadata string, kept with each offset.
    pub fn commit_with_metadata(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, u64)>,
        metadata: &str,
    ) -> Result<()> {
        self.ensure_open()?;
        let offsets: Vec<(TopicPartition, u64)> = offsets.into_iter().collect();
        if offsets.is_empty() {
            self.last_commit = Instant::now();
            return Ok(());
        }
        let mut txn = self.db.inner.engine.begin_write()?;
        let mut resolved = Vec::with_capacity(offsets.len());
        for (tp, offset) in offsets {
            let meta: std::sync::Arc<TopicMeta> = self
                .db
                .inner
                .catalog
                .lock()
                .expect("catalog lock")
                .lookup(&txn, &tp.topic)?;
            resolved.push((meta, tp.partition, offset, metadata.to_owned()));
        }
        groups::commit_offsets(
            &mut txn,
            self.group_id,
            &self.group,
            Some(self.member_id),
            &resolved,
            now_ms().cast_unsigned(),
        )?;
        txn.commit(self.options.commit_durability)?;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// The group's committed offset for a partition.
    pub fn committed(&self, topic: &str, partition: u32) -> Result<Option<u64>> {
        let db = &self.db;
        db.with_snapshot(|read| {
            let meta = db.topic_in(read, topic)?;
            Ok(groups::committed(read, self.group_id, meta.id, partition)?.map(|c| c.offset))
        })
    }

    /// The group's committed offset of a partition with the metadata string committed with
    /// it ([`Consumer::commit_with_metadata`]), or `None` if the group has none.
    pub fn committed_with_metadata(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<Option<(u64, String)>> {
        let db = &self.db;
        db.with_snapshot(|read| {
            let meta = db.topic_in(read, topic)?;
            Ok(groups::committed(read, self.group_id, meta.id, partition)?
                .map(|c| (c.offset, c.metadata)))
        })
    }

    /// The next offset this member will read from a partition it owns.
    #[must_use]
    pub fn position(&self, topic: &str, partition: u32) -> Option<u64> {
        self.positions
            .get(&TopicPartition::new(topic, partition))
            .copied()
    }

    /// Records between this member's position and the partition's end (its last stable
    /// offset under [`Isolation::ReadCommitted`]).
    pub fn lag(&self, topic: &str, partition: u32) -> Result<Option<u64>> {
        match self.position(topic, partition) {
            Some(p) => Ok(Some(
                self.db
                    .readable_end(topic, partition, self.options.isolation)?
                    .saturating_sub(p),
            )),
            None => Ok(None),
        }
    }

    /// The partitions this member owns.
    #[must_use]
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.owned.iter().cloned().collect()
    }

    fn owned_check(&self, tp: TopicPartition) -> Result<TopicPartition> {
        if self.owned.contains(&tp) {
            Ok(tp)
        } else {
            Err(Error::invalid(format!(
                "{tp} is not assigned to this member"
            )))
        }
    }

    /// Moves the position of an owned partition: the next `poll` reads from there.
    /// [`Position::Committed`] goes back to the group's committed offset (or, if there is
    /// none, where `auto_offset_reset` says).
    pub fn seek(&mut self, topic: &str, partition: u32, position: Position) -> Result<()> {
        let tp = self.owned_check(TopicPartition::new(topic, partition))?;
        self.seek_owned(tp, position)
    }

    /// Moves every owned partition to `position` (Kafka's `seekToBeginning` and
    /// `seekToEnd` over the whole assignment).
    pub fn seek_all(&mut self, position: Position) -> Result<()> {
        for tp in self.assignment() {
            self.seek_owned(tp, position)?;
        }
        Ok(())
    }

    fn seek_owned(&mut self, tp: TopicPartition, position: Position) -> Result<()> {
        let offset = match position {
            Position::Committed => self.start_position(&tp)?,
            other => self.db.resolve(&tp, other, false, self.options.isolation)?,
        };
        self.positions.insert(tp, offset);
        Ok(())
    }

    fn targets(&self, partitions: &[TopicPartition]) -> Result<Vec<TopicPartition>> {
        if partitions.is_empty() {
            return Ok(self.assignment());
        }
        partitions
            .iter()
            .map(|tp| self.owned_check(tp.clone()))
            .collect()
    }

    /// Stops fetching from owned partitions (all if `partitions` is empty) until resumed.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in self.targets(partitions)? {
            self.paused.insert(tp);
        }
        Ok(())
    }

    /// Fetches from paused partitions again (all if `partitions` is empty).
    pub fn resume(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.paused.remove(tp);
        }
        if partitions.is_empty() {
            self.paused.clear();
        }
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed {
            Err(Error::Closed("the consumer"))
        } else {
            Ok(())
        }
    }

    /// Leaves the group: calls `on_revoked` with the owned partitions, commits (with
    /// auto-commit on), and hands the partitions to the other members at once. Dropping a
    /// consumer does the same, ignoring errors.
    pub fn close(mut self) -> Result<()> {
        self.leave()
    }
}
