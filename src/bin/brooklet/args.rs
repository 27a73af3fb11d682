//! The command line: every command, flag and help text. The names and flags are a contract
//! that scripts rely on (issue 6); add to them, never rename.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::common::{parse_group, parse_page_size, parse_pair};
use crate::produce::BATCH_RECORDS_DEFAULT;
use crate::time::{parse_reset_to, parse_time};
use crate::topic::{Before, parse_before, topic_create_help};

const TOP_EXAMPLES: &str = "\
Examples:
  brooklet demo                                  a guided tour in a new file
  brooklet init events.brooklet
  brooklet topic create events.brooklet orders --partitions 3
  printf 'alice:1\\nbob:2\\n' | brooklet produce events.brooklet orders --key-separator : --acks
  brooklet consume events.brooklet orders --from-beginning --format json
  brooklet consume events.brooklet orders --group billing --follow   one member of a group
  brooklet group describe events.brooklet billing
  brooklet info events.brooklet

Output: data goes to stdout, summaries and errors to stderr. An error is one line,
`brooklet: error: ...`. Exit codes: 0 success; 1 the command failed (missing or damaged
file, unknown topic, bad input data, I/O error); 2 the command line is wrong (unknown flag,
bad value, bad topic config); 3 (`check` only) the file is healthy after rolling back a
commit. A command whose opening of the file rolled back a commit says so on stderr
(`brooklet: warning: ...`): the records of that commit are lost.

Only `init` and `demo` create files; every other command needs an existing brooklet file
and never changes a file that is not one.";

/// brooklet: Kafka-style event streams in one file.
#[derive(Debug, Parser)]
#[command(name = "brooklet", version, after_help = TOP_EXAMPLES, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty brooklet file.
    #[command(after_help = "\
Examples:
  brooklet init events.brooklet
  brooklet init small.brooklet --page-size 1024

FILE must not exist, or be an empty file. If FILE is already a brooklet file, init says so
and exits 1 without changing it; any other existing file is refused (exit 1).")]
    Init {
        /// The file to create.
        file: PathBuf,
        /// Page size in bytes: a power of two from 512 to 65536.
        #[arg(long, default_value_t = brooklet::PAGE_SIZE_DEFAULT, value_parser = parse_page_size)]
        page_size: u32,
    },
    /// Create, list, describe, alter and delete topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Append records read from stdin, one per line.
    Produce(ProduceArgs),
    /// Print records of a topic.
    Consume(ConsumeArgs),
    /// List, describe, reset and delete consumer groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// List and describe transactional ids (like Kafka's kafka-transactions.sh).
    #[command(subcommand)]
    Transactions(TransactionsCommand),
    /// Verify the whole file: exit 0 when clean, 1 with a list of problems, 3 when clean
    /// after rolling back a commit.
    #[command(after_help = "\
Examples:
  brooklet check events.brooklet
  brooklet check events.brooklet --json

Walks every page: checksums, B-trees, free pages, the last commit's journal; decodes every
key and value of the topic, partition and group trees and checks them against the file and
each other; and decodes every record of every batch as readers do, so a file it calls clean
is one no reader refuses. Problems are listed on stdout, one per line.

Exit codes: 0 the file is healthy; 1 problems were found (listed), or the file is too
damaged to open (a one-line error); 3 the file is healthy, but opening it rolled back the
newest commit(s): a power cut tore them as they were written, or the file was damaged
after they were acknowledged. A `rolled back:` line names each such commit (txn, durable
or not, when it was written): its records are lost, and their offsets will go to new
records. With --json, `status` is `clean`, `problems` or `rolled_back`, and `rolled_back`
lists the commits.

The check opens the file read-only and never changes it (no retention runs, no lock is
taken), so it works on a file it cannot write. It reads one committed state, pinned so that
writers in other processes go on but reuse none of its pages until it ends: it is right
while other processes write. Readers that do not pin (consume, the library's fetch) may
meet pages reused under them; they detect it by checksums and read again, never returning
wrong data (FORMAT.md, *Locks*).

Memory: one bit per page of the file (32 MiB per TiB at 4 KiB pages, 4 MiB for 128 GiB),
plus a fixed amount (the page cache, at most 32 MiB, and a read buffer of 256 KiB or one
batch) and about 200 bytes per topic, partition and segment; nothing per record or index
entry. Like SQLite's integrity check, it keeps no owner per page: when a page is reached
twice, it walks the trees a second time to name both owners. A damaged file adds its
problems.")]
    Check {
        /// The brooklet file.
        file: PathBuf,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show the format version, page size, pages by kind, free pages and topics.
    #[command(after_help = "\
Examples:
  brooklet info events.brooklet
  brooklet info events.brooklet --json

Counting pages by kind walks the whole file (as `check` does), so info takes time on
large files, and as much memory as check (one bit per page plus a fixed amount; see
`brooklet check --help`). Like check, info opens the file read-only and never changes it; commits that
opening rolled back are shown as `rolled back:` lines. It also prints the file's part of
the library's `Brooklet::stats` (`file_stats` in --json): free pages and the runs they
form, commits since the last durable one, and bytes the newest commit holds in its slot.
A partition whose last stable offset is below its end (a transaction is open) says so.")]
    Info {
        /// The brooklet file.
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Decode pages for format tooling (see FORMAT.md).
    #[command(after_help = "\
Examples:
  brooklet dump events.brooklet              both header pages, trees and segments
  brooklet dump events.brooklet --page 7     what page 7 is, and a hex dump of it

Without --page: the static header and commit slot of pages 0 and 1 as FORMAT.md lays them
out, every named tree with its entry count, and every partition's segments (first page,
page count, bytes used). With --page N: the page's kind where it can be told (header page,
B-tree leaf or branch whose checksum verifies, or a data page of a segment, with the record
batches that start in it), then a hex dump; repeated lines are shown once, followed by `*`.
Pages of blobs (overflow values, the free list, the journal) and free pages have no header
of their own and are reported as `unknown`.")]
    Dump {
        /// The brooklet file.
        file: PathBuf,
        /// The page to decode and hex-dump.
        #[arg(long)]
        page: Option<u32>,
        /// Print one JSON object (without the hex dump).
        #[arg(long)]
        json: bool,
    },
    /// Return free space to the operating system: move pages down, truncate the file.
    #[command(after_help = "\
Examples:
  brooklet vacuum events.brooklet
  brooklet vacuum events.brooklet --json

Moves pages in use from the end of the file into free space lower down (segments whole,
then B-tree pages), then truncates the file. Records, offsets and group offsets are
unchanged. Works in short commits, so producers and consumers in other processes go on
meanwhile; a crash at any point leaves a file that opens with the same records.
Readers in other processes that meet a moved page retry on the newer state by themselves.
Prints one summary line on stderr (file size before -> after); --json prints the report
on stdout.")]
    Vacuum {
        /// The brooklet file.
        file: PathBuf,
        /// Print the report as one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Compact topics: keep each key's latest record, drop expired tombstones.
    #[command(after_help = "\
Examples:
  brooklet compact events.brooklet            every topic with cleanup.policy=compact
  brooklet compact events.brooklet users      one topic
  brooklet compact events.brooklet --json     a JSON report on stdout

Compaction applies to topics whose cleanup.policy is compact or compact,delete. Before the
active (last) segment of each partition, it keeps the latest record of every key and drops
tombstones (null values) older than delete.retention.ms; segments younger than
min.compaction.lag.ms wait. Kept records keep their offsets, so offsets have gaps after.
Each step is a short commit: producers and consumers keep working meanwhile, and an
interrupted run loses nothing. Library users get the same from maintain() and
start_maintenance().

Compaction also runs by itself: a produce commit that closes a segment compacts the
partition's newest segments (up to 4 x segment.bytes) when more than
min.cleanable.dirty.ratio (default 0.5; 1 turns it off) of their bytes would go. This
command compacts everything now, whatever the ratio.")]
    Compact {
        /// The brooklet file.
        file: PathBuf,
        /// Only this topic (its cleanup.policy must include compact).
        topic: Option<String>,
        /// Print a JSON report on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write a topic's records as JSON lines or as Kafka segment files.
    Export(ExportArgs),
    /// Append records from JSON lines (the format `export` and `consume --format json` write).
    Import(ImportArgs),
    /// Create a demo file, produce and consume a few thousand records, and show what happened.
    #[command(after_help = "\
Examples:
  brooklet demo
  brooklet demo /tmp/my-demo.brooklet

Without FILE the demo uses brooklet-demo.brooklet in the system's temporary directory and
replaces it on every run. A FILE you name must not exist yet (or be empty).")]
    Demo {
        /// Where to create the demo file.
        file: Option<PathBuf>,
    },
    /// Copy topics into a Kafka-protocol broker (a Kafka cluster or `brooklet serve`).
    Mirror(crate::mirror::MirrorArgs),
    /// Serve the file over Kafka's wire protocol, for Kafka clients (kcat, librdkafka,
    /// kafka-python).
    Serve(crate::serve::ServeArgs),
}

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    #[command(after_help = topic_create_help())]
    Create {
        /// The brooklet file.
        file: PathBuf,
        /// The topic name: 1 to 249 of [a-zA-Z0-9._-].
        topic: String,
        /// Number of partitions (1 to 10000).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        partitions: u32,
        #[command(flatten)]
        configs: ConfigArgs,
    },
    /// List topic names, one per line.
    #[command(after_help = "\
Examples:
  brooklet topic list events.brooklet
  brooklet topic list events.brooklet --json      [{\"name\", \"partitions\", \"config\"}, ...]")]
    List {
        /// The brooklet file.
        file: PathBuf,
        /// Print a JSON array of topics with partition counts and configs.
        #[arg(long)]
        json: bool,
    },
    /// Show a topic's config and each partition's offsets and size.
    #[command(after_help = "\
Examples:
  brooklet topic describe events.brooklet orders
  brooklet topic describe events.brooklet orders --json

Offsets are `beginning..end`: the first offset still stored and the offset the next record
gets. `LSO: N` follows where a transaction still open holds the partition's last stable
offset below the end (read-committed readers stop there); --json always has
last_stable_offset.")]
    Describe {
        /// The brooklet file.
        file: PathBuf,
        /// The topic.
        topic: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete a topic and all its records.
    #[command(after_help = "\
Examples:
  brooklet topic delete events.brooklet orders")]
    Delete {
        /// The brooklet file.
        file: PathBuf,
        /// The topic.
        topic: String,
    },
    /// Delete a partition's records below an offset (move its beginning offset up).
    #[command(after_help = "\
Examples:
  brooklet topic delete-records events.brooklet orders --partition 0 --before 500
  brooklet topic delete-records events.brooklet orders --partition 0 --before end

Records below --before are gone for readers and consumers at once (groups whose committed
offset falls below it reset as after retention), and segments wholly below it are freed, as
with Kafka's kafka-delete-records. --before is an offset up to the partition's end, or
`end`; one at or below the beginning offset changes nothing. Prints `TOPIC PARTITION
BEGINNING`: the beginning offset afterwards. An offset past the end or an unknown partition
is refused (exit 2).")]
    DeleteRecords {
        /// The brooklet file.
        file: PathBuf,
        /// The topic.
        topic: String,
        /// The partition.
        #[arg(long, value_name = "N")]
        partition: u32,
        /// Delete the records below this offset: a number, or `end`.
        #[arg(long, value_name = "OFFSET", value_parser = parse_before)]
        before: Before,
    },
    /// Change topic configs.
    #[command(after_help = "\
Examples:
  brooklet topic alter events.brooklet orders --retention-ms 86400000
  brooklet topic alter events.brooklet orders --retention-bytes -1 --cleanup compact
  brooklet topic alter events.brooklet orders --config max.message.bytes=2097152

It takes the flags `topic create` takes, and the allowed values are those
`brooklet topic create --help` lists; a key given twice with --config is refused, and a
refused value leaves the topic unchanged (exit 2). Keys not named keep their values. Prints
the topic's resulting config on stdout, one key=value per line.")]
    Alter {
        /// The brooklet file.
        file: PathBuf,
        /// The topic.
        topic: String,
        #[command(flatten)]
        configs: ConfigArgs,
    },
}

/// Topic configs, as `topic create` and `topic alter` take them.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// retention.ms: delete segments older than this; -1 keeps them forever.
    #[arg(long, allow_hyphen_values = true, value_name = "MS")]
    pub retention_ms: Option<String>,
    /// retention.bytes: per partition, delete the oldest segments beyond this; -1: no limit.
    #[arg(long, allow_hyphen_values = true, value_name = "B")]
    pub retention_bytes: Option<String>,
    /// cleanup.policy: delete, compact or compact,delete.
    #[arg(long, value_name = "POLICY")]
    pub cleanup: Option<String>,
    /// Any topic config as key=value (repeatable).
    #[arg(long = "config", value_name = "K=V", value_parser = parse_pair)]
    pub configs: Vec<(String, String)>,
}

impl ConfigArgs {
    /// Every config as a key and value; a dedicated flag overrides the same key given with
    /// --config.
    pub fn pairs(self) -> Vec<(String, String)> {
        let mut pairs = self.configs;
        let flags = [
            ("retention.ms", self.retention_ms),
            ("retention.bytes", self.retention_bytes),
            ("cleanup.policy", self.cleanup),
        ];
        for (key, value) in flags {
            if let Some(value) = value {
                pairs.retain(|(k, _)| k != key);
                pairs.push((key.to_owned(), value));
            }
        }
        pairs
    }
}

/// How `produce` and `import` cut their input into commits.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// How durable each commit is.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Immediate)]
    pub durability: DurabilityArg,
    /// The most records in one commit (input already waiting is committed together).
    #[arg(
        long,
        value_name = "N",
        default_value_t = BATCH_RECORDS_DEFAULT,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub batch: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    /// One fdatasync per commit: durable when the commit returns.
    Immediate,
    /// Two fdatasyncs per commit (data, then the commit slot).
    Paranoid,
    /// No fdatasync: atomic, but the newest commits may be lost in a power cut.
    None,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  echo hello | brooklet produce events.brooklet logs
  printf 'alice:{\"total\":42}\\nbob:{\"total\":7}\\n' | brooklet produce events.brooklet orders --key-separator :
  brooklet produce events.brooklet orders --acks < lines.txt > acks.txt
  tail -f app.log | brooklet produce events.brooklet logs --header source=app --durability none

Input: stdin as bytes, split at each newline; one trailing \\r per line is dropped (CRLF
input), an empty line is a record with an empty value, and a last line without a newline is
still a record. Bytes need not be UTF-8. With --key-separator, each line is split at the
first SEP into key and value; a line without SEP is an error naming its line number (exit
1), and the lines before it stay committed. Records without key are spread over partitions
one commit at a time (sticky partitioning); keyed records go to murmur2(key) like Kafka.

Commits: records are committed as input arrives; whatever lines are already waiting (up to
--batch records, 10000 by default, or 4 MiB) go into one atomic commit. With --acks, each record's `PARTITION
OFFSET` is printed on stdout in input order once its commit has returned; nothing else goes
to stdout. A summary goes to stderr.

With --transactional-id ID, each commit is one transaction of the transactional producer ID
(Kafka's transactional.id): its records and a COMMIT marker in each partition they went to,
stored together. Starting fences any earlier instance of ID (in any process) and aborts what
it left open; a fenced instance stops with an error (exit 1), its open transaction aborted.
--acks then prints offsets once each transaction has committed. With --idempotent, the run
gets a producer id of its own and stamps its batches with it and with sequence numbers
(Kafka's enable.idempotence).")]
pub struct ProduceArgs {
    /// The brooklet file.
    pub file: PathBuf,
    /// The topic.
    pub topic: String,
    /// Split each line at the first SEP into key and value.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Send every record to this partition.
    #[arg(long, value_name = "P")]
    pub partition: Option<u32>,
    /// A header added to every record, as key=value (repeatable; order kept).
    #[arg(long = "header", value_name = "K=V", value_parser = parse_pair)]
    pub headers: Vec<(String, String)>,
    #[command(flatten)]
    pub commit: CommitArgs,
    /// Print `PARTITION OFFSET` per record on stdout once committed.
    #[arg(long)]
    pub acks: bool,
    /// Commit each batch of lines as one transaction of this transactional id.
    #[arg(long, value_name = "ID", conflicts_with = "idempotent")]
    pub transactional_id: Option<String>,
    /// Stamp batches with a producer id and sequence numbers (an idempotent producer).
    #[arg(long)]
    pub idempotent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    /// Committed transactions and records outside any, up to the last stable offset.
    ReadCommitted,
    /// Every record up to the end, open and aborted transactions' included.
    ReadUncommitted,
}

impl IsolationArg {
    pub fn isolation(self) -> brooklet::Isolation {
        match self {
            Self::ReadCommitted => brooklet::Isolation::ReadCommitted,
            Self::ReadUncommitted => brooklet::Isolation::ReadUncommitted,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConsumeFormat {
    /// The value of each record, one per line (with --key-separator: key SEP value).
    Text,
    /// One JSON object per record and line.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  brooklet consume events.brooklet orders                        every record, then exit
  brooklet consume events.brooklet orders --follow               new records as they come
  brooklet consume events.brooklet orders --since 2026-11-26T10:00:00Z --format json
  brooklet consume events.brooklet orders --partition 1 --offset 500 --max 10
  brooklet consume events.brooklet orders --group billing --from-beginning
  brooklet consume events.brooklet orders --group billing --follow --format json

Start: --from-beginning, --offset N (clamped into each partition's range, with a note on
stderr) or --since TIME (milliseconds since the epoch, or RFC 3339 such as
2026-11-26T10:00:00Z or 2026-11-26T11:00:00+01:00, or a date 2026-11-26 meaning midnight UTC).
Without any of them the start is the beginning, except with --follow, where it is the end
(only new records, like Kafka's console consumer).

End: without --follow, the command reads up to the end offset each partition had when it
started (with --isolation read-committed, the default: up to its last stable offset), then
exits 0. With --follow it waits for new records. --timeout-ms MS ends it
(exit 0) after MS without a new record; --max N ends it (exit 0) after N records.
Partitions are read in turn, so records of different partitions interleave.

Text format: each record's value, then a newline (bytes as stored; a null value prints as
`null`). With --key-separator SEP: key, SEP, value (a null key prints as `null`).
JSON format: one object per line:
  {\"topic\":\"orders\",\"partition\":0,\"offset\":5,\"timestamp\":1764151200000,
   \"key\":\"alice\",\"value\":\"{...}\",\"headers\":[[\"source\",\"app\"]]}
timestamp is in milliseconds since the epoch; key, value and header values are UTF-8
strings, null for null, or {\"base64\":\"...\"} (standard alphabet, padded) for bytes that
are not UTF-8. headers keeps order and duplicates.

Isolation (Kafka's isolation.level): read-committed (the default) prints records sent outside
transactions and those of committed transactions, and stops before a transaction still open;
read-uncommitted prints every record, open and aborted transactions' included. Transaction
markers (control records) are never printed.

With --group G the command is a member of consumer group G (created if new): it shares the
topic's partitions with the group's other live members (other `consume --group G`
processes, or programs using the library), reading only the partitions the group assigns
it, and commits its offsets after printing (at-least-once: records are printed and stdout
flushed before their offsets are committed, so a crash in between prints them again). It
starts at the group's committed offset; where the group has none it starts at the end
(only new records), or at the beginning with --from-beginning, which never overrides a
committed offset (as in Kafka). --offset, --since and --partition do not apply to a group:
move its offsets with `brooklet group reset`. Without --follow, a member reads up to the end
offsets of the moment it started and exits once every partition it owns is there and either
it owns all the topic's partitions or its assignment has not changed for 500 ms (the time
other members take to hand partitions over); it then commits its positions, so the next run
continues there. On exit (end, --max, --timeout-ms, or its reader closing stdout) it leaves
the group, and its partitions move to the other members at once. A killed member loses them
within about half a second (its liveness lock goes with its process); a member that is alive
but stops heartbeating (stopped with SIGSTOP, say) keeps them until --session-timeout-ms
passes.")]
pub struct ConsumeArgs {
    /// The brooklet file.
    pub file: PathBuf,
    /// The topic.
    pub topic: String,
    /// Consume as a member of this consumer group, committing offsets.
    #[arg(long, value_name = "G", value_parser = parse_group)]
    pub group: Option<String>,
    /// Start at the first offset still stored.
    #[arg(long, group = "start")]
    pub from_beginning: bool,
    /// Start at this offset in each partition read.
    #[arg(long, value_name = "N", group = "start")]
    pub offset: Option<u64>,
    /// Start at the first record at or after TIME.
    #[arg(long, value_name = "TIME", group = "start", value_parser = parse_time)]
    pub since: Option<i64>,
    /// Read only this partition.
    #[arg(long, value_name = "P")]
    pub partition: Option<u32>,
    /// Stop after N records.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Stop after MS milliseconds without a new record.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Keep waiting for new records.
    #[arg(long)]
    pub follow: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ConsumeFormat::Text)]
    pub format: ConsumeFormat,
    /// Text format: print `key SEP value`.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Which records to read: read-committed skips aborted and open transactions.
    #[arg(long, value_enum, default_value_t = IsolationArg::ReadCommitted)]
    pub isolation: IsolationArg,
    /// With --group: the group drops this member after MS without a heartbeat.
    #[arg(
        long,
        value_name = "MS",
        requires = "group",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(100..=3_600_000)
    )]
    pub session_timeout_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List consumer groups, one name per line.
    #[command(after_help = "\
Examples:
  brooklet group list events.brooklet
  brooklet group list events.brooklet --json

--json prints an array of objects: {\"group\", \"members\", \"live_members\", \"topics\",
\"lag\"}, where members counts the members recorded, live_members those heartbeating in
time, and lag is the group's total lag over its partitions (as in `group describe`).")]
    List {
        /// The brooklet file.
        file: PathBuf,
        /// Print a JSON array of groups with member counts, topics and lag.
        #[arg(long)]
        json: bool,
    },
    /// Show a group's members and, per partition, committed offset, end, lag and owner.
    #[command(after_help = "\
Examples:
  brooklet group describe events.brooklet billing
  brooklet group describe events.brooklet billing --json

Partitions are those of the topics the members subscribe to and those the group has
committed offsets for. COMMITTED is the next offset the group will read (`-` if none), END
the partition's end offset, LAG the records between the committed offset (or the first
offset still stored, if none) and the end, OWNER the member that owns the partition (`-` if
none). A member is live while it heartbeats within its session timeout. A last column, LSO,
appears when a transaction still open holds a partition's last stable offset below its end
(read-committed members stop there); it is `-` for the other partitions.

A member's protocol is `embedded` for the file's own consumers and `kafka` for Kafka
clients in a group that `brooklet serve` coordinates: those are shown, with their client
id, host and assigned partitions, while the server runs (pid is the server's).

--json prints one object:
  {\"group\": \"billing\", \"generation\": 4, \"assignor\": \"range\",
   \"members\": [{\"id\": \"1f0c...\", \"pid\": 4242, \"topics\": [\"orders\"],
                \"heartbeat_ms\": 1764151200000, \"live\": true,
                \"protocol\": \"embedded\", \"client_id\": null, \"client_host\": null,
                \"partitions\": [{\"topic\": \"orders\", \"partition\": 0}]}, ...],
   \"partitions\": [{\"topic\": \"orders\", \"partition\": 0, \"committed\": 120,
                   \"end\": 150, \"last_stable_offset\": 150, \"lag\": 30,
                   \"owner\": \"1f0c...\"}, ...]}
lag is an integer; committed and owner are null when there is none.")]
    Describe {
        /// The brooklet file.
        file: PathBuf,
        /// The group.
        group: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Move a group's committed offsets; prints the new ones.
    #[command(after_help = "\
Examples:
  brooklet group reset events.brooklet billing --to earliest
  brooklet group reset events.brooklet billing --to latest --topic orders
  brooklet group reset events.brooklet billing --to 500 --topic orders
  brooklet group reset events.brooklet billing --to 2026-11-26T10:00:00Z
  brooklet group reset events.brooklet billing --to @1764151200000

--to: earliest (each partition's first offset still stored), latest (its end), an offset
(clamped into each partition's range), or a time: RFC 3339 such as 2026-11-26T10:00:00Z, a
date such as 2026-11-26 (midnight UTC), or @MS for milliseconds since the epoch (a plain
number is an offset). A time moves each partition to its first record at or after it (the
end if none). With --topic, every partition of that topic is set (the group may have no
offsets for it yet); without it, every partition the group has committed offsets for.

Prints `TOPIC PARTITION OFFSET` per partition on stdout. The group must exist and have no
live members (stop its consumers first, or wait for their session timeout).")]
    Reset {
        /// The brooklet file.
        file: PathBuf,
        /// The group.
        group: String,
        /// earliest, latest, an offset, or a time (RFC 3339, a date, or @MS).
        #[arg(long, value_name = "WHERE", value_parser = parse_reset_to)]
        to: brooklet::Position,
        /// Only this topic (and set all its partitions).
        #[arg(long, value_name = "T")]
        topic: Option<String>,
    },
    /// Delete a group and its committed offsets.
    #[command(after_help = "\
Examples:
  brooklet group delete events.brooklet billing

The group must have no live members (stop its consumers first, or wait for their session
timeout).")]
    Delete {
        /// The brooklet file.
        file: PathBuf,
        /// The group.
        group: String,
    },
}

/// `transactions list --help` and `transactions describe --help`.
const TRANSACTIONS_HELP: &str = "\
Examples:
  brooklet transactions list events.brooklet
  brooklet transactions describe events.brooklet ledger-writer --json

Columns: TRANSACTIONAL-ID; PRODUCER-ID and EPOCH of its current instance (a new instance
raises the epoch, fencing the one before); STATE (Kafka's names: Empty, Ongoing,
CompleteCommit, CompleteAbort); PARTITIONS its open transaction has stored records in
(topic-partition, `-` if none); STARTED, when that transaction began (`-` if none is open).
Finished ids are listed too. --json prints objects {\"transactional_id\", \"producer_id\",
\"producer_epoch\", \"state\", \"partitions\": [{\"topic\", \"partition\"}], \"started_ms\",
\"started\", \"updated_ms\", \"timeout_ms\"} (an array for list), started null when none is open.
describe of an id the file does not hold is an error (exit 1).";

#[derive(Debug, Subcommand)]
pub enum TransactionsCommand {
    /// List every transactional id, one per line after a header, with its state.
    #[command(after_help = TRANSACTIONS_HELP)]
    List {
        /// The brooklet file.
        file: PathBuf,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show one transactional id: producer id, epoch, state, partitions, start time.
    #[command(after_help = TRANSACTIONS_HELP)]
    Describe {
        /// The brooklet file.
        file: PathBuf,
        /// The transactional id.
        transactional_id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// JSON lines, as `consume --format json` prints them.
    Jsonl,
    /// Kafka's log layout: PATH/TOPIC-PARTITION/<base offset>.log.
    KafkaSegment,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  brooklet export events.brooklet orders --format jsonl > orders.jsonl
  brooklet export events.brooklet orders --format jsonl --out orders.jsonl
  brooklet export events.brooklet orders --format kafka-segment --out kafka-logs

jsonl: every record of every partition (partition by partition, in offset order), in the
JSON form of `consume --format json`, to stdout or to the file --out.
kafka-segment: Kafka's own log layout under the directory --out (required): one
TOPIC-PARTITION directory per partition holding one `<20-digit base offset>.log` file per
segment, with the stored RecordBatch v2 bytes exactly as a Kafka segment file holds them
(each batch's CRC is verified on the way). An empty partition gets an empty .log file named
after its next offset. A segment holding the ABORT marker of an aborted transaction also gets
Kafka's transaction index, `<base offset>.txnindex` (34-byte entries: version, producer id,
first offset, marker offset, last stable offset after the marker); as in Kafka, segments
without one get no file. No offset or time index files are written.")]
pub struct ExportArgs {
    /// The brooklet file.
    pub file: PathBuf,
    /// The topic.
    pub topic: String,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Output file (jsonl; default stdout) or directory (kafka-segment; required).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// JSON lines, as `export --format jsonl` and `consume --format json` write them.
    Jsonl,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  brooklet import events.brooklet orders --format jsonl < orders.jsonl
  brooklet import copy.brooklet orders --format jsonl --in orders.jsonl --durability none

The topic must exist (create it with `topic create`). Each line is one JSON object; key,
value, headers and timestamp are kept (timestamp may be omitted: the import time is used),
and a \"partition\" field sends the record to that partition (leave it out to let the key
choose). \"topic\" and \"offset\" are ignored: records get the topic's next offsets. Empty
lines are skipped. A bad line is an error naming its line number (exit 1); the lines before
it stay committed.

Commits: as in `produce`, whatever lines are already read (up to --batch records, 10000 by
default, or 4 MiB) go into one atomic commit, whichever partitions they are bound for.")]
pub struct ImportArgs {
    /// The brooklet file.
    pub file: PathBuf,
    /// The topic.
    pub topic: String,
    /// Input format.
    #[arg(long, value_enum)]
    pub format: ImportFormat,
    /// Read this file instead of stdin.
    #[arg(long = "in", value_name = "PATH")]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub commit: CommitArgs,
}
