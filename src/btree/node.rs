//! B-tree node pages: their byte layout (normative; FORMAT.md copies it), the owned node
//! that dirty nodes are kept in, its encoder, and a checked parser that indexes a page in
//! place, without copying keys or values.
//!
//! Both kinds of node start with the common 24-byte page header (`crate::page`): kind 1
//! (leaf) or 2 (branch); level = height above the leaves (0 for a leaf, 1 to 31 for a
//! branch); count as below; the page's own id; the id of the transaction that wrote it.
//! Integers are little-endian. Keys compare as unsigned bytes (memcmp order; a key sorts
//! before its extensions).
//!
//! **Leaf** (kind 1, level 0). `count` = number of entries, at least 1. From offset 24 the
//! entries follow one another without gaps, keys strictly increasing:
//!
//! | size        | field                                                               |
//! |-------------|---------------------------------------------------------------------|
//! | 2           | `key_len` u16, at most `max_key_len(page_size)`                     |
//! | 1           | `value_tag` u8: 0 = value inline, 1 = value in a blob               |
//! | 2 (tag 0)   | `value_len` u16, at most `max_inline_value_len(page_size)`          |
//! | 16 (tag 1)  | blob pointer: first page u32, page count u32, length u32, CRC-32C u32 |
//! | `key_len`   | key bytes                                                           |
//! | `value_len` | value bytes (tag 0 only)                                            |
//!
//! A blob holds the value's `length` bytes from the start of `page count` contiguous pages
//! beginning at `first page`; `page count = max(1, ceil(length / page_size))`; the CRC-32C
//! covers exactly the `length` bytes. Blob pages have no header.
//!
//! **Branch** (kind 2, level >= 1). `count` = number of children, at least 2. From offset
//! 24:
//!
//! | size      | field                                                     |
//! |-----------|-----------------------------------------------------------|
//! | 8         | child 0: page id u32, CRC-32C u32 of that page            |
//! |           | then `count - 1` times, for `i` = 0, 1, ...:              |
//! | 2         | `key_len` u16, at most `max_key_len(page_size)`           |
//! | `key_len` | separator `key[i]`                                        |
//! | 8         | child `i + 1`: page id u32, CRC-32C u32 of that page      |
//!
//! Separators are strictly increasing. Every key under child `i` is `>= key[i-1]` (when
//! `i > 0`) and `< key[i]` (when `i < count - 1`). A child's level is the branch's level
//! minus one. The CRC-32C in a child pointer equals the child page's header checksum.
//!
//! In both kinds the bytes after the last entry, up to the end of the page, are zero.
//! Readers do not depend on them (the page checksum covers them).
//!
//! **Limits** (integer division): `max_entry = (page_size - 24) / 4`, so four largest
//! entries fill a node body; `max_key_len = max_entry / 2 - 5`;
//! `max_inline_value_len = max_entry - 5 - max_key_len`. At 512-byte pages that is 56 and
//! 61 bytes, at 4096 504 and 509, at 65536 8184 and 8189. Writers store a value longer than
//! `max_inline_value_len` in a blob and a shorter one inline; readers accept a blob of any
//! length up to `2^32 - 1` bytes, and reject longer keys or inline values as corrupt.

use std::sync::Arc;

use crate::btree::{MAX_DEPTH, max_inline_value_len, max_key_len};
use crate::error::{CorruptionKind, Error, PageId, Result};
use crate::page::{
    BlobPtr, Cursor, HEADER_SIZE, NodePtr, PageHeader, PageKind, TxnId, put_u16, validate_page_size,
};

/// `value_tag` of an inline value.
const TAG_INLINE: u8 = 0;
/// `value_tag` of a value stored in a blob.
const TAG_BLOB: u8 = 1;
const KEY_LEN_SIZE: usize = 2;
const TAG_SIZE: usize = 1;
const VALUE_LEN_SIZE: usize = 2;

/// Bytes of a leaf entry with an inline value, besides the key and value bytes.
pub(crate) const LEAF_INLINE_OVERHEAD: usize = KEY_LEN_SIZE + TAG_SIZE + VALUE_LEN_SIZE;
/// Bytes of a leaf entry with a blob value, besides the key bytes.
pub(crate) const LEAF_BLOB_OVERHEAD: usize = KEY_LEN_SIZE + TAG_SIZE + BlobPtr::SIZE;
/// Bytes of a branch entry (separator and the child after it), besides the key bytes.
pub(crate) const BRANCH_ENTRY_OVERHEAD: usize = KEY_LEN_SIZE + NodePtr::SIZE;

/// A leaf value as held in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Inline(Vec<u8>),
    Blob(BlobPtr),
}

/// A leaf value borrowed from a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueRef<'a> {
    Inline(&'a [u8]),
    Blob(BlobPtr),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Self::Inline(bytes) => ValueRef::Inline(bytes),
            Self::Blob(ptr) => ValueRef::Blob(*ptr),
        }
    }
}

impl ValueRef<'_> {
    pub fn to_owned(self) -> Value {
        match self {
            Self::Inline(bytes) => Value::Inline(bytes.to_vec()),
            Self::Blob(ptr) => Value::Blob(ptr),
        }
    }
}

/// A leaf entry as held in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: Vec<u8>,
    pub value: Value,
}

impl Entry {
    /// Bytes this entry takes in a leaf page.
    pub fn encoded_len(&self) -> usize {
        match &self.value {
            Value::Inline(bytes) => LEAF_INLINE_OVERHEAD + self.key.len() + bytes.len(),
            Value::Blob(_) => LEAF_BLOB_OVERHEAD + self.key.len(),
        }
    }
}

/// A branch as held in memory: `children.len() == keys.len() + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Branch {
    pub level: u8,
    pub keys: Vec<Vec<u8>>,
    pub children: Vec<NodePtr>,
}

impl Branch {
    /// Bytes of the branch body (after the header).
    pub fn body_len(&self) -> usize {
        NodePtr::SIZE
            + self
                .keys
                .iter()
                .map(|key| BRANCH_ENTRY_OVERHEAD + key.len())
                .sum::<usize>()
    }
}

/// A node as held in memory (decoded from a page, or dirty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Leaf(Vec<Entry>),
    Branch(Branch),
}

impl Node {
    pub fn level(&self) -> u8 {
        match self {
            Self::Leaf(_) => 0,
            Self::Branch(branch) => branch.level,
        }
    }

    /// Bytes of the node body (after the header).
    pub fn body_len(&self) -> usize {
        match self {
            Self::Leaf(entries) => entries.iter().map(Entry::encoded_len).sum(),
            Self::Branch(branch) => branch.body_len(),
        }
    }

    /// Builds the owned node from a parsed page.
    pub fn from_page(page: &PageNode) -> Self {
        if page.is_leaf() {
            let entries = (0..page.len())
                .map(|i| Entry {
                    key: page.key(i).to_vec(),
                    value: page.value(i).to_owned(),
                })
                .collect();
            Self::Leaf(entries)
        } else {
            Self::Branch(Branch {
                level: page.level(),
                keys: (0..page.key_count())
                    .map(|i| page.key(i).to_vec())
                    .collect(),
                children: (0..page.len()).map(|i| page.child(i)).collect(),
            })
        }
    }

    /// Encodes the node into a full page (checksum field zero; see `crate::page::seal`).
    pub fn encode(&self, id: PageId, txn: TxnId, page_size: usize) -> Vec<u8> {
        self.assert_valid(page_size);
        let mut page = Vec::with_capacity(page_size);
        page.resize(HEADER_SIZE, 0);
        let (kind, count) = match self {
            Self::Leaf(entries) => {
                for entry in entries {
                    encode_entry(entry, &mut page);
                }
                (PageKind::Leaf, entries.len())
            }
            Self::Branch(branch) => {
                branch.children[0].encode(&mut page);
                for (key, child) in branch.keys.iter().zip(&branch.children[1..]) {
                    put_u16(&mut page, len_u16(key.len()));
                    page.extend_from_slice(key);
                    child.encode(&mut page);
                }
                (PageKind::Branch, branch.children.len())
            }
        };
        assert_eq!(page.len(), HEADER_SIZE + self.body_len(), "encoded size");
        page.resize(page_size, 0);
        let header = PageHeader {
            kind: kind as u8,
            level: self.level(),
            count: len_u16(count),
            id,
            txn,
        };
        header.write(&mut page);
        page
    }

    /// Asserts what every written node satisfies (the parser checks the same on read).
    fn assert_valid(&self, page_size: usize) {
        let len = HEADER_SIZE + self.body_len();
        assert!(
            len <= page_size,
            "node of {len} bytes in a {page_size}-byte page"
        );
        let key_max = max_key_len(page_size);
        match self {
            Self::Leaf(entries) => {
                assert!(!entries.is_empty(), "empty leaf written");
                for pair in entries.windows(2) {
                    assert!(pair[0].key < pair[1].key, "leaf keys out of order");
                }
                for entry in entries {
                    assert!(entry.key.len() <= key_max, "key of {}", entry.key.len());
                    if let Value::Inline(bytes) = &entry.value {
                        assert!(bytes.len() <= max_inline_value_len(page_size));
                    }
                }
            }
            Self::Branch(branch) => {
                assert!(branch.children.len() >= 2, "branch with one child written");
                assert_eq!(branch.keys.len() + 1, branch.children.len());
                assert!((1..MAX_DEPTH).contains(&usize::from(branch.level)));
                for pair in branch.keys.windows(2) {
                    assert!(pair[0] < pair[1], "separators out of order");
                }
                assert!(branch.keys.iter().all(|key| key.len() <= key_max));
            }
        }
    }
}

fn encode_entry(entry: &Entry, page: &mut Vec<u8>) {
    put_u16(page, len_u16(entry.key.len()));
    match &entry.value {
        Value::Inline(bytes) => {
            page.push(TAG_INLINE);
            put_u16(page, len_u16(bytes.len()));
        }
        Value::Blob(ptr) => {
            page.push(TAG_BLOB);
            ptr.encode(page);
        }
    }
    page.extend_from_slice(&entry.key);
    if let Value::Inline(bytes) = &entry.value {
        page.extend_from_slice(bytes);
    }
}

fn len_u16(len: usize) -> u16 {
    u16::try_from(len).expect("lengths in a page fit u16 (checked against the page size)")
}

/// A node page that passed [`parse`], indexed in place: `offsets[i]` is where leaf entry
/// `i` (or branch separator `i` with the child after it) starts. Accessors do not fail:
/// every offset and length was checked by the parser.
#[derive(Clone, Debug)]
pub(crate) struct PageNode {
    page: Arc<[u8]>,
    level: u8,
    offsets: Vec<u32>,
}

impl PageNode {
    pub fn is_leaf(&self) -> bool {
        self.level == 0
    }

    pub fn level(&self) -> u8 {
        self.level
    }

    /// Entries of a leaf, children of a branch.
    pub fn len(&self) -> usize {
        self.offsets.len() + usize::from(!self.is_leaf())
    }

    /// Keys of a leaf (one per entry), separators of a branch (one fewer than children).
    pub fn key_count(&self) -> usize {
        self.offsets.len()
    }

    /// Leaf key `i`, or branch separator `i` (between children `i` and `i + 1`).
    pub fn key(&self, i: usize) -> &[u8] {
        let at = self.offset(i);
        let key_len = self.u16_at(at);
        let key_at = if self.is_leaf() {
            at + KEY_LEN_SIZE + TAG_SIZE + self.value_field_len(at)
        } else {
            at + KEY_LEN_SIZE
        };
        &self.page[key_at..key_at + key_len]
    }

    /// Leaf value `i`.
    pub fn value(&self, i: usize) -> ValueRef<'_> {
        debug_assert!(self.is_leaf());
        let at = self.offset(i);
        let field = at + KEY_LEN_SIZE + TAG_SIZE;
        if self.page[at + KEY_LEN_SIZE] == TAG_BLOB {
            let mut cursor = Cursor::new(&self.page[field..field + BlobPtr::SIZE]);
            ValueRef::Blob(BlobPtr::decode(&mut cursor).expect("checked by parse"))
        } else {
            let start = field + VALUE_LEN_SIZE + self.u16_at(at);
            ValueRef::Inline(&self.page[start..start + self.u16_at(field)])
        }
    }

    /// Branch child `i`.
    pub fn child(&self, i: usize) -> NodePtr {
        debug_assert!(!self.is_leaf());
        let at = if i == 0 {
            HEADER_SIZE
        } else {
            let slot = self.offset(i - 1);
            slot + KEY_LEN_SIZE + self.u16_at(slot)
        };
        let mut cursor = Cursor::new(&self.page[at..at + NodePtr::SIZE]);
        NodePtr::decode(&mut cursor).expect("checked by parse")
    }

    fn offset(&self, i: usize) -> usize {
        self.offsets[i] as usize
    }

    fn u16_at(&self, at: usize) -> usize {
        usize::from(u16::from_le_bytes([self.page[at], self.page[at + 1]]))
    }

    /// Size of the value field (length or blob pointer) of the leaf entry at `at`.
    fn value_field_len(&self, at: usize) -> usize {
        if self.page[at + KEY_LEN_SIZE] == TAG_BLOB {
            BlobPtr::SIZE
        } else {
            VALUE_LEN_SIZE
        }
    }
}

/// Parses and checks a node page whose checksum and id were verified by the store: kind
/// matches level, level below [`MAX_DEPTH`], count and every length within the page and the
/// limits, blob pointers consistent, keys strictly increasing. Total: any bytes give `Ok`
/// or `Err(Corrupt)`, and no allocation exceeds what the page's size can justify.
pub(crate) fn parse(page: Arc<[u8]>, id: PageId) -> Result<PageNode> {
    let corrupt = |kind| Error::corrupt(id, kind);
    let header = PageHeader::read(&page, id)?;
    let is_leaf = match header.kind {
        k if k == PageKind::Leaf as u8 => true,
        k if k == PageKind::Branch as u8 => false,
        found => {
            let expected = if header.level == 0 {
                PageKind::Leaf
            } else {
                PageKind::Branch
            };
            let expected = expected as u8;
            return Err(corrupt(CorruptionKind::WrongPageKind { expected, found }));
        }
    };
    if is_leaf != (header.level == 0) {
        return Err(corrupt(CorruptionKind::Invalid(
            "node level does not match its kind",
        )));
    }
    if usize::from(header.level) >= MAX_DEPTH {
        return Err(corrupt(CorruptionKind::Cycle));
    }
    let offsets = {
        let mut reader = Reader::new(&page, id)?;
        if is_leaf {
            reader.leaf_offsets(usize::from(header.count))?
        } else {
            reader.branch_offsets(usize::from(header.count))?
        }
    };
    Ok(PageNode {
        page,
        level: header.level,
        offsets,
    })
}

/// Reads a node body, turning every overrun into a corruption error naming the page.
struct Reader<'a> {
    cursor: Cursor<'a>,
    id: PageId,
    page_size: usize,
    page_size_u32: u32,
}

impl<'a> Reader<'a> {
    fn new(page: &'a [u8], id: PageId) -> Result<Self> {
        let bad_size = || Error::corrupt(id, CorruptionKind::BadLength);
        let page_size_u32 = u32::try_from(page.len()).map_err(|_| bad_size())?;
        validate_page_size(page_size_u32).map_err(|_| bad_size())?;
        Ok(Self {
            cursor: Cursor::new(&page[HEADER_SIZE..]),
            id,
            page_size: page.len(),
            page_size_u32,
        })
    }

    fn corrupt(&self, kind: CorruptionKind) -> Error {
        Error::corrupt(self.id, kind)
    }

    /// Where the next field starts, as a page offset.
    fn offset(&self) -> u32 {
        u32::try_from(HEADER_SIZE + self.cursor.position()).expect("page offsets fit u32")
    }

    fn u8(&mut self) -> Result<u8> {
        self.cursor
            .u8()
            .map_err(|_| self.corrupt(CorruptionKind::BadLength))
    }

    fn len_u16(&mut self, max: usize) -> Result<usize> {
        let len = self
            .cursor
            .u16()
            .map_err(|_| self.corrupt(CorruptionKind::BadLength))?;
        let len = usize::from(len);
        if len > max {
            return Err(self.corrupt(CorruptionKind::BadLength));
        }
        Ok(len)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        self.cursor
            .take(len)
            .map_err(|_| self.corrupt(CorruptionKind::BadLength))
    }

    fn node_ptr(&mut self) -> Result<NodePtr> {
        NodePtr::decode(&mut self.cursor).map_err(|_| self.corrupt(CorruptionKind::BadLength))
    }

    fn blob_ptr(&mut self) -> Result<BlobPtr> {
        let ptr = BlobPtr::decode(&mut self.cursor)
            .map_err(|_| self.corrupt(CorruptionKind::BadLength))?;
        ptr.validate(self.page_size_u32)
            .map_err(|_| self.corrupt(CorruptionKind::BadLength))?;
        Ok(ptr)
    }

    /// Checks that `count` entries of at least `min_len` bytes can fit before allocating.
    fn offsets_for(&self, count: usize, min_len: usize) -> Result<Vec<u32>> {
        if count > self.cursor.remaining() / min_len {
            return Err(self.corrupt(CorruptionKind::BadLength));
        }
        Ok(Vec::with_capacity(count))
    }

    fn check_order(&self, previous: Option<&[u8]>, key: &[u8]) -> Result<()> {
        match previous {
            Some(previous) if previous >= key => Err(self.corrupt(CorruptionKind::KeyOrder)),
            _ => Ok(()),
        }
    }

    fn leaf_offsets(&mut self, count: usize) -> Result<Vec<u32>> {
        if count == 0 {
            return Err(self.corrupt(CorruptionKind::Invalid("empty B-tree leaf")));
        }
        let mut offsets = self.offsets_for(count, LEAF_INLINE_OVERHEAD)?;
        let (key_max, value_max) = (
            max_key_len(self.page_size),
            max_inline_value_len(self.page_size),
        );
        let mut previous = None;
        for _ in 0..count {
            offsets.push(self.offset());
            let key_len = self.len_u16(key_max)?;
            let value_len = match self.u8()? {
                TAG_INLINE => self.len_u16(value_max)?,
                TAG_BLOB => {
                    self.blob_ptr()?;
                    0
                }
                _ => return Err(self.corrupt(CorruptionKind::Invalid("unknown value tag"))),
            };
            let key = self.take(key_len)?;
            self.take(value_len)?;
            self.check_order(previous, key)?;
            previous = Some(key);
        }
        Ok(offsets)
    }

    fn branch_offsets(&mut self, count: usize) -> Result<Vec<u32>> {
        if count < 2 {
            return Err(self.corrupt(CorruptionKind::Invalid(
                "B-tree branch with fewer than two children",
            )));
        }
        self.node_ptr()?;
        let mut offsets = self.offsets_for(count - 1, BRANCH_ENTRY_OVERHEAD)?;
        let key_max = max_key_len(self.page_size);
        let mut previous = None;
        for _ in 1..count {
            offsets.push(self.offset());
            let key_len = self.len_u16(key_max)?;
            let key = self.take(key_len)?;
            self.node_ptr()?;
            self.check_order(previous, key)?;
            previous = Some(key);
        }
        Ok(offsets)
    }
}
