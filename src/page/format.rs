//! The fixed on-disk layouts of FORMAT.md, declared once.
//!
//! Every fixed-size structure brooklet writes is a `#[repr(C)]` struct of byte-order-aware
//! fields (`zerocopy::little_endian`): alignment 1 and no padding, so the struct's bytes
//! are exactly the bytes on disk, at any offset. The codecs read and write through these
//! structs, in place (`FromBytes::ref_from_bytes`, `ref_from_prefix`; `IntoBytes::as_bytes`)
//! and never through hand-written offsets; a field read is one unaligned load (and a byte
//! swap on a big-endian host). Decoding a wrong-length slice is an error, never a panic.
//!
//! Variable parts (inline journal entries, key and value bytes, strings) follow the fixed
//! structs and are described in FORMAT.md; the structs below say where each one starts.
//! `tests/format/format_tables.rs` checks every struct's field offsets and sizes against the
//! offset tables of FORMAT.md, so the spec and the code cannot drift apart.
//!
//! Public as `brooklet::format`, for tools that read brooklet files without the engine (the
//! `brooklet dump` command uses it). These are layouts only: a value read through them is
//! unverified until its checksum and the checks FORMAT.md describes have passed.

use core::mem::size_of;

use zerocopy::little_endian::{I16, I32, I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The magic bytes that open both header pages: ASCII `brooklet format` and one zero byte.
pub const MAGIC: [u8; 16] = *b"brooklet format\0";
/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 4;
/// The oldest format version this build reads. A version-2 file is a valid version-3 file
/// (version 3 only allows what compaction leaves: offset gaps), and a version-3 file a
/// valid version-4 file (version 4 adds pending data and entries after the slot's other
/// fields); each header page's version is raised when its slot is next written.
pub const FORMAT_VERSION_MIN: u32 = 2;

/// The static header at the start of both header pages (FORMAT.md, *Header pages*).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct StaticHeader {
    /// [`MAGIC`].
    pub magic: [u8; 16],
    /// The format version of the slot that follows.
    pub version: U32,
    /// The page size in bytes: a power of two from 512 to 65536.
    pub page_size: U32,
    /// 0 in page 0 (slot A), 1 in page 1 (slot B).
    pub slot_index: U32,
    /// CRC-32C of the bytes before this field ([`STATIC_HEADER_CRC_END`]).
    pub crc: U32,
}

/// Size of the static header; the commit slot starts right after it.
pub const STATIC_HEADER_SIZE: usize = size_of::<StaticHeader>();
/// The static header's checksum covers its bytes `0 .. STATIC_HEADER_CRC_END`.
pub const STATIC_HEADER_CRC_END: usize = core::mem::offset_of!(StaticHeader, crc);

/// A pointer to a checksummed page (a B-tree node): its id and the CRC-32C its header must
/// hold (FORMAT.md, *Pointers*). Page id 0 means no page.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct NodePtr {
    /// The page id.
    pub page: U32,
    /// The CRC-32C stored in that page's header.
    pub crc: U32,
}

/// A pointer to a blob: `length` bytes from the start of `page_count` contiguous pages
/// beginning at `first_page`, with the CRC-32C of exactly those bytes (FORMAT.md,
/// *Pointers*). Page count 0 means no blob.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct BlobPtr {
    /// The blob's first page.
    pub first_page: U32,
    /// Pages the blob occupies, at least `max(1, ceil(length / page_size))`.
    pub page_count: U32,
    /// Bytes of the blob.
    pub length: U32,
    /// CRC-32C of the blob's bytes.
    pub crc: U32,
}

/// The fixed part of a commit slot, from byte [`STATIC_HEADER_SIZE`] of its header page
/// (FORMAT.md, *Commit slot*). The slot's body is its bytes from [`SLOT_BODY_START`] to
/// `SLOT_BODY_START + body_len`: the fixed fields, then the inline journal entries
/// ([`JournalEntry`]), the inline free list ([`FreeExtent`]s) and the pending area.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct SlotFixed {
    /// CRC-32C of the slot body.
    pub crc: U32,
    /// Bytes of the body, which follows this field.
    pub body_len: U32,
    /// This commit's transaction id.
    pub txn: U64,
    /// The transaction id of the last durable commit (`txn` if this one was durable).
    pub last_durable: U64,
    /// Logical number of pages in the file.
    pub page_count: U32,
    /// Bit 0 ([`SLOT_FLAG_DURABLE`]): this commit was durable. Other bits are zero.
    pub flags: U32,
    /// Commit time, milliseconds since the Unix epoch.
    pub time_ms: U64,
    /// Root of the master tree; page id 0 for no trees at all.
    pub master_root: NodePtr,
    /// The free-list blob; page count 0 means the list is inline (its `length` bytes, with
    /// CRC-32C `crc`, follow the inline journal entries) or, with length 0, empty.
    pub free_list: BlobPtr,
    /// The journal blob; page count 0 means the journal is inline.
    pub journal: BlobPtr,
    /// Entries in the journal.
    pub journal_count: U32,
    /// The newest node of the window chain; page count 0 means no chain.
    pub window: BlobPtr,
    /// Nodes (commits) in the window chain.
    pub window_commits: U32,
    /// Journal entries in the window chain.
    pub window_entries: U32,
}

/// Size of a slot's fixed part; its inline journal entries start at this slot offset.
pub const SLOT_FIXED_SIZE: usize = size_of::<SlotFixed>();
/// Where a slot's checksummed body starts, as a slot offset: right after `body_len`.
pub const SLOT_BODY_START: usize = core::mem::offset_of!(SlotFixed, txn);
/// Bit of [`SlotFixed::flags`] set when the commit was durable.
pub const SLOT_FLAG_DURABLE: u32 = 1;

/// One journal entry: a page a commit wrote and the CRC-32C of its first bytes
/// (FORMAT.md, *Commit slot*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct JournalEntry {
    /// The page written.
    pub page: U32,
    /// Bits 0-30: bytes covered by `crc`, 1 to the page size. Bit 31
    /// ([`JOURNAL_ALLOCATED`]): the commit also allocated the page.
    pub length: U32,
    /// CRC-32C of the page's first `length` bytes.
    pub crc: U32,
}

/// Size of a journal entry.
pub const JOURNAL_ENTRY_SIZE: usize = size_of::<JournalEntry>();
/// Bit 31 of [`JournalEntry::length`]: the commit allocated the page.
pub const JOURNAL_ALLOCATED: u32 = 1 << 31;

/// The start of a window chain node, a blob; `entry_count` [`JournalEntry`]s follow
/// (FORMAT.md, *Commit slot*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct WindowNodeHead {
    /// The previous (older) node; page count 0 for the oldest.
    pub prev: BlobPtr,
    /// Journal entries that follow.
    pub entry_count: U32,
}

/// The header of every checksummed page: every B-tree node (FORMAT.md, *Checksummed
/// pages*). The node body follows it.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct PageHeader {
    /// CRC-32C of the page's bytes from [`PAGE_CRC_START`] to its end.
    pub crc: U32,
    /// [`PAGE_KIND_LEAF`] or [`PAGE_KIND_BRANCH`].
    pub kind: u8,
    /// 0 for leaves; the height above the leaves for branches.
    pub level: u8,
    /// Entries of a leaf, children of a branch.
    pub count: U16,
    /// The page's own id.
    pub page: U32,
    /// Zero.
    pub reserved: U32,
    /// The transaction id of the commit that wrote the page.
    pub txn: U64,
}

/// Size of the page header; the node body starts here.
pub const PAGE_HEADER_SIZE: usize = size_of::<PageHeader>();
/// A page's checksum covers its bytes from here (right after the checksum) to its end.
pub const PAGE_CRC_START: usize = core::mem::offset_of!(PageHeader, kind);
/// [`PageHeader::kind`] of a B-tree leaf.
pub const PAGE_KIND_LEAF: u8 = 1;
/// [`PageHeader::kind`] of a B-tree branch.
pub const PAGE_KIND_BRANCH: u8 = 2;

/// One extent of the free list: a run of free pages and the commit that freed them
/// (FORMAT.md, *Free list*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct FreeExtent {
    /// The first free page.
    pub first_page: U32,
    /// Contiguous free pages, at least 1.
    pub page_count: U32,
    /// Bits 0-62: the txn id of the commit that freed the pages (0: any commit may reuse
    /// them). Bit 63: the pages are window-local.
    pub tag: U64,
}

/// The value of an extents-tree entry (FORMAT.md, *The extents tree*); the key is the
/// extent's first page, a big-endian u32.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct ExtentValue {
    /// Pages in the data extent, at least 1.
    pub page_count: U32,
}

/// A `log.partitions` value: the state of one partition (FORMAT.md, *`log.partitions`*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct PartitionState {
    /// The first offset still in the log.
    pub log_start: U64,
    /// The log end offset: the offset the next record gets.
    pub next_offset: U64,
    /// Base offset of the active (last) segment; meaningless when `segment_count` is 0.
    pub active_base: U64,
    /// Number of segments of the partition.
    pub segment_count: U32,
    /// Sum of `bytes_used` over the partition's segments.
    pub bytes_total: U64,
    /// Writer bookkeeping: position in the active segment of the last offset-index entry.
    pub indexed_pos: U32,
    /// Writer bookkeeping: position of the batch of the last time-index entry.
    pub timed_pos: U32,
    /// The largest batch `maxTimestamp` in the partition so far; `i64::MIN` when none.
    pub timestamp_max: I64,
}

/// A `log.segments` value: one segment, a data extent of record batches (FORMAT.md,
/// *`log.segments`*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct Segment {
    /// First page of the extent, at least 2.
    pub first_page: U32,
    /// Pages in the extent, at least 1.
    pub page_count: U32,
    /// Bytes of batches from the start of the extent.
    pub bytes_used: U32,
    /// Last offset of the segment's last batch.
    pub offset_last: U64,
    /// The largest batch `maxTimestamp` in the segment.
    pub timestamp_max: I64,
}

/// A `log.offsets` value: where the batch at the key's offset starts (FORMAT.md,
/// *`log.offsets`*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct IndexEntry {
    /// Base offset of the batch's segment.
    pub segment_base: U64,
    /// Byte position of the batch in that segment.
    pub position: U32,
}

/// A `log.times` value: the offset of the batch whose `maxTimestamp` is in the key
/// (FORMAT.md, *`log.times`*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct TimeIndexEntry {
    /// The batch's `baseOffset`.
    pub offset: U64,
}

/// The fixed start of a `group.state` value; `count` [`Owner`]s follow (FORMAT.md,
/// *`group.state`*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct GroupStateHead {
    /// Rises by one with every change of the owners.
    pub generation: U64,
    /// 0 range, 1 round robin, 2 sticky.
    pub assignor: u8,
    /// Number of owner entries.
    pub count: U32,
}

/// One owner entry of a `group.state` value (FORMAT.md, *`group.state`*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct Owner {
    /// The partition's topic id.
    pub topic_id: U32,
    /// The partition.
    pub partition: U32,
    /// The member that owns the partition now.
    pub member: U64,
    /// The member the partition moves to once `member` releases it; 0: none.
    pub pending: U64,
}

/// The fixed start of a `group.members` value; `topic_count` topic names (each a u16
/// length, then UTF-8) follow (FORMAT.md, *`group.members`*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct MemberHead {
    /// Last sign of life, ms since the Unix epoch.
    pub heartbeat_ms: U64,
    /// Last poll, ms since the Unix epoch.
    pub polled_ms: U64,
    /// The member's session timeout.
    pub session_timeout_ms: U32,
    /// The member's max poll interval.
    pub max_poll_ms: U32,
    /// The member's operating-system process id.
    pub pid: U32,
    /// Subscribed topics.
    pub topic_count: U16,
}

/// The fixed start of a `group.offsets` value; the metadata string (a u16 length, then
/// UTF-8) follows (FORMAT.md, *`group.offsets`*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct CommittedHead {
    /// The next offset to read.
    pub offset: U64,
    /// When it was committed, ms since the Unix epoch.
    pub time_ms: U64,
}

/// The fixed start of a `group.kafka` value: a consumer group of Kafka clients that a
/// `brooklet serve` process coordinates. The protocol type and name, then `member_count`
/// members (strings and [`TxnPartition`]-shaped assigned partitions) follow (FORMAT.md,
/// *`group.kafka`*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct KafkaGroupHead {
    /// The liveness-lock slot the serving process holds while it runs.
    pub server: U64,
    /// When the record was written, ms since the Unix epoch.
    pub updated_ms: U64,
    /// The serving process's operating-system process id.
    pub pid: U32,
    /// Kafka's generation id of the group.
    pub generation: I32,
    /// Members that follow.
    pub member_count: U16,
}

/// The fixed start of a `log.producers` value; `send_count` [`ProducerSend`]s follow,
/// oldest first (FORMAT.md, *Producer ids and sequences*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct ProducerStateHead {
    /// The producer's epoch in the partition, at least 0.
    pub epoch: I16,
    /// Sends that follow: 0 to 5 (0 after a marker raised the epoch).
    pub send_count: u8,
    /// 0.
    pub reserved: u8,
    /// When the state last changed, ms since the Unix epoch.
    pub updated_ms: I64,
}

/// One send a producer stored in a partition, in a `log.producers` value.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct ProducerSend {
    /// The sequence number of its first record, at least 0.
    pub sequence_first: I32,
    /// The sequence number of its last record, at least 0.
    pub sequence_last: I32,
    /// The offset of its first record.
    pub offset_first: U64,
    /// Its append time (the timestamp of its records sent without one), ms since the Unix
    /// epoch.
    pub timestamp_ms: I64,
}

/// The fixed start of a `txn.ids` value; `partition_count` [`TxnPartition`]s follow
/// (FORMAT.md, *`txn.ids`: transactional ids*).
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct TxnIdHead {
    /// The producer id of the id's current instance.
    pub producer_id: I64,
    /// The epoch of the current instance.
    pub epoch: I16,
    /// 0 `Empty`, 1 `Ongoing`, 2 `CompleteCommit`, 3 `CompleteAbort`.
    pub state: u8,
    /// 0.
    pub reserved: u8,
    /// The transaction timeout, ms.
    pub timeout_ms: U32,
    /// The liveness slot the instance's process holds.
    pub owner: U64,
    /// When the ongoing transaction started, ms since the Unix epoch; 0 when none.
    pub started_ms: I64,
    /// When the value last changed, ms since the Unix epoch.
    pub updated_ms: I64,
    /// Partitions that follow.
    pub partition_count: U32,
}

/// A partition an ongoing transaction has stored records in, in a `txn.ids` value.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct TxnPartition {
    /// The topic id.
    pub topic_id: U32,
    /// The partition.
    pub partition: U32,
}
