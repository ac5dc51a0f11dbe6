"""Tokens: `<origin-b32>.<key-id>.<secret>` (docs/protocol.md §1), mirroring `crates/protocol/src/token.rs`.

Tokens are secrets: nothing here logs them, and `Token.__repr__` never shows the secret.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import InvalidTokenError

KEY_ID_LEN = 26
SECRET_LEN = 32
_KEY_ID_RE = re.compile(rf"[a-z2-7]{{{KEY_ID_LEN}}}")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Token:
    """A parsed token. `key_id` is also the NATS JWT `jti` and the instance id of whatever runs with it."""

    origin: str
    key_id: str
    secret: bytes = field(repr=False)


def _decode_origin(part: str) -> str:
    try:
        raw = base64.b32decode(part.upper() + "=" * (-len(part) % 8))
        origin = raw.decode("utf-8")
        parsed = urlsplit(origin)
    except (binascii.Error, ValueError):
        raise InvalidTokenError("the token's origin is not valid base32 of an http(s) URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidTokenError("the token's origin is not valid base32 of an http(s) URL")
    return origin


def _decode_secret(part: str) -> bytes:
    if not _SECRET_RE.fullmatch(part):
        raise InvalidTokenError("the token's secret is malformed")
    try:
        secret = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTokenError("the token's secret is malformed") from None
    if len(secret) != SECRET_LEN:
        raise InvalidTokenError("the token's secret is malformed")
    return secret


def parse_token(token: str) -> Token:
    """Parses `<origin-b32>.<key-id>.<secret>`; raises `InvalidTokenError` saying which part is wrong."""
    parts = token.strip().split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise InvalidTokenError("a token has three dot-separated parts (origin, key id, secret)")
    origin_part, key_id, secret_part = parts
    origin = _decode_origin(origin_part)
    if not _KEY_ID_RE.fullmatch(key_id):
        raise InvalidTokenError("the token's key id is malformed")
    return Token(origin=origin, key_id=key_id, secret=_decode_secret(secret_part))


def encode_token(origin: str, key_id: str, secret: bytes) -> str:
    """The wire form of a token (tests and tools; extensions only ever receive tokens)."""
    origin_part = base64.b32encode(origin.rstrip("/").encode()).decode().rstrip("=").lower()
    secret_part = base64.urlsafe_b64encode(secret).decode().rstrip("=")
    return f"{origin_part}.{key_id}.{secret_part}"
