#!/usr/bin/env bash
# CI's benchmark smoke: each benchmark runs briefly on a debug build, so a broken
# benchmark fails CI; the figures it prints mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wavegate-target}"

# The tools the benchmark scripts drive, from Debian's packages when missing.
missing=""
for tool in wrk jq bc; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq $missing >/dev/null; }
fi
PRESIGN_ITERATIONS=200 cargo test -q -p wavegate --bench presign
bench/run.sh --smoke
bench/dataloader-delay.sh --smoke
bench/upload.sh --smoke
bench/cache-mix.sh --smoke
bench/jobs.sh --smoke

# Leave nothing behind.
psql postgres://postgres@127.0.0.1:5432/postgres -qc "DROP DATABASE IF EXISTS wavegate_bench_smoke WITH (FORCE)"
rm -rf bench/out/data-wavegate_bench_smoke
