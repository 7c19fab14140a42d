#!/usr/bin/env bash
# Smoke test of a deployed stack (docs/deploy.md, "Smoke test"): with a
# session, create a PAT through the API, call whoami with it, revoke it, and
# see 401 within a second; the token is revoked on the way out whatever
# happens. The same walkthrough as `make dev`'s, against the real thing.
#
#   COG_SMOKE_STACK=<stack> (or COG_SMOKE_API_URL=<ApiUrl output>)
#   COG_SMOKE_SESSION=<the web app's session JWT>   (sent as a bearer token)
#   or COG_SMOKE_COOKIE=<name=value>                (the local gateway's dev session)
#   COG_SMOKE_WITHIN_MS=1000                        (the revocation bound)
#
# Needs bash, curl, python3 (and the AWS CLI for COG_SMOKE_STACK). Prints each
# check, never the token; exits non-zero on the first failed check.
set -euo pipefail

fail() { printf 'FAIL %s\n' "$*"; exit 1; }
ok() { printf 'ok   %s\n' "$*"; }

within_ms=${COG_SMOKE_WITHIN_MS:-1000}
api=${COG_SMOKE_API_URL:-}
if [[ -z $api ]]; then
  [[ -n ${COG_SMOKE_STACK:-} ]] || fail "set COG_SMOKE_STACK or COG_SMOKE_API_URL"
  api=$(aws cloudformation describe-stacks --stack-name "$COG_SMOKE_STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='ApiUrl'].OutputValue" --output text)
  [[ $api == http* ]] || fail "stack $COG_SMOKE_STACK has no ApiUrl output"
fi
api=${api%/}

# Credentials go to curl in header files (mode 600), never on a command line.
work=$(mktemp -d)
chmod 700 "$work"
session="$work/session-header"
token_header="$work/token-header"
if [[ -n ${COG_SMOKE_SESSION:-} ]]; then
  (umask 077; printf 'Authorization: Bearer %s\n' "$COG_SMOKE_SESSION" >"$session")
elif [[ -n ${COG_SMOKE_COOKIE:-} ]]; then
  (umask 077; printf 'Cookie: %s\n' "$COG_SMOKE_COOKIE" >"$session")
else
  rm -rf "$work"
  fail "set COG_SMOKE_SESSION (a session JWT) or COG_SMOKE_COOKIE"
fi

id=""
revoked=false
cleanup() {
  local status=$?
  if [[ -n $id && $revoked == false ]]; then
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -H @"$session" -X DELETE "$api/v1/tokens/$id" || true)
    if [[ $code == 204 ]]; then
      printf 'ok   cleanup: token %s revoked\n' "$id"
    else
      printf 'FAIL cleanup: revoking token %s answered %s: revoke it by hand\n' "$id" "$code"
      status=1
    fi
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# GET/POST/DELETE $1 $2 with the session; the body lands in $work/body.
call() {
  curl -s -o "$work/body" -w '%{http_code}' -H @"$session" -X "$1" "$api$2" "${@:3}"
}
# whoami with the token: its HTTP status.
whoami() {
  curl -s -o "$work/whoami" -w '%{http_code}' -H @"$token_header" "$api/v1/whoami"
}
# Milliseconds since the epoch; BSD date (macOS) has no %N.
if [[ $(date +%N) == *N* ]]; then
  now_ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }
else
  now_ms() { echo $(($(date +%s%N) / 1000000)); }
fi

echo "smoke test of $api"

name="smoke-$(date -u +%Y%m%dT%H%M%SZ)"
code=$(call POST /v1/tokens -H 'content-type: application/json' \
  -d "{\"name\": \"$name\", \"scopes\": [\"tokens:read\"], \"expires_in_days\": 1}")
[[ $code == 201 ]] || fail "create a token: HTTP $code $(head -c 300 "$work/body")"
# The token goes straight from the answer to its header file; only the id is printed.
id=$(python3 - "$work/body" "$token_header" <<'EOF'
import json, os, re, sys
created = json.load(open(sys.argv[1]))
token, token_id = created["token"], created["id"]
assert re.fullmatch(r"cog_[0-9A-Za-z]{54}", token) and token[4:20] == token_id
descriptor = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(descriptor, f"Authorization: Bearer {token}\n".encode())
os.close(descriptor)
print(token_id)
EOF
) || fail "create a token: the answer holds no token and id"
rm -f "$work/body"
ok "POST /v1/tokens: 201, token $id ($name)"

code=$(whoami)
[[ $code == 200 ]] || fail "whoami with the new token: HTTP $code $(head -c 300 "$work/whoami")"
python3 - "$work/whoami" "$id" <<'EOF' || fail "whoami: not the new token's identity: $(head -c 300 "$work/whoami")"
import json, sys
identity = json.load(open(sys.argv[1]))
assert identity["token_id"] == sys.argv[2] and identity["auth_method"] == "pat", identity
EOF
ok "GET /v1/whoami: 200, the PAT $id"

code=$(call DELETE "/v1/tokens/$id")
revoked_at=$(now_ms)
[[ $code == 204 ]] || fail "revoke: HTTP $code $(head -c 300 "$work/body")"
revoked=true
ok "DELETE /v1/tokens/$id: 204"

# Until refused or 3 s have passed, so a slow refusal is measured, not only failed.
while :; do
  code=$(whoami)
  waited=$(($(now_ms) - revoked_at))
  [[ $code == 200 && $waited -lt 3000 ]] || break
  sleep 0.05
done
[[ $code == 401 ]] || fail "whoami after the revocation: HTTP $code after ${waited} ms"
((waited <= within_ms)) || fail "whoami after the revocation: 401 after ${waited} ms (bound ${within_ms} ms)"
ok "GET /v1/whoami after the revocation: 401 after ${waited} ms (bound ${within_ms} ms)"
echo "smoke test passed"
