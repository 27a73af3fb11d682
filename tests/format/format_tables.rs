//! FORMAT.md against `brooklet::format`: the spec's offset tables and the structs the code
//! reads and writes through must agree, field by field, so neither can change alone.
//!
//! Every table of FORMAT.md with `offset` and `size` columns belongs to one struct (by the
//! heading it is under) or is listed in [`NOT_BROOKLET_LAYOUTS`]. Its rows with a number in
//! both columns are the struct's fields in order: same offsets, same sizes, and the same
//! name where the field cell starts with a backquoted name (else the cell's words name the
//! field's: `page size in bytes` for `page_size`). The first row after them with a
//! numeric offset (where a variable part starts, `108 | 12*n`) is at the struct's size. Rows
//! like `13 + 24 i` are the fields of a repeated struct that starts at byte 13, 24 bytes
//! each. Structs FORMAT.md describes in prose (pointers, journal entries, tree values) are
//! checked against the integer types the prose lists, and sizes the prose states are
//! checked against the structs.

use std::collections::BTreeSet;
use std::mem::{offset_of, size_of};

use brooklet::format::{
    BlobPtr, CommittedHead, ExtentValue, FreeExtent, GroupStateHead, IndexEntry, JournalEntry,
    KafkaGroupHead, MemberHead, NodePtr, Owner, PageHeader, PartitionState, ProducerSend,
    ProducerStateHead, STATIC_HEADER_SIZE, Segment, SlotFixed, StaticHeader, TimeIndexEntry,
    TxnIdHead, TxnPartition, WindowNodeHead,
};

/// A struct's layout as the compiler lays it out.
#[derive(Debug)]
struct Layout {
    name: &'static str,
    size: usize,
    fields: Vec<Field>,
}

#[derive(Debug)]
struct Field {
    name: &'static str,
    offset: usize,
    size: usize,
}

fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// The layout of a struct; every field must be listed, in order (checked: the fields must
/// tile the struct).
macro_rules! layout {
    ($ty:ident { $($field:ident),* $(,)? }) => {{
        let layout = Layout {
            name: stringify!($ty),
            size: size_of::<$ty>(),
            fields: vec![$(Field {
                name: stringify!($field),
                offset: offset_of!($ty, $field),
                size: field_size(|s: &$ty| &s.$field),
            }),*],
        };
        let mut end = 0;
        for f in &layout.fields {
            assert_eq!(f.offset, end, "{}.{} leaves a gap or is out of order", layout.name, f.name);
            end += f.size;
        }
        assert_eq!(end, layout.size, "{}: fields missing from the list", layout.name);
        layout
    }};
}

fn static_header() -> Layout {
    layout!(StaticHeader {
        magic,
        version,
        page_size,
        slot_index,
        crc
    })
}

fn slot_fixed() -> Layout {
    layout!(SlotFixed {
        crc,
        body_len,
        txn,
        last_durable,
        page_count,
        flags,
        time_ms,
        master_root,
        free_list,
        journal,
        journal_count,
        window,
        window_commits,
        window_entries,
    })
}

fn page_header() -> Layout {
    layout!(PageHeader {
        crc,
        kind,
        level,
        count,
        page,
        reserved,
        txn
    })
}

fn free_extent() -> Layout {
    layout!(FreeExtent {
        first_page,
        page_count,
        tag
    })
}

fn partition_state() -> Layout {
    layout!(PartitionState {
        log_start,
        next_offset,
        active_base,
        segment_count,
        bytes_total,
        indexed_pos,
        timed_pos,
        timestamp_max,
    })
}

fn segment() -> Layout {
    layout!(Segment {
        first_page,
        page_count,
        bytes_used,
        offset_last,
        timestamp_max
    })
}

fn group_state_head() -> Layout {
    layout!(GroupStateHead {
        generation,
        assignor,
        count
    })
}

fn owner() -> Layout {
    layout!(Owner {
        topic_id,
        partition,
        member,
        pending
    })
}

fn member_head() -> Layout {
    layout!(MemberHead {
        heartbeat_ms,
        polled_ms,
        session_timeout_ms,
        max_poll_ms,
        pid,
        topic_count
    })
}

fn committed_head() -> Layout {
    layout!(CommittedHead { offset, time_ms })
}

fn node_ptr() -> Layout {
    layout!(NodePtr { page, crc })
}

fn blob_ptr() -> Layout {
    layout!(BlobPtr {
        first_page,
        page_count,
        length,
        crc
    })
}

fn journal_entry() -> Layout {
    layout!(JournalEntry { page, length, crc })
}

fn window_node_head() -> Layout {
    layout!(WindowNodeHead { prev, entry_count })
}

fn extent_value() -> Layout {
    layout!(ExtentValue { page_count })
}

fn index_entry() -> Layout {
    layout!(IndexEntry {
        segment_base,
        position
    })
}

fn time_index_entry() -> Layout {
    layout!(TimeIndexEntry { offset })
}

/// Which struct each offset table describes, by the heading the table is under; the second
/// struct, if any, is the one its `A + S i` rows repeat.
fn table_owners() -> Vec<(&'static str, Layout, Option<Layout>)> {
    vec![
        ("## Header pages", static_header(), None),
        ("### Commit slot", slot_fixed(), None),
        ("## Checksummed pages", page_header(), None),
        ("## Free list", free_extent(), None),
        (
            "### `log.partitions`: partition state",
            partition_state(),
            None,
        ),
        ("### `log.segments`: segments", segment(), None),
        (
            "### `group.state`: generation and owners",
            group_state_head(),
            Some(owner()),
        ),
        ("### `group.members`: members", member_head(), None),
        (
            "### `group.offsets`: committed offsets",
            committed_head(),
            None,
        ),
        (
            "### `group.kafka`: Kafka clients through `brooklet serve`",
            layout!(KafkaGroupHead {
                server,
                updated_ms,
                pid,
                generation,
                member_count
            }),
            None,
        ),
        (
            "### Producer ids and sequences",
            layout!(ProducerStateHead {
                epoch,
                send_count,
                reserved,
                updated_ms
            }),
            Some(layout!(ProducerSend {
                sequence_first,
                sequence_last,
                offset_first,
                timestamp_ms
            })),
        ),
        (
            "### `txn.ids`: transactional ids",
            layout!(TxnIdHead {
                producer_id,
                epoch,
                state,
                reserved,
                timeout_ms,
                owner,
                started_ms,
                updated_ms,
                partition_count
            }),
            Some(layout!(TxnPartition {
                topic_id,
                partition
            })),
        ),
    ]
}

/// Offset tables that are not brooklet's layouts, and why.
const NOT_BROOKLET_LAYOUTS: &[(&str, &str)] = &[(
    "### Batch header (61 bytes)",
    "Kafka's RecordBatch v2 header, big-endian, coded by brooklet::kafka",
)];

/// A markdown table of FORMAT.md: the heading it is under, its line, its cells.
#[derive(Debug)]
struct Table {
    heading: String,
    line: usize,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_owned()).collect()
}

fn parse_tables(text: &str) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut heading = String::new();
    let mut current: Option<Table> = None;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('|') {
            match &mut current {
                None => {
                    current = Some(Table {
                        heading: heading.clone(),
                        line: index + 1,
                        header: cells(line),
                        rows: Vec::new(),
                    });
                }
                Some(table) => {
                    let row = cells(line);
                    let separator = row
                        .iter()
                        .all(|c| !c.is_empty() && c.chars().all(|ch| ch == '-'));
                    if !separator {
                        table.rows.push(row);
                    }
                }
            }
            continue;
        }
        tables.extend(current.take());
        if line.starts_with('#') {
            line.trim().clone_into(&mut heading);
        }
    }
    tables.extend(current);
    tables
}

fn is_offset_table(table: &Table) -> bool {
    table.header.len() >= 3 && table.header[0] == "offset" && table.header[1] == "size"
}

fn number(cell: &str) -> Option<usize> {
    cell.parse().ok()
}

/// `A + S i`: a field of the `i`-th repeated element of `S` bytes, at byte `A + S * i`.
fn strided(cell: &str) -> Option<(usize, usize)> {
    let (base, stride) = cell.split_once('+')?;
    let stride = stride.trim().strip_suffix('i')?.trim();
    Some((number(base.trim())?, number(stride)?))
}

/// The backquoted name a field cell starts with (`` `txn`: this commit's ``), if any.
fn cell_name(cell: &str) -> Option<&str> {
    let rest = cell.strip_prefix('`')?;
    let name = &rest[..rest.find('`')?];
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then_some(name)
}

/// Compares one row (offset, size, field cell) with one field of `layout`, `base` bytes in.
fn check_row(
    problems: &mut Vec<String>,
    at: &str,
    layout: &Layout,
    field: Option<&Field>,
    (offset, size, cell): (usize, usize, &str),
) {
    let Some(field) = field else {
        problems.push(format!(
            "{at}: row at offset {offset} has no field in {}",
            layout.name
        ));
        return;
    };
    if (field.offset, field.size) != (offset, size) {
        problems.push(format!(
            "{at}: FORMAT.md says offset {offset} size {size} ({cell}), {}.{} is at offset {} size {}",
            layout.name, field.name, field.offset, field.size
        ));
    }
    let named = match cell_name(cell) {
        Some(name) => name == field.name,
        None => describes(cell, field.name),
    };
    if !named {
        problems.push(format!(
            "{at}: FORMAT.md describes offset {offset} as {cell:?}, not as {}.{}",
            layout.name, field.name
        ));
    }
}

/// Whether a field cell in words (`commit time, milliseconds since the Unix epoch`) names
/// every word of a field's name (`time_ms`), or a word that stands for it.
fn describes(cell: &str, field: &str) -> bool {
    const SYNONYMS: &[(&str, &str)] = &[("ms", "millisecond"), ("count", "number")];
    let cell = cell.to_ascii_lowercase();
    field.split('_').all(|word| {
        cell.contains(word)
            || SYNONYMS
                .iter()
                .any(|&(short, long)| short == word && cell.contains(long))
    })
}

/// Checks one offset table against its struct (and the struct its strided rows repeat).
fn check_table(
    problems: &mut Vec<String>,
    table: &Table,
    head: &Layout,
    repeated: Option<&Layout>,
) {
    let at = format!("FORMAT.md:{} ({})", table.line, table.heading);
    let field_cell = table
        .header
        .iter()
        .position(|h| h.contains("field"))
        .unwrap_or(2);
    let mut fixed = 0;
    let mut repeated_fields = 0;
    let mut variable_start = None;
    for row in &table.rows {
        let (offset, size, cell) = (
            &row[0],
            &row[1],
            row.get(field_cell).map_or("", String::as_str),
        );
        if offset.is_empty() && size.is_empty() {
            continue; // a continuation line of the row above
        }
        match (number(offset), number(size), strided(offset)) {
            (Some(offset), Some(size), _) if variable_start.is_none() => {
                check_row(
                    problems,
                    &at,
                    head,
                    head.fields.get(fixed),
                    (offset, size, cell),
                );
                fixed += 1;
            }
            (Some(offset), _, _) if variable_start.is_none() => variable_start = Some(offset),
            (_, Some(size), Some((offset, stride))) => {
                let Some(element) = repeated else {
                    problems.push(format!(
                        "{at}: repeated rows, but {} repeats no struct",
                        head.name
                    ));
                    continue;
                };
                if stride != element.size || offset < head.size {
                    problems.push(format!(
                        "{at}: FORMAT.md repeats {stride}-byte entries after byte {offset}, {} is {} bytes after {} of {} bytes",
                        element.name, element.size, head.name, head.size
                    ));
                    continue;
                }
                let field = element.fields.get(repeated_fields);
                check_row(
                    problems,
                    &at,
                    element,
                    field,
                    (offset - head.size, size, cell),
                );
                repeated_fields += 1;
            }
            _ => {}
        }
    }
    if fixed != head.fields.len() {
        problems.push(format!(
            "{at}: {fixed} fixed rows, {} has {} fields",
            head.name,
            head.fields.len()
        ));
    }
    if let Some(element) = repeated
        && repeated_fields != element.fields.len()
    {
        problems.push(format!(
            "{at}: {repeated_fields} repeated rows, {} has {} fields",
            element.name,
            element.fields.len()
        ));
    }
    if let Some(start) = variable_start
        && start != head.size
    {
        problems.push(format!(
            "{at}: the variable part starts at {start}, {} is {} bytes",
            head.name, head.size
        ));
    }
}

fn format_md() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/FORMAT.md"))
        .expect("read FORMAT.md")
}

#[test]
fn offset_tables_match_the_layout_structs() {
    let tables = parse_tables(&format_md());
    let owners = table_owners();
    let mut problems = Vec::new();
    let mut claimed = BTreeSet::new();
    for table in tables.iter().filter(|t| is_offset_table(t)) {
        if NOT_BROOKLET_LAYOUTS
            .iter()
            .any(|(heading, _)| *heading == table.heading)
        {
            continue;
        }
        let Some((_, head, repeated)) = owners
            .iter()
            .find(|(heading, ..)| *heading == table.heading)
        else {
            problems.push(format!(
                "FORMAT.md:{}: offset table under {:?} has no struct in brooklet::format",
                table.line, table.heading
            ));
            continue;
        };
        if !claimed.insert(table.heading.clone()) {
            problems.push(format!(
                "FORMAT.md:{}: a second offset table under {:?}",
                table.line, table.heading
            ));
        }
        check_table(&mut problems, table, head, repeated.as_ref());
    }
    for (heading, layout, _) in &owners {
        if !claimed.contains(*heading) {
            problems.push(format!(
                "FORMAT.md has no offset table under {heading:?} for {}",
                layout.name
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "FORMAT.md and brooklet::format disagree:\n{}",
        problems.join("\n")
    );
}

/// The sizes of the integer types named in `text`, in order (`page id u32, CRC-32C u32`).
fn integer_sizes(text: &str) -> Vec<usize> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|word| match word {
            "u8" => Some(1),
            "u16" => Some(2),
            "u32" | "i32" => Some(4),
            "u64" | "i64" => Some(8),
            _ => None,
        })
        .collect()
}

/// `text` with every run of white space (line breaks too) made one space.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text after `anchor` up to the next `end`.
fn after<'a>(text: &'a str, anchor: &str, end: &str) -> &'a str {
    let start = text
        .find(anchor)
        .unwrap_or_else(|| panic!("FORMAT.md lacks {anchor:?}"))
        + anchor.len();
    let rest = &text[start..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// Structs FORMAT.md describes in a sentence or a tree table's value cell: the integer types
/// it lists, in order, are the fields.
#[test]
fn prose_field_lists_match_the_layout_structs() {
    let text = format_md();
    let flat = |l: &Layout| l.fields.iter().map(|f| f.size).collect::<Vec<_>>();
    let prose = [
        (
            node_ptr(),
            after(&text, "A **node pointer** (8 bytes) is `", "`"),
        ),
        (
            blob_ptr(),
            after(&text, "A **blob pointer** (16 bytes) is `", "`"),
        ),
        (
            journal_entry(),
            after(&text, "A **journal entry** is `", "`"),
        ),
        (
            extent_value(),
            after(&text, "(so key order is page order) |", "\n"),
        ),
        (
            index_entry(),
            after(&text, "| offset u64: the `baseOffset` of a batch |", "\n"),
        ),
        (
            time_index_entry(),
            after(&text, "a batch's `maxTimestamp` |", "\n"),
        ),
    ];
    let mut problems = Vec::new();
    for (layout, described) in &prose {
        if integer_sizes(described) != flat(layout) {
            problems.push(format!(
                "FORMAT.md says {described:?}, {} has fields {:?}",
                layout.name, layout.fields
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "FORMAT.md and brooklet::format disagree:\n{}",
        problems.join("\n")
    );
}

/// Sizes and offsets FORMAT.md states in its prose.
#[test]
fn stated_sizes_match_the_layout_structs() {
    let stated = [
        format!(
            "Both header pages start with the same {}-byte static header",
            static_header().size
        ),
        format!("The slot starts at byte {STATIC_HEADER_SIZE} of its header page"),
        format!(
            "the fixed fields from offset {} to {}",
            offset_of!(SlotFixed, txn),
            slot_fixed().size
        ),
        format!(
            "`body_len` is {} plus {} per inline journal entry",
            slot_fixed().size - offset_of!(SlotFixed, txn),
            journal_entry().size
        ),
        format!(
            "`(page_size - {}) / 2`",
            STATIC_HEADER_SIZE + slot_fixed().size
        ),
        format!(
            "its first {} slot bytes are all zero",
            offset_of!(SlotFixed, free_list)
        ),
        format!("A **node pointer** ({} bytes)", node_ptr().size),
        format!("A **blob pointer** ({} bytes)", blob_ptr().size),
        format!(
            "the previous node's blob pointer ({} bytes;",
            blob_ptr().size
        ),
        format!(
            "the blob is exactly {} + {} * count bytes",
            window_node_head().size,
            journal_entry().size
        ),
        format!(
            "B-tree nodes start with a {}-byte header",
            page_header().size
        ),
        format!("the node body starts at byte {}", page_header().size),
        format!("a list of {}-byte entries", free_extent().size),
        format!("partition state ({} bytes)", partition_state().size),
        format!("segment ({} bytes)", segment().size),
        format!("offset index entry ({} bytes)", index_entry().size),
        format!(
            "generation and owners ({} + {} n bytes)",
            group_state_head().size,
            owner().size
        ),
        format!("member ({} bytes + topic names)", member_head().size),
        format!(
            "committed offset ({} bytes + metadata)",
            committed_head().size + 2
        ),
    ];
    let squashed = squash(&format_md());
    let mut problems = Vec::new();
    for phrase in &stated {
        if !squashed.contains(phrase.as_str()) {
            problems.push(format!("FORMAT.md does not say {phrase:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "FORMAT.md and brooklet::format disagree:\n{}",
        problems.join("\n")
    );
}
