"""The signed caller (docs/protocol.md §7.3).

Symphony's REST gateway names who called an endpoint in `Symphony-Caller` (`user:<name>` or a key id) and signs
it, with the endpoint's subject, the time and the payload's SHA-256, using the platform's caller-signing nkey.
Anyone allowed to publish to an endpoint can set `Symphony-Caller`; only the platform can sign it. `req.caller`
is the verified value (or `None`): authorize on that, never on the raw header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time

import nacl.exceptions
import nacl.signing
import nkeys

from .errors import ValidationError

CALLER_HEADER = "Symphony-Caller"
SIGNATURE_HEADER = "Symphony-Caller-Signature"
MAX_SKEW_SECS = 300
_VERSION = "v1"


class InvalidCallerSignatureError(ValidationError):
    """`Symphony-Caller-Signature` is missing, malformed, too old, or not the platform's."""

    default_code = "invalid_caller_signature"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed_message(subject: str, caller: str, issued_at: int, body: bytes) -> bytes:
    """The bytes the platform signs."""
    digest = _b64url(hashlib.sha256(body).digest())
    return f"symphony-caller/{_VERSION}\n{subject}\n{caller}\n{issued_at}\n{digest}".encode()


def _public_key_bytes(public_key: str) -> bytes:
    """The raw ed25519 key of an nkey public key (`N…`, `A…`, …), its checksum checked."""
    try:
        raw = base64.b32decode(public_key.encode())
    except (binascii.Error, ValueError):
        raise InvalidCallerSignatureError("the platform's caller-signing key is not an nkey") from None
    if len(raw) != 35 or nkeys.crc16_checksum(raw[:33]) != raw[33:]:
        raise InvalidCallerSignatureError("the platform's caller-signing key is not an nkey")
    return raw[1:33]


def verify(public_key: str, signature: str, subject: str, caller: str, body: bytes, now: int | None = None) -> None:
    """Raises `InvalidCallerSignatureError` unless `signature` is the platform's for this request."""
    parts = signature.split(".", 2)
    if len(parts) != 3:
        raise InvalidCallerSignatureError("the caller signature is not v1.<time>.<signature>")
    version, issued, sig = parts
    if version != _VERSION:
        raise InvalidCallerSignatureError(f"unknown caller signature version {version!r}")
    if not issued.isascii() or not issued.isdigit():
        raise InvalidCallerSignatureError("the caller signature's time is not unix seconds")
    issued_at = int(issued)
    now = int(time.time()) if now is None else now
    if abs(now - issued_at) > MAX_SKEW_SECS:
        raise InvalidCallerSignatureError(
            f"the caller signature is from {issued_at}, more than {MAX_SKEW_SECS} s from now ({now})"
        )
    if not sig or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in sig):
        raise InvalidCallerSignatureError("the caller signature is not base64url")
    try:
        raw_sig = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCallerSignatureError("the caller signature is not base64url") from None
    key = nacl.signing.VerifyKey(_public_key_bytes(public_key))
    try:
        key.verify(signed_message(subject, caller, issued_at, body), raw_sig)
    except (nacl.exceptions.BadSignatureError, ValueError):
        raise InvalidCallerSignatureError("the caller signature does not match") from None


def verified_caller(
    public_key: str | None, headers: dict[str, str] | None, subject: str, body: bytes
) -> str | None:
    """`Symphony-Caller` when its signature verifies, else `None`."""
    if public_key is None or not headers:
        return None
    caller = headers.get(CALLER_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if caller is None or signature is None:
        return None
    try:
        verify(public_key, signature, subject, caller, body)
    except InvalidCallerSignatureError:
        return None
    return caller
