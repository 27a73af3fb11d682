"""One client of the load test, run as its own process so that it can be killed.

    load_worker.py produce BOOTSTRAP TOPIC NAME COUNT OUT
        produces COUNT records keyed NAME-i (idempotent, acks=all) and writes each
        acknowledged record's "partition offset key" line to OUT, then exits 0.
    load_worker.py consume BOOTSTRAP TOPIC GROUP OUT
        consumes in GROUP, writing each record's "partition offset key" line to OUT and
        committing after each poll's records are written, until killed or sent SIGTERM.
    load_worker.py kp-consume BOOTSTRAP TOPIC GROUP OUT
        the same with kafka-python, which also writes its assigned partitions, one line
        of numbers after each poll, to OUT.assigned.
"""

import signal
import sys

from confluent_kafka import Consumer, KafkaException, Producer


def produce(bootstrap, topic, name, count, out):
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 2,
    })
    with open(out, "w", encoding="utf-8") as acked:
        def delivered(error, message):
            if error is not None:
                raise KafkaException(error)
            acked.write(f"{message.partition()} {message.offset()} {message.key().decode()}\n")

        for i in range(count):
            key = f"{name}-{i}".encode()
            while True:
                try:
                    producer.produce(topic, key=key, value=b"v" * 100, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        assert producer.flush(60) == 0


def consume(bootstrap, topic, group, out):
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 300,
    })
    consumer.subscribe([topic])
    with open(out, "a", encoding="utf-8") as seen:
        while not stopping:
            messages = consumer.consume(500, 0.1)
            good = [m for m in messages if m.error() is None]
            for m in good:
                seen.write(f"{m.partition()} {m.offset()} {m.key().decode()}\n")
            if good:
                seen.flush()
                try:
                    consumer.commit(asynchronous=False)
                except KafkaException:
                    pass  # a rebalance took the partitions; their records come again
    consumer.close()


def kp_consume(bootstrap, topic, group, out):
    from kafka import KafkaConsumer
    from kafka.errors import CommitFailedError

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=6000, heartbeat_interval_ms=300)
    consumer.subscribe([topic])
    with open(out, "a", encoding="utf-8") as seen:
        while not stopping:
            batches = consumer.poll(timeout_ms=200)
            for tp, messages in batches.items():
                for m in messages:
                    seen.write(f"{tp.partition} {m.offset} {m.key.decode()}\n")
            seen.flush()
            if batches:
                try:
                    consumer.commit()
                except CommitFailedError:
                    pass  # a rebalance is completing: the records come again after it
            parts = " ".join(str(tp.partition) for tp in sorted(consumer.assignment()))
            with open(out + ".assigned", "w", encoding="utf-8") as assigned:
                assigned.write(parts + "\n")
    consumer.close()


if __name__ == "__main__":
    if sys.argv[1] == "kp-consume":
        kp_consume(*sys.argv[2:6])
    elif sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        consume(*sys.argv[2:6])
