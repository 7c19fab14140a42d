#!/usr/bin/env bash
# A client generated from the contract, run against a gateway.
#
#   tests/client/run.sh BASE_URL USER
#
# Installs openapi-python-client (pinned) into its own venv,
# $COG_TOOLS_DIR/client-venv (once: a stamp file records the install),
# generates a Python client from openapi.yaml (OpenAPI 3.1) and from
# openapi-3.0.yaml (3.0.3) into a temporary folder, refusing a generation
# that warns (a skipped operation or model), and runs tests/client/run.py's
# walkthrough through each client against BASE_URL (a local gateway: USER
# signs in on its dev session route). The generated code is removed on exit.
set -euo pipefail

if (($# != 2)); then
  echo "usage: tests/client/run.sh BASE_URL USER" >&2
  exit 2
fi
base_url=$1
user=$2

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=${COG_TOOLS_DIR:-$repo/.local/tools}
venv="$tools/client-venv"
GENERATOR="openapi-python-client==0.29.1"

stamp="$venv/.installed-${GENERATOR//[=\/]/_}"
if [ ! -f "$stamp" ]; then
  echo "client: installing $GENERATOR into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$GENERATOR" >&2
  touch "$stamp"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cog-client.XXXXXX")
trap 'rm -rf "$work"' EXIT
# No formatter run on the output (its default post hook is ruff).
printf 'post_hooks: []\npackage_name_override: cog_client\n' >"$work/config.yaml"

for spec in openapi.yaml openapi-3.0.yaml; do
  out="$work/${spec%.yaml}"
  log="$work/${spec%.yaml}.log"
  if ! "$venv/bin/openapi-python-client" generate --path "$repo/$spec" --meta none \
    --config "$work/config.yaml" --output-path "$out/cog_client" >"$log" 2>&1; then
    cat "$log" >&2
    echo "FAIL generate a client from $spec" >&2
    exit 1
  fi
  if grep -qi 'warning' "$log"; then
    cat "$log" >&2
    echo "FAIL the generator warned on $spec: part of the contract was skipped" >&2
    exit 1
  fi
  echo "ok   client generated from $spec ($("$venv/bin/openapi-python-client" --version))"
  PYTHONPATH="$out" "$venv/bin/python" "$repo/tests/client/run.py" "$base_url" "$user" "$spec"
done
