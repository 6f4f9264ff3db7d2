#!/usr/bin/env bash
# The cache benchmark: a Zipf-skewed read mix over many users with 5 % writes (each user
# renaming its own file), without the cache, with it in process, and with it in Redis.
# Every read is checked for staleness (`api/examples/cache_mix.rs`). Prints hit rate,
# stale reads, reads per second, p50 and p99.
#
#   bench/cache-mix.sh            release build, 60 s per run, 1,000 users
#   bench/cache-mix.sh --smoke    debug build, tiny seed, 3 s per run
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

if [ "${1:-}" = "--smoke" ]; then
  build debug; cargo build -q -p wavegate --example cache_mix; MIX="$CARGO_TARGET_DIR/debug/examples/cache_mix"
  seed_once wavegate_bench_smoke 20 1000; USERS=20; SECONDS_PER_RUN=3
else
  build release; cargo build --release -q -p wavegate --example cache_mix; MIX="$CARGO_TARGET_DIR/release/examples/cache_mix"
  seed_once wavegate_bench "${BENCH_USERS:-1000}" "${BENCH_FILES:-100000}"; USERS="${BENCH_USERS:-1000}"; SECONDS_PER_RUN="${BENCH_DURATION_S:-60}"
fi
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
REDIS="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
trap 'stop_server' EXIT
counter() { curl -sf http://127.0.0.1:18080/metrics | awk -v l="result=\"$1\"" '/^wavegate_cache_requests_total\{cache="response"/ && index($0, l) {s += $2} END {print s + 0}'; }

printf '%-22s %9s %7s %10s %9s %9s\n' "cache" "hit rate" "stale" "reads/s" "p50" "p99"
for mode in off local redis; do
  case $mode in
    off) start_server WAVEGATE_CACHE=off ;;
    local) start_server WAVEGATE_CACHE=on ;;
    redis)
      redis-cli -u "$REDIS" --scan --pattern 'wavegate-bench:*' | xargs -r redis-cli -u "$REDIS" del > /dev/null
      start_server WAVEGATE_CACHE=on REDIS_URL="$REDIS" WAVEGATE_REDIS_PREFIX=wavegate-bench: ;;
  esac
  line=$("$MIX" http://127.0.0.1:18080 "$USERS" "$SECONDS_PER_RUN" "$CONNECTIONS")
  hits=$(counter hit); misses=$(counter miss)
  stop_server
  rate=$(awk -v h="$hits" -v m="$misses" 'BEGIN { if (h + m > 0) printf "%.1f%%", 100 * h / (h + m); else print "-" }')
  read -r _ reads _ writes _ errors _ stale _ rps _ p50 _ p99 <<<"$line"
  [ "$errors" = 0 ] || { echo "$mode: $errors failed requests" >&2; exit 1; }
  printf '%-22s %9s %7s %10s %9s %9s\n' "$mode" "$rate" "$stale" "$rps" "$p50" "$p99"
done
redis-cli -u "$REDIS" --scan --pattern 'wavegate-bench:*' | xargs -r redis-cli -u "$REDIS" del > /dev/null
