"""From a token to a NATS connection: the API-key exchange over HTTP (docs/protocol.md §2.1), provisioning a
permanent key from a registration token (§5.1), and the operator-mode NATS connect (§3).

Tokens and nkey seeds are never logged; logs name the key id and where a token came from.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any

import nats.errors
import nkeys
from nats.aio.client import Client

from . import subjects
from ._version import __version__
from .address import ADDRESS_ENV, Address, resolve_address
from .credentials import Candidate, CredentialStore, TokenSource
from .errors import (
    ConfigurationError,
    InvalidAddressError,
    InvalidTokenError,
    ProvisionError,
    SymphonyError,
    SymphonyRuntimeError,
    TokenRejectedError,
    UnreachableError,
)
from .jetstream import SymphonyClient
from .tokens import parse_token

log = logging.getLogger("cirata.symphony")

HTTP_TIMEOUT_SECS = 15.0
SERVICE_TIMEOUT_SECS = 10.0
CONNECT_TIMEOUT_SECS = 5
RECONNECT_WAIT_SECS = 2
# Attempts per server for the first connect; afterwards the client reconnects forever.
INITIAL_CONNECT_ATTEMPTS = 3

NO_TOKEN_HELP = (
    "no Symphony token: set SYMPHONY_TOKEN to an API key token, or REGISTRATION_TOKEN to a registration token "
    "(create one with `symphony token create --registration`); the extension then provisions its own key and "
    "stores it for later runs"
)


@dataclass(frozen=True)
class ApiKey:
    """`GET /api/v1/apikey` (docs/protocol.md §2.1). `jwt` and `seed` are secrets and never shown."""

    id: str
    kind: str
    name: str
    prefix: str | None
    jwt: str = field(repr=False)
    seed: str = field(repr=False)
    nats_urls: list[str]
    inbox_prefix: str
    capabilities: dict[str, Any]
    expires_at: str | None
    caller_signing_key: str | None = None
    """The platform's public caller-signing nkey (docs/protocol.md §7.3)."""
    jwt_expires_at: str | None = None
    """When `jwt` expires (nats-server then closes the connection)."""
    renew_after_secs: int | None = None
    """Exchange the token again after this many seconds (docs/protocol.md §9.3)."""
    instance_id: str | None = None
    """The instance this exchange is for, the JWT's `jti` (docs/protocol.md §12.1); `None` from a server older
    than instance ids."""

    @classmethod
    def from_json(cls, data: Any) -> ApiKey:
        try:
            return cls(
                id=str(data["id"]),
                kind=str(data["kind"]),
                name=str(data.get("name", "")),
                prefix=data.get("prefix"),
                jwt=str(data["jwt"]),
                seed=str(data["seed"]),
                nats_urls=[str(u) for u in data["nats_urls"]],
                inbox_prefix=str(data["inbox_prefix"]),
                capabilities=dict(data.get("capabilities") or {}),
                expires_at=data.get("expires_at"),
                caller_signing_key=data.get("caller_signing_key"),
                jwt_expires_at=data.get("jwt_expires_at"),
                renew_after_secs=(int(data["renew_after_secs"]) if data.get("renew_after_secs") is not None else None),
                instance_id=str(data["instance_id"]) if data.get("instance_id") is not None else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SymphonyRuntimeError(f"unexpected API key from Symphony: {e!r}", code="internal") from None

    @property
    def is_registration(self) -> bool:
        return self.kind == "registration"

    @property
    def instance(self) -> str:
        """The instance id, or the key id when the server named none (it then serves as one)."""
        return self.instance_id or self.id


@dataclass(frozen=True)
class Credentials:
    """A token Symphony accepted, the address it was sent to, and its API key."""

    token: str = field(repr=False)
    source: TokenSource
    address: Address
    api_key: ApiKey


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The bearer token must only go where the token (or SYMPHONY_ADDRESS) says: never follow redirects."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


CA_FILE_ENV = "SYMPHONY_CA_FILE"


def tls_context() -> ssl.SSLContext:
    """System roots plus the PEM CA in SYMPHONY_CA_FILE; host names are always checked."""
    context = ssl.create_default_context()
    ca_file = os.environ.get(CA_FILE_ENV, "").strip()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as e:
            raise ConfigurationError(
                f"{CA_FILE_ENV} {ca_file} cannot be used: {e}",
                code="invalid_address",
                hint=f"point {CA_FILE_ENV} at the PEM file of the CA that issued Symphony's certificate",
            ) from e
    return context


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=tls_context()))


_warned_plaintext = False


def _warn_plaintext_once(base: str) -> None:
    global _warned_plaintext  # noqa: PLW0603 - one warning per process, like the Rust SDK
    if not _warned_plaintext:
        _warned_plaintext = True
        log.warning(
            "Symphony is reached over plain http (%s): the token travels unencrypted; "
            "use https outside a trusted network",
            base,
        )


def _http_get(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"cirata-symphony-python/{__version__}",
        },
    )
    try:
        with _opener().open(request, timeout=HTTP_TIMEOUT_SECS) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


_CODE_FOR_STATUS = {401: "invalid_token", 403: "wrong_token_kind", 404: "not_found", 503: "not_ready"}


async def exchange(
    token: str, source: TokenSource, address_override: str | None, instance: str | None = None
) -> tuple[Address, ApiKey]:
    """`GET /api/v1/apikey` with the token: its NATS identity, for a new instance, or for `instance` (a renewal
    keeps the instance id, docs/protocol.md §12.1). Raises a `RuntimeError` subclass."""
    try:
        parsed = parse_token(token)
    except InvalidTokenError as e:
        raise ConfigurationError(
            f"{source} is malformed: {e.message}",
            code="invalid_token",
            hint="copy the whole token printed by `symphony key create` or `symphony token create`",
        ) from e
    try:
        address = resolve_address(parsed.origin, address_override)
    except InvalidAddressError as e:
        where = ADDRESS_ENV if address_override else f"the origin of {source}"
        raise ConfigurationError(f"{where}: {e.message}", code="invalid_address") from e
    if address.is_plaintext:
        _warn_plaintext_once(address.http_base)
    url = f"{address.http_base}/api/v1/apikey"
    if instance is not None:
        url += f"?instance={urllib.parse.quote(instance, safe='')}"
    try:
        status, body = await asyncio.to_thread(_http_get, url, token)
    except (OSError, ValueError) as e:
        raise UnreachableError(
            f"could not reach Symphony at {url}: {e}",
            hint=f"check that Symphony runs there, or set {ADDRESS_ENV} to where it can be reached",
        ) from e
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not 200 <= status < 300:
        if isinstance(data, dict) and isinstance(data.get("code"), str):
            code, message, hint = data["code"], str(data.get("message", "")), data.get("hint")
        else:
            snippet = body[:200].decode("utf-8", "replace")
            code, message, hint = _CODE_FOR_STATUS.get(status, "internal"), f"HTTP {status}: {snippet}", None
        raise TokenRejectedError(
            f"{source} was refused by {url}: {message}",
            status=status,
            code=code,
            hint=hint if isinstance(hint, str) else None,
        )
    api_key = ApiKey.from_json(data)
    if api_key.id != parsed.key_id:
        raise SymphonyRuntimeError(
            f"{url}: the API key is {api_key.id} but the token names {parsed.key_id}", code="internal"
        )
    if instance is not None and api_key.instance_id not in (None, instance):
        raise SymphonyRuntimeError(
            f"{url}: renewed instance {instance} but got instance {api_key.instance_id}", code="internal"
        )
    return address, api_key


def falls_through(source: TokenSource, error: Exception) -> bool:
    """Only a stored token that Symphony refuses (401) or that is damaged is skipped for the next candidate;
    explicit and environment tokens are the user's intent, so their failures are reported."""
    if source is not TokenSource.STORED:
        return False
    if isinstance(error, TokenRejectedError):
        return error.status == 401
    return isinstance(error, ConfigurationError) and error.code == "invalid_token"


ConnectionCallback = Callable[[], Awaitable[None]]


class KeyCell:
    """The credentials connections authenticate with, renewed in place: every (re)connect signs with the JWT
    in here, so a renewed JWT (a new exchange of the token, docs/protocol.md §9.3) is used from the next
    connect on. `trouble` is set when a connection lost the server (a capability edit revokes the JWTs
    issued before it; an expired JWT): the renewal then exchanges again."""

    def __init__(self, api_key: ApiKey, token: str | None = None, source: TokenSource | None = None) -> None:
        self.api_key = api_key
        self._token = token
        self._source = source
        self._address_override = os.environ.get(ADDRESS_ENV) or None
        self.trouble = asyncio.Event()

    def renew_after(self) -> float | None:
        """Seconds after the last exchange to exchange again (`None`: the JWT does not expire)."""
        secs = self.api_key.renew_after_secs
        return float(secs) if secs is not None else None

    async def renew(self) -> None:
        """Exchanges the token again for the same instance; the next connect uses the new JWT."""
        if self._token is None or self._source is None:
            return
        _, self.api_key = await exchange(self._token, self._source, self._address_override, self.api_key.instance_id)

    def user_jwt(self) -> bytes:
        return self.api_key.jwt.encode()

    def sign(self, nonce: str) -> bytes:
        key_pair = nkeys.from_seed(self.api_key.seed.encode())
        return base64.urlsafe_b64encode(key_pair.sign(nonce.encode())).rstrip(b"=")


async def connect_nats(
    key: ApiKey | KeyCell,
    address: Address,
    name: str,
    *,
    on_reconnected: ConnectionCallback | None = None,
) -> Client:
    """Connects with the key's user JWT (the current one of a `KeyCell` at every connect), signing the server
    nonce with its nkey seed, and with the key's inbox prefix (the only inbox its permissions allow). Gives up
    after a few attempts when no server answers; once connected, reconnects forever. Connection events are
    logged, never printed as tracebacks."""
    cell = key if isinstance(key, KeyCell) else KeyCell(key)
    api_key = cell.api_key
    try:
        nkeys.from_seed(api_key.seed.encode())
    except Exception:
        raise ConfigurationError("the API key's nkey seed is not a valid user seed", code="internal") from None
    urls = [address.nats_url(u) for u in api_key.nats_urls]
    if not urls:
        raise ConfigurationError("the API key lists no NATS URLs", code="internal")
    user_jwt = cell.user_jwt
    sign = cell.sign

    errors: list[Exception] = []

    async def on_error(error: Exception) -> None:
        errors.append(error)
        log.warning("NATS (%s): %s", name, error or type(error).__name__)

    nc = SymphonyClient()

    async def on_disconnected() -> None:
        # nats-py also reports a deliberate close() or drain() as a disconnect.
        if nc.is_closed:
            return
        cell.trouble.set()
        log.warning("NATS (%s): disconnected; reconnecting", name)

    async def on_reconnect() -> None:
        log.info("NATS (%s): reconnected", name)
        if on_reconnected is not None:
            await on_reconnected()

    async def on_closed() -> None:
        log.debug("NATS (%s): connection closed", name)

    # nats-py 2.16 can wait forever after a failed TLS handshake (nats-io/nats.py#718): bound the first
    # connect by the time its own attempts may take, plus slack.
    deadline = len(urls) * INITIAL_CONNECT_ATTEMPTS * (CONNECT_TIMEOUT_SECS + RECONNECT_WAIT_SECS) + 5
    try:
        await asyncio.wait_for(
            nc.connect(
                servers=urls,
                name=name,
                user_jwt_cb=user_jwt,
                signature_cb=sign,
                inbox_prefix=api_key.inbox_prefix,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnect,
                closed_cb=on_closed,
                connect_timeout=CONNECT_TIMEOUT_SECS,
                reconnect_time_wait=RECONNECT_WAIT_SECS,
                max_reconnect_attempts=INITIAL_CONNECT_ATTEMPTS,
                tls=tls_context() if any(u.startswith("tls://") for u in urls) else None,
            ),
            timeout=deadline,
        )
    except (OSError, asyncio.TimeoutError, nats.errors.Error) as e:
        # The reported error says why (e.g. a refused certificate) better than a timeout does.
        cause = errors[-1] if errors else e
        raise UnreachableError(
            f"could not connect to NATS at {', '.join(urls)}: {cause or type(cause).__name__}",
            hint=f"check that the NATS port is reachable from here, set {ADDRESS_ENV}, "
            f"or point {CA_FILE_ENV} at the CA of Symphony's certificate",
        ) from cause
    # nats-py retries the *first* connect forever when max_reconnect_attempts is -1; only after it succeeded
    # do we ask for endless reconnects (the option is read on every reconnect).
    nc.options["max_reconnect_attempts"] = -1
    return nc


def decode_reply(payload: bytes, error_type: type[SymphonyError], what: str) -> dict[str, Any]:
    """A NATS reply that is either the result object or `{"error": {...}}` (docs/protocol.md §5)."""
    try:
        data = json.loads(payload)
    except ValueError:
        raise error_type(f"unexpected reply to {what}: not JSON", code="internal") from None
    if not isinstance(data, dict):
        raise error_type(f"unexpected reply to {what}: not an object", code="internal")
    if "error" in data:
        raise error_type.from_body(data["error"], f"{what} failed: {data['error']!r}")
    return data


async def request_json(
    nc: Client, subject: str, body: dict[str, Any], error_type: type[SymphonyError], what: str
) -> dict[str, Any]:
    """Sends `body` to one of Symphony's services and decodes the reply."""
    try:
        msg = await nc.request(subject, json.dumps(body).encode(), timeout=SERVICE_TIMEOUT_SECS)
    except nats.errors.NoRespondersError:
        raise error_type(f"{what}: Symphony's registry is not listening on {subject}", code="not_ready") from None
    except asyncio.TimeoutError:
        raise error_type(
            f"{what}: no reply from Symphony within {SERVICE_TIMEOUT_SECS:g} s", code="not_ready"
        ) from None
    return decode_reply(msg.data, error_type, what)


async def provision(creds: Credentials, request: dict[str, Any]) -> tuple[str, str]:
    """Trades a registration key for a permanent one; returns (token, key id)."""
    nc = await connect_nats(creds.api_key, creds.address, f"{request['prefix']}-provision")
    try:
        reply = await request_json(
            nc,
            subjects.provision(creds.api_key.id),
            request,
            ProvisionError,
            "provisioning",
        )
    finally:
        await nc.close()
    token, key_id = reply.get("token"), reply.get("id")
    if not isinstance(token, str) or not isinstance(key_id, str):
        raise ProvisionError("unexpected reply to provisioning: no token or id", code="internal")
    return token, key_id


async def resolve_credentials(
    candidates: list[Candidate], store: CredentialStore, provision_request: dict[str, Any]
) -> Credentials:
    """Finds a token Symphony accepts and, for a registration token, provisions and stores a permanent key.

    Returns the permanent key's credentials. The candidate list must not be empty.
    """
    address_override = os.environ.get(ADDRESS_ENV) or None
    accepted: Credentials | None = None
    last_error: Exception | None = None
    for candidate in candidates:
        try:
            address, api_key = await exchange(candidate.token, candidate.source, address_override)
        except (TokenRejectedError, ConfigurationError) as e:
            if not falls_through(candidate.source, e):
                raise
            log.warning("skipping the stored token (%s); trying SYMPHONY_TOKEN / REGISTRATION_TOKEN", e)
            last_error = e
            continue
        accepted = Credentials(candidate.token, candidate.source, address, api_key)
        break
    if accepted is None:
        raise last_error or ConfigurationError(NO_TOKEN_HELP, code="missing_token")
    log.info(
        "token accepted",
        extra={"key_id": accepted.api_key.id, "kind": accepted.api_key.kind, "source": str(accepted.source)},
    )
    if not accepted.api_key.is_registration:
        return accepted

    token, key_id = await provision(accepted, provision_request)
    log.info("provisioned a permanent API key", extra={"key_id": key_id})
    try:
        where = await asyncio.to_thread(store.save, token)
        log.info("stored the permanent token in %s", where)
    except OSError as e:
        log.error(
            "could not store the permanent token (%s); this run continues, but the next start needs "
            "SYMPHONY_TOKEN (revoke key %s and create a new one) or a new registration token",
            e,
            key_id,
        )
    address, api_key = await exchange(token, TokenSource.PROVISIONED, address_override)
    return Credentials(token, TokenSource.PROVISIONED, address, api_key)
