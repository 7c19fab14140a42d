#!/usr/bin/env bash
# `make dev`: runs the system locally until Ctrl-C, then stops what it started:
# the local AWS stack (DynamoDB Local, KMS emulator), a demo account, and
# `cargo lambda watch` serving every function on 127.0.0.1.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
watch_port=${COG_WATCH_PORT:-9000}

watch_pid=
stop() {
  if [ -n "$watch_pid" ]; then
    kill -- "-$watch_pid" 2>/dev/null || true   # the whole process group: watch and the functions
  fi
  infra/local/down.sh
}
trap stop EXIT
trap 'exit 130' INT TERM

infra/local/up.sh
# shellcheck disable=SC1091
source .local/stack.env
cargo run --quiet -p cogadmin -- account put u_demo --beta --org demo-org:admin >/dev/null
export PATH="${COG_TOOLS_DIR:-$repo/.local/tools}/venv/bin:$PATH"

if (exec 3<>"/dev/tcp/127.0.0.1/$watch_port") 2>/dev/null; then
  echo "dev.sh: port $watch_port is taken; set COG_WATCH_PORT" >&2
  exit 1
fi
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$watch_port" >.local/watch.log 2>&1 &
watch_pid=$!
until curl -s -o /dev/null "http://127.0.0.1:$watch_port/"; do
  kill -0 "$watch_pid" 2>/dev/null || { tail -20 .local/watch.log >&2; exit 1; }
  sleep 0.5
done

cat <<MSG

The system runs locally (Ctrl-C stops everything). Functions compile on first use.
  DynamoDB Local     $AWS_ENDPOINT_URL_DYNAMODB   table $TABLE_NAME
  KMS emulator       $AWS_ENDPOINT_URL_KMS
  cargo lambda watch http://127.0.0.1:$watch_port   (log: .local/watch.log)
  demo account       u_demo (PAT beta on, admin of demo-org)

Try it, in another shell:
  source .local/stack.env; export PATH="\$PWD/.local/tools/venv/bin:\$PATH"
  # create a token as u_demo (the event carries the session's JWT claims):
  cargo lambda invoke --invoke-port $watch_port issue-token --data-file infra/events/create-token.json
  cargo lambda invoke --invoke-port $watch_port issue-token --data-file infra/events/list-tokens.json
  # the authorizer, with a token in an event (401 until you put a real one in):
  cargo lambda invoke --invoke-port $watch_port authorizer --data-file infra/events/http-v2.json
  # the routes over HTTP answer 401 without a session (no JWT authorizer locally):
  curl -i http://127.0.0.1:$watch_port/v1/tokens
MSG
wait "$watch_pid"
