//! The fault-injecting backend used by the crash tests: it fails a chosen operation with
//! `EIO` or `ENOSPC`, simulates a power cut at a chosen operation, and computes the bytes a
//! reboot would find after a power cut, with unsynced writes dropped, reordered or torn.
//!
//! Model:
//! - The **durable image** holds the bytes that survived the last successful `sync_data`.
//!   The **volatile image** is the durable image plus every `write_at` and `set_len` issued
//!   since, in order; reads and `len` see it (as they would see the OS page cache). The
//!   unsynced operations are kept, in issue order, in a pending list.
//! - Every `write_at`, `set_len` and `sync_data` call is one numbered **operation**, counted
//!   from 0 across the three kinds, whether it succeeds or not. `read_at`, `len` and the
//!   writer lock are not operations.
//! - `fail_at = Some(n)`: operation `n` returns the configured error and has no effect at
//!   all (a failed sync leaves the pending writes pending, so a later crash may still drop
//!   them). Later operations run normally; the caller is expected to poison itself.
//! - `crash_at = Some(n)`: operation `n` is a power cut. It has no effect and returns `EIO`,
//!   and the device is gone from then on: every later operation, `read_at` and `len` return
//!   `EIO`. The writer lock keeps working, so that cleanup paths can release it. The state
//!   at the cut stays available to [`FaultStorage::crash_image`].
//! - [`FaultStorage::crash_image`] starts from the durable image and replays the pending
//!   operations in issue order. Each write is cut into pieces at absolute
//!   [`SECTOR_SIZE`] boundaries, and each piece is kept or dropped on its own; a pending
//!   `set_len` is kept or dropped as a whole (growth fills with zeros). Later kept pieces
//!   overwrite earlier ones, so an older write may survive where a newer one to the same
//!   sector is lost: this models reordering. The coins come from a `fastrand` generator
//!   seeded afresh for each call, so the same seed and the same operation sequence give the
//!   same image.
//!
//! The per-write pieces are a superset of what a disk can do: a disk writes a whole sector
//! from the page cache, which holds every earlier write to it. For sector-aligned writes the
//! two models give the same set of images.

use std::fmt;
use std::io;
use std::sync::Mutex;

use super::{SECTOR_SIZE, Storage};

/// `EIO` on Linux, macOS and the BSDs.
const EIO: i32 = 5;
/// `ENOSPC` on Linux, macOS and the BSDs.
const ENOSPC: i32 = 28;

/// The error an injected failure returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// `EIO`: the device reported an I/O error.
    #[default]
    Eio,
    /// `ENOSPC`: the file system is full.
    Enospc,
}

impl FaultKind {
    /// The raw OS error number this kind stands for (`EIO` = 5, `ENOSPC` = 28).
    #[must_use]
    pub fn raw_os_error(self) -> i32 {
        match self {
            Self::Eio => EIO,
            Self::Enospc => ENOSPC,
        }
    }

    /// A fresh `io::Error` of this kind, as the OS would return it.
    #[must_use]
    pub fn to_io_error(self) -> io::Error {
        io::Error::from_raw_os_error(self.raw_os_error())
    }
}

/// What a [`FaultStorage`] injects, and the seed of its crash images.
///
/// Operations are numbered from 0 across `write_at`, `set_len` and `sync_data`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FaultConfig {
    /// Seeds the coin flips of [`CrashMode::Random`] crash images.
    pub seed: u64,
    /// The operation that fails with `fail_kind` and has no effect.
    pub fail_at: Option<u64>,
    /// The error that `fail_at` returns.
    pub fail_kind: FaultKind,
    /// The operation at which the power is cut: it and every later operation fail. When it
    /// names the same operation as `fail_at`, the power cut wins.
    pub crash_at: Option<u64>,
}

impl FaultConfig {
    /// No faults; crash images seeded with `seed`.
    #[must_use]
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// The same configuration, with operation `op` failing with `kind`.
    #[must_use]
    pub fn with_fail_at(self, op: u64, kind: FaultKind) -> Self {
        Self {
            fail_at: Some(op),
            fail_kind: kind,
            ..self
        }
    }

    /// The same configuration, with the power cut at operation `op`.
    #[must_use]
    pub fn with_crash_at(self, op: u64) -> Self {
        Self {
            crash_at: Some(op),
            ..self
        }
    }
}

/// Which unsynced operations a crash image keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum CrashMode {
    /// Only the durable image: every unsynced operation is lost.
    DropAll,
    /// The volatile image: every unsynced operation survived.
    KeepAll,
    /// Each sector piece of each unsynced write, and each unsynced `set_len`, survives with
    /// probability one half.
    #[default]
    Random,
    /// As [`CrashMode::Random`], with survival probability `keep_probability` (0.0..=1.0).
    RandomWith {
        /// The probability that one sector piece (or one `set_len`) survives.
        keep_probability: f64,
    },
}

impl CrashMode {
    /// The modes a power-cut sweep checks at every crash point, with a name for each: lose
    /// every unsynced write, keep them all, keep each sector piece with probability one
    /// half, and with probability 0.9 (the last keeps most of a commit but not all of it).
    pub const SWEEP: [(&'static str, CrashMode); 4] = [
        ("drop-all", CrashMode::DropAll),
        ("keep-all", CrashMode::KeepAll),
        ("random", CrashMode::Random),
        (
            "random-0.9",
            CrashMode::RandomWith {
                keep_probability: 0.9,
            },
        ),
    ];
}

/// One unsynced operation, kept for crash images. Offsets are already checked to fit memory.
enum Pending {
    Write { offset: usize, data: Vec<u8> },
    SetLen(usize),
}

/// Everything behind the mutex.
struct State {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    /// Writes and `set_len` calls since the last successful sync, in issue order.
    pending: Vec<Pending>,
    op_count: u64,
    sync_count: u64,
    crashed: bool,
    writer_locked: bool,
}

impl State {
    /// Numbers the next operation and decides whether it may take effect.
    fn begin_op(&mut self, config: &FaultConfig) -> io::Result<()> {
        let op = self.op_count;
        self.op_count += 1;
        if self.crashed {
            return Err(device_gone());
        }
        if config.crash_at == Some(op) {
            self.crashed = true;
            return Err(device_gone());
        }
        if config.fail_at == Some(op) {
            return Err(config.fail_kind.to_io_error());
        }
        Ok(())
    }

    fn check_alive(&self) -> io::Result<()> {
        if self.crashed {
            return Err(device_gone());
        }
        Ok(())
    }
}

/// The error every call gets once the power is cut.
fn device_gone() -> io::Error {
    io::Error::from_raw_os_error(EIO)
}

/// A storage backend that injects I/O errors and power cuts; see the module docs.
///
/// It is `Send + Sync`; tests keep an `Arc<FaultStorage>` and hand a clone to the code under
/// test as `Arc<dyn Storage>`, then inspect the images on their own handle.
pub struct FaultStorage {
    config: FaultConfig,
    state: Mutex<State>,
}

impl FaultStorage {
    /// A device holding `initial`, both durable and volatile, that injects the faults of
    /// `config`.
    #[must_use]
    pub fn new(config: FaultConfig, initial: Vec<u8>) -> Self {
        Self {
            config,
            state: Mutex::new(State {
                volatile: initial.clone(),
                durable: initial,
                pending: Vec::new(),
                op_count: 0,
                sync_count: 0,
                crashed: false,
                writer_locked: false,
            }),
        }
    }

    /// The configuration this device was built with.
    #[must_use]
    pub fn config(&self) -> FaultConfig {
        self.config
    }

    /// How many operations (`write_at`, `set_len`, `sync_data`) were attempted so far,
    /// including failed ones and ones after the power cut.
    #[must_use]
    pub fn op_count(&self) -> u64 {
        self.lock().op_count
    }

    /// How many times `sync_data` was called, whether it succeeded or not.
    #[must_use]
    pub fn sync_count(&self) -> u64 {
        self.lock().sync_count
    }

    /// True once the power cut of `crash_at` has happened.
    #[must_use]
    pub fn is_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// A copy of the bytes that survived the last successful sync.
    #[must_use]
    pub fn durable_image(&self) -> Vec<u8> {
        self.lock().durable.clone()
    }

    /// A copy of the bytes reads see: the durable image plus every unsynced operation.
    #[must_use]
    pub fn volatile_image(&self) -> Vec<u8> {
        self.lock().volatile.clone()
    }

    /// The bytes a reboot would find after a power cut now, with the coins of
    /// [`CrashMode::Random`] seeded by the configured seed.
    #[must_use]
    pub fn crash_image(&self, mode: CrashMode) -> Vec<u8> {
        self.crash_image_seeded(mode, self.config.seed)
    }

    /// As [`FaultStorage::crash_image`], with the coins seeded by `seed`, so that one run can
    /// be checked against many crash images.
    #[must_use]
    pub fn crash_image_seeded(&self, mode: CrashMode, seed: u64) -> Vec<u8> {
        let state = self.lock();
        match mode {
            CrashMode::DropAll => state.durable.clone(),
            CrashMode::KeepAll => state.volatile.clone(),
            CrashMode::Random => replay(&state.durable, &state.pending, 0.5, seed),
            CrashMode::RandomWith { keep_probability } => {
                assert!(
                    (0.0..=1.0).contains(&keep_probability),
                    "keep_probability {keep_probability} is not in 0.0..=1.0"
                );
                replay(&state.durable, &state.pending, keep_probability, seed)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fault storage state poisoned")
    }
}

impl fmt::Debug for FaultStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("FaultStorage")
            .field("config", &self.config)
            .field("op_count", &state.op_count)
            .field("durable_len", &state.durable.len())
            .field("volatile_len", &state.volatile.len())
            .field("pending_ops", &state.pending.len())
            .field("crashed", &state.crashed)
            .finish_non_exhaustive()
    }
}

impl Storage for FaultStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let state = self.lock();
        state.check_alive()?;
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .filter(|&end| end <= state.volatile.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&state.volatile[start..end]);
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        state.begin_op(&self.config)?;
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        start
            .checked_add(data.len())
            .ok_or(io::ErrorKind::InvalidInput)?;
        let op = Pending::Write {
            offset: start,
            data: data.to_vec(),
        };
        apply(&mut state.volatile, &op);
        state.pending.push(op);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let state = self.lock();
        state.check_alive()?;
        Ok(state.volatile.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.lock();
        state.begin_op(&self.config)?;
        let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        let op = Pending::SetLen(len);
        apply(&mut state.volatile, &op);
        state.pending.push(op);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.lock();
        state.sync_count += 1;
        state.begin_op(&self.config)?;
        // Replaying the pending list costs what was written, not the whole file.
        let pending = std::mem::take(&mut state.pending);
        for op in &pending {
            apply(&mut state.durable, op);
        }
        debug_assert_eq!(state.durable.len(), state.volatile.len());
        Ok(())
    }

    fn sync_count(&self) -> u64 {
        FaultStorage::sync_count(self)
    }

    fn try_lock_writer(&self) -> io::Result<bool> {
        let mut state = self.lock();
        if state.writer_locked {
            return Ok(false);
        }
        state.writer_locked = true;
        Ok(true)
    }

    fn unlock_writer(&self) -> io::Result<()> {
        self.lock().writer_locked = false;
        Ok(())
    }
}

/// Applies one operation in full to `image`.
fn apply(image: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::Write { offset, data } => write_into(image, *offset, data),
        Pending::SetLen(len) => image.resize(*len, 0),
    }
}

/// Writes `data` at `offset`, growing `image` with zeros if needed.
fn write_into(image: &mut Vec<u8>, offset: usize, data: &[u8]) {
    let end = offset + data.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[offset..end].copy_from_slice(data);
}

/// The crash image: `durable` plus the pieces of `pending` that win their coin flips.
fn replay(durable: &[u8], pending: &[Pending], keep_probability: f64, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut image = durable.to_vec();
    for op in pending {
        match op {
            Pending::Write { offset, data } => {
                for (piece_offset, piece) in sector_pieces(*offset, data) {
                    if rng.f64() < keep_probability {
                        write_into(&mut image, piece_offset, piece);
                    }
                }
            }
            Pending::SetLen(_) => {
                if rng.f64() < keep_probability {
                    apply(&mut image, op);
                }
            }
        }
    }
    image
}

/// Cuts a write at `offset` into pieces that each lie within one sector (sectors are aligned
/// to absolute file offsets), yielding each piece's offset and bytes.
fn sector_pieces(offset: usize, data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut piece_offset = offset;
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let room = SECTOR_SIZE - piece_offset % SECTOR_SIZE;
        let (piece, tail) = rest.split_at(room.min(rest.len()));
        let item = (piece_offset, piece);
        piece_offset += piece.len();
        rest = tail;
        Some(item)
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test panics where it fails")]
mod tests;
