//! L0, the handle's statistics: counters of what one open handle has done since it was
//! opened (commits, syncs, bytes, pages, cache lookups, group commits), and the public
//! [`Stats`] snapshot of them with the file's own figures beside them.
//!
//! Every layer that does the counted work increments its counter here: the storage
//! wrapper in the pager counts bytes and syncs, the pager commits, pages and cache
//! lookups, the producer's commit queue its groups. This module calls nothing; it holds
//! plain numbers.
//!
//! Invariants:
//! 1. Counters only grow (except the gauges of [`FileStats`], which describe one commit).
//! 2. Increments are relaxed atomic adds, never a lock, so counting costs the hot path one
//!    uncontended atomic instruction. A snapshot reads each counter once: counters read
//!    while other threads work may be a few increments apart from each other, never torn.
//! 3. Counters belong to one opened handle (one `Brooklet::open`) and are shared by all its
//!    clones, like the page cache; another handle on the same file, in this process or
//!    another, counts its own.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// What one handle has done since it was opened, and the state of the file as it last saw
/// it, from [`Brooklet::stats`](crate::Brooklet::stats).
///
/// The counters (every field but [`Stats::file`]) count since the handle was opened,
/// including the work of opening it (recovery's reads, a new file's first writes and syncs,
/// retention run at open). They belong to the handle: clones of a `Brooklet` share them
/// (as they share the page cache); another `Brooklet::open` of the same file, in this
/// process or another, counts its own. Take two snapshots and subtract to measure a piece
/// of work ([`Stats::since`]).
///
/// Reading them is cheap: a relaxed load per counter, and for [`Stats::file`] the handle's
/// last seen commit (no I/O unless the free list is stored in a blob not read yet).
///
/// [`Stats::fields`] lists every figure by name, for printing or for exporting to a
/// metrics system; `Display` prints them one per line.
///
/// ```
/// use brooklet::{Brooklet, Record, TopicConfig};
///
/// # fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
/// db.admin().create_topic("orders", 1, TopicConfig::default())?;
/// let before = db.stats();
/// db.producer().send("orders", Record::value("one"))?; // durable: one fdatasync
/// let spent = db.stats().since(&before);
/// assert_eq!((spent.commits_immediate, spent.fdatasyncs), (1, 1));
/// assert!(spent.bytes_written >= 3);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Commits written at [`Durability::None`](crate::Durability::None): no `fdatasync`
    /// (unless made durable, see [`Stats::commits_made_durable`]). Counted once the commit
    /// slot is written; a transaction that changed nothing writes no commit and counts
    /// nothing.
    pub commits_none: u64,
    /// Commits written at [`Durability::Immediate`](crate::Durability::Immediate): one
    /// `fdatasync` each. `flush` is one of these when the last commit was not durable.
    pub commits_immediate: u64,
    /// Commits written at [`Durability::Paranoid`](crate::Durability::Paranoid): two
    /// `fdatasync`s each.
    ///
    /// An `Immediate` or `Paranoid` commit over more than 64 pages written since the last
    /// durable commit is followed by a no-op commit that is not durable (one slot write,
    /// no sync), so that opening the file does not read those pages back. It counts in
    /// none of the commit counters; its write counts in [`Stats::write_calls`] and
    /// [`Stats::bytes_written`].
    pub commits_paranoid: u64,
    /// Of [`Stats::commits_none`], the commits made durable anyway (one `fdatasync` each)
    /// to bound recovery: one that would leave more than 1024 commits that wrote pages, or
    /// more than 65536 written pages, in the journal window since the last durable commit.
    /// (Commits held whole in the commit slot write no page and add nothing to the window.)
    /// Vacuum's shrinking commit is always durable and counts here when asked for `None`.
    pub commits_made_durable: u64,
    /// `fdatasync` calls on the file (successful or not): one per `Immediate` commit and
    /// per commit made durable, two per `Paranoid` commit, and two when the handle created
    /// the file.
    pub fdatasyncs: u64,
    /// Bytes written to the storage (every page, data run and commit slot; not the
    /// operating system's own copies).
    pub bytes_written: u64,
    /// Write calls (`pwrite`) on the storage.
    pub write_calls: u64,
    /// Bytes read from the storage: pages that missed the cache, record data, commit
    /// slots re-read at the start of each transaction, recovery's reads at open. Reads
    /// served by the page cache are not counted here.
    pub bytes_read: u64,
    /// Read calls (`pread`) on the storage.
    pub read_calls: u64,
    /// Pages allocated by this handle's commits (B-tree nodes, data extents, metadata
    /// blobs), reused from the free list or taken past the end of the file. Pages of a
    /// transaction that was dropped or failed are not counted.
    pub pages_allocated: u64,
    /// Of [`Stats::pages_allocated`], those taken past the end of the file (it grew) rather
    /// than reused from the free list.
    pub pages_grown: u64,
    /// Pages this handle's commits returned to the free list (copy-on-write, retention,
    /// compaction, deleted topics), including pages a transaction allocated and freed
    /// itself.
    pub pages_freed: u64,
    /// B-tree and metadata page lookups served by the page cache.
    pub cache_hits: u64,
    /// Page lookups the cache could not serve (the page was read from the storage). Record
    /// data is read straight from the storage and counts in neither.
    pub cache_misses: u64,
    /// Commits that wrote the *pending data* of the commit before them (record batches
    /// small commits keep in the commit slot, FORMAT.md *Pending data and entries*) into
    /// their segment in the file.
    pub pending_data_flushes: u64,
    /// Commits that wrote the *pending entries* of the commit before them (small tree
    /// values kept in the commit slot) into their trees.
    pub pending_entry_flushes: u64,
    /// Group commits: commits of the producer's commit queue (`send` and its kin), each
    /// holding one or more requests.
    pub group_commits: u64,
    /// Requests committed by [`Stats::group_commits`]; the mean group size is this divided
    /// by `group_commits`.
    pub group_requests: u64,
    /// The largest number of requests one group commit held.
    pub group_largest: u64,
    /// The file as of the newest commit this handle has seen.
    pub file: FileStats,
}

/// The file's part of [`Stats`]: figures of one commit (the newest this handle has seen),
/// not of the handle. Every handle on the file reports the same figures for the same
/// commit. `brooklet info` prints them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileStats {
    /// The commit these figures describe: the newest this handle has read or written.
    /// A commit by another process is seen at the handle's next read or write.
    pub txn: u64,
    /// Commits since the last durable one (0 when the newest commit is durable): what a
    /// power cut could lose.
    pub commits_since_durable: u64,
    /// Pages in the file, header pages included (the file on disk may be longer: space is
    /// preallocated in steps).
    pub page_count: u64,
    /// Free pages: exactly the pages on the commit's free list, whether reusable now or
    /// waiting for readers or a durable commit; the figure `brooklet check` reports as
    /// `free`.
    pub free_pages: u64,
    /// Runs of contiguous free pages on the free list.
    pub free_extents: u64,
    /// Bytes of record batches the commit holds in its slot rather than in their segment.
    pub pending_data_bytes: u64,
    /// Bytes of tree entries the commit holds in its slot rather than in their trees.
    pub pending_entry_bytes: u64,
}

impl FileStats {
    /// Every figure by name, in a fixed order.
    #[must_use]
    pub fn fields(&self) -> [(&'static str, u64); 7] {
        [
            ("txn", self.txn),
            ("commits_since_durable", self.commits_since_durable),
            ("page_count", self.page_count),
            ("free_pages", self.free_pages),
            ("free_extents", self.free_extents),
            ("pending_data_bytes", self.pending_data_bytes),
            ("pending_entry_bytes", self.pending_entry_bytes),
        ]
    }
}

impl Stats {
    /// Every counter of the handle by name, in a fixed order, then the file's figures
    /// named `file.NAME`.
    #[must_use]
    pub fn fields(&self) -> Vec<(&'static str, u64)> {
        let own = [
            ("commits_none", self.commits_none),
            ("commits_immediate", self.commits_immediate),
            ("commits_paranoid", self.commits_paranoid),
            ("commits_made_durable", self.commits_made_durable),
            ("fdatasyncs", self.fdatasyncs),
            ("bytes_written", self.bytes_written),
            ("write_calls", self.write_calls),
            ("bytes_read", self.bytes_read),
            ("read_calls", self.read_calls),
            ("pages_allocated", self.pages_allocated),
            ("pages_grown", self.pages_grown),
            ("pages_freed", self.pages_freed),
            ("cache_hits", self.cache_hits),
            ("cache_misses", self.cache_misses),
            ("pending_data_flushes", self.pending_data_flushes),
            ("pending_entry_flushes", self.pending_entry_flushes),
            ("group_commits", self.group_commits),
            ("group_requests", self.group_requests),
            ("group_largest", self.group_largest),
        ];
        let file = FILE_NAMES
            .into_iter()
            .zip(self.file.fields())
            .map(|(name, (_, value))| (name, value));
        own.into_iter().chain(file).collect()
    }

    /// The counters spent since `earlier` (a snapshot of the same handle): each counter's
    /// difference. [`Stats::group_largest`] and the file's figures are this snapshot's.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        Self {
            commits_none: d(self.commits_none, earlier.commits_none),
            commits_immediate: d(self.commits_immediate, earlier.commits_immediate),
            commits_paranoid: d(self.commits_paranoid, earlier.commits_paranoid),
            commits_made_durable: d(self.commits_made_durable, earlier.commits_made_durable),
            fdatasyncs: d(self.fdatasyncs, earlier.fdatasyncs),
            bytes_written: d(self.bytes_written, earlier.bytes_written),
            write_calls: d(self.write_calls, earlier.write_calls),
            bytes_read: d(self.bytes_read, earlier.bytes_read),
            read_calls: d(self.read_calls, earlier.read_calls),
            pages_allocated: d(self.pages_allocated, earlier.pages_allocated),
            pages_grown: d(self.pages_grown, earlier.pages_grown),
            pages_freed: d(self.pages_freed, earlier.pages_freed),
            cache_hits: d(self.cache_hits, earlier.cache_hits),
            cache_misses: d(self.cache_misses, earlier.cache_misses),
            pending_data_flushes: d(self.pending_data_flushes, earlier.pending_data_flushes),
            pending_entry_flushes: d(self.pending_entry_flushes, earlier.pending_entry_flushes),
            group_commits: d(self.group_commits, earlier.group_commits),
            group_requests: d(self.group_requests, earlier.group_requests),
            group_largest: self.group_largest,
            file: self.file,
        }
    }
}

/// The names [`Stats::fields`] gives the file's figures: [`FileStats::fields`]'s names, in
/// its order, after `file.`.
const FILE_NAMES: [&str; 7] = [
    "file.txn",
    "file.commits_since_durable",
    "file.page_count",
    "file.free_pages",
    "file.free_extents",
    "file.pending_data_bytes",
    "file.pending_entry_bytes",
];

impl fmt::Display for Stats {
    /// One `name value` line per figure, as [`Stats::fields`] lists them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in self.fields() {
            writeln!(f, "{name} {value}")?;
        }
        Ok(())
    }
}

/// The live counters behind [`Stats`] (all but the file's figures), one set per handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    commits_none: AtomicU64,
    commits_immediate: AtomicU64,
    commits_paranoid: AtomicU64,
    commits_made_durable: AtomicU64,
    fdatasyncs: AtomicU64,
    bytes_written: AtomicU64,
    write_calls: AtomicU64,
    bytes_read: AtomicU64,
    read_calls: AtomicU64,
    pages_allocated: AtomicU64,
    pages_grown: AtomicU64,
    pages_freed: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    pending_data_flushes: AtomicU64,
    pending_entry_flushes: AtomicU64,
    group_commits: AtomicU64,
    group_requests: AtomicU64,
    group_largest: AtomicU64,
}

/// What a commit did, counted once its slot is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CommitCounts {
    /// `0` for `None`, `1` for `Immediate`, `2` for `Paranoid`: the durability asked for.
    pub level: u8,
    /// Asked for `None` but made durable.
    pub made_durable: bool,
    pub pages_allocated: u64,
    pub pages_grown: u64,
    pub pages_freed: u64,
    /// Wrote the pending data of the commit before it into the file.
    pub pending_data_flushed: bool,
    /// Wrote the pending entries of the commit before it into their trees.
    pub pending_entries_flushed: bool,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// One read call of `bytes` bytes.
    pub fn read(&self, bytes: usize) {
        add(&self.read_calls, 1);
        add(&self.bytes_read, bytes as u64);
    }

    /// One write call of `bytes` bytes.
    pub fn write(&self, bytes: usize) {
        add(&self.write_calls, 1);
        add(&self.bytes_written, bytes as u64);
    }

    /// One `fdatasync`.
    pub fn sync(&self) {
        add(&self.fdatasyncs, 1);
    }

    /// One page cache lookup.
    pub fn cache_lookup(&self, hit: bool) {
        add(
            if hit {
                &self.cache_hits
            } else {
                &self.cache_misses
            },
            1,
        );
    }

    /// One commit written.
    pub fn commit(&self, c: &CommitCounts) {
        add(
            match c.level {
                0 => &self.commits_none,
                1 => &self.commits_immediate,
                _ => &self.commits_paranoid,
            },
            1,
        );
        if c.made_durable {
            add(&self.commits_made_durable, 1);
        }
        add(&self.pages_allocated, c.pages_allocated);
        add(&self.pages_grown, c.pages_grown);
        add(&self.pages_freed, c.pages_freed);
        add(
            &self.pending_data_flushes,
            u64::from(c.pending_data_flushed),
        );
        add(
            &self.pending_entry_flushes,
            u64::from(c.pending_entries_flushed),
        );
    }

    /// One group commit of `requests` requests.
    pub fn group_commit(&self, requests: usize) {
        let requests = requests as u64;
        add(&self.group_commits, 1);
        add(&self.group_requests, requests);
        self.group_largest.fetch_max(requests, Ordering::Relaxed);
    }

    /// The counters now, with `file` as the file's figures.
    pub fn snapshot(&self, file: FileStats) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            commits_none: get(&self.commits_none),
            commits_immediate: get(&self.commits_immediate),
            commits_paranoid: get(&self.commits_paranoid),
            commits_made_durable: get(&self.commits_made_durable),
            fdatasyncs: get(&self.fdatasyncs),
            bytes_written: get(&self.bytes_written),
            write_calls: get(&self.write_calls),
            bytes_read: get(&self.bytes_read),
            read_calls: get(&self.read_calls),
            pages_allocated: get(&self.pages_allocated),
            pages_grown: get(&self.pages_grown),
            pages_freed: get(&self.pages_freed),
            cache_hits: get(&self.cache_hits),
            cache_misses: get(&self.cache_misses),
            pending_data_flushes: get(&self.pending_data_flushes),
            pending_entry_flushes: get(&self.pending_entry_flushes),
            group_commits: get(&self.group_commits),
            group_requests: get(&self.group_requests),
            group_largest: get(&self.group_largest),
            file,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_differences() {
        let counters = Counters::default();
        counters.write(100);
        counters.read(10);
        counters.sync();
        counters.cache_lookup(true);
        counters.cache_lookup(false);
        counters.commit(&CommitCounts {
            level: 1,
            pages_allocated: 3,
            pages_grown: 1,
            pages_freed: 2,
            pending_data_flushed: true,
            ..CommitCounts::default()
        });
        let before = counters.snapshot(FileStats::default());
        counters.group_commit(3);
        counters.group_commit(1);
        counters.commit(&CommitCounts {
            level: 0,
            made_durable: true,
            ..CommitCounts::default()
        });
        let after = counters.snapshot(FileStats {
            free_pages: 7,
            ..FileStats::default()
        });
        assert_eq!(
            (before.bytes_written, before.bytes_read, before.fdatasyncs),
            (100, 10, 1)
        );
        assert_eq!((before.cache_hits, before.cache_misses), (1, 1));
        assert_eq!(
            (
                before.pages_allocated,
                before.pages_grown,
                before.pages_freed
            ),
            (3, 1, 2)
        );
        let spent = after.since(&before);
        assert_eq!((spent.group_commits, spent.group_requests), (2, 4));
        assert_eq!(spent.group_largest, 3);
        assert_eq!((spent.commits_none, spent.commits_made_durable), (1, 1));
        assert_eq!((spent.commits_immediate, spent.bytes_written), (0, 0));
        assert_eq!(spent.file.free_pages, 7);
    }

    #[test]
    fn fields_name_every_figure_once() {
        let stats = Stats {
            fdatasyncs: 5,
            file: FileStats {
                free_pages: 9,
                ..FileStats::default()
            },
            ..Stats::default()
        };
        let fields = stats.fields();
        let mut names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), fields.len());
        assert!(fields.contains(&("fdatasyncs", 5)));
        assert!(fields.contains(&("file.free_pages", 9)));
        for (full, (bare, _)) in FILE_NAMES.iter().zip(FileStats::default().fields()) {
            assert_eq!(full.strip_prefix("file."), Some(bare));
        }
        let text = stats.to_string();
        assert!(text.contains("fdatasyncs 5\n") && text.contains("file.free_pages 9\n"));
        assert_eq!(text.lines().count(), fields.len());
    }
}
