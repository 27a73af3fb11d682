"""Records cross between Python and the brooklet CLI byte for byte, headers included."""

from __future__ import annotations

import base64
import json
import subprocess

import brooklet

BINARY = bytes(range(256))  # not UTF-8


def decode(field):
    """A key, value or header value as `consume --format json` prints it."""
    if field is None:
        return None
    if isinstance(field, dict):
        return base64.b64decode(field["base64"])
    return field.encode("utf-8")


def run(cli, *args, stdin=b""):
    done = subprocess.run([str(cli), *map(str, args)], input=stdin, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def test_python_writes_cli_reads(cli, path):
    records = [
        dict(key=BINARY, value=b"\xff\xfe binary \x00 value", headers=[
            ("trace", b"\x00\x01\xff"), ("trace", b"again"), ("empty", b""), ("null", None)]),
        dict(key="caf\u00e9", value="\u2603 snow", headers=[("lang", "fr")]),
        dict(key=None, value=None, headers=[]),
        dict(key=b"", value=b"x" * 5000, headers=[]),
    ]
    with brooklet.open(path) as db:
        db.create_topic("cross", partitions=2)
        for r in records:
            db.send("cross", r["value"], key=r["key"], headers=r["headers"], partition=1,
                    timestamp=1_700_000_000_123)
    lines = run(cli, "consume", path, "cross", "--partition", 1, "--format", "json").splitlines()
    got = [json.loads(line) for line in lines]
    assert len(got) == len(records)

    def as_bytes(value):
        return value.encode() if isinstance(value, str) else value

    for offset, (sent, line) in enumerate(zip(records, got)):
        assert (line["topic"], line["partition"], line["offset"]) == ("cross", 1, offset)
        assert line["timestamp"] == 1_700_000_000_123
        assert decode(line["key"]) == as_bytes(sent["key"])
        assert decode(line["value"]) == as_bytes(sent["value"])
        assert [(k, decode(v)) for k, v in line["headers"]] == [
            (k, as_bytes(v)) for k, v in sent["headers"]]


def test_cli_produce_python_reads(cli, path):
    with brooklet.open(path) as db:
        db.create_topic("cross", partitions=3)
    lines = b"alice:{\"total\":42}\nbob:\xff\xfe raw\n:no key bytes\n"
    acks = run(cli, "produce", path, "cross", "--key-separator", ":", "--partition", 2,
               "--header", "source=cli", "--header", "source=again", "--header", "k=a=b",
               "--acks", stdin=lines)
    assert acks.split(b"\n")[:3] == [b"2 0", b"2 1", b"2 2"]
    with brooklet.open(path, read_only=True) as db:
        got = list(db.fetch("cross", 2))
    assert [(r.key, r.value) for r in got] == [
        (b"alice", b"{\"total\":42}"), (b"bob", b"\xff\xfe raw"), (b"", b"no key bytes")]
    for r in got:
        assert r.headers == [("source", b"cli"), ("source", b"again"), ("k", b"a=b")]
        assert r.topic == "cross" and r.partition == 2


def test_cli_import_of_binary_and_nulls_python_reads(cli, path):
    with brooklet.open(path) as db:
        db.create_topic("cross")
    line = {
        "partition": 0,
        "timestamp": 1_600_000_000_000,
        "key": {"base64": base64.b64encode(BINARY).decode()},
        "value": None,
        "headers": [["h", {"base64": base64.b64encode(b"\x00\xff").decode()}], ["h", None], ["t", "text"]],
    }
    run(cli, "import", path, "cross", "--format", "jsonl", stdin=(json.dumps(line) + "\n").encode())
    with brooklet.open(path, read_only=True) as db:
        (record,) = db.fetch("cross", 0)
    assert record.key == BINARY
    assert record.value is None
    assert record.timestamp == 1_600_000_000_000
    assert record.headers == [("h", b"\x00\xff"), ("h", None), ("t", b"text")]


def test_python_reads_while_the_cli_writes_and_back(cli, path):
    """Both ways on one open file: Python holds it open while the CLI produces."""
    with brooklet.open(path) as db:
        db.create_topic("cross")
        db.send("cross", b"from python", key=b"p")
        run(cli, "produce", path, "cross", stdin=b"from cli\n")
        assert [r.value for r in db.fetch("cross", 0)] == [b"from python", b"from cli"]
        out = run(cli, "consume", path, "cross", "--format", "json")
        assert [decode(json.loads(l)["value"]) for l in out.splitlines()] == [b"from python", b"from cli"]
