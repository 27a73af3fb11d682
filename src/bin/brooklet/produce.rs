//! `brooklet produce`: one record per line of stdin, committed as input arrives.
//!
//! A reader thread splits stdin into lines and hands them over a bounded channel. The main
//! thread blocks for one line, then takes every line already read (up to a batch limit)
//! and commits them together: a burst of input becomes one commit, and a slow trickle
//! (`tail -f`) is committed line by line without waiting for more.
//!
//! With `--transactional-id`, each such commit is one transaction (its records and a COMMIT
//! marker per partition, in one storage commit); with `--idempotent`, one idempotent
//! producer id stamps every commit's batches.

use std::collections::VecDeque;
use std::io::{self, BufRead as _};
use std::sync::mpsc::{self, Receiver, SyncSender};

use brooklet::{
    Brooklet, Durability, Header, Producer, Record, RecordMetadata, TransactionOptions,
    TransactionalProducer,
};

use crate::args::{DurabilityArg, ProduceArgs};
use crate::common::{Access, CliError, CliResult, Out, counted, describe, note, open};

/// The most records in one commit unless `--batch` says otherwise.
pub const BATCH_RECORDS_DEFAULT: u32 = 10_000;
/// The most line bytes in one commit.
const BATCH_BYTES_MAX: usize = 4 << 20;
/// Bytes the reader thread reads at a time.
const READ_CHUNK: usize = 1 << 16;
/// Chunks of lines the reader thread may read ahead.
const CHANNEL_CHUNKS: usize = 64;

type Chunk = io::Result<Vec<Vec<u8>>>;

/// Input split into lines, handed out in batches. A thread reads the input and passes on
/// the complete lines of each read, so lines that arrive together are committed together.
pub struct Lines {
    receiver: Receiver<Chunk>,
    pending: VecDeque<Vec<u8>>,
    error: Option<io::Error>,
    /// The number (from 1) of the next line a batch returns.
    line_next: u64,
    /// The most lines in one batch.
    batch_records_max: usize,
}

impl Lines {
    /// Starts reading `input`, to be handed out in batches of at most `batch_records_max`
    /// lines. Each line loses its `\n` and one trailing `\r`; a last line without `\n` is
    /// still a line.
    pub fn spawn(input: Box<dyn io::Read + Send>, batch_records_max: u32) -> Self {
        let (sender, receiver) = mpsc::sync_channel(CHANNEL_CHUNKS);
        std::thread::spawn(move || read_lines(input, &sender));
        Self {
            receiver,
            pending: VecDeque::new(),
            error: None,
            line_next: 1,
            batch_records_max: batch_records_max.max(1) as usize,
        }
    }

    /// Blocks until a line is there, then returns every line already read, up to the batch
    /// limits, with the number of the first. Returns `None` at the end of input. A read
    /// error is returned after the lines read before it.
    pub fn next_batch(&mut self) -> CliResult<Option<(u64, Vec<Vec<u8>>)>> {
        let batch = self.next_lines()?;
        if batch.is_empty() {
            return Ok(None);
        }
        let first = self.line_next;
        self.line_next += batch.len() as u64;
        Ok(Some((first, batch)))
    }

    fn next_lines(&mut self) -> CliResult<Vec<Vec<u8>>> {
        if self.pending.is_empty() && self.error.is_none() {
            match self.receiver.recv() {
                Ok(chunk) => self.take(chunk),
                Err(_) => return Ok(Vec::new()),
            }
        }
        while self.pending.len() < self.batch_records_max && self.error.is_none() {
            match self.receiver.try_recv() {
                Ok(chunk) => self.take(chunk),
                Err(_) => break,
            }
        }
        if self.pending.is_empty() {
            return match self.error.take() {
                Some(e) => Err(CliError::failure(format!("cannot read input: {e}"))),
                None => Ok(Vec::new()),
            };
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < self.batch_records_max && bytes < BATCH_BYTES_MAX {
            let Some(line) = self.pending.pop_front() else {
                break;
            };
            bytes += line.len();
            batch.push(line);
        }
        Ok(batch)
    }

    fn take(&mut self, chunk: Chunk) {
        match chunk {
            Ok(lines) => self.pending.extend(lines),
            Err(e) => self.error = Some(e),
        }
    }
}

/// The reader thread: sends the complete lines of each read.
fn read_lines(input: Box<dyn io::Read + Send>, sender: &SyncSender<Chunk>) {
    let mut reader = io::BufReader::with_capacity(READ_CHUNK, input);
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = sender.send(Err(e));
                return;
            }
        };
        if buffer.is_empty() {
            if !partial.is_empty() {
                let _ = sender.send(Ok(vec![finish_line(partial)]));
            }
            return;
        }
        let mut lines = Vec::new();
        let mut start = 0;
        while let Some(at) = buffer[start..].iter().position(|&b| b == b'\n') {
            partial.extend_from_slice(&buffer[start..start + at]);
            lines.push(finish_line(std::mem::take(&mut partial)));
            start += at + 1;
        }
        partial.extend_from_slice(&buffer[start..]);
        let used = buffer.len();
        reader.consume(used);
        if !lines.is_empty() && sender.send(Ok(lines)).is_err() {
            return;
        }
    }
}

/// Drops one trailing `\r` (CRLF input).
fn finish_line(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}

pub fn durability(arg: DurabilityArg) -> Durability {
    match arg {
        DurabilityArg::Immediate => Durability::Immediate,
        DurabilityArg::Paranoid => Durability::Paranoid,
        DurabilityArg::None => Durability::None,
    }
}

/// What kind of producer a [`Sink`] commits with.
pub enum Mode {
    /// A new plain producer per commit.
    Plain,
    /// One idempotent producer id for the whole run.
    Idempotent(Producer),
    /// One transaction per commit (keyless records without a partition go to the
    /// producer's sticky partition, which moves on after each commit).
    Transactional(Box<TransactionalProducer>),
}

/// Commits records, counts them, and prints acks.
pub struct Sink<'a> {
    pub db: &'a Brooklet,
    pub topic: &'a str,
    pub durability: Durability,
    pub mode: Mode,
    pub acks: Option<Out>,
    pub records: u64,
    pub commits: u64,
}

impl<'a> Sink<'a> {
    /// A sink committing plainly to `topic`, without acks.
    pub fn new(db: &'a Brooklet, topic: &'a str, durability: Durability) -> Self {
        Self {
            db,
            topic,
            durability,
            mode: Mode::Plain,
            acks: None,
            records: 0,
            commits: 0,
        }
    }

    /// Commits `records` in one commit, each to the partition paired with it (`None`: by
    /// key, or sticky); `lines` holds each one's input line number. If the commit is refused
    /// (a record too large, say), the records are sent one by one so that those before the
    /// bad one are committed, and the error names its line.
    pub fn commit(&mut self, records: Vec<(Option<u32>, Record)>, lines: &[u64]) -> CliResult {
        assert_eq!(records.len(), lines.len(), "one line number per record");
        if records.is_empty() {
            return Ok(());
        }
        match self.send(records.clone()) {
            Ok(metas) => self.acked(&metas),
            Err(e) if e.is_request_error() && records.len() > 1 => {
                for (line, record) in lines.iter().zip(records) {
                    match self.send(vec![record]) {
                        Ok(metas) => self.acked(&metas)?,
                        Err(e) => {
                            return Err(CliError::failure(format!(
                                "line {line}: {}",
                                describe(&e)
                            )));
                        }
                    }
                }
                Ok(())
            }
            Err(e) => Err(CliError::failure(format!(
                "line {}: {}",
                lines[0],
                describe(&e)
            ))),
        }
    }

    fn send(
        &mut self,
        records: Vec<(Option<u32>, Record)>,
    ) -> brooklet::Result<Vec<RecordMetadata>> {
        match &mut self.mode {
            Mode::Plain => {
                // A new producer per commit moves keyless records on to another partition,
                // as Kafka's sticky partitioner does when a batch is complete.
                let producer = self.db.producer().with_durability(self.durability);
                producer.send_batch_routed(self.topic, records)
            }
            Mode::Idempotent(producer) => {
                let sent = producer.send_batch_routed(self.topic, records)?;
                // Keep the producer id and sequences; move the sticky partition on.
                let mut state = producer.idempotence().expect("an idempotent producer");
                state.sticky = state.sticky.wrapping_add(1);
                *producer = self
                    .db
                    .producer()
                    .with_durability(self.durability)
                    .with_idempotence(state);
                Ok(sent)
            }
            Mode::Transactional(producer) => {
                let mut txn = producer.begin()?;
                for (partition, record) in records {
                    // Dropping the transaction on an error aborts it.
                    match partition {
                        Some(p) => txn.send_to(self.topic, p, record)?,
                        None => txn.send(self.topic, record)?,
                    }
                }
                txn.commit()
            }
        }
    }

    fn acked(&mut self, metas: &[RecordMetadata]) -> CliResult {
        self.records += metas.len() as u64;
        self.commits += 1;
        if let Some(out) = &mut self.acks {
            let closed = |e: CliError| {
                if e.message.is_empty() {
                    CliError::failure("stdout was closed; stopped producing")
                } else {
                    e
                }
            };
            for m in metas {
                out.line(&format!("{} {}", m.partition, m.offset))
                    .map_err(closed)?;
            }
            out.flush().map_err(closed)?;
        }
        Ok(())
    }

    /// The summary line: `VERB N records to|into TOPIC in M commits`.
    pub fn summary(&self, verb: &str, preposition: &str) -> String {
        format!(
            "{verb} {} {preposition} {} in {}",
            counted(self.records, "record"),
            self.topic,
            counted(self.commits, "commit")
        )
    }
}

pub fn run(args: &ProduceArgs) -> CliResult {
    let db = open(&args.file, Access::Write)?;
    let partitions = db.admin().describe_topic(&args.topic)?.partitions.len();
    if let Some(p) = args.partition
        && p as usize >= partitions
    {
        return Err(CliError::failure(format!(
            "topic {:?} has {}; partition {p} does not exist",
            args.topic,
            counted(partitions as u64, "partition")
        )));
    }
    let headers: Vec<Header> = args
        .headers
        .iter()
        .map(|(k, v)| Header {
            key: k.clone(),
            value: Some(v.as_bytes().to_vec()),
        })
        .collect();
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    if separator.is_some_and(<[u8]>::is_empty) {
        return Err(CliError::usage("--key-separator must not be empty"));
    }
    let mut sink = Sink::new(&db, &args.topic, durability(args.commit.durability));
    sink.mode = mode(&db, args)?;
    sink.acks = args.acks.then(Out::new);
    let mut lines = Lines::spawn(Box::new(io::stdin()), args.commit.batch);
    let result = loop {
        let (line_first, batch) = match lines.next_batch() {
            Ok(Some(batch)) => batch,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let mut records = Vec::with_capacity(batch.len());
        let mut numbers = Vec::with_capacity(batch.len());
        let mut bad = None;
        for (line, bytes) in (line_first..).zip(batch) {
            let Some(record) = to_record(bytes, separator, &headers) else {
                bad = Some(line);
                break;
            };
            records.push((args.partition, record));
            numbers.push(line);
        }
        if let Err(e) = sink.commit(records, &numbers) {
            break Err(e);
        }
        if let Some(line) = bad {
            break Err(CliError::failure(format!(
                "line {line}: no key separator {:?} found",
                args.key_separator.as_deref().unwrap_or_default()
            )));
        }
    };
    note(&sink.summary("produced", "to"));
    result
}

/// The producer `--transactional-id` or `--idempotent` asks for. Starting a transactional
/// producer fences the id's earlier instance and aborts what it left open.
fn mode(db: &Brooklet, args: &ProduceArgs) -> CliResult<Mode> {
    let durability = durability(args.commit.durability);
    if let Some(id) = &args.transactional_id {
        let options = TransactionOptions {
            durability,
            // The batch of lines is in memory already: holding all of it keeps each
            // transaction one storage commit (records, markers and all).
            buffer_bytes: usize::MAX,
            ..TransactionOptions::default()
        };
        let producer = db
            .transactional_producer_with(id, options)
            .map_err(|e| CliError::failure(describe(&e)))?;
        return Ok(Mode::Transactional(Box::new(producer)));
    }
    if args.idempotent {
        let producer = db.producer().with_durability(durability).idempotent()?;
        return Ok(Mode::Idempotent(producer));
    }
    Ok(Mode::Plain)
}

/// One input line as a record; `None` if a separator is expected and missing.
fn to_record(mut line: Vec<u8>, separator: Option<&[u8]>, headers: &[Header]) -> Option<Record> {
    let key = match separator {
        None => None,
        Some(sep) => {
            let at = line.windows(sep.len()).position(|w| w == sep)?;
            let value = line.split_off(at + sep.len());
            line.truncate(at);
            let key = std::mem::replace(&mut line, value);
            Some(key)
        }
    };
    Some(Record {
        key,
        value: Some(line),
        headers: headers.to_vec(),
        timestamp_ms: None,
    })
}
