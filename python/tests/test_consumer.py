"""The consumer-group member: poll, iteration, commit semantics, seek, lag, groups admin,
and the GIL released while it waits."""

from __future__ import annotations

import threading
import time

import pytest

import brooklet


def fill(db, count, partition=0, topic="t"):
    db.send_batch(topic, [(None, b"%d" % i) for i in range(count)], partition=partition)


def consumer(db, group="g", topics=("t",), **options):
    options.setdefault("auto_offset_reset", "earliest")
    options.setdefault("enable_auto_commit", False)
    return db.consumer(group, list(topics), **options)


def drain(c, timeout=0.2):
    got = []
    while True:
        records = c.poll(timeout=timeout)
        if not records:
            return got
        got.extend(records)


def test_default_offset_reset_is_latest(db):
    fill(db, 5)
    with db.consumer("late", "t") as c:
        assert c.poll(timeout=0.2) == []
        db.send("t", b"new", partition=0)
        got = c.poll(timeout=5)
        assert [r.value for r in got] == [b"new"]


def test_earliest_and_none(db):
    fill(db, 5)
    with consumer(db) as c:
        assert sorted(r.offset for r in drain(c)) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        db.consumer("g2", ["t"], auto_offset_reset="beginning")
    # Kafka's "none": no committed offset is an error instead of a jump.
    with pytest.raises(brooklet.InvalidArgumentError, match="auto_offset_reset is none"):
        db.consumer("strict", ["t"], auto_offset_reset="none")


def test_poll_respects_max_records_and_commit_is_exact(db):
    fill(db, 100)
    with consumer(db, max_records=7) as c:
        first = c.poll(timeout=1)
        assert [r.offset for r in first] == list(range(7))
        assert c.position("t", 0) == 7
        c.commit()
        assert c.committed("t", 0) == 7
        assert [r.offset for r in c.poll(timeout=1)] == list(range(7, 14))


def test_iteration_commits_only_what_was_returned(db):
    fill(db, 50)
    with consumer(db) as c:
        taken = []
        for record in c:
            taken.append(record)
            if len(taken) == 3:
                break
        assert [r.offset for r in taken] == [0, 1, 2]
        assert c.position("t", 0) == 3
        assert c.lag("t", 0) == 47
        c.commit()
        assert c.committed("t", 0) == 3
        # The next record comes from what the last Rust poll returned.
        assert next(c).offset == 3


def test_close_with_auto_commit_commits_only_what_was_returned(db):
    fill(db, 50)
    c = consumer(db, enable_auto_commit=True)
    it = iter(c)
    assert [next(it).offset for _ in range(5)] == [0, 1, 2, 3, 4]
    c.close()
    desc = db.describe_group("g")
    committed = {p.partition: p.committed for p in desc.partitions}
    assert committed[0] == 5
    with consumer(db) as again:
        assert again.poll(timeout=1)[0].offset == 5


def test_dropping_a_consumer_with_auto_commit_does_not_skip(db):
    fill(db, 50)
    c = consumer(db, enable_auto_commit=True)
    assert next(c).offset == 0
    del c  # the native object leaves the group as it is freed
    import gc

    gc.collect()
    assert {p.partition: p.committed for p in db.describe_group("g").partitions}[0] == 1


def test_commit_explicit_offsets(db):
    fill(db, 10)
    with consumer(db) as c:
        drain(c)
        c.commit(offsets={("t", 0): 4})
        assert c.committed("t", 0) == 4
        with pytest.raises(TypeError):
            c.commit(offsets={"t": 4})
        with pytest.raises((ValueError, OverflowError)):
            c.commit(offsets={("t", 0): -1})


def test_seek(db):
    fill(db, 10)
    db.send("t", b"late", partition=1, timestamp=5000)
    with consumer(db) as c:
        drain(c)
        c.commit(offsets={("t", 0): 6})
        c.seek("t", 0, "beginning")
        assert c.poll(timeout=1)[0].offset == 0
        c.seek("t", 0, 8)
        assert [r.offset for r in c.poll(timeout=1)] == [8, 9]
        c.seek("t", 0, "committed")
        assert c.position("t", 0) == 6
        c.seek("t", 0, "end")
        assert c.position("t", 0) == 10
        c.seek("t", 1, timestamp=4000)
        assert c.position("t", 1) == 0
        with pytest.raises(brooklet.InvalidArgumentError):
            c.seek("t", 7, 0)  # not owned


def test_assignment_lag_and_unowned(db):
    fill(db, 3, partition=2)
    with consumer(db) as c:
        assert sorted(c.assignment()) == [("t", 0), ("t", 1), ("t", 2)]
        assert c.lag("t", 2) == 3
        assert c.position("other", 0) is None
        assert c.lag("other", 0) is None
        assert c.group == "g"
        assert "Consumer" in repr(c)


def test_two_members_split_partitions(db):
    with consumer(db) as one, consumer(db) as two:
        deadline = time.time() + 10
        while time.time() < deadline:
            one.poll(timeout=0.05)
            two.poll(timeout=0.05)
            a, b = set(one.assignment()), set(two.assignment())
            if a and b and not (a & b) and len(a | b) == 3:
                break
        assert a and b and not (a & b) and len(a | b) == 3


def test_unknown_topic_and_wait_for_topics(db):
    with pytest.raises(brooklet.UnknownTopicError):
        db.consumer("g", ["nope"])
    with db.consumer("g", ["later"], wait_for_topics=True, auto_offset_reset="earliest") as c:
        assert c.poll(timeout=0.1) == []
        db.create_topic("later")
        db.send("later", b"hello")
        got = []
        deadline = time.time() + 10
        while not got and time.time() < deadline:
            got = c.poll(timeout=0.2)
        assert [r.value for r in got] == [b"hello"]


def test_group_admin(db):
    fill(db, 10)
    with consumer(db, group="billing") as c:
        drain(c)
        c.commit()
        desc = db.describe_group("billing")
        assert desc.group == "billing"
        assert desc.assignor == "range"
        assert len(desc.members) == 1 and desc.members[0].live
        assert {p.partition: p.lag for p in desc.partitions} == {0: 0, 1: 0, 2: 0}
        with pytest.raises(brooklet.InvalidArgumentError):
            db.delete_group("billing")  # a live member
    assert db.groups() == ["billing"]
    assert db.reset_group("billing", "beginning", topic="t") == {("t", 0): 0, ("t", 1): 0, ("t", 2): 0}
    assert db.describe_group("billing").partitions[0].committed == 0
    db.delete_group("billing")
    assert db.groups() == []
    with pytest.raises(brooklet.UnknownGroupError):
        db.describe_group("billing")


def test_closed_consumer_and_database(path):
    db = brooklet.open(path)
    db.create_topic("t")
    c = db.consumer("g", ["t"])
    assert not c.closed
    db.close()  # closes (and leaves with) the consumer too
    assert c.closed
    for call in (lambda: c.poll(0), c.commit, lambda: c.position("t", 0), c.assignment,
                 lambda: next(c), lambda: c.seek("t", 0, 0)):
        with pytest.raises(brooklet.ClosedError):
            call()
    c.close()  # again: nothing
    with pytest.raises(brooklet.ClosedError):
        db.consumer("g", ["t"])


def test_consumer_context_manager_leaves_the_group(db):
    with consumer(db) as c:
        assert c.assignment()
    assert c.closed
    assert db.describe_group("g").members == []


def test_bad_consumer_options(db):
    with pytest.raises(ValueError):
        db.consumer("g", ["t"], assignor="fair")
    with pytest.raises(ValueError):
        db.consumer("g", ["t"], session_timeout=-1)
    with pytest.raises(TypeError):
        db.consumer("g", [1])
    with pytest.raises(brooklet.InvalidArgumentError):
        db.consumer("g", [])
    with pytest.raises(brooklet.InvalidArgumentError):
        db.consumer("", ["t"])


def test_poll_releases_the_gil(db):
    """A thread blocked in poll does not stop the main thread from sending."""
    got = []
    ready = threading.Event()

    def blocked():
        with db.consumer("waiter", ["t"]) as c:  # latest: only new records
            ready.set()
            got.extend(c.poll(timeout=30))

    thread = threading.Thread(target=blocked)
    thread.start()
    assert ready.wait(10)
    time.sleep(0.3)  # the thread is inside poll now
    # If poll held the GIL this send (Python code on this thread) could not run until poll
    # timed out, 30 s from now, and the record would not arrive.
    db.send("t", b"while polling", partition=0)
    thread.join(30)
    assert not thread.is_alive()
    assert [r.value for r in got] == [b"while polling"]


def test_iteration_wakes_on_a_send_from_another_thread(db):
    with consumer(db) as c:
        def later():
            time.sleep(0.3)
            db.send("t", b"x", partition=1)

        thread = threading.Thread(target=later)
        thread.start()
        record = next(c)
        thread.join()
        assert (record.partition, record.value) == (1, b"x")
