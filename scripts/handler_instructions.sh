#!/usr/bin/env bash
# Instructions the authorizer's handler spends per event, per event shape:
# the criterion bench `handler` run under valgrind's callgrind, which counts
# instructions rather than seconds (repeatable on a noisy machine, where the
# bench's wall-clock medians move by ±15 %). Usage:
#   scripts/handler_instructions.sh [checkout]   # default: this repository
# Run it on a worktree of another commit to compare the two, as
# docs/performance.md does for the metrics.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
checkout=$(cd "${1:-$repo}" && pwd)
command -v valgrind >/dev/null || { echo "handler_instructions.sh: valgrind is required (apt-get install valgrind)" >&2; exit 1; }

cd "$checkout"
bench=$(cargo bench -p authorizer --bench handler --no-run --message-format json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "handler" and m.get("executable"):
        print(m["executable"])')
[ -x "$bench" ] || { echo "handler_instructions.sh: no bench binary built in $checkout" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "| event shape | instructions per event |"
echo "| --- | ---: |"
for shape in rest_token rest_request http_v2_simple; do
  # The bench's own folder, as `cargo bench` runs it; 3 s of iterations.
  (cd functions/authorizer && valgrind --tool=callgrind --callgrind-out-file="$out/$shape" \
    "$bench" --bench --profile-time 3 "handler_$shape\$" >/dev/null 2>&1)
  python3 - "$out/$shape" "$shape" <<'PY'
import re, sys
# Inclusive cost of every call of the handler's future from the bench's
# block_on, over the number of those calls.
names, caller, callee, calls, total, count = {}, None, None, 0, 0, 0
for line in open(sys.argv[1]):
    m = re.match(r"^(c?)fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
    if m:
        if m.group(3):
            names[m.group(2)] = m.group(3)
        if m.group(1):
            callee = names.get(m.group(2))
        else:
            caller = names.get(m.group(2))
        continue
    m = re.match(r"^calls=(\d+)", line)
    if m:
        calls = int(m.group(1))
        continue
    if callee is not None and re.match(r"^[+\-*0-9]", line):
        if "handle_json_event" in callee and "block_on" in (caller or ""):
            count += calls
            total += int(line.split()[1])
        callee = None
if count == 0:
    sys.exit(f"no handler calls found in {sys.argv[1]}")
print(f"| {sys.argv[2]} | {total / count:,.0f} |")
PY
done
