"""Type hints of brooklet's native module (re-exported by ``brooklet``)."""

import os
import pathlib
from types import TracebackType
from typing import (
    Dict,
    Iterable,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypedDict,
    Union,
    final,
    overload,
)

from ._types import (
    CheckReport,
    GroupDescription,
    RecoveryReport,
    TopicDescription,
    TopicInfo,
)

#: A key, value or header value: ``str`` is encoded as UTF-8; None is Kafka's null.
_BytesLike = Union[bytes, bytearray, memoryview, str]
_Headers = Union[Sequence[Tuple[str, Optional[_BytesLike]]], Mapping[str, Optional[_BytesLike]]]
_Durability = Literal["none", "immediate", "paranoid"]
_OffsetReset = Literal["earliest", "latest", "none"]
_SeekTo = Union[int, Literal["beginning", "earliest", "end", "latest"]]
_ConfigValue = Union[str, int]

class _RecordValue(TypedDict):
    value: Optional[_BytesLike]

class _RecordDict(_RecordValue, total=False):
    key: Optional[_BytesLike]
    headers: Optional[_Headers]
    partition: Optional[int]
    timestamp: Optional[int]

_RecordArg = Union[_RecordDict, Tuple[Optional[_BytesLike], Optional[_BytesLike]]]

__all__ = [
    "BatchMetadata",
    "Consumer",
    "Database",
    "FetchIter",
    "FetchResult",
    "MetadataIter",
    "PAGE_SIZE_DEFAULT",
    "Reader",
    "Record",
    "RecordMetadata",
    "open",
    "_rust_send_batch_rate",
]

PAGE_SIZE_DEFAULT: int

def open(
    path: Union[str, "os.PathLike[str]"],
    *,
    page_size: Optional[int] = None,
    cache_bytes: Optional[int] = None,
    busy_timeout: Optional[float] = None,
    durability: _Durability = "immediate",
    read_only: bool = False,
    create: bool = True,
    maintain_on_open: bool = True,
) -> Database: ...
def _rust_send_batch_rate(path: Union[str, "os.PathLike[str]"], records: int, batch: int) -> float:
    """Benchmark baseline: the Python send_batch workload through the Rust API; records/s."""

@final
class Record:
    """A record read from a partition."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int:
        """Milliseconds since the Unix epoch."""
    @property
    def key(self) -> Optional[bytes]: ...
    @property
    def value(self) -> Optional[bytes]: ...
    @property
    def headers(self) -> List[Tuple[str, Optional[bytes]]]:
        """In stored order, duplicates kept; ``[]`` when there are none."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class RecordMetadata:
    """Where a sent record was stored."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class BatchMetadata(Sequence[RecordMetadata]):
    """What ``send_batch`` returns: a ``RecordMetadata`` per record, in order (a read-only
    sequence; its items are built when read)."""

    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int, /) -> RecordMetadata: ...
    @overload
    def __getitem__(self, index: slice, /) -> List[RecordMetadata]: ...
    def __iter__(self) -> MetadataIter: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class MetadataIter(Iterator[RecordMetadata]):
    def __next__(self) -> RecordMetadata: ...

@final
class FetchIter(Iterator[Record]):
    def __next__(self) -> Record: ...

@final
class FetchResult(Sequence[Record]):
    """The records of one fetch (iterate or index it; records are built when read), and
    where the partition stands."""

    @property
    def records(self) -> List[Record]:
        """The records as a new list."""
    @property
    def next_offset(self) -> int: ...
    @property
    def end_offset(self) -> int: ...
    @property
    def beginning_offset(self) -> int: ...
    def __iter__(self) -> FetchIter: ...
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int, /) -> Record: ...
    @overload
    def __getitem__(self, index: slice, /) -> List[Record]: ...

@final
class Database:
    """An open brooklet file; a context manager that closes it."""

    @property
    def closed(self) -> bool: ...
    @property
    def path(self) -> pathlib.Path: ...
    @property
    def page_size(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Database": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
        /,
    ) -> Literal[False]: ...
    # topics
    def create_topic(
        self, name: str, partitions: int = 1, config: Optional[Mapping[str, _ConfigValue]] = None
    ) -> None: ...
    def topics(self) -> List[TopicInfo]: ...
    def describe_topic(self, name: str) -> TopicDescription: ...
    def delete_topic(self, name: str) -> None: ...
    def delete_records(self, topic: str, partition: int, before: int) -> int: ...
    def alter_topic(self, name: str, config: Mapping[str, _ConfigValue]) -> Dict[str, str]: ...
    # groups
    def groups(self) -> List[str]: ...
    def describe_group(self, name: str) -> GroupDescription: ...
    def delete_group(self, name: str) -> None: ...
    def reset_group(
        self,
        name: str,
        to: Optional[_SeekTo] = None,
        *,
        topic: Optional[str] = None,
        timestamp: Optional[int] = None,
    ) -> Dict[Tuple[str, int], int]: ...
    # the file
    def check(self) -> CheckReport: ...
    @property
    def recovery(self) -> RecoveryReport: ...
    def flush(self) -> None: ...
    # offsets
    def beginning_offset(self, topic: str, partition: int) -> int: ...
    def end_offset(self, topic: str, partition: int) -> int: ...
    def offset_for_time(self, topic: str, partition: int, timestamp: int) -> Optional[int]: ...
    # send and fetch
    def send(
        self,
        topic: str,
        value: Optional[_BytesLike],
        key: Optional[_BytesLike] = None,
        headers: Optional[_Headers] = None,
        partition: Optional[int] = None,
        timestamp: Optional[int] = None,
        durability: Optional[_Durability] = None,
    ) -> RecordMetadata: ...
    def send_batch(
        self,
        topic: str,
        records: Iterable[_RecordArg],
        partition: Optional[int] = None,
        durability: Optional[_Durability] = None,
    ) -> BatchMetadata: ...
    def fetch(
        self,
        topic: str,
        partition: int,
        offset: int = 0,
        max_records: int = 500,
        max_bytes: int = 1048576,
    ) -> FetchResult: ...
    # readers and consumers
    def reader(
        self,
        *,
        auto_offset_reset: _OffsetReset = "earliest",
        max_records: int = 500,
        max_bytes: int = 1048576,
    ) -> Reader: ...
    def consumer(
        self,
        group: str,
        topics: Union[str, Sequence[str]],
        *,
        auto_offset_reset: _OffsetReset = "latest",
        enable_auto_commit: bool = True,
        auto_commit_interval: float = 5.0,
        session_timeout: float = 10.0,
        max_poll_interval: float = 300.0,
        heartbeat_interval: float = 1.0,
        wait_for_topics: bool = False,
        max_records: int = 500,
        max_bytes: int = 1048576,
        assignor: Literal["range", "roundrobin", "sticky"] = "range",
        commit_durability: _Durability = "immediate",
    ) -> Consumer: ...

@final
class Reader:
    """Follows partitions chosen by hand; an iterator and a context manager."""

    @property
    def closed(self) -> bool: ...
    def assign(
        self,
        topic: str,
        partition: int,
        start: Optional[_SeekTo] = None,
        *,
        timestamp: Optional[int] = None,
    ) -> None: ...
    def assign_topic(
        self, topic: str, start: Optional[_SeekTo] = None, *, timestamp: Optional[int] = None
    ) -> None: ...
    def unassign(self, topic: str, partition: int) -> None: ...
    def seek(
        self,
        topic: str,
        partition: int,
        start: Optional[_SeekTo] = None,
        *,
        timestamp: Optional[int] = None,
    ) -> None: ...
    def position(self, topic: str, partition: int) -> Optional[int]: ...
    def assignment(self) -> List[Tuple[str, int]]: ...
    def poll(self, timeout: Optional[float] = 1.0) -> List[Record]: ...
    def close(self) -> None: ...
    def __iter__(self) -> "Reader": ...
    def __next__(self) -> Record: ...
    def __enter__(self) -> "Reader": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
        /,
    ) -> Literal[False]: ...

@final
class Consumer:
    """A consumer-group member; an iterator and a context manager."""

    @property
    def group(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def poll(self, timeout: Optional[float] = 1.0) -> List[Record]: ...
    def commit(self, offsets: Optional[Mapping[Tuple[str, int], int]] = None) -> None: ...
    def seek(
        self,
        topic: str,
        partition: int,
        position: Optional[Union[_SeekTo, Literal["committed"]]] = None,
        *,
        timestamp: Optional[int] = None,
    ) -> None: ...
    def position(self, topic: str, partition: int) -> Optional[int]: ...
    def committed(self, topic: str, partition: int) -> Optional[int]: ...
    def lag(self, topic: str, partition: int) -> Optional[int]: ...
    def assignment(self) -> List[Tuple[str, int]]: ...
    def close(self) -> None: ...
    def __iter__(self) -> "Consumer": ...
    def __next__(self) -> Record: ...
    def __enter__(self) -> "Consumer": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
        /,
    ) -> Literal[False]: ...
