"""The result types of brooklet's admin calls: plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

__all__ = [
    "TopicInfo",
    "PartitionInfo",
    "TopicDescription",
    "MemberDescription",
    "GroupPartition",
    "GroupDescription",
    "CheckReport",
    "RecoveryReport",
]


@dataclass(frozen=True)
class TopicInfo:
    """A topic as :meth:`Database.topics` lists it."""

    name: str
    partitions: int
    #: Every config by its Kafka name, values as strings.
    config: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionInfo:
    """One partition of :meth:`Database.describe_topic`."""

    partition: int
    beginning_offset: int
    end_offset: int
    #: Bytes of stored record batches.
    bytes: int
    segments: int


@dataclass(frozen=True)
class TopicDescription:
    """A topic's config and its partitions, from :meth:`Database.describe_topic`."""

    name: str
    config: Dict[str, str]
    partitions: List[PartitionInfo]


@dataclass(frozen=True)
class MemberDescription:
    """A member of a consumer group."""

    #: The member id, 16 hex digits.
    id: str
    pid: int
    topics: List[str]
    #: Last heartbeat, ms since the epoch.
    heartbeat_ms: int
    #: False once past its session timeout or max poll interval.
    live: bool


@dataclass(frozen=True)
class GroupPartition:
    """One partition of a consumer group: committed offset, end, lag and owner."""

    topic: str
    partition: int
    committed: Optional[int]
    end: int
    lag: int
    #: The owning member's id, or None.
    owner: Optional[str]


@dataclass(frozen=True)
class GroupDescription:
    """A consumer group, from :meth:`Database.describe_group`."""

    group: str
    generation: int
    #: "range", "roundrobin" or "sticky".
    assignor: str
    members: List[MemberDescription]
    partitions: List[GroupPartition]


@dataclass(frozen=True)
class CheckReport:
    """What :meth:`Database.check` found: ``clean`` is true when nothing is wrong: no
    problem in the file, and no commit rolled back when this handle opened it."""

    clean: bool
    #: Everything found wrong, one line each.
    problems: List[str]
    page_size: int
    page_count: int
    free_pages: int
    tree_count: int
    entry_count: int
    #: Newer commits that did not verify when the file was opened and were rolled back,
    #: one line each (as :attr:`Database.recovery` lists them).
    rolled_back: List[str] = field(default_factory=list)
    #: True when a rolled-back commit was durable: a send reported as stored is gone.
    lost_durable: bool = False

    def __bool__(self) -> bool:
        return self.clean


@dataclass(frozen=True)
class RecoveryReport:
    """What opening the file found (:attr:`Database.recovery`)."""

    #: The commit (transaction id) the handle opened.
    opened_txn: int
    #: Newer commits that did not verify and were rolled back, newest first, one line
    #: each. Their records are gone. Empty after a clean open.
    rolled_back: List[str]
    #: True when a rolled-back commit was durable.
    lost_durable: bool
    #: Damage that lost nothing (an older commit slot failing its checksum, say).
    notes: List[str]

    @property
    def clean(self) -> bool:
        """True when nothing was rolled back."""
        return not self.rolled_back

    def __bool__(self) -> bool:
        return self.clean
