//! `brooklet dump`: decoded pages for format tooling.
//!
//! The header pages are decoded here from the file's bytes, following FORMAT.md (the library
//! does not expose its page codecs), so a file too damaged to open still shows them. Trees
//! and segments come from the public API. A single page is classified as a header page, a
//! data page of a segment (whose batch starts are listed), or a B-tree node whose checksum
//! verifies; anything else (blob pages, free pages) is `unknown`.

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use brooklet::Brooklet;
use serde_json::{Value, json};

use crate::common::{Access, CliError, CliResult, MAGIC, Out, counted, io_error, open, sniff};
use crate::segments::{self, SegmentRef};
use crate::time::format_time;

const STATIC_HEADER_SIZE: usize = 32;
const SLOT_FIXED_SIZE: usize = 108;
const NODE_KIND_LEAF: u8 = 1;
const NODE_KIND_BRANCH: u8 = 2;

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

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
    let mut head = [0u8; STATIC_HEADER_SIZE];
    file.read_exact_at(&mut head, at).ok()?;
    if &head[..16] != MAGIC {
        return None;
    }
    let page_size = u32_at(&head, 20);
    let header_crc_ok = crc32c::crc32c(&head[..28]) == u32_at(&head, 28);
    let slot = if header_crc_ok && page_size.is_power_of_two() && (512..=65536).contains(&page_size)
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
        version: u32_at(&head, 16),
        page_size,
        slot_index: u32_at(&head, 24),
        header_crc_ok,
        slot,
    })
}

fn blob_ptr(bytes: &[u8], at: usize) -> Value {
    json!({
        "first_page": u32_at(bytes, at),
        "page_count": u32_at(bytes, at + 4),
        "length": u32_at(bytes, at + 8),
        "crc": format!("{:#010x}", u32_at(bytes, at + 12)),
    })
}

/// Decodes a commit slot (FORMAT.md, *Commit slot*).
fn decode_slot(slot: &[u8]) -> Value {
    let body_len = u32_at(slot, 4) as usize;
    if body_len < SLOT_FIXED_SIZE - 8 || 8 + body_len > slot.len() {
        return json!({"error": format!("slot body length {body_len} is out of bounds")});
    }
    let crc_ok = crc32c::crc32c(&slot[8..8 + body_len]) == u32_at(slot, 0);
    let journal_blob = u32_at(slot, 64 + 4) != 0;
    let journal_count = u32_at(slot, 80);
    // After the inline journal and the inline free list, the rest of the body holds the
    // pending data and entries (FORMAT.md, *Pending data and entries*).
    let inline_journal = if journal_blob {
        0
    } else {
        journal_count as usize * 12
    };
    let inline_free = if u32_at(slot, 48 + 4) == 0 {
        u32_at(slot, 48 + 8) as usize
    } else {
        0
    };
    let pending_bytes =
        (8 + body_len).saturating_sub(SLOT_FIXED_SIZE + inline_journal + inline_free);
    // The pending area opens with the length of its pending data.
    let pending_data_bytes = if pending_bytes >= 4 {
        u32_at(slot, 8 + body_len - pending_bytes)
    } else {
        0
    };
    json!({
        "crc_ok": crc_ok,
        "body_len": body_len,
        "txn": u64_at(slot, 8),
        "last_durable": u64_at(slot, 16),
        "page_count": u32_at(slot, 24),
        "durable": u32_at(slot, 28) & 1 == 1,
        "time_ms": u64_at(slot, 32),
        "time": format_time(i64::try_from(u64_at(slot, 32)).unwrap_or(i64::MAX)),
        "master_root": {"page": u32_at(slot, 40), "crc": format!("{:#010x}", u32_at(slot, 44))},
        "free_list": blob_ptr(slot, 48),
        "journal": blob_ptr(slot, 64),
        "journal_entries": journal_count,
        "journal_inline": !journal_blob,
        "window_chain": blob_ptr(slot, 84),
        "window_commits": u32_at(slot, 100),
        "window_entries": u32_at(slot, 104),
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
    print_object(out, "", &kind)?;
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
    let kind = bytes[4];
    let crc_ok = crc32c::crc32c(&bytes[4..]) == u32_at(bytes, 0);
    if crc_ok && u32_at(bytes, 8) == id && matches!(kind, NODE_KIND_LEAF | NODE_KIND_BRANCH) {
        let name = if kind == NODE_KIND_LEAF {
            "B-tree leaf"
        } else {
            "B-tree branch"
        };
        return Ok(json!({
            "kind": name,
            "level": bytes[5],
            "entries": u16::from_le_bytes([bytes[6], bytes[7]]),
            "txn": u64_at(bytes, 16),
        }));
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
                    .map(|b| {
                        json!({
                            "position": b.position,
                            "base_offset": b.header.offset_base,
                            "last_offset": b.header.offset_last(),
                            "records": b.header.record_count,
                            "bytes": b.header.size(),
                            "max_timestamp": b.header.timestamp_max_ms,
                        })
                    })
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
