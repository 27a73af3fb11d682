"""Consumer groups across processes: a member killed with SIGKILL loses its partitions to
the survivor, and nothing is skipped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import brooklet

WORKER = Path(__file__).with_name("group_worker.py")
PARTITIONS = 4


def start(path, tmp_path, name, delay):
    out = tmp_path / f"{name}.out"
    process = subprocess.Popen(
        [sys.executable, str(WORKER), str(path), str(out), str(tmp_path / "stop"), str(delay)],
        stdout=subprocess.PIPE,
    )
    assert process.stdout.readline().strip() == b"joined"
    return process, out


def consumed(out):
    return {tuple(map(int, line.split())) for line in out.read_text().splitlines()} if out.exists() else set()


def owned_by(db, pid):
    group = db.describe_group("workers")
    ids = {m.id for m in group.members if m.pid == pid and m.live}
    return {p.partition for p in group.partitions if p.owner in ids}


def wait_for(condition, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_member_partitions_move_and_nothing_is_skipped(tmp_path):
    path = tmp_path / "groups.brooklet"
    with brooklet.open(path) as db:
        db.create_topic("jobs", partitions=PARTITIONS)
        db.send_batch("jobs", [(b"job-%d" % i, b"work %d" % i) for i in range(4000)])
        killed, killed_out = start(path, tmp_path, "killed", 0.1)
        survivor, survivor_out = start(path, tmp_path, "survivor", 0.02)
        try:
            # Both members own partitions, and the one to kill has handled some records.
            wait_for(lambda: owned_by(db, killed.pid) and owned_by(db, survivor.pid)
                     and consumed(killed_out), "both members to own partitions")
            taken = owned_by(db, killed.pid)
            os.kill(killed.pid, signal.SIGKILL)
            assert killed.wait(30) == -signal.SIGKILL
            # Records produced after the kill, to every partition.
            db.send_batch("jobs", [(b"late-%d" % i, b"late %d" % i) for i in range(1000)])
            (tmp_path / "stop").touch()
            assert survivor.wait(120) == 0
        finally:
            for process in (killed, survivor):
                if process.poll() is None:
                    process.kill()
                    process.wait()
        ends = {p: db.end_offset("jobs", p) for p in range(PARTITIONS)}
        group = db.describe_group("workers")

    by_killed, by_survivor = consumed(killed_out), consumed(survivor_out)
    produced = {(p, o) for p, end in ends.items() for o in range(end)}
    assert sum(ends.values()) == 5000
    # Nothing skipped: every produced offset was handled by one member or the other.
    assert produced - (by_killed | by_survivor) == set()
    # The killed member's partitions moved: the survivor handled records of each of them.
    assert taken
    for partition in taken:
        assert any(p == partition for p, _ in by_survivor), partition
    # The committed offsets cover everything.
    assert {p.partition: p.committed for p in group.partitions} == ends
    assert all(p.lag == 0 for p in group.partitions)


INTERRUPTED = """
import sys
import brooklet

with brooklet.open(sys.argv[1]) as db:
    with db.consumer("waiting", ["quiet"]) as consumer:
        print("waiting", flush=True)
        try:
            for record in consumer:  # nothing ever comes
                pass
        except KeyboardInterrupt:
            print("interrupted", flush=True)
"""


def test_ctrl_c_stops_a_consumer_waiting_in_iteration(tmp_path):
    path = tmp_path / "quiet.brooklet"
    with brooklet.open(path) as db:
        db.create_topic("quiet")
    child = subprocess.Popen([sys.executable, "-c", INTERRUPTED, str(path)], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"waiting"
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert out.strip() == b"interrupted"
    assert child.returncode == 0
    with brooklet.open(path) as db:
        assert db.describe_group("waiting").members == []  # it left the group on the way out
