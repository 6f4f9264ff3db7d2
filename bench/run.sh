#!/usr/bin/env bash
# The read-path benchmark: seeds PostgreSQL with 1,000 users and 100,000 files (with
# renditions, jobs and logs), then loads wavegate, uncached (WAVEGATE_CACHE=off), with wrk
# for 20 s at 16 connections: the 50-file page with owner, renditions, jobs and
# downloadUrl on every file, and the by-id query; beside them, the same bytes as the page
# from a static actix-web server with as many workers (the ceiling of this machine). The
# cached page and the ceiling run again at 2 connections, for latency without queueing.
#
#   bench/run.sh            full run (release build)
#   bench/run.sh --smoke    tiny seed, 2 s runs, debug build: checks the script works
#
# Needs wrk and PostgreSQL (BENCH_DATABASE_ADMIN_URL, trust auth on 127.0.0.1 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

if [ "${1:-}" = "--smoke" ]; then
  build debug; seed_once wavegate_bench_smoke 20 1000; DURATION=2s
else
  build release; seed_once wavegate_bench "${BENCH_USERS:-1000}" "${BENCH_FILES:-100000}"; DURATION="${BENCH_DURATION:-20s}"
fi
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
start_server WAVEGATE_CACHE=off
trap 'stop_server; kill ${CEILING:-} 2>/dev/null || true' EXIT
export TOKEN
TOKEN=$("$BIN" token --sub user-1 --ttl 1h)

# The two queries, and a check that they answer without errors.
graphql_body "$OUT/page.json" 'query Page { audioFiles(first: 50) { edges { cursor node { id title sizeBytes durationMs status visibility createdAt owner { id subject } renditions { id format bitrate sizeBytes } jobs { id kind status progress } latestJob { id status } downloadUrl { url expiresAt } } } pageInfo { hasNextPage endCursor } } }'
curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' --data @"$OUT/page.json" \
  http://127.0.0.1:18080/graphql > "$OUT/page-response.json"
if grep -q '"errors"' "$OUT/page-response.json"; then echo "page query failed" >&2; head -c 600 "$OUT/page-response.json" >&2; exit 1; fi
ID=$(grep -o '"id":"[0-9a-f-]*"' "$OUT/page-response.json" | awk -F'"' 'NR == 1 {print $4}')
graphql_body "$OUT/byid.json" "query File { audioFile(id: \\\"$ID\\\") { id title sizeBytes status owner { subject } renditions { format } latestJob { status } downloadUrl { url } } }"
curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' --data @"$OUT/byid.json" \
  http://127.0.0.1:18080/graphql > "$OUT/byid-response.json"
grep -q '"downloadUrl":{' "$OUT/byid-response.json" || { echo "by-id query failed" >&2; cat "$OUT/byid-response.json" >&2; exit 1; }

# The ceiling: the page's bytes from memory.
"$STATIC" "$OUT/page-response.json" 127.0.0.1:18081 > "$OUT/static.log" 2>&1 &
CEILING=$!
for _ in $(seq 1 100); do curl -sf -X POST http://127.0.0.1:18081/ >/dev/null && break; sleep 0.1; done

read -r page_rps page_p50 page_p99 < <(load http://127.0.0.1:18080/graphql "$OUT/page.json" "$CONNECTIONS" "$DURATION")
read -r byid_rps byid_p50 byid_p99 < <(load http://127.0.0.1:18080/graphql "$OUT/byid.json" "$CONNECTIONS" "$DURATION")
read -r ceil_rps ceil_p50 ceil_p99 < <(load http://127.0.0.1:18081/ "$OUT/page.json" "$CONNECTIONS" "$DURATION")

# Latency with the machine not saturated: a few connections (wrk and the server share
# the cores, so at 16 connections queueing dominates every p99, the ceiling's too).
FEW="${BENCH_FEW_CONNECTIONS:-2}"
read -r ceil_few_rps ceil_few_p50 ceil_few_p99 < <(load http://127.0.0.1:18081/ "$OUT/page.json" "$FEW" "$DURATION")

# The same page answered from the response cache: in process, then shared through Redis.
stop_server
start_server WAVEGATE_CACHE=on
read -r local_rps local_p50 local_p99 < <(load http://127.0.0.1:18080/graphql "$OUT/page.json" "$CONNECTIONS" "$DURATION")
read -r local_few_rps local_few_p50 local_few_p99 < <(load http://127.0.0.1:18080/graphql "$OUT/page.json" "$FEW" "$DURATION")
stop_server
REDIS="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
redis-cli -u "$REDIS" --scan --pattern 'wavegate-bench:*' | xargs -r redis-cli -u "$REDIS" del > /dev/null
start_server WAVEGATE_CACHE=on REDIS_URL="$REDIS" WAVEGATE_REDIS_PREFIX=wavegate-bench:
read -r redis_rps redis_p50 redis_p99 < <(load http://127.0.0.1:18080/graphql "$OUT/page.json" "$CONNECTIONS" "$DURATION")
read -r redis_few_rps redis_few_p50 redis_few_p99 < <(load http://127.0.0.1:18080/graphql "$OUT/page.json" "$FEW" "$DURATION")
redis-cli -u "$REDIS" --scan --pattern 'wavegate-bench:*' | xargs -r redis-cli -u "$REDIS" del > /dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "wavegate read path, uncached, on PostgreSQL; wrk -c$CONNECTIONS -d$DURATION on $(nproc) cores"
echo "page response: $(wc -c < "$OUT/page-response.json") bytes"
printf '%-34s %10s %10s %10s %11s\n' "endpoint" "req/s" "p50" "p99" "of ceiling"
printf '%-34s %10s %10s %10s %11s\n' "50-file page (downloadUrl each)" "$page_rps" "$page_p50" "$page_p99" "$(ratio "$page_rps" "$ceil_rps")"
printf '%-34s %10s %10s %10s %11s\n' "file by id" "$byid_rps" "$byid_p50" "$byid_p99" "$(ratio "$byid_rps" "$ceil_rps")"
printf '%-34s %10s %10s %10s %11s\n' "page, cached in process" "$local_rps" "$local_p50" "$local_p99" "$(ratio "$local_rps" "$ceil_rps")"
printf '%-34s %10s %10s %10s %11s\n' "page, cached through Redis" "$redis_rps" "$redis_p50" "$redis_p99" "$(ratio "$redis_rps" "$ceil_rps")"
printf '%-34s %10s %10s %10s %11s\n' "static ceiling (same bytes)" "$ceil_rps" "$ceil_p50" "$ceil_p99" "1.00"
echo
echo "the same at $FEW connections"
printf '%-34s %10s %10s %10s %11s\n' "page, cached in process" "$local_few_rps" "$local_few_p50" "$local_few_p99" "$(ratio "$local_few_rps" "$ceil_few_rps")"
printf '%-34s %10s %10s %10s %11s\n' "page, cached through Redis" "$redis_few_rps" "$redis_few_p50" "$redis_few_p99" "$(ratio "$redis_few_rps" "$ceil_few_rps")"
printf '%-34s %10s %10s %10s %11s\n' "static ceiling (same bytes)" "$ceil_few_rps" "$ceil_few_p50" "$ceil_few_p99" "1.00"
