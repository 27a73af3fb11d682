//! Compaction that runs by itself: a produce commit that closes a segment of a compacted
//! topic's partition also compacts that partition's newest cleanable segments, in the same
//! commit, when enough of them would go (Kafka's `min.cleanable.dirty.ratio`).
//!
//! The step is bounded: it plans over the newest cleanable segments whose bytes add up to
//! at most [`STEP_WINDOW_FACTOR`] times `segment.bytes` (see [`Scope::Newest`]), reading
//! them twice to plan and once to rewrite, and writes at most what it read. It runs only in
//! a commit that closed a segment, so at most once per `segment.bytes` appended to a
//! partition; the other commits pay one partition-state lookup. Everything it decides from
//! is in the file, so any process's writes trigger it.
//!
//! Kafka measures the dirty ratio as the bytes after the cleaner's checkpoint over the
//! log's bytes; the file keeps no checkpoint, so the step measures what the ratio stands
//! for directly: the share of the window's bytes a pass would remove.

use super::compact::{self, RUN_INPUT_FACTOR, RunDone, Scope};
use crate::catalog::TopicMeta;
use crate::engine::WriteTransaction;
use crate::error::Result;

/// A step plans over at most this many times `segment.bytes`: one run's input.
pub(crate) const STEP_WINDOW_FACTOR: u64 = RUN_INPUT_FACTOR;

/// After an append whose first record got offset `offset_base` to `partition` of `topic`
/// in `txn`: if the append closed a segment, compacts the newest cleanable segments when
/// their dirty share passes `min.cleanable.dirty.ratio`. Returns what it did.
pub(crate) fn after_append(
    txn: &mut WriteTransaction,
    topic: &TopicMeta,
    partition: u32,
    offset_base: u64,
    now_ms: i64,
) -> Result<RunDone> {
    let config = &topic.config;
    // A share of bytes never passes 1, so a ratio of 1 never cleans (Kafka's test is `>`).
    if !config.cleanup_policy.compacts() || config.min_cleanable_dirty_ratio >= 1.0 {
        return Ok(RunDone::default());
    }
    let state = super::read::partition_state(txn, topic.id, partition)?;
    // The active segment starts at or after the append's first record only if the append
    // opened it; with an older segment before it, the append closed that one.
    if state.segment_count < 2 || state.active_base < offset_base {
        return Ok(RunDone::default());
    }
    let window = u64::from(config.segment_bytes) * STEP_WINDOW_FACTOR;
    let Some(plan) = compact::plan(&*txn, topic, partition, now_ms, None, Scope::Newest(window))?
    else {
        return Ok(RunDone::default());
    };
    if plan.runs.is_empty() || !passes_ratio(&plan, config.min_cleanable_dirty_ratio) {
        return Ok(RunDone::default());
    }
    let mut done = RunDone::default();
    for run in 0..plan.runs.len() {
        let one = compact::apply_run(txn, topic, partition, &plan, run)?
            .expect("a plan made in this transaction still holds in it");
        done.segments += one.segments;
        done.records_removed += one.records_removed;
        done.bytes_before += one.bytes_before;
        done.bytes_after += one.bytes_after;
    }
    Ok(done)
}

/// Whether the share of the planned bytes a pass would remove is above `ratio`.
#[expect(
    clippy::cast_precision_loss,
    reason = "a share needs far fewer digits than an f64 has"
)]
fn passes_ratio(plan: &compact::Plan, ratio: f64) -> bool {
    if plan.bytes_cleanable == 0 {
        return false;
    }
    let removed = plan.bytes_cleanable.saturating_sub(plan.bytes_kept);
    removed as f64 / plan.bytes_cleanable as f64 > ratio
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_test_is_strict() {
        let plan = |cleanable, kept| compact::Plan::sizes_only(cleanable, kept);
        assert!(passes_ratio(&plan(100, 40), 0.5));
        assert!(
            !passes_ratio(&plan(100, 50), 0.5),
            "half is not more than half"
        );
        assert!(passes_ratio(&plan(100, 99), 0.0));
        assert!(!passes_ratio(&plan(100, 100), 0.0), "nothing to remove");
        assert!(!passes_ratio(&plan(100, 0), 1.0));
        assert!(!passes_ratio(&plan(0, 0), 0.0));
    }
}
