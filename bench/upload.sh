#!/usr/bin/env bash
# The upload benchmark: a large file (2 GiB by default) into the embedded S3 server three
# ways, with wavegate's peak memory over its resting memory for each:
#
#   direct PUT      one presigned PUT straight to storage (the reference throughput)
#   multipart       presigned parts straight to storage, 4 at a time, then completeUpload
#   uploadAudio     through the gateway (GraphQL multipart request)
#
# completeUpload's verification (streaming the object once to hash and probe it) is timed
# on its own. Each way gets different bytes, so none is deduplicated.
#
#   bench/upload.sh              2 GiB, release build
#   bench/upload.sh --smoke      16 MiB, debug build
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wavegate-target}"
OUT=bench/out/upload
rm -rf "$OUT" && mkdir -p "$OUT"

if [ "${1:-}" = "--smoke" ]; then
  MIB=16; PROFILE=debug; cargo build -q -p wavegate --bin wavegate
else
  MIB="${BENCH_UPLOAD_MIB:-2048}"; PROFILE=release; cargo build --release -q -p wavegate --bin wavegate
fi
BIN="$CARGO_TARGET_DIR/$PROFILE/wavegate"
export WAVEGATE_JWT_SECRET=bench-secret-bench-secret-bench-secret-00
SIZE=$((MIB * 1024 * 1024))

# A silent 44.1 kHz mono WAV of SIZE bytes (silence is still audio to the probe).
python3 - "$OUT/take.wav" "$SIZE" <<'PY'
import struct, sys
path, size = sys.argv[1], int(sys.argv[2])
data = size - 44
with open(path, "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", data + 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 44100, 88200, 2, 16))
    f.write(b"data" + struct.pack("<I", data))
    f.truncate(size)
PY

# Storage: a wavegate whose embedded S3 server holds the objects; its own memory is not
# measured. The gateway under test reaches it as an ordinary S3 endpoint, so the gateway's
# memory is its own. The threshold decides whether a declaration gets one PUT or a
# multipart plan, so the direct PUT gets a gateway of its own.
WAVEGATE_DATA_DIR="$OUT/storage" WAVEGATE_LISTEN=127.0.0.1:18091 WAVEGATE_EMBEDDED_S3_LISTEN=127.0.0.1:19091 \
  WAVEGATE_LOG=warn "$BIN" serve > "$OUT/storage.log" 2>&1 &
STORAGE=$!
serve() {
  WAVEGATE_DATA_DIR="$OUT/gateway" WAVEGATE_LISTEN=127.0.0.1:18090 WAVEGATE_LOG=warn \
  WAVEGATE_S3_ENDPOINT=http://127.0.0.1:19091 WAVEGATE_S3_ACCESS_KEY=wavegate \
  WAVEGATE_S3_SECRET_KEY=wavegate-embedded-dev-secret \
  WAVEGATE_MAX_UPLOAD_BYTES=$((SIZE * 2)) "$@" "$BIN" serve > "$OUT/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18090/readyz >/dev/null && return; sleep 0.1; done
  echo "wavegate did not start" >&2; cat "$OUT/serve.log" >&2; exit 1
}
stop() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
trap 'stop; kill $STORAGE 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18091/readyz >/dev/null && break; sleep 0.1; done
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
peak_kib() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER/status"; }
reset_peak() { echo 5 > "/proc/$SERVER/clear_refs"; }
now() { date +%s.%N; }
gql() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' --data "$1" http://127.0.0.1:18090/graphql; }

# Makes the file's bytes distinct for each way (its last sample), and declares them.
variant() {
  printf "\\x$(printf %02x "$1")" | dd of="$OUT/take.wav" bs=1 seek=$((SIZE - 1)) conv=notrunc status=none
  SHA=$(sha256sum "$OUT/take.wav" | cut -d' ' -f1)
}
create() {
  gql "$(jq -nc --arg sha "$SHA" --argjson size "$SIZE" \
    '{query: "mutation($i: CreateUploadInput!) { createUpload(input: $i) { audioFile { id } put { url headers { name value } } multipart { partSizeBytes parts { partNumber url } } } }",
      variables: {i: {filename: "take.wav", contentType: "audio/wav", sizeBytes: $size, sha256: $sha}}}')"
}
complete() {
  gql "$(jq -nc --arg id "$1" '{query: "mutation($id: ID!) { completeUpload(audioFileId: $id) { status } }", variables: {id: $id}}')" \
    | jq -r '.data.completeUpload.status // .errors[0].message'
}

# 1. Direct PUT (one presigned PUT of the whole file).
serve env WAVEGATE_MULTIPART_THRESHOLD_BYTES=$((SIZE * 2))
TOKEN=$("$BIN" token --sub bench --ttl 1h)
variant 1
ticket=$(create)
rest=$(rss_kib); reset_peak
t0=$(now)
url=$(jq -r '.data.createUpload.put.url' <<<"$ticket")
curl -sf -X PUT -H 'Content-Type: audio/wav' \
  -H "x-amz-checksum-sha256: $(jq -r '.data.createUpload.put.headers[] | select(.name == "x-amz-checksum-sha256") | .value' <<<"$ticket")" \
  -T "$OUT/take.wav" "$url" >/dev/null
t1=$(now)
direct_s=$(echo "$t1 - $t0" | bc -l); direct_peak=$(( $(peak_kib) - rest ))
stop

# 2. Presigned multipart, 4 parts at a time, then completion.
serve
variant 2
ticket=$(create)
id=$(jq -r '.data.createUpload.audioFile.id' <<<"$ticket")
part_size=$(jq -r '.data.createUpload.multipart.partSizeBytes' <<<"$ticket")
jq -r '.data.createUpload.multipart.parts[] | "\(.partNumber) \(.url)"' <<<"$ticket" > "$OUT/parts.txt"
rest=$(rss_kib); reset_peak
t0=$(now)
# Each part: its slice of the file, PUT to its URL.
xargs -P 4 -L 1 bash -c 'dd if="$0" bs="$1" skip=$(( $2 - 1 )) count=1 status=none | curl -sf -X PUT --data-binary @- "$3" >/dev/null' \
  "$OUT/take.wav" "$part_size" < "$OUT/parts.txt"
t1=$(now)
multipart_peak=$(( $(peak_kib) - rest ))
reset_peak
status=$(complete "$id")
t2=$(now)
[ "$status" = READY ] || { echo "multipart completion: $status" >&2; exit 1; }
multipart_s=$(echo "$t1 - $t0" | bc -l); verify_s=$(echo "$t2 - $t1" | bc -l); verify_peak=$(( $(peak_kib) - rest ))

# 3. Through the gateway.
variant 3
rest=$(rss_kib); reset_peak
t0=$(now)
answer=$(curl -sf -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18090/graphql \
  -F operations='{"query":"mutation($f: Upload!) { uploadAudio(file: $f) { status } }","variables":{"f":null}}' \
  -F map='{"0":["variables.f"]}' -F "0=@$OUT/take.wav;type=audio/wav")
t1=$(now)
[ "$(jq -r '.data.uploadAudio.status' <<<"$answer")" = READY ] || { echo "uploadAudio: $answer" >&2; exit 1; }
gateway_s=$(echo "$t1 - $t0" | bc -l); gateway_peak=$(( $(peak_kib) - rest ))
stop

mibs() { echo "$MIB / $1" | bc -l; }
echo
echo "uploading $MIB MiB to S3 (an embedded S3 server in another process; $PROFILE build, $(nproc) cores)"
printf '%-34s %10s %12s %14s %22s\n' "way" "seconds" "MiB/s" "of direct" "gateway peak over rest"
printf '%-34s %10.2f %12.1f %14s %19d MiB\n' "direct PUT (presigned, one request)" "$direct_s" "$(mibs "$direct_s")" "1.00" $((direct_peak / 1024))
printf '%-34s %10.2f %12.1f %14.2f %19d MiB\n' "presigned multipart, 4 at a time" "$multipart_s" "$(mibs "$multipart_s")" "$(echo "$direct_s / $multipart_s" | bc -l)" $((multipart_peak / 1024))
printf '%-34s %10.2f %12.1f %14.2f %19d MiB\n' "uploadAudio through the gateway" "$gateway_s" "$(mibs "$gateway_s")" "$(echo "$direct_s / $gateway_s" | bc -l)" $((gateway_peak / 1024))
printf 'completeUpload of the multipart file (assemble, hash, probe): %.2f s, gateway peak over rest %d MiB\n' "$verify_s" $((verify_peak / 1024))
rm -rf "$OUT"
