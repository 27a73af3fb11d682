//! `brooklet dump`: decoded pages for format tooling.
//!
//! The header pages are decoded here from the file's bytes, through the layouts of
//! `brooklet::format` (the library does not expose its page codecs), so a file too damaged
//! to open still shows them. Trees
//! and segments come from the public API. A single page is classified as a header page, a
//! data page of a segment (whose batch starts are listed), or a B-tree node whose checksum
//! verifies; anything else (blob pages, free pages) is `unknown`. A data page's batches show
//! the producer fields of idempotent and transactional batches, and a control batch its
//! marker (COMMIT or ABORT).

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use brooklet::format::{
    BlobPtr, JOURNAL_ENTRY_SIZE, MAGIC, PAGE_CRC_START, PAGE_KIND_BRANCH, PAGE_KIND_LEAF,
    PageHeader, SLOT_BODY_START, SLOT_FIXED_SIZE, SLOT_FLAG_DURABLE, STATIC_HEADER_CRC_END,
    STATIC_HEADER_SIZE, SlotFixed, StaticHeader,
};
use brooklet::kafka::{ControlRecord, ControlType, decode_batch};
use brooklet::{Brooklet, PAGE_SIZE_MAX, PAGE_SIZE_MIN};
use serde_json::{Value, json};
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes as _, FromZeros as _, IntoBytes as _};

use crate::common::{Access, CliError, CliResult, Out, counted, io_error, open, sniff};
use crate::segments::{self, BatchAt, SegmentRef};
use crate::time::format_time;

/// A header page's static header and commit slot, decoded.
#[derive(Debug)]
pub struct HeaderPage {
    pub index: u32,
    pub version: u32,
    pub page_size: u32,
    pub slot_index: u32,
    pub header_crc_ok: bool,
    pub slot: Value,
}

/// Reads both header pages: page 0 at byte 0, page 1 at the page size page 0 names, or
/// (page 0 torn) at each possible page size. `None` where no header with the magic is found.
pub fn read_headers(path: &Path) -> CliResult<[Option<HeaderPage>; 2]> {
    let file = File::open(path).map_err(|e| io_error(path, &e))?;
    let first = read_header_at(&file, 0, 0);
    let sizes: Vec<u64> = match &first {
        Some(h) if h.header_crc_ok => vec![u64::from(h.page_size)],
        _ => (9..=16).map(|shift| 1u64 << shift).collect(),
    };
    let second = sizes
        .into_iter()
        .filter_map(|size| read_header_at(&file, size, 1))
        .find(|h| h.header_crc_ok);
    Ok([first, second])
}

fn read_header_at(file: &File, at: u64, index: u32) -> Option<HeaderPage> {
    let mut head = StaticHeader::new_zeroed();
    file.read_exact_at(head.as_mut_bytes(), at).ok()?;
    if head.magic != MAGIC {
        return None;
    }
    let page_size = head.page_size.get();
    let header_crc_ok = crc32c::crc32c(&head.as_bytes()[..STATIC_HEADER_CRC_END]) == head.crc.get();
    let slot = if header_crc_ok
        && page_size.is_power_of_two()
        && (PAGE_SIZE_MIN..=PAGE_SIZE_MAX).contains(&page_size)
    {
        let mut page = vec![0u8; page_size as usize];
        match file.read_exact_at(&mut page, at) {
            Ok(()) => decode_slot(&page[STATIC_HEADER_SIZE..]),
            Err(_) => json!({"error": "header page is truncated"}),
        }
    } else {
        json!({"error": "static header does not verify"})
    };
    Some(HeaderPage {
        index,
        version: head.version.get(),
        page_size,
        slot_index: head.slot_index.get(),
        header_crc_ok,
        slot,
    })
}

fn blob_ptr(ptr: &BlobPtr) -> Value {
    json!({
        "first_page": ptr.first_page.get(),
        "page_count": ptr.page_count.get(),
        "length": ptr.length.get(),
        "crc": format!("{:#010x}", ptr.crc.get()),
    })
}

/// Decodes a commit slot (FORMAT.md, *Commit slot*).
fn decode_slot(slot: &[u8]) -> Value {
    let Ok((fixed, _)) = SlotFixed::ref_from_prefix(slot) else {
        return json!({"error": "slot is truncated"});
    };
    let body_len = fixed.body_len.get() as usize;
    let body_end = SLOT_BODY_START + body_len;
    if body_end < SLOT_FIXED_SIZE || body_end > slot.len() {
        return json!({"error": format!("slot body length {body_len} is out of bounds")});
    }
    let crc_ok = crc32c::crc32c(&slot[SLOT_BODY_START..body_end]) == fixed.crc.get();
    let journal_blob = fixed.journal.page_count.get() != 0;
    let journal_count = fixed.journal_count.get();
    // After the inline journal and the inline free list, the rest of the body holds the
    // pending data and entries (FORMAT.md, *Pending data and entries*).
    let inline_journal = if journal_blob {
        0
    } else {
        journal_count as usize * JOURNAL_ENTRY_SIZE
    };
    let inline_free = if fixed.free_list.page_count.get() == 0 {
        fixed.free_list.length.get() as usize
    } else {
        0
    };
    let pending_bytes = body_end.saturating_sub(SLOT_FIXED_SIZE + inline_journal + inline_free);
    // The pending area opens with the length of its pending data.
    let pending_data_bytes = if pending_bytes >= 4 {
        U32::read_from_prefix(&slot[body_end - pending_bytes..]).map_or(0, |(len, _)| len.get())
    } else {
        0
    };
    let time_ms = fixed.time_ms.get();
    json!({
        "crc_ok": crc_ok,
        "body_len": body_len,
        "txn": fixed.txn.get(),
        "last_durable": fixed.last_durable.get(),
        "page_count": fixed.page_count.get(),
        "durable": fixed.flags.get() & SLOT_FLAG_DURABLE != 0,
        "time_ms": time_ms,
        "time": format_time(i64::try_from(time_ms).unwrap_or(i64::MAX)),
        "master_root": {
            "page": fixed.master_root.page.get(),
            "crc": format!("{:#010x}", fixed.master_root.crc.get()),
        },
        "free_list": blob_ptr(&fixed.free_list),
        "journal": blob_ptr(&fixed.journal),
        "journal_entries": journal_count,
        "journal_inline": !journal_blob,
        "window_chain": blob_ptr(&fixed.window),
        "window_commits": fixed.window_commits.get(),
        "window_entries": fixed.window_entries.get(),
        "pending_bytes": pending_bytes,
        "pending_data_bytes": pending_data_bytes,
    })
}

pub fn run(file: &Path, page: Option<u32>, as_json: bool) -> CliResult {
    sniff(file)?;
    let headers = read_headers(file)?;
    // Dumping a damaged file is a use of dump: print what can be read, then fail.
    let opened = open(file, Access::Read);
    let mut out = Out::new();
    match page {
        None => dump_file(&mut out, &headers, opened.as_ref().ok(), as_json)?,
        Some(id) => dump_page(&mut out, file, &headers, opened.as_ref().ok(), id, as_json)?,
    }
    out.flush()?;
    opened.map(|_| ())
}

fn header_json(h: &HeaderPage) -> Value {
    json!({
        "page": h.index,
        "format_version": h.version,
        "page_size": h.page_size,
        "slot_index": h.slot_index,
        "header_crc_ok": h.header_crc_ok,
        "slot": h.slot,
    })
}

fn headers_json(headers: &[Option<HeaderPage>; 2]) -> Vec<Value> {
    headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            h.as_ref().map_or_else(
                || json!({"page": i, "error": "no brooklet header found"}),
                header_json,
            )
        })
        .collect()
}

/// Every partition's segments: `(topic, partition, segment)`.
fn all_segments(db: &Brooklet) -> CliResult<Vec<(String, u32, SegmentRef)>> {
    let mut out = Vec::new();
    for topic in db.admin().topics()? {
        for partition in 0..topic.partitions {
            for seg in segments::list(db, &topic.name, partition)? {
                out.push((topic.name.clone(), partition, seg));
            }
        }
    }
    Ok(out)
}

fn dump_file(
    out: &mut Out,
    headers: &[Option<HeaderPage>; 2],
    db: Option<&Brooklet>,
    as_json: bool,
) -> CliResult {
    let mut trees = Vec::new();
    let mut segs = Vec::new();
    if let Some(db) = db {
        for tree in db.admin().trees()? {
            trees.push((tree.name, tree.entries));
        }
        segs = all_segments(db)?;
    }
    if as_json {
        let trees: Vec<Value> = trees
            .iter()
            .map(|(name, entries)| json!({"name": name, "entries": entries}))
            .collect();
        let segs: Vec<Value> = segs
            .iter()
            .map(|(topic, partition, s)| {
                json!({
                    "topic": topic, "partition": partition, "base_offset": s.base_offset,
                    "first_page": s.first_page, "page_count": s.page_count,
                    "bytes_used": s.bytes_used,
                })
            })
            .collect();
        let value = json!({"headers": headers_json(headers), "trees": trees, "segments": segs});
        return out.line(&value.to_string());
    }
    for (index, value) in headers_json(headers).iter().enumerate() {
        out.line(&format!("header page {index}:"))?;
        print_object(out, "  ", value)?;
    }
    if db.is_some() {
        out.line("trees:")?;
        for (name, entries) in &trees {
            let entries = if *entries == 1 {
                "1 entry".to_owned()
            } else {
                format!("{entries} entries")
            };
            out.line(&format!("  {name}: {entries}"))?;
        }
        out.line("segments:")?;
        for (topic, partition, s) in &segs {
            out.line(&format!(
                "  {topic}-{partition} base offset {}: pages {}..{} ({}), {} used",
                s.base_offset,
                s.first_page,
                s.first_page + s.page_count,
                counted(u64::from(s.page_count), "page"),
                counted(u64::from(s.bytes_used), "byte")
            ))?;
        }
    }
    Ok(())
}

/// Prints a JSON object as indented `key: value` lines.
fn print_object(out: &mut Out, indent: &str, value: &Value) -> CliResult {
    let Value::Object(map) = value else {
        return out.line(&format!("{indent}{value}"));
    };
    for (key, item) in map {
        match item {
            Value::Object(inner) if inner.len() > 2 || key == "slot" => {
                out.line(&format!("{indent}{key}:"))?;
                print_object(out, &format!("{indent}  "), item)?;
            }
            Value::String(s) => out.line(&format!("{indent}{key}: {s}"))?,
            other => out.line(&format!("{indent}{key}: {other}"))?,
        }
    }
    Ok(())
}

fn dump_page(
    out: &mut Out,
    file: &Path,
    headers: &[Option<HeaderPage>; 2],
    db: Option<&Brooklet>,
    id: u32,
    as_json: bool,
) -> CliResult {
    let page_size = headers
        .iter()
        .flatten()
        .find(|h| h.header_crc_ok)
        .map(|h| h.page_size)
        .ok_or_else(|| CliError::failure("no header page verifies; the page size is unknown"))?;
    let handle = File::open(file).map_err(|e| io_error(file, &e))?;
    let mut bytes = vec![0u8; page_size as usize];
    handle
        .read_exact_at(&mut bytes, u64::from(id) * u64::from(page_size))
        .map_err(|_| {
            CliError::failure(format!(
                "page {id} is past the end of the file (page size {page_size})"
            ))
        })?;
    let kind = classify(db, &bytes, id, page_size, headers)?;
    if as_json {
        let value = json!({"page": id, "page_size": page_size, "kind": kind});
        return out.line(&value.to_string());
    }
    out.line(&format!("page {id} (page size {page_size})"))?;
    print_kind(out, &kind)?;
    hex_dump(out, &bytes, u64::from(id) * u64::from(page_size))
}

/// What a page is, as far as can be told.
fn classify(
    db: Option<&Brooklet>,
    bytes: &[u8],
    id: u32,
    page_size: u32,
    headers: &[Option<HeaderPage>; 2],
) -> CliResult<Value> {
    if id < 2 {
        return Ok(headers[id as usize].as_ref().map_or_else(
            || json!({"kind": "header (unreadable)"}),
            |h| json!({"kind": "header", "header": header_json(h)}),
        ));
    }
    if let Some(db) = db {
        for (topic, partition, seg) in all_segments(db)? {
            if (seg.first_page..seg.first_page + seg.page_count).contains(&id) {
                return Ok(data_page(db, &topic, partition, &seg, id, page_size));
            }
        }
    }
    if let Ok((header, _)) = PageHeader::ref_from_prefix(bytes) {
        let crc_ok = crc32c::crc32c(&bytes[PAGE_CRC_START..]) == header.crc.get();
        let kind = header.kind;
        if crc_ok && header.page.get() == id && matches!(kind, PAGE_KIND_LEAF | PAGE_KIND_BRANCH) {
            let name = if kind == PAGE_KIND_LEAF {
                "B-tree leaf"
            } else {
                "B-tree branch"
            };
            return Ok(json!({
                "kind": name,
                "level": header.level,
                "entries": header.count.get(),
                "txn": header.txn.get(),
            }));
        }
    }
    Ok(json!({
        "kind": "unknown",
        "note": "not a header, data page or verifying B-tree node: a blob page (overflow \
                 value, free list, journal), a free page, or a damaged page",
    }))
}

/// Describes a data page of a segment and the batches that start in it.
fn data_page(
    db: &Brooklet,
    topic: &str,
    partition: u32,
    seg: &SegmentRef,
    id: u32,
    page_size: u32,
) -> Value {
    let page_start = (u64::from(id - seg.first_page) * u64::from(page_size)) as usize;
    let page_end = page_start + page_size as usize;
    let batches = match segments::read(db, topic, partition, seg) {
        Ok(bytes) => match segments::walk(&bytes) {
            Ok(found) => Value::Array(
                found
                    .iter()
                    .filter(|b| (page_start..page_end).contains(&b.position))
                    .map(|b| batch_json(&bytes, b))
                    .collect(),
            ),
            Err(problem) => json!({"error": problem}),
        },
        Err(e) => json!({"error": e.message}),
    };
    json!({
        "kind": "data",
        "topic": topic,
        "partition": partition,
        "segment_base_offset": seg.base_offset,
        "segment_bytes": format!("{page_start}..{page_end} of {} used", seg.bytes_used),
        "batches_starting_here": batches,
    })
}

/// One batch as JSON: where it starts, its offsets, and the producer fields of an
/// idempotent or transactional producer's batch; a control batch names its marker.
fn batch_json(segment: &[u8], b: &BatchAt) -> Value {
    let h = &b.header;
    let mut value = json!({
        "position": b.position,
        "base_offset": h.offset_base,
        "last_offset": h.offset_last(),
        "records": h.record_count,
        "bytes": h.size(),
        "max_timestamp": h.timestamp_max_ms,
    });
    if h.producer_id >= 0 {
        value["producer_id"] = json!(h.producer_id);
        value["producer_epoch"] = json!(h.producer_epoch);
        value["base_sequence"] = json!(h.sequence_base);
    }
    if h.is_transactional() {
        value["transactional"] = json!(true);
    }
    if h.is_control() {
        value["marker"] = json!(marker_name(&segment[b.position..]));
    }
    value
}

/// What a control batch's record says: `COMMIT marker` or `ABORT marker`.
fn marker_name(batch: &[u8]) -> String {
    let decoded = match decode_batch(batch) {
        Ok(decoded) => decoded,
        Err(e) => return format!("undecodable control batch: {e}"),
    };
    let Some(record) = decoded.records.first() else {
        return "control batch without a record".to_owned();
    };
    match ControlRecord::parse(record.key.as_deref(), record.value.as_deref()) {
        Ok(control) => match control.kind {
            ControlType::Commit => "COMMIT marker".to_owned(),
            ControlType::Abort => "ABORT marker".to_owned(),
        },
        Err(e) => format!("unknown control record: {e}"),
    }
}

/// A batch as one line of text, from [`batch_json`]'s object.
fn batch_line(b: &Value) -> String {
    let mut line = format!(
        "batch at byte {}: offsets {}..={}, {}, {}, max timestamp {}",
        b["position"],
        b["base_offset"],
        b["last_offset"],
        counted(b["records"].as_u64().unwrap_or(0), "record"),
        counted(b["bytes"].as_u64().unwrap_or(0), "byte"),
        b["max_timestamp"]
    );
    if b.get("producer_id").is_some() {
        let _ = write!(
            line,
            ", producer {} epoch {} sequence {}",
            b["producer_id"], b["producer_epoch"], b["base_sequence"]
        );
    }
    if b.get("transactional").is_some() {
        line.push_str(", transactional");
    }
    if let Some(Value::String(marker)) = b.get("marker") {
        let _ = write!(line, ", {marker}");
    }
    line
}

/// The text form of a page's kind: its fields, with the batches of a data page one per
/// line.
fn print_kind(out: &mut Out, kind: &Value) -> CliResult {
    let Some(Value::Array(batches)) = kind.get("batches_starting_here") else {
        return print_object(out, "", kind);
    };
    let Value::Object(fields) = kind else {
        return print_object(out, "", kind);
    };
    let rest: serde_json::Map<String, Value> = fields
        .iter()
        .filter(|(key, _)| *key != "batches_starting_here")
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    print_object(out, "", &Value::Object(rest))?;
    out.line("batches_starting_here:")?;
    for batch in batches {
        out.line(&format!("  {}", batch_line(batch)))?;
    }
    Ok(())
}

/// `xxd`-style lines; runs of identical lines are printed once, then `*`.
fn hex_dump(out: &mut Out, bytes: &[u8], base: u64) -> CliResult {
    let mut previous: Option<&[u8]> = None;
    let mut starred = false;
    for (index, chunk) in bytes.chunks(16).enumerate() {
        if previous == Some(chunk) {
            if !starred {
                out.line("*")?;
                starred = true;
            }
            continue;
        }
        previous = Some(chunk);
        starred = false;
        let mut line = format!("{:08x}: ", base + index as u64 * 16);
        for (i, b) in chunk.iter().enumerate() {
            let _ = write!(line, "{b:02x}");
            if i % 2 == 1 {
                line.push(' ');
            }
        }
        line.push(' ');
        line.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        }));
        out.line(&line)?;
    }
    Ok(())
}
