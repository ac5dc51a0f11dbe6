"""Token parsing (docs/protocol.md §1); mirrors crates/protocol/src/token.rs's tests."""

from __future__ import annotations

import base64
import secrets

import pytest

from cirata.symphony.errors import InvalidTokenError
from cirata.symphony.tokens import encode_token, parse_token


def key_id() -> str:
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def test_round_trip_keeps_origin_key_and_secret() -> None:
    kid, secret = key_id(), secrets.token_bytes(32)
    token = parse_token(encode_token("http://localhost:8080/", kid, secret))
    assert token.origin == "http://localhost:8080"
    assert token.key_id == kid
    assert token.secret == secret


def test_first_segment_is_lowercase_base32_of_the_origin_without_padding() -> None:
    first = encode_token("http://localhost:8080", key_id(), secrets.token_bytes(32)).split(".")[0]
    assert first == first.lower() and "=" not in first
    assert base64.b32decode(first.upper() + "=" * (-len(first) % 8)) == b"http://localhost:8080"


def test_malformed_tokens_say_which_part_is_wrong() -> None:
    good = encode_token("https://s.example.com", key_id(), secrets.token_bytes(32))
    origin, kid, secret = good.split(".")
    ftp = base64.b32encode(b"ftp://x").decode().rstrip("=").lower()
    cases = {
        "abc": "three dot-separated parts",
        f"{good}.x": "three dot-separated parts",
        f"!!.{kid}.{secret}": "origin",
        f"{ftp}.{kid}.{secret}": "origin",
        f"{origin}.short.{secret}": "key id",
        f"{origin}.{kid}.AAAA": "secret",
        f"{origin}.{kid}.{secret[:-1]}+": "secret",
    }
    for bad, part in cases.items():
        with pytest.raises(InvalidTokenError, match=part):
            parse_token(bad)


def test_repr_never_shows_the_secret() -> None:
    token = encode_token("http://h:1", key_id(), secrets.token_bytes(32))
    assert token.split(".")[2] not in repr(parse_token(token))
