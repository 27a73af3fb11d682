"""kafka-python's side of tests/kafka/stored_batches.rs: decodes segments read raw from a
brooklet file, with kafka-python's independent RecordBatch v2 codec.

Usage:
  kafka_python_segments.py OUT SEGMENT...

Each SEGMENT file holds the bytes of one segment exactly as stored in the file (its
`bytes_used` bytes from its first page). For each, in order, OUT gets a line
  segment path=PATH
followed by the dump of its bytes in the format of kafka_python_compat.py (batch, record
and header lines, then an end line whose valid_bytes shows how far kafka-python read).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kafka_python_compat import dump  # noqa: E402


def main(argv):
    with open(argv[1], "w") as out:
        for path in argv[2:]:
            with open(path, "rb") as f:
                data = f.read()
            out.write("segment path={}\n".format(path))
            out.write(dump(data))


if __name__ == "__main__":
    main(sys.argv)
