//! [`AsyncProducer`] (feature `tokio`): a [`Producer`] whose sends are futures.
//!
//! A send runs the blocking send on tokio's blocking pool, so a durable send's
//! `fdatasync` never holds a runtime worker. It goes through the handle's commit queue
//! like any blocking send (`produce.rs`): concurrent async sends, and async and blocking
//! sends together, share group commits and their `fdatasync`s. Each send in flight holds a
//! blocking-pool thread while it waits for its group (tokio caps that pool, at 512 threads
//! by default; sends past the cap wait for a thread).
//!
//! A send starts when the method is called, not when its future is first polled: the
//! future only reports the outcome. Dropping it does not cancel the send: the records are
//! committed (or the send fails) exactly as if it had been awaited.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::watch::join;
use super::{Brooklet, Producer, RecordMetadata};
use crate::error::Result;
use crate::kafka::Record;

/// A send in flight, from [`AsyncProducer`]: resolves to what the blocking send returns.
///
/// The send was started when the method returned this future; dropping the future does
/// not cancel it (see [`AsyncProducer`]).
#[derive(Debug)]
#[must_use = "the send runs anyway; await the future to learn where it was stored or why it failed"]
pub struct SendFuture<T> {
    task: tokio::task::JoinHandle<Result<T>>,
}

impl<T> Future for SendFuture<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        Pin::new(&mut self.task)
            .poll(cx)
            .map(|joined| join(joined)?)
    }
}

/// Sends records from async code (feature `tokio`): the async twin of [`Producer`], with
/// its durability, sticky partition and idempotence (from [`Brooklet::async_producer`] or
/// [`Producer::into_async`]).
///
/// Each method starts the send at once, on tokio's blocking pool, and returns a
/// [`SendFuture`]; the send goes through the handle's commit queue, so concurrent async
/// sends share `fdatasync`s (group commit) as concurrent blocking sends do. Calling a
/// method outside a tokio runtime panics, as `tokio::task::spawn_blocking` does.
///
/// Cancellation: a send is never cancelled once the method returned. Dropping its future
/// (a `select!` that took another branch, a timeout) leaves the send running; it commits
/// or fails exactly as if awaited, and only its result is lost. A caller that must know
/// keeps the future, or reads the partition's end offset afterwards.
///
/// ```
/// use brooklet::{Brooklet, Record, TopicConfig};
///
/// # #[tokio::main]
/// # async fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
/// db.admin().create_topic("orders", 3, TopicConfig::default())?;
/// let producer = db.async_producer();
/// let sent = producer.send("orders", Record::keyed("customer-7", "{\"total\":42}")).await?;
/// println!("stored at orders/{} offset {}", sent.partition, sent.offset);
/// // Many sends in flight at once share fdatasyncs.
/// let pending: Vec<_> = (0..10).map(|i| producer.send("orders", Record::value(format!("{i}")))).collect();
/// for send in pending {
///     send.await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncProducer {
    producer: Producer,
}

impl Brooklet {
    /// An async producer at the handle's default durability (feature `tokio`); see
    /// [`AsyncProducer`].
    #[must_use]
    pub fn async_producer(&self) -> AsyncProducer {
        self.producer().into_async()
    }
}

impl Producer {
    /// This producer's async twin (feature `tokio`): the same durability, sticky partition
    /// and idempotence; see [`AsyncProducer`].
    #[must_use]
    pub fn into_async(self) -> AsyncProducer {
        AsyncProducer { producer: self }
    }
}

impl AsyncProducer {
    /// The blocking producer under this one.
    #[must_use]
    pub fn blocking(&self) -> &Producer {
        &self.producer
    }

    /// Starts `f` on the blocking pool with a clone of the producer.
    fn start<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Producer) -> Result<T> + Send + 'static,
    ) -> SendFuture<T> {
        let producer = self.producer.clone();
        SendFuture {
            task: tokio::task::spawn_blocking(move || f(&producer)),
        }
    }

    /// Sends one record ([`Producer::send`]).
    pub fn send(&self, topic: &str, record: Record) -> SendFuture<RecordMetadata> {
        let topic = topic.to_owned();
        self.start(move |p| p.send(&topic, record))
    }

    /// Sends one record to an explicit partition ([`Producer::send_to`]).
    pub fn send_to(
        &self,
        topic: &str,
        partition: u32,
        record: Record,
    ) -> SendFuture<RecordMetadata> {
        let topic = topic.to_owned();
        self.start(move |p| p.send_to(&topic, partition, record))
    }

    /// Sends records in one atomic commit ([`Producer::send_batch`]).
    pub fn send_batch(&self, topic: &str, records: Vec<Record>) -> SendFuture<Vec<RecordMetadata>> {
        let topic = topic.to_owned();
        self.start(move |p| p.send_batch(&topic, records))
    }

    /// Sends records to one partition in one atomic commit ([`Producer::send_batch_to`]).
    pub fn send_batch_to(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<Record>,
    ) -> SendFuture<Vec<RecordMetadata>> {
        let topic = topic.to_owned();
        self.start(move |p| p.send_batch_to(&topic, partition, records))
    }

    /// Sends records in one atomic commit, each to the partition paired with it
    /// ([`Producer::send_batch_routed`]).
    pub fn send_batch_routed(
        &self,
        topic: &str,
        records: Vec<(Option<u32>, Record)>,
    ) -> SendFuture<Vec<RecordMetadata>> {
        let topic = topic.to_owned();
        self.start(move |p| p.send_batch_routed(&topic, records))
    }

    /// Makes every earlier commit durable ([`Producer::flush`]), on the blocking pool.
    pub fn flush(&self) -> SendFuture<()> {
        self.start(Producer::flush)
    }
}
