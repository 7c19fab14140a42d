#!/usr/bin/env bash
# The project's test command (README: `make test`). On a fresh machine it
# installs what is missing, lints the template, checks the test vectors,
# starts a private local stack on free ports, runs every Rust test against it,
# and stops the stack whatever happens.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export COG_TOOLS_DIR=${COG_TOOLS_DIR:-$repo/.local/tools}

step() { printf '\n==> %s\n' "$*" >&2; }

step "tools"
infra/local/tools.sh

step "template lint (cfn-lint)"
"$COG_TOOLS_DIR/venv/bin/cfn-lint" template.yaml

step "token vectors reproduce from the Python reference"
python3 shared/tests/vectors/gen_token_vectors.py --check

step "openapi-3.0.yaml is openapi.yaml converted to OpenAPI 3.0.3"
python3 scripts/openapi_30.py --check

step "cache simulation: its model against the reference and its Monte Carlo"
python3 scripts/simulate_cache_test.py

step "stream poller: the template's FilterCriteria, as Lambda applies them"
"$COG_TOOLS_DIR/venv/bin/python" infra/local/events_test.py

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A stack of its own (state folder and ports), so a running `make dev` is untouched.
export COG_STATE_DIR="$repo/.local/test-stack"
export COG_DYNAMODB_PORT=${COG_TEST_DYNAMODB_PORT:-$(free_port)}
export COG_KMS_PORT=${COG_TEST_KMS_PORT:-$(free_port)}
export TABLE_NAME=cog-tokens-test
trap 'infra/local/down.sh' EXIT

step "local stack"
infra/local/up.sh
# shellcheck disable=SC1091
source "$COG_STATE_DIR/stack.env"

# The end-to-end tests run the function and gateway binaries; `cargo test`
# only builds the binaries of packages with integration tests. Same profile
# and dependencies as the tests, so this mostly links.
step "cargo build --workspace --bins"
cargo build --workspace --bins

log="$COG_STATE_DIR/cargo-test.log"
# At trace, so that every test through the chain also proves no token is
# logged at the most verbose level (see `Chain::leaks`).
export RUST_LOG=${RUST_LOG:-trace}
# The load test (200 concurrent transactions) first and alone: beside
# other tests, or once DynamoDB Local holds the tables of a whole run, it
# answered some requests with a 500.
step "cargo test: the load test (alone, on a fresh stack)"
cargo test --workspace -- two_hundred_concurrent 2>&1 | tee "$log"
step "cargo test"
cargo test --workspace -- --skip caching:: --skip cache_tiers:: --skip smoke:: --skip two_hundred_concurrent 2>&1 | tee -a "$log"

# The revocation-delay measurements, alone: with other chains beside them on
# two cores, a refusal measured up to 0.4 s later than the bound they assert
# (1 s). The smoke script (scripts/smoke.sh) asserts the same bound. Same
# build, so nothing recompiles.
step "cargo test: caching measurements and the smoke script (one at a time, machine otherwise idle)"
cargo test --workspace -- caching:: cache_tiers:: smoke:: 2>&1 | tee -a "$log"
trap - EXIT
infra/local/down.sh

# Bounded: 20 s per target; says so in one line when there is no nightly toolchain.
step "fuzz smoke (scripts/fuzz.sh)"
scripts/fuzz.sh --seconds 20 | tee -a "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
