//! The async API's commit watcher (feature `tokio`): one per [`Brooklet`] handle, shared by
//! its clones, so that any number of idle record streams and async waits cost one thread.
//!
//! The watcher is a plain thread, started when the first async waiter subscribes and
//! stopped when none is left (it checks on every round, so within about a millisecond of
//! the last waiter going). Each round it re-reads the newest commit's id from the file
//! (commits by other processes are seen so, within about a millisecond) and publishes it on
//! a `tokio::sync::watch` channel when it changed; between rounds it waits on the handle's
//! commit queue with a 1 ms timeout, so a commit made through this handle's producers
//! (or the end of one of its transactions) wakes it at once. Waiters await the channel, then fetch on tokio's blocking pool: no
//! runtime worker ever reads the file or takes a lock on it.
//!
//! Invariants:
//! 1. At most one watcher thread runs per handle: `WatchState::sender` is set exactly while
//!    one runs, and both the start (in [`Brooklet::subscribe_commits`]) and the stop (the
//!    thread seeing no receiver) happen under the state's lock.
//! 2. A waiter marks the channel's value seen *before* it fetches, so a commit that lands
//!    between its fetch and its wait still wakes it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::{Brooklet, Inner, TopicPartition};
use crate::TxnId;
use crate::error::{Error, Result};
use crate::log::read::Isolation;

/// How long the watcher waits on the commit queue between two reads of the commit slots.
const ROUND: Duration = Duration::from_millis(1);

/// The watcher's channel: the newest commit id seen (`None` before the first read), and a
/// count bumped on a failed read so that waiters re-check and meet the error themselves.
type Seen = (Option<TxnId>, u64);

/// The per-handle watcher's state; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    state: Mutex<WatchState>,
    /// Watcher threads alive (0 or 1, invariant 1): for tests.
    running: AtomicUsize,
}

#[derive(Debug, Default)]
struct WatchState {
    /// The channel's sender while a watcher thread runs.
    sender: Option<Arc<watch::Sender<Seen>>>,
}

/// A subscription to the handle's commits: what async waiters await.
#[derive(Clone, Debug)]
pub(crate) struct Commits {
    receiver: watch::Receiver<Seen>,
}

impl Commits {
    /// Marks the current value seen: the next [`Commits::changed`] waits for a newer one.
    pub fn mark_seen(&mut self) {
        self.receiver.borrow_and_update();
    }

    /// Waits until the watcher publishes a commit newer than the one last marked seen.
    pub async fn changed(&mut self) {
        if self.receiver.changed().await.is_err() {
            // The watcher is gone (it panicked): fall back to a poll's pace.
            tokio::time::sleep(ROUND).await;
        }
    }
}

impl Brooklet {
    /// Subscribes to this handle's commits, starting the watcher thread if none runs.
    pub(crate) fn subscribe_commits(&self) -> Result<Commits> {
        let watch = &self.inner.watch;
        let mut state = watch.state.lock().expect("watch lock");
        if let Some(sender) = &state.sender {
            return Ok(Commits {
                receiver: sender.subscribe(),
            });
        }
        let (sender, receiver) = watch::channel((None, 0));
        let sender = Arc::new(sender);
        let inner = Arc::downgrade(&self.inner);
        let thread_sender = Arc::clone(&sender);
        watch.running.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("brooklet-watch".to_owned())
            .spawn(move || watch_commits(&inner, &thread_sender));
        if let Err(e) = spawned {
            watch.running.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::Io(e));
        }
        state.sender = Some(sender);
        Ok(Commits { receiver })
    }

    /// How many commit watcher threads this handle (and its clones) has running: 1 while
    /// any async stream or wait is alive, else 0 (shortly after the last one ends). The
    /// `testing` feature only.
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn async_watchers(&self) -> usize {
        self.inner.watch.running.load(Ordering::Relaxed)
    }

    /// The async form of [`Brooklet::wait_for_records`] (feature `tokio`): waits until any
    /// of `positions` has records at or after its offset below the last stable offset, or
    /// until `timeout`, without holding a thread while it waits. Returns whether records
    /// are available.
    ///
    /// Every async waiter of a handle shares its one watcher thread (see the crate's
    /// README, *Async (tokio)*): a commit through this handle wakes the wait at once, one
    /// by another process within about a millisecond. The checks run on tokio's blocking
    /// pool. The runtime needs its time driver (`#[tokio::main]` and
    /// `Runtime::new` enable it).
    ///
    /// ```
    /// use brooklet::{Brooklet, Record, TopicConfig, TopicPartition};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> brooklet::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
    /// db.admin().create_topic("orders", 1, TopicConfig::default())?;
    /// let orders = [(TopicPartition::new("orders", 0), 0)];
    /// assert!(!db.wait_for_records_async(&orders, Duration::ZERO).await?);
    /// let producer = db.async_producer();
    /// let waiting = db.wait_for_records_async(&orders, Duration::from_secs(30));
    /// let (ready, _sent) = tokio::join!(waiting, producer.send("orders", Record::value("one")));
    /// assert!(ready?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_for_records_async(
        &self,
        positions: &[(TopicPartition, u64)],
        timeout: Duration,
    ) -> Result<bool> {
        self.wait_for_records_async_with(positions, timeout, Isolation::ReadCommitted)
            .await
    }

    /// [`Brooklet::wait_for_records_async`] for a reader at `isolation`: under
    /// [`Isolation::ReadUncommitted`], records of open transactions count too (a Kafka
    /// Fetch at `read_uncommitted`).
    pub async fn wait_for_records_async_with(
        &self,
        positions: &[(TopicPartition, u64)],
        timeout: Duration,
        isolation: Isolation,
    ) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut commits = self.subscribe_commits()?;
        let positions: Arc<[(TopicPartition, u64)]> = positions.into();
        loop {
            commits.mark_seen();
            let (db, positions) = (self.clone(), Arc::clone(&positions));
            if blocking(move || db.any_readable(&positions, isolation)).await? {
                return Ok(true);
            }
            if tokio::time::timeout_at(deadline, commits.changed())
                .await
                .is_err()
            {
                return Ok(false);
            }
        }
    }
}

/// Runs `f` on tokio's blocking pool and returns its result. A panic in `f` is carried on
/// to the caller, as the blocking call's would be; a runtime shutting down before `f` ran
/// is [`Error::Closed`].
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    join(tokio::task::spawn_blocking(f).await)?
}

/// A blocking task's outcome: its panic carried on, or cancellation (the runtime shut
/// down) as [`Error::Closed`].
pub(crate) fn join<T>(joined: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    match joined {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::Closed("the tokio runtime")),
    }
}

/// The watcher thread's loop; see the module docs. It holds the handle only weakly between
/// rounds, so it never keeps a closed handle open.
fn watch_commits(inner: &Weak<Inner>, sender: &watch::Sender<Seen>) {
    let mut last = None;
    loop {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        {
            let mut state = inner.watch.state.lock().expect("watch lock");
            if sender.receiver_count() == 0 {
                state.sender = None;
                inner.watch.running.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
        if let Ok(txn) = inner.engine.latest_txn() {
            if last != Some(txn) {
                last = Some(txn);
                sender.send_modify(|seen| seen.0 = Some(txn));
            }
            inner.queue.wait_commit(txn, ROUND);
        } else {
            // The waiters' own reads meet the error and end their streams.
            sender.send_modify(|seen| seen.1 = seen.1.wrapping_add(1));
            std::thread::sleep(ROUND);
        }
    }
}
