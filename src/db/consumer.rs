//! [`Consumer`]: a member of a consumer group. It shares the subscribed topics'
//! partitions with the group's other live members (threads or processes), commits offsets
//! in the file, and hands partitions over when members join, leave or die.
//!
//! A background thread heartbeats for the member, so a member whose handler is slow stays
//! in the group until `max_poll_interval` passes without a poll; a killed process stops
//! heartbeating and its partitions move after `session_timeout`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::reader::fetch_round;
use super::{Brooklet, now_ms};
use crate::catalog::TopicMeta;
use crate::error::{Error, Result};
use crate::group::store as groups;
use crate::group::{Assignor, Member, TREE_MEMBERS, member_key};
use crate::log::read::FetchLimits;
use crate::pager::Durability;
use crate::{ConsumedRecord, OffsetReset};

/// A partition of a topic, by name.
pub type TopicPartition = (String, u32);

/// Settings for [`Brooklet::consumer`].
#[derive(Clone, Debug)]
pub struct ConsumerOptions {
    /// Where to start in a partition the group has no committed offset for, or whose
    /// committed offset fell out of the log. Default [`OffsetReset::Latest`], as in Kafka.
    pub auto_offset_reset: OffsetReset,
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
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            auto_offset_reset: OffsetReset::Latest,
            auto_commit_interval: Some(Duration::from_secs(5)),
            session_timeout: Duration::from_secs(10),
            max_poll_interval: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(1),
            assignor: Assignor::Range,
            limits: FetchLimits::default(),
            commit_durability: Durability::Immediate,
        }
    }
}

type Callback = Box<dyn FnMut(&[TopicPartition]) + Send>;

/// A member of a consumer group; see the module docs.
///
/// ```
/// use brooklet::{Brooklet, ConsumerOptions, OffsetReset, Record, TopicConfig};
/// use std::time::Duration;
///
/// # fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("g.brooklet"))?;
/// db.create_topic("jobs", 2, TopicConfig::default())?;
/// db.send("jobs", Record::value("resize image 1"))?;
/// let options = ConsumerOptions { auto_offset_reset: OffsetReset::Earliest, ..Default::default() };
/// let mut consumer = db.consumer("workers", &["jobs"], options)?;
/// let records = consumer.poll(Duration::from_secs(1))?;
/// assert_eq!(records.len(), 1);
/// consumer.commit()?;
/// # Ok(())
/// # }
/// ```
pub struct Consumer {
    db: Brooklet,
    group: String,
    group_id: u32,
    member_id: u64,
    topics: Vec<String>,
    options: ConsumerOptions,
    owned: BTreeSet<TopicPartition>,
    positions: BTreeMap<TopicPartition, u64>,
    paused: BTreeSet<TopicPartition>,
    last_commit: Instant,
    last_sync: Option<Instant>,
    /// The group generation at the last sync; a change means partitions moved.
    seen_generation: u64,
    next_start: usize,
    on_assigned: Option<Callback>,
    on_revoked: Option<Callback>,
    heartbeat: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    /// The member's liveness lock, where the storage has them (see `Storage::lock_liveness`).
    liveness: Option<crate::os::LivenessGuard>,
    closed: bool,
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

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl Brooklet {
    /// Joins consumer group `group` subscribed to `topics` (the group is created if new).
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
        for t in topics {
            self.describe_topic(t)?;
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
    /// over; with auto-commit on, their positions are committed right after `f` returns.
    #[must_use]
    pub fn on_revoked(mut self, f: impl FnMut(&[TopicPartition]) + Send + 'static) -> Self {
        self.on_revoked = Some(Box::new(f));
        self
    }

    fn member_record(&self, now: u64) -> Member {
        Member {
            heartbeat_ms: now,
            polled_ms: now,
            session_timeout_ms: ms(self.options.session_timeout),
            max_poll_ms: ms(self.options.max_poll_interval),
            pid: std::process::id(),
            topics: self.topics.clone(),
        }
    }

    /// Adds this member to the group and rebalances. The liveness lock is taken first, so
    /// no other member ever sees this member's record without it.
    fn join(&mut self) -> Result<()> {
        if self.liveness.is_none() {
            self.liveness = self.db.inner.engine.lock_liveness(self.member_id)?;
        }
        let mut txn = self.db.inner.engine.begin_write()?;
        self.group_id = groups::find_or_create(&mut txn, &self.group, self.options.assignor)?;
        let now = now_ms().cast_unsigned();
        txn.insert(
            TREE_MEMBERS,
            &member_key(self.group_id, self.member_id),
            &self.member_record(now).encode(),
        )?;
        groups::rebalance(&mut txn, &self.db.inner.engine, self.group_id, now)?;
        txn.commit(Durability::None)?;
        Ok(())
    }

    fn start_heartbeat(&mut self) {
        let (stop, stopped) = mpsc::channel::<()>();
        let db = self.db.clone();
        let (group_id, member_id, interval) = (
            self.group_id,
            self.member_id,
            self.options.heartbeat_interval,
        );
        let thread = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                // A failed heartbeat is retried at the next tick; the member expires only
                // if heartbeats keep failing for the whole session timeout.
                let _ = heartbeat(&db, group_id, member_id, false);
            }
        });
        self.heartbeat = Some((stop, thread));
    }

    /// Records a poll (and a heartbeat), rebalances, and brings this member's view of its
    /// partitions up to date: revoked partitions are committed and released, new ones get
    /// their start positions.
    fn sync(&mut self) -> Result<()> {
        let alive = heartbeat(&self.db, self.group_id, self.member_id, true)?;
        if !alive {
            // Expired (e.g. stuck past max_poll_interval): the partitions were handed over.
            self.owned.clear();
            self.positions.clear();
            self.join()?;
        }
        // Retried on a fresh snapshot if a writer in another process reuses its pages.
        let (state, names) = self.db.with_snapshot(|read| {
            Ok((
                groups::state(read, self.group_id)?,
                Self::topic_names(read)?,
            ))
        })?;
        self.seen_generation = state.generation;
        let mut mine = BTreeSet::new();
        let mut revoking = Vec::new();
        for o in &state.owners {
            if o.member != self.member_id {
                continue;
            }
            let Some(name) = names.get(&o.topic_id) else {
                continue;
            };
            let tp = (name.clone(), o.partition);
            if o.pending == 0 {
                mine.insert(tp);
            } else {
                revoking.push((o.topic_id, tp));
            }
        }
        if !revoking.is_empty() {
            let tps: Vec<TopicPartition> = revoking.iter().map(|(_, tp)| tp.clone()).collect();
            // A partition assigned and moved on again before this member synced was never
            // its own: it is released, but neither reported nor committed.
            let held: Vec<TopicPartition> = tps
                .iter()
                .filter(|tp| self.owned.contains(*tp))
                .cloned()
                .collect();
            if !held.is_empty()
                && let Some(f) = self.on_revoked.as_mut()
            {
                f(&held);
            }
            if self.options.auto_commit_interval.is_some() {
                self.commit_positions(&held)?;
            }
            let mut txn = self.db.inner.engine.begin_write()?;
            let ids: Vec<(u32, u32)> = revoking.iter().map(|(id, tp)| (*id, tp.1)).collect();
            groups::release(&mut txn, self.group_id, self.member_id, &ids)?;
            txn.commit(Durability::None)?;
            for tp in &tps {
                self.positions.remove(tp);
                self.paused.remove(tp);
            }
        }
        let added: Vec<TopicPartition> = mine.difference(&self.owned).cloned().collect();
        for tp in self.owned.difference(&mine).cloned().collect::<Vec<_>>() {
            self.positions.remove(&tp);
        }
        for tp in &added {
            let start = self.start_position(tp)?;
            self.positions.insert(tp.clone(), start);
        }
        self.owned = mine;
        if !added.is_empty()
            && let Some(f) = self.on_assigned.as_mut()
        {
            f(&added);
        }
        self.last_sync = Some(Instant::now());
        Ok(())
    }

    fn topic_names(read: &crate::engine::ReadTransaction) -> Result<BTreeMap<u32, String>> {
        Ok(crate::catalog::list(read)?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect())
    }

    /// The committed offset, or the reset policy's choice.
    fn start_position(&self, tp: &TopicPartition) -> Result<u64> {
        let (begin, end) = (
            self.db.beginning_offset(&tp.0, tp.1)?,
            self.db.end_offset(&tp.0, tp.1)?,
        );
        if let Some(c) = self.committed(&tp.0, tp.1)?
            && c >= begin
            && c <= end
        {
            return Ok(c);
        }
        match self.options.auto_offset_reset {
            OffsetReset::Earliest => Ok(begin),
            OffsetReset::Latest => Ok(end),
            OffsetReset::Error => Err(Error::invalid(format!(
                "group {:?} has no valid committed offset for {}/{} and auto_offset_reset is Error",
                self.group, tp.0, tp.1
            ))),
        }
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
            let positions: Vec<(&str, u32, u64)> = self
                .positions
                .iter()
                .filter(|(tp, _)| !self.paused.contains(*tp))
                .map(|((t, p), o)| (t.as_str(), *p, *o))
                .collect();
            let wait = (deadline - now).min(Duration::from_millis(200));
            if positions.is_empty() {
                std::thread::sleep(wait);
            } else {
                self.db.wait_for_records(&positions, wait)?;
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
            limits,
            reset,
        )?;
        self.next_start = self.next_start.wrapping_add(1);
        Ok(out)
    }

    fn generation_moved(&self) -> Result<bool> {
        let state = self
            .db
            .with_snapshot(|read| groups::state(read, self.group_id))?;
        Ok(state.generation != self.seen_generation)
    }

    fn maybe_auto_commit(&mut self) -> Result<()> {
        if let Some(interval) = self.options.auto_commit_interval
            && self.last_commit.elapsed() >= interval
        {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits the current position of every owned partition.
    pub fn commit(&mut self) -> Result<()> {
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        self.commit_positions(&owned)
    }

    fn commit_positions(&mut self, tps: &[TopicPartition]) -> Result<()> {
        let offsets: Vec<(String, u32, u64)> = tps
            .iter()
            .filter_map(|tp| self.positions.get(tp).map(|o| (tp.0.clone(), tp.1, *o)))
            .collect();
        let refs: Vec<(&str, u32, u64)> = offsets
            .iter()
            .map(|(t, p, o)| (t.as_str(), *p, *o))
            .collect();
        self.commit_offsets(&refs)
    }

    /// Commits explicit offsets (the next offset to read, as in Kafka). Fails with
    /// [`Error::Fenced`] if this member no longer owns a partition.
    pub fn commit_offsets(&mut self, offsets: &[(&str, u32, u64)]) -> Result<()> {
        self.commit_with_metadata(offsets, "")
    }

    /// Commits explicit offsets with a metadata string.
    pub fn commit_with_metadata(
        &mut self,
        offsets: &[(&str, u32, u64)],
        metadata: &str,
    ) -> Result<()> {
        self.ensure_open()?;
        if offsets.is_empty() {
            self.last_commit = Instant::now();
            return Ok(());
        }
        let mut txn = self.db.inner.engine.begin_write()?;
        let mut resolved = Vec::with_capacity(offsets.len());
        for (topic, partition, offset) in offsets {
            let meta: std::sync::Arc<TopicMeta> = self
                .db
                .inner
                .catalog
                .lock()
                .expect("catalog lock")
                .lookup(&txn, topic)?;
            resolved.push((meta, *partition, *offset, metadata.to_owned()));
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

    /// The next offset this member will read from a partition it owns.
    #[must_use]
    pub fn position(&self, topic: &str, partition: u32) -> Option<u64> {
        self.positions.get(&(topic.to_owned(), partition)).copied()
    }

    /// Records between this member's position and the partition's end.
    pub fn lag(&self, topic: &str, partition: u32) -> Result<Option<u64>> {
        match self.position(topic, partition) {
            Some(p) => Ok(Some(
                self.db.end_offset(topic, partition)?.saturating_sub(p),
            )),
            None => Ok(None),
        }
    }

    /// The partitions this member owns.
    #[must_use]
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.owned.iter().cloned().collect()
    }

    fn owned_check(&self, topic: &str, partition: u32) -> Result<TopicPartition> {
        let tp = (topic.to_owned(), partition);
        if self.owned.contains(&tp) {
            Ok(tp)
        } else {
            Err(Error::invalid(format!(
                "{topic}/{partition} is not assigned to this member"
            )))
        }
    }

    /// Moves the position of an owned partition.
    pub fn seek(&mut self, topic: &str, partition: u32, offset: u64) -> Result<()> {
        let tp = self.owned_check(topic, partition)?;
        self.positions.insert(tp, offset);
        Ok(())
    }

    /// Moves owned partitions (all if `partitions` is empty) to their first offset.
    pub fn seek_to_beginning(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        for tp in self.targets(partitions)? {
            let o = self.db.beginning_offset(&tp.0, tp.1)?;
            self.positions.insert(tp, o);
        }
        Ok(())
    }

    /// Moves owned partitions (all if `partitions` is empty) to their end.
    pub fn seek_to_end(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        for tp in self.targets(partitions)? {
            let o = self.db.end_offset(&tp.0, tp.1)?;
            self.positions.insert(tp, o);
        }
        Ok(())
    }

    /// Moves owned partitions (all if `partitions` is empty) to the first record at or
    /// after `timestamp_ms` (the end if none).
    pub fn seek_to_time(&mut self, partitions: &[(&str, u32)], timestamp_ms: i64) -> Result<()> {
        for tp in self.targets(partitions)? {
            let o = match self.db.offset_for_time(&tp.0, tp.1, timestamp_ms)? {
                Some(o) => o,
                None => self.db.end_offset(&tp.0, tp.1)?,
            };
            self.positions.insert(tp, o);
        }
        Ok(())
    }

    fn targets(&self, partitions: &[(&str, u32)]) -> Result<Vec<TopicPartition>> {
        if partitions.is_empty() {
            return Ok(self.owned.iter().cloned().collect());
        }
        partitions
            .iter()
            .map(|(t, p)| self.owned_check(t, *p))
            .collect()
    }

    /// Stops fetching from owned partitions until resumed.
    pub fn pause(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        for tp in self.targets(partitions)? {
            self.paused.insert(tp);
        }
        Ok(())
    }

    /// Fetches from paused partitions again.
    pub fn resume(&mut self, partitions: &[(&str, u32)]) {
        for (t, p) in partitions {
            self.paused.remove(&((*t).to_owned(), *p));
        }
        if partitions.is_empty() {
            self.paused.clear();
        }
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed {
            Err(Error::invalid("the consumer is closed"))
        } else {
            Ok(())
        }
    }

    /// Commits (with auto-commit on) and leaves the group; the partitions move to the
    /// other members at once.
    pub fn close(mut self) -> Result<()> {
        self.leave()
    }

    fn leave(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if let Some((stop, thread)) = self.heartbeat.take() {
            drop(stop);
            let _ = thread.join();
        }
        let commit = if self.options.auto_commit_interval.is_some() {
            self.closed = false;
            let r = self.commit();
            self.closed = true;
            r
        } else {
            Ok(())
        };
        let mut txn = self.db.inner.engine.begin_write()?;
        txn.remove(TREE_MEMBERS, &member_key(self.group_id, self.member_id))?;
        drop(self.liveness.take());
        groups::rebalance(
            &mut txn,
            &self.db.inner.engine,
            self.group_id,
            now_ms().cast_unsigned(),
        )?;
        txn.commit(Durability::Immediate)?;
        commit.or_else(|e| match e {
            Error::Fenced(_) => Ok(()),
            e => Err(e),
        })
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.leave();
    }
}

/// Refreshes a member's heartbeat (and, for a poll, its poll time), rebalancing if that
/// changed anything or a member expired. Returns false if the member is no longer in
/// the group.
fn heartbeat(db: &Brooklet, group_id: u32, member_id: u64, poll: bool) -> Result<bool> {
    let mut txn = db.inner.engine.begin_write()?;
    let key = member_key(group_id, member_id);
    let Some(value) = txn.get(TREE_MEMBERS, &key)? else {
        return Ok(false);
    };
    let mut member = Member::decode(&value)?;
    let now = now_ms().cast_unsigned();
    member.heartbeat_ms = now;
    if poll {
        member.polled_ms = now;
    }
    txn.insert(TREE_MEMBERS, &key, &member.encode())?;
    groups::rebalance(&mut txn, &db.inner.engine, group_id, now)?;
    txn.commit(Durability::None)?;
    Ok(true)
}

/// What [`Consumer::run`] does when the handler returns an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnHandlerError {
    /// Commit what was handled and return the error with the failed record's position.
    #[default]
    Stop,
    /// Call the handler again, up to `attempts` more times, sleeping `backoff` between.
    Retry {
        /// Extra attempts after the first failure.
        attempts: u32,
        /// Pause between attempts.
        backoff: Duration,
    },
}

/// Why [`Consumer::run`] stopped.
#[derive(Debug)]
pub enum RunError<E> {
    /// The handler failed on this record (after any retries). Everything before it in its
    /// partition was committed; the record itself was not.
    Handler {
        /// The topic of the failed record.
        topic: String,
        /// Its partition.
        partition: u32,
        /// Its offset.
        offset: u64,
        /// The handler's error.
        error: E,
    },
    /// brooklet failed (I/O, fencing, ...).
    Brooklet(Error),
}

impl<E: std::fmt::Display> std::fmt::Display for RunError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Handler {
                topic,
                partition,
                offset,
                error,
            } => write!(
                f,
                "handler failed at {topic}/{partition} offset {offset}: {error}"
            ),
            Self::Brooklet(e) => write!(f, "{e}"),
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for RunError<E> {}

impl<E> From<Error> for RunError<E> {
    fn from(e: Error) -> Self {
        Self::Brooklet(e)
    }
}

impl Consumer {
    /// Handles records one at a time: polls, runs `handler` on each record with nothing
    /// locked, and commits what the handler finished (at-least-once). Returns the number of
    /// records handled once no record arrived for `idle_timeout` (never, if `None`), or the
    /// handler's error per `on_error`.
    pub fn run<E>(
        &mut self,
        idle_timeout: Option<Duration>,
        on_error: OnHandlerError,
        mut handler: impl FnMut(&ConsumedRecord) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, RunError<E>> {
        self.run_batch(idle_timeout, on_error, |records| {
            for (i, r) in records.iter().enumerate() {
                handler(r).map_err(|e| (i, e))?;
            }
            Ok(())
        })
    }

    /// Like [`Consumer::run`], with the handler taking each polled batch; on an error it
    /// names the index of the first record not handled.
    pub fn run_batch<E>(
        &mut self,
        idle_timeout: Option<Duration>,
        on_error: OnHandlerError,
        mut handler: impl FnMut(&[ConsumedRecord]) -> std::result::Result<(), (usize, E)>,
    ) -> std::result::Result<u64, RunError<E>> {
        let mut count = 0u64;
        let mut idle_since = Instant::now();
        loop {
            let wait = idle_timeout.map_or(Duration::from_millis(200), |t| {
                t.saturating_sub(idle_since.elapsed())
                    .min(Duration::from_millis(200))
            });
            let records = self.poll(wait)?;
            if records.is_empty() {
                if idle_timeout.is_some_and(|t| idle_since.elapsed() >= t) {
                    self.commit()?;
                    return Ok(count);
                }
                continue;
            }
            idle_since = Instant::now();
            let mut attempt = 0u32;
            let outcome = loop {
                match handler(&records) {
                    Ok(()) => break Ok(()),
                    Err(failure) => match on_error {
                        OnHandlerError::Retry { attempts, backoff } if attempt < attempts => {
                            attempt += 1;
                            std::thread::sleep(backoff);
                        }
                        _ => break Err(failure),
                    },
                }
            };
            match outcome {
                Ok(()) => {
                    count += records.len() as u64;
                    self.commit()?;
                }
                Err((index, error)) => {
                    self.rewind_unhandled(&records[index..]);
                    self.commit()?;
                    let failed = &records[index];
                    return Err(RunError::Handler {
                        topic: failed.topic.clone(),
                        partition: failed.partition,
                        offset: failed.record.offset,
                        error,
                    });
                }
            }
        }
    }

    /// Moves positions back to the first record not handled in each partition.
    fn rewind_unhandled(&mut self, unhandled: &[ConsumedRecord]) {
        for r in unhandled {
            let tp = (r.topic.clone(), r.partition);
            if let Some(pos) = self.positions.get_mut(&tp) {
                *pos = (*pos).min(r.record.offset);
            }
        }
    }
}
