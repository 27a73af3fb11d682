"""Bad input gives a Python exception, never a crash: wrong types, closed handles, and
damaged files."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import brooklet


@pytest.mark.parametrize("call", [
    lambda db: db.send(123, b"v"),
    lambda db: db.send("t", 123),
    lambda db: db.send("t", b"v", key=1.5),
    lambda db: db.send("t", b"v", key=[1, 2]),
    lambda db: db.send("t", b"v", headers="abc"),
    lambda db: db.send("t", b"v", headers=[(1, b"v")]),
    lambda db: db.send("t", b"v", headers=[("k", 5)]),
    lambda db: db.send("t", b"v", headers=["kv"]),
    lambda db: db.send("t", b"v", partition="0"),
    lambda db: db.send("t", b"v", timestamp="now"),
    lambda db: db.send("t", b"v", durability=1),
    lambda db: db.send_batch("t", None),
    lambda db: db.send_batch("t", [None]),
    lambda db: db.send_batch("t", [{"value": object()}]),
    lambda db: db.fetch("t", "0"),
    lambda db: db.fetch(None, 0),
    lambda db: db.create_topic(1),
    lambda db: db.create_topic("x", partitions="3"),
    lambda db: db.create_topic("x", config=[("retention.ms", "1")]),
    lambda db: db.create_topic("x", config={1: "1"}),
    lambda db: db.consumer(1, ["t"]),
    lambda db: db.consumer("g", 5),
    lambda db: db.end_offset("t", None),
    lambda db: db.reader().assign("t", 0, 1.5),
])
def test_wrong_types_raise_type_error(db, call):
    with pytest.raises(TypeError):
        call(db)


@pytest.mark.parametrize("call", [
    lambda db: db.send("t", b"v", headers=[("k",)]),
    lambda db: db.send("t", b"v", partition=-1),
    lambda db: db.send_batch("t", [(b"k",)]),
    lambda db: db.reader().assign("t", 0, "middle"),
    lambda db: db.reader().assign("t", 0, -3),
    lambda db: db.reader(auto_offset_reset="sometimes"),
])
def test_bad_values_raise_value_error(db, call):
    with pytest.raises(ValueError):
        call(db)


def test_open_bad_path_type():
    with pytest.raises(TypeError):
        brooklet.open(123)


def test_every_call_on_a_closed_database_raises_closed_error(path):
    db = brooklet.open(path)
    db.create_topic("t")
    db.close()
    calls = [
        lambda: db.create_topic("u"), db.topics, lambda: db.describe_topic("t"),
        lambda: db.delete_topic("t"), lambda: db.alter_topic("t", {}), db.groups,
        lambda: db.describe_group("g"), lambda: db.delete_group("g"),
        lambda: db.reset_group("g", "beginning"), db.check, db.flush,
        lambda: db.beginning_offset("t", 0), lambda: db.end_offset("t", 0),
        lambda: db.offset_for_time("t", 0, 0), lambda: db.send("t", b"v"),
        lambda: db.send_batch("t", [(None, b"v")]), lambda: db.fetch("t", 0), db.reader,
        lambda: db.consumer("g", ["t"]), lambda: db.page_size,
    ]
    for call in calls:
        with pytest.raises(brooklet.ClosedError):
            call()


def test_not_a_brooklet_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_bytes(b"hello, this is not a brooklet file\n" * 200)
    with pytest.raises(brooklet.CorruptError):
        brooklet.open(text)
    assert text.read_bytes() == b"hello, this is not a brooklet file\n" * 200


def test_a_directory_is_an_os_error(tmp_path):
    with pytest.raises(brooklet.StorageIOError):
        brooklet.open(tmp_path)


# The damaged-file sweep runs in a child process, so that a crash of the interpreter (a
# segfault, an abort) is seen as one (a negative return code) instead of killing pytest.
SWEEP = textwrap.dedent("""
    import random, shutil, sys, warnings
    import brooklet

    warnings.simplefilter("ignore", brooklet.RolledBackWarning)  # check() reports them
    original, work = sys.argv[1], sys.argv[2]
    size = len(open(original, "rb").read())
    page = 1024
    rng = random.Random(7)

    def read_all(db):
        out = []
        for topic in db.topics():
            for p in range(topic.partitions):
                offset = db.beginning_offset(topic.name, p)
                while True:
                    fetched = db.fetch(topic.name, p, offset, max_records=1000)
                    if not len(fetched):
                        break
                    for r in fetched:
                        out.append((r.topic, r.partition, r.offset, r.timestamp, r.key,
                                    r.value, r.headers))
                    offset = fetched.next_offset
        return out

    with brooklet.open(original, read_only=True) as db:
        expected = read_all(db)
    # Every page's first 48 bytes (headers, slots), and random bytes anywhere.
    positions = [p * page + i for p in range(size // page) for i in range(0, 48, 5)]
    positions += [rng.randrange(size) for _ in range(300)]
    refused = detected = identical = wrong = 0
    for position in positions:
        shutil.copyfile(original, work)
        with open(work, "r+b") as f:
            f.seek(position)
            byte = f.read(1)
            f.seek(position)
            f.write(bytes([byte[0] ^ 0xA5]))
        try:
            with brooklet.open(work, maintain_on_open=False) as db:
                clean = db.check().clean
                records = read_all(db)
        except brooklet.Error:
            refused += 1
            continue
        if not clean:
            detected += 1
        elif records == expected:
            identical += 1
        else:
            wrong += 1
            print("silently wrong after a flip at byte", position, file=sys.stderr)
    print(len(positions), refused, detected, identical, wrong)
""")


def test_flipped_bytes_raise_brooklet_errors_never_crash(tmp_path):
    original = tmp_path / "original.brooklet"
    with brooklet.open(original, page_size=1024) as db:
        db.create_topic("t", partitions=2)
        for i in range(20):
            db.send_batch("t", [(b"key-%d" % j, b"value %d" % j * 3) for j in range(50)],
                          durability="none")
        db.send("t", b"v", key=b"k", headers=[("h", b"1")])
        with db.consumer("g", ["t"], auto_offset_reset="earliest") as consumer:
            consumer.poll(timeout=0.5)
            consumer.commit()
    done = subprocess.run(
        [sys.executable, "-c", SWEEP, str(original), str(tmp_path / "work.brooklet")],
        capture_output=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    tried, refused, detected, identical, wrong = map(int, done.stdout.split())
    assert tried == refused + detected + identical + wrong
    # Every flip is refused with a brooklet error, found by check (or reported as a
    # rolled-back commit), or landed where it changes nothing read back (free space, the
    # older commit slot): never records silently different from what was written.
    assert wrong == 0, done.stderr.decode(errors="replace")[-3000:]
    assert refused > 0 and detected > 0


def _damage_the_newest_commit(path):
    """Flips a byte of the first page the newest commit wrote (the commit slot with the
    newer txn, at byte 32 of header page 0 or 1, lists them in an inline journal), as
    tests/cli/commands.rs `check_reports_a_rolled_back_commit` does."""
    data = bytearray(path.read_bytes())
    def u(at, width):
        return int.from_bytes(data[at:at + width], "little")
    newest = 1 if u(512 + 40, 8) > u(40, 8) else 0
    slot = newest * 512 + 32
    assert u(slot + 80, 4) > 0, "the newest commit has an inline journal"
    page = u(slot + 108, 4)
    data[page * 512 + 10] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_rolled_back_commit_warns_at_open_and_check_reports_it(tmp_path):
    path = tmp_path / "rolled-back.brooklet"
    with brooklet.open(path, page_size=512) as db:
        db.create_topic("t")
        db.send_batch("t", [(None, b"a value long enough to fill pages " * 2)] * 40)
        assert db.recovery.clean and db.check().clean
    _damage_the_newest_commit(path)
    with pytest.warns(brooklet.RolledBackWarning, match="durable"):
        db = brooklet.open(path)
    with db:
        recovery = db.recovery
        assert not recovery.clean and recovery.lost_durable
        assert len(recovery.rolled_back) == 1
        report = db.check()
        assert not report.clean and report.problems == []
        assert report.rolled_back == recovery.rolled_back and report.lost_durable
        assert db.end_offset("t", 0) == 0  # the batch's commit is gone, and said to be
