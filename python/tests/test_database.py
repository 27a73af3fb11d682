"""The database: open and close, topics, send, send_batch, fetch, offsets, check."""

from __future__ import annotations

import errno
import os
import pathlib
import time

import pytest

import brooklet


def test_open_is_a_context_manager_that_closes(path):
    with brooklet.open(path) as db:
        assert not db.closed
        assert isinstance(db, brooklet.Database)
        db.create_topic("t")
    assert db.closed
    with pytest.raises(brooklet.ClosedError):
        db.topics()
    db.close()  # a second close does nothing
    assert "closed" in repr(db)


def test_open_options(tmp_path):
    path = tmp_path / "small.brooklet"
    with brooklet.open(str(path), page_size=1024, cache_bytes=1 << 20, busy_timeout=0.5,
                       durability="paranoid") as db:
        assert db.page_size == 1024
        db.create_topic("t")
        db.send("t", b"v")
    # A pathlib path works too, and an existing file keeps its page size.
    with brooklet.open(pathlib.Path(path), page_size=4096) as db:
        assert db.page_size == 1024
        assert db.end_offset("t", 0) == 1


def test_open_missing_file_without_create(tmp_path):
    with pytest.raises(brooklet.StorageIOError) as caught:
        brooklet.open(tmp_path / "missing.brooklet", create=False)
    assert isinstance(caught.value, OSError)
    assert caught.value.errno == errno.ENOENT
    assert not (tmp_path / "missing.brooklet").exists()


def test_read_only_refuses_changes(path):
    with brooklet.open(path) as db:
        db.create_topic("t")
        db.send("t", b"one")
    with brooklet.open(path, read_only=True) as db:
        assert db.fetch("t", 0)[0].value == b"one"
        with pytest.raises(brooklet.ReadOnlyError):
            db.send("t", b"two")
        with pytest.raises(brooklet.ReadOnlyError):
            db.create_topic("u")


def test_bad_open_options(path):
    with pytest.raises(ValueError):
        brooklet.open(path, durability="sometimes")
    with pytest.raises(ValueError):
        brooklet.open(path, busy_timeout=-1)
    with pytest.raises(TypeError):
        brooklet.open(path, no_such_option=1)
    with pytest.raises(brooklet.InvalidArgumentError):
        brooklet.open(path, page_size=1000)


def test_topics_admin(db):
    db.create_topic("orders", partitions=2, config={"retention.ms": 60000, "cleanup.policy": "delete"})
    names = [t.name for t in db.topics()]
    assert names == ["orders", "t"]
    info = {t.name: t for t in db.topics()}["orders"]
    assert info.partitions == 2
    assert info.config["retention.ms"] == "60000"
    described = db.describe_topic("orders")
    assert described.name == "orders"
    assert [p.partition for p in described.partitions] == [0, 1]
    assert all(p.beginning_offset == 0 and p.end_offset == 0 for p in described.partitions)
    new = db.alter_topic("orders", {"retention.ms": "120000", "segment.bytes": 1 << 20})
    assert new["retention.ms"] == "120000"
    assert new["segment.bytes"] == str(1 << 20)
    assert db.describe_topic("orders").config == new
    with pytest.raises(brooklet.TopicExistsError):
        db.create_topic("orders")
    db.delete_topic("orders")
    assert [t.name for t in db.topics()] == ["t"]
    with pytest.raises(brooklet.UnknownTopicError) as caught:
        db.describe_topic("orders")
    assert isinstance(caught.value, brooklet.NotFoundError)
    assert "orders" in str(caught.value)


def test_bad_topic_configs(db):
    with pytest.raises(brooklet.InvalidArgumentError) as caught:
        db.create_topic("x", config={"retention.ms": "soon"})
    assert isinstance(caught.value, ValueError)
    with pytest.raises(brooklet.InvalidArgumentError):
        db.create_topic("x", config={"no.such.key": "1"})
    with pytest.raises(TypeError):
        db.create_topic("x", config={"retention.ms": 1.5})
    with pytest.raises(TypeError):
        db.create_topic("x", config={"retention.ms": True})
    with pytest.raises(brooklet.InvalidArgumentError):
        db.create_topic("x", partitions=0)
    with pytest.raises(brooklet.InvalidArgumentError):
        db.create_topic("bad name!")
    assert [t.name for t in db.topics()] == ["t"]


def test_send_and_fetch_one_record(db):
    sent = db.send("t", b"value", key=b"key", headers=[("h", b"1")], partition=1, timestamp=1_700_000_000_000)
    assert (sent.topic, sent.partition, sent.offset, sent.timestamp) == ("t", 1, 0, 1_700_000_000_000)
    assert "RecordMetadata" in repr(sent)
    fetched = db.fetch("t", 1)
    assert len(fetched) == 1
    record = fetched[0]
    assert record.topic == "t"
    assert record.partition == 1
    assert record.offset == 0
    assert record.timestamp == 1_700_000_000_000
    assert record.key == b"key"
    assert record.value == b"value"
    assert record.headers == [("h", b"1")]
    assert "Record(" in repr(record) and "b'value'" in repr(record)


def test_send_accepts_bytes_like_and_str(db):
    values = [b"bytes", bytearray(b"bytearray"), memoryview(b"memoryview"), "str \u00e9"]
    for value in values:
        db.send("t", value, key=value, partition=0)
    got = [(r.key, r.value) for r in db.fetch("t", 0)]
    expected = [bytes(v) if not isinstance(v, str) else v.encode() for v in values]
    assert got == [(e, e) for e in expected]


def test_nulls_and_empty(db):
    db.send("t", None, key=b"gone", partition=0)  # a tombstone
    db.send("t", b"", key=b"", partition=0)
    db.send("t", b"no key", partition=0)
    records = list(db.fetch("t", 0))
    assert (records[0].key, records[0].value) == (b"gone", None)
    assert (records[1].key, records[1].value) == (b"", b"")
    assert (records[2].key, records[2].value) == (None, b"no key")
    assert all(r.headers == [] for r in records)


def test_headers_keep_order_duplicates_and_nulls(db):
    headers = [("b", b"1"), ("a", "two"), ("b", None), ("b", bytearray(b"4"))]
    db.send("t", b"v", headers=headers, partition=2)
    db.send("t", b"v", headers={"x": b"1", "y": None}, partition=2)
    first, second = db.fetch("t", 2)
    assert first.headers == [("b", b"1"), ("a", b"two"), ("b", None), ("b", b"4")]
    assert second.headers == [("x", b"1"), ("y", None)]


def test_keyed_records_go_to_the_key_partition(db):
    partitions = {db.send("t", b"v", key=b"customer-7").partition for _ in range(5)}
    assert len(partitions) == 1


def test_send_durability_choices(db):
    for durability in ("none", "immediate", "paranoid", None):
        db.send("t", b"v", partition=0, durability=durability)
    assert db.end_offset("t", 0) == 4
    with pytest.raises(ValueError):
        db.send("t", b"v", durability="always")


def test_send_batch_tuples_and_dicts(db):
    sent = db.send_batch("t", [
        (b"k1", b"v1"),
        ("k2", "v2"),
        (None, b"v3"),
        {"value": b"v4", "key": b"k4", "headers": [("h", b"x"), ("h", b"y")], "partition": 2,
         "timestamp": 1_600_000_000_000},
        {"value": None, "key": b"k5", "partition": 2},
    ], partition=1)
    assert [m.partition for m in sent] == [1, 1, 1, 2, 2]
    assert [m.offset for m in sent] == [0, 1, 2, 0, 1]
    assert sent[3].timestamp == 1_600_000_000_000
    one = list(db.fetch("t", 1))
    assert [(r.key, r.value) for r in one] == [(b"k1", b"v1"), (b"k2", b"v2"), (None, b"v3")]
    two = list(db.fetch("t", 2))
    assert two[0].headers == [("h", b"x"), ("h", b"y")]
    assert two[0].timestamp == 1_600_000_000_000
    assert (two[1].key, two[1].value) == (b"k5", None)


def test_send_batch_without_partition_uses_keys_and_sticky(db):
    sent = db.send_batch("t", [(None, b"a"), (None, b"b"), (b"key", b"c")])
    assert sent[0].partition == sent[1].partition  # sticky for keyless records
    assert sent[2].partition == db.send("t", b"again", key=b"key").partition


def test_send_batch_takes_any_iterable_and_empty(db):
    assert db.send_batch("t", []) == []
    sent = db.send_batch("t", ((b"k", b"%d" % i) for i in range(10)), partition=0)
    assert [m.offset for m in sent] == list(range(10))
    assert db.send_batch("t", tuple([(b"k", b"x")]), partition=0)[0].offset == 10


def test_send_batch_is_atomic(db):
    with pytest.raises(TypeError):
        db.send_batch("t", [(b"k", b"v"), (b"k", 3)], partition=0)
    with pytest.raises(brooklet.UnknownPartitionError):
        db.send_batch("t", [(b"k", b"v"), {"value": b"v", "partition": 9}])
    with pytest.raises(brooklet.RecordTooLargeError):
        db.send_batch("t", [(b"k", b"v"), (b"k", b"x" * (2 << 20))], partition=0)
    assert [db.end_offset("t", p) for p in range(3)] == [0, 0, 0]


def test_send_batch_record_errors(db):
    with pytest.raises(ValueError, match="value"):
        db.send_batch("t", [{"key": b"k"}])
    with pytest.raises(ValueError, match="unknown record key"):
        db.send_batch("t", [{"value": b"v", "vale": b"typo"}])
    with pytest.raises(ValueError):
        db.send_batch("t", [(b"k", b"v", b"extra")])
    with pytest.raises(TypeError):
        db.send_batch("t", [b"just bytes"])
    with pytest.raises(TypeError):
        db.send_batch("t", {"value": b"v"})
    with pytest.raises(TypeError):
        db.send_batch("t", 42)


def test_fetch_limits_and_offsets(db):
    db.send_batch("t", [(None, b"%d" % i) for i in range(100)], partition=0)
    first = db.fetch("t", 0, max_records=30)
    assert len(first) == 30
    assert [r.offset for r in first] == list(range(30))
    assert first.next_offset == 30
    assert first.end_offset == 100
    assert first.beginning_offset == 0
    rest = db.fetch("t", 0, offset=first.next_offset, max_records=1000)
    assert [r.offset for r in rest] == list(range(30, 100))
    assert rest.next_offset == 100
    assert len(db.fetch("t", 0, offset=100)) == 0
    assert list(db.fetch("t", 0, offset=500)) == []
    assert len(first.records) == 30 and first[1:3][0].offset == 1
    assert "30 records" in repr(first)


def test_fetch_errors(db):
    with pytest.raises(brooklet.UnknownTopicError):
        db.fetch("nope", 0)
    with pytest.raises(brooklet.UnknownPartitionError):
        db.fetch("t", 3)
    with pytest.raises((ValueError, OverflowError)):
        db.fetch("t", -1)


def test_offsets(db):
    db.send("t", b"old", partition=0, timestamp=1000)
    db.send("t", b"new", partition=0, timestamp=5000)
    assert db.beginning_offset("t", 0) == 0
    assert db.end_offset("t", 0) == 2
    assert db.offset_for_time("t", 0, 0) == 0
    assert db.offset_for_time("t", 0, 2000) == 1
    assert db.offset_for_time("t", 0, 9000) is None


def test_retention_moves_the_beginning(path):
    with brooklet.open(path, durability="none") as db:
        db.create_topic("r", config={"retention.bytes": 0, "segment.bytes": 65536})
        old = int(time.time() * 1000)
        for _ in range(30):
            db.send_batch("r", [(None, b"x" * 1000)] * 10, partition=0)
        assert db.beginning_offset("r", 0) > 0
        with pytest.raises(brooklet.OffsetOutOfRangeError):
            db.fetch("r", 0, offset=0)
        assert old > 0


def test_check_and_flush(db):
    db.send_batch("t", [(b"k", b"v")] * 50)
    db.flush()
    report = db.check()
    assert report.clean and bool(report)
    assert report.problems == []
    assert report.page_size == db.page_size
    assert report.page_count > 0


def test_path_and_repr(db, path):
    assert os.fspath(db.path) == os.fspath(path)
    assert "Database" in repr(db)


def test_two_handles_on_one_file(path):
    with brooklet.open(path) as one, brooklet.open(path) as two:
        one.create_topic("t")
        one.send("t", b"from one")
        assert two.fetch("t", 0)[0].value == b"from one"


def test_batch_metadata_is_a_sequence(db):
    import collections.abc

    sent = db.send_batch("t", [(None, b"%d" % i) for i in range(5)], partition=0)
    assert isinstance(sent, collections.abc.Sequence)
    assert len(sent) == 5
    assert sent[0].offset == 0 and sent[-1].offset == 4
    assert [m.offset for m in sent[1:3]] == [1, 2]
    assert [m.offset for m in sent] == [0, 1, 2, 3, 4]
    assert sent == list(sent)
    assert sent != list(sent)[:4]
    with pytest.raises(IndexError):
        sent[5]
    with pytest.raises(TypeError):
        sent["a"]
    assert "BatchMetadata" in repr(sent)
    fetched = db.fetch("t", 0)
    assert isinstance(fetched, collections.abc.Sequence)
    assert fetched[-1].offset == 4
    assert list(reversed(fetched))[0].offset == 4
    assert fetched.records == list(fetched)


def test_threads_share_one_database(path):
    """Durable sends from several threads at once (they share fdatasyncs), no offset twice."""
    import threading

    with brooklet.open(path) as db:
        db.create_topic("t")
        sent, errors = [], []

        def produce(n):
            try:
                for i in range(25):
                    sent.append(db.send("t", b"%d-%d" % (n, i), partition=0).offset)
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(sent) == list(range(100))
        assert sorted(r.value for r in db.fetch("t", 0)) == sorted(
            b"%d-%d" % (n, i) for n in range(4) for i in range(25))


def test_records_compare_and_hash(db):
    from collections import namedtuple

    Pair = namedtuple("Pair", "key value")
    db.send_batch("t", [Pair(b"k", b"v"), Pair(None, b"w")], partition=0)
    first = db.fetch("t", 0)
    second = db.fetch("t", 0)
    assert first[0] == second[0] and first[0] != second[1]
    assert len({first[0], second[0], first[1]}) == 2
    assert first[0] != "not a record"


def test_delete_records_moves_the_beginning_offset(db):
    db.send_batch("t", [(None, f"v{i}") for i in range(10)], partition=0)
    assert db.delete_records("t", 0, 4) == 4
    assert db.beginning_offset("t", 0) == 4
    assert [r.offset for r in db.fetch("t", 0, 4)] == list(range(4, 10))
    with pytest.raises(brooklet.OffsetOutOfRangeError):
        db.fetch("t", 0, 3)
    assert db.delete_records("t", 0, 1) == 4
    with pytest.raises(brooklet.OffsetOutOfRangeError):
        db.delete_records("t", 0, 11)
    assert db.delete_records("t", 0, 10) == 10
    assert db.describe_topic("t").partitions[0].beginning_offset == 10
    assert db.check().clean
