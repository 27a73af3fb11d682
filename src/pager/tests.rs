//! Pager unit tests on memory storage: commit, reopen, sync counts, page reuse.

use std::sync::Arc;

use super::{Durability, Pager, PagerOptions};
use crate::error::PageId;
use crate::os::{MemStorage, Storage};
use crate::page::{NodePtr, PageHeader, PageKind, seal};
use crate::page::{PageRead, PageWrite};

fn options() -> PagerOptions {
    PagerOptions {
        page_size: 512,
        ..PagerOptions::default()
    }
}

/// Writes a leaf-kind page holding `fill` and returns its pointer.
fn put_node(txn: &mut super::WriteTxn, fill: u8) -> NodePtr {
    let id = txn.alloc_page().expect("alloc");
    let mut page = vec![fill; txn.page_size()];
    PageHeader {
        kind: PageKind::Leaf as u8,
        level: 0,
        count: 0,
        id,
        txn: txn.txn_id(),
    }
    .write(&mut page);
    let crc = seal(&mut page);
    txn.write_node(id, page).expect("write");
    NodePtr { id, crc }
}

fn reopen(storage: &Arc<MemStorage>) -> Arc<Pager> {
    let copy: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(storage.to_bytes()));
    Pager::open(copy, options()).expect("reopen")
}

#[test]
fn new_file_opens_empty_and_reopens() {
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    assert_eq!(pager.page_size(), 512);
    let state = pager.latest().expect("state");
    assert_eq!(state.txn().0, 1);
    assert!(state.slot.master_root.is_none());
    let again = reopen(&storage);
    assert_eq!(again.latest().expect("state").txn().0, 1);
}

#[test]
fn committed_root_survives_reopen() {
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    let mut txn = pager.begin_write().expect("write");
    let ptr = put_node(&mut txn, 7);
    txn.set_master_root(Some(ptr));
    let committed = txn.commit(Durability::Immediate).expect("commit");
    assert_eq!(committed.0, 2);

    let again = reopen(&storage);
    let read = again.begin_read().expect("read");
    assert_eq!(read.master_root(), Some(ptr));
    let page = read.read_node(ptr).expect("node");
    assert_eq!(page[100], 7);
}

#[test]
fn sync_counts_per_durability() {
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    for (durability, syncs) in [
        (Durability::Immediate, 1),
        (Durability::Paranoid, 2),
        (Durability::None, 0),
        (Durability::Immediate, 1),
    ] {
        let before = storage.sync_count();
        let mut txn = pager.begin_write().expect("write");
        let ptr = put_node(&mut txn, 1);
        txn.set_master_root(Some(ptr));
        txn.commit(durability).expect("commit");
        assert_eq!(storage.sync_count() - before, syncs, "{durability:?}");
    }
}

#[test]
fn stats_count_commits_syncs_pages_and_cache_lookups() {
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(
        storage.clone(),
        PagerOptions {
            max_window_pages: 8,
            ..options()
        },
    )
    .expect("create");
    let opened = pager.stats();
    assert_eq!(opened.fdatasyncs, storage.sync_count());
    assert_eq!(
        opened.bytes_written,
        2 * 512 + 512,
        "two header pages, then slot A again"
    );
    // Each commit copies the root: one page allocated, the old one freed (from the second).
    let mut root: Option<NodePtr> = None;
    for (durability, level) in [
        (Durability::Immediate, [0, 1, 0]),
        (Durability::Paranoid, [0, 0, 1]),
        (Durability::None, [1, 0, 0]),
        (Durability::None, [1, 0, 0]),
    ] {
        let (before, syncs) = (pager.stats(), storage.sync_count());
        let mut txn = pager.begin_write().expect("write");
        if let Some(old) = root {
            txn.free_page(old.id);
        }
        let ptr = put_node(&mut txn, 1);
        txn.set_master_root(Some(ptr));
        txn.commit(durability).expect("commit");
        root = Some(ptr);
        let spent = pager.stats().since(&before);
        let by_level = [
            spent.commits_none,
            spent.commits_immediate,
            spent.commits_paranoid,
        ];
        assert_eq!(by_level, level, "{durability:?}");
        assert_eq!(
            spent.fdatasyncs,
            storage.sync_count() - syncs,
            "{durability:?}"
        );
        assert!(spent.pages_allocated >= 1, "{durability:?}: {spent:?}");
        assert!(
            spent.bytes_written >= 2 * 512,
            "a node and the slot: {spent:?}"
        );
        let state = pager.latest().expect("state");
        let file = pager.stats().file;
        assert_eq!(file.txn, state.txn().0);
        assert_eq!(file.page_count, u64::from(state.slot.page_count));
        let free = pager.load_free_list(&state.slot).expect("free list");
        assert_eq!(
            file.free_pages,
            free.iter().map(|e| u64::from(e.count)).sum::<u64>()
        );
    }
    // Past the window's cap a non-durable commit is made durable: one sync.
    let mut made_durable = 0;
    for _ in 0..8 {
        let before = pager.stats();
        let mut txn = pager.begin_write().expect("write");
        let ptr = put_node(&mut txn, 3);
        txn.set_master_root(Some(ptr));
        txn.commit(Durability::None).expect("commit");
        let spent = pager.stats().since(&before);
        assert_eq!(spent.commits_none, 1);
        assert_eq!(spent.fdatasyncs, spent.commits_made_durable);
        made_durable += spent.commits_made_durable;
    }
    assert!(
        made_durable >= 1,
        "8 commits of 2+ pages pass a window of 8 pages"
    );

    // A fresh handle: the first read of a node misses the cache, the second hits it.
    let again = reopen(&storage);
    let read = again.begin_read().expect("read");
    let root = read.master_root().expect("root");
    let before = again.stats();
    read.read_node(root).expect("node");
    read.read_node(root).expect("node");
    let spent = again.stats().since(&before);
    assert_eq!((spent.cache_misses, spent.cache_hits), (1, 1));
    assert_eq!((spent.bytes_read, spent.read_calls), (512, 1));
}

#[test]
fn churn_reuses_pages_and_the_file_stops_growing() {
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    let mut counts = Vec::new();
    for round in 0..200u32 {
        let mut txn = pager.begin_write().expect("write");
        if let Some(old) = txn.master_root() {
            txn.free_page(old.id);
        }
        let ptr = put_node(&mut txn, u8::try_from(round % 251).expect("small"));
        txn.set_master_root(Some(ptr));
        let durability = if round % 3 == 0 {
            Durability::None
        } else {
            Durability::Immediate
        };
        txn.commit(durability).expect("commit");
        counts.push(pager.latest().expect("state").slot.page_count);
    }
    let late = counts[50..].iter().max().expect("counts");
    assert!(*late <= counts[49] + 2, "file kept growing: {counts:?}");
    assert!(
        *late < 20,
        "churn of one page should need few pages, got {late}"
    );
    // Every state stays readable after a reopen.
    let again = reopen(&storage);
    let read = again.begin_read().expect("read");
    let root = read.master_root().expect("root");
    read.read_node(root).expect("node");
}

#[test]
fn non_durable_commits_never_touch_the_durable_slot() {
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    let mut txn = pager.begin_write().expect("write");
    let durable_ptr = put_node(&mut txn, 1);
    txn.set_master_root(Some(durable_ptr));
    txn.commit(Durability::Immediate).expect("commit");
    let durable_slot = pager.latest().expect("state").slot_index;
    for _ in 0..5 {
        let mut txn = pager.begin_write().expect("write");
        let ptr = put_node(&mut txn, 2);
        txn.set_master_root(Some(ptr));
        txn.commit(Durability::None).expect("commit");
        let state = pager.latest().expect("state");
        assert_ne!(state.slot_index, durable_slot);
        assert_eq!(state.slot.last_durable.0, 2);
    }
    // The durable commit's page was not reused by the non-durable ones.
    let mut page = vec![0u8; 512];
    storage
        .read_at(u64::from(durable_ptr.id.0) * 512, &mut page)
        .expect("read");
    assert_eq!(crate::page::page_crc(&page), durable_ptr.crc);
}

#[test]
fn large_journal_goes_to_a_blob() {
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    let mut txn = pager.begin_write().expect("write");
    let mut last = None;
    for i in 0..300u32 {
        last = Some(put_node(&mut txn, u8::try_from(i % 200).expect("small")));
    }
    txn.set_master_root(last);
    txn.commit(Durability::None).expect("commit");
    let state = pager.latest().expect("state");
    assert!(matches!(
        state.slot.journal,
        crate::page::slot::Journal::Blob { .. }
    ));
    let again = reopen(&storage);
    assert_eq!(again.latest().expect("state").txn(), state.txn());
}

#[test]
fn a_torn_last_commit_falls_back_to_the_durable_one() {
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    let mut txn = pager.begin_write().expect("write");
    let first = put_node(&mut txn, 1);
    txn.set_master_root(Some(first));
    txn.commit(Durability::Immediate).expect("commit");
    let mut txn = pager.begin_write().expect("write");
    let second = put_node(&mut txn, 2);
    txn.set_master_root(Some(second));
    txn.commit(Durability::None).expect("commit");
    // Lose the second commit's page: its slot is present but its journal fails.
    let mut bytes = storage.to_bytes();
    let at = second.id.0 as usize * 512 + 200;
    bytes[at] ^= 0xff;
    let damaged: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(bytes));
    let again = Pager::open(damaged, options()).expect("recover");
    let read = again.begin_read().expect("read");
    assert_eq!(read.master_root(), Some(first));
    assert_eq!(again.latest().expect("state").txn().0, 2);
}

#[test]
fn busy_when_another_handle_writes() {
    let storage = Arc::new(MemStorage::new());
    let opts = PagerOptions {
        busy_timeout: std::time::Duration::from_millis(20),
        ..options()
    };
    let a = Pager::open(storage.clone(), opts.clone()).expect("create");
    let b = Pager::open(storage.clone(), opts).expect("open");
    let held = a.begin_write().expect("write");
    assert!(matches!(b.begin_write(), Err(crate::Error::Busy)));
    drop(held);
    b.begin_write().expect("free again");
    let _ = PageId(0);
}

#[test]
fn a_rolled_back_commit_is_reported() {
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    let mut txn = pager.begin_write().expect("write");
    let first = put_node(&mut txn, 1);
    txn.set_master_root(Some(first));
    txn.commit(Durability::Immediate).expect("commit");
    let mut txn = pager.begin_write().expect("write");
    let second = put_node(&mut txn, 2);
    txn.set_master_root(Some(second));
    txn.commit(Durability::Immediate).expect("commit");
    assert!(reopen(&storage).recovery_notes().is_empty());
    let mut bytes = storage.to_bytes();
    bytes[second.id.0 as usize * 512 + 100] ^= 1;
    let damaged: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(bytes));
    let again = Pager::open(damaged, options()).expect("recover");
    let notes = again.recovery_notes();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("commit 3 (durable"), "{notes:?}");
    assert!(notes[1].contains("opened commit 2"), "{notes:?}");
}

#[test]
fn the_cheap_txn_probe_agrees_with_the_slots_and_refuses_a_damaged_one() {
    for page_size in [512u32, 4096] {
        let storage = Arc::new(MemStorage::new());
        let options = PagerOptions {
            page_size,
            ..PagerOptions::default()
        };
        let pager = Pager::open(storage.clone(), options).expect("create");
        for durability in [Durability::Immediate, Durability::None, Durability::None] {
            let mut txn = pager.begin_write().expect("write");
            // Enough pages that the journal runs past the probe's first read at 4 KiB.
            for fill in 0..40 {
                put_node(&mut txn, fill);
            }
            let committed = txn.commit(durability).expect("commit");
            assert_eq!(pager.newest_txn_verified().expect("probe"), Some(committed));
            assert_eq!(pager.latest().expect("latest").txn(), committed);
        }
        // A flipped byte in the newest slot's body: the probe cannot vouch for it.
        let index = pager.latest().expect("latest").slot_index;
        let at = u64::from(index) * u64::from(page_size) + 32 + 30;
        let mut byte = [0u8; 1];
        storage.read_at(at, &mut byte).expect("read");
        storage.write_at(at, &[byte[0] ^ 1]).expect("write");
        assert_eq!(pager.newest_txn_verified().expect("probe"), None);
    }
}

/// Storage whose contents are replaced by `after` at the first `len` call once two
/// reads happened: as if, while this process opens the file (its slots already read,
/// not yet validated), another process committed a shrink and cut the file.
#[derive(Debug)]
struct CutWhileOpening {
    bytes: std::sync::Mutex<(Vec<u8>, Option<Vec<u8>>, u32)>,
}

impl Storage for CutWhileOpening {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let mut state = self.bytes.lock().expect("lock");
        state.2 += 1;
        MemStorage::from_bytes(state.0.clone()).read_at(offset, buf)
    }
    fn write_at(&self, _: u64, _: &[u8]) -> std::io::Result<()> {
        unreachable!("opening writes nothing")
    }
    fn len(&self) -> std::io::Result<u64> {
        let mut state = self.bytes.lock().expect("lock");
        if state.2 >= 2
            && let Some(after) = state.1.take()
        {
            state.0 = after;
        }
        Ok(state.0.len() as u64)
    }
    fn set_len(&self, _: u64) -> std::io::Result<()> {
        unreachable!("opening writes nothing")
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn sync_count(&self) -> u64 {
        0
    }
    fn try_lock_writer(&self) -> std::io::Result<bool> {
        Ok(true)
    }
    fn unlock_writer(&self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn opening_while_another_process_cuts_the_file_reads_the_slots_again() {
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    let mut txn = pager.begin_write().expect("write");
    let nodes: Vec<NodePtr> = (0..50).map(|fill| put_node(&mut txn, fill)).collect();
    txn.set_master_root(Some(nodes[0]));
    txn.commit(Durability::Immediate).expect("commit");
    let mut txn = pager.begin_write().expect("write");
    for node in &nodes[1..] {
        txn.free_page(node.id);
    }
    txn.commit(Durability::Immediate).expect("commit");
    // Both slots name the full page count; the shrink cuts below it (the free list is
    // inline in the slot, so no blob sits at the end).
    let before = storage.to_bytes();
    let pages_before = pager.latest().expect("state").slot.page_count;
    let mut txn = pager.begin_write().expect("write");
    txn.request_shrink();
    let cut = txn.commit(Durability::Immediate).expect("shrink");
    let after = storage.to_bytes();
    assert!(
        after.len() < 512 * pages_before as usize / 2,
        "the shrink cut the file"
    );

    let racing = CutWhileOpening {
        bytes: std::sync::Mutex::new((before, Some(after), 0)),
    };
    let opened = Pager::open(Arc::new(racing), options()).expect("open");
    assert_eq!(
        opened.state.lock().expect("state").txn(),
        cut,
        "opened the cut commit"
    );
    assert!(
        opened.recovery_notes().is_empty(),
        "{:?}",
        opened.recovery_notes()
    );
}

/// A header page whose static header verifies but names a newer format version was
/// written by a newer build: the file is refused, never read through the other slot (that
/// would lose the newer commit, and a write would overwrite it).
#[test]
fn a_header_of_a_newer_version_refuses_the_file() {
    use crate::error::{CorruptionKind, Error};
    use crate::page::format::{self, FORMAT_VERSION};
    use zerocopy::{FromBytes as _, IntoBytes as _};

    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    for fill in [1, 2] {
        let mut txn = pager.begin_write().expect("write");
        let ptr = put_node(&mut txn, fill);
        txn.set_master_root(Some(ptr));
        txn.commit(Durability::Immediate).expect("commit");
    }
    for page in [0usize, 1] {
        let mut bytes = storage.to_bytes();
        let (header, _) =
            format::StaticHeader::mut_from_prefix(&mut bytes[page * 512..]).expect("a header page");
        header.version = (FORMAT_VERSION + 1).into();
        header.crc = crc32c::crc32c(&header.as_bytes()[..format::STATIC_HEADER_CRC_END]).into();
        let copy: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(bytes));
        match Pager::open(copy, options()) {
            Err(Error::Corrupt {
                kind: CorruptionKind::UnsupportedVersion(v),
                ..
            }) => assert_eq!(v, FORMAT_VERSION + 1),
            other => panic!("page {page}: {other:?}"),
        }
    }
}

/// Commits `commits` non-durable transactions of `pages_each` pages each, then one at
/// `durability`; returns the fdatasyncs of that last commit.
fn window_then_commit(
    pager: &Arc<Pager>,
    commits: u8,
    pages_each: u8,
    durability: Durability,
) -> u64 {
    for i in 0..commits {
        let mut txn = pager.begin_write().expect("write");
        let mut root = None;
        for _ in 0..pages_each {
            root = Some(put_node(&mut txn, i));
        }
        txn.set_master_root(root);
        txn.commit(Durability::None).expect("commit");
    }
    let before = pager.stats();
    let mut txn = pager.begin_write().expect("write");
    let ptr = put_node(&mut txn, 0xee);
    txn.set_master_root(Some(ptr));
    txn.commit(durability).expect("commit");
    pager.stats().since(&before).fdatasyncs
}

/// A durable commit that closes a window of more than `FOLLOW_UP_MIN_PAGES` pages syncs
/// once and is followed by a no-op commit that is not durable: the next open reads the
/// header pages and nothing of the window. A small window is verified at open, and its
/// commit is the newest.
#[test]
fn open_after_a_large_window_reads_none_of_it() {
    let large = super::commit::FOLLOW_UP_MIN_PAGES as u8 / 4 + 1;
    let mut reads = Vec::new();
    for durability in [Durability::Immediate, Durability::Paranoid] {
        for (commits, followed) in [(2, false), (large, true)] {
            let storage = Arc::new(MemStorage::new());
            let pager = Pager::open(storage.clone(), options()).expect("create");
            let syncs = window_then_commit(&pager, commits, 4, durability);
            let expected = if durability == Durability::Paranoid {
                2
            } else {
                1
            };
            assert_eq!(syncs, expected, "{durability:?} over {commits} commits");
            let state = pager.latest().expect("state");
            assert_eq!(state.is_durable(), !followed, "{commits} commits");
            if followed {
                assert_eq!(state.slot.last_durable.0 + 1, state.txn().0);
                assert!(state.slot.window.is_none());
                assert_eq!(pager.stats().file.commits_since_durable, 0);
                // Nothing changed since the durable commit: another one has nothing to do.
                let before = pager.stats();
                let txn = pager.begin_write().expect("write");
                assert_eq!(txn.commit(durability).expect("commit"), state.txn());
                assert_eq!(pager.stats().since(&before).fdatasyncs, 0);
            }
            let again = reopen(&storage);
            assert_eq!(again.latest().expect("state").txn(), state.txn());
            assert!(again.recovery_notes().is_empty());
            reads.push(again.stats().read_calls);
        }
    }
    for pair in reads.chunks(2) {
        let (small, large) = (pair[0], pair[1]);
        assert!(
            small >= 8,
            "a window of 8 pages is read at open: {small} reads"
        );
        assert!(
            large <= 6,
            "header reads only: {large} reads, against {small}"
        );
    }
}

/// A crash that loses the follow-up commit's slot (or tears it) falls back to the durable
/// commit before it, which verifies: nothing acknowledged is lost.
#[test]
fn losing_the_follow_up_falls_back_to_the_durable_commit() {
    let large = super::commit::FOLLOW_UP_MIN_PAGES as u8 / 4 + 1;
    let storage = Arc::new(MemStorage::new());
    let pager = Pager::open(storage.clone(), options()).expect("create");
    window_then_commit(&pager, large, 4, Durability::Immediate);
    let follow = pager.latest().expect("state");
    let durable = follow.slot.last_durable;
    let mut bytes = storage.to_bytes();
    // Tear the follow-up's slot: its CRC no longer verifies.
    let at = follow.slot_index as usize * 512 + 100;
    bytes[at] ^= 0xff;
    let copy: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(bytes));
    let again = Pager::open(copy, options()).expect("open");
    let state = again.latest().expect("state");
    assert_eq!(state.txn(), durable);
    assert!(state.is_durable());
    assert_eq!(state.slot.master_root, follow.slot.master_root);
}

#[test]
fn the_header_copy_follows_commits_of_both_handles() {
    let storage = Arc::new(MemStorage::new());
    let a = Pager::open(storage.clone(), options()).expect("create");
    let b = Pager::open(storage.clone(), options()).expect("open again");
    let levels = [Durability::None, Durability::Immediate, Durability::None];
    for round in 0..24u8 {
        let (writer, other) = if round % 3 == 0 { (&b, &a) } else { (&a, &b) };
        let mut txn = writer.begin_write().expect("write");
        let ptr = put_node(&mut txn, round);
        txn.set_master_root(Some(ptr));
        txn.commit(levels[usize::from(round) % levels.len()])
            .expect("commit");
        for pager in [writer, other] {
            let state = pager.latest().expect("latest");
            // The state a handle returns is the one its slots decode to now...
            assert_eq!(*state, pager.read_best_slot().expect("decode"));
            assert_eq!(state.slot.master_root, Some(ptr));
            // ...and asked again with nothing changed, the same one, not decoded anew.
            assert!(Arc::ptr_eq(&state, &pager.latest().expect("again")));
        }
    }
}
