#!/usr/bin/env bash
# `make dev`: runs the whole system locally until Ctrl-C, then stops what it
# started: the local AWS stack (DynamoDB Local, KMS emulator), a demo account,
# `cargo lambda watch` serving every function, and the local gateway (the
# template's HTTP API) in front of it, all on 127.0.0.1.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
watch_port=${COG_WATCH_PORT:-9000}
gateway_port=${COG_GATEWAY_PORT:-8080}
control_port=${COG_CONTROL_PLANE_PORT:-8081}
demo_user=u_demo

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
source .local/stack.env
export PATH="${COG_TOOLS_DIR:-$repo/.local/tools}/venv/bin:$PATH"

echo "==> building the functions and the gateway (first run: several minutes)" >&2
cargo build --workspace --bins --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
"$target_dir/debug/cogadmin" account put "$demo_user" --beta --org demo-org:admin >/dev/null

# Both cache tiers on, as template.yaml deploys them: the functions flush the
# local gateway's authorizer cache through its control plane, with the SDK.
ttl=$(python3 -c 'import re,sys; t=open("template.yaml").read(); print(re.search(r"AuthorizerResultTtl:\n(?:\s+\w+:.*\n)*?\s+Default: (\d+)", t).group(1))')
export GATEWAY_CACHE_TTL_SECONDS=$ttl AUTHORIZER_CACHE_STAGES='http:local/$default'
export AWS_ENDPOINT_URL_APIGATEWAYV2=http://127.0.0.1:$control_port AWS_ENDPOINT_URL_API_GATEWAY=http://127.0.0.1:$control_port
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$watch_port" >.local/watch.log 2>&1 &
watch_pid=$!
setsid "$target_dir/debug/local-gateway" --template template.yaml \
  --listen "127.0.0.1:$gateway_port" --lambda-url "http://127.0.0.1:$watch_port" \
  --control-plane-listen "127.0.0.1:$control_port" >.local/gateway.log 2>&1 &
gateway_pid=$!
# Plays Lambda's event source mapping: the table's stream to event-publisher.
setsid python infra/local/events.py poll "$TABLE_NAME" "http://127.0.0.1:$watch_port" >.local/stream-poller.log 2>&1 &
poller_pid=$!
# ... and the same stream to cache-invalidator, batches in parallel as its mapping's.
setsid python infra/local/events.py poll "$TABLE_NAME" "http://127.0.0.1:$watch_port" \
  --function cache-invalidator --parallel 10 --interval 0.05 >.local/invalidator-poller.log 2>&1 &
invalidator_poller_pid=$!
# Plays the invalidator's one-minute schedule (credentials ending by time).
setsid python infra/local/events.py tick "http://127.0.0.1:$watch_port" cache-invalidator 60 >.local/invalidator-ticks.log 2>&1 &
ticker_pid=$!
for service in "cargo lambda watch:$watch_port:$watch_pid:watch" "local gateway:$gateway_port:$gateway_pid:gateway"; do
  IFS=: read -r name port pid log <<<"$service"
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "dev.sh: $name did not start:" >&2; tail -20 ".local/$log.log" >&2; exit 1; }
    sleep 0.3
  done
done

cat <<MSG

The system runs locally; Ctrl-C stops everything.
  Settings page        http://127.0.0.1:$gateway_port/settings   open it in a browser; sign in as $demo_user
                       on the dev form it links to (http://127.0.0.1:$gateway_port/_dev/sign-in)
  API (local gateway)  http://127.0.0.1:$gateway_port   routes from template.yaml   (log: .local/gateway.log)
                       authorizer cache on (TTL $ttl s); control plane http://127.0.0.1:$control_port
                       (cache statistics: curl http://127.0.0.1:$control_port/_dev/authorizer-cache)
  cargo lambda watch   http://127.0.0.1:$watch_port   functions reload on change  (log: .local/watch.log)
  DynamoDB Local       $AWS_ENDPOINT_URL_DYNAMODB   table $TABLE_NAME
  KMS emulator         $AWS_ENDPOINT_URL_KMS   (also EventBridge and SQS)
  lifecycle events     bus $EVENT_BUS_NAME -> queue $EVENTS_QUEUE_URL
                       (stream poller log: .local/stream-poller.log)
  demo account         $demo_user (PAT beta on, admin of demo-org)

Walk through it in another shell, from this folder (or run it all: bash infra/local/walkthrough.sh):

G=http://127.0.0.1:$gateway_port ME=$demo_user ORG=demo-org JAR=.local/dev-session Q=$EVENTS_QUEUE_URL PY=python
MSG
sed -n '/^# --- walkthrough ---$/,$p' infra/local/walkthrough.sh | tail -n +2
echo
wait "$gateway_pid"
