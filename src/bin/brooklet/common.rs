//! What every command shares: the error type and exit codes, opening files without ever
//! creating or damaging one, stdout handling, progress bars, and small argument parsers.

use brooklet::format::MAGIC;
use brooklet::{Brooklet, CorruptionKind, Error, Options, RecoveryReport, RolledBackCommit};
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt;
use std::fs::File;
use std::io::{self, IsTerminal as _, Write};
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// Exit code of a command that failed at run time.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a bad command line (clap uses the same).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of `check` when the file is healthy but opening it rolled back a commit.
pub const EXIT_ROLLED_BACK: u8 = 3;

/// Why a command ends early: a one-line message and the exit code. An empty message ends
/// the command silently (the reader of stdout went away).
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: EXIT_FAILURE,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }

    /// Ends the command without a message (stdout was closed by its reader).
    pub fn quiet() -> Self {
        Self::exit(0)
    }

    /// Ends the command with exit code `code` and no message (the command said it all).
    pub fn exit(code: u8) -> Self {
        Self {
            message: String::new(),
            code,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Describes a library error in words for a one-line message.
pub fn describe(err: &Error) -> String {
    match err {
        Error::InvalidArgument(msg) => msg.clone(),
        other => other.to_string(),
    }
}

impl From<Error> for CliError {
    fn from(err: Error) -> Self {
        Self::failure(describe(&err))
    }
}

/// Any I/O error on stdout: a closed pipe ends the command quietly, as `head` expects.
pub fn stdout_error(err: &io::Error) -> CliError {
    if err.kind() == io::ErrorKind::BrokenPipe {
        CliError::quiet()
    } else {
        CliError::failure(format!("cannot write to stdout: {err}"))
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// How a command uses its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads only: the file is opened read-only (the library's `mode=ro`), so nothing is
    /// written to it, not even by retention, and a file that cannot be written works.
    Read,
    /// Writes.
    Write,
}

/// Opens an existing brooklet file. Never creates a file, and never touches a file that
/// does not look like brooklet's: the library initialises empty (or all-zero) storage as a
/// new file, so those are refused here before the library sees them.
///
/// If opening rolled back a commit (a power cut tore it, or the file was damaged after it
/// was written), a warning per lost commit goes to stderr: the records it held are gone,
/// and their offsets will go to new records.
pub fn open(path: &Path, access: Access) -> CliResult<Brooklet> {
    let db = open_quiet(path, access)?;
    warn_rollbacks(path, &db.recovery_report());
    Ok(db)
}

/// Prints one warning line per commit that opening `path` rolled back.
pub fn warn_rollbacks(path: &Path, report: &RecoveryReport) {
    for commit in &report.rolled_back {
        eprintln!(
            "brooklet: warning: {}: {}; its records are lost and their offsets will go to new records",
            path.display(),
            describe_rollback(commit)
        );
    }
}

/// One rolled-back commit in words, its time in RFC 3339.
pub fn describe_rollback(commit: &RolledBackCommit) -> String {
    let kind = commit.kind();
    let claims = if commit.verified {
        ""
    } else {
        ", as its damaged slot claims"
    };
    let at = crate::time::format_time(i64::try_from(commit.written_at_ms).unwrap_or(i64::MAX));
    format!(
        "opening rolled back commit {} ({kind}, written at {at}, slot {}{claims}): {}",
        commit.txn, commit.slot, commit.reason
    )
}

/// [`open`] without the warnings: for commands that report recovery themselves.
pub fn open_quiet(path: &Path, access: Access) -> CliResult<Brooklet> {
    sniff(path)?;
    let shown = path.display();
    let result = match access {
        Access::Read => Brooklet::open_read_only(path),
        Access::Write => Brooklet::open_existing(path, Options::default()),
    };
    result.map_err(|e| match e {
        Error::Corrupt {
            kind: CorruptionKind::BadMagic,
            ..
        } => CliError::failure(format!("{shown} is not a brooklet file")),
        Error::Io(io) => io_error(path, &io),
        other => CliError::failure(format!("{shown}: {}", describe(&other))),
    })
}

/// An I/O error about `path`, in words.
pub fn io_error(path: &Path, err: &io::Error) -> CliError {
    let shown = path.display();
    match err.kind() {
        io::ErrorKind::NotFound => CliError::failure(format!("{shown}: no such file")),
        io::ErrorKind::PermissionDenied => CliError::failure(format!("{shown}: permission denied")),
        _ => CliError::failure(format!("{shown}: {err}")),
    }
}

/// Fails unless `path` is a non-empty file whose page 0, or page 1 at some page size,
/// starts with brooklet's magic.
pub fn sniff(path: &Path) -> CliResult {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            CliError::failure(format!(
                "{shown}: no such file (create one with `brooklet init {shown}`)"
            ))
        } else {
            io_error(path, &e)
        }
    })?;
    if meta.is_dir() {
        return Err(CliError::failure(format!("{shown} is a directory")));
    }
    if meta.len() == 0 {
        return Err(CliError::failure(format!(
            "{shown} is empty, not a brooklet file (create one with `brooklet init {shown}`)"
        )));
    }
    if !has_magic(path)? {
        return Err(CliError::failure(format!("{shown} is not a brooklet file")));
    }
    Ok(())
}

/// True if page 0, or page 1 at any valid page size, starts with the magic.
pub fn has_magic(path: &Path) -> CliResult<bool> {
    let file = File::open(path).map_err(|e| io_error(path, &e))?;
    let mut head = [0u8; MAGIC.len()];
    let offsets = std::iter::once(0).chain((9..=16).map(|shift| 1u64 << shift));
    for offset in offsets {
        if file.read_exact_at(&mut head, offset).is_ok() && head == MAGIC {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A buffered stdout whose errors become [`CliError`]s.
pub struct Out {
    inner: io::BufWriter<io::StdoutLock<'static>>,
}

impl Out {
    pub fn new() -> Self {
        Self {
            inner: io::BufWriter::new(io::stdout().lock()),
        }
    }

    pub fn write(&mut self, bytes: &[u8]) -> CliResult {
        self.inner.write_all(bytes).map_err(|e| stdout_error(&e))
    }

    pub fn line(&mut self, text: &str) -> CliResult {
        self.write(text.as_bytes())?;
        self.write(b"\n")
    }

    pub fn flush(&mut self) -> CliResult {
        self.inner.flush().map_err(|e| stdout_error(&e))
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal and `total` is at least
/// `threshold` (small jobs finish before a bar would help).
pub fn progress(total: u64, threshold: u64, what: &str) -> ProgressBar {
    if !io::stderr().is_terminal() || total < threshold {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style =
        ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} ({eta} left)")
            .expect("valid template")
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// A spinner on stderr for work of unknown length, drawn only when stderr is a terminal.
pub fn spinner(what: &str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

/// Parses `key=value` (the value may be empty and may contain `=`).
pub fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

/// Checks a consumer group id: the characters and length of a topic name.
pub fn parse_group(text: &str) -> Result<String, String> {
    brooklet::validate_topic_name(text)
        .map(|()| text.to_owned())
        .map_err(|e| describe(&e).replace("topic name", "group id"))
}

/// Parses a page size: a power of two from 512 to 65536.
pub fn parse_page_size(text: &str) -> Result<u32, String> {
    let size: u32 = text
        .parse()
        .map_err(|_| format!("expected a number, got {text:?}"))?;
    if size.is_power_of_two() && (brooklet::PAGE_SIZE_MIN..=brooklet::PAGE_SIZE_MAX).contains(&size)
    {
        Ok(size)
    } else {
        Err(format!(
            "page size must be a power of two from {} to {}, got {size}",
            brooklet::PAGE_SIZE_MIN,
            brooklet::PAGE_SIZE_MAX
        ))
    }
}

/// Prints a summary line on stderr (never stdout, which carries data).
pub fn note(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// A count and its noun, plural unless the count is one: `1 record`, `2 records`.
pub fn counted(count: u64, noun: &str) -> String {
    if count == 1 {
        return format!("1 {noun}");
    }
    // "entry" -> "entries", but "key" -> "keys".
    match noun.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{count} {stem}ies"),
        _ => format!("{count} {noun}s"),
    }
}

/// Rows of cells as lines with aligned columns (two spaces apart, no trailing blanks).
pub fn aligned(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

/// Bytes in words: `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut scaled = bytes;
    while scaled >= 1024 * 10 && unit + 1 < UNITS.len() {
        scaled /= 1024;
        unit += 1;
    }
    if unit == 0 {
        counted(bytes, "byte")
    } else {
        format!("{scaled} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(counted(1, "entry"), "1 entry");
        assert_eq!(counted(2, "entry"), "2 entries");
        assert_eq!(counted(0, "key"), "0 keys");
        assert_eq!(counted(1, "partition"), "1 partition");
        assert_eq!(counted(3, "partition"), "3 partitions");
    }
}
