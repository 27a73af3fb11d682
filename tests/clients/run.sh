#!/usr/bin/env bash
# Real Kafka clients against `brooklet serve`: kcat (librdkafka), confluent-kafka and
# kafka-python, each producing and consuming, cross-checked with the embedded CLI; over
# TLS, mTLS and SASL too (certificates made by trustme in the tests).
# Needs target/release/brooklet (`cargo build --release --bin brooklet`). About a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
if ! command -v kcat >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq kcat
fi
env_dir=$(mktemp -d)
trap 'rm -rf "$env_dir"' EXIT
python3 -m venv "$env_dir/venv"
"$env_dir/venv/bin/pip" install --quiet confluent-kafka kafka-python pytest trustme \
  python-snappy lz4 zstandard  # kafka-python's optional codecs
(cd "$env_dir" && BROOKLET_BIN="$repo/target/release/brooklet" \
  "$env_dir/venv/bin/python" -m pytest "$repo/tests/clients" -q -p no:cacheprovider)
