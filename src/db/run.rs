//! [`Consumer::run`] and [`Consumer::run_batch`]: the poll, handle, commit loop, with the
//! policy for handler errors.

use std::time::{Duration, Instant};

use super::consumer::Consumer;
use super::{ConsumedRecord, TopicPartition};
use crate::error::Error;

/// What [`Consumer::run`] does when the handler returns an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnHandlerError {
    /// Commit what was handled and return the error with the failed record's position.
    #[default]
    Stop,
    /// Call the handler again, up to `attempts` more times, sleeping `backoff` between.
    Retry {
        /// Extra attempts after the first failure.
        attempts: u32,
        /// Pause between attempts.
        backoff: Duration,
    },
}

/// Why [`Consumer::run`] stopped.
#[derive(Debug)]
pub enum RunError<E> {
    /// The handler failed on this record (after any retries). Everything before it in its
    /// partition was committed; the record itself was not.
    Handler {
        /// The topic of the failed record.
        topic: String,
        /// Its partition.
        partition: u32,
        /// Its offset.
        offset: u64,
        /// The handler's error.
        error: E,
    },
    /// brooklet failed (I/O, fencing, ...).
    Brooklet(Error),
}

impl<E: std::fmt::Display> std::fmt::Display for RunError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Handler {
                topic,
                partition,
                offset,
                error,
            } => write!(
                f,
                "handler failed at {topic}/{partition} offset {offset}: {error}"
            ),
            Self::Brooklet(e) => write!(f, "{e}"),
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for RunError<E> {}

impl<E> From<Error> for RunError<E> {
    fn from(e: Error) -> Self {
        Self::Brooklet(e)
    }
}

impl Consumer {
    /// Handles records one at a time: polls, runs `handler` on each record with nothing
    /// locked, and commits what the handler finished (at-least-once). Returns the number of
    /// records handled once no record arrived for `idle_timeout` (never, if `None`), or the
    /// handler's error per `on_error`.
    pub fn run<E>(
        &mut self,
        idle_timeout: Option<Duration>,
        on_error: OnHandlerError,
        mut handler: impl FnMut(&ConsumedRecord) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, RunError<E>> {
        self.run_batch(idle_timeout, on_error, |records| {
            for (i, r) in records.iter().enumerate() {
                handler(r).map_err(|e| (i, e))?;
            }
            Ok(())
        })
    }

    /// Like [`Consumer::run`], with the handler taking each polled batch; on an error it
    /// names the index of the first record not handled.
    pub fn run_batch<E>(
        &mut self,
        idle_timeout: Option<Duration>,
        on_error: OnHandlerError,
        mut handler: impl FnMut(&[ConsumedRecord]) -> std::result::Result<(), (usize, E)>,
    ) -> std::result::Result<u64, RunError<E>> {
        let mut count = 0u64;
        let mut idle_since = Instant::now();
        loop {
            let wait = idle_timeout.map_or(Duration::from_millis(200), |t| {
                t.saturating_sub(idle_since.elapsed())
                    .min(Duration::from_millis(200))
            });
            let records = self.poll(wait)?;
            if records.is_empty() {
                if idle_timeout.is_some_and(|t| idle_since.elapsed() >= t) {
                    self.commit()?;
                    return Ok(count);
                }
                continue;
            }
            idle_since = Instant::now();
            let mut attempt = 0u32;
            let outcome = loop {
                match handler(&records) {
                    Ok(()) => break Ok(()),
                    Err(failure) => match on_error {
                        OnHandlerError::Retry { attempts, backoff } if attempt < attempts => {
                            attempt += 1;
                            std::thread::sleep(backoff);
                        }
                        _ => break Err(failure),
                    },
                }
            };
            match outcome {
                Ok(()) => {
                    count += records.len() as u64;
                    self.commit()?;
                }
                Err((index, error)) => {
                    self.rewind_unhandled(&records[index..]);
                    self.commit()?;
                    let failed = &records[index];
                    return Err(RunError::Handler {
                        topic: failed.topic.clone(),
                        partition: failed.partition,
                        offset: failed.record.offset,
                        error,
                    });
                }
            }
        }
    }

    /// Moves positions back to the first record not handled in each partition.
    fn rewind_unhandled(&mut self, unhandled: &[ConsumedRecord]) {
        for r in unhandled {
            let tp = TopicPartition::new(r.topic.clone(), r.partition);
            if let Some(pos) = self.positions.get_mut(&tp) {
                *pos = (*pos).min(r.record.offset);
            }
        }
    }
}
