"""The reader: assign, seek, poll with a timeout, position, iteration, close."""

from __future__ import annotations

import threading
import time

import pytest

import brooklet


def fill(db, partition, count, start=0):
    db.send_batch("t", [(None, b"%d" % i) for i in range(start, start + count)], partition=partition)


def test_assign_poll_position(db):
    fill(db, 0, 10)
    fill(db, 1, 5)
    reader = db.reader()
    reader.assign("t", 0)
    reader.assign("t", 1, 2)
    assert sorted(reader.assignment()) == [("t", 0), ("t", 1)]
    assert repr(reader) == "<brooklet.Reader of 2 partitions>"
    got = []
    while True:
        records = reader.poll(timeout=0.05)
        if not records:
            break
        got.extend((r.partition, r.offset) for r in records)
    assert sorted(got) == [(0, i) for i in range(10)] + [(1, i) for i in range(2, 5)]
    assert reader.position("t", 0) == 10
    assert reader.position("t", 1) == 5
    assert reader.position("t", 2) is None


def test_max_records_and_position_between_polls(db):
    fill(db, 0, 50)
    reader = db.reader(max_records=7)
    reader.assign("t", 0, "beginning")
    first = reader.poll(timeout=0)
    assert [r.offset for r in first] == list(range(7))
    assert reader.position("t", 0) == 7
    second = reader.poll(timeout=0)
    assert [r.offset for r in second] == list(range(7, 14))


def test_seek(db):
    fill(db, 0, 10)
    for i, ts in enumerate([100, 200, 300]):
        db.send("t", b"timed", partition=1, timestamp=ts)
    reader = db.reader()
    reader.assign("t", 0, "end")
    assert reader.poll(timeout=0) == []
    reader.seek("t", 0, 8)
    assert [r.offset for r in reader.poll(timeout=0)] == [8, 9]
    reader.seek("t", 0, "beginning")
    assert reader.poll(timeout=0)[0].offset == 0
    reader.assign("t", 1, timestamp=150)
    assert [r.offset for r in reader.poll(timeout=0)] == [1, 2]
    with pytest.raises(brooklet.InvalidArgumentError):
        reader.seek("t", 2, 0)  # not assigned
    with pytest.raises(ValueError):
        reader.seek("t", 0, "committed")  # a reader has no group
    with pytest.raises(TypeError):
        reader.seek("t", 0, 1, timestamp=5)


def test_assign_topic_and_unassign(db):
    fill(db, 0, 1)
    fill(db, 2, 1)
    reader = db.reader()
    reader.assign_topic("t")
    assert sorted(reader.assignment()) == [("t", 0), ("t", 1), ("t", 2)]
    reader.unassign("t", 2)
    got = reader.poll(timeout=0.05)
    assert [(r.partition, r.offset) for r in got] == [(0, 0)]
    with pytest.raises(brooklet.UnknownTopicError):
        reader.assign_topic("nope")


def test_poll_times_out_empty(db):
    reader = db.reader()
    reader.assign("t", 0, "end")
    assert reader.poll(timeout=0.05) == []
    assert reader.poll(timeout=0) == []


def test_reader_iterates_and_wakes_on_send(db):
    reader = db.reader()
    reader.assign("t", 0, "end")

    def later():
        time.sleep(0.2)
        db.send("t", b"woke", partition=0)

    thread = threading.Thread(target=later)
    thread.start()
    record = next(iter(reader))
    thread.join()
    assert record.value == b"woke"


def test_reader_close_and_database_close(path):
    db = brooklet.open(path)
    db.create_topic("t")
    with db.reader() as reader:
        reader.assign("t", 0)
    assert reader.closed
    with pytest.raises(brooklet.ClosedError):
        reader.poll(timeout=0)
    other = db.reader()
    other.assign("t", 0)
    db.close()
    assert other.closed
    with pytest.raises(brooklet.ClosedError):
        other.poll(timeout=0)
    with pytest.raises(brooklet.ClosedError):
        db.reader()


def test_offset_reset_none(path):
    with brooklet.open(path) as db:
        db.create_topic("r", config={"retention.bytes": 0, "segment.bytes": 65536})
        for _ in range(30):
            db.send_batch("r", [(None, b"x" * 1000)] * 10, partition=0)
        assert db.beginning_offset("r", 0) > 0
        strict = db.reader(auto_offset_reset="none")
        strict.assign("r", 0, 0)
        with pytest.raises(brooklet.OffsetOutOfRangeError):
            strict.poll(timeout=0)
        lenient = db.reader()
        lenient.assign("r", 0, 0)
        assert lenient.poll(timeout=5)[0].offset == db.beginning_offset("r", 0)
