#!/usr/bin/env bash
# Builds brooklet's C library, then the C example and the C tests with -Wall -Wextra
# -Werror against include/brooklet.h: the tests once against libbrooklet.so and once
# against libbrooklet.a. Runs them, then runs them again under valgrind (no definite or
# indirect leaks, no invalid access; "still reachable" blocks of Rust's runtime are fine).
# Usage: examples/c/run.sh [--no-valgrind]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
valgrind=1
[[ "${1:-}" == "--no-valgrind" ]] && valgrind=0

cargo build --release -p brooklet-ffi
lib="${CARGO_TARGET_DIR:-$root/target}/release"

work=$(mktemp -d "${TMPDIR:-/tmp}/brooklet-c.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/files"

cflags=(-Wall -Wextra -Werror -O2 -g -I "$root/include")
shared=(-L "$lib" -lbrooklet "-Wl,-rpath,$lib" -pthread)
# What the static library needs from the system (rustc --print native-static-libs).
static=("$lib/libbrooklet.a" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)

echo "-- build (cc $(cc -dumpversion))"
cc "${cflags[@]}" examples/c/test_brooklet.c -o "$work/test_shared" "${shared[@]}"
cc "${cflags[@]}" examples/c/test_brooklet.c -o "$work/test_static" "${static[@]}"
cc "${cflags[@]}" examples/c/example.c -o "$work/example" "${shared[@]}"

echo "-- C tests, libbrooklet.so"
"$work/test_shared" "$work/files"
echo "-- C tests, libbrooklet.a"
"$work/test_static" "$work/files"
echo "-- example.c"
"$work/example" "$work/files"

if [[ $valgrind == 1 ]]; then
  if ! command -v valgrind >/dev/null; then
    echo "valgrind is not installed (apt-get install -y valgrind)" >&2
    exit 1
  fi
  vg=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
      --show-leak-kinds=definite,indirect --error-exitcode=1)
  echo "-- C tests under valgrind"
  "${vg[@]}" "$work/test_shared" "$work/files"
  echo "-- example.c under valgrind"
  "${vg[@]}" "$work/example" "$work/files"
fi
echo "-- C: all passed"
