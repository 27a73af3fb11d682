//! Batches edited with recomputed CRCs: a small valid file is built through the public API
//! once; each input edits the bytes of stored batches (header fields set to boundary
//! values, record bytes patched, lengths changed), recomputes each edited batch's Kafka
//! CRC-32C so that only brooklet's own checks can tell, and writes them back into the file.
//! Then `check`, every public read (fetch, fetch_batches and its records, consumers), and
//! compaction, retention and vacuum run on the file.
//!
//! Nothing may panic or allocate out of proportion to the file. Once `check` calls the
//! file clean, no operation may refuse it as corrupt (see `common`).

#![no_main]

mod common;

use std::sync::{Arc, OnceLock};

use brooklet::kafka::{BATCH_HEADER_SIZE, BatchHeader};
use brooklet::storage::MemStorage;
use common::{
    Op, Oracle, PAGE_SIZE, open, options, read_everything, recompute_crc, run_op, template,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// Where the template's batches lie in its file: byte offset and length.
struct Template {
    bytes: Vec<u8>,
    batches: Vec<(usize, usize)>,
}

fn build() -> Template {
    let bytes = template();
    let storage = Arc::new(MemStorage::from_bytes(bytes.clone()));
    let db = open(&storage, options()).expect("the template opens");
    let mut batches = Vec::new();
    for topic in db.admin().topics().expect("topics") {
        for partition in 0..topic.partitions {
            for brooklet::SegmentInfo {
                first_page,
                bytes_used,
                ..
            } in db
                .admin()
                .segments(&topic.name, partition)
                .expect("segments")
            {
                let start = first_page as usize * PAGE_SIZE as usize;
                let mut pos = 0usize;
                while pos + BATCH_HEADER_SIZE <= bytes_used as usize {
                    let header = BatchHeader::parse(&bytes[start + pos..]).expect("a valid batch");
                    batches.push((start + pos, header.size()));
                    pos += header.size();
                }
            }
        }
    }
    assert!(batches.len() > 20, "the template holds batches");
    Template { bytes, batches }
}

/// Header fields of a `RecordBatch` v2: offset and width.
const FIELDS: [(usize, usize); 11] = [
    (0, 8),  // baseOffset
    (8, 4),  // batchLength
    (12, 4), // partitionLeaderEpoch
    (16, 1), // magic
    (21, 2), // attributes
    (23, 4), // lastOffsetDelta
    (27, 8), // baseTimestamp
    (35, 8), // maxTimestamp
    (43, 8), // producerId
    (53, 4), // baseSequence
    (57, 4), // recordCount
];

#[derive(Arbitrary, Clone, Copy, Debug)]
enum Number {
    Zero,
    One,
    MinusOne,
    Max,
    Min,
    /// The field's present value plus a small delta.
    Near(i8),
    Any(u64),
}

/// One change to one batch (picked by index).
#[derive(Arbitrary, Clone, Debug)]
enum Change {
    /// A header field (big-endian, as Kafka writes it).
    Field { field: u8, number: Number },
    /// Bytes of the records (after the header), at an offset from the header's end.
    Records { at: u16, bytes: Vec<u8> },
    /// One byte xored anywhere in the batch.
    Flip { at: u16, mask: u8 },
    /// The next batch's first bytes moved into this one: its length grows by `by`.
    Grow { by: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    edits: Vec<(u16, Change)>,
    ops: Vec<Op>,
}

fn field_value(bytes: &[u8], width: usize, number: Number) -> Vec<u8> {
    let mut present = [0u8; 8];
    present[8 - width..].copy_from_slice(&bytes[..width]);
    let present = u64::from_be_bytes(present);
    let max = if width == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    };
    let sign = 1u64 << (8 * width - 1);
    let n = match number {
        Number::Zero => 0,
        Number::One => 1,
        Number::MinusOne => max,
        Number::Max => sign - 1,
        Number::Min => sign,
        Number::Near(d) => present.wrapping_add_signed(i64::from(d)),
        Number::Any(v) => v,
    } & max;
    n.to_be_bytes()[8 - width..].to_vec()
}

/// Applies a change to the batch at `at` of `len` bytes in `file`; returns the bytes of
/// the batch as it now is (its length field may have changed).
fn apply(file: &mut [u8], at: usize, len: usize, change: &Change) -> usize {
    let batch = &mut file[at..at + len];
    match change {
        Change::Field { field, number } => {
            let (offset, width) = FIELDS[usize::from(*field) % FIELDS.len()];
            let value = field_value(&batch[offset..], width, *number);
            batch[offset..offset + width].copy_from_slice(&value);
        }
        Change::Records { at, bytes } => {
            let records = &mut batch[BATCH_HEADER_SIZE..];
            if !records.is_empty() {
                let start = usize::from(*at) % records.len();
                for (i, b) in bytes.iter().take(16).enumerate() {
                    if let Some(slot) = records.get_mut(start + i) {
                        *slot = *b;
                    }
                }
            }
        }
        Change::Flip { at, mask } => {
            let i = usize::from(*at) % batch.len();
            batch[i] ^= mask | 1;
        }
        Change::Grow { by } => {
            let length = u32::from_be_bytes(batch[8..12].try_into().expect("4 bytes"));
            let grown = length.saturating_add(u32::from(*by) + 1);
            batch[8..12].copy_from_slice(&grown.to_be_bytes());
        }
    }
    // The CRC covers the batch as its (possibly changed) length says, as far as the file
    // goes.
    let length = u32::from_be_bytes(file[at + 8..at + 12].try_into().expect("4 bytes"));
    let end = (at + 12).saturating_add(length as usize).min(file.len());
    let end = end.max(at + 21);
    recompute_crc(&mut file[at..end]);
    end - at
}

fuzz_target!(|input: Input| {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    let template = TEMPLATE.get_or_init(build);
    let mut file = template.bytes.clone();
    for (index, change) in input.edits.iter().take(4) {
        let (at, len) = template.batches[usize::from(*index) % template.batches.len()];
        apply(&mut file, at, len, change);
    }
    let storage = Arc::new(MemStorage::from_bytes(file));
    let Ok(db) = open(&storage, options()) else {
        panic!("edited batches are data: opening must not read them");
    };
    let mut oracle = Oracle::check(&db);
    read_everything(&db, &mut oracle);
    let mut db = db;
    let defaults = [Op::Compact, Op::Maintain, Op::Vacuum, Op::ReadAll];
    for op in input.ops.iter().take(8).chain(&defaults) {
        match run_op(db, &storage, op, &mut oracle) {
            Some(next) => db = next,
            None => return,
        }
    }
});
