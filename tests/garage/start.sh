#!/usr/bin/env bash
# Starts a one-node Garage on loopback for the integration tests and prints, on stdout
# only, the `export` lines that point the test harness at it:
#
#   eval "$(tests/garage/start.sh [DIR])"
#   cargo test --workspace
#   tests/garage/stop.sh            # or: tests/garage/stop.sh DIR
#
# DIR (a new temporary directory when omitted) holds the configuration, metadata, data,
# log (garage.log) and pid file (garage.pid). The node gets a random RPC secret and admin
# token, free loopback ports (S3 from 3900 up, then RPC and the admin API), a layout for
# itself alone, and one access key allowed to create buckets: each test creates and
# removes its own bucket (through the admin API, for a global name; see tests/src/lib.rs).
# Needs the `garage` binary on PATH (cargo install garage --locked); made for Garage 2.5.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
garage_bin="${GARAGE_BIN:-garage}"
command -v "$garage_bin" >/dev/null || {
  echo "start.sh: no garage binary on PATH (cargo install garage --locked)" >&2
  exit 1
}

# The node's directory: the one given (created when missing) or a new temporary one.
if [ $# -ge 1 ]; then
  dir="$1"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
else
  dir="$(mktemp -d "${TMPDIR:-/tmp}/wavegate-garage.XXXXXX")"
fi
if [ -f "$dir/garage.pid" ] && kill -0 "$(cat "$dir/garage.pid")" 2>/dev/null; then
  echo "start.sh: a Garage already runs from $dir (pid $(cat "$dir/garage.pid")); stop.sh $dir first" >&2
  exit 1
fi
# A directory this script set up before starts afresh: the tests need no old state.
if [ -f "$dir/garage.toml" ]; then
  rm -rf "$dir/meta" "$dir/data"
fi

# The first port from $1 up that nothing on loopback listens on.
free_port() {
  local port="$1"
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port"
}
s3_port="$(free_port "${GARAGE_S3_PORT:-3900}")"
rpc_port="$(free_port $((s3_port + 1)))"
admin_port="$(free_port $((rpc_port + 1)))"
random_hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
rpc_secret="$(random_hex)"
admin_token="$(random_hex)"

sed -e "s|@DIR@|$dir|g" -e "s|@RPC_PORT@|$rpc_port|g" \
  -e "s|@RPC_SECRET@|$rpc_secret|g" -e "s|@S3_PORT@|$s3_port|g" \
  -e "s|@ADMIN_PORT@|$admin_port|g" -e "s|@ADMIN_TOKEN@|$admin_token|g" \
  "$here/garage.toml.in" >"$dir/garage.toml"
chmod 600 "$dir/garage.toml"
garage() { command "$garage_bin" -c "$dir/garage.toml" "$@"; }

# The server, detached from this shell; its log says why when it does not come up.
RUST_LOG="${GARAGE_LOG:-garage=warn}" setsid "$garage_bin" -c "$dir/garage.toml" server \
  </dev/null >"$dir/garage.log" 2>&1 &
echo $! >"$dir/garage.pid"

# Retries a command for up to 60 s while the server is alive; gives up with the log.
retry() {
  local what="$1"
  shift
  for _ in $(seq 1 120); do
    "$@" >/dev/null 2>&1 && return 0
    if ! kill -0 "$(cat "$dir/garage.pid")" 2>/dev/null; then
      echo "start.sh: garage exited while waiting to $what; its log:" >&2
      tail -n 30 "$dir/garage.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "start.sh: garage did not $what within 60 s; last attempt:" >&2
  "$@" >&2 || true
  exit 1
}
retry "answer on RPC" garage status

# The layout: this node alone holds all data.
node_id="$(garage node id -q 2>/dev/null | cut -d@ -f1)"
garage layout assign "$node_id" -z dc1 -c 1G >/dev/null
garage layout apply --version 1 >/dev/null

# The tests' key: allowed to create buckets (wavegate creates its bucket at start).
retry "create the access key" garage key create wavegate-tests
garage key allow --create-bucket wavegate-tests >/dev/null
access_key="$(garage key info wavegate-tests --key-id)"
secret_key="$(garage key info wavegate-tests --secret-key)"

# The S3 and admin APIs answer once the new layout has reached them.
retry "serve S3" bash -c "exec 3<>/dev/tcp/127.0.0.1/$s3_port"
retry "serve the admin API" bash -c "exec 3<>/dev/tcp/127.0.0.1/$admin_port"

echo "started Garage in $dir: S3 on 127.0.0.1:$s3_port, pid $(cat "$dir/garage.pid")" >&2
cat <<VARS
export WAVEGATE_GARAGE_DIR=$dir
export WAVEGATE_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port
export WAVEGATE_TEST_S3_ACCESS_KEY=$access_key
export WAVEGATE_TEST_S3_SECRET_KEY=$secret_key
export WAVEGATE_TEST_S3_REGION=garage
export WAVEGATE_TEST_GARAGE_ADMIN_URL=http://127.0.0.1:$admin_port
export WAVEGATE_TEST_GARAGE_ADMIN_TOKEN=$admin_token
VARS
