//! L0, the file layer: byte-addressed storage with positioned reads and writes, durable
//! sync, growth, and the writer lock. It knows nothing of pages.
//!
//! The [`Storage`] trait is the testing seam: the pager runs unchanged on the real file
//! ([`FileStorage`]), on memory ([`MemStorage`]), and on the fault-injecting backend
//! ([`FaultStorage`]) that simulates I/O errors and power cuts.
//!
//! Invariants every backend keeps:
//! 1. `read_at` returns exactly the bytes most recently written at each position (by any
//!    handle on the same file), or `UnexpectedEof` if the range passes the end of the file.
//! 2. After `sync_data` returns `Ok`, every write issued before it survives a power cut.
//!    Writes not yet synced may be lost, reordered or torn at sector granularity.
//! 3. `sync_count` counts successful and failed `sync_data` calls on this handle.

use std::io;

#[cfg(any(test, feature = "testing"))]
mod fault;
mod file;
mod mem;

#[cfg(any(test, feature = "testing"))]
pub use fault::{CrashMode, FaultConfig, FaultKind, FaultStorage};
pub use file::FileStorage;
pub use mem::MemStorage;

/// Milliseconds since the Unix epoch, by the system clock (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The sector size at which unsynced writes may tear after a power cut.
pub const SECTOR_SIZE: usize = 512;

/// Positioned byte storage under one brooklet file.
///
/// Implementations must be usable from many threads at once (`&self` methods); the pager
/// serializes writers itself.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Reads exactly `buf.len()` bytes starting at `offset`.
    ///
    /// Returns `ErrorKind::UnexpectedEof` if the range passes the end of the file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// Writes all of `data` at `offset`, extending the file if needed.
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;

    /// The current length of the file in bytes.
    fn len(&self) -> io::Result<u64>;

    /// True when the file holds no bytes.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Sets the file length: truncates, or extends with zeros. Extension should reserve the
    /// space where the platform allows (so that later writes do not fail with `ENOSPC` and a
    /// later `sync_data` has no size change to record).
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Makes every earlier write durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;

    /// How many times `sync_data` has been called on this handle.
    fn sync_count(&self) -> u64;

    /// Tries to take the exclusive writer lock, without waiting. `Ok(true)` when taken.
    ///
    /// The lock excludes writers in other handles and other processes; readers never take
    /// it. It is released by [`Storage::unlock_writer`] or when the handle is dropped.
    fn try_lock_writer(&self) -> io::Result<bool>;

    /// Releases the writer lock taken by [`Storage::try_lock_writer`].
    fn unlock_writer(&self) -> io::Result<()>;

    /// Takes an exclusive *liveness lock* on `slot`: a lock on one byte of a range the file
    /// never uses, held until the returned guard drops or the process dies (the operating
    /// system releases it then, so other processes see a killed process at once).
    /// `Ok(None)` when the backend has no such locks (memory, fault injection, non-Linux).
    fn lock_liveness(&self, slot: u64) -> io::Result<Option<LivenessGuard>> {
        let _ = slot;
        Ok(None)
    }

    /// Whether any handle, in any process, holds the liveness lock on `slot`. `Ok(None)`
    /// when the backend cannot tell.
    fn liveness_held(&self, slot: u64) -> io::Result<Option<bool>> {
        let _ = slot;
        Ok(None)
    }

    /// Pins snapshot `txn` for writers in other handles and processes: a shared lock on
    /// one byte of the snapshot-pin range (see FORMAT.md, *Locks*), held until
    /// [`Storage::unpin_snapshot`] or until the handle or its process ends. `Ok(false)` when
    /// the backend has no such locks; then only this handle's own writers see the pin.
    ///
    /// A handle keeps one lock per pinned txn: pinning the same txn twice and unpinning it
    /// once releases it (callers count).
    fn pin_snapshot(&self, txn: u64) -> io::Result<bool> {
        let _ = txn;
        Ok(false)
    }

    /// Releases the pin [`Storage::pin_snapshot`] took on `txn`.
    fn unpin_snapshot(&self, txn: u64) -> io::Result<()> {
        let _ = txn;
        Ok(())
    }

    /// The oldest snapshot txn below `below` pinned by *other* handles (in any process),
    /// or `None` when there is none or the backend cannot tell.
    fn oldest_pinned(&self, below: u64) -> io::Result<Option<u64>> {
        let _ = below;
        Ok(None)
    }
}

/// Holds a liveness lock (see [`Storage::lock_liveness`]) while it lives.
#[derive(Debug)]
pub struct LivenessGuard {
    _file: std::fs::File,
}
