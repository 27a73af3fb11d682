//! Housekeeping: retention and compaction applied on demand ([`Admin::maintain`]) and by
//! an optional background thread ([`Admin::start_maintenance`]). Produce commits also
//! apply one bounded retention step to each partition they touch.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Admin, CompactionReport, now_ms};
use crate::error::Result;
use crate::log::retention;
use crate::pager::Durability;

/// What [`Admin::maintain`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Segments deleted by retention.
    pub segments_deleted: u64,
    /// Bytes of record batches deleted by retention.
    pub bytes_deleted: u64,
    /// What compaction did in topics with `cleanup.policy` `compact` or `compact,delete`.
    pub compaction: CompactionReport,
    /// Transactions aborted because their process died or they ran past their timeout.
    pub transactions_aborted: u64,
    /// Idle producer state and transactional ids forgotten after 7 days without change
    /// (Kafka's `transactional.id.expiration.ms`).
    pub producers_expired: u64,
}

impl Admin {
    /// Applies retention to every partition now: drops every segment past `retention.ms`
    /// or `retention.bytes`; aborts transactions whose process died or that ran past
    /// their timeout; forgets producers idle for 7 days; then compacts compacted topics (see [`Admin::compact`]),
    /// skipping partitions this handle already found clean and that have not changed
    /// since. Each step is its own short commit, so producers interleave.
    pub fn maintain(&self) -> Result<MaintenanceReport> {
        let mut report = self.apply_retention()?;
        report.transactions_aborted = self.db.abort_expired_transactions()? as u64;
        report.producers_expired = self.db.expire_producers()?;
        report.compaction = self.compact_all(true)?;
        Ok(report)
    }

    /// Drops every segment past the retention limits, a bounded step per commit.
    pub(super) fn apply_retention(&self) -> Result<MaintenanceReport> {
        let mut report = MaintenanceReport::default();
        let topics = self.db.with_snapshot(crate::catalog::list)?;
        for topic in topics {
            if topic.config.retention_ms.is_none() && topic.config.retention_bytes.is_none() {
                continue;
            }
            for partition in 0..topic.partitions {
                loop {
                    let mut txn = self.db.inner.engine.begin_write()?;
                    let dropped = retention::apply(&mut txn, &topic, partition, now_ms())?;
                    if dropped.segments == 0 {
                        break;
                    }
                    txn.commit(Durability::Immediate)?;
                    report.segments_deleted += dropped.segments;
                    report.bytes_deleted += dropped.bytes;
                }
            }
        }
        Ok(report)
    }

    /// Starts a thread that calls [`Admin::maintain`] every `interval`, so time-based
    /// retention applies even when nothing is written. It stops when the returned handle
    /// is dropped.
    #[must_use]
    pub fn start_maintenance(&self, interval: Duration) -> Maintenance {
        let (stop, stopped) = mpsc::channel::<()>();
        let db = self.clone();
        let thread = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                // Errors (busy, I/O) are retried at the next tick; a poisoned handle
                // reports them to its other users.
                let _ = db.maintain();
            }
        });
        Maintenance {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

/// The background maintenance thread; stops and joins when dropped.
#[derive(Debug)]
pub struct Maintenance {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
