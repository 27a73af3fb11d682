//! A consumer's membership in its group: join, the heartbeat thread, sync (the rebalance,
//! the hand-over of partitions and the callbacks around it) and leave.
//!
//! Invariants:
//! 1. The liveness lock is taken before the member's record is written, so no other
//!    member ever sees the record without the lock.
//! 2. A revoked partition is reported (`on_revoked`) and, with auto-commit, committed before
//!    it is released; a partition found already handed over (the member expired) is
//!    reported as lost (`on_lost`) and never committed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::consumer::Consumer;
use super::{Brooklet, Position, TopicPartition, now_ms};
use crate::error::{Error, Result};
use crate::group::store as groups;
use crate::group::{Member, TREE_MEMBERS, member_key};
use crate::pager::Durability;

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl Consumer {
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
    /// no other member ever sees this member's record without it. Fails with
    /// [`Error::InconsistentGroupProtocol`] while Kafka clients are live members of the
    /// group (through `brooklet serve`).
    pub(super) fn join(&mut self) -> Result<()> {
        if self.liveness.is_none() {
            self.liveness = self.db.inner.engine.lock_liveness(self.member_id)?;
        }
        let mut txn = self.db.inner.engine.begin_write()?;
        self.group_id = groups::find_or_create(&mut txn, &self.group, self.options.assignor)?;
        crate::group::kafka::refuse_kafka_members(
            &mut txn,
            &self.db.inner.engine,
            self.group_id,
            &self.group,
        )?;
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

    pub(super) fn start_heartbeat(&mut self) {
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
    pub(super) fn sync(&mut self) -> Result<()> {
        let alive = heartbeat(&self.db, self.group_id, self.member_id, true)?;
        if !alive {
            // Expired (e.g. stuck past max_poll_interval): the partitions were handed over
            // already, so they are lost, not revoked: nothing of them can be committed.
            let lost: Vec<TopicPartition> = self.owned.iter().cloned().collect();
            if !lost.is_empty()
                && let Some(f) = self.on_lost.as_mut()
            {
                f(&lost);
            }
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
            let tp = TopicPartition::new(name.clone(), o.partition);
            if o.pending == 0 {
                mine.insert(tp);
            } else {
                revoking.push((o.topic_id, tp));
            }
        }
        if !revoking.is_empty() {
            self.revoke(&revoking)?;
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

    /// Hands over partitions the group moved to other members: reports the ones this
    /// member held (`on_revoked`), commits their positions (with auto-commit), releases
    /// them all, and forgets their positions. `revoking` pairs topic ids with partitions.
    fn revoke(&mut self, revoking: &[(u32, TopicPartition)]) -> Result<()> {
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
        let ids: Vec<(u32, u32)> = revoking
            .iter()
            .map(|(id, tp)| (*id, tp.partition))
            .collect();
        groups::release(&mut txn, self.group_id, self.member_id, &ids)?;
        txn.commit(Durability::None)?;
        for tp in &tps {
            self.positions.remove(tp);
            self.paused.remove(tp);
        }
        Ok(())
    }

    fn topic_names(read: &crate::engine::ReadTransaction) -> Result<BTreeMap<u32, String>> {
        Ok(crate::catalog::list(read)?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect())
    }

    /// The committed offset, or the reset policy's choice.
    pub(super) fn start_position(&self, tp: &TopicPartition) -> Result<u64> {
        let (begin, end) = (
            self.db.beginning_offset(&tp.topic, tp.partition)?,
            self.db.end_offset(&tp.topic, tp.partition)?,
        );
        if let Some(c) = self.committed(&tp.topic, tp.partition)?
            && c >= begin
            && c <= end
        {
            return Ok(c);
        }
        match self.options.auto_offset_reset {
            Some(Position::Committed) | None => Err(Error::invalid(format!(
                "group {:?} has no valid committed offset for {tp} and auto_offset_reset is none",
                self.group
            ))),
            Some(reset) => self.db.resolve(tp, reset, true, self.options.isolation),
        }
    }

    pub(super) fn generation_moved(&self) -> Result<bool> {
        let state = self
            .db
            .with_snapshot(|read| groups::state(read, self.group_id))?;
        Ok(state.generation != self.seen_generation)
    }

    pub(super) fn leave(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if let Some((stop, thread)) = self.heartbeat.take() {
            drop(stop);
            let _ = thread.join();
        }
        // Kafka calls onPartitionsRevoked on close too: the handler may commit its own.
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        if !owned.is_empty()
            && let Some(f) = self.on_revoked.as_mut()
        {
            f(&owned);
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
