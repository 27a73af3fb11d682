//! The real file: positioned reads and writes (`pread`/`pwrite`), `fdatasync`, growth that
//! reserves space with `fallocate`, and the writer lock as an exclusive `flock`.
//!
//! Unix only. `flock` locks belong to the open file description, so two handles on the same
//! path exclude each other even inside one process, and a lock dies with its handle (or its
//! process). Windows would need another lock design (its whole-file locks are mandatory and
//! would block readers), so the crate refuses to build there rather than run unsafely.

#[cfg(not(unix))]
compile_error!(
    "brooklet's FileStorage supports unix only: the writer lock relies on advisory flock \
     (Windows file locks are mandatory and would block readers)"
);

use std::fs::{File, OpenOptions};
use std::io::{self, Seek as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Storage;

/// `EOPNOTSUPP` on this platform: `fallocate` is not supported by the file system.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
const EOPNOTSUPP: Option<i32> = Some(95);
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "tvos",
    target_os = "watchos"
))]
const EOPNOTSUPP: Option<i32> = Some(102);
#[cfg(target_os = "freebsd")]
const EOPNOTSUPP: Option<i32> = Some(45);
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "fuchsia",
    target_os = "macos",
    target_os = "ios",
    target_os = "tvos",
    target_os = "watchos",
    target_os = "freebsd"
)))]
const EOPNOTSUPP: Option<i32> = None;

/// A brooklet file on disk.
///
/// Reads and writes are positioned, so one handle serves many threads without a shared
/// cursor. The writer lock is held by at most one handle at a time, across handles in this
/// process and across processes; a second `try_lock_writer` on the handle that already holds
/// it returns `Ok(false)`, as [`super::MemStorage`] does.
#[derive(Debug)]
pub struct FileStorage {
    file: File,
    path: PathBuf,
    read_only: bool,
    syncs: AtomicU64,
    /// True while this handle holds the `flock`; guards lock and unlock calls.
    writer_locked: Mutex<bool>,
}

impl FileStorage {
    /// Opens `path` for reading and writing, creating an empty file if it is missing.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Self::from_file(file, path, false))
    }

    /// Opens an existing file at `path` for reading and writing; fails with `NotFound` if it
    /// is missing.
    pub fn open_existing(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Self::from_file(file, path, false))
    }

    /// Opens an existing file at `path` for reading only. Writes, `set_len` and the writer
    /// lock then fail with `PermissionDenied`; `sync_data` is allowed (it has nothing to do).
    pub fn open_read_only(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).open(path)?;
        Ok(Self::from_file(file, path, true))
    }

    fn from_file(file: File, path: &Path, read_only: bool) -> Self {
        Self {
            file,
            path: path.to_path_buf(),
            read_only,
            syncs: AtomicU64::new(0),
            writer_locked: Mutex::new(false),
        }
    }

    /// The path this handle was opened with.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the handle was opened with [`FileStorage::open_read_only`].
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} is opened read-only", self.path.display()),
            ));
        }
        Ok(())
    }

    /// Grows the file to `len`, reserving the blocks first where the file system can.
    fn grow(&self, len: u64) -> io::Result<()> {
        match fs4::FileExt::allocate(&self.file, len) {
            Ok(()) => {}
            Err(err) if is_unsupported(&err) => {}
            Err(err) => return Err(err),
        }
        // `allocate` may reserve blocks without moving the end of the file: fs4 skips the call
        // when the blocks already cover `len`, and some platforms only preallocate.
        if self.len()? != len {
            self.file.set_len(len)?;
        }
        Ok(())
    }
}

/// True when `err` says the file system cannot preallocate (as opposed to a real failure
/// such as `ENOSPC`, which is exactly what preallocation is meant to report early).
fn is_unsupported(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Unsupported
        || (EOPNOTSUPP.is_some() && err.raw_os_error() == EOPNOTSUPP)
}

impl Storage for FileStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check_writable()?;
        self.file.write_all_at(data, offset)
    }

    fn len(&self) -> io::Result<u64> {
        // `lseek` to the end rather than `fstat`: on Linux 6.13 and later a `stat` asks for
        // the timestamps, which makes the next write update them finely and dirty the
        // inode, and the following `fdatasync` then costs about half as much again. All
        // reads and writes are positioned, so the file offset this moves is never used.
        (&self.file).seek(io::SeekFrom::End(0))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        if len > self.len()? {
            self.grow(len)
        } else {
            self.file.set_len(len)
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.file.sync_data()
    }

    fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    #[cfg(target_os = "linux")]
    fn lock_liveness(&self, slot: u64) -> io::Result<Option<super::LivenessGuard>> {
        if self.read_only {
            return Ok(None);
        }
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        let lock = liveness_flock(nix::libc::F_WRLCK, slot);
        nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_OFD_SETLK(&lock))
            .map_err(io::Error::from)?;
        Ok(Some(super::LivenessGuard { _file: file }))
    }

    #[cfg(target_os = "linux")]
    fn liveness_held(&self, slot: u64) -> io::Result<Option<bool>> {
        let mut lock = liveness_flock(nix::libc::F_WRLCK, slot);
        nix::fcntl::fcntl(&self.file, nix::fcntl::FcntlArg::F_OFD_GETLK(&mut lock))
            .map_err(io::Error::from)?;
        Ok(Some(i32::from(lock.l_type) != nix::libc::F_UNLCK))
    }

    #[cfg(target_os = "linux")]
    fn pin_snapshot(&self, txn: u64) -> io::Result<bool> {
        let lock = range_flock(nix::libc::F_RDLCK, pin_byte(txn), 1);
        nix::fcntl::fcntl(&self.file, nix::fcntl::FcntlArg::F_OFD_SETLK(&lock))
            .map_err(io::Error::from)?;
        Ok(true)
    }

    #[cfg(target_os = "linux")]
    fn unpin_snapshot(&self, txn: u64) -> io::Result<()> {
        let lock = range_flock(nix::libc::F_UNLCK, pin_byte(txn), 1);
        nix::fcntl::fcntl(&self.file, nix::fcntl::FcntlArg::F_OFD_SETLK(&lock))
            .map_err(io::Error::from)?;
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn oldest_pinned(&self, below: u64) -> io::Result<Option<u64>> {
        // One query answers "is any txn below `end` pinned by another handle?" and names
        // one such txn (not necessarily the oldest); a binary search narrows it down. With
        // no pins at all, as almost always, this is one system call.
        let pinned_below = |end: u64| -> io::Result<Option<u64>> {
            if end == 0 {
                return Ok(None);
            }
            let len = i64::try_from(end).expect("pin txns are below 2^61");
            let mut lock = range_flock(nix::libc::F_WRLCK, PIN_BASE, len);
            nix::fcntl::fcntl(&self.file, nix::fcntl::FcntlArg::F_OFD_GETLK(&mut lock))
                .map_err(io::Error::from)?;
            if i32::from(lock.l_type) == nix::libc::F_UNLCK {
                return Ok(None);
            }
            Ok(u64::try_from(lock.l_start - PIN_BASE).ok())
        };
        let Some(mut high) = pinned_below(below.min(PIN_MASK + 1))? else {
            return Ok(None);
        };
        // A pin exists at `high`; none is below `low`.
        let mut low = 0;
        while low < high {
            let mid = low + (high - low) / 2;
            match pinned_below(mid + 1)? {
                Some(found) => high = found.min(mid),
                None => low = mid + 1,
            }
        }
        Ok(Some(high))
    }

    fn try_lock_writer(&self) -> io::Result<bool> {
        self.check_writable()?;
        let mut locked = self
            .writer_locked
            .lock()
            .expect("writer lock flag poisoned");
        if *locked {
            return Ok(false);
        }
        // Fully qualified: std's inherent `File::try_lock` (Rust 1.89) would shadow fs4's.
        match fs4::FileExt::try_lock(&self.file) {
            Ok(()) => {
                *locked = true;
                Ok(true)
            }
            Err(fs4::TryLockError::WouldBlock) => Ok(false),
            Err(fs4::TryLockError::Error(err)) => Err(err),
        }
    }

    fn unlock_writer(&self) -> io::Result<()> {
        let mut locked = self
            .writer_locked
            .lock()
            .expect("writer lock flag poisoned");
        if *locked {
            fs4::FileExt::unlock(&self.file)?;
            *locked = false;
        }
        Ok(())
    }
}

/// First byte of the liveness-lock range: far past any page a file can have (2^32 pages of
/// at most 64 KiB end at 2^48), so the locks never touch data.
#[cfg(target_os = "linux")]
const LIVENESS_BASE: i64 = 1 << 62;

/// First byte of the snapshot-pin range: one byte per pinned txn (masked below 2^61),
/// after the liveness range, so pins touch neither data nor member locks.
#[cfg(target_os = "linux")]
const PIN_BASE: i64 = LIVENESS_BASE + (1 << 61);

/// Txns are pinned modulo 2^61 (a file reaches that many commits in no lifetime).
#[cfg(target_os = "linux")]
const PIN_MASK: u64 = (1 << 61) - 1;

/// The byte that pins `txn`.
#[cfg(target_os = "linux")]
fn pin_byte(txn: u64) -> i64 {
    PIN_BASE + i64::try_from(txn & PIN_MASK).expect("masked below 2^61")
}

/// An open-file-description lock request on the liveness byte of `slot`.
#[cfg(target_os = "linux")]
fn liveness_flock(kind: i32, slot: u64) -> nix::libc::flock {
    let offset = LIVENESS_BASE + i64::try_from(slot & ((1 << 61) - 1)).expect("masked below 2^61");
    range_flock(kind, offset, 1)
}

/// An open-file-description lock request on `len` bytes from `start`.
#[cfg(target_os = "linux")]
fn range_flock(kind: i32, start: i64, len: i64) -> nix::libc::flock {
    nix::libc::flock {
        l_type: i16::try_from(kind).expect("lock kinds fit i16"),
        l_whence: i16::try_from(nix::libc::SEEK_SET).expect("SEEK_SET fits i16"),
        l_start: start,
        l_len: len,
        l_pid: 0,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test panics where it fails")]
mod tests {
    use super::*;

    fn temp_path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("test.brooklet")
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::open(&temp_path(&dir)).unwrap();
        assert!(storage.is_empty().unwrap());
        storage.write_at(0, b"hello").unwrap();
        storage.write_at(1000, b"world").unwrap();
        assert_eq!(storage.len().unwrap(), 1005);
        let mut buf = [0u8; 5];
        storage.read_at(1000, &mut buf).unwrap();
        assert_eq!(&buf, b"world");
        storage.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        // The gap reads as zeros.
        storage.read_at(500, &mut buf).unwrap();
        assert_eq!(buf, [0; 5]);
    }

    #[test]
    fn second_handle_sees_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        let writer = FileStorage::open(&path).unwrap();
        writer.write_at(10, b"abc").unwrap();
        let reader = FileStorage::open_existing(&path).unwrap();
        let mut buf = [0u8; 3];
        reader.read_at(10, &mut buf).unwrap();
        assert_eq!(&buf, b"abc");
    }

    #[test]
    fn read_past_end_is_unexpected_eof() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::open(&temp_path(&dir)).unwrap();
        storage.write_at(0, &[7; 100]).unwrap();
        let mut buf = [0u8; 10];
        let err = storage.read_at(95, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let err = storage.read_at(1 << 40, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        storage.read_at(90, &mut buf).unwrap();
        assert_eq!(buf, [7; 10]);
    }

    #[test]
    fn set_len_grows_with_zeros_and_shrinks() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::open(&temp_path(&dir)).unwrap();
        storage.write_at(0, &[1; 10]).unwrap();
        storage.set_len(10_000).unwrap();
        assert_eq!(storage.len().unwrap(), 10_000);
        let mut buf = vec![0xff; 9_990];
        storage.read_at(10, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        // Growing past blocks that are already allocated still moves the end of file.
        storage.set_len(10_001).unwrap();
        assert_eq!(storage.len().unwrap(), 10_001);
        storage.set_len(4).unwrap();
        assert_eq!(storage.len().unwrap(), 4);
        let mut buf = [0u8; 4];
        storage.read_at(0, &mut buf).unwrap();
        assert_eq!(buf, [1; 4]);
        storage.set_len(4).unwrap();
        assert_eq!(storage.len().unwrap(), 4);
    }

    #[test]
    fn set_len_reserves_blocks_where_supported() {
        let dir = tempfile::tempdir().unwrap();
        // Probe whether this file system preallocates at all.
        let probe = File::create(dir.path().join("probe")).unwrap();
        if fs4::FileExt::allocate(&probe, 4096).is_err() {
            return;
        }
        let storage = FileStorage::open(&temp_path(&dir)).unwrap();
        storage.set_len(1 << 20).unwrap();
        let allocated = fs4::FileExt::allocated_size(&storage.file).unwrap();
        assert!(allocated >= 1 << 20, "allocated {allocated} bytes");
    }

    #[test]
    fn sync_count_counts_calls() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::open(&temp_path(&dir)).unwrap();
        assert_eq!(storage.sync_count(), 0);
        storage.write_at(0, b"x").unwrap();
        storage.sync_data().unwrap();
        storage.sync_data().unwrap();
        assert_eq!(storage.sync_count(), 2);
    }

    #[test]
    fn open_existing_fails_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        let err = FileStorage::open_existing(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = FileStorage::open_read_only(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!path.exists());
        FileStorage::open(&path).unwrap();
        assert!(path.exists());
        FileStorage::open_existing(&path).unwrap();
    }

    #[test]
    fn read_only_handle_reads_but_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        FileStorage::open(&path)
            .unwrap()
            .write_at(0, b"data")
            .unwrap();
        let storage = FileStorage::open_read_only(&path).unwrap();
        assert!(storage.is_read_only());
        let mut buf = [0u8; 4];
        storage.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"data");
        let denied = io::ErrorKind::PermissionDenied;
        assert_eq!(storage.write_at(0, b"x").unwrap_err().kind(), denied);
        assert_eq!(storage.set_len(0).unwrap_err().kind(), denied);
        assert_eq!(storage.try_lock_writer().unwrap_err().kind(), denied);
        assert_eq!(storage.len().unwrap(), 4);
    }

    #[test]
    fn writer_lock_excludes_other_handles_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        let first = FileStorage::open(&path).unwrap();
        let second = FileStorage::open(&path).unwrap();
        assert!(first.try_lock_writer().unwrap());
        assert!(
            !first.try_lock_writer().unwrap(),
            "relock on the same handle"
        );
        assert!(!second.try_lock_writer().unwrap());
        first.unlock_writer().unwrap();
        assert!(second.try_lock_writer().unwrap());
        assert!(!first.try_lock_writer().unwrap());
        second.unlock_writer().unwrap();
        // Unlocking a handle that does not hold the lock is harmless.
        second.unlock_writer().unwrap();
        assert!(first.try_lock_writer().unwrap());
        first.unlock_writer().unwrap();
    }

    #[test]
    fn dropping_a_handle_releases_its_writer_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        let first = FileStorage::open(&path).unwrap();
        let second = FileStorage::open_existing(&path).unwrap();
        assert!(first.try_lock_writer().unwrap());
        assert!(!second.try_lock_writer().unwrap());
        drop(first);
        assert!(second.try_lock_writer().unwrap());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pins_are_seen_by_other_handles_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        let reader = FileStorage::open(&path).unwrap();
        let writer = FileStorage::open(&path).unwrap();
        assert_eq!(writer.oldest_pinned(1 << 40).unwrap(), None);
        assert!(reader.pin_snapshot(900).unwrap());
        assert!(reader.pin_snapshot(37).unwrap());
        assert!(reader.pin_snapshot(1 << 33).unwrap());
        assert_eq!(writer.oldest_pinned(1 << 40).unwrap(), Some(37));
        assert_eq!(writer.oldest_pinned(38).unwrap(), Some(37));
        assert_eq!(
            writer.oldest_pinned(37).unwrap(),
            None,
            "below is exclusive"
        );
        // A handle does not see its own pins (its process counts them itself).
        assert_eq!(reader.oldest_pinned(1 << 40).unwrap(), None);
        reader.unpin_snapshot(37).unwrap();
        assert_eq!(writer.oldest_pinned(1 << 40).unwrap(), Some(900));
        // A read-only handle can pin too.
        let inspector = FileStorage::open_read_only(&path).unwrap();
        assert!(inspector.pin_snapshot(3).unwrap());
        assert_eq!(writer.oldest_pinned(1 << 40).unwrap(), Some(3));
        drop(inspector);
        assert_eq!(writer.oldest_pinned(1 << 40).unwrap(), Some(900));
        drop(reader);
        assert_eq!(writer.oldest_pinned(1 << 40).unwrap(), None);
    }

    #[test]
    fn writer_lock_works_across_threads() {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        let holder = FileStorage::open(&path).unwrap();
        assert!(holder.try_lock_writer().unwrap());
        let other_path = path.clone();
        let taken = std::thread::spawn(move || {
            let other = FileStorage::open(&other_path).unwrap();
            other.try_lock_writer().unwrap()
        })
        .join()
        .unwrap();
        assert!(!taken);
    }
}
