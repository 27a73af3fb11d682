//! FORMAT.md is enough to read a brooklet file: `tests/format/spec_reader.py`, written from
//! FORMAT.md alone with Python's standard library (its own CRC-32C, no brooklet code),
//! chooses the commit slot, walks the master tree and the event-log trees, and decodes every
//! Kafka batch. Its output must equal what brooklet itself returns: every topic (name,
//! partition count, configs), every partition (offsets, bytes, segments) and every record
//! `Brooklet::fetch` returns.
//!
//! Files read: the golden `tests/data/log-v2-4096.brooklet`, and fresh files at page sizes
//! 512 and 4096 with keys, null keys and values, headers, explicit and append timestamps,
//! several segments per partition, a topic trimmed by retention, a compacted topic (offset
//! gaps within and between batches), a partition whose log start `DeleteRecords` put inside
//! a batch, a deleted topic, and a
//! last commit that is not durable (so the slot carries a window chain, and at 512-byte
//! pages a journal blob).
//!
//! The tests need `python3`: without it they fail when the `CI` variable is set, and
//! elsewhere are skipped with a loud message.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use brooklet::{
    Brooklet, Durability, FetchLimits, Header, Options, Record, StoredRecord, TopicConfig,
    TransactionOptions,
};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/format/spec_reader.py");

/// True if python3 runs; false (after a loud message) if it does not, outside CI.
fn python3() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let why = match Command::new("python3")
            .args(["-c", "import sys; sys.exit(sys.version_info < (3, 6))"])
            .output()
        {
            Ok(output) if output.status.success() => return true,
            Ok(output) => format!("python3 is older than 3.6 ({})", output.status),
            Err(err) => format!("python3 could not be run: {err}"),
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "spec_reader needs python3 under CI: {why}"
        );
        // Written to stderr directly: the test harness captures eprintln! of passing tests.
        let bar = "!".repeat(72);
        let message = format!("\n{bar}\nSKIPPING the spec_reader tests: {why}\n{bar}\n");
        let _ = std::io::stderr().lock().write_all(message.as_bytes());
        false
    })
}

// ---------------------------------------------------------------------------------------
// A minimal JSON parser for the script's output (no JSON crate among the dependencies).

#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(i128),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn parse(line: &str) -> Json {
        let mut p = Parser {
            s: line.as_bytes(),
            i: 0,
        };
        let value = p.value();
        assert_eq!(p.i, p.s.len(), "trailing bytes in {line}");
        value
    }

    fn peek(&self) -> u8 {
        *self.s.get(self.i).expect("JSON ends early")
    }

    fn eat(&mut self, byte: u8) {
        assert_eq!(self.peek(), byte, "JSON: expected {:?}", byte as char);
        self.i += 1;
    }

    fn literal(&mut self, word: &str, value: Json) -> Json {
        assert!(
            self.s[self.i..].starts_with(word.as_bytes()),
            "bad JSON literal"
        );
        self.i += word.len();
        value
    }

    fn value(&mut self) -> Json {
        match self.peek() {
            b'n' => self.literal("null", Json::Null),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'"' => Json::Str(self.string()),
            b'[' => {
                self.eat(b'[');
                let mut items = Vec::new();
                while self.peek() != b']' {
                    if !items.is_empty() {
                        self.eat(b',');
                    }
                    items.push(self.value());
                }
                self.eat(b']');
                Json::Arr(items)
            }
            b'{' => {
                self.eat(b'{');
                let mut map = BTreeMap::new();
                while self.peek() != b'}' {
                    if !map.is_empty() {
                        self.eat(b',');
                    }
                    let key = self.string();
                    self.eat(b':');
                    map.insert(key, self.value());
                }
                self.eat(b'}');
                Json::Obj(map)
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && matches!(self.s[self.i], b'-' | b'0'..=b'9') {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII");
                Json::Num(text.parse().expect("JSON integer"))
            }
        }
    }

    fn hex4(&mut self) -> u32 {
        let text = std::str::from_utf8(&self.s[self.i..self.i + 4]).expect("ASCII");
        self.i += 4;
        u32::from_str_radix(text, 16).expect("JSON \\u escape")
    }

    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out = Vec::new();
        loop {
            let byte = self.peek();
            self.i += 1;
            match byte {
                b'"' => return String::from_utf8(out).expect("UTF-8 string"),
                b'\\' => {
                    let escape = self.peek();
                    self.i += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut code = self.hex4();
                            if (0xd800..0xdc00).contains(&code) {
                                self.eat(b'\\');
                                self.eat(b'u');
                                code = 0x10000 + ((code - 0xd800) << 10) + (self.hex4() - 0xdc00);
                            }
                            char::from_u32(code).expect("a scalar value")
                        }
                        other => panic!("bad JSON escape {}", other as char),
                    };
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                other => out.push(other),
            }
        }
    }
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(map) => map
                .get(key)
                .unwrap_or_else(|| panic!("no {key} in {self:?}")),
            _ => panic!("not an object: {self:?}"),
        }
    }

    fn int(&self) -> i128 {
        match self {
            Json::Num(n) => *n,
            _ => panic!("not a number: {self:?}"),
        }
    }

    fn u64(&self) -> u64 {
        u64::try_from(self.int()).expect("u64")
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }

    fn bool(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            _ => panic!("not a bool: {self:?}"),
        }
    }

    fn items(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            _ => panic!("not an array: {self:?}"),
        }
    }

    /// Hex bytes, or `None` for null.
    fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Json::Null => None,
            Json::Str(hex) => Some(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                    .collect(),
            ),
            _ => panic!("not bytes: {self:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// What the script read.

/// A partition as the script read it: log start, end, segments, bytes, last stable offset.
type PartitionView = (u64, u64, u32, u64, u64);

#[derive(Debug, Default)]
struct SpecView {
    commit: BTreeMap<String, Json>,
    /// (name, partition count, configs), in id order.
    topics: Vec<(String, u32, BTreeMap<String, String>)>,
    /// (topic, partition) -> (`log_start`, `next_offset`, segments, bytes)
    partitions: BTreeMap<(String, u32), PartitionView>,
    records: BTreeMap<(String, u32), Vec<StoredRecord>>,
}

fn run_script(path: &Path) -> SpecView {
    let output = Command::new("python3")
        .arg(SCRIPT)
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "{SCRIPT} {} failed ({}): {}",
        path.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let mut view = SpecView::default();
    let mut last_id = 0;
    for line in String::from_utf8(output.stdout).expect("UTF-8").lines() {
        let obj = Parser::parse(line);
        match obj.get("kind").str() {
            "commit" => {
                let Json::Obj(map) = obj else { unreachable!() };
                view.commit = map;
            }
            "topic" => {
                let id = obj.get("id").int();
                assert!(id > last_id, "topics in id order");
                last_id = id;
                assert!(obj.get("created_ms").int() > 0);
                let Json::Obj(configs) = obj.get("configs") else {
                    panic!("configs: {obj:?}")
                };
                let mut configs: BTreeMap<String, String> = configs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.str().to_owned()))
                    .collect();
                // FORMAT.md: a missing key means its default, and writers leave these
                // out at their defaults.
                configs
                    .entry("min.cleanable.dirty.ratio".to_owned())
                    .or_insert_with(|| "0.5".to_owned());
                configs
                    .entry("compression.type".to_owned())
                    .or_insert_with(|| "producer".to_owned());
                view.topics.push((
                    obj.get("name").str().to_owned(),
                    u32::try_from(obj.get("partitions").int()).expect("u32"),
                    configs,
                ));
            }
            "partition" => {
                let key = partition_key(&obj);
                let state = (
                    obj.get("log_start").u64(),
                    obj.get("next_offset").u64(),
                    u32::try_from(obj.get("segments").int()).expect("u32"),
                    obj.get("bytes").u64(),
                    obj.get("last_stable_offset").u64(),
                );
                assert!(view.partitions.insert(key.clone(), state).is_none());
                view.records.insert(key, Vec::new());
            }
            "record" => {
                let headers = obj
                    .get("headers")
                    .items()
                    .iter()
                    .map(|h| Header {
                        key: h.items()[0].str().to_owned(),
                        value: h.items()[1].bytes(),
                    })
                    .collect();
                let record = StoredRecord {
                    offset: obj.get("offset").u64(),
                    timestamp_ms: i64::try_from(obj.get("timestamp").int()).expect("i64"),
                    key: obj.get("key").bytes(),
                    value: obj.get("value").bytes(),
                    headers,
                };
                view.records
                    .get_mut(&partition_key(&obj))
                    .expect("records follow their partition")
                    .push(record);
            }
            other => panic!("unknown line kind {other}"),
        }
    }
    view
}

fn partition_key(obj: &Json) -> (String, u32) {
    (
        obj.get("topic").str().to_owned(),
        u32::try_from(obj.get("partition").int()).expect("u32"),
    )
}

/// Every record of a partition, fetched in small steps from its first offset.
fn fetch_all(db: &Brooklet, topic: &str, partition: u32) -> Vec<StoredRecord> {
    let limits = FetchLimits {
        max_records: 41,
        max_bytes: 6000,
    };
    let mut offset = db.beginning_offset(topic, partition).expect("beginning");
    let mut out = Vec::new();
    loop {
        let fetched = db.fetch(topic, partition, offset, limits).expect("fetch");
        if fetched.records.is_empty() && fetched.next_offset == offset {
            assert_eq!(
                offset, fetched.last_stable_offset,
                "no records before the last stable offset"
            );
            return out;
        }
        offset = fetched.next_offset;
        out.extend(fetched.records);
    }
}

/// Asserts that the script read exactly what brooklet reads. Returns the commit the script
/// chose and the number of records compared.
fn compare(db: &Brooklet, path: &Path) -> (BTreeMap<String, Json>, usize) {
    let view = run_script(path);
    let mut spec_topics = view.topics.clone();
    spec_topics.sort();
    let mut topics: Vec<(String, u32, BTreeMap<String, String>)> = db
        .admin()
        .topics()
        .expect("topics")
        .into_iter()
        .map(|t| {
            let configs = t
                .config
                .to_pairs()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            (t.name, t.partitions, configs)
        })
        .collect();
    topics.sort();
    assert_eq!(spec_topics, topics, "topics");
    let mut compared = 0;
    for (name, partitions, _) in &topics {
        let description = db.admin().describe_topic(name).expect("describe");
        assert_eq!(description.partitions.len(), *partitions as usize);
        for info in description.partitions {
            let key = (name.clone(), info.partition);
            assert_eq!(
                view.partitions[&key],
                (
                    info.beginning_offset,
                    info.end_offset,
                    info.segments,
                    info.bytes,
                    info.last_stable_offset
                ),
                "state of {key:?}"
            );
            let expected = fetch_all(db, name, info.partition);
            let read = &view.records[&key];
            if let Some(i) = (0..expected.len().min(read.len())).find(|&i| read[i] != expected[i]) {
                panic!(
                    "{key:?}: record {i} differs:\nspec reader: {:?}\nbrooklet:    {:?}",
                    read[i], expected[i]
                );
            }
            assert_eq!(read.len(), expected.len(), "record count of {key:?}");
            compared += read.len();
        }
    }
    (view.commit, compared)
}

// ---------------------------------------------------------------------------------------
// Files.

#[test]
fn spec_reader_reads_the_golden_file() {
    if !python3() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("golden.brooklet");
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/log-v2-4096.brooklet");
    std::fs::copy(golden, &path).expect("copy golden file");
    let db = Brooklet::open_with(&path, Options::default().maintain_on_open(false))
        .expect("open golden copy");
    let (commit, compared) = compare(&db, &path);
    assert_eq!(compared, 300, "260 orders and 40 audit records");
    assert_eq!(commit["txn"], Json::Num(58), "the newest slot: {commit:?}");
}

/// Deterministic pseudo-random numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    /// `min` plus up to `spread - 1` random bytes.
    fn bytes(&mut self, min: u64, spread: u64) -> Vec<u8> {
        let len = min + self.below(spread);
        (0..len).map(|_| self.below(256) as u8).collect()
    }
}

const BASE_MS: i64 = 1_650_000_000_000;

fn record(rng: &mut Rng, i: u64) -> Record {
    let key = match rng.below(5) {
        0 => None,
        1 => Some(Vec::new()),
        _ => Some(format!("key-{}", rng.below(40)).into_bytes()),
    };
    let value = match rng.below(9) {
        0 => None,
        1 => Some(Vec::new()),
        // Mostly a few hundred bytes, sometimes several pages.
        2 => Some(rng.bytes(1000, 5000)),
        _ => Some(rng.bytes(0, 900)),
    };
    let headers = (0..rng.below(4))
        .map(|h| Header {
            key: match h {
                0 => format!("h{i}"),
                1 => String::new(),
                _ => "\u{e9}t\u{e9} \"quoted\" \\ \u{1f600}\n".to_owned(),
            },
            value: (rng.below(4) != 0).then(|| rng.bytes(0, 40)),
        })
        .collect();
    // Explicit create times, some out of order; some records take the append time.
    let timestamp_ms = match rng.below(6) {
        0 => None,
        1 => Some(BASE_MS - 3_600_000),
        _ => Some(BASE_MS + i64::try_from(i).expect("small") * 250),
    };
    Record {
        key,
        value,
        headers,
        timestamp_ms,
    }
}

fn config(pairs: &[(&str, &str)]) -> TopicConfig {
    TopicConfig::from_pairs(pairs.iter().copied()).expect("config")
}

/// Writes a file of several topics; the last commits are not durable. Returns the open
/// handle.
fn write_file(path: &Path, page_size: u32) -> Brooklet {
    let db = Brooklet::open_with(path, Options::default().page_size(page_size)).expect("create");
    let segments = ("segment.bytes", "65536");
    db.admin()
        .create_topic("events", 3, config(&[segments]))
        .expect("events");
    db.admin()
        .create_topic(
            "appended",
            1,
            config(&[segments, ("message.timestamp.type", "LogAppendTime")]),
        )
        .expect("appended");
    db.admin()
        .create_topic(
            "trimmed",
            1,
            config(&[segments, ("retention.bytes", "70000")]),
        )
        .expect("trimmed");
    db.admin()
        .create_topic("gone", 1, TopicConfig::default())
        .expect("gone");
    db.admin()
        .create_topic("switched", 2, config(&[segments]))
        .expect("switched");
    db.admin()
        .create_topic("empty", 2, config(&[("cleanup.policy", "compact")]))
        .expect("empty");
    let compacted = [
        segments,
        ("cleanup.policy", "compact"),
        ("delete.retention.ms", "0"),
        // Compacted by `maintain` below, not by the produce commits; also a stored ratio.
        ("min.cleanable.dirty.ratio", "1"),
    ];
    db.admin()
        .create_topic("latest", 1, config(&compacted))
        .expect("latest");
    let durable = db.producer();
    let relaxed = db.producer().with_durability(Durability::None);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut i = 0;
    let mut send = |producer: &brooklet::Producer, topic: &str, partition: u32, count: u64| {
        let records = (0..count).map(|_| {
            i += 1;
            record(&mut rng, i)
        });
        producer
            .send_batch_to(topic, partition, records.collect())
            .expect("send");
    };
    for round in 0..40u32 {
        let producer = if round % 5 == 0 { &durable } else { &relaxed };
        send(producer, "events", round % 3, 1 + u64::from(round % 11));
        send(producer, "events", 0, 4);
        send(producer, "trimmed", 0, 6);
        if round % 4 == 0 {
            send(producer, "appended", 0, 1 + u64::from(round % 3));
            send(producer, "gone", 0, 2);
            send(producer, "switched", (round / 4) % 2, 3);
        }
        if round == 20 {
            db.admin()
                .alter_topic_config("switched", &[("message.timestamp.type", "LogAppendTime")])
                .expect("alter");
        }
    }
    // 13 keys, every 7th record a tombstone: compaction leaves gaps everywhere.
    for round in 0..60u64 {
        let records = (0..40u64)
            .map(|j| {
                let n = round * 40 + j;
                let fill = u8::try_from(n % 251).expect("below 251");
                let len = 50 + usize::try_from(n % 50).expect("small");
                Record {
                    key: Some(format!("k{}", n % 13).into_bytes()),
                    value: (n % 7 != 0).then(|| vec![fill; len]),
                    headers: Vec::new(),
                    timestamp_ms: Some(1_600_000_000_000 + i64::try_from(n).expect("small")),
                }
            })
            .collect();
        durable
            .send_batch_to("latest", 0, records)
            .expect("send keyed");
    }
    db.admin().delete_topic("gone").expect("delete");
    // `DeleteRecords` inside a batch: the first segment keeps records below the log start.
    let before = db.end_offset("events", 1).expect("end") / 2 + 1;
    db.admin()
        .delete_records("events", 1, before)
        .expect("delete records");
    // Retention, and compaction of `latest`.
    let report = db.admin().maintain().expect("maintain");
    assert!(report.compaction.records_removed > 1000, "{report:?}");
    transactions(&db);
    // The last commits are not durable: the slot carries the window chain; the last one
    // writes many pages (a journal blob at 512-byte pages).
    send(&relaxed, "events", 1, 3);
    send(&relaxed, "appended", 0, 2);
    send(&relaxed, "events", 2, 60);
    db
}

/// Transactions (FORMAT.md, *Transactions*): a committed one and one aborted after
/// storing ahead in `events` 0, an idempotent producer's sends, and one left open in
/// `events` 2 (its records are held back by the last stable offset, as are the plain
/// sends after it).
fn transactions(db: &Brooklet) {
    let ahead = TransactionOptions {
        buffer_bytes: 2000,
        ..TransactionOptions::default()
    };
    let value = |tag: &str, n: u32| Record::value(format!("{tag}-{n:04}"));
    let mut producer = db
        .transactional_producer_with("spec", ahead)
        .expect("producer");
    let mut txn = producer.begin().expect("begin");
    for n in 0..5 {
        txn.send_to("events", 0, value("committed", n))
            .expect("send");
    }
    txn.commit().expect("commit");
    let mut txn = producer.begin().expect("begin");
    for n in 0..80 {
        txn.send_to("events", 0, value("aborted", n)).expect("send");
    }
    txn.abort().expect("abort");
    let idempotent = db.producer().idempotent().expect("idempotent");
    idempotent
        .send_batch_to(
            "events",
            0,
            vec![value("idempotent", 0), value("idempotent", 1)],
        )
        .expect("send");
    let mut open = db.transactional_producer_with("open", ahead).expect("open");
    let mut txn = open.begin().expect("begin");
    for n in 0..80 {
        txn.send_to("events", 2, value("open", n)).expect("send");
    }
    // Keep the transaction open in the file: neither it nor its producer (whose liveness
    // lock says its owner lives) is dropped.
    std::mem::forget(txn);
    std::mem::forget(open);
    db.producer()
        .send_to("events", 2, value("after", 0))
        .expect("send after");
    assert!(
        db.last_stable_offset("events", 2).expect("lso") < db.end_offset("events", 2).expect("end")
    );
}

fn fresh_file(page_size: u32) {
    if !python3() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("fresh-{page_size}.brooklet"));
    let db = write_file(&path, page_size);
    let (commit, compared) = compare(&db, &path);
    assert!(compared > 500, "only {compared} records compared");
    assert!(
        !commit["durable"].bool(),
        "last commit not durable: {commit:?}"
    );
    assert!(commit["chain_nodes"].int() >= 1, "window chain: {commit:?}");
    if page_size == 512 {
        assert!(
            commit["journal_blob"].bool(),
            "journal in a blob: {commit:?}"
        );
    }
    // Segments: several per partition of `events`.
    assert!(
        db.admin()
            .describe_topic("events")
            .expect("describe")
            .partitions[0]
            .segments
            >= 3,
        "several segments"
    );
    assert!(
        db.beginning_offset("trimmed", 0).expect("start") > 0,
        "retention"
    );
    assert!(
        (fetch_all(&db, "latest", 0).len() as u64) < db.end_offset("latest", 0).expect("end") / 2,
        "compaction"
    );
    // Small durable appends keep their partition's state pending in the commit slot.
    for n in 0..2 {
        db.producer()
            .send_to("events", 1, Record::keyed(format!("p{n}"), "pending"))
            .expect("small send");
    }
    let (commit, _) = compare(&db, &path);
    assert!(
        commit["pending_entries"].int() >= 2,
        "pending entries: {commit:?}"
    );
    if page_size == 4096 {
        // At 512-byte pages the slot has no room for a batch beside the entries.
        assert!(commit["pending_data"].int() > 0, "pending data: {commit:?}");
    }
    // A fresh handle (recovery from the file) reads the same.
    drop(db);
    let db =
        Brooklet::open_with(&path, Options::default().maintain_on_open(false)).expect("reopen");
    compare(&db, &path);
    eprintln!("spec_reader: page size {page_size}: {compared} records compared");
}

#[test]
fn spec_reader_reads_a_fresh_file_512() {
    fresh_file(512);
}

#[test]
fn spec_reader_reads_a_fresh_file_4096() {
    fresh_file(4096);
}
