"""SYMPHONY_ADDRESS resolution (docs/protocol.md §1.1); mirrors crates/protocol/src/address.rs's tests."""

from __future__ import annotations

import pytest

from cirata.symphony.address import resolve_address
from cirata.symphony.errors import InvalidAddressError


def test_origin_alone_is_used_as_is() -> None:
    a = resolve_address("http://localhost:8080", None)
    assert a.http_base == "http://localhost:8080"
    assert a.nats_host is None
    assert a.is_plaintext
    assert a.nats_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"


def test_bare_host_means_https_443_and_replaces_the_nats_host() -> None:
    a = resolve_address("http://internal:8080", "symphony.example.com")
    assert a.http_base == "https://symphony.example.com"
    assert not a.is_plaintext
    assert a.nats_url("nats://internal:4222") == "nats://symphony.example.com:4222"


def test_host_port_sets_the_https_port_only() -> None:
    a = resolve_address("http://internal:8080", "lb.example.com:8443")
    assert a.http_base == "https://lb.example.com:8443"
    assert a.nats_url("nats://internal:4222") == "nats://lb.example.com:4222"


def test_full_url_keeps_scheme_and_port_for_http_only() -> None:
    a = resolve_address("https://internal", "http://127.0.0.1:9090")
    assert a.http_base == "http://127.0.0.1:9090"
    assert a.is_plaintext
    assert a.nats_url("nats://internal:4222") == "nats://127.0.0.1:4222"


def test_ipv6_in_brackets_works() -> None:
    a = resolve_address("http://x", "[::1]:8080")
    assert a.http_base == "https://[::1]:8080"
    assert a.nats_url("nats://x:4222") == "nats://[::1]:4222"


@pytest.mark.parametrize(
    "bad",
    ["ftp://x", "http://", "http://x/path", "http://x?q=1", "host:notaport", "host:", "a b", "http://u:p@h"],
)
def test_garbage_is_a_clear_error(bad: str) -> None:
    with pytest.raises(InvalidAddressError, match="invalid address") as caught:
        resolve_address("http://ok:1", bad)
    assert caught.value.code == "invalid_address"
    assert isinstance(caught.value, ValueError)


def test_blank_override_is_ignored() -> None:
    assert resolve_address("http://ok:1", "  ").http_base == "http://ok:1"


def test_default_ports_and_case_are_normalised() -> None:
    assert resolve_address("https://Symphony.Example.com:443").http_base == "https://symphony.example.com"
    assert resolve_address("http://x", "HTTP://h:80/").http_base == "http://h"
