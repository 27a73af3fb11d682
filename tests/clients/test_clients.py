"""Kafka clients through `brooklet serve`, checked byte for byte against the CLI."""

import base64
import json
import os
import signal
import subprocess
import tempfile
import threading

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition

from conftest import BIN, brooklet, free_port, wait_for


def consumed(served, topic):
    """The topic's records as `brooklet consume --format json` prints them."""
    out = brooklet("consume", served.path, topic, "--from-beginning", "--format", "json")
    return [json.loads(line) for line in out.decode().splitlines()]


def text(value):
    if isinstance(value, dict):
        return base64.b64decode(value["base64"])
    return None if value is None else value.encode()


def test_confluent_kafka_delete_records_moves_where_consumers_start(served):
    brooklet("topic", "create", served.path, "trimmed")
    lines = "".join(f"record {i}\n" for i in range(40)).encode()
    brooklet("produce", served.path, "trimmed", stdin=lines)
    admin = AdminClient({"bootstrap.servers": served.bootstrap})
    futures = admin.delete_records([TopicPartition("trimmed", 0, 25)])
    deleted = list(futures.values())[0].result(timeout=30)
    assert deleted.low_watermark == 25
    watcher = Consumer({"bootstrap.servers": served.bootstrap, "group.id": "wm"})
    assert watcher.get_watermark_offsets(TopicPartition("trimmed", 0), timeout=10) == (25, 40)
    watcher.close()
    consumer = group_consumer(served, "from-earliest")
    consumer.subscribe(["trimmed"])
    messages = []
    for _ in range(400):
        message = consumer.poll(0.05)
        if message is not None and message.error() is None:
            messages.append(message)
        if len(messages) >= 15:
            break
    consumer.close()
    assert [m.offset() for m in messages[:15]] == list(range(25, 40))
    assert messages[0].value() == b"record 25"
    # -1 (OFFSET_END) deletes up to the high watermark.
    futures = admin.delete_records([TopicPartition("trimmed", 0, -1)])
    assert list(futures.values())[0].result(timeout=30).low_watermark == 40
    described = json.loads(brooklet("topic", "describe", served.path, "trimmed", "--json"))
    assert described["partitions"][0]["beginning_offset"] == 40


def test_confluent_kafka_produces_what_the_cli_reads(served):
    admin = AdminClient({"bootstrap.servers": served.bootstrap})
    futures = admin.create_topics([NewTopic("orders", num_partitions=2, replication_factor=1)])
    futures["orders"].result(timeout=30)
    producer = Producer({"bootstrap.servers": served.bootstrap, "acks": "all", "linger.ms": 5})
    sent = []
    for i in range(50):
        key = f"customer-{i % 7}".encode()
        value = bytes([i, 0, 255]) + f"order {i}".encode()
        headers = [("trace", f"t{i}".encode()), ("empty", b"")]
        timestamp = 1_700_000_000_000 + i
        producer.produce("orders", value=value, key=key, headers=headers, timestamp=timestamp)
        sent.append((key, value, [["trace", f"t{i}"], ["empty", ""]], timestamp))
    assert producer.flush(30) == 0
    records = consumed(served, "orders")
    got = sorted(
        (text(r["key"]), text(r["value"]), r["headers"], r["timestamp"]) for r in records
    )
    def normal(headers):
        return [[k, text(v).decode()] for k, v in headers]
    got = [(k, v, normal(h), t) for k, v, h, t in got]
    assert got == sorted(sent)


def test_kafka_python_produces_idempotently_and_plainly(served):
    brooklet("topic", "create", served.path, "events")
    for idempotent in (True, False):
        producer = KafkaProducer(
            bootstrap_servers=served.bootstrap,
            acks="all" if idempotent else 1,
            enable_idempotence=idempotent,
        )
        for i in range(20):
            producer.send(
                "events",
                key=b"k",
                value=f"{idempotent} {i}".encode(),
                headers=[("n", str(i).encode())],
                timestamp_ms=1_600_000_000_000 + i,
            )
        producer.flush(timeout=30)
        producer.close()
    records = consumed(served, "events")
    assert [text(r["value"]).decode() for r in records] == [
        f"{idem} {i}" for idem in (True, False) for i in range(20)
    ]
    assert [r["timestamp"] for r in records[:3]] == [1_600_000_000_000 + i for i in range(3)]
    assert records[5]["headers"] == [["n", "5"]]


def test_clients_consume_what_the_cli_produced(served):
    brooklet("topic", "create", served.path, "lines")
    lines = "".join(f"key{i}:value {i}\n" for i in range(30)).encode()
    brooklet("produce", served.path, "lines", "--key-separator", ":", "--header", "src=cli", stdin=lines)

    consumer = KafkaConsumer(bootstrap_servers=served.bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=10_000)
    consumer.assign([KafkaTopicPartition("lines", 0)])
    consumer.seek_to_beginning()
    got = []
    for message in consumer:
        got.append((message.key, message.value, message.headers))
        if len(got) == 30:
            break
    consumer.close()
    assert got == [(f"key{i}".encode(), f"value {i}".encode(), [("src", b"cli")]) for i in range(30)]

    consumer = Consumer({"bootstrap.servers": served.bootstrap, "group.id": "plain",
                         "enable.auto.commit": False, "enable.auto.offset.store": False})
    consumer.assign([TopicPartition("lines", 0, 0)])
    values = []
    for _ in range(200):
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            values.append(message.value())
        if len(values) == 30:
            break
    consumer.close()
    assert values == [f"value {i}".encode() for i in range(30)]


def test_kcat_round_trip(served):
    brooklet("topic", "create", served.path, "kc")
    data = "".join(f"k{i}:v{i}\n" for i in range(10)).encode()
    subprocess.run(["kcat", "-b", served.bootstrap, "-t", "kc", "-P", "-K:", "-p", "0"],
                   input=data, check=True, timeout=60)
    out = subprocess.run(["kcat", "-b", served.bootstrap, "-t", "kc", "-C", "-o", "beginning",
                          "-e", "-q", "-f", "%k=%s\\n"],
                         capture_output=True, check=True, timeout=60).stdout.decode()
    assert out.splitlines() == [f"k{i}=v{i}" for i in range(10)]
    assert [text(r["value"]).decode() for r in consumed(served, "kc")] == [f"v{i}" for i in range(10)]


def group_consumer(served, group):
    return Consumer({
        "bootstrap.servers": served.bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 300,
    })


def poll_until(consumers, predicate, rounds=400):
    """Polls every consumer in turn until `predicate()` holds; returns the messages."""
    messages = []
    for _ in range(rounds):
        for consumer in consumers:
            message = consumer.poll(0.05)
            if message is not None and message.error() is None:
                messages.append(message)
        if predicate():
            return messages
    raise AssertionError("condition not reached")


def test_a_group_of_two_rebalances_and_commits_offsets(served):
    brooklet("topic", "create", served.path, "grp", "--partitions", "2")
    for partition in (0, 1):
        lines = "".join(f"p{partition} {i}\n" for i in range(20)).encode()
        brooklet("produce", served.path, "grp", "--partition", str(partition), stdin=lines)

    first = group_consumer(served, "billing")
    first.subscribe(["grp"])
    seen = set()
    def consumed_all():
        return len(first.assignment()) == 2 and len(seen) == 40
    for _ in range(400):
        message = first.poll(0.05)
        if message is not None and message.error() is None:
            seen.add((message.partition(), message.offset()))
        if consumed_all():
            break
    assert consumed_all()
    first.commit(asynchronous=False)

    second = group_consumer(served, "billing")
    second.subscribe(["grp"])
    poll_until([first, second],
               lambda: len(first.assignment()) == 1 and len(second.assignment()) == 1)
    parts = {tp.partition for tp in first.assignment()} | {tp.partition for tp in second.assignment()}
    assert parts == {0, 1}

    # The CLI, another process, sees both clients as members, each with its partition.
    def members():
        described = json.loads(brooklet("group", "describe", served.path, "billing", "--json"))
        return sorted(
            (m["protocol"], m["client_id"], tuple(p["partition"] for p in m["partitions"]))
            for m in described["members"]
        )
    assert wait_for(lambda: [m[2] for m in members()] == [(0,), (1,)]), members()
    assert members() == [("kafka", "rdkafka", (0,)), ("kafka", "rdkafka", (1,))]
    described = json.loads(brooklet("group", "describe", served.path, "billing", "--json"))
    member_ids = {m["id"] for m in described["members"]}
    assert {p["owner"] for p in described["partitions"]} == member_ids

    second.close()
    poll_until([first], lambda: len(first.assignment()) == 2)
    first.close()

    described = json.loads(brooklet("group", "describe", served.path, "billing", "--json"))
    committed = {(p["partition"], p["committed"], p["lag"]) for p in described["partitions"]}
    assert committed == {(0, 20, 0), (1, 20, 0)}
    assert described["members"] == []


def test_admin_client_lists_describes_and_deletes_groups(served):
    brooklet("topic", "create", served.path, "adm", "--partitions", "2")
    brooklet("produce", served.path, "adm", stdin=b"a\nb\n")
    consumer = group_consumer(served, "watchers")
    consumer.subscribe(["adm"])
    poll_until([consumer], lambda: len(consumer.assignment()) == 2)
    done = Consumer({"bootstrap.servers": served.bootstrap, "group.id": "finished"})
    done.commit(offsets=[TopicPartition("adm", 0, 1)], asynchronous=False)
    done.close()

    admin = AdminClient({"bootstrap.servers": served.bootstrap})
    listed = admin.list_consumer_groups(request_timeout=10).result()
    states = {g.group_id: g.state.name for g in listed.valid}
    assert states == {"watchers": "STABLE", "finished": "EMPTY"}, states

    described = admin.describe_consumer_groups(["watchers", "finished"], request_timeout=10)
    watchers = described["watchers"].result()
    assert watchers.state.name == "STABLE"
    assert len(watchers.members) == 1
    member = watchers.members[0]
    assert member.client_id == "rdkafka"
    assert member.host == "/127.0.0.1"
    assert sorted(tp.partition for tp in member.assignment.topic_partitions) == [0, 1]
    finished = described["finished"].result()
    assert finished.state.name == "EMPTY" and finished.members == []

    refused = admin.delete_consumer_groups(["watchers"], request_timeout=10)["watchers"]
    try:
        refused.result()
        raise AssertionError("a group with a live member was deleted")
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.NON_EMPTY_GROUP, e
    admin.delete_consumer_groups(["finished"], request_timeout=10)["finished"].result()
    consumer.close()
    admin.delete_consumer_groups(["watchers"], request_timeout=10)["watchers"].result()
    assert admin.list_consumer_groups(request_timeout=10).result().valid == []
    assert json.loads(brooklet("group", "list", served.path, "--json")) == []


def test_compressed_batches_from_clients_are_stored_as_sent_and_read_everywhere(served):
    """librdkafka compresses with each codec; kafka-python (gzip) too. The file keeps the
    batches as sent (the CLI's dump shows the codec) and every reader decodes them."""
    expected = []
    for codec in ["gzip", "snappy", "lz4", "zstd"]:
        topic = f"packed-{codec}"
        brooklet("topic", "create", served.path, topic, "--partitions", "1")
        producer = Producer({
            "bootstrap.servers": served.bootstrap,
            "acks": "all",
            "compression.type": codec,
            "linger.ms": 20,
        })
        values = [json.dumps({"n": i, "codec": codec, "pad": "y" * 200}).encode() for i in range(300)]
        for i, v in enumerate(values):
            producer.produce(topic, value=v, key=f"k{i % 5}".encode(),
                             headers=[("codec", codec.encode())])
        assert producer.flush(30) == 0
        records = consumed(served, topic)
        assert [text(r["value"]) for r in records] == values
        assert all(r["headers"] == [["codec", codec]] for r in records)
        expected.append(topic)
        # A Kafka client fetches the stored (compressed) batches back and decodes them.
        consumer = Consumer({"bootstrap.servers": served.bootstrap, "group.id": f"g-{codec}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, 0, 0)])
        got = []
        while len(got) < len(values):
            m = consumer.poll(10)
            assert m is not None and m.error() is None, m and m.error()
            got.append(m.value())
        consumer.close()
        assert got == values
    kp = KafkaProducer(bootstrap_servers=served.bootstrap, compression_type="gzip",
                       enable_idempotence=False)
    brooklet("topic", "create", served.path, "packed-kp", "--partitions", "1")
    for i in range(100):
        kp.send("packed-kp", value=f"kp {i}".encode() * 20, partition=0)
    kp.flush(30)
    kp.close()
    records = consumed(served, "packed-kp")
    assert [text(r["value"]) for r in records] == [f"kp {i}".encode() * 20 for i in range(100)]
    brooklet("check", served.path)


def test_clients_decode_batches_brooklet_compressed(served):
    """brooklet's own producer compresses with each codec (`compression.type`); Kafka
    clients fetch those stored batches as they are and decode them: librdkafka with every
    codec, kafka-python with every codec its optional libraries give it."""
    from kafka.codec import has_gzip, has_lz4, has_snappy, has_zstd
    kafka_python_has = {"gzip": has_gzip(), "snappy": has_snappy(), "lz4": has_lz4(),
                        "zstd": has_zstd()}
    assert all(kafka_python_has.values()), kafka_python_has  # run.sh installs the codecs
    for codec in ["gzip", "snappy", "lz4", "zstd"]:
        topic = f"own-{codec}"
        brooklet("topic", "create", served.path, topic, "--config", f"compression.type={codec}")
        lines = "".join(f"k{i % 7}:{codec} value {i} " + "z" * 150 + "\n" for i in range(200))
        brooklet("produce", served.path, topic, "--key-separator", ":", "--header", f"codec={codec}",
                 stdin=lines.encode())
        described = json.loads(brooklet("topic", "describe", served.path, topic, "--json"))
        stored = described["partitions"][0]["bytes"]
        assert stored < len(lines) // 3, (codec, stored, len(lines))  # stored compressed
        expected = [(f"k{i % 7}".encode(), f"{codec} value {i} ".encode() + b"z" * 150)
                    for i in range(200)]

        consumer = Consumer({"bootstrap.servers": served.bootstrap, "group.id": f"own-{codec}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, 0, 0)])
        got = []
        while len(got) < len(expected):
            m = consumer.poll(10)
            assert m is not None and m.error() is None, m and m.error()
            got.append((m.key(), m.value()))
            assert m.headers() == [("codec", codec.encode())]
        consumer.close()
        assert got == expected

        kp = KafkaConsumer(bootstrap_servers=served.bootstrap, group_id=None,
                           enable_auto_commit=False, consumer_timeout_ms=10_000)
        kp.assign([KafkaTopicPartition(topic, 0)])
        kp.seek_to_beginning()
        got = []
        for message in kp:
            got.append((message.key, message.value))
            if len(got) == len(expected):
                break
        kp.close()
        assert got == expected


def test_kcat_balanced_consumers_share_and_hand_over(served):
    """kcat's balanced consumer (`-G`, librdkafka's group protocol): two kcat processes
    split four partitions between them; when one is stopped, the other consumes what is
    produced to every partition after."""
    brooklet("topic", "create", served.path, "kg", "--partitions", "4")
    def start():
        return subprocess.Popen(
            ["kcat", "-b", served.bootstrap, "-G", "kc-group", "kg", "-f", "%p %s\\n",
             "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=300",
             "-X", "auto.offset.reset=earliest", "-q", "-u"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = {0: [], 1: []}
    kcats = [start(), start()]
    readers = []
    for i, k in enumerate(kcats):
        t = threading.Thread(target=lambda i=i, k=k: out[i].extend(iter(k.stdout.readline, b"")))
        t.start()
        readers.append(t)
    def produce_round(tag):
        for partition in range(4):
            brooklet("produce", served.path, "kg", "--partition", str(partition),
                     stdin=f"{tag}\n".encode())
    # Round by round until both members have consumed something: the split is in place.
    round_no = 0
    for _ in range(30):
        produce_round(f"r{round_no}")
        round_no += 1
        if wait_for(lambda: len(out[0]) + len(out[1]) >= 4 * round_no, timeout=5) and \
                out[0] and out[1]:
            break
    assert out[0] and out[1], "the two members did not share the partitions"
    kcats[1].send_signal(signal.SIGTERM)
    kcats[1].wait(timeout=30)
    readers[1].join(timeout=30)
    produce_round("after")
    def after():
        return {line.split()[0] for line in out[0] if line.endswith(b" after\n")}
    assert wait_for(lambda: after() == {b"0", b"1", b"2", b"3"}, timeout=60), after()
    kcats[0].send_signal(signal.SIGTERM)
    kcats[0].wait(timeout=30)
    readers[0].join(timeout=30)


def test_members_vanish_when_the_server_is_killed():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "killed.brooklet")
        brooklet("init", path)
        brooklet("topic", "create", path, "k", "--partitions", "1")
        port = free_port()
        process = subprocess.Popen([BIN, "serve", path, "--listen", f"127.0.0.1:{port}"],
                                   stderr=subprocess.PIPE)
        assert "serving" in process.stderr.readline().decode()
        consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{port}", "group.id": "doomed",
                             "session.timeout.ms": 6000, "heartbeat.interval.ms": 300})
        consumer.subscribe(["k"])
        try:
            poll_until([consumer], lambda: len(consumer.assignment()) == 1)

            def members():
                out = brooklet("group", "describe", path, "doomed", "--json")
                return json.loads(out)["members"]
            assert wait_for(lambda: len(members()) == 1), members()
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            # The kernel released the server's liveness lock: its members are gone at once.
            assert members() == []
            brooklet("check", path)
        finally:
            if process.poll() is None:
                process.kill()
            consumer.close()
