#!/usr/bin/env bash
# The job benchmark on PostgreSQL: claims per second with 8 workers, each claiming over
# HTTP until the queue is empty; then the time from `reportJobProgress` to the
# `jobUpdates` subscriber's message, on one instance and across two instances sharing
# Redis (`api/examples/job_bench.rs`).
#
# Last, log paging: the first page, a page near the end and the first page of errors only,
# of a job with a million lines beside a job with ten.
#
#   bench/jobs.sh            release build, 20,000 jobs, 2,000 progress reports
#   bench/jobs.sh --smoke    debug build, tiny seed, 400 jobs, 100 reports, 10,000 lines
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

if [ "${1:-}" = "--smoke" ]; then
  build debug; cargo build -q -p wavegate --example job_bench; TOOL="$CARGO_TARGET_DIR/debug/examples/job_bench"
  seed_once wavegate_bench_smoke 20 1000; JOBS=400; REPORTS=100; LINES=10000; LOAD_FOR=1s
else
  build release; cargo build --release -q -p wavegate --example job_bench; TOOL="$CARGO_TARGET_DIR/release/examples/job_bench"
  seed_once wavegate_bench "${BENCH_USERS:-1000}" "${BENCH_FILES:-100000}"; JOBS="${BENCH_JOBS:-20000}"; REPORTS="${BENCH_REPORTS:-2000}"
  LINES="${BENCH_LOG_LINES:-1000000}"; LOAD_FOR=5s
fi
WORKERS="${BENCH_WORKERS:-8}"
REDIS="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
SECOND=""
cleanup() {
  stop_server
  [ -n "$SECOND" ] && { kill "$SECOND" 2>/dev/null || true; wait "$SECOND" 2>/dev/null || true; }
  psql "$DATABASE_URL" -qc "DELETE FROM processing_jobs WHERE kind IN ('bench-claim', 'bench-live', 'bench-logs-big', 'bench-logs-small')" || true
  redis-cli -u "$REDIS" --scan --pattern 'wavegate-bench-jobs:*' | xargs -r redis-cli -u "$REDIS" del > /dev/null || true
}
trap cleanup EXIT

# Queued jobs of a kind no seeded job has, spread over the seeded files.
queue() {
  local kind=$1 n=$2
  psql "$DATABASE_URL" -qc "DELETE FROM processing_jobs WHERE kind = '$kind'" -c "
    INSERT INTO processing_jobs (id, audio_file_id, kind, status, progress, attempts, created_at, due_at)
    SELECT gen_random_uuid(), f.id, '$kind', 'queued', 0, 0, now(), now()
    FROM generate_series(1, $n) AS g
    JOIN LATERAL (SELECT id FROM audio_files WHERE status = 'ready' OFFSET (g % 500) LIMIT 1) f ON true" \
    -c "ANALYZE processing_jobs"
}

start_server REDIS_URL="$REDIS" WAVEGATE_REDIS_PREFIX=wavegate-bench-jobs:
queue bench-claim "$JOBS"
read -r _ claimed _ secs _ rate _ c50 _ c99 <<<"$("$TOOL" claims http://127.0.0.1:18080 "$WORKERS")"
[ "$claimed" = "$JOBS" ] || { echo "claimed $claimed of $JOBS jobs" >&2; exit 1; }
left=$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM processing_jobs WHERE kind = 'bench-claim' AND status = 'queued'")
[ "$left" = 0 ] || { echo "$left jobs left unclaimed" >&2; exit 1; }

printf '%-44s %10s %10s %10s\n' "claims ($WORKERS workers, $JOBS jobs)" "claims/s" "p50" "p99"
printf '%-44s %10s %9sms %9sms\n' "claimJob over HTTP, PostgreSQL" "$rate" "$c50" "$c99"
echo

# One live job; a subscriber on the same instance, then on a second one.
printf '%-44s %10s %10s %10s\n' "progress → subscriber ($REPORTS reports)" "p50" "p99" "max"
queue bench-live 1
live=$(psql "$DATABASE_URL" -tAc "SELECT id, audio_file_id FROM processing_jobs WHERE kind = 'bench-live'")
job=${live%|*}; file=${live#*|}
read -r _ _ _ p50 _ p99 _ max <<<"$("$TOOL" latency http://127.0.0.1:18080 http://127.0.0.1:18080 "$job" "$file" "$REPORTS")"
printf '%-44s %8sms %8sms %8sms\n' "same instance" "$p50" "$p99" "$max"

queue bench-live 1
live=$(psql "$DATABASE_URL" -tAc "SELECT id, audio_file_id FROM processing_jobs WHERE kind = 'bench-live'")
job=${live%|*}; file=${live#*|}
env REDIS_URL="$REDIS" WAVEGATE_REDIS_PREFIX=wavegate-bench-jobs: WAVEGATE_LISTEN=127.0.0.1:18081 \
  WAVEGATE_EMBEDDED_S3_LISTEN=127.0.0.1:19001 "$BIN" serve > "$OUT/serve-2.log" 2>&1 &
SECOND=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18081/readyz >/dev/null && break; sleep 0.1; done
read -r _ _ _ p50 _ p99 _ max <<<"$("$TOOL" latency http://127.0.0.1:18080 http://127.0.0.1:18081 "$job" "$file" "$REPORTS")"
printf '%-44s %8sms %8sms %8sms\n' "across two instances (Redis pub/sub)" "$p50" "$p99" "$max"

# Log paging. Lines go straight into the table (one error in a thousand, the rest info);
# each page asks 100 lines, at 2 connections for latency without queueing.
echo
log_lines() {
  local job=$1 n=$2
  psql "$DATABASE_URL" -qc "
    INSERT INTO processing_logs (job_id, level, message, at)
    SELECT '$job', CASE WHEN g % 1000 = 0 THEN 40 ELSE 20 END, 'frame ' || g || ' encoded', now()
    FROM generate_series(1, $n) AS g" -c "ANALYZE processing_logs"
}
queue bench-logs-big 1
queue bench-logs-small 1
big=$(psql "$DATABASE_URL" -tAc "SELECT id FROM processing_jobs WHERE kind = 'bench-logs-big'")
small=$(psql "$DATABASE_URL" -tAc "SELECT id FROM processing_jobs WHERE kind = 'bench-logs-small'")
log_lines "$big" "$LINES"
log_lines "$small" 10
export TOKEN
TOKEN=$("$BIN" token --sub bench-admin --role admin --ttl 1h)
page() {
  local job=$1 args=$2 body="$OUT/logs.json"
  graphql_body "$body" "query Logs { processingJob(id: \\\"$job\\\") { logs($args) { edges { cursor node { level message at } } pageInfo { hasNextPage } } } }"
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' --data @"$body" \
    http://127.0.0.1:18080/graphql | grep -q '"edges":\[{' || { echo "log query failed: $args" >&2; exit 1; }
  load http://127.0.0.1:18080/graphql "$body" 2 "$LOAD_FOR"
}
near_end() {
  psql "$DATABASE_URL" -tAc "SELECT id FROM processing_logs WHERE job_id = '$1' ORDER BY id DESC OFFSET $2 LIMIT 1"
}
printf '%-44s %10s %10s %10s %10s\n' "log page of 100 lines" "$LINES lines" "10 lines" "p99 big" "ratio p50"
for what in first near-end errors; do
  case $what in
    first) a="first: 100"; b="first: 100" ;;
    near-end) a="first: 100, after: \\\"$(near_end "$big" 150)\\\""; b="first: 100, after: \\\"$(near_end "$small" 5)\\\"" ;;
    errors) a="first: 100, minLevel: ERROR"; b="first: 100" ;;
  esac
  read -r _ big50 big99 < <(page "$big" "$a")
  read -r _ small50 _ < <(page "$small" "$b")
  ratio=$(awk -v a="$big50" -v b="$small50" 'function ms(x) { if (x ~ /us$/) return x / 1000; if (x ~ /ms$/) return x + 0; return x * 1000 } BEGIN { printf "%.2f", ms(a) / ms(b) }')
  printf '%-44s %10s %10s %10s %10s\n' "$what" "$big50" "$small50" "$big99" "$ratio"
done
