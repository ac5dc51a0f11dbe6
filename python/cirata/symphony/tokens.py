"""Tokens: `<origin-b32>.<key-id>.<secret>` (docs/protocol.md §1), mirroring `crates/protocol/src/token.rs`.

Tokens are secrets: nothing here logs them, and `Token.__repr__` never shows the secret.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .address import url_host
from .errors import InvalidTokenError
from .validation import WHITE_SPACE

KEY_ID_LEN = 26
SECRET_LEN = 32
_KEY_ID_RE = re.compile(rf"[a-z2-7]{{{KEY_ID_LEN}}}")
_BASE32_RE = re.compile(r"[A-Za-z2-7]*")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Token:
    """A parsed token. `key_id` is also the NATS JWT `jti` and the instance id of whatever runs with it."""

    origin: str
    key_id: str
    secret: bytes = field(repr=False)


def _decode_origin(part: str) -> str:
    """Strict unpadded base32 (any case; no padding, no unused bits set) of an http(s) URL with a valid host."""
    bad = InvalidTokenError("the token's origin is not valid base32 of an http(s) URL")
    if not _BASE32_RE.fullmatch(part):
        raise bad
    try:
        raw = base64.b32decode(part.upper() + "=" * (-len(part) % 8))
        origin = raw.decode("utf-8")
        parsed = urlsplit(origin)
        url_host(parsed)  # a missing or malformed host raises ValueError
    except (binascii.Error, ValueError):
        raise bad from None
    canonical = base64.b32encode(raw).decode().rstrip("=") == part.upper()
    if not canonical or parsed.scheme not in ("http", "https"):
        raise bad
    return origin


def _decode_secret(part: str) -> bytes:
    if not _SECRET_RE.fullmatch(part):
        raise InvalidTokenError("the token's secret is malformed")
    try:
        secret = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTokenError("the token's secret is malformed") from None
    # Only the canonical spelling: no unused bits set in the last character.
    if len(secret) != SECRET_LEN or base64.urlsafe_b64encode(secret).decode().rstrip("=") != part:
        raise InvalidTokenError("the token's secret is malformed")
    return secret


def parse_token(token: str) -> Token:
    """Parses `<origin-b32>.<key-id>.<secret>`; raises `InvalidTokenError` saying which part is wrong."""
    parts = token.strip(WHITE_SPACE).split(".") if isinstance(token, str) else []
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
