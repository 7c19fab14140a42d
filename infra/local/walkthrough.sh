#!/usr/bin/env bash
# The walkthrough `make dev` prints, runnable as is from any shell while
# `make dev` runs: its settings come from the .local/dev.env it writes (or
# $COG_STATE_DIR/dev.env); for any other local gateway set GATEWAY_URL,
# DEV_USER, DEV_ORG, SESSION_FILE, and for the events EVENTS_QUEUE_URL and
# COG_TOOLS_DIR, which win over dev.env. Names get a per-run suffix and the
# credentials it makes are revoked at the end, so it runs again and again.
# The end-to-end test runs this very file. Every call prints its HTTP status.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
dev_env=${COG_STATE_DIR:-.local}/dev.env
if [ -f "$dev_env" ]; then
  # shellcheck disable=SC1090
  source "$dev_env"
fi
G=${GATEWAY_URL:-http://127.0.0.1:8080}
ME=${DEV_USER:-u_demo}
ORG=${DEV_ORG:-demo-org}
JAR=${SESSION_FILE:-.local/dev-session}
Q=${EVENTS_QUEUE_URL:-$(sed -n "s/^export EVENTS_QUEUE_URL=//p" "${COG_STATE_DIR:-.local}/stack.env" 2>/dev/null)}
PY=${COG_TOOLS_DIR:-.local/tools}/venv/bin/python
# --- walkthrough ---
RUN=$(date +%H%M%S)   # a suffix for this run's names: an earlier run's may still be active
# 1. Sign in (dev only: the local gateway's stand-in for the web app's login)
curl -s -c "$JAR" -X POST "$G/_dev/session" -d "{\"sub\": \"$ME\"}" -w '\nHTTP %{http_code}\n'
# 2. Create a token; its secret is shown this once
CREATED=$(curl -s -b "$JAR" -X POST "$G/v1/tokens" -H 'content-type: application/json' \
  -d "{\"name\": \"laptop-$RUN\", \"scopes\": [\"tokens:read\"], \"expires_in_days\": 30}" -w '\nHTTP %{http_code}\n')
echo "$CREATED"
TOKEN=$(echo "$CREATED" | grep -o 'cog_[0-9A-Za-z]\{54\}')   # its id: ${TOKEN:4:16}
# 3. Call the API with it: the identity the authorizer passed
curl -s "$G/v1/whoami" -H "Authorization: Bearer $TOKEN" -w '\nHTTP %{http_code}\n'
# 4. List your active tokens
curl -s -b "$JAR" "$G/v1/tokens?status=active" -w '\nHTTP %{http_code}\n'
# 5. Revoke it
curl -s -b "$JAR" -X DELETE "$G/v1/tokens/${TOKEN:4:16}" -w 'HTTP %{http_code}\n'
# 6. Call again, after a pause: refused (a change reaches the gateway's authorizer cache within about a second)
sleep 3
curl -s "$G/v1/whoami" -H "Authorization: Bearer $TOKEN" -w '\nHTTP %{http_code}\n'
# --- as an admin of the org (the demo user is one) ---
# 7. Create a service user in the org
SVC=$(curl -s -b "$JAR" -X POST "$G/v1/orgs/$ORG/service-users" -H 'content-type: application/json' \
  -d "{\"name\": \"ci-$RUN\", \"role\": \"deployer\"}" -w '\nHTTP %{http_code}\n')
echo "$SVC"
SU=$(echo "$SVC" | grep -o 'svc_[0-9A-Za-z]\{16\}' | head -1)
# 8. Give it an API key; shown this once
KEYED=$(curl -s -b "$JAR" -X POST "$G/v1/orgs/$ORG/service-users/$SU/keys" -H 'content-type: application/json' \
  -d "{\"name\": \"deploy-$RUN\", \"scopes\": [\"tokens:read\"], \"expires_in_days\": 30}" -w '\nHTTP %{http_code}\n')
echo "$KEYED"
KEY=$(echo "$KEYED" | grep -o 'cog_[0-9A-Za-z]\{54\}')
# 9. The key acts as the service user, in exactly its org
curl -s "$G/v1/whoami" -H "Authorization: Bearer $KEY" -w '\nHTTP %{http_code}\n'
# 10. Every credential that can act in the org (never a secret)
curl -s -b "$JAR" "$G/v1/orgs/$ORG/credentials" -w '\nHTTP %{http_code}\n'
# 11. A member's PAT blocked in the org: it works, without the org
PAT=$(curl -s -b "$JAR" -X POST "$G/v1/tokens" -H 'content-type: application/json' \
  -d "{\"name\": \"desktop-$RUN\", \"scopes\": [\"tokens:read\"], \"expires_in_days\": 7}" | grep -o 'cog_[0-9A-Za-z]\{54\}')
curl -s -b "$JAR" -X DELETE "$G/v1/orgs/$ORG/credentials/${PAT:4:16}" -w 'HTTP %{http_code}\n'
curl -s "$G/v1/whoami" -H "Authorization: Bearer $PAT" -w '\nHTTP %{http_code}\n'
# 12. Disable the service user: its key is refused from then on
curl -s -b "$JAR" -X PATCH "$G/v1/orgs/$ORG/service-users/$SU" -H 'content-type: application/json' \
  -d '{"status": "disabled"}' -w '\nHTTP %{http_code}\n'
sleep 3
curl -s "$G/v1/whoami" -H "Authorization: Bearer $KEY" -w '\nHTTP %{http_code}\n'
# 13. The org's audit trail, newest first: who did what, from where
curl -s -b "$JAR" "$G/v1/orgs/$ORG/audit?limit=4" -w '\nHTTP %{http_code}\n'
# --- a PAT limited to chosen orgs ---
# 14. An org you are not a member of is refused
curl -s -b "$JAR" -X POST "$G/v1/tokens" -H 'content-type: application/json' \
  -d "{\"name\": \"elsewhere-$RUN\", \"scopes\": [\"tokens:read\"], \"orgs\": [\"not-my-org\"]}" -w '\nHTTP %{http_code}\n'
# 15. Limited to this org: it carries this org only, and never one you join later
LIMITED=$(curl -s -b "$JAR" -X POST "$G/v1/tokens" -H 'content-type: application/json' \
  -d "{\"name\": \"org-only-$RUN\", \"scopes\": [\"tokens:read\"], \"expires_in_days\": 7, \"orgs\": [\"$ORG\"]}" | grep -o 'cog_[0-9A-Za-z]\{54\}')
curl -s "$G/v1/whoami" -H "Authorization: Bearer $LIMITED" -w '\nHTTP %{http_code}\n'
# --- a leak, and the lifecycle events ---
# 16. Someone finds a token in public and reports it: the same 202 whatever it was
LEAK=$(curl -s -b "$JAR" -X POST "$G/v1/tokens" -H 'content-type: application/json' \
  -d "{\"name\": \"pasted-$RUN\", \"scopes\": [\"tokens:read\"], \"expires_in_days\": 7}" | grep -o 'cog_[0-9A-Za-z]\{54\}')
curl -s -X POST "$G/v1/credentials/revoke" -H 'content-type: application/json' \
  -d "{\"credentials\": [\"$LEAK\"]}" -w '\nHTTP %{http_code}\n'
# 17. It is revoked: refused
curl -s "$G/v1/whoami" -H "Authorization: Bearer $LEAK" -w '\nHTTP %{http_code}\n'
# 18. Tidy up: revoke what is still active (the blocked PAT, the limited one, the key)
curl -s -b "$JAR" -X DELETE "$G/v1/tokens/${PAT:4:16}" -w 'HTTP %{http_code}\n'
curl -s -b "$JAR" -X DELETE "$G/v1/tokens/${LIMITED:4:16}" -w 'HTTP %{http_code}\n'
curl -s -b "$JAR" -X DELETE "$G/v1/orgs/$ORG/service-users/$SU/keys/${KEY:4:16}" -w 'HTTP %{http_code}\n'
# 19. Every change above as a lifecycle event on the bus (its queue), one each
"$PY" infra/local/events.py summary "$Q" 10
