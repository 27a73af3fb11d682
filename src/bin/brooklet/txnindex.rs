//! Kafka's transaction index (`.txnindex`) for `export --format kafka-segment`: the aborted
//! transactions whose ABORT marker lies in a segment, each as Kafka's 34-byte `AbortedTxn`
//! entry, big-endian: version i16 (0), producerId i64, firstOffset i64, lastOffset i64
//! (the marker's offset), lastStableOffset i64.
//!
//! As in Kafka, a segment's index file exists only once it has an entry (Kafka's
//! `TransactionIndex` creates its file on the first append), and entries are in the order
//! of their markers.
//!
//! lastStableOffset is the partition's last stable offset right after the marker, as
//! Kafka's broker records it: the first offset of the oldest transaction of another
//! producer still open at the marker, or the marker's offset + 1 when none is. It is
//! recomputed from the exported batches; a transaction whose first batches retention has
//! already removed counts from its first batch still stored, so the value can then be
//! higher than Kafka's was, never above the marker's offset + 1 (which is what readers of
//! the index use it for: stopping a search early).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use brooklet::AbortedTransaction;
use brooklet::kafka::BatchHeader;

/// Bytes of one entry.
pub const ENTRY_SIZE: usize = 34;

/// The path of the index of the segment of `partition` starting at `base_offset`.
pub fn path(dir: &Path, topic: &str, partition: u32, base_offset: u64) -> PathBuf {
    dir.join(format!("{topic}-{partition}"))
        .join(format!("{base_offset:020}.txnindex"))
}

/// The aborted transactions of each segment (by base offset, `bases` ascending), placed by
/// their marker's offset and in marker order. Segments without any are left out.
pub fn by_segment(
    aborted: &[AbortedTransaction],
    bases: &[u64],
) -> BTreeMap<u64, Vec<AbortedTransaction>> {
    let mut out: BTreeMap<u64, Vec<AbortedTransaction>> = BTreeMap::new();
    let mut sorted = aborted.to_vec();
    sorted.sort_by_key(|a| a.last_offset);
    for entry in sorted {
        // The last segment starting at or before the marker holds it.
        let holder = bases.iter().rev().find(|&&base| base <= entry.last_offset);
        if let Some(&base) = holder {
            out.entry(base).or_default().push(entry);
        }
    }
    out
}

/// Follows a partition's transactions through its batches, segment by segment, to know
/// the last stable offset after each transaction marker.
#[derive(Debug, Default)]
pub struct StableOffsets {
    /// The first stored offset of each producer's open transaction.
    open: HashMap<i64, u64>,
    /// The last stable offset right after each marker, by the marker's offset.
    after_marker: HashMap<u64, u64>,
}

impl StableOffsets {
    /// Reads the batch headers of one segment's bytes (already verified), in order.
    pub fn scan(&mut self, segment: &[u8]) {
        let mut position = 0;
        while let Some(bytes) = segment.get(position..).filter(|b| !b.is_empty()) {
            let Ok(header) = BatchHeader::parse(bytes) else {
                return; // verified before; nothing more can be told
            };
            position += header.size();
            if !header.is_transactional() {
                continue;
            }
            if header.is_control() {
                self.open.remove(&header.producer_id);
                let oldest = self.open.values().min().copied();
                let marker = header.offset_base;
                self.after_marker
                    .insert(marker, oldest.unwrap_or(marker + 1));
            } else {
                self.open
                    .entry(header.producer_id)
                    .or_insert(header.offset_base);
            }
        }
    }

    /// The index entries of `aborted`, encoded.
    pub fn encode(&self, aborted: &[AbortedTransaction]) -> Vec<u8> {
        let mut out = Vec::with_capacity(aborted.len() * ENTRY_SIZE);
        for a in aborted {
            let stable = self
                .after_marker
                .get(&a.last_offset)
                .copied()
                .unwrap_or(a.last_offset + 1);
            out.extend_from_slice(&0_i16.to_be_bytes());
            out.extend_from_slice(&a.producer_id.to_be_bytes());
            for offset in [a.first_offset, a.last_offset, stable] {
                let offset = i64::try_from(offset).expect("Kafka offsets fit an i64");
                out.extend_from_slice(&offset.to_be_bytes());
            }
        }
        out
    }
}
