#!/usr/bin/env bash
# Stops the Garage that start.sh started and removes what it left in its directory:
#
#   tests/garage/stop.sh [DIR]      # DIR defaults to $WAVEGATE_GARAGE_DIR
#
# Safe to run twice, or when the server already exited.
set -euo pipefail

dir="${1:-${WAVEGATE_GARAGE_DIR:-}}"
if [ -z "$dir" ]; then
  echo "stop.sh: which Garage? give its directory or set WAVEGATE_GARAGE_DIR" >&2
  exit 1
fi
[ -d "$dir" ] || exit 0

# The server: asked to stop, then forced after 10 s.
if [ -f "$dir/garage.pid" ]; then
  pid="$(cat "$dir/garage.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
fi

# Only what start.sh made; the directory goes too when that leaves it empty.
rm -rf "$dir/meta" "$dir/data"
rm -f "$dir/garage.toml" "$dir/garage.log" "$dir/garage.pid"
rmdir "$dir" 2>/dev/null || true
