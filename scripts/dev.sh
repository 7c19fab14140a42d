#!/usr/bin/env bash
# `make dev`: runs the system locally until Ctrl-C, then stops what it started.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

trap 'infra/local/down.sh' EXIT INT TERM
infra/local/up.sh
# shellcheck disable=SC1091
source .local/stack.env
cargo run --quiet -p cogadmin -- account put u_demo --beta --org demo-org:admin >/dev/null

cat <<MSG

The local stack is up (Ctrl-C stops it):
  DynamoDB Local  $AWS_ENDPOINT_URL_DYNAMODB   table $TABLE_NAME
  KMS emulator    $AWS_ENDPOINT_URL_KMS   key $PEPPER_KEY_ID
  demo account    u_demo (PAT beta on, admin of demo-org)

In another shell:
  source .local/stack.env
  cargo run -p cogadmin -- account get u_demo
  cargo run -p cogadmin -- pepper list
MSG
while true; do sleep 3600; done
