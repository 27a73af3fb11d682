"""brooklet: Kafka-style event streams in one file, the way SQLite is a database in one file.

Open a file with :func:`open` (a context manager), create topics, ``send`` and
``send_batch`` records, ``fetch`` them, follow partitions with a :class:`Reader`, or share
them in a consumer group with a :class:`Consumer`::

    import brooklet

    with brooklet.open("events.brooklet") as db:
        db.create_topic("orders", partitions=3)
        db.send("orders", b'{"total": 42}', key="customer-7")
        with db.consumer("billing", ["orders"], auto_offset_reset="earliest") as consumer:
            for record in consumer.poll(timeout=1.0):
                print(record.partition, record.offset, record.value)
            consumer.commit()

Errors are exceptions under :class:`Error`. The GIL is released during I/O and waits.
"""

from __future__ import annotations

import collections.abc
import os
from typing import TYPE_CHECKING, Optional, Union

from . import _brooklet
from ._brooklet import (
    BatchMetadata,
    Consumer,
    Database,
    FetchResult,
    Reader,
    Record,
    RecordMetadata,
)
from ._errors import (
    BusyError,
    ClosedError,
    CommitOutcomeUnknownError,
    CorruptError,
    Error,
    FencedError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    OffsetOutOfRangeError,
    PoisonedError,
    ReadOnlyError,
    RecordTooLargeError,
    RolledBackWarning,
    StaleSnapshotError,
    StorageIOError,
    TopicExistsError,
    UnknownGroupError,
    UnknownPartitionError,
    UnknownTopicError,
)
from ._types import (
    CheckReport,
    GroupDescription,
    GroupPartition,
    MemberDescription,
    PartitionInfo,
    RecoveryReport,
    TopicDescription,
    TopicInfo,
)

if TYPE_CHECKING:
    from ._brooklet import _Durability

__version__ = "0.1.0"

# The native sequences behave as read-only sequences; say so to isinstance().
collections.abc.Sequence.register(BatchMetadata)
collections.abc.Sequence.register(FetchResult)

__all__ = [
    "open",
    "Database",
    "Record",
    "RecordMetadata",
    "BatchMetadata",
    "FetchResult",
    "Reader",
    "Consumer",
    "TopicInfo",
    "PartitionInfo",
    "TopicDescription",
    "MemberDescription",
    "GroupPartition",
    "GroupDescription",
    "CheckReport",
    "RecoveryReport",
    "RolledBackWarning",
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
]


def open(  # noqa: A001 - the name SQLite's and Python's own modules use
    path: Union[str, "os.PathLike[str]"],
    *,
    page_size: Optional[int] = None,
    cache_bytes: Optional[int] = None,
    busy_timeout: Optional[float] = None,
    durability: "_Durability" = "immediate",
    read_only: bool = False,
    create: bool = True,
    maintain_on_open: bool = True,
) -> Database:
    """Opens the brooklet file at ``path``, creating it unless ``create=False`` or
    ``read_only=True``.

    :param page_size: page size of a new file, a power of two from 512 to 65536 (default 4096).
    :param cache_bytes: page cache budget (default 32 MiB).
    :param busy_timeout: seconds a write waits for another writer before :class:`BusyError`
        (default 5).
    :param durability: default durability of sends: ``"none"`` (no fdatasync; atomic, but
        the newest commits may be lost in a power cut until :meth:`Database.flush`),
        ``"immediate"`` (one fdatasync per commit, the default) or ``"paranoid"``.
    :param read_only: open without write permission; every change raises
        :class:`ReadOnlyError`.
    :param create: create the file if missing (default); False raises
        :class:`StorageIOError` for a missing file.
    :param maintain_on_open: apply time-based retention when opening (default True).
    """
    return _brooklet.open(
        path,
        page_size=page_size,
        cache_bytes=cache_bytes,
        busy_timeout=busy_timeout,
        durability=durability,
        read_only=read_only,
        create=create,
        maintain_on_open=maintain_on_open,
    )
