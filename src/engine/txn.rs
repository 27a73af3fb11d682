//! Read and write transactions over named trees.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

use super::pending::{Merge, Pending};
use crate::btree::{self, TreeMut};
use crate::error::{Error, PageId, Result};
use zerocopy::{FromBytes as _, IntoBytes as _};

use crate::page::{NodePtr, TxnId, format};
use crate::page::{PageRead, PageWrite};
use crate::pager::{self, Durability};

/// Encodes an extents-tree value: the extent's page count.
pub(crate) fn encode_extent_len(page_count: u32) -> [u8; size_of::<format::ExtentValue>()] {
    let value = format::ExtentValue {
        page_count: page_count.into(),
    };
    value.as_bytes().try_into().expect("the value's own size")
}

/// Decodes an extents-tree value: the extent's page count.
pub(crate) fn decode_extent_len(value: &[u8], first: PageId) -> Result<u32> {
    let count = format::ExtentValue::ref_from_bytes(value)
        .map_err(|_| Error::corrupt(first, crate::CorruptionKind::BadLength))?
        .page_count
        .get();
    if count == 0 {
        return Err(Error::corrupt(first, crate::CorruptionKind::BadLength));
    }
    Ok(count)
}

/// Decodes an extents-tree key: the extent's first page.
pub(crate) fn decode_extent_key(key: &[u8]) -> Result<PageId> {
    key.try_into()
        .map(|b: [u8; 4]| PageId(u32::from_be_bytes(b)))
        .map_err(|_| Error::corrupt_file(crate::CorruptionKind::BadLength))
}

/// Encodes a tree root for the master tree.
pub(super) fn encode_root(ptr: NodePtr) -> Vec<u8> {
    let mut out = Vec::with_capacity(NodePtr::SIZE);
    ptr.encode(&mut out);
    out
}

/// Decodes a tree root from the master tree.
pub(super) fn decode_root(bytes: &[u8]) -> Result<NodePtr> {
    format::NodePtr::ref_from_bytes(bytes)
        .map(|raw| NodePtr::from_disk(*raw))
        .map_err(|_| Error::corrupt_file(crate::CorruptionKind::BadLength))
}

/// The engine's own tree of data extents: first page (u32 big-endian) to page count (u32
/// little-endian). Names starting with a control byte are reserved for the engine.
pub(crate) const EXTENTS_TREE: &str = "\u{1}extents";

fn validate_name(name: &str, page_size: usize) -> Result<()> {
    let max = btree::max_key_len(page_size);
    if name.is_empty() || name.len() > max {
        return Err(Error::invalid(format!(
            "tree name must be 1 to {max} bytes, got {}",
            name.len()
        )));
    }
    if name.starts_with(|c: char| c.is_ascii_control()) {
        return Err(Error::invalid(format!(
            "tree name {name:?} starts with a control character (reserved)"
        )));
    }
    Ok(())
}

fn is_reserved(name: &[u8]) -> bool {
    name.first().is_some_and(u8::is_ascii_control)
}

fn bounds<'k, R: RangeBounds<&'k [u8]>>(range: &R) -> (Bound<&'k [u8]>, Bound<&'k [u8]>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

pub(super) const ALL: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Unbounded);

/// An iterator over `(key, value)` pairs of one tree, in key order or reversed.
pub struct Entries<'a> {
    inner: BoxedEntries<'a>,
}

/// A key and its value.
type KeyValue = (Vec<u8>, Vec<u8>);
type BoxedEntries<'a> = Box<dyn Iterator<Item = Result<KeyValue>> + 'a>;

impl std::fmt::Debug for Entries<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries").finish_non_exhaustive()
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

/// Reading named trees: what a [`ReadTransaction`] and a [`WriteTransaction`] share, so
/// that code that only reads is written once for both.
pub(crate) trait TreeRead {
    /// The value under `key` in `tree`.
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Entries of `tree` with keys in `range`, in key order.
    fn range<'k, R: RangeBounds<&'k [u8]>>(&self, tree: &str, range: R) -> Result<Entries<'_>>;

    /// The page size and page count of the state read.
    fn bounds(&self) -> super::Bounds;

    /// Reads bytes of a data extent.
    fn read_data(&self, first: PageId, offset: u64, buf: &mut [u8]) -> Result<()>;
}

impl TreeRead for ReadTransaction {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Self::get(self, tree, key)
    }

    fn range<'k, R: RangeBounds<&'k [u8]>>(&self, tree: &str, range: R) -> Result<Entries<'_>> {
        Self::range(self, tree, range)
    }

    fn bounds(&self) -> super::Bounds {
        Self::bounds(self)
    }

    fn read_data(&self, first: PageId, offset: u64, buf: &mut [u8]) -> Result<()> {
        Self::read_data(self, first, offset, buf)
    }
}

impl TreeRead for WriteTransaction {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Self::get(self, tree, key)
    }

    fn range<'k, R: RangeBounds<&'k [u8]>>(&self, tree: &str, range: R) -> Result<Entries<'_>> {
        Self::range(self, tree, range)
    }

    fn bounds(&self) -> super::Bounds {
        Self::bounds(self)
    }

    fn read_data(&self, first: PageId, offset: u64, buf: &mut [u8]) -> Result<()> {
        Self::read_data(self, first, offset, buf)
    }
}

/// A consistent snapshot of one commit. Holds no lock: writers in this and other
/// processes go on while it lives.
#[derive(Debug)]
pub struct ReadTransaction {
    txn: pager::ReadTxn,
    /// The commit's pending entries (see [`super::pending`]).
    pub(super) pending: Pending,
}

impl ReadTransaction {
    pub(super) fn new(txn: pager::ReadTxn) -> Result<Self> {
        let pending = Pending::decode(&txn.state().slot.pending)?;
        Ok(Self { txn, pending })
    }

    /// True when this snapshot is pinned for every process (see
    /// [`super::Engine::begin_read_pinned`]): no writer reuses its pages while it lives.
    #[must_use]
    pub fn is_pinned(&self) -> bool {
        self.txn.is_pinned()
    }

    /// The pager's snapshot under this transaction.
    pub(crate) fn pager_txn(&self) -> &pager::ReadTxn {
        &self.txn
    }

    /// The commit this snapshot reads.
    #[must_use]
    pub fn txn_id(&self) -> TxnId {
        self.txn.state().txn()
    }

    /// The file's page size.
    #[must_use]
    pub fn page_size(&self) -> u32 {
        self.txn.pager().page_size()
    }

    /// The page size and page count of the commit this snapshot reads.
    pub(crate) fn bounds(&self) -> super::Bounds {
        super::Bounds {
            page_size: self.page_size(),
            page_count: self.txn.state().slot.page_count,
        }
    }

    /// Every data extent: first page and page count, in page order.
    pub(crate) fn extents(&self) -> Result<Vec<(PageId, u32)>> {
        let mut out = Vec::new();
        for item in self.range(EXTENTS_TREE, ..)? {
            let (key, value) = item?;
            let first = decode_extent_key(&key)?;
            out.push((first, decode_extent_len(&value, first)?));
        }
        Ok(out)
    }

    /// Turns a corruption error met while reading into [`Error::StaleSnapshot`] when a
    /// writer may have reused this snapshot's pages since.
    fn classify(&self, err: Error) -> Error {
        // A pinned snapshot's pages are never reused: what it meets is damage.
        if !err.is_corruption() || self.txn.is_pinned() {
            return err;
        }
        match self.txn.pager().latest() {
            // Any newer commit may have reused this snapshot's pages (window-local pages
            // are reused before a durable commit), so a mismatch is worth a retry.
            Ok(latest) if latest.txn() > self.txn.state().txn() => Error::StaleSnapshot,
            _ => err,
        }
    }

    fn root(&self, tree: &str) -> Result<Option<NodePtr>> {
        btree::get(&self.txn, self.txn.master_root(), tree.as_bytes())?
            .map(|bytes| decode_root(&bytes))
            .transpose()
    }

    /// The value stored under `key` in `tree`, if any.
    pub fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.pending.get(tree, key) {
            return Ok(Some(value.to_vec()));
        }
        let run = || btree::get(&self.txn, self.root(tree)?, key);
        run().map_err(|e| self.classify(e))
    }

    /// Entries of `tree` with keys in `range`, in key order.
    pub fn range<'k, R: RangeBounds<&'k [u8]>>(&self, tree: &str, range: R) -> Result<Entries<'_>> {
        self.entries(tree, range, false)
    }

    /// Entries of `tree` with keys in `range`, from the largest key down.
    pub fn range_rev<'k, R: RangeBounds<&'k [u8]>>(
        &self,
        tree: &str,
        range: R,
    ) -> Result<Entries<'_>> {
        self.entries(tree, range, true)
    }

    fn entries<'k, R: RangeBounds<&'k [u8]>>(
        &self,
        tree: &str,
        range: R,
        reverse: bool,
    ) -> Result<Entries<'_>> {
        let root = self.root(tree).map_err(|e| self.classify(e))?;
        let range = bounds(&range);
        let iter = btree::range(&self.txn, root, range);
        let pending = self.pending.range(tree, range);
        let inner: BoxedEntries<'_> = if reverse {
            let iter = iter
                .rev()
                .map(move |item| item.map_err(|e| self.classify(e)));
            Box::new(Merge::new(iter, pending, true))
        } else {
            let iter = iter.map(move |item| item.map_err(|e| self.classify(e)));
            Box::new(Merge::new(iter, pending, false))
        };
        Ok(Entries { inner })
    }

    /// Names of the non-empty trees, in byte order.
    pub fn tree_names(&self) -> Result<Vec<String>> {
        let iter = btree::range(&self.txn, self.txn.master_root(), ALL);
        let mut names: Vec<String> = iter
            .filter_map(|item| match item {
                Ok((name, _)) if is_reserved(&name) => None,
                Ok((name, _)) => Some(String::from_utf8(name).map_err(|_| {
                    Error::corrupt_file(crate::CorruptionKind::Invalid("tree name is not UTF-8"))
                })),
                Err(e) => Some(Err(self.classify(e))),
            })
            .collect::<Result<_>>()?;
        // A tree may exist only through pending entries.
        names.extend(
            self.pending
                .tree_names()
                .filter(|name| !is_reserved(name.as_bytes()))
                .map(str::to_owned),
        );
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// Reads bytes of a data extent (see [`WriteTransaction::alloc_extent`]).
    pub(crate) fn read_data(&self, first: PageId, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.txn
            .read_data(first, offset, buf)
            .map_err(|e| self.classify(e))
    }

    /// A snapshot of the newest commit, when it is not the one this snapshot reads; `None`
    /// while this snapshot is still the newest (no writer can have reused its pages then:
    /// writers reuse only pages free in the newest commit).
    pub(crate) fn newer(&self) -> Result<Option<ReadTransaction>> {
        if self.txn.is_pinned() {
            return Ok(None);
        }
        let pager = self.txn.pager();
        // The common case, checked cheaply: no commit since the snapshot.
        if pager
            .newest_txn_verified()?
            .is_some_and(|newest| newest <= self.txn.state().txn())
        {
            return Ok(None);
        }
        if *pager.latest()? == *self.txn.state() {
            return Ok(None);
        }
        Ok(Some(Self::new(pager.begin_read()?)?))
    }

    /// True if a writer may have reused pages of this snapshot since it was taken, so a
    /// mismatch read now may be reuse rather than damage.
    pub(crate) fn is_stale(&self) -> bool {
        matches!(
            self.classify(Error::corrupt_file(crate::CorruptionKind::Cycle)),
            Error::StaleSnapshot
        )
    }
}

/// The one write transaction of the file. Changes are invisible to readers until
/// [`WriteTransaction::commit`]; dropping the transaction discards them.
#[derive(Debug)]
pub struct WriteTransaction {
    pub(super) txn: pager::WriteTxn,
    pub(super) master: TreeMut,
    pub(super) trees: BTreeMap<String, TreeMut>,
    /// Pending entries in effect (see [`super::pending`]): the base commit's, plus this
    /// transaction's [`WriteTransaction::insert_pending`]s.
    pending: Pending,
}

impl WriteTransaction {
    pub(super) fn new(txn: pager::WriteTxn) -> Result<Self> {
        let master = TreeMut::new(txn.master_root());
        let pending = Pending::decode(txn.base_pending())?;
        Ok(Self {
            txn,
            master,
            trees: BTreeMap::new(),
            pending,
        })
    }

    /// The file's page size.
    #[must_use]
    pub fn page_size(&self) -> u32 {
        u32::try_from(PageRead::page_size(&self.txn)).expect("page sizes fit u32")
    }

    /// The page size and the page count as this transaction would commit it.
    pub(crate) fn bounds(&self) -> super::Bounds {
        super::Bounds {
            page_size: self.page_size(),
            page_count: self.txn.page_count(),
        }
    }

    /// The page count of the data extent that starts at `first`, if there is one. An
    /// extent outside the file, or over free pages, is corruption: freeing or writing it
    /// would damage pages something else holds.
    pub(crate) fn extent_pages(&mut self, first: PageId) -> Result<Option<u32>> {
        let Some(value) = self.get(EXTENTS_TREE, &first.0.to_be_bytes())? else {
            return Ok(None);
        };
        let count = decode_extent_len(&value, first)?;
        if !self.bounds().holds_extent(first.0, count) {
            return Err(Error::corrupt(
                first,
                crate::CorruptionKind::PageOutOfRange(first.0),
            ));
        }
        if self.txn.overlaps_free(first, count) {
            return Err(Error::corrupt(
                first,
                crate::CorruptionKind::Invalid("data extent overlaps free pages"),
            ));
        }
        Ok(Some(count))
    }

    /// The id this transaction will commit under.
    #[must_use]
    pub fn txn_id(&self) -> TxnId {
        PageWrite::txn_id(&self.txn)
    }

    /// Loads `tree` into the set of trees this transaction changes.
    fn load(&mut self, tree: &str) -> Result<()> {
        if self.trees.contains_key(tree) {
            return Ok(());
        }
        if tree != EXTENTS_TREE {
            validate_name(tree, self.txn.page_size())?;
        }
        self.load_unchecked(tree)
    }

    /// Loads `tree` without checking its name (names read from the master tree).
    pub(super) fn load_unchecked(&mut self, tree: &str) -> Result<()> {
        if self.trees.contains_key(tree) {
            return Ok(());
        }
        let root = self
            .master
            .get(&self.txn, tree.as_bytes())?
            .map(|bytes| decode_root(&bytes))
            .transpose()?;
        self.trees.insert(tree.to_owned(), TreeMut::new(root));
        Ok(())
    }

    /// Inserts or replaces `key` in `tree`, creating the tree if needed.
    pub fn insert(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.materialize(tree)?;
        let t = self.trees.get_mut(tree).expect("tree was loaded");
        t.insert(&mut self.txn, key, value)
    }

    /// Inserts or replaces `key` in `tree`, like [`WriteTransaction::insert`], as a
    /// *pending* entry: if the transaction changes no tree otherwise and its pending entries
    /// are small (together at most about a quarter of a page), the commit keeps them in its
    /// commit slot instead of copying tree pages on write, so a durable commit writes one
    /// page fewer per tree touched. Readers see a pending entry exactly as an inserted one;
    /// a later insert or removal in the tree writes the tree's pending entries into it.
    ///
    /// If the transaction has already changed a tree, this is a plain insert (the commit
    /// writes tree pages anyway). Meant for a few small values rewritten by many small
    /// commits (a log's end offset, a consumer's position).
    ///
    /// ```
    /// use brooklet::engine::{Engine, EngineOptions};
    /// use brooklet::Durability;
    ///
    /// # fn main() -> brooklet::Result<()> {
    /// let dir = tempfile::tempdir()?;
    /// let engine = Engine::open(dir.path().join("kv.brooklet"), &EngineOptions::default())?;
    /// for n in 0u64..10 {
    ///     let mut txn = engine.begin_write()?;
    ///     txn.insert_pending("counters", b"events", &n.to_le_bytes())?;
    ///     txn.commit(Durability::Immediate)?;
    /// }
    /// let read = engine.begin_read()?;
    /// assert_eq!(read.get("counters", b"events")?, Some(9u64.to_le_bytes().to_vec()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn insert_pending(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<()> {
        if tree != EXTENTS_TREE {
            validate_name(tree, self.txn.page_size())?;
        }
        let max = btree::max_key_len(self.txn.page_size());
        if key.len() > max {
            return Err(Error::invalid(format!(
                "key of {} bytes exceeds the maximum of {max}",
                key.len()
            )));
        }
        if self.changes_trees() {
            // The commit writes tree pages anyway, and would write this entry with them.
            return self.insert(tree, key, value);
        }
        self.pending.insert(tree, key, value);
        Ok(())
    }

    /// True if this transaction has changed a tree (not counting pending entries): its
    /// commit writes tree pages anyway, so pending entries would gain nothing.
    pub(crate) fn changes_trees(&self) -> bool {
        self.master.is_dirty() || self.trees.values().any(TreeMut::is_dirty)
    }

    /// Writes the pending entries of `tree` into it (loading it).
    fn materialize(&mut self, tree: &str) -> Result<()> {
        self.load(tree)?;
        let entries = self.pending.take_tree(tree);
        let t = self.trees.get_mut(tree).expect("tree was loaded");
        for (key, value) in entries {
            t.insert(&mut self.txn, &key, &value)?;
        }
        Ok(())
    }

    /// The value under `key` in `tree`, including this transaction's changes.
    pub fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.pending.get(tree, key) {
            return Ok(Some(value.to_vec()));
        }
        match self.trees.get(tree) {
            Some(loaded) => loaded.get(&self.txn, key),
            None => btree::get(&self.txn, self.committed_root(tree)?, key),
        }
    }

    /// Calls `f` with `tree` as this transaction sees it: loaded (changed) or as committed.
    fn with_tree<T>(&self, tree: &str, f: impl FnOnce(&TreeMut) -> Result<T>) -> Result<T> {
        if let Some(loaded) = self.trees.get(tree) {
            return f(loaded);
        }
        f(&TreeMut::new(self.committed_root(tree)?))
    }

    /// The root of `tree` as the base commit (or this transaction's master tree) has it,
    /// for a tree this transaction has not loaded.
    fn committed_root(&self, tree: &str) -> Result<Option<NodePtr>> {
        if tree != EXTENTS_TREE {
            validate_name(tree, self.txn.page_size())?;
        }
        self.master
            .get(&self.txn, tree.as_bytes())?
            .map(|bytes| decode_root(&bytes))
            .transpose()
    }

    /// Removes `key` from `tree`. Returns whether it was present.
    pub fn remove(&mut self, tree: &str, key: &[u8]) -> Result<bool> {
        self.materialize(tree)?;
        let t = self.trees.get_mut(tree).expect("tree was loaded");
        t.remove(&mut self.txn, key)
    }

    /// Removes every key of `tree` in `range`. Returns how many were removed.
    pub fn remove_range<'k, R: RangeBounds<&'k [u8]>>(
        &mut self,
        tree: &str,
        range: R,
    ) -> Result<u64> {
        self.materialize(tree)?;
        let t = self.trees.get_mut(tree).expect("tree was loaded");
        t.remove_range(&mut self.txn, bounds(&range))
    }

    /// Removes a whole tree and frees its pages.
    pub fn drop_tree(&mut self, tree: &str) -> Result<()> {
        self.remove_range(tree, ..).map(|_| ())
    }

    /// Entries of `tree` with keys in `range`, including this transaction's changes, in key
    /// order. Collected when called, since the transaction may change the tree afterwards.
    pub fn range<'k, R: RangeBounds<&'k [u8]>>(&self, tree: &str, range: R) -> Result<Entries<'_>> {
        self.collected(tree, bounds(&range), false)
    }

    /// Entries of `tree` with keys in `range`, from the largest key down.
    pub fn range_rev<'k, R: RangeBounds<&'k [u8]>>(
        &self,
        tree: &str,
        range: R,
    ) -> Result<Entries<'_>> {
        self.collected(tree, bounds(&range), true)
    }

    fn collected(
        &self,
        tree: &str,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
    ) -> Result<Entries<'_>> {
        let entries: Vec<KeyValue> = self.with_tree(tree, |tree_mut| {
            let pending = self.pending.range(tree, range);
            let iter = tree_mut.range(&self.txn, range);
            if reverse {
                Merge::new(iter.rev(), pending, true).collect()
            } else {
                Merge::new(iter, pending, false).collect()
            }
        })?;
        Ok(Entries {
            inner: Box::new(entries.into_iter().map(Ok)),
        })
    }

    /// The first `limit` entries of `tree` in `range`, including this transaction's changes.
    pub(crate) fn first_entries<'k, R: RangeBounds<&'k [u8]>>(
        &self,
        tree: &str,
        range: R,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let range = bounds(&range);
        self.with_tree(tree, |tree_mut| {
            let pending = self.pending.range(tree, range);
            Merge::new(tree_mut.range(&self.txn, range), pending, false)
                .take(limit)
                .collect()
        })
    }

    /// Commits every change atomically at `durability` and returns the commit's txn id.
    pub fn commit(mut self, durability: Durability) -> Result<TxnId> {
        // Pending entries stay in the slot only if the commit writes no tree page anyway
        // and they fit; otherwise they go into their trees.
        let keep = if self.changes_trees() {
            None
        } else {
            self.pending
                .encode()
                .filter(|bytes| bytes.len() <= self.txn.pending_capacity())
        };
        let pending = if let Some(bytes) = keep {
            bytes
        } else {
            let names: Vec<String> = self.pending.tree_names().map(str::to_owned).collect();
            for name in names {
                self.materialize(&name)?;
            }
            Vec::new()
        };
        self.txn.set_pending(pending);
        let trees = std::mem::take(&mut self.trees);
        for (name, mut tree) in trees {
            if !tree.is_dirty() {
                continue;
            }
            match tree.flush(&mut self.txn)? {
                Some(root) => {
                    self.master
                        .insert(&mut self.txn, name.as_bytes(), &encode_root(root))?;
                }
                None => {
                    self.master.remove(&mut self.txn, name.as_bytes())?;
                }
            }
        }
        if self.master.is_dirty() {
            let root = self.master.flush(&mut self.txn)?;
            self.txn.set_master_root(root);
        }
        self.txn.commit(durability)
    }

    /// Allocates a data extent of `page_count` contiguous pages and records it in the
    /// engine's extents tree, so `check` accounts for its pages.
    pub(crate) fn alloc_extent(&mut self, page_count: u32) -> Result<PageId> {
        let first = self.txn.alloc_pages(page_count)?;
        self.insert(
            EXTENTS_TREE,
            &first.0.to_be_bytes(),
            &encode_extent_len(page_count),
        )?;
        Ok(first)
    }

    /// Frees a data extent allocated by [`WriteTransaction::alloc_extent`].
    pub(crate) fn free_extent(&mut self, first: PageId) -> Result<()> {
        let count = self.extent_pages(first)?.ok_or_else(|| {
            Error::corrupt(first, crate::CorruptionKind::Invalid("unknown extent"))
        })?;
        self.remove(EXTENTS_TREE, &first.0.to_be_bytes())?;
        self.txn.free_pages(first, count);
        Ok(())
    }

    /// Writes into a data extent at byte `offset` from its first page; see
    /// [`crate::pager::WriteTxn::write_data`] for what may be overwritten.
    pub(crate) fn write_data(&mut self, first: PageId, offset: u64, data: &[u8]) -> Result<()> {
        self.txn.write_data(first, offset, data)
    }

    /// Reads committed bytes of a data extent.
    pub(crate) fn read_data(&self, first: PageId, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.txn.read_data(first, offset, buf)
    }

    /// Discards every change and releases the writer lock.
    pub fn abort(self) {}
}
