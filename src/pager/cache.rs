//! The page cache: a bounded LRU of clean, verified pages.
//!
//! Entries are keyed by page id *and* checksum. Committed pages are immutable until freed,
//! so a hit under `(id, crc)` is exactly the page a pointer with that checksum expects,
//! even if the page has since been freed and reused on disk by this or another process.
//! Stale entries are never wrong, only useless, and age out.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::error::PageId;

/// A bounded cache of verified page images.
#[derive(Debug)]
pub(crate) struct PageCache {
    pages: Mutex<Lru>,
}

/// Verified page images by `(page id, CRC)`.
type Lru = LruCache<(PageId, u32), Arc<[u8]>>;

impl PageCache {
    /// A cache holding at most `bytes / page_size` pages (at least 8).
    pub fn new(bytes: usize, page_size: u32) -> Self {
        let capacity = (bytes / page_size as usize).max(8);
        Self {
            pages: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).expect("capacity is at least 8"),
            )),
        }
    }

    pub fn get(&self, id: PageId, crc: u32) -> Option<Arc<[u8]>> {
        self.pages
            .lock()
            .expect("cache lock")
            .get(&(id, crc))
            .cloned()
    }

    pub fn insert(&self, id: PageId, crc: u32, page: Arc<[u8]>) {
        self.pages.lock().expect("cache lock").put((id, crc), page);
    }

    /// Number of cached pages.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.pages.lock().expect("cache lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_bytes() {
        let cache = PageCache::new(16 * 512, 512);
        for i in 0..100 {
            cache.insert(PageId(i), 0, Arc::from(vec![0u8; 512]));
        }
        assert_eq!(cache.len(), 16);
        assert!(cache.get(PageId(99), 0).is_some());
        assert!(cache.get(PageId(99), 1).is_none());
        assert!(cache.get(PageId(0), 0).is_none());
    }
}
