"""`SYMPHONY_ADDRESS` and token origins: where the HTTP leg goes and which host the NATS leg uses
(docs/protocol.md §1.1). Pure functions, mirroring `crates/protocol/src/address.rs`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from .errors import InvalidAddressError
from .validation import WHITE_SPACE

ADDRESS_ENV = "SYMPHONY_ADDRESS"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_RE = re.compile(r"[A-Za-z0-9._-]+")


def _error(value: str, reason: str) -> InvalidAddressError:
    return InvalidAddressError(
        f"invalid address {value!r}: {reason} (expected a host, host:port, or http(s)://host[:port])"
    )


class _Bad(ValueError):
    """Why a URL was refused; turned into `InvalidAddressError` naming the value the user gave."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Address:
    """Where an SDK talks to Symphony."""

    http_base: str
    """Base URL of the HTTP leg, without a trailing slash (`https://host:8443`)."""
    nats_host: str | None = None
    """When set, the host that replaces the host of every NATS URL in the API key (IPv6 in brackets)."""

    @property
    def is_plaintext(self) -> bool:
        """True when the HTTP leg is plain `http`: the token travels unencrypted."""
        return self.http_base.startswith("http://")

    def nats_url(self, url_from_key: str) -> str:
        """Applies `nats_host` to a NATS URL from the API key, keeping its scheme, user info and port."""
        if self.nats_host is None:
            return url_from_key
        try:
            parts = urlsplit(url_from_key)
            port = parts.port
        except ValueError:
            return url_from_key
        if not parts.scheme or not parts.netloc:
            return url_from_key
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + self.nats_host
        if port is not None:
            netloc += f":{port}"
        rebuilt = SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment).geturl()
        return rebuilt.rstrip("/")


def url_host(parts: SplitResult) -> str:
    """The URL form of the host (lowercase, IDNA-encoded, IPv6 in brackets and shortest form); raises a
    `ValueError` when it is invalid."""
    host = parts.hostname
    if not host:
        raise _Bad("the host is empty")
    if "[" in parts.netloc:
        try:
            if "%" in host:  # a zone id: URLs have none
                raise ValueError(host)
            address = ipaddress.IPv6Address(host)
        except ValueError:
            raise _Bad("not a URL") from None
        return f"[{address.compressed}]"
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise _Bad("not a URL") from None
    if not _HOST_RE.fullmatch(host):
        raise _Bad("not a URL")
    return host.lower()


def _parse_url(value: str) -> tuple[str, str, int | None]:
    """(scheme, host, explicit non-default port) of an http(s) URL without path, query or user info."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise _Bad("not a URL") from None
    if not parts.scheme or "://" not in value:
        raise _Bad("not a URL")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _Bad("only http and https are allowed")
    host = url_host(parts)
    if parts.username is not None or parts.password is not None:
        raise _Bad("user info is not allowed")
    if parts.path not in ("", "/"):
        raise _Bad("a path is not allowed")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise _Bad("a query or fragment is not allowed")
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return scheme, host, port


def _base_of(scheme: str, host: str, port: int | None) -> str:
    return f"{scheme}://{host}" if port is None else f"{scheme}://{host}:{port}"


def resolve_address(origin: str, override: str | None = None) -> Address:
    """Resolves the address from the token's origin and an optional `SYMPHONY_ADDRESS` value.

    - no override (or a blank one): the origin as it is, NATS URLs untouched;
    - a bare host: `https://<host>` (port 443), NATS URLs get that host;
    - `host:port`: `https://<host>:<port>`, NATS URLs get that host and keep their port;
    - `http(s)://host[:port]`: exactly that for HTTP, NATS URLs get that host.

    Raises `InvalidAddressError` for anything else.
    """
    value = override.strip(WHITE_SPACE) if override else ""
    try:
        if not value:
            scheme, host, port = _parse_url(origin)
            return Address(_base_of(scheme, host, port))
        # A bare host or host:port means HTTPS; parsing it as a URL checks IPv6 literals and ports.
        scheme, host, port = _parse_url(value if "://" in value else f"https://{value}")
        if "://" not in value and value.endswith(":"):
            raise _Bad("the port is empty")
    except _Bad as bad:
        raise _error(value or origin, bad.reason) from None
    return Address(_base_of(scheme, host, port), nats_host=host)
