#!/usr/bin/env python3
"""A straightforward Python authorizer doing the same checks as the Rust
handler bench, on the same sample events, timed in the same `make bench` run.

Per event: parse the JSON, tell the shape, extract the bearer credential,
check prefix/length/alphabet/CRC-32, look the record and the account up in
dicts (the in-memory store), HMAC-SHA-256 and a constant-time compare,
status and owner checks, route-rule scopes, then build and serialize the
response. Prints the median microseconds per event for each shape.
"""
import hashlib
import hmac
import json
import re
import secrets
import sys
import time
import zlib
from pathlib import Path

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKEN_RE = re.compile(r"cog_[0-9A-Za-z]{54}")
BEARER_RE = re.compile(r"[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+([^ \t]+)[ \t]*")
SAMPLE = "cog_SampleEventId000ReplaceMeWithARealTokenSecret0003abppB"
PEPPER = bytes([1] * 32)
RULES = [("GET", "/v1/whoami", "tokens:read"), ("POST", "/v1/orgs/*/sessions", "sessions:write")]


def base62(value, width):
    digits = ""
    while value:
        value, rest = divmod(value, 62)
        digits = ALPHABET[rest] + digits
    return digits.rjust(width, "0")


def make_token():
    body = "cog_" + "".join(secrets.choice(ALPHABET) for _ in range(48))
    return body + base62(zlib.crc32(body.encode()) & 0xFFFFFFFF, 6)


def rule_matches(pattern, path):
    parts, want = path.strip("/").split("/"), pattern.strip("/").split("/")
    return len(parts) == len(want) and all(w == "*" or w == p for w, p in zip(want, parts))


def authorize(raw, tokens, accounts, now):
    event = json.loads(raw)
    if event.get("version") == "2.0":
        shape, header = "http", (event.get("headers") or {}).get("authorization")
        method, path, arn = event["requestContext"]["http"]["method"], event["rawPath"], event["routeArn"]
    elif event.get("type") == "TOKEN":
        shape, header, arn = "rest", event.get("authorizationToken"), event["methodArn"]
        parts = arn.split("/", 3)
        method, path = parts[2], "/" + parts[3]
    else:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        shape, header = "rest", headers.get("authorization")
        method, path, arn = event["httpMethod"], event["path"], event["methodArn"]
    match = BEARER_RE.fullmatch(header or "")
    token = match.group(1) if match else ""
    if not TOKEN_RE.fullmatch(token) or base62(zlib.crc32(token[:52].encode()) & 0xFFFFFFFF, 6) != token[52:]:
        return deny(shape)
    record = tokens.get(token[4:20])
    digest = hmac.new(PEPPER, token.encode(), hashlib.sha256).digest()
    if record is None or not hmac.compare_digest(digest, record["hash"]):
        return deny(shape)
    if record["revoked_at"] is not None or (record["expires_at"] is not None and record["expires_at"] <= now):
        return deny(shape)
    account = accounts.get(record["owner"])
    if not account or account["status"] != "active" or account["sso"] or not account["pat_beta"]:
        return deny(shape)
    context = {
        "principal_type": "user", "principal_id": record["owner"], "token_id": token[4:20],
        "auth_method": "pat", "scopes": " ".join(record["scopes"]),
        "orgs": ",".join(f"{o}:{r}" for o, r in account["orgs"]),
    }
    needed = [s for m, p, s in RULES if m == method and rule_matches(p, path)]
    allowed = all(s in record["scopes"] for s in needed)
    if shape == "http":
        return json.dumps({"isAuthorized": allowed, "context": context if allowed else None})
    prefix = "/".join(arn.split("/", 2)[:2])
    statements = [{"Action": ["execute-api:Invoke"], "Effect": "Allow", "Resource": [prefix + "/*"]}]
    unmet = [f"{prefix}/{m}{p}" for m, p, s in RULES if s not in record["scopes"]]
    if unmet:
        statements.append({"Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": unmet})
    return json.dumps({"principalId": "user:" + record["owner"],
                       "policyDocument": {"Version": "2012-10-17", "Statement": statements}, "context": context})


def deny(shape):
    if shape == "http":
        return json.dumps({"isAuthorized": False, "context": None})
    raise PermissionError("Unauthorized")


def main():
    events_dir = Path(__file__).resolve().parents[3] / "infra" / "events"
    token = make_token()
    now = time.time() * 1000
    tokens = {token[4:20]: {"owner": "u_bench", "scopes": ["tokens:read", "sessions:read"],
                            "hash": hmac.new(PEPPER, token.encode(), hashlib.sha256).digest(),
                            "revoked_at": None, "expires_at": now + 86_400_000}}
    accounts = {"u_bench": {"status": "active", "sso": False, "pat_beta": True, "orgs": [("acme", "admin")]}}
    print("| event shape | Python authorizer, median per event |")
    print("| --- | ---: |")
    for name, file in [("rest_token", "rest-token.json"), ("rest_request", "rest-request.json"), ("http_v2_simple", "http-v2.json")]:
        raw = (events_dir / file).read_text().replace(SAMPLE, token)
        assert "u_bench" in authorize(raw, tokens, accounts, now)
        samples = []
        for _ in range(30):
            started = time.perf_counter()
            for _ in range(1000):
                authorize(raw, tokens, accounts, now)
            samples.append((time.perf_counter() - started) / 1000 * 1e6)
        samples.sort()
        print(f"| {name} | {samples[len(samples) // 2]:.1f} µs |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
