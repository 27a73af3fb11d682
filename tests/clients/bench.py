"""How fast Kafka clients reach a file through `brooklet serve`, beside the embedded CLI on
the same records in the same run (issue figures: produce >= 50% of the embedded append,
fetch >= 50% of the embedded read, produce-to-consume p50 <= 2 ms on loopback).

    cargo build --release --bin brooklet --example embedded_rates
    BROOKLET_BIN=target/release/brooklet python tests/clients/bench.py [--records N]

The embedded side is measured twice: the library's durable bulk append and sequential read
(`examples/embedded_rates.rs`, the rates the issue names), and the CLI's `produce` and
`consume`, which parse and print text.

Needs confluent-kafka. Prints one line per figure; asserts nothing (timings vary with the
machine: they are measured, not tested).
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

BIN = os.environ.get("BROOKLET_BIN", "target/release/brooklet")
RATES = os.path.join(os.path.dirname(BIN), "examples", "embedded_rates")


def run(*args, stdin=None):
    done = subprocess.run([BIN, *args], input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        sys.exit(f"brooklet {' '.join(args)} failed: {done.stderr.decode()}")
    return done.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lines(count):
    return b"".join(b"key-%010d\t%s\n" % (i, b"v" * 100) for i in range(count))


def embedded(tmp, count):
    path = os.path.join(tmp, "embedded.brooklet")
    run("init", path)
    run("topic", "create", path, "bench", "--partitions", "1")
    data = lines(count)
    start = time.perf_counter()
    run("produce", path, "bench", "--key-separator", "\t", stdin=data)
    append = count / (time.perf_counter() - start)
    start = time.perf_counter()
    out = run("consume", path, "bench", "--from-beginning")
    read = count / (time.perf_counter() - start)
    assert out.count(b"\n") == count
    return append, read


def cpu_seconds(pid):
    """User and system CPU time of process `pid` so far (Linux's /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def library(count):
    """The library's durable bulk append and read rates (examples/embedded_rates.rs)."""
    if not os.path.exists(RATES):
        sys.exit(f"{RATES} is missing: cargo build --release --example embedded_rates")
    out = subprocess.run([RATES, str(count)], capture_output=True, check=True).stdout.decode()
    rates = dict(line.split() for line in out.splitlines())
    return float(rates["append"]), float(rates["read"])


def served_produce(bootstrap, count):
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 2_000_000,
    })
    value = b"v" * 100
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce("bench", key=b"key-%010d" % i, value=value, partition=0)
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(120) == 0
    return count / (time.perf_counter() - start)


def served_fetch(bootstrap, count):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "bench",
        "enable.auto.commit": False,
        "fetch.max.bytes": 50_000_000,
        "max.partition.fetch.bytes": 10_000_000,
    })
    consumer.assign([TopicPartition("bench", 0, 0)])
    got = 0
    start = time.perf_counter()
    while got < count:
        for m in consumer.consume(10_000, 10):
            if m.error() is None:
                got += 1
    rate = count / (time.perf_counter() - start)
    consumer.close()
    return rate


def latency(bootstrap, rounds):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "latency",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 100,
        "fetch.min.bytes": 1,
    })
    consumer.assign([TopicPartition("latency", 0, 0)])
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 0})
    delays = []
    ready = threading.Event()

    def receive():
        ready.set()
        while len(delays) < rounds:
            m = consumer.poll(5)
            if m is not None and m.error() is None:
                sent = float(m.value().decode())
                delays.append(time.perf_counter() - sent)

    thread = threading.Thread(target=receive)
    thread.start()
    ready.wait()
    time.sleep(0.5)
    for _ in range(rounds):
        producer.produce("latency", value=str(time.perf_counter()).encode(), partition=0)
        producer.flush(10)
        time.sleep(0.002)
    thread.join(60)
    consumer.close()
    delays.sort()
    return delays[len(delays) // 2], delays[int(len(delays) * 0.99)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lib_append, lib_read = library(args.records)
        append, read = embedded(tmp, args.records)
        path = os.path.join(tmp, "served.brooklet")
        run("init", path)
        run("topic", "create", path, "bench", "--partitions", "1")
        run("topic", "create", path, "latency", "--partitions", "1")
        port = free_port()
        server = subprocess.Popen([BIN, "serve", path, "--listen", f"127.0.0.1:{port}"],
                                  stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            bootstrap = f"127.0.0.1:{port}"
            before = cpu_seconds(server.pid)
            produce = served_produce(bootstrap, args.records)
            produce_cpu = cpu_seconds(server.pid) - before
            before = cpu_seconds(server.pid)
            fetch = served_fetch(bootstrap, args.records)
            fetch_cpu = cpu_seconds(server.pid) - before
            p50, p99 = latency(bootstrap, args.rounds)
        finally:
            server.terminate()
            server.wait(60)
    print(f"records: {args.records} of 14 B keys and 100 B values, one partition")
    print(f"library durable bulk append (1000-record commits): {lib_append:,.0f} records/s")
    print(f"CLI append (brooklet produce): {append:,.0f} records/s")
    print(f"serve produce (confluent-kafka, acks=all, linger 5 ms): {produce:,.0f} records/s"
          f" = {produce / lib_append:.2f} of the library, {produce / append:.2f} of the CLI;"
          f" the server's CPU {produce_cpu * 1e6 / args.records:.2f} us a record")
    print(f"library read (fetch_batches): {lib_read:,.0f} records/s")
    print(f"CLI read (brooklet consume): {read:,.0f} records/s")
    print(f"serve fetch (confluent-kafka consumer): {fetch:,.0f} records/s"
          f" = {fetch / lib_read:.2f} of the library, {fetch / read:.2f} of the CLI;"
          f" the server's CPU {fetch_cpu * 1e6 / args.records:.2f} us a record")
    print(f"produce-to-consume latency over {args.rounds} records: p50 {p50 * 1e3:.2f} ms,"
          f" p99 {p99 * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
