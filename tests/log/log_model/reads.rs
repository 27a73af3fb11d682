//! Read steps of the log model test: each is compared with the model.

use std::time::Duration;

use brooklet::{Brooklet, FetchLimits, Fetched, Position, StoredRecord};

use super::Model;
use super::workload::{Op, TopicSpec, Workload};
use crate::support::log::{PartitionModel, TIMESTAMP_BASE_MS, TIMESTAMP_SPREAD_MS};

/// Runs one read step and compares it with the model.
pub(crate) fn run_read(
    db: &Brooklet,
    work: &Workload,
    op: &Op,
    model: &Model,
    label: &str,
) -> brooklet::Result<()> {
    let part = |topic: usize, partition: u32| -> &PartitionModel {
        &model[topic].as_ref().expect("topic created")[partition as usize]
    };
    match *op {
        Op::Fetch {
            topic,
            partition,
            offset_draw,
            limits,
        } => {
            let spec = &work.specs[topic];
            let m = part(topic, partition);
            let offset = offset_draw % (m.end() + 2);
            let fetched = db.fetch(&spec.name, partition, offset, limits)?;
            check_fetch(m, offset, limits, !spec.split, &fetched, label);
        }
        Op::OffsetForTime {
            topic,
            partition,
            draw,
            mode,
        } => {
            let m = part(topic, partition);
            let target = target_time(m, draw, mode);
            let found = db.offset_for_time(&work.specs[topic].name, partition, target)?;
            assert_eq!(found, m.offset_for_time(target), "{label}: time {target}");
        }
        Op::Offsets(topic) => check_offsets(db, &work.specs[topic], model, topic, label)?,
        Op::ReaderPoll {
            topic,
            partition,
            draw,
            mode,
        } => {
            let m = part(topic, partition);
            let start = reader_start(m, draw, mode);
            reader_poll(db, &work.specs[topic].name, partition, m, start, label)?;
        }
        Op::ReadAll => read_all_with_reader(db, work, model, label)?,
        Op::Check => {
            let report = db.admin().check()?;
            assert!(report.is_clean(), "{label}: {:?}", report.problems);
        }
        _ => unreachable!("not a read step"),
    }
    Ok(())
}

/// A fetch returns the model's records from `offset`: at least one batch, at most
/// `max_records`, and it stops early only at a batch boundary.
fn check_fetch(
    m: &PartitionModel,
    offset: u64,
    limits: FetchLimits,
    boundaries_known: bool,
    fetched: &Fetched,
    label: &str,
) {
    let end = m.end();
    assert_eq!(
        (fetched.beginning_offset, fetched.end_offset),
        (0, end),
        "{label}: offsets"
    );
    let n = fetched.records.len() as u64;
    assert_eq!(
        fetched.next_offset,
        offset + n,
        "{label}: next offset from {offset}"
    );
    if offset >= end || limits.max_records == 0 {
        assert_eq!(n, 0, "{label}: records from {offset} of {end}");
        return;
    }
    // `max_records` is reached inside some batch, and that whole batch is returned: a
    // fetch returns at least `want` records (byte budget permitting), ends at a batch
    // boundary, and never more than the batch it reached the limit in.
    let want = (limits.max_records as u64).min(end - offset);
    assert!(
        (1..=end - offset).contains(&n),
        "{label}: {n} records from {offset} of {end}"
    );
    assert!(
        fetched.records[..] == m.records[offset as usize..(offset + n) as usize],
        "{label}: records from {offset} differ"
    );
    if boundaries_known {
        let stop = offset + n;
        assert!(
            stop == end || m.batch_starts.contains(&stop),
            "{label}: fetch from {offset} stopped inside a batch at {stop}"
        );
        assert!(
            stop >= m.batch_end(offset).min(end),
            "{label}: fetch from {offset} returned less than one batch"
        );
        if n > want {
            // Only the batch holding the want-th record may run past the limit.
            let last_needed = offset + want - 1;
            assert_eq!(
                stop,
                m.batch_end(last_needed).min(end),
                "{label}: fetch from {offset} ran past the batch that reached max_records"
            );
        }
    }
    if limits.max_bytes >= 1 << 20 && want < 100 {
        assert!(
            n >= want,
            "{label}: a large byte budget stops only at max_records ({n} < {want})"
        );
    }
}

/// A lookup time: a stored record's time, just before or after it, or far outside.
fn target_time(m: &PartitionModel, draw: u64, mode: u8) -> i64 {
    let picked = if m.records.is_empty() {
        TIMESTAMP_BASE_MS
    } else {
        m.records[(draw % m.end()) as usize].timestamp_ms
    };
    match mode {
        0 => picked,
        1 => picked + 1,
        2 => picked - 1,
        3 => -5,
        4 => i64::MAX,
        _ => TIMESTAMP_BASE_MS + (draw % TIMESTAMP_SPREAD_MS.cast_unsigned()).cast_signed(),
    }
}

fn check_offsets(
    db: &Brooklet,
    spec: &TopicSpec,
    model: &Model,
    topic: usize,
    label: &str,
) -> brooklet::Result<()> {
    let parts = model[topic].as_ref().expect("topic created");
    let description = db.admin().describe_topic(&spec.name)?;
    assert_eq!(
        description.partitions.len(),
        parts.len(),
        "{label}: partitions"
    );
    for (p, info) in description.partitions.iter().enumerate() {
        let m = &parts[p];
        let partition = info.partition;
        assert_eq!(partition as usize, p, "{label}: partition order");
        assert_eq!(
            (info.beginning_offset, info.end_offset),
            (0, m.end()),
            "{label}: describe {p}"
        );
        assert_eq!(
            info.segments > 0,
            m.end() > 0,
            "{label}: segments of {p}: {info:?}"
        );
        assert_eq!(
            info.bytes > 0,
            m.end() > 0,
            "{label}: bytes of {p}: {info:?}"
        );
        assert_eq!(db.beginning_offset(&spec.name, partition)?, 0, "{label}");
        assert_eq!(db.end_offset(&spec.name, partition)?, m.end(), "{label}");
    }
    Ok(())
}

/// A start position for a reader and the offset it must resolve to.
fn reader_start(m: &PartitionModel, draw: u64, mode: u8) -> (Position, u64) {
    let end = m.end();
    match mode {
        0 => {
            let o = draw % (end + 2);
            (Position::Offset(o), o)
        }
        1 => (Position::Beginning, 0),
        2 => (Position::End, end),
        _ => {
            let t = target_time(m, draw, (draw % 6) as u8);
            (Position::Timestamp(t), m.offset_for_time(t).unwrap_or(end))
        }
    }
}

/// A fresh reader at a start position, polled once without waiting.
fn reader_poll(
    db: &Brooklet,
    name: &str,
    partition: u32,
    m: &PartitionModel,
    (start, expected): (Position, u64),
    label: &str,
) -> brooklet::Result<()> {
    let end = m.end();
    let mut reader = db.reader();
    reader.assign(name, partition, start)?;
    assert_eq!(
        reader.position(name, partition),
        Some(expected),
        "{label}: {start:?}"
    );
    let polled = reader.poll(Duration::ZERO)?;
    let after = reader.position(name, partition);
    if expected > end {
        // Past the end: the default reset policy (earliest) moves the reader back.
        assert!(polled.is_empty(), "{label}: records past the end");
        assert_eq!(after, Some(0), "{label}: reset to the beginning");
        return Ok(());
    }
    let n = polled.len() as u64;
    // A poll returns whole batches: at most max.poll.records, plus the rest of the batch
    // in which that many were reached.
    let limit = if end - expected > 500 {
        m.batch_end(expected + 499).min(end) - expected
    } else {
        500
    };
    assert!(
        n <= limit,
        "{label}: a poll returns {n}, at most max.poll.records and one batch ({limit})"
    );
    assert_eq!(
        n == 0,
        expected == end,
        "{label}: poll from {expected} of {end}"
    );
    for (i, c) in polled.iter().enumerate() {
        assert_eq!(
            (c.topic.as_str(), c.partition),
            (name, partition),
            "{label}"
        );
        assert_eq!(
            c.record,
            m.records[expected as usize + i],
            "{label}: record {i}"
        );
    }
    assert_eq!(
        after,
        Some(expected + n),
        "{label}: position after the poll"
    );
    Ok(())
}

/// One reader over every partition of every created topic, polled to the end.
pub(crate) fn read_all_with_reader(
    db: &Brooklet,
    work: &Workload,
    model: &Model,
    label: &str,
) -> brooklet::Result<()> {
    let mut reader = db.reader();
    let mut expected_total = 0;
    for (t, parts) in model.iter().enumerate() {
        if let Some(parts) = parts {
            reader.assign_topic(&work.specs[t].name, Position::Beginning)?;
            expected_total += parts.iter().map(|p| p.records.len()).sum::<usize>();
        }
    }
    let mut got: Vec<Vec<Vec<StoredRecord>>> = model
        .iter()
        .map(|t| t.as_ref().map_or(Vec::new(), |p| vec![Vec::new(); p.len()]))
        .collect();
    let mut total = 0;
    for _ in 0..=expected_total {
        let polled = reader.poll(Duration::ZERO)?;
        if polled.is_empty() {
            break;
        }
        total += polled.len();
        for c in polled {
            let t = work
                .specs
                .iter()
                .position(|s| s.name == c.topic)
                .expect("known topic");
            got[t][c.partition as usize].push(c.record);
        }
    }
    assert_eq!(total, expected_total, "{label}: records read by one reader");
    for (t, parts) in model.iter().enumerate() {
        for (p, m) in parts.iter().flatten().enumerate() {
            assert!(
                got[t][p] == m.records,
                "{label}: reader saw other records in {t}/{p}"
            );
        }
    }
    Ok(())
}
