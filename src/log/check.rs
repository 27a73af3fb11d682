//! The event log's part of the integrity check: every partition's segments hold valid
//! batches (CRC, bounds) whose offsets rise strictly from the log start to the log end, and
//! every index entry points at a batch start.

use std::collections::BTreeSet;

use super::batch::{BATCH_HEADER_SIZE, BatchHeader, verify_batch};
use super::meta::{
    IndexEntry, PartitionState, Segment, TREE_OFFSETS, TREE_PARTITIONS, TREE_SEGMENTS, key_suffix,
    offset_key,
};
use crate::catalog::TopicMeta;
use crate::engine::{CheckReport, Problem, ReadTransaction};
use crate::error::{PageId, Result};

/// Checks every partition of every topic, adding problems to `report`.
pub(crate) fn check_partitions(read: &ReadTransaction, report: &mut CheckReport) {
    let topics = match crate::db::list_topics(read) {
        Ok(t) => t,
        Err(e) => return problem(report, None, format!("catalog: {e}")),
    };
    for topic in topics {
        for partition in 0..topic.partitions {
            if let Err(e) = check_partition(read, &topic, partition, report) {
                problem(report, None, format!("{}/{partition}: {e}", topic.name));
            }
        }
    }
}

fn problem(report: &mut CheckReport, page: Option<PageId>, message: String) {
    report.problems.push(Problem { page, message });
}

fn check_partition(
    read: &ReadTransaction,
    topic: &TopicMeta,
    partition: u32,
    report: &mut CheckReport,
) -> Result<()> {
    let name = format!("{}/{partition}", topic.name);
    let state_bytes = read
        .get(
            TREE_PARTITIONS,
            &super::meta::partition_key(topic.id, partition),
        )?
        .ok_or_else(|| crate::Error::invalid("partition state missing"))?;
    let state = PartitionState::decode(&state_bytes)?;
    let low = offset_key(topic.id, partition, 0);
    let high = offset_key(topic.id, partition, u64::MAX);
    let mut expected_next: Option<u64> = None;
    let mut batch_starts: BTreeSet<(u64, u32)> = BTreeSet::new();
    let mut segments = 0u32;
    let mut bytes_total = 0u64;
    for item in read.range(TREE_SEGMENTS, &low[..]..=&high[..])? {
        let (key, value) = item?;
        let base = key_suffix(TREE_SEGMENTS, &key)?;
        let seg = Segment::decode(&value, read.bounds())?;
        segments += 1;
        bytes_total += u64::from(seg.bytes_used);
        let mut data = vec![0u8; seg.bytes_used as usize];
        read.read_data(PageId(seg.first_page), 0, &mut data)?;
        let mut pos = 0usize;
        while pos < data.len() {
            let page = PageId(
                seg.first_page + u32::try_from(pos / read.page_size() as usize).unwrap_or(0),
            );
            if data.len() - pos < BATCH_HEADER_SIZE {
                problem(
                    report,
                    Some(page),
                    format!("{name}: segment {base} ends inside a batch header"),
                );
                break;
            }
            let header = match verify_batch(&data[pos..]) {
                Ok(h) => h,
                Err(e) => {
                    problem(
                        report,
                        Some(page),
                        format!("{name}: segment {base} at byte {pos}: {e}"),
                    );
                    break;
                }
            };
            check_offsets(report, &name, page, &header, &mut expected_next, base);
            batch_starts.insert((base, u32::try_from(pos).expect("segments are below 4 GiB")));
            pos += header.size();
        }
        if expected_next.is_some_and(|n| n.saturating_sub(1) != seg.offset_last) {
            problem(
                report,
                Some(PageId(seg.first_page)),
                format!(
                    "{name}: segment {base} records offset_last {} but its batches end at {}",
                    seg.offset_last,
                    expected_next.unwrap_or(0).saturating_sub(1)
                ),
            );
        }
    }
    if let Some(next) = expected_next
        && next != state.next_offset
    {
        problem(
            report,
            None,
            format!(
                "{name}: batches end at offset {next}, partition end is {}",
                state.next_offset
            ),
        );
    }
    if segments != state.segment_count || bytes_total != state.bytes_total {
        problem(
            report,
            None,
            format!(
                "{name}: partition state counts {} segments / {} bytes, found {segments} / {bytes_total}",
                state.segment_count, state.bytes_total
            ),
        );
    }
    for item in read.range(TREE_OFFSETS, &low[..]..=&high[..])? {
        let (key, value) = item?;
        let entry = IndexEntry::decode(&value)?;
        if !batch_starts.contains(&(entry.segment_base, entry.position)) {
            problem(
                report,
                None,
                format!(
                    "{name}: offset index entry for {} points at no batch",
                    key_suffix(TREE_OFFSETS, &key)?
                ),
            );
        }
    }
    Ok(())
}

fn check_offsets(
    report: &mut CheckReport,
    name: &str,
    page: PageId,
    header: &BatchHeader,
    expected_next: &mut Option<u64>,
    base: u64,
) {
    let first = expected_next.is_none();
    if first && header.offset_base < base {
        problem(
            report,
            Some(page),
            format!(
                "{name}: first batch offset {} below segment base {base}",
                header.offset_base
            ),
        );
    }
    if let Some(next) = *expected_next
        && header.offset_base < next
    {
        problem(
            report,
            Some(page),
            format!(
                "{name}: batch offset {} does not rise above {}",
                header.offset_base,
                next - 1
            ),
        );
    }
    *expected_next = Some(header.offset_last() + 1);
}
