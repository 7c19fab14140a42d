#!/usr/bin/env bash
# Fuzzes every parser that reads bytes an attacker chooses (tests/fuzz,
# cargo fuzz on the nightly toolchain, built without the AWS adapters).
#
#   scripts/fuzz.sh                  20 s per target: the smoke run `make test` does
#   scripts/fuzz.sh --seconds 600    a longer run per target
#   scripts/fuzz.sh --runs 10000000  a fixed number of executions per target
#   add --keep to merge what the run found into tests/fuzz/corpus, minimized
#
# New inputs go to a scratch folder; the corpus kept in tests/fuzz/corpus
# is read, never written, except with --keep. A crash or a failed
# assertion fails the run and leaves the input under the scratch folder.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
tools=${COG_TOOLS_DIR:-$repo/.local/tools}
CARGO_FUZZ_VERSION=0.13.2
TARGETS=(token_parse bearer authorizer_event management_body route_rules leak_input)

mode=(-max_total_time=20)
keep=false
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) mode=(-max_total_time="$2"); shift 2 ;;
    --runs) mode=(-runs="$2"); shift 2 ;;
    --keep) keep=true; shift ;;
    *) echo "usage: scripts/fuzz.sh [--seconds N | --runs N] [--keep]" >&2; exit 2 ;;
  esac
done

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: skipped: no nightly Rust toolchain (rustup toolchain install nightly)"
  exit 0
fi

if ! "$tools/cargo-fuzz/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools/cargo-fuzz" >&2
  cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$tools/cargo-fuzz" >&2
fi
export PATH="$tools/cargo-fuzz/bin:$PATH"

# Memory safety is the compiler's job here (unsafe code is forbidden in our
# crates), so no sanitizer: the targets hunt panics and broken invariants,
# with overflow checks and debug assertions on (tests/fuzz/Cargo.toml).
fuzz=(cargo +nightly fuzz)
opts=(--fuzz-dir tests/fuzz --sanitizer none)
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  opts+=(--target-dir "$CARGO_TARGET_DIR/fuzz")
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/cog-fuzz.XXXXXX")
"${fuzz[@]}" build "${opts[@]}" >&2

for target in "${TARGETS[@]}"; do
  kept="tests/fuzz/corpus/$target"
  mkdir -p "$scratch/$target/corpus" "$scratch/$target/artifacts"
  log="$scratch/$target/log"
  if ! "${fuzz[@]}" run "${opts[@]}" "$target" "$scratch/$target/corpus" "$kept" -- \
      "${mode[@]}" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$scratch/$target/artifacts/" >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $target FAILED; the input is in $scratch/$target/artifacts/" >&2
    exit 1
  fi
  # libFuzzer's last line: `Done N runs in S second(s)`.
  summary=$(grep -E '^Done [0-9]+ runs' "$log" | tail -1)
  printf 'fuzz: %-17s %s, 0 crashes\n' "$target" "${summary#Done }"
  if $keep; then
    # libFuzzer's merge keeps the smallest inputs that reach every edge seen.
    merged="$scratch/$target/merged"
    mkdir -p "$merged"
    "${fuzz[@]}" run "${opts[@]}" "$target" "$merged" "$kept" "$scratch/$target/corpus" -- \
      -merge=1 >"$log.merge" 2>&1
    rm -rf "$kept"
    mv "$merged" "$kept"
    echo "fuzz: $target corpus kept: $(find "$kept" -type f | wc -l) inputs" >&2
  fi
done
rm -rf "$scratch"
