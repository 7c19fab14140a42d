#!/usr/bin/env bash
# Stops exactly what up.sh started (by its pid files), and nothing else.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop() { # name
  local pidfile="$run/$1.pid" pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 0
  if running "$1"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "down.sh: stopped $1 (pid $pid)" >&2
  fi
  rm -f "$pidfile" "$run/$1.marker"
}

stop kms
stop dynamodb
rm -f "$state/stack.env"
