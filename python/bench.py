"""brooklet's Python benchmark: send_batch against the Rust API, and fetched-record iteration.

    python python/bench.py            # 1M records, 1000-record batches, 3 rounds
    python python/bench.py --quick    # a short smoke run: 200k records (CI)
    python python/bench.py --check    # exit 1 if a target is missed

1. Bulk append: records of a 16-byte key and a 100-byte value, sent in send_batch calls of
   1000 (key, value) tuples at durability "none", to a one-partition topic of a new file.
   The same workload runs through the Rust API in the same process
   (``brooklet._brooklet._rust_send_batch_rate``, which builds its records before its
   clock starts, while the Python clock also covers converting the tuples). Each side
   goes first in every other round, each round on a new file after ``os.sync()``; each
   side's best round counts. Target: Python >= 0.50 of Rust.
2. Iteration: ``for record in db.fetch(...)`` touching ``record.key`` and
   ``record.value``, over the records the Python run wrote (the fetch calls are inside
   the clock). Target: >= 1M records per second.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

# Run as `python python/bench.py`, Python puts python/ first on sys.path, where the
# package's source (without its built native module) would hide the installed package.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import brooklet  # noqa: E402
from brooklet import _brooklet  # noqa: E402

SEND_RATIO_TARGET = 0.50
ITERATE_TARGET = 1_000_000


def make_batches(records: int, batch: int) -> List[List[Tuple[bytes, bytes]]]:
    """The same keys and values as the Rust baseline makes."""
    out = []
    for start in range(0, records, batch):
        chunk = []
        for i in range(start, min(start + batch, records)):
            key = b"key-%012d" % i
            value = (b"value-%012d-" % i).ljust(100, b"x")
            chunk.append((key, value))
        out.append(chunk)
    return out


def python_send_rate(path: Path, batches: List[List[Tuple[bytes, bytes]]]) -> float:
    with brooklet.open(path, durability="none") as db:
        db.create_topic("bench", partitions=1)
        count = sum(len(b) for b in batches)
        started = time.perf_counter()
        for chunk in batches:
            db.send_batch("bench", chunk)
        return count / (time.perf_counter() - started)


def iterate_rate(path: Path, fetch_records: int) -> Tuple[float, float, int]:
    """Records per second of fetch + iteration, and of the iteration alone."""
    with brooklet.open(path, read_only=True) as db:
        end = db.end_offset("bench", 0)
        offset, count, touched = 0, 0, 0
        iterating = 0.0
        started = time.perf_counter()
        while offset < end:
            fetched = db.fetch("bench", 0, offset, max_records=fetch_records, max_bytes=64 << 20)
            loop_started = time.perf_counter()
            for record in fetched:
                touched += len(record.key or b"") + len(record.value or b"")
            iterating += time.perf_counter() - loop_started
            count += len(fetched)
            offset = fetched.next_offset
        total = time.perf_counter() - started
    assert count == end, (count, end)
    return count / total, count / iterating, touched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 200k records, 3 rounds")
    parser.add_argument("--records", type=int, help="records per round (default 1000000)")
    parser.add_argument("--batch", type=int, default=1000, help="records per send_batch (default 1000)")
    parser.add_argument("--rounds", type=int, help="rounds of each side (default 3)")
    parser.add_argument("--fetch-records", type=int, default=10_000, help="max_records of each fetch")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    records = args.records or (200_000 if args.quick else 1_000_000)
    rounds = args.rounds or 3

    batches = make_batches(records, args.batch)
    rust_rates, python_rates = [], []
    with tempfile.TemporaryDirectory(prefix="brooklet-bench-") as tmp:
        kept = Path(tmp) / "iterate.brooklet"
        for round_index in range(rounds):
            # Each side goes first in every other round, and starts with no dirty pages
            # of an earlier round left for the kernel to write back under its clock.
            sides = ["rust", "python"] if round_index % 2 == 0 else ["python", "rust"]
            for side in sides:
                path = Path(tmp) / f"{side}-{round_index}.brooklet"
                os.sync()
                if side == "rust":
                    rust_rates.append(_brooklet._rust_send_batch_rate(path, records, args.batch))
                else:
                    python_rates.append(python_send_rate(path, batches))
                if side == "python" and round_index == rounds - 1:
                    path.rename(kept)
                else:
                    path.unlink()
        os.sync()
        iterate_rates = [iterate_rate(kept, args.fetch_records) for _ in range(rounds)]

    rust, python = max(rust_rates), max(python_rates)
    ratio = python / rust
    fetch_and_iterate = max(r[0] for r in iterate_rates)
    iterate_only = max(r[1] for r in iterate_rates)
    print(f"brooklet Python benchmark: {records} records, {args.batch}-record batches, "
          f"16 B key + 100 B value, durability none, best of {rounds} rounds")
    print(f"  Rust API send_batch      {rust / 1e6:6.2f} M records/s  (rounds: "
          + ", ".join(f"{r / 1e6:.2f}" for r in rust_rates) + ")")
    print(f"  Python send_batch        {python / 1e6:6.2f} M records/s  (rounds: "
          + ", ".join(f"{r / 1e6:.2f}" for r in python_rates) + ")")
    met_send = ratio >= SEND_RATIO_TARGET
    print(f"  Python / Rust            {ratio:6.2f}   target >= {SEND_RATIO_TARGET:.2f}: "
          + ("met" if met_send else "SHORT"))
    met_iterate = fetch_and_iterate >= ITERATE_TARGET
    print(f"  fetch + iterate          {fetch_and_iterate / 1e6:6.2f} M records/s  "
          f"target >= {ITERATE_TARGET / 1e6:.1f} M: " + ("met" if met_iterate else "SHORT"))
    print(f"  iterate alone            {iterate_only / 1e6:6.2f} M records/s  (key and value read)")
    if args.check and not (met_send and met_iterate):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
