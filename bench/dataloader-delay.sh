#!/usr/bin/env bash
# What the dataloader's wait before a batch costs, per setting of
# WAVEGATE_DATALOADER_DELAY_US: latency at one connection (where the wait shows) for a
# query with one level of loaders and one with three, throughput at 16 connections, and
# SQL statements per request (where a too-short wait shows as split batches).
#
#   bench/dataloader-delay.sh            release build, the database bench/run.sh seeds
#   bench/dataloader-delay.sh --smoke    debug build, tiny seed, 1 s runs
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

if [ "${1:-}" = "--smoke" ]; then
  build debug; seed_once wavegate_bench_smoke 20 1000; DURATION=1s; DELAYS="0 250"
else
  build release; seed_once wavegate_bench "${BENCH_USERS:-1000}" "${BENCH_FILES:-100000}"; DURATION=10s
  DELAYS="${BENCH_DELAYS:-0 50 100 250 500 1000}"
fi
export TOKEN
TOKEN=$("$BIN" token --sub user-1 --ttl 1h)
graphql_body "$OUT/one-level.json" 'query OneLevel { audioFiles(first: 50) { edges { node { id owner { subject } renditions { format } jobs { status } } } } }'
graphql_body "$OUT/three-levels.json" 'query ThreeLevels { audioFiles(first: 50) { edges { node { id jobs { audioFile { owner { subject } } } } } } }'

printf '%-9s %12s %12s %12s %12s %14s\n' "delay us" "1 level p50" "3 levels p50" "per level" "req/s (c16)" "statements/req"
for delay in $DELAYS; do
  start_server WAVEGATE_CACHE=off WAVEGATE_DATALOADER_DELAY_US="$delay"
  read -r _ one_p50 _ < <(load http://127.0.0.1:18080/graphql "$OUT/one-level.json" 1 "$DURATION")
  read -r _ three_p50 _ < <(load http://127.0.0.1:18080/graphql "$OUT/three-levels.json" 1 "$DURATION")
  before=$(metric wavegate_db_statements_total)
  read -r rps _ _ < <(load http://127.0.0.1:18080/graphql "$OUT/one-level.json" 16 "$DURATION")
  after=$(metric wavegate_db_statements_total)
  stop_server
  per_level=$(awk -v a="$one_p50" -v b="$three_p50" 'function us(x) { if (x ~ /us$/) return x + 0; if (x ~ /ms$/) return x * 1000; return x * 1e6 } BEGIN { printf "%.0fus", (us(b) - us(a)) / 2 }')
  statements=$(awk -v s="$((after - before))" -v r="$rps" -v d="${DURATION%s}" 'BEGIN { printf "%.1f", s / (r * d) }')
  printf '%-9s %12s %12s %12s %12s %14s\n' "$delay" "$one_p50" "$three_p50" "$per_level" "$rps" "$statements"
done
