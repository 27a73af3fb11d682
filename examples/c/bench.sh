#!/usr/bin/env bash
# The C API against the Rust API on the same workload (examples/c/bench.c and
# ffi/examples/bench_rust.rs): 1000-record send_batch calls, 16-byte key, 100-byte value,
# durability none, then passes fetching and iterating every record (in C, once with
# brooklet_records_next and once with brooklet_records_next_batch). Runs the two
# alternately, RUNS times each, and prints each run and the medians with C/Rust ratios.
# Usage: examples/c/bench.sh [--quick] [RUNS]   (--quick: 100k records instead of 1M)
#        examples/c/bench.sh --instructions   (each workload's instructions per record,
#        counted by valgrind's callgrind on a --quick run: unlike times, they do not depend
#        on what else the machine is doing)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
quick=()
instructions=0
if [[ "${1:-}" == "--instructions" ]]; then
  instructions=1
  quick=(--quick)
  shift
elif [[ "${1:-}" == "--quick" ]]; then
  quick=(--quick)
  shift
fi
runs=${1:-5}

cargo build --release -p brooklet-ffi --lib --example bench_rust
lib="${CARGO_TARGET_DIR:-$root/target}/release"
# The files go under target/ (on disk, not tmpfs); durability none makes no syncs anyway.
work=$(mktemp -d "${CARGO_TARGET_DIR:-$root/target}/brooklet-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cc -Wall -Wextra -Werror -O2 -I include examples/c/bench.c -o "$work/bench" \
  -L "$lib" -lbrooklet "-Wl,-rpath,$lib"

if [[ $instructions == 1 ]]; then
  # Inclusive instruction counts of each phase function, per record it handles (100k sent,
  # 500k fetched), from one callgrind run of each program.
  phase_ir() { # FILE FUNCTION
    callgrind_annotate --inclusive=yes "$1" | awk -v f="$2" '
      index($0, ":" f " ") || $NF ~ (":" f "$") {
        gsub(",", "", $1); if ($1 + 0 > best) best = $1 + 0 }
      END { print best }'
  }
  valgrind --tool=callgrind --callgrind-out-file="$work/c.out" "$work/bench" --quick "$work" \
    >/dev/null 2>&1
  valgrind --tool=callgrind --callgrind-out-file="$work/rust.out" \
    "$lib/examples/bench_rust" --quick "$work" >/dev/null 2>&1
  c_send=$(phase_ir "$work/c.out" send_phase)
  c_next=$(phase_ir "$work/c.out" fetch_next_phase)
  c_batch=$(phase_ir "$work/c.out" fetch_batch_phase)
  r_send=$(phase_ir "$work/rust.out" "bench_rust::send_phase")
  r_fetch=$(phase_ir "$work/rust.out" "bench_rust::fetch_phase")
  awk -v cs="$c_send" -v cn="$c_next" -v cb="$c_batch" -v rs="$r_send" -v rf="$r_fetch" 'BEGIN {
    printf "instructions per record   C      Rust   C/Rust\n"
    printf "send_batch                %-6.0f %-6.0f %.3f\n", cs / 1e5, rs / 1e5, cs / rs
    printf "fetch (records_next)      %-6.0f %-6.0f %.3f\n", cn / 5e5, rf / 5e5, cn / rf
    printf "fetch (records_next_batch) %-5.0f %-6.0f %.3f\n", cb / 5e5, rf / 5e5, cb / rf
  }'
  exit 0
fi

for ((i = 0; i < runs; i++)); do
  "$work/bench" "${quick[@]}" "$work"
  "$lib/examples/bench_rust" "${quick[@]}" "$work"
done | tee "$work/results"

# Median records/s per (language, workload), then C over Rust.
awk '
  { rate[$1 " " $2] = rate[$1 " " $2] " " $(NF - 1) }
  END {
    for (k in rate) {
      n = split(substr(rate[k], 2), v, " ")
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      med[k] = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    split("send_batch fetch fetch_batch", ops, " ")
    split("send_batch fetch fetch", rust, " ")
    for (w = 1; w <= 3; w++) {
      c = med["C " ops[w]]; r = med["Rust " rust[w]]
      printf "median %-11s C %6.2f M records/s, Rust %-10s %6.2f M records/s: C/Rust %.3f (%d runs)\n",
        ops[w], c / 1e6, rust[w], r / 1e6, c / r, n
    }
  }' "$work/results"
