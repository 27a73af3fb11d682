//! Compaction on demand ([`Admin::compact`], [`Admin::compact_topic`],
//! [`Admin::compact_partition`]) and as part of [`Admin::maintain`]. The mechanism
//! is in `log::compact`: a pass plans from a snapshot without the writer lock, then
//! rewrites runs of segments, each in its own short commit.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Admin, Brooklet, now_ms};
use crate::catalog::TopicMeta;
use crate::error::{Error, Result};
use crate::log::compact;
use crate::pager::Durability;

/// How many times a pass is planned again when another writer changed the segments it
/// planned for.
const REPLANS: usize = 3;

/// What compaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Partitions of compacted topics looked at.
    pub partitions: u64,
    /// Segments rewritten (several may become one).
    pub segments_rewritten: u64,
    /// Records removed: superseded by a later record with the same key, or tombstones
    /// past `delete.retention.ms`.
    pub records_removed: u64,
    /// Bytes of record batches in the rewritten segments before compaction.
    pub bytes_before: u64,
    /// Bytes of record batches they hold after it.
    pub bytes_after: u64,
}

impl std::ops::AddAssign for CompactionReport {
    /// Sums two reports (of different partitions or passes).
    fn add_assign(&mut self, other: Self) {
        self.partitions += other.partitions;
        self.segments_rewritten += other.segments_rewritten;
        self.records_removed += other.records_removed;
        self.bytes_before += other.bytes_before;
        self.bytes_after += other.bytes_after;
    }
}

/// What this handle knows about partitions found clean: their cleanable segments and the
/// time until which nothing more can be removed unless those segments change.
#[derive(Debug, Default)]
pub(super) struct CleanCache {
    clean: HashMap<(u32, u32), compact::KnownClean>,
}

impl Admin {
    /// Compacts every partition of every topic whose `cleanup.policy` is `compact` or
    /// `compact,delete`: keeps the latest record of each key, and drops tombstones older
    /// than `delete.retention.ms`. The active (last) segment of a partition is never
    /// touched, nor are segments younger than `min.compaction.lag.ms`. Kept records keep
    /// their offsets, so offsets have gaps afterwards.
    ///
    /// Each step is a short commit of its own, so producers interleave; a crash loses
    /// nothing, and readers see each rewritten run of segments either before or after.
    /// [`Admin::maintain`] and the background thread of
    /// [`Admin::start_maintenance`] run compaction too. So do produce commits, by
    /// themselves: one that closes a segment compacts the partition's newest segments (at
    /// most 4 x `segment.bytes` of them) when more than `min.cleanable.dirty.ratio` of
    /// their bytes would go. `compact` and `maintain` compact whatever the ratio.
    ///
    /// ```
    /// use brooklet::{Brooklet, Record, TopicConfig};
    ///
    /// # fn main() -> brooklet::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Brooklet::open(dir.path().join("prices.brooklet"))?;
    /// // Ratio 1: the produce commits leave all the compacting to `compact`.
    /// let config = TopicConfig::from_pairs([
    ///     ("cleanup.policy", "compact"),
    ///     ("segment.bytes", "65536"),
    ///     ("min.cleanable.dirty.ratio", "1"),
    /// ])?;
    /// db.admin().create_topic("prices", 1, config)?;
    /// for round in 0..3000u32 {
    ///     let key = format!("item-{}", round % 10).into_bytes();
    ///     db.producer().send("prices", Record::new(Some(key), round.to_string().into_bytes()))?;
    /// }
    /// let report = db.admin().compact()?;
    /// assert!(report.records_removed > 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn compact(&self) -> Result<CompactionReport> {
        self.compact_all(false)
    }

    /// Compacts every partition of one topic; see [`Admin::compact`]. A topic whose
    /// `cleanup.policy` does not include `compact` is an error.
    pub fn compact_topic(&self, topic: &str) -> Result<CompactionReport> {
        let meta = self.compacted_topic(topic)?;
        let mut report = CompactionReport::default();
        for partition in 0..meta.partitions {
            report += self.compact_one(&meta, partition, false)?;
        }
        Ok(report)
    }

    /// Compacts one partition of a topic; see [`Admin::compact`].
    pub fn compact_partition(&self, topic: &str, partition: u32) -> Result<CompactionReport> {
        let meta = self.compacted_topic(topic)?;
        Brooklet::check_partition(&meta, partition)?;
        self.compact_one(&meta, partition, false)
    }

    /// Compacts every compacted topic; with `use_cache`, skips partitions this handle found
    /// clean whose segments have not changed since.
    pub(super) fn compact_all(&self, use_cache: bool) -> Result<CompactionReport> {
        let topics = self.db.with_snapshot(crate::catalog::list)?;
        let mut report = CompactionReport::default();
        for topic in topics
            .into_iter()
            .filter(|t| t.config.cleanup_policy.compacts())
        {
            let topic = Arc::new(topic);
            for partition in 0..topic.partitions {
                report += self.compact_one(&topic, partition, use_cache)?;
            }
        }
        Ok(report)
    }

    fn compacted_topic(&self, topic: &str) -> Result<Arc<TopicMeta>> {
        let meta = self
            .db
            .with_snapshot(|read| self.db.topic_in(read, topic))?;
        if !meta.config.cleanup_policy.compacts() {
            return Err(Error::invalid(format!(
                "topic {topic:?} has cleanup.policy={}; compaction applies to topics with \
                 cleanup.policy=compact or compact,delete",
                meta.config.cleanup_policy
            )));
        }
        Ok(meta)
    }

    fn compact_one(
        &self,
        topic: &TopicMeta,
        partition: u32,
        use_cache: bool,
    ) -> Result<CompactionReport> {
        let mut report = CompactionReport {
            partitions: 1,
            ..CompactionReport::default()
        };
        let key = (topic.id, partition);
        for _ in 0..REPLANS {
            let now = now_ms();
            let known = if use_cache {
                let cache = self
                    .db
                    .inner
                    .compaction
                    .lock()
                    .expect("compaction cache lock");
                cache.clean.get(&key).cloned()
            } else {
                None
            };
            let Some(plan) = self.db.with_snapshot(|read| {
                compact::plan(
                    read,
                    topic,
                    partition,
                    now,
                    known.as_ref(),
                    compact::Scope::All,
                )
            })?
            else {
                return Ok(report);
            };
            if plan.runs.is_empty() {
                self.db
                    .inner
                    .compaction
                    .lock()
                    .expect("compaction cache lock")
                    .clean
                    .insert(key, (plan.fingerprint, plan.due_ms));
                return Ok(report);
            }
            let mut finished = true;
            for run in 0..plan.runs.len() {
                let mut txn = self.db.inner.engine.begin_write()?;
                let Some(done) = compact::apply_run(&mut txn, topic, partition, &plan, run)? else {
                    finished = false;
                    break;
                };
                txn.commit(Durability::Immediate)?;
                report.segments_rewritten += done.segments;
                report.records_removed += done.records_removed;
                report.bytes_before += done.bytes_before;
                report.bytes_after += done.bytes_after;
            }
            if finished {
                return Ok(report);
            }
        }
        Ok(report)
    }
}
