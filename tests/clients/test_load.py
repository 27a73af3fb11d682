"""A load test: four producers and four group consumers, each its own process with its own
connections, against one `brooklet serve`; one consumer is killed with SIGKILL midway.
Nothing acknowledged is lost, each partition's offsets are dense, no record is stored
twice, and the group's surviving members consume every record and commit to the end."""

import json
import os
import signal
import subprocess
import sys

from conftest import brooklet, wait_for

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "load_worker.py")
PRODUCERS = 4
CONSUMERS = 4
PER_PRODUCER = 5000
PARTITIONS = 4


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.split() for line in f.read().splitlines() if line]


def worker(*args):
    return subprocess.Popen([sys.executable, WORKER, *args])


def test_eight_clients_with_a_member_killed(served, tmp_path):
    brooklet("topic", "create", served.path, "load", "--partitions", str(PARTITIONS))
    consumed = [str(tmp_path / f"consumed-{i}") for i in range(CONSUMERS)]
    consumers = [worker("consume", served.bootstrap, "load", "loaders", out) for out in consumed]
    acked = [str(tmp_path / f"acked-{i}") for i in range(PRODUCERS)]
    producers = [
        worker("produce", served.bootstrap, "load", f"p{i}", str(PER_PRODUCER), out)
        for i, out in enumerate(acked)
    ]
    total = PRODUCERS * PER_PRODUCER

    # Kill a member once it has consumed something, while the producers still run.
    victim = consumers[0]
    assert wait_for(lambda: len(lines(consumed[0])) > 0, timeout=60), "the member consumed nothing"
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    for p in producers:
        assert p.wait(timeout=300) == 0, "a producer failed"
    acknowledged = [line for path in acked for line in lines(path)]
    assert len(acknowledged) == total

    # The survivors take over the victim's partitions and commit to the end.
    def caught_up():
        described = json.loads(brooklet("group", "describe", served.path, "loaders", "--json"))
        parts = described["partitions"]
        return len(parts) == PARTITIONS and all(p["lag"] == 0 for p in parts)
    assert wait_for(caught_up, timeout=120), "the group did not commit to the end"
    for c in consumers[1:]:
        c.send_signal(signal.SIGTERM)
    for c in consumers[1:]:
        assert c.wait(timeout=60) == 0

    # The file: every acknowledged record where its acknowledgement said, nothing else.
    out = brooklet("consume", served.path, "load", "--from-beginning", "--format", "json")
    stored = [json.loads(line) for line in out.decode().splitlines()]
    assert len(stored) == total
    at = {(r["partition"], r["offset"]): r["key"] for r in stored}
    for partition, offset, key in acknowledged:
        assert at[(int(partition), int(offset))] == key
    for partition in range(PARTITIONS):
        offsets = sorted(o for (p, o) in at if p == partition)
        assert offsets == list(range(len(offsets))), f"partition {partition} has gaps"

    # The group: every record consumed by some member (at least once across the kill).
    seen = {key for path in consumed for _, _, key in lines(path)}
    assert seen == {key for _, _, key in acknowledged}


def test_kafka_python_group_of_two_rebalances_and_commits(served, tmp_path):
    """kafka-python's own group protocol (its coordinator client and range assignor), each
    member its own process: two members split two partitions, the one left takes both when
    the other leaves, everything is consumed, and the offsets land in the file's group."""
    brooklet("topic", "create", served.path, "kpg", "--partitions", "2")
    for partition in (0, 1):
        data = "".join(f"k{partition}-{i}:v\n" for i in range(15)).encode()
        brooklet("produce", served.path, "kpg", "--partition", str(partition),
                 "--key-separator", ":", stdin=data)
    outs = [str(tmp_path / f"kp-{i}") for i in range(2)]
    members = [worker("kp-consume", served.bootstrap, "kpg", "kp-billing", out) for out in outs]

    def assigned(i):
        path = outs[i] + ".assigned"
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return f.read().split()

    try:
        def split():
            first, second = assigned(0), assigned(1)
            return bool(first and second) and sorted(first + second) == ["0", "1"]
        # Each member writes what it holds after each poll, so one may still show the
        # assignment of the generation before: wait until the two files agree.
        assert wait_for(split, timeout=60), (assigned(0), assigned(1))
        members[1].send_signal(signal.SIGTERM)
        assert members[1].wait(timeout=60) == 0
        assert wait_for(lambda: assigned(0) == ["0", "1"], timeout=60), assigned(0)

        def committed():
            described = json.loads(brooklet("group", "describe", served.path, "kp-billing", "--json"))
            return {(p["partition"], p["committed"], p["lag"]) for p in described["partitions"]}
        assert wait_for(lambda: committed() == {(0, 15, 0), (1, 15, 0)}, timeout=60), committed()
    finally:
        for m in members:
            if m.poll() is None:
                m.send_signal(signal.SIGTERM)
        for m in members:
            m.wait(timeout=60)
    seen = {(int(p), int(o), k) for path in outs for p, o, k in lines(path)}
    assert {(p, o) for p, o, _ in seen} == {(p, o) for p in (0, 1) for o in range(15)}
    assert {k for p, o, k in seen if o == 3} == {"k0-3", "k1-3"}
