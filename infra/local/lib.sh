# Shared by up.sh and down.sh: where state lives and how to tell our processes.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
state=${COG_STATE_DIR:-$repo/.local}
run="$state/run"

# A pid file names a live process of ours only if its command line still
# carries the marker recorded when we started it (pids get reused).
running() { # name
  local pid marker
  pid=$(cat "$run/$1.pid" 2>/dev/null) || return 1
  marker=$(cat "$run/$1.marker" 2>/dev/null) || return 1
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$marker"
}
