#!/usr/bin/env bash
# `make bench`: release-build benchmarks, each reported against a baseline
# measured in the same run. Starts a private local stack for the figures that
# need DynamoDB and KMS, and stops it afterwards.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}
export COG_TOOLS_DIR=${COG_TOOLS_DIR:-$repo/.local/tools}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export COG_STATE_DIR="$repo/.local/bench-stack"
export COG_DYNAMODB_PORT=$(free_port) COG_KMS_PORT=$(free_port) TABLE_NAME=cog-tokens-bench
trap 'infra/local/down.sh' EXIT
infra/local/up.sh
# shellcheck disable=SC1091
source "$COG_STATE_DIR/stack.env"

cargo bench -p cog-tokens --bench token
cargo bench -p authorizer --bench handler
python3 functions/authorizer/benches/python_baseline.py | tee "$target/python_baseline.md"
cargo build --release --workspace --bins
cargo bench -p cog-integration-tests --bench authorizer_stack | tee "$target/authorizer_stack.md"
cargo bench -p cog-integration-tests --bench cold_start | tee "$target/cold_start.md"
cargo bench -p cog-integration-tests --bench revocation | tee "$target/revocation.md"
cargo bench -p cog-integration-tests --bench timing | tee "$target/timing.md"
cargo bench -p cog-integration-tests --bench load | tee "$target/load.md"
cargo bench -p cog-integration-tests --bench cache_load | tee "$target/cache_load.md"
cargo bench -p cog-integration-tests --bench leak_report | tee "$target/leak_report.md"

echo
echo "## Token format (median, × bare HMAC-SHA-256 of 58 bytes)"
python3 scripts/bench_report.py "$target/criterion" token baseline_bare_hmac_sha256_58b
echo
echo "## Authorizer handler, in-memory store (median, × bare HMAC)"
python3 scripts/bench_report.py "$target/criterion" authorizer baseline_bare_hmac_sha256_58b
echo
echo "## The same checks in straightforward Python, same events, same run"
cat "$target/python_baseline.md"
echo
cat "$target/authorizer_stack.md"
echo
cat "$target/cold_start.md"
echo
cat "$target/revocation.md"
echo
cat "$target/timing.md"
echo
cat "$target/load.md"
echo
cat "$target/leak_report.md"
