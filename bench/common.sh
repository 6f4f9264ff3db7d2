# Shared by the benchmark scripts: build, seed once, start and stop wavegate, run wrk.
# Sourced, not run. Expects to be called from the repository root.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wavegate-target}"
BENCH_ADMIN_URL="${BENCH_DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
OUT=bench/out
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

# build PROFILE: builds wavegate and the static ceiling; sets BIN and STATIC.
build() {
  local profile=$1
  if [ "$profile" = release ]; then
    cargo build --release -q -p wavegate --bin wavegate --example static_ceiling
  else
    cargo build -q -p wavegate --bin wavegate --example static_ceiling
  fi
  BIN="$CARGO_TARGET_DIR/$profile/wavegate"
  STATIC="$CARGO_TARGET_DIR/$profile/examples/static_ceiling"
}

# seed_once DB USERS FILES: a database and data dir seeded once per (users, files); exports
# the settings that point wavegate at them.
seed_once() {
  local db=$1 users=$2 files=$3
  export DATABASE_URL="${BENCH_ADMIN_URL%/*}/$db"
  export WAVEGATE_DATA_DIR="$OUT/data-$db"
  export WAVEGATE_LISTEN=127.0.0.1:18080
  export WAVEGATE_EMBEDDED_S3_LISTEN=127.0.0.1:19000
  export WAVEGATE_JWT_SECRET=bench-secret-bench-secret-bench-secret-00
  export WAVEGATE_LOG=warn
  local stamp="$WAVEGATE_DATA_DIR/seeded-$users-$files"
  if [ ! -f "$stamp" ]; then
    psql "$BENCH_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    rm -rf "$WAVEGATE_DATA_DIR"
    "$BIN" seed --users "$users" --files "$files"
    psql "$DATABASE_URL" -qc "VACUUM ANALYZE"
    touch "$stamp"
  fi
}

# start_server [VAR=value ...]: starts wavegate with extra settings; waits until ready.
start_server() {
  env "$@" "$BIN" serve > "$OUT/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && return; sleep 0.1; done
  echo "wavegate did not become ready:" >&2; cat "$OUT/serve.log" >&2; exit 1
}

stop_server() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}

# graphql_body FILE QUERY: writes a JSON request body (QUERY must not hold double quotes).
graphql_body() {
  printf '{"query": "%s"}' "$2" > "$1"
}

# load URL BODY CONNECTIONS DURATION: runs wrk; prints "rps p50 p99".
load() {
  local url=$1 body=$2 connections=$3 duration=$4 threads=2
  [ "$connections" -lt 2 ] && threads=1
  BODY_FILE=$body wrk -t"$threads" -c"$connections" -d"$duration" --latency -s bench/post.lua "$url" > "$OUT/wrk.txt"
  if grep -q "Non-2xx" "$OUT/wrk.txt"; then
    echo "non-2xx responses:" >&2; cat "$OUT/wrk.txt" >&2; exit 1
  fi
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$OUT/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$OUT/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$OUT/wrk.txt")
  echo "$rps $p50 $p99"
}

# metric NAME: the value of an unlabelled metric on the running wavegate.
metric() {
  curl -sf http://127.0.0.1:18080/metrics | awk -v n="$1" '$1 == n {print $2}'
}
