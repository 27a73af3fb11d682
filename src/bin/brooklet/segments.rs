//! Raw segment bytes: a partition's segments are data extents holding Kafka `RecordBatch` v2
//! bytes back to back from the extent's first byte (FORMAT.md), so a segment's bytes are
//! exactly a Kafka `.log` file's content.
//!
//! The library lists segments and reads their bytes (`Admin::segments` and
//! `Admin::segment_bytes`; the newest batches may live in the commit slot as pending data,
//! which `segment_bytes` lays over the file), and every batch is verified
//! here (CRC, offsets increasing, batches filling the segment exactly). A segment that does
//! not verify was freed and reused by another process after it was listed, or is damaged.

use brooklet::Brooklet;
use brooklet::kafka::{BatchHeader, verify_batch};

use crate::common::{CliError, CliResult};

/// One segment as listed by the library.
pub use brooklet::SegmentInfo as SegmentRef;

/// Segments of one partition.
pub fn list(db: &Brooklet, topic: &str, partition: u32) -> CliResult<Vec<SegmentRef>> {
    Ok(db.admin().segments(topic, partition)?)
}

/// Reads a segment's used bytes as the newest commit holds them (the file's bytes with the
/// commit slot's pending data laid over them).
pub fn read(
    db: &Brooklet,
    topic: &str,
    partition: u32,
    segment: &SegmentRef,
) -> CliResult<Vec<u8>> {
    db.admin()
        .segment_bytes(topic, partition, segment.base_offset)?
        .ok_or_else(|| {
            CliError::failure(format!(
                "{topic}-{partition} segment {} was deleted while it was read",
                segment.base_offset
            ))
        })
}

/// A batch found in a segment: its position and header.
#[derive(Clone, Copy, Debug)]
pub struct BatchAt {
    pub position: usize,
    pub header: BatchHeader,
}

/// Verifies every batch of a segment's bytes; returns them in order.
pub fn walk(bytes: &[u8]) -> Result<Vec<BatchAt>, String> {
    let mut batches = Vec::new();
    let mut position = 0;
    let mut offset_next = 0u64;
    while position < bytes.len() {
        let header = verify_batch(&bytes[position..])
            .map_err(|e| format!("batch at byte {position}: {e}"))?;
        if header.offset_base < offset_next {
            return Err(format!(
                "batch at byte {position}: offset {} goes backwards",
                header.offset_base
            ));
        }
        offset_next = header.offset_last() + 1;
        batches.push(BatchAt { position, header });
        position += header.size();
    }
    Ok(batches)
}

/// Reads and verifies a segment, listing it again if it changed under us.
pub fn read_verified(
    db: &Brooklet,
    topic: &str,
    partition: u32,
    segment: &SegmentRef,
) -> CliResult<Vec<u8>> {
    const ATTEMPTS: usize = 3;
    let mut current = *segment;
    for _ in 0..ATTEMPTS {
        let bytes = read(db, topic, partition, &current)?;
        let Err(problem) = walk(&bytes) else {
            return Ok(bytes);
        };
        // Listed again: if the segment is unchanged, the damage is real.
        let again = list(db, topic, partition)?
            .into_iter()
            .find(|s| s.base_offset == segment.base_offset);
        match again {
            Some(s) if s == current => {
                return Err(CliError::failure(format!(
                    "{topic}-{partition} segment {}: {problem}",
                    segment.base_offset
                )));
            }
            Some(s) => current = s,
            None => {
                return Err(CliError::failure(format!(
                    "{topic}-{partition} segment {} was deleted while it was read",
                    segment.base_offset
                )));
            }
        }
    }
    Err(CliError::failure(format!(
        "{topic}-{partition} segment {} kept changing while it was read",
        segment.base_offset
    )))
}
