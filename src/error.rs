//! brooklet's error type.
//!
//! Three failure classes are kept apart (see STYLE.md):
//! - I/O errors are returned as [`Error::Io`] and poison the handle that met them;
//! - corruption read from disk is [`Error::Corrupt`], naming the page and a typed kind;
//! - broken in-memory invariants are bugs and panic at the assertion that caught them.

use std::fmt;

/// A page number in the file. Page `n` starts at byte `n * page_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PageId(pub(crate) u32);

impl PageId {
    /// The page number.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for PageId {
    fn from(page: u32) -> Self {
        Self(page)
    }
}

impl fmt::Display for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "page {}", self.0)
    }
}

/// What was wrong with bytes read from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// The file does not start with brooklet's magic bytes.
    BadMagic,
    /// The file's format version is not one this build reads.
    UnsupportedVersion(u32),
    /// The header names a page size that is not a power of two in 512..=65536.
    BadPageSize(u32),
    /// Neither commit slot holds a valid commit.
    NoValidCommit,
    /// A page's checksum does not match the checksum recorded for it.
    Checksum {
        /// The checksum the referring structure expected.
        expected: u32,
        /// The checksum computed over the bytes read.
        actual: u32,
    },
    /// A page's header names another page id than the one read.
    WrongPageId(u32),
    /// A page has a kind byte other than the one expected here.
    WrongPageKind {
        /// The kind expected at this place.
        expected: u8,
        /// The kind found.
        found: u8,
    },
    /// A structure refers to a page past the end of the file.
    PageOutOfRange(u32),
    /// The file is shorter than its committed page count.
    Truncated {
        /// Pages the commit says the file holds.
        expected_pages: u32,
        /// Whole pages actually present.
        actual_pages: u64,
    },
    /// A length or count inside a page does not fit the page or the structure.
    BadLength,
    /// A B-tree is deeper than the depth bound, or a chain revisits a page.
    Cycle,
    /// B-tree keys are out of order.
    KeyOrder,
    /// A Kafka record batch failed to decode.
    BadBatch(&'static str),
    /// Any other structural inconsistency, described.
    Invalid(&'static str),
    /// A key or value of a named tree is malformed or out of bounds for the file: a value
    /// of the wrong size, a key of the wrong length, an extent past the page count, a
    /// count that disagrees with what it counts, or a counter at its largest value.
    BadValue {
        /// The tree that holds it.
        tree: &'static str,
        /// What is wrong.
        why: &'static str,
    },
}

impl fmt::Display for CorruptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => write!(f, "not a brooklet file (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            Self::BadPageSize(s) => write!(f, "invalid page size {s}"),
            Self::NoValidCommit => write!(f, "no valid commit slot"),
            Self::Checksum { expected, actual } => {
                write!(
                    f,
                    "checksum mismatch (expected {expected:#010x}, found {actual:#010x})"
                )
            }
            Self::WrongPageId(id) => write!(f, "page header names page {id}"),
            Self::WrongPageKind { expected, found } => {
                write!(f, "page kind {found}, expected {expected}")
            }
            Self::PageOutOfRange(id) => {
                write!(f, "reference to page {id} past the end of the file")
            }
            Self::Truncated {
                expected_pages,
                actual_pages,
            } => write!(
                f,
                "file holds {actual_pages} pages, commit needs {expected_pages}"
            ),
            Self::BadLength => write!(f, "length or count out of bounds"),
            Self::Cycle => write!(f, "cycle or excessive depth"),
            Self::KeyOrder => write!(f, "keys out of order"),
            Self::BadBatch(why) => write!(f, "bad record batch: {why}"),
            Self::Invalid(why) => write!(f, "{why}"),
            Self::BadValue { tree, why } => write!(f, "{tree}: {why}"),
        }
    }
}

/// brooklet's error.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error from the operating system. After a write or sync error the handle is
    /// poisoned; reopen the file to recover.
    Io(std::io::Error),
    /// Bytes on disk are damaged or not brooklet's. `page` names the page where known.
    Corrupt {
        /// The page that failed to verify, if one is known.
        page: Option<PageId>,
        /// What was wrong.
        kind: CorruptionKind,
    },
    /// An earlier write or sync failed; this handle refuses all work until reopened.
    Poisoned,
    /// Another writer held the write lock for longer than the busy timeout.
    Busy,
    /// A caller-supplied argument is invalid (malformed, out of range, not allowed here).
    /// The cases callers branch on have variants of their own: [`Error::UnknownTopic`],
    /// [`Error::UnknownPartition`], [`Error::UnknownGroup`], [`Error::TopicExists`] and
    /// [`Error::RecordTooLarge`]; [`Error::is_request_error`] is true for all of them.
    InvalidArgument(String),
    /// No topic of this name exists (Kafka's `UNKNOWN_TOPIC_OR_PARTITION`).
    UnknownTopic(String),
    /// The topic exists but has no partition of this number.
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has (numbered from 0).
        partitions: u32,
    },
    /// No consumer group of this name exists (Kafka's `GROUP_ID_NOT_FOUND`).
    UnknownGroup(String),
    /// A topic of this name exists already (Kafka's `TOPIC_ALREADY_EXISTS`).
    TopicExists(String),
    /// A record, or a batch of records, is larger than the limit: the topic's
    /// `max.message.bytes`, or brooklet's own bounds on one record and one batch (Kafka's
    /// `MESSAGE_TOO_LARGE`). Nothing of the send was stored.
    RecordTooLarge {
        /// What is too large, in words ("record 3 of the batch", "the batch").
        what: String,
        /// Its size in bytes, encoded.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The handle was closed (a consumer after `close`, say).
    Closed(&'static str),
    /// The requested offset is outside the partition's log: before its first offset
    /// (deleted by retention) or past its end.
    OffsetOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The partition's first offset.
        beginning: u64,
        /// The partition's end offset (the next offset to be written).
        end: u64,
    },
    /// A consumer-group member's commit was rejected because it no longer owns the
    /// partition (it was expired, left, or the partition moved to another member).
    Fenced(String),
    /// A consumer group's members speak another protocol (Kafka's
    /// `INCONSISTENT_GROUP_PROTOCOL`): a group is served either to the file's own
    /// consumers or to Kafka clients through `brooklet serve`, one at a time, so that no
    /// partition has two owners. A consumer joining a group that has live Kafka-protocol
    /// members gets this error, and so does a Kafka client joining a group with live
    /// members of the file's own.
    InconsistentGroupProtocol(String),
    /// An idempotent or transactional producer's batch does not follow the last one it
    /// stored in the partition (Kafka's `OUT_OF_ORDER_SEQUENCE_NUMBER`): a sequence was
    /// skipped or reused for other records. Nothing of the send was stored.
    OutOfOrderSequence(String),
    /// A page this snapshot reads was reused by a writer in another process after the
    /// snapshot was taken. Start a new read transaction and read again.
    StaleSnapshot,
    /// The handle was opened read-only (see [`crate::Options::read_only`]): it never
    /// writes, so every change is refused.
    ReadOnly,
    /// A commit's slot was written but the `fdatasync` after it (or the slot write itself)
    /// failed: the commit may or may not be in the file, and after a power cut it may be
    /// lost. The handle is poisoned, as after any I/O error, and the failed sync is never
    /// retried (the operating system may have dropped the dirty pages it could not write).
    ///
    /// Like a Kafka producer's timed-out request, the outcome is resolved by reading: open
    /// the file anew and look at the end offsets (or the records, or the group's committed
    /// offsets) to see whether the commit is there, and send again only what is missing.
    CommitOutcomeUnknown(std::io::Error),
}

impl Error {
    pub(crate) fn corrupt(page: PageId, kind: CorruptionKind) -> Self {
        Self::Corrupt {
            page: Some(page),
            kind,
        }
    }

    pub(crate) fn corrupt_file(kind: CorruptionKind) -> Self {
        Self::Corrupt { page: None, kind }
    }

    /// A bad key or value of the named tree `tree` (see [`CorruptionKind::BadValue`]).
    pub(crate) fn bad_value(tree: &'static str, why: &'static str) -> Self {
        Self::corrupt_file(CorruptionKind::BadValue { tree, why })
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }

    /// A copy of this error, for reporting one failure to several waiting callers.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Io(e) => Self::Io(std::io::Error::new(e.kind(), e.to_string())),
            Self::Corrupt { page, kind } => Self::Corrupt {
                page: *page,
                kind: kind.clone(),
            },
            Self::Poisoned => Self::Poisoned,
            Self::Busy => Self::Busy,
            Self::InvalidArgument(msg) => Self::InvalidArgument(msg.clone()),
            Self::UnknownTopic(name) => Self::UnknownTopic(name.clone()),
            Self::UnknownPartition {
                topic,
                partition,
                partitions,
            } => Self::UnknownPartition {
                topic: topic.clone(),
                partition: *partition,
                partitions: *partitions,
            },
            Self::UnknownGroup(name) => Self::UnknownGroup(name.clone()),
            Self::TopicExists(name) => Self::TopicExists(name.clone()),
            Self::RecordTooLarge { what, size, max } => Self::RecordTooLarge {
                what: what.clone(),
                size: *size,
                max: *max,
            },
            Self::Closed(what) => Self::Closed(what),
            Self::OffsetOutOfRange {
                offset,
                beginning,
                end,
            } => Self::OffsetOutOfRange {
                offset: *offset,
                beginning: *beginning,
                end: *end,
            },
            Self::Fenced(why) => Self::Fenced(why.clone()),
            Self::InconsistentGroupProtocol(why) => Self::InconsistentGroupProtocol(why.clone()),
            Self::OutOfOrderSequence(why) => Self::OutOfOrderSequence(why.clone()),
            Self::StaleSnapshot => Self::StaleSnapshot,
            Self::ReadOnly => Self::ReadOnly,
            Self::CommitOutcomeUnknown(e) => {
                Self::CommitOutcomeUnknown(std::io::Error::new(e.kind(), e.to_string()))
            }
        }
    }

    /// True for [`Error::Corrupt`].
    #[must_use]
    pub fn is_corruption(&self) -> bool {
        matches!(self, Self::Corrupt { .. })
    }

    /// True for an error in the request itself, which changed nothing and fails again if
    /// sent again unchanged: [`Error::InvalidArgument`], [`Error::UnknownTopic`],
    /// [`Error::UnknownPartition`], [`Error::UnknownGroup`], [`Error::TopicExists`],
    /// [`Error::RecordTooLarge`], [`Error::Closed`] and [`Error::OutOfOrderSequence`].
    #[must_use]
    pub fn is_request_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidArgument(_)
                | Self::UnknownTopic(_)
                | Self::UnknownPartition { .. }
                | Self::UnknownGroup(_)
                | Self::TopicExists(_)
                | Self::RecordTooLarge { .. }
                | Self::Closed(_)
                | Self::OutOfOrderSequence(_)
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Corrupt {
                page: Some(p),
                kind,
            } => write!(f, "file is corrupt at {p}: {kind}"),
            Self::Corrupt { page: None, kind } => write!(f, "file is corrupt: {kind}"),
            Self::Poisoned => write!(
                f,
                "handle is poisoned by an earlier I/O error; reopen the file to recover"
            ),
            Self::Busy => write!(f, "database is busy: another writer holds the write lock"),
            Self::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Self::UnknownTopic(name) => write!(f, "topic {name:?} does not exist"),
            Self::UnknownPartition {
                topic,
                partition,
                partitions,
            } => {
                let plural = if *partitions == 1 { "" } else { "s" };
                write!(
                    f,
                    "topic {topic:?} has {partitions} partition{plural}; partition {partition} does not exist"
                )
            }
            Self::UnknownGroup(name) => write!(f, "consumer group {name:?} does not exist"),
            Self::TopicExists(name) => write!(f, "topic {name:?} already exists"),
            Self::RecordTooLarge { what, size, max } => {
                write!(f, "{what} is {size} bytes, over the limit of {max} bytes")
            }
            Self::Closed(what) => write!(f, "{what} is closed"),
            Self::OffsetOutOfRange {
                offset,
                beginning,
                end,
            } => write!(
                f,
                "offset {offset} is out of range: the partition holds offsets {beginning}..{end}"
            ),
            Self::Fenced(why) => write!(f, "fenced: {why}"),
            Self::InconsistentGroupProtocol(why) => {
                write!(f, "inconsistent group protocol: {why}")
            }
            Self::OutOfOrderSequence(why) => write!(f, "out-of-order sequence: {why}"),
            Self::StaleSnapshot => write!(
                f,
                "snapshot expired: another process reused its pages; start a new read"
            ),
            Self::ReadOnly => write!(f, "the file is open read-only: nothing can be written"),
            Self::CommitOutcomeUnknown(e) => write!(
                f,
                "commit outcome unknown: syncing it failed ({e}); it may or may not be in the \
                 file. Reopen the file and read the end offsets before sending again"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) | Self::CommitOutcomeUnknown(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// brooklet's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
