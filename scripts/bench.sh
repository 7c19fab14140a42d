#!/usr/bin/env bash
# `make bench`: release-build benchmarks, each reported as a ratio against a
# baseline measured in the same run.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}

cargo bench -p cog-tokens --bench token
echo
python3 scripts/bench_report.py "$target/criterion" token baseline_bare_hmac_sha256_58b
