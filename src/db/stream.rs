//! Record streams (feature `tokio`): [`ReaderStream`] and [`ConsumerStream`], a
//! [`Reader`] or a [`Consumer`] turned into a `futures_core::Stream` of polled batches.
//!
//! A stream owns its reader or consumer. To fetch, it moves it onto tokio's blocking pool
//! for one `poll` that does not wait (the consumer's `poll` also syncs the membership and
//! auto-commits there, so no runtime worker takes the file's locks) and takes it back.
//! When nothing came, it awaits the handle's commit watcher (`watch.rs`), shared by every
//! stream and async wait of the handle: an idle stream holds no thread. A consumer's
//! stream also wakes every `heartbeat_interval` (at most 200 ms, as the blocking `poll`
//! does) to sync, so that rebalances are seen and its poll time stays fresh while the
//! stream is awaited; its heartbeat thread runs as for any consumer.
//!
//! States: `Ready` (the source is here), `Fetching` (it is on the blocking pool),
//! `Waiting` (here, and awaiting a commit), `Done` (after an error, or a lost source).
//! An error ends the stream: it is yielded once, then the stream yields `None`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::task::JoinHandle;

use super::watch::{Commits, join};
use super::{ConsumedRecord, Consumer, Reader};
use crate::error::{Error, Result};

/// What a stream polls: a reader or a consumer.
trait Source: Send + 'static {
    /// One `poll` that does not wait.
    fn poll_now(&mut self) -> Result<Vec<ConsumedRecord>>;
    /// The longest the stream waits for a commit before polling again anyway.
    fn tick(&self) -> Option<Duration>;
}

impl Source for Reader {
    fn poll_now(&mut self) -> Result<Vec<ConsumedRecord>> {
        self.poll(Duration::ZERO)
    }

    fn tick(&self) -> Option<Duration> {
        None
    }
}

impl Source for Consumer {
    fn poll_now(&mut self) -> Result<Vec<ConsumedRecord>> {
        self.poll(Duration::ZERO)
    }

    fn tick(&self) -> Option<Duration> {
        Some(
            self.options
                .heartbeat_interval
                .min(Duration::from_millis(200)),
        )
    }
}

type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;
type Fetch<S> = JoinHandle<(S, Result<Vec<ConsumedRecord>>)>;

enum State<S> {
    Ready(S),
    Fetching(Fetch<S>),
    Waiting(S, Wait),
    Done,
}

/// The state machine both streams share; see the module docs.
struct Follow<S: Source> {
    state: State<S>,
    commits: Commits,
    /// Batches fetched while a method other than `poll_next` drove a fetch to its end.
    ready: VecDeque<Vec<ConsumedRecord>>,
}

impl<S: Source> Follow<S> {
    fn new(source: S, commits: Commits) -> Self {
        Self {
            state: State::Ready(source),
            commits,
            ready: VecDeque::new(),
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Vec<ConsumedRecord>>>> {
        if let Some(batch) = self.ready.pop_front() {
            return Poll::Ready(Some(Ok(batch)));
        }
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Ready(mut source) => {
                    // Marked before the fetch, so a commit during it wakes the wait after.
                    self.commits.mark_seen();
                    self.state = State::Fetching(tokio::task::spawn_blocking(move || {
                        let result = source.poll_now();
                        (source, result)
                    }));
                }
                State::Fetching(mut task) => {
                    let joined = match Pin::new(&mut task).poll(cx) {
                        Poll::Pending => {
                            self.state = State::Fetching(task);
                            return Poll::Pending;
                        }
                        Poll::Ready(joined) => joined,
                    };
                    match join(joined) {
                        Ok((source, Ok(batch))) if batch.is_empty() => {
                            let wait = wait_for(self.commits.clone(), source.tick());
                            self.state = State::Waiting(source, wait);
                        }
                        Ok((source, Ok(batch))) => {
                            self.state = State::Ready(source);
                            return Poll::Ready(Some(Ok(batch)));
                        }
                        Ok((source, Err(e))) => {
                            drop_off_runtime(source);
                            return Poll::Ready(Some(Err(e)));
                        }
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    }
                }
                State::Waiting(source, mut wait) => match wait.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.state = State::Waiting(source, wait);
                        return Poll::Pending;
                    }
                    Poll::Ready(()) => self.state = State::Ready(source),
                },
            }
        }
    }

    /// Runs `f` on the source, on the blocking pool. A fetch in flight is finished first
    /// and its batch kept for the next `poll_next`. If this future is dropped while `f`
    /// runs, the source is lost with it and the stream ends.
    async fn with_source<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut S) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let source = match std::mem::replace(&mut self.state, State::Done) {
            State::Ready(source) | State::Waiting(source, _) => source,
            State::Fetching(task) => match join(task.await)? {
                (source, Ok(batch)) => {
                    if !batch.is_empty() {
                        self.ready.push_back(batch);
                    }
                    source
                }
                (source, Err(e)) => {
                    drop_off_runtime(source);
                    return Err(e);
                }
            },
            State::Done => return Err(Error::Closed("the stream")),
        };
        let (source, result) = join(
            tokio::task::spawn_blocking(move || {
                let mut source = source;
                let result = f(&mut source);
                (source, result)
            })
            .await,
        )?;
        self.state = State::Ready(source);
        result
    }
}

impl<S: Source> Drop for Follow<S> {
    fn drop(&mut self) {
        // A consumer leaves its group on drop (a durable commit): not on a runtime worker.
        match std::mem::replace(&mut self.state, State::Done) {
            State::Ready(source) | State::Waiting(source, _) => drop_off_runtime(source),
            State::Fetching(task) => drop_off_runtime(task),
            State::Done => {}
        }
    }
}

/// Drops `value` on the blocking pool when a runtime is at hand (its drop may write to
/// the file: a consumer leaving its group), else here.
fn drop_off_runtime<T: Send + 'static>(value: T) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(runtime.spawn_blocking(move || drop(value)));
    } else {
        drop(value);
    }
}

/// Waits for a commit newer than the one `commits` last saw, or `tick` at most.
fn wait_for(mut commits: Commits, tick: Option<Duration>) -> Wait {
    Box::pin(async move {
        match tick {
            Some(tick) => drop(tokio::time::timeout(tick, commits.changed()).await),
            None => commits.changed().await,
        }
    })
}

impl<S: Source> std::fmt::Debug for Follow<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Ready(_) => "ready",
            State::Fetching(_) => "fetching",
            State::Waiting(..) => "waiting",
            State::Done => "done",
        };
        f.debug_struct("Follow")
            .field("state", &state)
            .field("commits", &self.commits)
            .field("ready", &self.ready.len())
            .finish()
    }
}

/// A [`Reader`] as a stream of batches (feature `tokio`), from [`Reader::into_stream`].
///
/// Each item is what one [`Reader::poll`] returns, never empty: the stream waits, holding
/// no thread, until a commit (in this process or another) may have brought records. Every
/// stream and async wait of one handle shares one watcher thread. Fetches run on tokio's
/// blocking pool. An error (the topic was deleted: [`Error::UnknownTopic`]) is yielded
/// once and ends the stream. Dropping the stream at any point leaves nothing behind.
/// Poll it inside a tokio runtime (a fetch is a `spawn_blocking`) that has its time
/// driver (`#[tokio::main]` and `Runtime::new` enable it).
///
/// ```
/// use brooklet::{Brooklet, Position, Record, TopicConfig};
///
/// # #[tokio::main]
/// # async fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
/// db.admin().create_topic("logs", 1, TopicConfig::default())?;
/// let mut reader = db.reader();
/// reader.assign("logs", 0, Position::Beginning)?;
/// let mut stream = reader.into_stream()?;
/// tokio::spawn(db.async_producer().send("logs", Record::value("hello")));
/// let batch = stream.next().await.expect("streams end only after an error")?;
/// assert_eq!(batch[0].record.value.as_deref(), Some(&b"hello"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ReaderStream {
    follow: Follow<Reader>,
}

/// A [`Consumer`] as a stream of batches (feature `tokio`), from
/// [`Consumer::into_stream`]: a [`ReaderStream`] over the partitions the member owns.
///
/// Each item is what one [`Consumer::poll`] returns, never empty. While the stream is
/// awaited it polls at least every `heartbeat_interval` (at most every 200 ms), so that
/// the member's poll time stays fresh and rebalances are applied; the consumer's
/// heartbeat thread keeps it alive in between. As with the blocking consumer, a stream
/// that is not awaited for `max_poll_interval` loses its partitions. Offsets are
/// committed as `poll` commits them (auto-commit, in the fetches, which run on the
/// blocking pool), with [`ConsumerStream::commit`], and on drop with auto-commit on: the
/// consumer leaves its group from the blocking pool, committing the position after every
/// batch yielded.
///
/// ```
/// use brooklet::{Brooklet, ConsumerOptions, Position, Record, TopicConfig};
///
/// # #[tokio::main]
/// # async fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("g.brooklet"))?;
/// db.admin().create_topic("jobs", 2, TopicConfig::default())?;
/// db.async_producer().send("jobs", Record::value("resize image 1")).await?;
/// let options = ConsumerOptions { auto_offset_reset: Some(Position::Beginning), ..Default::default() };
/// let mut jobs = db.consumer("workers", &["jobs"], options)?.into_stream()?;
/// let batch = jobs.next().await.expect("streams end only after an error")?;
/// assert_eq!(batch.len(), 1);
/// jobs.commit().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ConsumerStream {
    follow: Follow<Consumer>,
}

impl Reader {
    /// This reader as a stream of polled batches (feature `tokio`); see [`ReaderStream`].
    /// Subscribes to the handle's commit watcher, starting it if no other stream or wait
    /// of the handle runs.
    pub fn into_stream(self) -> Result<ReaderStream> {
        let commits = self.db.subscribe_commits()?;
        Ok(ReaderStream {
            follow: Follow::new(self, commits),
        })
    }
}

impl Consumer {
    /// This consumer as a stream of polled batches (feature `tokio`); see
    /// [`ConsumerStream`].
    pub fn into_stream(self) -> Result<ConsumerStream> {
        let commits = self.db.subscribe_commits()?;
        Ok(ConsumerStream {
            follow: Follow::new(self, commits),
        })
    }
}

impl ReaderStream {
    /// The next batch: `None` once the stream ended (after an error). Cancel-safe: a
    /// dropped `next` loses no records (a fetch in flight is finished by the next call).
    pub async fn next(&mut self) -> Option<Result<Vec<ConsumedRecord>>> {
        std::future::poll_fn(|cx| self.follow.poll_next(cx)).await
    }
}

impl ConsumerStream {
    /// The next batch: `None` once the stream ended (after an error). Cancel-safe: a
    /// dropped `next` loses no records (a fetch in flight is finished by the next call).
    pub async fn next(&mut self) -> Option<Result<Vec<ConsumedRecord>>> {
        std::future::poll_fn(|cx| self.follow.poll_next(cx)).await
    }

    /// Commits the position after every batch yielded so far ([`Consumer::commit`]), on
    /// the blocking pool. Dropping this future before it finishes ends the stream (the
    /// consumer is on the blocking pool then; it leaves its group from there).
    pub async fn commit(&mut self) -> Result<()> {
        self.follow.with_source(Consumer::commit).await
    }

    /// Commits explicit offsets ([`Consumer::commit_offsets`]), on the blocking pool; see
    /// [`ConsumerStream::commit`] for a dropped future.
    pub async fn commit_offsets(
        &mut self,
        offsets: impl IntoIterator<Item = (super::TopicPartition, u64)>,
    ) -> Result<()> {
        let offsets: Vec<_> = offsets.into_iter().collect();
        self.follow
            .with_source(move |c| c.commit_offsets(offsets))
            .await
    }

    /// The partitions the member owns now, read on the blocking pool (a fetch in flight
    /// is finished first, its batch kept for the next [`ConsumerStream::next`]).
    pub async fn assignment(&mut self) -> Result<Vec<super::TopicPartition>> {
        self.follow.with_source(|c| Ok(c.assignment())).await
    }
}

impl Stream for ReaderStream {
    type Item = Result<Vec<ConsumedRecord>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().follow.poll_next(cx)
    }
}

impl Stream for ConsumerStream {
    type Item = Result<Vec<ConsumedRecord>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().follow.poll_next(cx)
    }
}
