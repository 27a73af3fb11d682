"""brooklet's exceptions: one hierarchy under :class:`Error`.

The classes mirror the typed errors of the Rust API (``brooklet::Error``), as the table
shared with the C library names them. The message is the Rust error's one-line text.
Wrong Python types raise Python's own ``TypeError``; a value Python-side checks refuse
raises ``ValueError`` (or :class:`InvalidArgumentError`, which is both).
"""

from __future__ import annotations

__all__ = [
    "Error",
    "InternalError",
    "InvalidArgumentError",
    "BusyError",
    "FencedError",
    "CorruptError",
    "NotFoundError",
    "UnknownTopicError",
    "UnknownPartitionError",
    "UnknownGroupError",
    "TopicExistsError",
    "RecordTooLargeError",
    "OffsetOutOfRangeError",
    "StorageIOError",
    "PoisonedError",
    "ClosedError",
    "ReadOnlyError",
    "StaleSnapshotError",
    "CommitOutcomeUnknownError",
    "RolledBackWarning",
]


class Error(Exception):
    """Any error brooklet raises (an error of a case not listed below, too)."""


class InternalError(Error):
    """A bug in brooklet: a panic caught at the boundary, or a broken lock after one."""


class InvalidArgumentError(Error, ValueError):
    """An argument brooklet refused: malformed, out of range or not allowed here."""


class BusyError(Error):
    """Another writer held the write lock for longer than the busy timeout."""


class FencedError(Error):
    """A consumer's commit was refused: it no longer owns the partition."""


class CorruptError(Error):
    """Bytes in the file are damaged or not brooklet's."""


class NotFoundError(Error):
    """A topic, partition or consumer group does not exist."""


class UnknownTopicError(NotFoundError):
    """No topic of this name exists."""


class UnknownPartitionError(NotFoundError):
    """The topic has no partition of this number."""


class UnknownGroupError(NotFoundError):
    """No consumer group of this name exists."""


class TopicExistsError(Error):
    """A topic of this name exists already."""


class RecordTooLargeError(Error):
    """A record or batch is over the size limit; nothing of the send was stored."""


class OffsetOutOfRangeError(Error):
    """The offset is outside the partition's log."""


class StorageIOError(Error, OSError):
    """An I/O error from the operating system (``errno`` is set where one is known).

    After a failed write or sync the handle is poisoned: reopen the file.
    """


class PoisonedError(Error):
    """An earlier write or sync failed; the handle refuses all work until reopened."""


class ClosedError(Error):
    """The database, reader or consumer was closed."""


class ReadOnlyError(Error):
    """The file is open read-only: nothing can be written."""


class StaleSnapshotError(Error):
    """Another process reused the pages of this snapshot; read again."""


class CommitOutcomeUnknownError(Error):
    """A commit's sync failed: it may or may not be in the file.

    Reopen the file and read the end offsets (or committed offsets) before sending again.
    """


class RolledBackWarning(UserWarning):
    """Opening the file rolled back newer commits that did not verify (damaged on disk, or
    torn by a crash): their records are gone, and their offsets will be given to new
    records. Issued by :func:`brooklet.open`; :attr:`Database.recovery` and
    :meth:`Database.check` say which commits, and whether one of them was durable.
    """


# Shown as brooklet.BusyError (and so on) in tracebacks: the package's public name.
for _name in __all__:
    globals()[_name].__module__ = "brooklet"
del _name
