#!/usr/bin/env bash
# The walkthrough `make dev` prints, runnable as is against a running
# `make dev` (or any local gateway: GATEWAY_URL, DEV_USER, DEV_ORG, SESSION_FILE,
# and for the events EVENTS_QUEUE_URL and COG_TOOLS_DIR), from the repository.
# The end-to-end test runs this very file. Every call prints its HTTP status.
set -euo pipefail
G=${GATEWAY_URL:-http://127.0.0.1:8080}
ME=${DEV_USER:-u_demo}
ORG=${DEV_ORG:-demo-org}
JAR=${SESSION_FILE:-.local/dev-session}
Q=${EVENTS_QUEUE_URL:-$(sed -n "s/^export EVENTS_QUEUE_URL=//p" .local/stack.env 2>/dev/null)}
PY=${COG_TOOLS_DIR:-.local/tools}/venv/bin/python
# --- walkthrough ---
# 1. Sign in (dev only: the local gateway's stand-in for the web app's login)
curl -s -c "$JAR" -X POST "$G/_dev/session" -d "{\"sub\": \"$ME\"}" -w '\nHTTP %{http_code}\n'
# 2. Create a token; its secret is shown this once
CREATED=$(curl -s -b "$JAR" -X POST "$G/v1/tokens" -H 'content-type: application/json' \
  -d '{"name": "laptop", "scopes": ["tokens:read"], "expires_in_days": 30}' -w '\nHTTP %{http_code}\n')
echo "$CREATED"
TOKEN=$(echo "$CREATED" | grep -o 'cog_[0-9A-Za-z]\{54\}')   # its id: ${TOKEN:4:16}
# 3. Call the API with it: the identity the authorizer passed
curl -s "$G/v1/whoami" -H "Authorization: Bearer $TOKEN" -w '\nHTTP %{http_code}\n'
# 4. List your active tokens
curl -s -b "$JAR" "$G/v1/tokens?status=active" -w '\nHTTP %{http_code}\n'
# 5. Revoke it
curl -s -b "$JAR" -X DELETE "$G/v1/tokens/${TOKEN:4:16}" -w 'HTTP %{http_code}\n'
# 6. Call again: refused
curl -s "$G/v1/whoami" -H "Authorization: Bearer $TOKEN" -w '\nHTTP %{http_code}\n'
# --- as an admin of the org (the demo user is one) ---
# 7. Create a service user in the org
SVC=$(curl -s -b "$JAR" -X POST "$G/v1/orgs/$ORG/service-users" -H 'content-type: application/json' \
  -d '{"name": "ci", "role": "deployer"}' -w '\nHTTP %{http_code}\n')
echo "$SVC"
SU=$(echo "$SVC" | grep -o 'svc_[0-9A-Za-z]\{16\}' | head -1)
# 8. Give it an API key; shown this once
KEYED=$(curl -s -b "$JAR" -X POST "$G/v1/orgs/$ORG/service-users/$SU/keys" -H 'content-type: application/json' \
  -d '{"name": "deploy", "scopes": ["tokens:read"], "expires_in_days": 30}' -w '\nHTTP %{http_code}\n')
echo "$KEYED"
KEY=$(echo "$KEYED" | grep -o 'cog_[0-9A-Za-z]\{54\}')
# 9. The key acts as the service user, in exactly its org
curl -s "$G/v1/whoami" -H "Authorization: Bearer $KEY" -w '\nHTTP %{http_code}\n'
# 10. Every credential that can act in the org (never a secret)
curl -s -b "$JAR" "$G/v1/orgs/$ORG/credentials" -w '\nHTTP %{http_code}\n'
# 11. A member's PAT blocked in the org: it works, without the org
PAT=$(curl -s -b "$JAR" -X POST "$G/v1/tokens" -H 'content-type: application/json' \
  -d '{"name": "desktop", "scopes": ["tokens:read"], "expires_in_days": 7}' | grep -o 'cog_[0-9A-Za-z]\{54\}')
curl -s -b "$JAR" -X DELETE "$G/v1/orgs/$ORG/credentials/${PAT:4:16}" -w 'HTTP %{http_code}\n'
curl -s "$G/v1/whoami" -H "Authorization: Bearer $PAT" -w '\nHTTP %{http_code}\n'
# 12. Disable the service user: its key is refused at the next request
curl -s -b "$JAR" -X PATCH "$G/v1/orgs/$ORG/service-users/$SU" -H 'content-type: application/json' \
  -d '{"status": "disabled"}' -w '\nHTTP %{http_code}\n'
curl -s "$G/v1/whoami" -H "Authorization: Bearer $KEY" -w '\nHTTP %{http_code}\n'
# 13. The org's audit trail: who did what, from where
curl -s -b "$JAR" "$G/v1/orgs/$ORG/audit?limit=5" -w '\nHTTP %{http_code}\n'
# --- a leak, and the lifecycle events ---
# 14. Someone finds a token in public and reports it: the same 202 whatever it was
LEAK=$(curl -s -b "$JAR" -X POST "$G/v1/tokens" -H 'content-type: application/json' \
  -d '{"name": "pasted", "scopes": ["tokens:read"], "expires_in_days": 7}' | grep -o 'cog_[0-9A-Za-z]\{54\}')
curl -s -X POST "$G/v1/credentials/revoke" -H 'content-type: application/json' \
  -d "{\"credentials\": [\"$LEAK\"]}" -w '\nHTTP %{http_code}\n'
# 15. It is revoked: refused
curl -s "$G/v1/whoami" -H "Authorization: Bearer $LEAK" -w '\nHTTP %{http_code}\n'
# 16. Every change above as a lifecycle event on the bus (its queue), one each
"$PY" infra/local/events.py summary "$Q" 10
# --- a PAT limited to chosen orgs ---
# 17. An org you are not a member of is refused
curl -s -b "$JAR" -X POST "$G/v1/tokens" -H 'content-type: application/json' \
  -d '{"name": "elsewhere", "scopes": ["tokens:read"], "orgs": ["not-my-org"]}' -w '\nHTTP %{http_code}\n'
# 18. Limited to this org: it carries this org only, and never one you join later
LIMITED=$(curl -s -b "$JAR" -X POST "$G/v1/tokens" -H 'content-type: application/json' \
  -d "{\"name\": \"org-only\", \"scopes\": [\"tokens:read\"], \"expires_in_days\": 7, \"orgs\": [\"$ORG\"]}" | grep -o 'cog_[0-9A-Za-z]\{54\}')
curl -s "$G/v1/whoami" -H "Authorization: Bearer $LIMITED" -w '\nHTTP %{http_code}\n'
