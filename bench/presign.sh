#!/usr/bin/env bash
# Presigning cost per URL: aws-sdk-s3's presigned() against wavegate's rusty-s3 signer.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wavegate-target}"
cargo bench -q -p wavegate --bench presign
