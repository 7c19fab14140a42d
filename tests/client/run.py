"""The walkthrough's calls through a client generated from the contract
(`cog_client`, made by tests/client/run.sh with openapi-python-client),
against a local gateway, errors included: every answer must come back
parsed as the model the spec declares for its status, never as a crash
or an unparsed body.

    PYTHONPATH=<generated> python run.py BASE_URL USER SPEC_NAME

USER signs in on the gateway's dev session route (not in the contract: in
AWS the web app's session stands in its place), and the session cookie is
handed to the generated client; a token goes in the generated
`AuthenticatedClient`. Prints one `ok   ...` line per check, never a token;
exits non-zero at the first failed check.
"""

import re
import sys
import time
import uuid
from http import HTTPStatus

import httpx

from cog_client import AuthenticatedClient, Client
from cog_client.api.tokens import create_token, get_token_self, list_tokens, revoke_token
from cog_client.api.whoami import whoami
from cog_client.models import (
    AuthorizerContext,
    CreateToken,
    GatewayMessage,
    IssuedToken,
    Problem,
    TokenPage,
    TokenSelf,
)

SESSION_COOKIE = "cog_dev_session"
# The revocation bound (docs/security.md) with room for a loaded machine.
REFUSED_WITHIN_SECONDS = 5.0


class Failed(Exception):
    pass


def check(condition, what, answer=None):
    if not condition:
        detail = f": HTTP {answer.status_code} {answer.parsed!r}" if answer is not None else ""
        # Never print a token, even in a failure.
        raise Failed(re.sub(r"cog_[0-9A-Za-z]{54}", "cog_<redacted>", f"{what}{detail}"))


def parsed(answer, status, model, what):
    """The answer's parsed body, which must be `model` at `status`."""
    check(answer.status_code == status, f"{what}: expected {status}", answer)
    check(isinstance(answer.parsed, model), f"{what}: expected a parsed {model.__name__}", answer)
    return answer.parsed


def sign_in(base_url, user):
    answer = httpx.post(f"{base_url}/_dev/session", json={"sub": user}, timeout=30)
    if answer.status_code != HTTPStatus.CREATED:
        raise Failed(f"sign in as {user}: HTTP {answer.status_code} {answer.text}")
    value = answer.cookies.get(SESSION_COOKIE)
    check(value, f"sign in as {user}: no {SESSION_COOKIE} cookie")
    return value


def walkthrough(base_url, user, spec):
    def ok(what):
        print(f"ok   [{spec}] {what}", flush=True)

    session = Client(base_url=base_url, cookies={SESSION_COOKIE: sign_in(base_url, user)},
                     timeout=httpx.Timeout(60), raise_on_unexpected_status=True)
    ok(f"signed in as {user}")

    name = f"client-{time.time_ns()}"
    key = str(uuid.uuid4())
    body = CreateToken(name=name, scopes=["tokens:read"], expires_in_days=7)
    created = create_token.sync_detailed(client=session, body=body, idempotency_key=key)
    issued = parsed(created, 201, IssuedToken, "POST /v1/tokens")
    check(issued.token.startswith("cog_") and len(issued.token) == 58, "POST /v1/tokens: a cog_ token")
    check(issued.name == name and issued.status.value == "active", "POST /v1/tokens: the new token's metadata")
    check(created.headers.get("cache-control") == "no-store", "POST /v1/tokens: Cache-Control: no-store")
    check("idempotent-replayed" not in created.headers, "POST /v1/tokens: a first answer is not a replay")
    ok(f"POST /v1/tokens: 201 IssuedToken {issued.id} ({issued.hint})")

    # The answer lost: the retry with the same Idempotency-Key gets it back.
    retried = create_token.sync_detailed(client=session, body=body, idempotency_key=key)
    again = parsed(retried, 201, IssuedToken, "POST /v1/tokens retried")
    check(again.id == issued.id and again.token == issued.token, "POST /v1/tokens retried: the same token")
    check(retried.headers.get("idempotent-replayed") == "true", "POST /v1/tokens retried: Idempotent-Replayed")
    ok(f"POST /v1/tokens retried: 201 IssuedToken {again.id}, replayed")
    other = CreateToken(name=f"{name}-other", scopes=["tokens:read"], expires_in_days=7)
    reused = create_token.sync_detailed(client=session, body=other, idempotency_key=key)
    problem = parsed(reused, 422, Problem, "POST /v1/tokens, the key reused")
    check(problem.code.value == "idempotency_key_reused", "POST /v1/tokens, the key reused: its code", reused)
    ok("POST /v1/tokens, the key with another body: 422 Problem idempotency_key_reused")

    try:
        with_the_token(base_url, user, session, issued, ok)
    finally:
        # Revoked in any case, so a failed check leaves no live token behind
        # (idempotent: a second revocation is 204 too).
        revoke_token.sync_detailed(issued.id, client=session)


def with_the_token(base_url, user, session, issued, ok):
    with_token = AuthenticatedClient(base_url=base_url, token=issued.token,
                                     timeout=httpx.Timeout(60), raise_on_unexpected_status=True)
    identity = parsed(whoami.sync_detailed(client=with_token), 200, AuthorizerContext, "GET /v1/whoami")
    check(identity.principal_id == user and identity.token_id == issued.id, "GET /v1/whoami: the token's identity")
    check(identity.principal_type.value == "user" and identity.auth_method.value == "pat",
          "GET /v1/whoami: a user's PAT")
    check(identity.scopes == "tokens:read", "GET /v1/whoami: the token's scopes")
    ok(f"GET /v1/whoami: 200 AuthorizerContext {identity.principal_type.value}:{identity.principal_id}")

    page = parsed(list_tokens.sync_detailed(client=session), 200, TokenPage, "GET /v1/tokens")
    check(issued.id in [token.id for token in page.tokens], "GET /v1/tokens: lists the new token")
    ok(f"GET /v1/tokens: 200 TokenPage with {len(page.tokens)} token(s)")

    own = parsed(get_token_self.sync_detailed(client=with_token), 200, TokenSelf, "GET /v1/tokens/self")
    check(own.id == issued.id and own.acts_as.principal_id == user, "GET /v1/tokens/self: the token itself")
    ok(f"GET /v1/tokens/self: 200 TokenSelf acting as {own.acts_as.principal_type.value}:{own.acts_as.principal_id}")

    revoked = revoke_token.sync_detailed(issued.id, client=session)
    check(revoked.status_code == 204, f"DELETE /v1/tokens/{issued.id}: expected 204", revoked)
    ok(f"DELETE /v1/tokens/{issued.id}: 204")

    # Until the revocation reaches the authorizer (within its bound), the
    # answer is still the identity, parsed; then the gateway's 401, parsed.
    deadline = time.monotonic() + REFUSED_WITHIN_SECONDS
    while True:
        again = whoami.sync_detailed(client=with_token)
        if again.status_code != 200 or time.monotonic() > deadline:
            break
        parsed(again, 200, AuthorizerContext, "GET /v1/whoami before the revocation is seen")
        time.sleep(0.1)
    refused = parsed(again, 401, GatewayMessage, "GET /v1/whoami after the revocation")
    check(refused.message == "Unauthorized", "GET /v1/whoami after the revocation: the gateway's message", again)
    ok("GET /v1/whoami after the revocation: 401 GatewayMessage Unauthorized")

    bad = create_token.sync_detailed(client=session, body=CreateToken(name="", scopes=["tokens:read"]))
    problem = parsed(bad, 400, Problem, "POST /v1/tokens with an empty name")
    check(problem.code.value == "invalid_name" and problem.field == "name" and problem.status == 400,
          "POST /v1/tokens with an empty name: invalid_name on name", bad)
    check(bad.headers.get("content-type", "").startswith("application/problem+json"),
          "POST /v1/tokens with an empty name: application/problem+json")
    ok(f"POST /v1/tokens with an empty name: 400 Problem {problem.code.value} ({problem.field})")

    signed_out = Client(base_url=base_url, timeout=httpx.Timeout(60), raise_on_unexpected_status=True)
    no_session = parsed(list_tokens.sync_detailed(client=signed_out), 401, GatewayMessage,
                        "GET /v1/tokens without a session")
    check(no_session.message == "Unauthorized", "GET /v1/tokens without a session: the gateway's message")
    ok("GET /v1/tokens without a session: 401 GatewayMessage Unauthorized")


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    base_url, user, spec = argv[1].rstrip("/"), argv[2], argv[3]
    try:
        walkthrough(base_url, user, spec)
    except Failed as failure:
        print(f"FAIL [{spec}] {failure}", flush=True)
        sys.exit(1)
    print(f"client walkthrough passed ({spec})", flush=True)


if __name__ == "__main__":
    main(sys.argv)
