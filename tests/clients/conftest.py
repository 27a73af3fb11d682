"""A `brooklet serve` process on a free port over a fresh file, for each test."""

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

BIN = os.environ.get("BROOKLET_BIN", "target/release/brooklet")


def brooklet(*args, stdin=None):
    """Runs the CLI; returns its stdout (it must exit 0)."""
    done = subprocess.run(
        [BIN, *args], input=stdin, capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, (args, done.stderr.decode())
    return done.stdout


class Served:
    def __init__(self, path, port, process):
        self.path = path
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.process = process


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(*options):
    """`brooklet serve` with `options` on a free loopback port over a fresh file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "served.brooklet")
        brooklet("init", path)
        port = free_port()
        process = subprocess.Popen(
            [BIN, "serve", path, "--listen", f"127.0.0.1:{port}", *options],
            stderr=subprocess.PIPE,
        )
        line = process.stderr.readline().decode()
        assert "serving" in line, line
        yield Served(path, port, process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        brooklet("check", path)


@pytest.fixture
def served():
    with serving() as server:
        yield server


def wait_for(predicate, timeout=20.0):
    """Polls `predicate` until it is true (a count, never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
