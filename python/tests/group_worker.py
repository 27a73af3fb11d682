"""A consumer-group member in its own process, for test_processes.py.

    python group_worker.py FILE OUT STOP DELAY

Joins group "workers" on topic "jobs" (from the earliest offset, committing by hand), and
for every record returned writes "PARTITION OFFSET" to OUT, flushes, then commits: at least
once. Sleeps DELAY seconds after each poll. Exits once the file STOP exists and the group
has committed every partition to its end.
"""

from __future__ import annotations

import os
import sys
import time

import brooklet


def main() -> None:
    path, out_path, stop_path, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    with brooklet.open(path) as db, open(out_path, "a") as out:
        with db.consumer("workers", ["jobs"], auto_offset_reset="earliest",
                         enable_auto_commit=False, max_records=20) as consumer:
            print("joined", flush=True)
            while True:
                for record in consumer.poll(timeout=0.1):
                    out.write(f"{record.partition} {record.offset}\n")
                out.flush()
                consumer.commit()
                time.sleep(delay)
                if os.path.exists(stop_path):
                    group = db.describe_group("workers")
                    if all(p.lag == 0 for p in group.partitions):
                        break


if __name__ == "__main__":
    main()
