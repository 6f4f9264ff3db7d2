#!/usr/bin/env bash
# The job benchmark on PostgreSQL: claims per second with 8 workers, each claiming over
# HTTP until the queue is empty; then the time from `reportJobProgress` to the
# `jobUpdates` subscriber's message, on one instance and across two instances sharing
# Redis (`api/examples/job_bench.rs`).
#
#   bench/jobs.sh            release build, 20,000 jobs, 2,000 progress reports
#   bench/jobs.sh --smoke    debug build, tiny seed, 400 jobs, 100 reports
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

if [ "${1:-}" = "--smoke" ]; then
  build debug; cargo build -q -p wavegate --example job_bench; TOOL="$CARGO_TARGET_DIR/debug/examples/job_bench"
  seed_once wavegate_bench_smoke 20 1000; JOBS=400; REPORTS=100
else
  build release; cargo build --release -q -p wavegate --example job_bench; TOOL="$CARGO_TARGET_DIR/release/examples/job_bench"
  seed_once wavegate_bench "${BENCH_USERS:-1000}" "${BENCH_FILES:-100000}"; JOBS="${BENCH_JOBS:-20000}"; REPORTS="${BENCH_REPORTS:-2000}"
fi
WORKERS="${BENCH_WORKERS:-8}"
REDIS="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
SECOND=""
cleanup() {
  stop_server
  [ -n "$SECOND" ] && { kill "$SECOND" 2>/dev/null || true; wait "$SECOND" 2>/dev/null || true; }
  psql "$DATABASE_URL" -qc "DELETE FROM processing_jobs WHERE kind IN ('bench-claim', 'bench-live')" || true
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
