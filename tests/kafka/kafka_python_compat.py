"""kafka-python's side of tests/kafka/compat.rs: an independent RecordBatch v2 codec.

Usage:
  kafka_python_compat.py decode BATCHES DUMP      decode concatenated batches, write a dump
  kafka_python_compat.py encode SPEC BATCHES DUMP build batches from a spec, write them and
                                                  kafka-python's dump of them
  kafka_python_compat.py murmur2 KEYS OUT         hash hex keys with kafka-python's murmur2 and
                                                  partition them as its DefaultPartitioner

Dump lines (one batch line, then its record lines, each followed by its header lines; bytes
are "-" for null or "x" + hex):
  batch offset_base=.. batch_length=.. leader_epoch=.. magic=.. crc=.. crc_valid=0|1
        attributes=.. compression=.. timestamp_type=0|1 transactional=0|1 control=0|1
        last_offset_delta=.. first_timestamp=.. max_timestamp=.. producer_id=..
        producer_epoch=.. base_sequence=.. record_count=..
  record offset=.. timestamp=.. timestamp_type=.. key=.. value=.. headers=..
  header key=.. value=..
  end batches=.. valid_bytes=.. total_bytes=..

Spec lines (batch, then its records, each followed by its headers):
  batch offset_base=N producer_id=N producer_epoch=N base_sequence=N transactional=0|1
        log_append_time=-|MS
  record offset=N timestamp=MS key=-|xHEX value=-|xHEX
  header key=xHEX(UTF-8) value=-|xHEX
"""

import struct
import sys

from kafka.partitioner.default import murmur2
from kafka.record.default_records import (
    ControlRecord, DefaultRecordBatch, DefaultRecordBatchBuilder)
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32c

ATTRIBUTES_OFFSET = 21
CRC_OFFSET = 17
MAX_TIMESTAMP_OFFSET = 35
LOG_APPEND_TIME = 0x08
CONTROL = 0x20
# Must match PARTITION_COUNTS in tests/kafka/compat.rs.
PARTITION_COUNTS = [1, 2, 3, 7, 12, 1000, 2147483647]


def show(data):
    return "-" if data is None else "x" + bytes(data).hex()


def parse_bytes(text):
    return None if text == "-" else bytes.fromhex(text[1:])


def dump(data):
    lines = []
    records = MemoryRecords(bytes(data))
    count = 0
    while records.has_next():
        batch = records.next_batch()
        assert isinstance(batch, DefaultRecordBatch), type(batch)
        count += 1
        crc_valid = batch.validate_crc()  # must come before iteration
        lines.append(
            "batch offset_base={} batch_length={} leader_epoch={} magic={} crc={} "
            "crc_valid={} attributes={} compression={} timestamp_type={} transactional={} "
            "control={} last_offset_delta={} first_timestamp={} max_timestamp={} "
            "producer_id={} producer_epoch={} base_sequence={} record_count={}".format(
                batch.base_offset, batch.size_in_bytes - 12, batch.leader_epoch, batch.magic,
                batch.crc, int(crc_valid), batch.attributes, batch.compression_type,
                batch.timestamp_type, int(batch.is_transactional), int(batch.is_control_batch),
                batch.last_offset_delta, batch.first_timestamp, batch.max_timestamp,
                batch.producer_id, batch.producer_epoch, batch.base_sequence,
                batch.records_count))
        for record in batch:
            lines.append("record offset={} timestamp={} timestamp_type={} key={} value={} "
                         "headers={}".format(record.offset, record.timestamp,
                                             record.timestamp_type, show(record.key),
                                             show(record.value), len(record.headers)))
            if isinstance(record, ControlRecord):
                # kafka-python decodes the control key; the value is Kafka's
                # EndTransactionMarker: version int16, coordinatorEpoch int32.
                _, coordinator_epoch = struct.unpack(">hi", bytes(record.value)[:6])
                lines.append("control version={} type={} coordinator_epoch={}".format(
                    record.version, record.type, coordinator_epoch))
            for key, value in record.headers:
                lines.append("header key={} value={}".format(show(key.encode("utf-8")),
                                                             show(value)))
    lines.append("end batches={} valid_bytes={} total_bytes={}".format(
        count, records.valid_bytes(), len(data)))
    return "\n".join(lines) + "\n"


def fields(line):
    kind, *rest = line.split()
    return kind, dict(item.split("=", 1) for item in rest)


def parse_spec(text):
    batches = []
    for line in text.splitlines():
        if not line.strip():
            continue
        kind, f = fields(line)
        if kind == "batch":
            batches.append((f, []))
        elif kind == "record":
            batches[-1][1].append((f, []))
        elif kind == "header":
            key = parse_bytes(f["key"]).decode("utf-8")
            batches[-1][1][-1][1].append((key, parse_bytes(f["value"])))
        else:
            raise ValueError("unknown spec line: " + line)
    return batches


def build(spec, records):
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=spec["transactional"] == "1",
        producer_id=int(spec["producer_id"]), producer_epoch=int(spec["producer_epoch"]),
        base_sequence=int(spec["base_sequence"]), batch_size=1 << 30)
    for f, headers in records:
        metadata = builder.append(int(f["offset"]), int(f["timestamp"]), parse_bytes(f["key"]),
                                  parse_bytes(f["value"]), headers)
        assert metadata is not None, "batch_size too small"
    buffer = builder.build()
    # The builder leaves the base offset to the broker; set it as a broker would. It is not
    # covered by the CRC.
    struct.pack_into(">q", buffer, 0, int(spec["offset_base"]))
    if spec.get("control") == "1":
        # Control batches are written by Kafka's broker (WriteTxnMarkers), not by
        # producers: set the attribute bit as the broker's MemoryRecords.withEndTransactionMarker
        # leaves it, and the CRC over it.
        attributes, = struct.unpack_from(">h", buffer, ATTRIBUTES_OFFSET)
        struct.pack_into(">h", buffer, ATTRIBUTES_OFFSET, attributes | CONTROL)
        crc = calc_crc32c(memoryview(buffer)[ATTRIBUTES_OFFSET:])
        struct.pack_into(">I", buffer, CRC_OFFSET, crc)
    if spec["log_append_time"] != "-":
        # What Kafka's broker does in place (DefaultRecordBatch.setMaxTimestamp).
        attributes, = struct.unpack_from(">h", buffer, ATTRIBUTES_OFFSET)
        struct.pack_into(">h", buffer, ATTRIBUTES_OFFSET, attributes | LOG_APPEND_TIME)
        struct.pack_into(">q", buffer, MAX_TIMESTAMP_OFFSET, int(spec["log_append_time"]))
        crc = calc_crc32c(memoryview(buffer)[ATTRIBUTES_OFFSET:])
        struct.pack_into(">I", buffer, CRC_OFFSET, crc)
    return bytes(buffer)


def main(argv):
    command = argv[1]
    if command == "decode":
        with open(argv[2], "rb") as f:
            data = f.read()
        with open(argv[3], "w") as f:
            f.write(dump(data))
    elif command == "encode":
        with open(argv[2]) as f:
            batches = parse_spec(f.read())
        data = b"".join(build(spec, records) for spec, records in batches)
        with open(argv[3], "wb") as f:
            f.write(data)
        with open(argv[4], "w") as f:
            f.write(dump(data))
    elif command == "murmur2":
        with open(argv[2]) as f:
            keys = [parse_bytes(line.strip()) for line in f if line.strip()]
        with open(argv[3], "w") as f:
            for key in keys:
                # DefaultPartitioner.partition: murmur2(key) & 0x7fffffff % partitions.
                hash_ = murmur2(key)
                partitions = [(hash_ & 0x7FFFFFFF) % count for count in PARTITION_COUNTS]
                f.write(" ".join(str(n) for n in [hash_ & 0xFFFFFFFF] + partitions) + "\n")
    else:
        raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
