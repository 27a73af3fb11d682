//! An in-memory page store for the B-tree tests. It verifies like the real pager (checksum
//! and id on every node read, checksum and length on every blob read) and checks the
//! tree's page discipline: pages are written only if allocated in the current transaction
//! and at most once per transaction, never freed twice, and freed pages are unreadable at
//! once (so a read through a stale pointer fails). Pages freed from the committed state are
//! reused only after [`MemStore::commit`]; pages allocated and freed within a transaction
//! are reused at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::btree::{PageRead, PageUse, PageWrite, TreeStats, check_tree};
use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::page::{BlobPtr, NodePtr, TxnId, seal, stored_crc, verify};

#[derive(Debug)]
pub(super) struct MemStore {
    page_size: usize,
    txn: u64,
    nodes: HashMap<PageId, Arc<[u8]>>,
    blobs: HashMap<PageId, Vec<u8>>,
    /// Allocated and not freed.
    live: HashSet<PageId>,
    /// Allocated in the current transaction.
    fresh: HashSet<PageId>,
    /// Written in the current transaction.
    written: HashSet<PageId>,
    reusable: Vec<PageId>,
    reusable_after_commit: Vec<PageId>,
    next: u32,
    pub allocs: u64,
    pub frees: u64,
    pub writes: u64,
}

impl MemStore {
    pub fn new(page_size: usize) -> Self {
        Self {
            page_size,
            txn: 1,
            nodes: HashMap::new(),
            blobs: HashMap::new(),
            live: HashSet::new(),
            fresh: HashSet::new(),
            written: HashSet::new(),
            reusable: Vec::new(),
            reusable_after_commit: Vec::new(),
            // Pages 0 and 1 hold the file header.
            next: 2,
            allocs: 0,
            frees: 0,
            writes: 0,
        }
    }

    /// Ends the transaction: its pages become committed, its frees reusable.
    pub fn commit(&mut self) {
        self.txn += 1;
        self.fresh.clear();
        self.written.clear();
        self.reusable.append(&mut self.reusable_after_commit);
    }

    pub fn live_pages(&self) -> usize {
        self.live.len()
    }

    /// Checks the trees `roots` (flushed) and that their pages are exactly the live
    /// pages: none used twice, none leaked. Returns the stats of each tree.
    pub fn assert_accounted(&self, roots: &[Option<NodePtr>]) -> Vec<TreeStats> {
        let mut used = HashSet::new();
        let mut stats = Vec::new();
        for root in roots {
            let mut problems = Vec::new();
            let mut on_page = |first: PageId, count: u32, _: PageUse| {
                for id in first.0..first.0 + count {
                    assert!(used.insert(PageId(id)), "page {id} used twice");
                }
            };
            stats.push(check_tree(self, *root, &mut on_page, &mut problems));
            assert!(problems.is_empty(), "check found {problems:?}");
        }
        assert_eq!(used, self.live, "reachable pages differ from live pages");
        stats
    }

    /// The bytes of a node page (for corruption tests).
    pub fn node_bytes(&self, id: PageId) -> Vec<u8> {
        self.nodes[&id].to_vec()
    }

    /// Replaces a node page's bytes, as a disk or a bug might; `reseal` recomputes the
    /// checksum and returns it.
    pub fn set_node_bytes(&mut self, id: PageId, mut bytes: Vec<u8>, reseal: bool) -> u32 {
        let crc = if reseal { seal(&mut bytes) } else { 0 };
        self.nodes.insert(id, Arc::from(bytes));
        crc
    }

    /// Flips one byte of a blob's data.
    pub fn flip_blob_byte(&mut self, first: PageId, offset: usize) {
        let data = self.blobs.get_mut(&first).expect("a blob starts here");
        data[offset] ^= 0x20;
    }

    fn alloc(&mut self) -> PageId {
        let id = self.reusable.pop().unwrap_or_else(|| {
            self.next += 1;
            PageId(self.next - 1)
        });
        assert!(self.live.insert(id), "{id} allocated while live");
        self.fresh.insert(id);
        self.allocs += 1;
        id
    }

    fn release(&mut self, id: PageId) {
        assert!(self.live.remove(&id), "{id} freed twice or never allocated");
        self.frees += 1;
        self.written.remove(&id);
        if self.fresh.remove(&id) {
            self.reusable.push(id);
        } else {
            self.reusable_after_commit.push(id);
        }
    }
}

impl PageRead for MemStore {
    fn page_size(&self) -> usize {
        self.page_size
    }

    fn read_node(&self, ptr: NodePtr) -> Result<Arc<[u8]>> {
        let page = self
            .nodes
            .get(&ptr.id)
            .ok_or_else(|| Error::corrupt(ptr.id, CorruptionKind::PageOutOfRange(ptr.id.0)))?;
        verify(page, ptr)?;
        Ok(Arc::clone(page))
    }

    fn read_blob(&self, ptr: BlobPtr) -> Result<Vec<u8>> {
        let data = self.blobs.get(&ptr.first).ok_or_else(|| {
            Error::corrupt(ptr.first, CorruptionKind::PageOutOfRange(ptr.first.0))
        })?;
        let actual = crc32c::crc32c(data);
        if actual != ptr.crc || data.len() != ptr.len as usize {
            let kind = CorruptionKind::Checksum {
                expected: ptr.crc,
                actual,
            };
            return Err(Error::corrupt(ptr.first, kind));
        }
        Ok(data.clone())
    }
}

impl PageWrite for MemStore {
    fn txn_id(&self) -> TxnId {
        TxnId(self.txn)
    }

    fn alloc_page(&mut self) -> Result<PageId> {
        Ok(self.alloc())
    }

    fn write_node(&mut self, id: PageId, page: Vec<u8>) -> Result<()> {
        assert!(
            self.fresh.contains(&id),
            "{id} written but not allocated in this transaction"
        );
        assert!(
            self.written.insert(id),
            "{id} written twice in one transaction"
        );
        assert_eq!(page.len(), self.page_size);
        verify(
            &page,
            NodePtr {
                id,
                crc: stored_crc(&page),
            },
        )
        .expect("written pages are sealed");
        self.writes += 1;
        self.nodes.insert(id, Arc::from(page));
        Ok(())
    }

    fn free_page(&mut self, id: PageId) {
        self.nodes.remove(&id);
        self.release(id);
    }

    fn write_blob(&mut self, data: &[u8]) -> Result<BlobPtr> {
        let len = u32::try_from(data.len()).expect("test blobs are small");
        let page_size = u32::try_from(self.page_size).expect("page size fits u32");
        let page_count = len.div_ceil(page_size).max(1);
        // Blobs take fresh contiguous pages at the end.
        let first = PageId(self.next);
        self.next += page_count;
        for id in first.0..first.0 + page_count {
            assert!(self.live.insert(PageId(id)));
            self.fresh.insert(PageId(id));
        }
        self.blobs.insert(first, data.to_vec());
        Ok(BlobPtr {
            first,
            page_count,
            len,
            crc: crc32c::crc32c(data),
        })
    }

    fn free_blob(&mut self, ptr: BlobPtr) {
        assert!(
            self.blobs.remove(&ptr.first).is_some(),
            "blob at {} freed twice",
            ptr.first
        );
        for id in ptr.first.0..ptr.first.0 + ptr.page_count {
            self.release(PageId(id));
        }
    }
}
