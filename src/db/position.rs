//! The two small types every reading call names: [`TopicPartition`], a partition by topic
//! name, and [`Position`], a place in a partition (where a reader starts, where a consumer
//! seeks, where a group's offsets are reset to, where `auto_offset_reset` goes).

use std::fmt;
use std::str::FromStr;

use super::Brooklet;
use crate::error::{Error, Result};
use crate::log::Isolation;

/// A partition of a topic, by name (Kafka's `TopicPartition`). Shown as `topic/partition`.
///
/// ```
/// use brooklet::TopicPartition;
///
/// let tp = TopicPartition::new("orders", 2);
/// assert_eq!(tp.to_string(), "orders/2");
/// assert_eq!(TopicPartition::from(("orders", 2)), tp);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition number, from 0.
    pub partition: u32,
}

impl TopicPartition {
    /// The partition `partition` of `topic`.
    #[must_use]
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

impl From<(&str, u32)> for TopicPartition {
    fn from((topic, partition): (&str, u32)) -> Self {
        Self::new(topic, partition)
    }
}

impl From<(String, u32)> for TopicPartition {
    fn from((topic, partition): (String, u32)) -> Self {
        Self { topic, partition }
    }
}

/// A place in a partition.
///
/// Used wherever brooklet asks where to read: [`Reader::assign`](crate::Reader::assign),
/// [`Consumer::seek`](crate::Consumer::seek), [`Admin::reset_group_offsets`](crate::Admin::reset_group_offsets),
/// and as the `auto_offset_reset` of readers and consumers (where `None` stands for Kafka's
/// `none`: an error instead of a jump).
///
/// Parsed from text by Kafka's names as well: `earliest` or `beginning`, `latest` or
/// `end`, `committed`, an offset (`42`), or `@` and a time in ms since the epoch
/// (`@1700000000000`).
///
/// ```
/// use brooklet::Position;
///
/// # fn main() -> brooklet::Result<()> {
/// assert_eq!("earliest".parse::<Position>()?, Position::Beginning);
/// assert_eq!("latest".parse::<Position>()?, Position::End);
/// assert_eq!("42".parse::<Position>()?, Position::Offset(42));
/// assert_eq!("@1700000000000".parse::<Position>()?, Position::Timestamp(1_700_000_000_000));
/// assert!("soon".parse::<Position>().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// The first offset still stored (Kafka's `earliest`).
    Beginning,
    /// The end: only records produced from now on (Kafka's `latest`).
    End,
    /// An explicit offset. Where a position must lie in the log (a group reset), it is
    /// clamped to the partition's range; a reader or consumer at an offset outside it
    /// applies its `auto_offset_reset` on the next poll.
    Offset(u64),
    /// The first record whose timestamp is at or after this time (ms since the Unix epoch);
    /// the end if every record is older.
    Timestamp(i64),
    /// The consumer group's committed offset (a consumer only). Where the group has none,
    /// or it fell out of the log, the consumer's `auto_offset_reset` applies.
    Committed,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Beginning => f.write_str("earliest"),
            Self::End => f.write_str("latest"),
            Self::Offset(offset) => write!(f, "{offset}"),
            Self::Timestamp(ms) => write!(f, "@{ms}"),
            Self::Committed => f.write_str("committed"),
        }
    }
}

impl FromStr for Position {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "earliest" | "beginning" => return Ok(Self::Beginning),
            "latest" | "end" => return Ok(Self::End),
            "committed" => return Ok(Self::Committed),
            _ => {}
        }
        let bad = || {
            Error::invalid(format!(
                "position {text:?} is none of earliest, latest, committed, an offset or @ms"
            ))
        };
        if let Some(ms) = text.strip_prefix('@') {
            return ms.parse().map(Self::Timestamp).map_err(|_| bad());
        }
        text.parse().map(Self::Offset).map_err(|_| bad())
    }
}

impl Brooklet {
    /// The offset `position` names in a partition for a reader at `isolation` (the end is
    /// the last stable offset under [`Isolation::ReadCommitted`]). With `clamp`, an explicit offset is
    /// moved into the partition's range. [`Position::Committed`] needs a group, which only
    /// a consumer has (it resolves that case itself).
    pub(crate) fn resolve(
        &self,
        tp: &TopicPartition,
        position: Position,
        clamp: bool,
        isolation: Isolation,
    ) -> Result<u64> {
        let (topic, partition) = (tp.topic.as_str(), tp.partition);
        match position {
            Position::Beginning => self.beginning_offset(topic, partition),
            Position::End => self.readable_end(topic, partition, isolation),
            Position::Offset(offset) if clamp => {
                let (begin, end) = (
                    self.beginning_offset(topic, partition)?,
                    self.end_offset(topic, partition)?,
                );
                Ok(offset.clamp(begin, end))
            }
            Position::Offset(offset) => Ok(offset),
            Position::Timestamp(ms) => match self.offset_for_time(topic, partition, ms)? {
                Some(offset) => Ok(offset),
                None => self.readable_end(topic, partition, isolation),
            },
            Position::Committed => Err(Error::invalid(format!(
                "Position::Committed needs a consumer group; {tp} is read without one"
            ))),
        }
    }
}
