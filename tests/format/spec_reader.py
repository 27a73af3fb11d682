#!/usr/bin/env python3
"""A reader of brooklet files written from FORMAT.md alone, with the standard library only.

Usage: spec_reader.py FILE

Prints one JSON object per line: the commit read, then every topic (in id order), each
followed by its partitions, each followed by its records in offset order:

    {"kind":"commit","slot":1,"txn":58,"durable":true,"page_count":70,"journal_entries":4,
     "journal_blob":false,"chain_nodes":0,"chain_entries":0}
    {"kind":"topic","id":1,"name":"orders","partitions":2,"created_ms":...,"configs":{...}}
    {"kind":"partition","topic":"orders","partition":0,"log_start":0,"next_offset":260,
     "segments":2,"bytes":71158}
    {"kind":"record","topic":"orders","partition":0,"offset":0,"timestamp":...,
     "key":"<hex>"|null,"value":"<hex>"|null,"headers":[["<key>","<hex>"|null],...]}

Every structure is checked as FORMAT.md says a reader must (checksums, bounds, key order,
the commit window's journals); any violation exits with status 1 and a message on stderr.
It deliberately shares no code with brooklet: tests/format/spec_reader.rs compares its output
with what brooklet itself returns.
"""

import json
import struct
import sys

MAGIC = b"brooklet format\x00"
FORMAT_VERSIONS = (2, 3, 4)  # versions this reader reads
PAGE_SIZES = [1 << n for n in range(9, 17)]
HEADER_LEN = 32
SLOT_FIXED = 108
NODE_HEADER = 24
KIND_LEAF = 1
KIND_BRANCH = 2
MAX_LEVEL = 31


class Corrupt(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Corrupt(what)


# ---------------------------------------------------------------------------------------
# CRC-32C: Castagnoli, polynomial 0x1EDC6F41 (reflected 0x82F63B78), init and final xor
# 0xFFFFFFFF.


def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


# ---------------------------------------------------------------------------------------
# Little-endian fixed-width fields.


def u16(b, o):
    return struct.unpack_from("<H", b, o)[0]


def u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def u64(b, o):
    return struct.unpack_from("<Q", b, o)[0]


# ---------------------------------------------------------------------------------------
# Pages, pointers, blobs.


class File:
    def __init__(self, data):
        self.data = data
        self.page_size = None
        self.page_count = None

    def page(self, page_id):
        check(2 <= page_id < self.page_count, f"page {page_id} outside 2..{self.page_count}")
        start = page_id * self.page_size
        return self.data[start : start + self.page_size]

    def blob(self, ptr, what):
        """The bytes of a blob pointer (first page, page count, length, CRC), verified."""
        first, count, length, crc = ptr
        check(count >= max(1, -(-length // self.page_size)), f"{what}: page count too small")
        check(first >= 2 and first + count <= self.page_count, f"{what}: pages out of range")
        start = first * self.page_size
        body = self.data[start : start + length]
        check(crc32c(body) == crc, f"{what}: blob CRC mismatch")
        return body


def blob_pointer(b, o):
    return struct.unpack_from("<IIII", b, o)


def blob_pages(ptr):
    first, count, _, _ = ptr
    return range(first, first + count)


# ---------------------------------------------------------------------------------------
# Header pages and the recovery rule.


def static_header(data, page_index, page_size):
    """The static header of header page `page_index` if it verifies, else None."""
    start = page_index * page_size
    h = data[start : start + HEADER_LEN]
    if len(h) < HEADER_LEN or h[:16] != MAGIC or crc32c(h[:28]) != u32(h, 28):
        return None
    version, size, slot_index = struct.unpack_from("<III", h, 16)
    if version not in FORMAT_VERSIONS or size != page_size or slot_index != page_index:
        return None
    return size


def find_page_size(data):
    for size in PAGE_SIZES:
        if static_header(data, 0, size) is not None:
            return size
    # Page 0's header is damaged: try page 1's header at each possible page size.
    for size in PAGE_SIZES:
        if static_header(data, 1, size) is not None:
            return size
    raise Corrupt("no header page verifies")


def read_slot(data, page_index, page_size):
    """The commit slot of a header page if its static header and slot CRC verify."""
    if static_header(data, page_index, page_size) is None:
        return None
    page = data[page_index * page_size : (page_index + 1) * page_size]
    slot = page[HEADER_LEN:]
    crc, body_len = u32(slot, 0), u32(slot, 4)
    if body_len < SLOT_FIXED - 8 or 8 + body_len > len(slot):
        return None
    if crc32c(slot[8 : 8 + body_len]) != crc:
        return None
    s = {
        "page": page_index,
        "txn": u64(slot, 8),
        "last_durable": u64(slot, 16),
        "page_count": u32(slot, 24),
        "flags": u32(slot, 28),
        "time_ms": u64(slot, 32),
        "root": (u32(slot, 40), u32(slot, 44)),
        "free": blob_pointer(slot, 48),
        "journal": blob_pointer(slot, 64),
        "journal_count": u32(slot, 80),
        "chain": blob_pointer(slot, 84),
        "chain_nodes": u32(slot, 100),
        "chain_entries": u32(slot, 104),
    }
    # body_len is 100, plus 12 per inline journal entry, plus the inline free list's length
    # (a free-list pointer with page count 0 and a length above 0), plus the pending
    # entries (the rest of the body).
    inline = s["journal_count"] if s["journal"][1] == 0 else 0
    inline_free = s["free"][2] if s["free"][1] == 0 else 0
    if 8 + body_len < SLOT_FIXED + 12 * inline + inline_free:
        return None
    s["inline_journal"] = slot[SLOT_FIXED : SLOT_FIXED + 12 * inline]
    start = SLOT_FIXED + 12 * inline
    s["inline_free"] = slot[start : start + inline_free]
    if inline_free and crc32c(s["inline_free"]) != s["free"][3]:
        return None
    try:
        s["pending_data"], s["pending"] = pending_area(slot[start + inline_free : 8 + body_len])
    except Corrupt:
        return None
    return s


def pending_area(b):
    """The pending area of a slot (FORMAT.md, *Pending data and entries*): the pending data
    runs [(file offset, bytes)] and the pending entries."""
    if not b:
        return [], {}
    check(len(b) >= 4, "pending area: no data length")
    data_len = u32(b, 0)
    check(4 + data_len <= len(b), "pending data runs past the slot")
    runs, pos, end = [], 4, 4 + data_len
    while pos < end:
        check(pos + 12 <= end, "pending data run truncated")
        at, n = u64(b, pos), u32(b, pos + 8)
        check(n > 0 and pos + 12 + n <= end, "pending data run length")
        check(not runs or runs[-1][0] + len(runs[-1][1]) <= at, "pending data out of order")
        runs.append((at, bytes(b[pos + 12 : pos + 12 + n])))
        pos += 12 + n
    return runs, pending_entries(b[end:])


def pending_entries(b):
    """The pending entries of a slot (FORMAT.md, *Pending data and entries*): tree name -> {key:
    value}."""
    out = {}
    if not b:
        return out
    check(len(b) >= 2, "pending entries: no count")
    count, pos, last = u16(b, 0), 2, None
    check(count >= 1, "pending entries: count 0")
    for _ in range(count):
        check(pos + 1 <= len(b), "pending entry truncated")
        n = b[pos]
        check(n >= 1 and pos + 1 + n + 2 <= len(b), "pending entry name")
        name = bytes(b[pos + 1 : pos + 1 + n])
        pos += 1 + n
        k = u16(b, pos)
        check(pos + 2 + k + 2 <= len(b), "pending entry key")
        key = bytes(b[pos + 2 : pos + 2 + k])
        pos += 2 + k
        v = u16(b, pos)
        check(pos + 2 + v <= len(b), "pending entry value")
        value = bytes(b[pos + 2 : pos + 2 + v])
        pos += 2 + v
        check(last is None or last < (name, key), "pending entries out of order")
        last = (name, key)
        out.setdefault(name, {})[key] = value
    check(pos == len(b), "bytes after the pending entries")
    return out


def journal_entries(b, count, what):
    check(len(b) >= 12 * count, f"{what}: too short for {count} entries")
    out = []
    for i in range(count):
        page, length, crc = struct.unpack_from("<III", b, 12 * i)
        out.append((page, length & 0x7FFFFFFF, crc))
    ids = [e[0] for e in out]
    check(ids == sorted(ids), f"{what}: entries not sorted by page id")
    return out


def validate(f, slot):
    """Applies the recovery rule's validity test to a candidate slot; raises Corrupt."""
    ps = f.page_size
    check(slot["page_count"] >= 2, "page_count below 2")
    check(slot["page_count"] * ps <= len(f.data), "page_count pages do not fit in the file")
    f.page_count = slot["page_count"]
    for at, run in slot["pending_data"]:
        check(at >= 2 * ps and at + len(run) <= slot["page_count"] * ps, "pending data range")
    own = set()  # pages of the commit's own free-list, journal and chain blobs
    free = set()
    if slot["free"][1] != 0 or slot["inline_free"]:
        inline_list = slot["free"][1] == 0
        fl = slot["inline_free"] if inline_list else f.blob(slot["free"], "free list")
        check(len(fl) % 16 == 0, "free list length not a multiple of 16")
        end = 0
        for o in range(0, len(fl), 16):
            first, count, _tag = struct.unpack_from("<IIQ", fl, o)
            check(count >= 1 and first >= max(2, end), "free list unsorted or overlapping")
            end = first + count
            check(end <= slot["page_count"], "free extent past page_count")
            free.update(range(first, end))
        if not inline_list:
            own.update(blob_pages(slot["free"]))
    if slot["journal"][1] == 0:
        journal = journal_entries(slot["inline_journal"], slot["journal_count"], "journal")
    else:
        jb = f.blob(slot["journal"], "journal blob")
        check(len(jb) == 12 * slot["journal_count"], "journal blob length")
        journal = journal_entries(jb, slot["journal_count"], "journal blob")
        own.update(blob_pages(slot["journal"]))
    # Newest first: the commit's own journal, then the chain, newest node first.
    entries = list(journal)
    ptr, nodes, chained = slot["chain"], 0, 0
    while ptr[1] != 0:
        node = f.blob(ptr, "window chain node")
        check(len(node) >= 20, "window chain node too short")
        count = u32(node, 16)
        check(len(node) == 20 + 12 * count, "window chain node length")
        entries.extend(journal_entries(node[20:], count, "window chain node"))
        own.update(blob_pages(ptr))
        nodes += 1
        chained += count
        check(nodes <= slot["chain_nodes"], "window chain longer than the slot says")
        ptr = blob_pointer(node, 0)
    check(nodes == slot["chain_nodes"], "window chain node count")
    check(chained == slot["chain_entries"], "window chain entry count")
    seen = set()
    for page, length, crc in entries:
        if page in seen:
            continue
        seen.add(page)
        if page in free or page in own:
            continue
        check(2 <= page < slot["page_count"], f"journal entry for page {page}")
        check(1 <= length <= ps, f"journal entry length {length} for page {page}")
        start = page * ps
        check(crc32c(f.data[start : start + length]) == crc, f"journal CRC of page {page}")


def open_file(data):
    """The file with its newest valid slot chosen (FORMAT.md, *Recovery rule*)."""
    f = File(data)
    f.page_size = find_page_size(data)
    candidates = [s for s in (read_slot(data, i, f.page_size) for i in (0, 1)) if s]
    candidates.sort(key=lambda s: s["txn"], reverse=True)
    errors = []
    for slot in candidates:
        try:
            validate(f, slot)
            f.slot = slot
            return f
        except Corrupt as err:
            errors.append(f"slot {slot['page']} (txn {slot['txn']}): {err}")
    raise Corrupt("no valid slot: " + "; ".join(errors or ["no candidate"]))


# ---------------------------------------------------------------------------------------
# B-trees.


def limits(page_size):
    max_entry = (page_size - NODE_HEADER) // 4
    max_key = max_entry // 2 - 5
    return max_key, max_entry - 5 - max_key


def read_node(f, ptr, level):
    """A verified node: (kind, level, entries or children). `level` None for a root."""
    page_id, crc = ptr
    page = f.page(page_id)
    check(u32(page, 0) == crc32c(page[4:]), f"node {page_id}: page CRC")
    check(u32(page, 0) == crc, f"node {page_id}: CRC differs from its pointer")
    kind, lvl, count, own_id = page[4], page[5], u16(page, 6), u32(page, 8)
    check(own_id == page_id, f"node {page_id}: holds page id {own_id}")
    check(lvl <= MAX_LEVEL, f"node {page_id}: level {lvl}")
    check(level is None or lvl == level, f"node {page_id}: level {lvl}, expected {level}")
    check(kind == (KIND_LEAF if lvl == 0 else KIND_BRANCH), f"node {page_id}: kind {kind}")
    max_key, max_inline = limits(f.page_size)
    o = NODE_HEADER
    if kind == KIND_LEAF:
        check(count >= 1, f"leaf {page_id}: empty")
        entries = []
        for _ in range(count):
            key_len, tag = u16(page, o), page[o + 2]
            check(key_len <= max_key, f"leaf {page_id}: key too long")
            o += 3
            if tag == 0:
                value_len = u16(page, o)
                check(value_len <= max_inline, f"leaf {page_id}: inline value too long")
                o += 2
                key = page[o : o + key_len]
                value = page[o + key_len : o + key_len + value_len]
                o += key_len + value_len
            else:
                check(tag == 1, f"leaf {page_id}: value tag {tag}")
                blob = blob_pointer(page, o)
                o += 16
                key = page[o : o + key_len]
                o += key_len
                value = f.blob(blob, f"value blob in leaf {page_id}")
            check(o <= len(page), f"leaf {page_id}: entries overrun the page")
            entries.append((key, value))
        check(not any(page[o:]), f"leaf {page_id}: bytes after the entries")
        return kind, lvl, entries
    check(count >= 2, f"branch {page_id}: fewer than 2 children")
    children = [struct.unpack_from("<II", page, o)]
    keys = []
    o += 8
    for _ in range(count - 1):
        key_len = u16(page, o)
        check(key_len <= max_key, f"branch {page_id}: key too long")
        keys.append(page[o + 2 : o + 2 + key_len])
        o += 2 + key_len
        children.append(struct.unpack_from("<II", page, o))
        o += 8
        check(o <= len(page), f"branch {page_id}: entries overrun the page")
    check(not any(page[o:]), f"branch {page_id}: bytes after the entries")
    check(all(a < b for a, b in zip(keys, keys[1:])), f"branch {page_id}: separators")
    return kind, lvl, (children, keys)


def list_tree(f, root, low=None, high=None, level=None):
    """Every (key, value) of the tree at node pointer `root` with low <= key < high, in
    key order, checking that keys lie within their branch separators."""
    kind, lvl, body = read_node(f, root, level)
    if kind == KIND_LEAF:
        for key, value in body:
            check(low is None or key >= low, "leaf key below its separator")
            check(high is None or key < high, "leaf key at or past its separator")
            yield key, value
        return
    children, keys = body
    bounds = [low] + keys + [high]
    for i, child in enumerate(children):
        yield from list_tree(f, child, bounds[i], bounds[i + 1], lvl - 1)


def tree_items(f, root):
    items = list(list_tree(f, root)) if root[0] != 0 else []
    keys = [k for k, _ in items]
    check(all(a < b for a, b in zip(keys, keys[1:])), "tree keys not strictly increasing")
    return items


def data_bytes(f, start, length):
    """`length` bytes of data pages from file offset `start`, with the slot's pending data
    laid over the file's bytes."""
    out = bytearray(f.data[start : start + length])
    check(len(out) == length, "data runs past the end of the file")
    for at, run in f.slot["pending_data"]:
        lo, hi = max(at, start), min(at + len(run), start + length)
        if lo < hi:
            out[lo - start : hi - start] = run[lo - at : hi - at]
    return bytes(out)


def merged_items(f, trees, name):
    """Every (key, value) of the named tree with the slot's pending entries applied: a
    pending entry replaces the tree's value for its key, or adds the key."""
    items = dict(tree_items(f, trees.get(name, (0, 0))))
    items.update(f.slot["pending"].get(name, {}))
    return sorted(items.items())


def named_trees(f):
    """The master tree: tree name -> root node pointer."""
    trees = {}
    for name, value in tree_items(f, f.slot["root"]):
        check(len(value) == 8, f"master tree value of {name!r}")
        trees[bytes(name)] = struct.unpack("<II", value)
    return trees


# ---------------------------------------------------------------------------------------
# The event log.


def decode_topic(key, v):
    check(len(key) == 4, "log.topics key length")
    check(v[0] == 1, f"topic metadata version {v[0]}")
    topic_id, partitions, created = struct.unpack_from("<IIQ", v, 1)
    check(topic_id == struct.unpack(">I", key)[0], "topic id differs from its key")
    check(1 <= partitions <= 10000, "partition count")
    o = 17

    def text():
        nonlocal o
        n = u16(v, o)
        s = v[o + 2 : o + 2 + n]
        check(len(s) == n, "topic metadata truncated")
        o += 2 + n
        return s.decode("utf-8")

    name = text()
    count = u16(v, o)
    o += 2
    configs = {}
    for _ in range(count):
        k = text()
        configs[k] = text()
    check(o == len(v), "bytes after the topic metadata")
    return {
        "id": topic_id,
        "name": name,
        "partitions": partitions,
        "created_ms": created,
        "configs": configs,
    }


PARTITION_FIELDS = "<QQQIQIIq"
SEGMENT_FIELDS = "<IIIQq"


def decode_partition(v):
    check(len(v) == 52, "partition state length")
    log_start, next_offset, active_base, segments, total, _ip, _tp, ts_max = struct.unpack(
        PARTITION_FIELDS, v
    )
    check(log_start <= next_offset, "log_start past next_offset")
    return {
        "log_start": log_start,
        "next_offset": next_offset,
        "active_base": active_base,
        "segments": segments,
        "bytes": total,
        "timestamp_max": ts_max,
    }


def decode_segment(v, page_size):
    check(len(v) == 28, "segment length")
    first, count, used, last, ts_max = struct.unpack(SEGMENT_FIELDS, v)
    check(first >= 2 and count >= 1, "segment extent")
    check(used <= count * page_size, "bytes_used past the extent")
    return {
        "first_page": first,
        "page_count": count,
        "bytes_used": used,
        "offset_last": last,
        "timestamp_max": ts_max,
    }


# Kafka RecordBatch v2 (big-endian, zigzag varints).


class Cursor:
    def __init__(self, b, o, end):
        self.b, self.o, self.end = b, o, end

    def byte(self):
        check(self.o < self.end, "record runs past its batch")
        x = self.b[self.o]
        self.o += 1
        return x

    def varlong(self, max_bytes=10):
        result = shift = 0
        for _ in range(max_bytes):
            x = self.byte()
            result |= (x & 0x7F) << shift
            shift += 7
            if not x & 0x80:
                return (result >> 1) ^ -(result & 1)
        raise Corrupt("varint too long")

    def varint(self):
        n = self.varlong(5)
        check(-(1 << 31) <= n < (1 << 31), "varint out of range")
        return n

    def take(self, n):
        check(n >= 0 and self.o + n <= self.end, "field runs past its batch")
        s = self.b[self.o : self.o + n]
        self.o += n
        return s

    def nullable(self):
        n = self.varint()
        if n == -1:
            return None
        return self.take(n)


BATCH_HEADER = ">qiibIhiqqqhii"  # 61 bytes


def read_batches(seg_bytes):
    """(header dict, records) of every batch in a segment's bytes."""
    pos = 0
    while pos < len(seg_bytes):
        check(pos + 61 <= len(seg_bytes), "batch header past bytes_used")
        fields = struct.unpack_from(BATCH_HEADER, seg_bytes, pos)
        base, length, _epoch, magic, crc, attrs, last_delta, base_ts, max_ts = fields[:9]
        count = fields[12]
        end = pos + 12 + length
        check(length >= 49 and end <= len(seg_bytes), "batch past bytes_used")
        check(magic == 2, f"batch magic {magic}")
        check(crc32c(seg_bytes[pos + 21 : end]) == crc, f"batch CRC at position {pos}")
        check(attrs & 7 == 0, "compressed batch")
        header = {
            "position": pos,
            "base_offset": base,
            "last_offset": base + last_delta,
            "max_timestamp": max_ts,
            "log_append": bool(attrs & 8),
            "control": bool(attrs & 0x20),
            "transactional": bool(attrs & 0x10),
            "producer_id": fields[9],
        }
        cur = Cursor(seg_bytes, pos + 61, end)
        records = []
        previous = -1
        for _ in range(count):
            rec_len = cur.varint()
            rec_end = cur.o + rec_len
            check(rec_len >= 0 and rec_end <= end, "record past its batch")
            cur.byte()  # attributes
            ts_delta = cur.varlong()
            off_delta = cur.varint()
            check(previous < off_delta <= last_delta, "offset deltas")
            previous = off_delta
            key = cur.nullable()
            value = cur.nullable()
            headers = []
            for _ in range(cur.varint()):
                hk = cur.nullable()
                check(hk is not None, "null header key")
                headers.append((bytes(hk).decode("utf-8"), cur.nullable()))
            check(cur.o == rec_end, "record length does not match its fields")
            records.append(
                {
                    "offset": base + off_delta,
                    "timestamp": max_ts if header["log_append"] else base_ts + ts_delta,
                    "key": key,
                    "value": value,
                    "headers": headers,
                }
            )
        check(cur.o == end, "records do not fill the batch")
        yield header, records
        pos = end


def hex_or_null(b):
    return None if b is None else bytes(b).hex()


def dump(f, out):
    trees = named_trees(f)
    topics = merged_items(f, trees, b"log.topics")
    partitions = dict(merged_items(f, trees, b"log.partitions"))
    segments = merged_items(f, trees, b"log.segments")
    extents = dict(merged_items(f, trees, b"\x01extents"))
    # FORMAT.md, *Transactions*: open transactions bound the last stable offset, and the
    # aborted index names the transactions a read_committed reader skips.
    txn_open = merged_items(f, trees, b"log.txn-open")
    aborted = merged_items(f, trees, b"log.aborted")

    def emit(obj):
        line = json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n"
        out.write(line.encode("utf-8"))

    slot = f.slot
    emit(
        {
            "kind": "commit",
            "slot": slot["page"],
            "txn": slot["txn"],
            "durable": bool(slot["flags"] & 1),
            "page_count": slot["page_count"],
            "journal_entries": slot["journal_count"],
            "journal_blob": slot["journal"][1] != 0,
            "chain_nodes": slot["chain_nodes"],
            "chain_entries": slot["chain_entries"],
            "pending_entries": sum(len(t) for t in slot["pending"].values()),
            "pending_data": sum(len(run) for _, run in slot["pending_data"]),
        }
    )

    for key, value in topics:
        topic = decode_topic(key, value)
        emit({"kind": "topic", **topic})
        for p in range(topic["partitions"]):
            pkey = struct.pack(">II", topic["id"], p)
            check(pkey in partitions, f"no state for partition {p} of {topic['name']}")
            state = decode_partition(partitions[pkey])
            firsts = [struct.unpack(">Q", k[8:])[0] for k, _ in txn_open if k[:8] == pkey]
            lso = state["next_offset"]
            if firsts:
                lso = min(max(min(firsts), state["log_start"]), state["next_offset"])
            skipped = []
            for k, v in aborted:
                if k[:8] != pkey:
                    continue
                check(len(v) == 16, "log.aborted value length")
                producer, first = struct.unpack("<qQ", v)
                last = struct.unpack(">Q", k[8:])[0]
                check(first <= last, "aborted transaction starts after its marker")
                skipped.append((producer, first, last))
            emit(
                {
                    "kind": "partition",
                    "topic": topic["name"],
                    "partition": p,
                    "log_start": state["log_start"],
                    "next_offset": state["next_offset"],
                    "segments": state["segments"],
                    "bytes": state["bytes"],
                    "last_stable_offset": lso,
                }
            )
            segs = [(k, v) for k, v in segments if k[:8] == pkey]
            check(len(segs) == state["segments"], "segment count")
            used = sum(decode_segment(v, f.page_size)["bytes_used"] for _, v in segs)
            check(used == state["bytes"], "bytes_total")
            expected = None  # offset the next batch must start at or after
            for skey, svalue in segs:
                check(len(skey) == 16, "log.segments key length")
                base = struct.unpack(">Q", skey[8:])[0]
                seg = decode_segment(svalue, f.page_size)
                start = seg["first_page"] * f.page_size
                check(seg["first_page"] + seg["page_count"] <= f.page_count, "segment pages")
                # A segment is a data extent of the extents tree.
                extent = extents.get(struct.pack(">I", seg["first_page"]))
                check(extent == struct.pack("<I", seg["page_count"]), "segment not an extent")
                batches = list(read_batches(data_bytes(f, start, seg["bytes_used"])))
                check(batches, "empty segment")
                # The key is the first batch's base offset, or below it where compaction
                # removed the segment's first batches.
                check(batches[0][0]["base_offset"] >= base, "segment base offset")
                check(expected is None or base >= expected, "segments overlap")
                check(batches[-1][0]["last_offset"] == seg["offset_last"], "offset_last")
                for header, records in batches:
                    if expected is not None:
                        check(header["base_offset"] >= expected, "offsets do not rise")
                    expected = header["last_offset"] + 1
                    if header["control"] or header["base_offset"] >= lso:
                        continue
                    base = header["base_offset"]
                    if header["transactional"] and any(
                        producer == header["producer_id"] and first <= base <= last
                        for producer, first, last in skipped
                    ):
                        continue
                    for r in records:
                        if not state["log_start"] <= r["offset"] < state["next_offset"]:
                            continue
                        emit(
                            {
                                "kind": "record",
                                "topic": topic["name"],
                                "partition": p,
                                "offset": r["offset"],
                                "timestamp": r["timestamp"],
                                "key": hex_or_null(r["key"]),
                                "value": hex_or_null(r["value"]),
                                "headers": [[k, hex_or_null(v)] for k, v in r["headers"]],
                            }
                        )
            if segs:
                check(expected == state["next_offset"], "last offset is not next_offset - 1")


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], "rb") as fh:
        data = fh.read()
    try:
        f = open_file(data)
        dump(f, sys.stdout.buffer)
    except (Corrupt, struct.error, IndexError, UnicodeDecodeError) as err:
        sys.stderr.write(f"spec_reader: {argv[1]}: corrupt: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
