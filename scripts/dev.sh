#!/usr/bin/env bash
# `make dev`: runs the whole system locally until Ctrl-C, then stops what it
# started: the local AWS stack (DynamoDB Local, KMS emulator), a demo account,
# `cargo lambda watch` serving every function, and the local gateway (the
# template's HTTP API) in front of it, all on 127.0.0.1. Its settings go to
# $COG_STATE_DIR/dev.env (default .local/dev.env), which walkthrough.sh reads.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
watch_port=${COG_WATCH_PORT:-9000}
gateway_port=${COG_GATEWAY_PORT:-8080}
control_port=${COG_CONTROL_PLANE_PORT:-8081}
demo_user=u_demo
demo_org=demo-org
# up.sh and down.sh keep their state here too.
state=${COG_STATE_DIR:-.local}
tools=${COG_TOOLS_DIR:-$repo/.local/tools}

watch_pid= gateway_pid= poller_pid= invalidator_poller_pid= ticker_pid=
stop() {
  # Whole process groups: watch and the functions it runs; the gateway; the pollers.
  for pid in $ticker_pid $invalidator_poller_pid $poller_pid $gateway_pid $watch_pid; do
    kill -- "-$pid" 2>/dev/null || true
  done
  # cargo lambda watch may linger in its graceful shutdown: 3 s, then KILL.
  if [ -n "$watch_pid" ]; then
    for _ in 1 2 3 4 5 6; do kill -0 -- "-$watch_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$watch_pid" 2>/dev/null || true
  fi
  rm -f "$state/dev.env"
  infra/local/down.sh
}
trap stop EXIT
trap 'exit 130' INT TERM

for port_var in COG_WATCH_PORT:$watch_port COG_GATEWAY_PORT:$gateway_port COG_CONTROL_PLANE_PORT:$control_port; do
  if (exec 3<>"/dev/tcp/127.0.0.1/${port_var#*:}") 2>/dev/null; then
    echo "dev.sh: port ${port_var#*:} is taken; set ${port_var%%:*}" >&2
    exit 1
  fi
done

infra/local/up.sh
# shellcheck disable=SC1091
source "$state/stack.env"
export PATH="$tools/venv/bin:$PATH"

echo "==> building the functions and the gateway (first run: several minutes)" >&2
cargo build --workspace --bins --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
"$target_dir/debug/cogadmin" account put "$demo_user" --beta --org "$demo_org:admin" >/dev/null

# Both cache tiers on, as template.yaml deploys them: the functions flush the
# local gateway's authorizer cache through its control plane, with the SDK.
ttl=$(python3 -c 'import re,sys; t=open("template.yaml").read(); print(re.search(r"AuthorizerResultTtl:\n(?:\s+\w+:.*\n)*?\s+Default: (\d+)", t).group(1))')
export GATEWAY_CACHE_TTL_SECONDS=$ttl AUTHORIZER_CACHE_STAGES='http:local/$default'
export AWS_ENDPOINT_URL_APIGATEWAYV2=http://127.0.0.1:$control_port AWS_ENDPOINT_URL_API_GATEWAY=http://127.0.0.1:$control_port

# Starts a helper in a process group of its own and restarts it whenever it
# exits, saying so in one line here: Lambda keeps a mapping running, so a
# poller that died must not silently stop the events. The pid is the group's.
supervise() { # name log command...
  local name=$1 log=$2
  shift 2
  : >"$log"
  setsid bash -c '
    name=$1 log=$2 delay=1
    shift 2
    trap "exit 0" TERM INT HUP   # stopped by dev.sh: no restart, no message
    while :; do
      started=$SECONDS
      # In the background and waited for: a stop ends the loop at once. The
      # notice bash prints for a killed job is dropped: the line below says it.
      if "$@" >>"$log" 2>&1 & wait $! 2>/dev/null; then status=0; else status=$?; fi
      # One that keeps dying backs off, up to 30 s; one that ran a while restarts in 1 s.
      if ((SECONDS - started < 10)); then delay=$((delay < 16 ? delay * 2 : 30)); else delay=1; fi
      echo "dev.sh: $name exited (status $status); restarting it in $delay s (log: $log)" >&2
      sleep "$delay"
    done' supervise "$name" "$log" "$@" &
}

setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$watch_port" >"$state/watch.log" 2>&1 &
watch_pid=$!
setsid "$target_dir/debug/local-gateway" --template template.yaml \
  --listen "127.0.0.1:$gateway_port" --lambda-url "http://127.0.0.1:$watch_port" \
  --control-plane-listen "127.0.0.1:$control_port" >"$state/gateway.log" 2>&1 &
gateway_pid=$!
# Plays Lambda's event source mapping: the table's stream to event-publisher,
# through the FilterCriteria of its mapping in template.yaml.
supervise "stream poller (event-publisher)" "$state/stream-poller.log" \
  python infra/local/events.py poll "$TABLE_NAME" "http://127.0.0.1:$watch_port"
poller_pid=$!
# ... and the same stream to cache-invalidator, batches in parallel as its mapping's.
supervise "stream poller (cache-invalidator)" "$state/invalidator-poller.log" \
  python infra/local/events.py poll "$TABLE_NAME" "http://127.0.0.1:$watch_port" \
  --function cache-invalidator --parallel 10 --interval 0.05
invalidator_poller_pid=$!
# Plays the invalidator's one-minute schedule (credentials ending by time).
supervise "schedule (cache-invalidator)" "$state/invalidator-ticks.log" \
  python infra/local/events.py tick "http://127.0.0.1:$watch_port" cache-invalidator 60
ticker_pid=$!
for service in "cargo lambda watch:$watch_port:$watch_pid:watch" "local gateway:$gateway_port:$gateway_pid:gateway"; do
  IFS=: read -r name port pid log <<<"$service"
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "dev.sh: $name did not start:" >&2; tail -20 "$state/$log.log" >&2; exit 1; }
    sleep 0.3
  done
done

# What walkthrough.sh needs, for any shell: the gateway, the demo account,
# and the events queue with the SDK settings to read it. Set variables win.
session_file=$(cd "$state" && pwd)/dev-session
{
  echo "# Written by scripts/dev.sh while \`make dev\` runs (removed when it stops): its settings."
  for setting in "GATEWAY_URL=http://127.0.0.1:$gateway_port" "DEV_USER=$demo_user" "DEV_ORG=$demo_org" \
    "SESSION_FILE=$session_file" "COG_TOOLS_DIR=$(cd "$tools" && pwd)" "EVENTS_QUEUE_URL=$EVENTS_QUEUE_URL" \
    "AWS_ENDPOINT_URL_SQS=$AWS_ENDPOINT_URL_SQS" "AWS_REGION=$AWS_REGION" \
    "AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY" \
    "AWS_EC2_METADATA_DISABLED=true"; do
    printf 'export %s=${%s:-%q}\n' "${setting%%=*}" "${setting%%=*}" "${setting#*=}"
  done
} >"$state/dev.env"

cat <<MSG

The system runs locally; Ctrl-C stops everything.
  Settings page        http://127.0.0.1:$gateway_port/settings   open it in a browser; sign in as $demo_user
                       on the dev form it links to (http://127.0.0.1:$gateway_port/_dev/sign-in)
  API (local gateway)  http://127.0.0.1:$gateway_port   routes from template.yaml   (log: $state/gateway.log)
                       authorizer cache on (TTL $ttl s); control plane http://127.0.0.1:$control_port
                       (cache statistics: curl http://127.0.0.1:$control_port/_dev/authorizer-cache)
  cargo lambda watch   http://127.0.0.1:$watch_port   functions reload on change  (log: $state/watch.log)
  DynamoDB Local       $AWS_ENDPOINT_URL_DYNAMODB   table $TABLE_NAME
  KMS emulator         $AWS_ENDPOINT_URL_KMS   (also EventBridge and SQS)
  lifecycle events     bus $EVENT_BUS_NAME -> queue $EVENTS_QUEUE_URL
                       (stream pollers, restarted if they exit: $state/stream-poller.log,
                       $state/invalidator-poller.log)
  demo account         $demo_user (PAT beta on, admin of $demo_org)

Walk through it in another shell, from this folder (or run it all, from any shell and as often
as you like: bash $repo/infra/local/walkthrough.sh; it reads $state/dev.env):

source $(cd "$state" && pwd)/dev.env   # the SDK settings for the events queue
G=http://127.0.0.1:$gateway_port ME=$demo_user ORG=$demo_org JAR=$session_file Q=$EVENTS_QUEUE_URL PY=$(cd "$tools" && pwd)/venv/bin/python
MSG
sed -n '/^# --- walkthrough ---$/,$p' infra/local/walkthrough.sh | tail -n +2
echo
wait "$gateway_pid"
