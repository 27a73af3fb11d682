//! The storage as the pager sees it: every call passed on to the backend, with the bytes
//! read and written and the syncs counted in the handle's [`Counters`].
//!
//! The pager wraps its storage once, at open, so every I/O of the handle (recovery, reads,
//! commits, vacuum) is counted in one place, whatever the backend.

use std::io;
use std::sync::Arc;

use crate::os::{LivenessGuard, Storage};
use crate::stats::Counters;

/// A [`Storage`] that counts what passes through it.
#[derive(Debug)]
pub(super) struct CountedStorage {
    inner: Arc<dyn Storage>,
    counters: Arc<Counters>,
}

impl CountedStorage {
    pub fn new(inner: Arc<dyn Storage>, counters: Arc<Counters>) -> Self {
        Self { inner, counters }
    }
}

// Every method is passed on, the provided ones too: a method left to its default here
// would hide the backend's own (its locks) from the pager.
impl Storage for CountedStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.counters.read(buf.len());
        self.inner.read_at(offset, buf)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.counters.write(data.len());
        self.inner.write_at(offset, data)
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn is_empty(&self) -> io::Result<bool> {
        self.inner.is_empty()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.counters.sync();
        self.inner.sync_data()
    }

    fn sync_count(&self) -> u64 {
        self.inner.sync_count()
    }

    fn try_lock_writer(&self) -> io::Result<bool> {
        self.inner.try_lock_writer()
    }

    fn unlock_writer(&self) -> io::Result<()> {
        self.inner.unlock_writer()
    }

    fn lock_liveness(&self, slot: u64) -> io::Result<Option<LivenessGuard>> {
        self.inner.lock_liveness(slot)
    }

    fn liveness_held(&self, slot: u64) -> io::Result<Option<bool>> {
        self.inner.liveness_held(slot)
    }

    fn pin_snapshot(&self, txn: u64) -> io::Result<bool> {
        self.inner.pin_snapshot(txn)
    }

    fn unpin_snapshot(&self, txn: u64) -> io::Result<()> {
        self.inner.unpin_snapshot(txn)
    }

    fn oldest_pinned(&self, below: u64) -> io::Result<Option<u64>> {
        self.inner.oldest_pinned(below)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::MemStorage;

    #[test]
    fn counts_bytes_calls_and_syncs() {
        let counters = Arc::new(Counters::default());
        let storage = CountedStorage::new(Arc::new(MemStorage::new()), Arc::clone(&counters));
        storage.write_at(0, &[7u8; 100]).expect("write");
        storage.write_at(100, &[8u8; 28]).expect("write");
        let mut buf = [0u8; 64];
        storage.read_at(10, &mut buf).expect("read");
        storage.sync_data().expect("sync");
        assert_eq!(storage.sync_count(), 1, "the backend's own count");
        let stats = counters.snapshot(crate::stats::FileStats::default());
        assert_eq!((stats.bytes_written, stats.write_calls), (128, 2));
        assert_eq!((stats.bytes_read, stats.read_calls), (64, 1));
        assert_eq!(stats.fdatasyncs, 1);
    }
}
