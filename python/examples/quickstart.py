import os
import tempfile

import brooklet

path = os.path.join(tempfile.mkdtemp(), "events.brooklet")
with brooklet.open(path) as db:  # creates the file; the block's end closes it
    # Configs use Kafka's names; values are str or int.
    db.create_topic("orders", partitions=3, config={"retention.ms": 7 * 24 * 3600 * 1000})

    # One record: its key picks the partition (Kafka's murmur2). Durable when send returns.
    sent = db.send("orders", b'{"total": 42}', key="customer-7", headers=[("source", b"web")])
    print(f"stored in orders/{sent.partition} at offset {sent.offset}")

    # Several records in one atomic commit: (key, value) tuples or dicts. str is UTF-8.
    db.send_batch("orders", [
        ("customer-7", b'{"total": 7}'),
        {"key": "customer-9", "value": None},  # None is Kafka's null: a tombstone
        {"value": b"no key", "headers": [("trace", b"a1"), ("trace", b"a2")], "partition": 0},
    ])

    # Fetch one partition from an offset: records have topic, partition, offset,
    # timestamp (ms), key, value (bytes or None) and headers (a list of (str, bytes)).
    for record in db.fetch("orders", sent.partition, offset=sent.offset):
        print(record.offset, record.key, record.value, record.headers)

    # A member of consumer group "billing". Without auto_offset_reset="earliest" a new
    # group starts at the end ("latest", Kafka's default) and sees only newer records.
    with db.consumer("billing", ["orders"], auto_offset_reset="earliest",
                     enable_auto_commit=False) as consumer:
        handled = 0
        while True:
            records = consumer.poll(timeout=0.5)  # waits up to 0.5 s; the GIL is released
            if not records:
                break
            for record in records:
                handled += 1  # the work
            consumer.commit()  # the offsets after the records returned: at least once
    print(f"handled {handled} records")
    assert handled == 4
    assert all(p.lag == 0 for p in db.describe_group("billing").partitions)

    try:
        db.create_topic("orders")
    except brooklet.TopicExistsError:  # every error is a subclass of brooklet.Error
        pass
    assert db.check().clean  # verifies every page, tree value and record
