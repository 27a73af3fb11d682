//! What recovery found when a handle opened the file: the commit it opened and every newer
//! commit it had to roll back, for the handle's users to read (`check`, `info` and every
//! command that opens a file print it).
//!
//! A commit with one `fdatasync` cannot tell a commit torn by a power cut from one damaged
//! after it was acknowledged: both leave a slot that fails its checksum, or a journaled
//! page that fails its own. Recovery rolls both back to the commit before, as a log stops
//! at its first bad frame; what it must never do is stay silent, or the offsets of the
//! lost records are handed out again to new records without a word.

use std::fmt;

/// A commit that recovery found newer than the one it opened, and rolled back.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RolledBackCommit {
    /// The commit slot (0 or 1) that held it.
    pub slot: u32,
    /// Its txn id. When the slot itself failed its checksum this is what the slot claims,
    /// unverified (see [`RolledBackCommit::verified`]).
    pub txn: u64,
    /// Whether it was a durable commit (acknowledged to its writer only once synced), as
    /// the slot says.
    pub durable: bool,
    /// When it was written, milliseconds since the Unix epoch, as the slot says.
    pub written_at_ms: u64,
    /// True when the slot verified and a page of the commit did not; false when the slot
    /// itself failed its checksum, so that the values above are the damaged slot's claims.
    pub verified: bool,
    /// Why it did not verify, in words.
    pub reason: String,
}

impl RolledBackCommit {
    /// `durable` or `non-durable`: whether the writer waited for it to reach the disk.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        if self.durable {
            "durable"
        } else {
            "non-durable"
        }
    }
}

impl fmt::Display for RolledBackCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind();
        let claims = if self.verified {
            ""
        } else {
            ", as its damaged slot claims"
        };
        write!(
            f,
            "commit {} ({kind}, slot {}, written at {} ms since the epoch{claims}) was rolled back: {}",
            self.txn, self.slot, self.written_at_ms, self.reason
        )
    }
}

/// What recovery did when this handle opened the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The commit the handle opened.
    pub opened_txn: u64,
    /// Newer commits that did not verify and were rolled back, newest first. Their
    /// records are gone, and the offsets they had will be given to new records. Empty
    /// after a clean open.
    pub rolled_back: Vec<RolledBackCommit>,
    /// Damage recovery noticed that lost nothing, one line each (an older commit slot
    /// that fails its checksum, say: the next commit overwrites it).
    pub notes: Vec<String>,
}

impl RecoveryReport {
    /// True when the newest commit opened as written: nothing was rolled back.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.rolled_back.is_empty()
    }

    /// True when a rolled-back commit was durable: a commit its writer was told had
    /// reached the disk is gone. After a power cut, non-durable commits may be lost by
    /// design; a durable one only by damage.
    #[must_use]
    pub fn lost_durable_commit(&self) -> bool {
        self.rolled_back.iter().any(|c| c.durable)
    }

    /// Everything in words, one line each: the rolled-back commits, the other notes, and
    /// the commit opened (when anything was said before it).
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.rolled_back.iter().map(ToString::to_string).collect();
        lines.extend(self.notes.iter().cloned());
        if !lines.is_empty() {
            lines.push(format!("opened commit {}", self.opened_txn));
        }
        lines
    }
}
