#!/usr/bin/env python3
"""Independent reference for cog_ token format v1: writes token-v1.json.

Uses only Python's zlib, hmac and hashlib, so the Rust implementation is
checked against code that shares nothing with it.

    python3 shared/tests/vectors/gen_token_vectors.py          # rewrite the file
    python3 shared/tests/vectors/gen_token_vectors.py --check  # fail if it differs
"""
import hashlib
import hmac
import json
import random
import sys
import zlib
from pathlib import Path

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "cog_"
PEPPER = bytes(range(0x20, 0x40))  # fixed test pepper, 32 bytes
OUT = Path(__file__).with_name("token-v1.json")


def base62(value: int, width: int) -> str:
    digits = ""
    while value:
        value, rest = divmod(value, 62)
        digits = ALPHABET[rest] + digits
    return digits.rjust(width, "0")


def checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode("ascii")) & 0xFFFFFFFF, 6)


def make(token_id: str, secret: str) -> str:
    body = PREFIX + token_id + secret
    return body + checksum(body)


def hmac_hex(token: str) -> str:
    return hmac.new(PEPPER, token.encode("utf-8"), hashlib.sha256).hexdigest()


def valid_tokens(rng: random.Random) -> list:
    tokens = [make("0" * 16, "0" * 32), make("z" * 16, "z" * 32), make(ALPHABET[:16], ALPHABET[16:48])]
    while len(tokens) < 14:
        tokens.append(make("".join(rng.choice(ALPHABET) for _ in range(16)),
                           "".join(rng.choice(ALPHABET) for _ in range(32))))
    # One whose checksum needs left padding with "0".
    n = 0
    while True:
        token = make(f"{n:016d}", "p" * 32)
        if token[-6] == "0":
            tokens.append(token)
            break
        n += 1
    return tokens


def invalid_tokens(good: str) -> list:
    body, check = good[:-6], good[-6:]
    wrong_check = check[:-1] + ("1" if check[-1] != "1" else "2")
    return [
        ("", "missing_prefix"),
        ("COG_" + good[4:], "missing_prefix"),
        ("Cog_" + good[4:], "missing_prefix"),
        ("cog", "missing_prefix"),
        ("cogx" + good[4:], "missing_prefix"),
        (" " + good, "missing_prefix"),
        ("Bearer " + good, "missing_prefix"),
        ("cog_", "wrong_length"),
        (good[:-1], "wrong_length"),
        (good + "0", "wrong_length"),
        (body + check[:5], "wrong_length"),  # checksum one character too narrow
        (body + "0" + check, "wrong_length"),  # checksum one character too wide
        (good + "\n", "wrong_length"),
        (good[:4] + "é" + good[6:], "invalid_character"),  # 2 UTF-8 bytes for 2 chars
        (good[:4] + "-" + good[5:], "invalid_character"),
        (good[:30] + "_" + good[31:], "invalid_character"),
        (good[:20] + " " + good[21:], "invalid_character"),
        (good[:25] + "\u0000" + good[26:], "invalid_character"),
        (good[:-1] + "+", "invalid_character"),
        (body + wrong_check, "bad_checksum"),
        (body + check.swapcase() if check.swapcase() != check else body + wrong_check, "bad_checksum"),
        (good[:4] + good[5] + good[4] + good[6:], "bad_checksum") if good[4] != good[5] else (body + "zzzzzz", "bad_checksum"),
        (body[:-1] + ("a" if body[-1] != "a" else "b") + check, "bad_checksum"),
        (body + "zzzzzz", "bad_checksum"),  # above u32::MAX in base62
    ]


def build() -> str:
    rng = random.Random(20261127)
    valid = valid_tokens(rng)
    vectors = [{"token": t, "valid": True, "hmac_sha256_hex": hmac_hex(t)} for t in valid]
    for token, error in invalid_tokens(valid[3]):
        vectors.append({"token": token, "valid": False, "error": error})
    return json.dumps({"pepper_hex": PEPPER.hex(), "vectors": vectors}, indent=2) + "\n"


def main() -> int:
    text = build()
    if "--check" in sys.argv[1:]:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} differs from what the reference script produces", file=sys.stderr)
            return 1
        print(f"{OUT.name}: reproduced byte for byte")
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
