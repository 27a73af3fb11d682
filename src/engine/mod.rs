//! L4, the storage engine: a file of named B-trees with atomic, durable transactions.
//!
//! This is the layer the event log is built on, and a usable key-value store in its own
//! right: [`Engine`] opens a file, [`WriteTransaction`] changes any number of named trees
//! atomically, [`ReadTransaction`] reads one committed snapshot, and [`Engine::check`]
//! verifies the whole file.
//!
//! Names map to tree roots through the *master tree* (key: tree name, value: the root's
//! node pointer), whose root lives in the commit slot.
//!
//! ```
//! use brooklet::engine::{Engine, EngineOptions};
//! use brooklet::Durability;
//!
//! # fn main() -> brooklet::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let engine = Engine::open(dir.path().join("kv.brooklet"), &EngineOptions::default())?;
//! let mut txn = engine.begin_write()?;
//! txn.insert("colors", b"sky", b"blue")?;
//! txn.commit(Durability::Immediate)?;
//!
//! let read = engine.begin_read()?;
//! assert_eq!(read.get("colors", b"sky")?, Some(b"blue".to_vec()));
//! assert!(engine.check()?.is_clean());
//! # Ok(())
//! # }
//! ```

mod check;
mod pending;
mod relocate;
mod txn;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use check::{CheckReport, Problem};
pub(crate) use relocate::PageClass;
pub(crate) use txn::TreeRead;
pub use txn::{Entries, ReadTransaction, WriteTransaction};

use crate::error::Result;
use crate::os::{FileStorage, Storage};
use crate::page::PAGE_SIZE_DEFAULT;
use crate::pager::{Pager, PagerOptions};

/// Settings for [`Engine::open`].
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Page size for a new file: a power of two from 512 to 65536. Ignored when the file
    /// exists (its own page size is used). Default 4096.
    pub page_size: u32,
    /// Page cache budget in bytes. Default 32 MiB.
    pub cache_bytes: usize,
    /// How long a write transaction waits for the writer lock before [`crate::Error::Busy`].
    /// Default 5 seconds.
    pub busy_timeout: Duration,
    /// Open read-only: the file is opened without write permission and never created,
    /// no lock is taken, and every write transaction fails with
    /// [`crate::Error::ReadOnly`]. Default false.
    pub read_only: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            page_size: PAGE_SIZE_DEFAULT,
            cache_bytes: 32 << 20,
            busy_timeout: Duration::from_secs(5),
            read_only: false,
        }
    }
}

impl EngineOptions {
    fn pager_options(&self) -> PagerOptions {
        PagerOptions {
            page_size: self.page_size,
            cache_bytes: self.cache_bytes,
            busy_timeout: self.busy_timeout,
            read_only: self.read_only,
            ..PagerOptions::default()
        }
    }
}

/// What a value read from one committed state (or a write transaction) may refer to: the
/// file's page size and its page count in that state. Decoders of tree values that name
/// pages check them against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// The file's page size in bytes.
    pub page_size: u32,
    /// The committed (or, in a write transaction, current) page count.
    pub page_count: u32,
}

impl Bounds {
    /// True if the `count` pages from `first` are data or tree pages of the file: at or
    /// past page 2 (after the header pages) and below the page count.
    pub fn holds_extent(self, first: u32, count: u32) -> bool {
        first >= 2 && count > 0 && u64::from(first) + u64::from(count) <= u64::from(self.page_count)
    }
}

/// An open brooklet file. Cheap to clone; clones share the page cache and writer gate.
#[derive(Clone, Debug)]
pub struct Engine {
    pager: Arc<Pager>,
}

impl Engine {
    /// Opens the file at `path`, creating it if it does not exist (unless
    /// [`EngineOptions::read_only`]: then the file must exist).
    pub fn open(path: impl AsRef<Path>, options: &EngineOptions) -> Result<Self> {
        if options.read_only {
            return Self::open_existing(path, options);
        }
        let storage: Arc<dyn Storage> = Arc::new(FileStorage::open(path.as_ref())?);
        Self::open_storage(storage, options)
    }

    /// Opens an existing file at `path`; fails if it does not exist.
    pub fn open_existing(path: impl AsRef<Path>, options: &EngineOptions) -> Result<Self> {
        let file = if options.read_only {
            FileStorage::open_read_only(path.as_ref())?
        } else {
            FileStorage::open_existing(path.as_ref())?
        };
        let storage: Arc<dyn Storage> = Arc::new(file);
        Self::open_storage(storage, options)
    }

    /// Opens a file on any [`Storage`] backend (memory, fault injection, ...). Empty
    /// storage is initialised as a new file.
    pub fn open_storage(storage: Arc<dyn Storage>, options: &EngineOptions) -> Result<Self> {
        Ok(Self {
            pager: Pager::open(storage, options.pager_options())?,
        })
    }

    /// Starts the write transaction, waiting up to the busy timeout for the writer lock.
    pub fn begin_write(&self) -> Result<WriteTransaction> {
        WriteTransaction::new(self.pager.begin_write()?)
    }

    /// Starts a read transaction on the newest committed state. It holds no lock.
    pub fn begin_read(&self) -> Result<ReadTransaction> {
        ReadTransaction::new(self.pager.begin_read()?)
    }

    /// Starts a read transaction on the newest committed state and pins it, so that no
    /// writer reuses its pages while it lives: in this process always, in other processes
    /// where the storage supports snapshot pins (Linux files: see FORMAT.md, *Locks*;
    /// [`ReadTransaction::is_pinned`] tells). Pages freed meanwhile stay unused until it
    /// ends, so keep it for whole-file walks such as [`Engine::check`], not for long idle
    /// waits.
    pub fn begin_read_pinned(&self) -> Result<ReadTransaction> {
        ReadTransaction::new(self.pager.begin_read_pinned()?)
    }

    /// Makes every earlier commit durable: one `fdatasync` if the last commit was not
    /// (none after the no-op commit this handle writes after a durable one over a window
    /// of more than 64 pages, FORMAT.md step 8, which follows this flush too then).
    /// A read-only handle has nothing to flush.
    pub fn flush(&self) -> Result<()> {
        if self.pager.is_read_only() {
            return Ok(());
        }
        self.pager
            .begin_write()?
            .commit(crate::Durability::Immediate)
            .map(|_| ())
    }

    /// The id of the newest commit, re-read from the file (so commits by other processes
    /// are seen).
    pub fn latest_txn(&self) -> Result<crate::TxnId> {
        Ok(self.pager.latest()?.txn())
    }

    /// What recovery did when this handle opened the file, one line per newer commit it
    /// found incomplete or damaged and rolled back (expected for non-durable commits after
    /// a crash; a rolled-back durable commit means damage). Empty for a clean open.
    #[must_use]
    pub fn recovery_notes(&self) -> Vec<String> {
        self.pager.recovery_notes()
    }

    /// What recovery did when this handle opened the file: the commit it opened and each
    /// newer commit it rolled back (see [`crate::RecoveryReport`]).
    #[must_use]
    pub fn recovery_report(&self) -> crate::RecoveryReport {
        self.pager.recovery_report()
    }

    /// Takes the liveness lock on `slot` (see [`Storage::lock_liveness`]).
    pub fn lock_liveness(&self, slot: u64) -> Result<Option<crate::os::LivenessGuard>> {
        Ok(self.pager.storage().lock_liveness(slot)?)
    }

    /// Whether a live handle holds the liveness lock on `slot` (`None`: unknown).
    pub fn liveness_held(&self, slot: u64) -> Result<Option<bool>> {
        Ok(self.pager.storage().liveness_held(slot)?)
    }

    /// The file's length in bytes, as the operating system reports it: at least the
    /// committed page count times the page size, often more (space is preallocated).
    pub(crate) fn file_len(&self) -> Result<u64> {
        Ok(self.pager.storage().len()?)
    }

    /// The file's page size.
    #[must_use]
    pub fn page_size(&self) -> u32 {
        self.pager.page_size()
    }

    /// True when the handle was opened read-only.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.pager.is_read_only()
    }

    /// True once an I/O error poisoned this handle; reopen the file to recover.
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        self.pager.is_poisoned()
    }

    /// What this handle has done since it was opened, and the newest commit's figures
    /// (see [`crate::Stats`]). Clones share the counters.
    #[must_use]
    pub fn stats(&self) -> crate::Stats {
        self.pager.stats()
    }

    /// The handle's counters, for the layers above that count their own work.
    pub(crate) fn counters(&self) -> &crate::stats::Counters {
        self.pager.counters()
    }

    /// How many `fdatasync` calls this handle's storage has made.
    #[must_use]
    pub fn sync_count(&self) -> u64 {
        self.pager.storage().sync_count()
    }
}
