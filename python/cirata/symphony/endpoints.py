"""Micro-service endpoints (`io.nats.micro.v1`) on nats-py's `nats.micro`: services, groups, handlers, and
failure replies that never leave a caller waiting (docs/protocol.md §5.5).

Handlers are `async def handler(req)`; `req` has `data`, `subject`, `headers`, `nc`, `caller` (the gateway's
verified caller) and `await req.respond(...)`.
A handler that raises is answered with the headers `Nats-Service-Error: <message>`,
`Nats-Service-Error-Code: 500` and the body `{"error":{"code":"handler_failed","message":"…"}}`.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from nats.aio.client import Client
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
    handler: Handler, nc: Client, caller_key: str | None = None
) -> Callable[[micro_request.Request], Awaitable[None]]:
    async def serve(inner: micro_request.Request) -> None:
        req = Request(inner, nc, caller_key)
        try:
            result = handler(req)
            if inspect.isawaitable(result):
                await result
        except Exception as error:
            log.exception("endpoint handler for %s failed", inner.subject)
            if req.responded:
                return
            body, headers = failure_reply(error)
            try:
                await inner.respond(body, headers=headers)
            except Exception:
                log.exception("could not send the error reply on %s", inner.subject)

    return serve


class ServiceRegistry:
    """The services an extension started: their manifest specs and their nats-py objects."""

    def __init__(self, caller_key: str | None = None) -> None:
        self._specs: list[dict[str, Any]] = []
        self._services: list[Service] = []
        self.caller_key = caller_key
        """The platform's public caller-signing key, from the key exchange (`req.caller` verifies against it)."""

    def specs(self) -> list[dict[str, Any]]:
        """`manifest.endpoints`: one entry per service (docs/protocol.md §5.2)."""
        return [{**spec, "endpoints": [dict(e) for e in spec["endpoints"]]} for spec in self._specs]

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
        try:
            service = await add_service(
                nc, name=name, version=version, description=description or "", metadata=metadata
            )
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
        self._services.append(service)
        return EndpointService(service, spec, nc, capabilities, self.caller_key)

    async def stop_all(self) -> None:
        """Stops every service: no new requests are taken."""
        services, self._services = self._services, []
        for service in services:
            try:
                await service.stop()
            except Exception as e:
                log.warning("stopping a service failed: %s", e)


class _EndpointAdder:
    """What services and groups share: adding endpoints under a subject prefix."""

    def __init__(
        self,
        service: Service,
        spec: dict[str, Any],
        nc: Client,
        capabilities: Callable[[], Iterable[dict[str, str]]],
        prefix: str | None,
        queue_group: str | None,
        caller_key: str | None = None,
    ) -> None:
        self._caller_key = caller_key
        self._service = service
        self._spec = spec
        self._nc = nc
        self._capabilities = capabilities
        self._prefix = prefix
        self._queue_group = queue_group

    def add_group(self, name: str, queue_group: str | None = None) -> EndpointGroup:
        """A group: endpoints added to it listen on `<name>.<endpoint>` (`cirata.extensions.<prefix>`)."""
        if not name or any(c.isspace() for c in name) or ">" in name:
            raise InvalidManifestError(f"group name {name!r} must be a subject prefix without spaces or '>'")
        full = f"{self._prefix}.{name}" if self._prefix else name
        return EndpointGroup(
            self._service,
            self._spec,
            self._nc,
            self._capabilities,
            full,
            queue_group or self._queue_group,
            self._caller_key,
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
        try:
            config = EndpointConfig(
                name=name,
                handler=_wrap(handler, self._nc, self._caller_key),
                subject=full,
                metadata=metadata,
                queue_group=queue_group or self._queue_group,
            )
        except ValueError as e:
            raise InvalidManifestError(f"endpoint {name!r}: {e}") from e
        await self._service.add_endpoint(config)
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
        service: Service,
        spec: dict[str, Any],
        nc: Client,
        capabilities: Callable[[], Iterable[dict[str, str]]],
        caller_key: str | None = None,
    ) -> None:
        super().__init__(service, spec, nc, capabilities, None, None, caller_key)

    @property
    def service(self) -> Service:
        """The underlying `nats.micro` service (info, stats)."""
        return self._service

    @property
    def name(self) -> str:
        return str(self._spec["service"])

    async def stop(self) -> None:
        """Stops the service; its spec stays in the manifest until the process ends."""
        await self._service.stop()


class EndpointGroup(_EndpointAdder):
    """Endpoints sharing a subject prefix, from `service.add_group(name=...)`."""

    @property
    def name(self) -> str:
        return self._prefix or ""
