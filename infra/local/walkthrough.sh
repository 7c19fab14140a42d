#!/usr/bin/env bash
# The walkthrough `make dev` prints, runnable as is against a running
# `make dev` (or any local gateway: GATEWAY_URL, DEV_USER, SESSION_FILE).
# The end-to-end test runs this very file. Every call prints its HTTP status.
set -euo pipefail
G=${GATEWAY_URL:-http://127.0.0.1:8080}
ME=${DEV_USER:-u_demo}
JAR=${SESSION_FILE:-.local/dev-session}
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
