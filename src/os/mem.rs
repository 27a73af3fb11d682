//! An in-memory backend: a growable byte vector. Syncs are counted and do nothing else.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Storage;

/// Storage held in memory. Clone-free and shareable across threads.
#[derive(Debug, Default)]
pub struct MemStorage {
    bytes: Mutex<Vec<u8>>,
    syncs: AtomicU64,
    locked: Mutex<bool>,
}

impl MemStorage {
    /// An empty in-memory file.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An in-memory file holding `bytes`.
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            bytes: Mutex::new(bytes),
            ..Self::default()
        }
    }

    /// A copy of the current contents.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.lock().expect("mem storage lock").clone()
    }
}

impl Storage for MemStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let bytes = self.bytes.lock().expect("mem storage lock");
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .filter(|&end| end <= bytes.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&bytes[start..end]);
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut bytes = self.bytes.lock().expect("mem storage lock");
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = start
            .checked_add(data.len())
            .ok_or(io::ErrorKind::InvalidInput)?;
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(data);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.bytes.lock().expect("mem storage lock").len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        self.bytes.lock().expect("mem storage lock").resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    fn try_lock_writer(&self) -> io::Result<bool> {
        let mut locked = self.locked.lock().expect("mem storage lock");
        if *locked {
            return Ok(false);
        }
        *locked = true;
        Ok(true)
    }

    fn unlock_writer(&self) -> io::Result<()> {
        *self.locked.lock().expect("mem storage lock") = false;
        Ok(())
    }
}
