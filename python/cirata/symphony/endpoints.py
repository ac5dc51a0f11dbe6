"""Micro-service endpoints (`io.nats.micro.v1`) on nats-py's `nats.micro`: services, groups, handlers, and
failure replies that never leave a caller waiting (docs/protocol.md §5.5).

Handlers are `async def handler(req)`; `req` has `data`, `subject`, `headers`, `nc`, `caller` (the gateway's
verified caller) and `await req.respond(...)`.
A handler that raises is answered with the headers `Nats-Service-Error: <message>`,
`Nats-Service-Error-Code: 500` and the body `{"error":{"code":"handler_failed","message":"…"}}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.micro import add_service
from nats.micro import request as micro_request
from nats.micro.service import EndpointConfig, Service

from .caller import verified_caller
from .errors import InvalidManifestError
from .validation import normalize_service_version, subject_matches, validate_service_name

log = logging.getLogger("cirata.symphony")

HANDLER_FAILED = "handler_failed"
_MAX_HEADER_LEN = 512


class Request:
    """One request to an endpoint: the payload, the subject it came on, and the way to answer it."""

    __slots__ = ("_caller_key", "_inner", "nc", "responded")

    def __init__(self, inner: micro_request.Request, nc: Client, caller_key: str | None = None) -> None:
        self._inner = inner
        self._caller_key = caller_key
        self.nc: Client = nc
        """The extension's NATS connection, for outbound requests and KV (`req.nc.jetstream()`)."""
        self.responded = False

    @property
    def data(self) -> bytes:
        """The request payload."""
        return self._inner.data

    @property
    def subject(self) -> str:
        """The subject the request arrived on."""
        return self._inner.subject

    @property
    def headers(self) -> dict[str, str] | None:
        """The request headers, if any."""
        return self._inner.headers

    @property
    def caller(self) -> str | None:
        """Who called through Symphony's REST gateway (`user:<name>`, or an API key's id), only when the platform's
        `Symphony-Caller-Signature` verifies for this subject and payload; `None` for requests that did not come
        through the gateway or carry a forged `Symphony-Caller`. Authorize on this, never on the raw header."""
        return verified_caller(self._caller_key, self.headers, self.subject, self.data)

    def json(self) -> Any:
        """The payload parsed as JSON (raises `ValueError` when it is not JSON)."""
        return json.loads(self.data)

    async def respond(self, data: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Answers the request. Each request may be answered once."""
        self.responded = True
        await self._inner.respond(data, headers=headers)

    async def respond_error(
        self, code: str, description: str, data: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        """Answers with the micro error headers `Nats-Service-Error(-Code)`."""
        self.responded = True
        await self._inner.respond_error(code, _header_safe(description), data, headers)


Handler = Callable[[Request], Awaitable[Any]]


def _header_safe(text: str) -> str:
    """A header value: one line, bounded (a newline would break the NATS protocol line)."""
    one_line = " ".join(text.split())
    return one_line[:_MAX_HEADER_LEN]


def failure_reply(error: BaseException) -> tuple[bytes, dict[str, str]]:
    """Body and headers answering a request whose handler raised `error`."""
    message = str(error) or type(error).__name__
    body = json.dumps({"error": {"code": HANDLER_FAILED, "message": message}}).encode()
    headers = {
        micro_request.ERROR_HEADER: _header_safe(message),
        micro_request.ERROR_CODE_HEADER: "500",
    }
    return body, headers


def _wrap(
    handler: Handler, nc: Client, caller_key: str | None = None, what: str = "endpoint handler"
) -> Callable[[micro_request.Request], Awaitable[None]]:
    async def serve(inner: micro_request.Request) -> None:
        req = Request(inner, nc, caller_key)
        try:
            result = handler(req)
            if inspect.isawaitable(result):
                await result
        except Exception as error:
            log.exception("%s for %s failed", what, inner.subject)
            if req.responded:
                return
            body, headers = failure_reply(error)
            try:
                await inner.respond(body, headers=headers)
            except Exception:
                log.exception("could not send the error reply on %s", inner.subject)

    return serve


async def _add_service(nc: Client, config: dict[str, Any]) -> Service:
    return await add_service(
        nc,
        name=config["name"],
        version=config["version"],
        description=config["description"],
        metadata=config["metadata"],
    )


class _Slot:
    """One started service: how it was started and its endpoints (to start it again on another connection),
    and the nats-py service currently serving it."""

    def __init__(
        self, service: Service, config: dict[str, Any], serving: Client, caller_key: str | None = None
    ) -> None:
        self.service = service
        self.config = config
        self.caller_key = caller_key
        """The platform's public caller-signing key (`req.caller` verifies against it)."""
        self.endpoints: list[dict[str, Any]] = []
        self.serving = serving
        """The connection the service listens on."""


MsgCallback = Callable[[Msg], Awaitable[None]]


class _Listener:
    """A plain subscription served beside the services (instance handlers, commands): how to make it again on
    another connection, and the nats-py subscription currently serving it."""

    def __init__(self, subject: str, queue: str, callback: MsgCallback, subscription: Subscription) -> None:
        self.subject = subject
        self.queue = queue
        self.callback = callback
        self.subscription = subscription


class ServiceRegistry:
    """The services an extension started: their manifest specs and their nats-py objects, plus the plain
    subscriptions served beside them (`listen()`: instance handlers and commands, docs/protocol.md §12).

    Services listen on a connection of their own (`connect()` makes it, with the session's credentials), so a
    renewal can move them to a connection with a new JWT and drain the old one: nats-py's drain unsubscribes,
    waits for the server's round trip and for the handlers in flight, then closes (docs/protocol.md §9.3)."""

    def __init__(
        self, connect: Callable[[], Awaitable[Client]] | None = None, caller_key: str | None = None
    ) -> None:
        self._specs: list[dict[str, Any]] = []
        self._slots: list[_Slot] = []
        self.caller_key = caller_key
        """The platform's public caller-signing key, from the key exchange (`req.caller` verifies against it)."""
        self._connect = connect
        self._serving: Client | None = None
        self._listeners: list[_Listener] = []
        self._changing = asyncio.Lock()

    def specs(self) -> list[dict[str, Any]]:
        """`manifest.endpoints`: one entry per service (docs/protocol.md §5.2)."""
        return [{**spec, "endpoints": [dict(e) for e in spec["endpoints"]]} for spec in self._specs]

    def has_services(self) -> bool:
        """Whether anything serves on the services' own connection (a renewal then moves it)."""
        return bool(self._slots or self._listeners) and self._connect is not None

    async def listen(self, nc: Client, subject: str, queue: str, callback: MsgCallback) -> None:
        """Subscribes `callback` to `subject` (in `queue`, `""` for none) on the services' connection, and keeps
        it there across renewals. Returns once nats-server has the subscription (a round trip)."""
        async with self._changing:
            serving = await self._serving_connection(nc)
            subscription = await serving.subscribe(subject, queue=queue, cb=callback)
            self._listeners.append(_Listener(subject, queue, callback, subscription))
            await serving.flush()

    async def connect_fresh(self) -> Client:
        """A new connection for the services (with the current credentials)."""
        assert self._connect is not None
        return await self._connect()

    async def _serving_connection(self, nc: Client) -> Client:
        if self._serving is None:
            self._serving = await self._connect() if self._connect is not None else nc
        return self._serving

    async def start(
        self,
        nc: Client,
        name: str,
        version: str,
        description: str | None,
        metadata: dict[str, str] | None,
        capabilities: Callable[[], Iterable[dict[str, str]]],
    ) -> EndpointService:
        validate_service_name(name)
        version = normalize_service_version(version)
        if any(spec["service"] == name for spec in self._specs):
            raise InvalidManifestError(f"service {name!r} is already started")
        metadata = dict(metadata or {})
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidManifestError(f"service {name!r}: metadata keys and values must be strings")
        config = {"name": name, "version": version, "description": description or "", "metadata": metadata}
        async with self._changing:
            serving = await self._serving_connection(nc)
            try:
                service = await _add_service(serving, config)
            except ValueError as e:
                raise InvalidManifestError(f"service {name!r}: {e} (the version must be semver, e.g. 1.0.0)") from e
            spec: dict[str, Any] = {
                "service": name,
                "version": version,
                "description": description or "",
                "metadata": metadata,
                "endpoints": [],
            }
            self._specs.append(spec)
            slot = _Slot(service, config, serving, self.caller_key)
            self._slots.append(slot)
        return EndpointService(slot, spec, nc, capabilities, self._changing)

    async def move_to(self, fresh: Client) -> None:
        """Starts every service on `fresh`, makes sure nats-server has its subscriptions (a round trip), then
        drains the connection they served on: both serve during the handover, and the requests in flight on
        the old one are answered there."""
        async with self._changing:
            started = []
            for slot in self._slots:
                service = await _add_service(fresh, slot.config)
                for endpoint in slot.endpoints:
                    await service.add_endpoint(EndpointConfig(**endpoint))
                started.append((slot, service))
            subscribed = [
                (listener, await fresh.subscribe(listener.subject, queue=listener.queue, cb=listener.callback))
                for listener in self._listeners
            ]
            await fresh.flush()
            old, self._serving = self._serving, fresh
            for slot, service in started:
                slot.service, slot.serving = service, fresh
            for listener, subscription in subscribed:
                listener.subscription = subscription
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.drain()

    async def stop_all(self) -> None:
        """Stops every service: no new requests are taken; the services' connection is drained."""
        slots, self._slots = self._slots, []
        for slot in slots:
            try:
                await slot.service.stop()
            except Exception as e:
                log.warning("stopping a service failed: %s", e)
        # Draining the connection ends the listeners' subscriptions after the messages they already have.
        self._listeners = []
        serving, self._serving = self._serving, None
        if serving is not None and self._connect is not None:
            with contextlib.suppress(Exception):
                await serving.drain()


class _EndpointAdder:
    """What services and groups share: adding endpoints under a subject prefix."""

    def __init__(
        self,
        slot: _Slot,
        spec: dict[str, Any],
        nc: Client,
        capabilities: Callable[[], Iterable[dict[str, str]]],
        prefix: str | None,
        queue_group: str | None,
        changing: asyncio.Lock,
    ) -> None:
        self._slot = slot
        self._spec = spec
        self._nc = nc
        self._capabilities = capabilities
        self._prefix = prefix
        self._queue_group = queue_group
        self._changing = changing

    def add_group(self, name: str, queue_group: str | None = None) -> EndpointGroup:
        """A group: endpoints added to it listen on `<name>.<endpoint>` (`cirata.extensions.<prefix>`)."""
        if not name or any(c.isspace() for c in name) or ">" in name:
            raise InvalidManifestError(f"group name {name!r} must be a subject prefix without spaces or '>'")
        full = f"{self._prefix}.{name}" if self._prefix else name
        return EndpointGroup(
            self._slot,
            self._spec,
            self._nc,
            self._capabilities,
            full,
            queue_group or self._queue_group,
            self._changing,
        )

    async def add_endpoint(
        self,
        name: str,
        handler: Handler,
        subject: str | None = None,
        metadata: dict[str, str] | None = None,
        queue_group: str | None = None,
    ) -> None:
        """Starts an endpoint on `<group>.<subject or name>` (queue group `q`) and records it in the manifest."""
        validate_service_name(name)
        local = subject or name
        full = f"{self._prefix}.{local}" if self._prefix else local
        self._warn_if_not_granted(full)
        endpoint: dict[str, Any] = {
            "name": name,
            "handler": _wrap(handler, self._nc, self._slot.caller_key),
            "subject": full,
            "metadata": metadata,
            "queue_group": queue_group or self._queue_group,
        }
        try:
            config = EndpointConfig(**endpoint)
        except ValueError as e:
            raise InvalidManifestError(f"endpoint {name!r}: {e}") from e
        async with self._changing:
            await self._slot.service.add_endpoint(config)
            self._slot.endpoints.append(endpoint)
            # The services' connection is not the session's: a round trip makes sure nats-server has the
            # subscription before anyone calls the endpoint through the session's connection.
            await self._slot.serving.flush()
        self._spec["endpoints"].append({"name": name, "subject": full})

    def _warn_if_not_granted(self, subject: str) -> None:
        """nats-server refuses subscriptions the key has no `sub` capability for; say so up front."""
        subs = [c["subject"] for c in self._capabilities() if c["kind"] == "sub"]
        granted = subs + [f"cirata.{s}" for s in subs]
        if not any(subject_matches(pattern, subject) for pattern in granted):
            tail = subject.removeprefix("cirata.")
            log.warning(
                "endpoint subject %s is not covered by a declared `sub` capability; nats-server will refuse "
                "the subscription unless the key allows it (declare add_capability('sub', '%s', …))",
                subject,
                tail,
            )


class EndpointService(_EndpointAdder):
    """A running micro service, from `await ext.add_endpoints(...)`."""

    def __init__(
        self,
        slot: _Slot,
        spec: dict[str, Any],
        nc: Client,
        capabilities: Callable[[], Iterable[dict[str, str]]],
        changing: asyncio.Lock,
    ) -> None:
        super().__init__(slot, spec, nc, capabilities, None, None, changing)

    @property
    def service(self) -> Service:
        """The underlying `nats.micro` service (info, stats); a renewal replaces it."""
        return self._slot.service

    @property
    def name(self) -> str:
        return str(self._spec["service"])

    async def stop(self) -> None:
        """Stops the service; its spec stays in the manifest until the process ends."""
        await self._slot.service.stop()


class EndpointGroup(_EndpointAdder):
    """Endpoints sharing a subject prefix, from `service.add_group(name=...)`."""

    @property
    def name(self) -> str:
        return self._prefix or ""
