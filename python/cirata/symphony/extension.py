"""`Extension`: what an extension declares (capabilities, UI, buckets, endpoints) and its connected lifecycle.

```python
ext = symphony.Extension("Hello World", "hello")
async with ext:          # resolve the token, provision if needed, connect, register
    await ext.operate()  # heartbeat until SIGINT/SIGTERM, then shut down gracefully
```

While it runs, handlers and tasks report the instance's health: `await ext.set_health("warning", "disk 91% full")`,
`await ext.set_health("ok")`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from ._version import __version__
from .bootstrap import NO_TOKEN_HELP, KeyCell, connect_nats, resolve_credentials
from .client import Common
from .credentials import CredentialStore, resolve_candidates
from .endpoints import EndpointService, Handler, ServiceRegistry
from .errors import InvalidBucketError, InvalidManifestError, NotConnectedError, PartitioningError
from .handlers import Handlers
from .lifecycle import PROTOCOL_VERSION, Session
from .partitioning import Membership, OnRebalance, WorkPartitioner
from .validation import (
    HTMX_MIME,
    validate_bucket_limits,
    validate_bucket_name,
    validate_capability,
    validate_health,
    validate_menu,
    validate_name,
    validate_prefix,
    validate_resource,
    validate_resource_uri,
    validate_route_path,
)

log = logging.getLogger("cirata.symphony")

SDK_NAME = "cirata-symphony-python"

RouteTree = Mapping[str, Any]
"""Nested routes: `{"/settings": {"uri": "ui://p/settings", "routes": {...}}}` (paths relative to the parent)."""


class Extension:
    """A Symphony extension. Declare capabilities, UI and buckets, then `async with ext:` and `operate()`.

    `name` is shown to people; `prefix` (`^[a-z][a-z0-9_]{0,31}$`) namespaces subjects, resource URIs and
    buckets. The token is resolved here: the `token` argument, else the token stored by an earlier
    provisioning, else `SYMPHONY_TOKEN`, else `REGISTRATION_TOKEN`. `ext.token` is `None` when there is none.
    """

    def __init__(self, name: str, prefix: str, token: str | None = None, description: str | None = None) -> None:
        validate_name(name)
        validate_prefix(prefix)
        self.name = name
        self.prefix = prefix
        self.description = description or ""
        self._candidates = resolve_candidates(prefix, token)
        self._capabilities: list[dict[str, str]] = []
        self._resources: list[dict[str, str]] = []
        self._routes: list[dict[str, Any]] = []
        self._menus: list[dict[str, str]] = []
        self._widgets: list[dict[str, str]] = []
        self._buckets: list[dict[str, Any]] = []
        self._services = ServiceRegistry()
        self._handlers = Handlers()
        self._partitioner = WorkPartitioner()
        self._session: Session | None = None
        self._health: tuple[str, str | None] = ("ok", None)
        self._stop = asyncio.Event()
        self.common = Common(lambda: self.nc)
        """`ext.common.client.request(...)` / `.publish(...)` on the extension's connection."""

    # --- declarations -------------------------------------------------------------------------------------

    def add_capability(self, kind: str, subject: str, description: str) -> Extension:
        """Declares a NATS capability: `kind` is `"pub"` or `"sub"`, `subject` is `extensions.<prefix>[.<rest>]`.

        Wildcards (`*`, `>`) are allowed only inside the extension's own prefix; another extension's subject
        must be named in full. Declaring the same kind and subject twice keeps the first.
        """
        validate_capability(kind, subject, self.prefix)
        if not any(c["kind"] == kind and c["subject"] == subject for c in self._capabilities):
            self._capabilities.append({"kind": kind, "subject": subject, "description": description or ""})
        return self

    def add_resource(self, uri: str, mime: str, content: str) -> Extension:
        """Declares a UI resource `ui://<prefix>/<name>` with one of the MIME types of docs/protocol.md §5.2."""
        validate_resource(self.prefix, uri, mime, content)
        if any(r["uri"] == uri for r in self._resources):
            raise InvalidManifestError(f"resource {uri!r} is declared twice; use update_resource() to change it")
        self._resources.append({"uri": uri, "mime_type": mime, "content": content})
        return self

    def add_htmx_resource(self, uri: str, path: str) -> Extension:
        """Declares an HTMX resource: Symphony serves the shell and loads the page `path` first."""
        return self.add_resource(uri, HTMX_MIME, json.dumps({"entry": path}))

    def add_route(self, path: str, uri: str, routes: RouteTree | None = None) -> Extension:
        """Maps `path` to the resource `uri`, with optional nested routes
        `{"/settings": {"uri": "ui://<prefix>/settings", "routes": {...}}}` (paths relative to `path`)."""
        self._routes.append(self._route(path, uri, routes))
        return self

    def add_menu(self, group: str, label: str, route: str, icon: str) -> Extension:
        """Adds a navigation entry: `group` (e.g. `"main"`), `label`, the `route` it opens, a Font Awesome icon."""
        validate_menu(group, label, route)
        self._menus.append({"group": group, "label": label, "route": route, "icon": icon or ""})
        return self

    def add_widget(self, uri: str, title: str, description: str) -> Extension:
        """Offers a resource as a dashboard widget."""
        validate_resource_uri(self.prefix, uri)
        self._widgets.append({"uri": uri, "title": title, "description": description or ""})
        return self

    def add_bucket(
        self,
        name: str,
        description: str,
        ttl: int = 0,
        max_history_per_key: int = 0,
        max_bucket_size: int = 0,
    ) -> Extension:
        """Declares a key-value bucket named `<prefix>` or `<prefix>_<name>`; Symphony creates or updates it at
        registration. `ttl` in seconds (0 = no expiry), `max_history_per_key` 0-64 (0 = server default 1),
        `max_bucket_size` in bytes (0 = unlimited)."""
        validate_bucket_name(name)
        validate_bucket_limits(name, ttl, max_history_per_key, max_bucket_size)
        if any(b["name"] == name for b in self._buckets):
            raise InvalidBucketError(f"bucket {name!r} is declared twice")
        self._buckets.append(
            {
                "name": name,
                "description": description or "",
                "ttl": ttl,
                "max_history_per_key": max_history_per_key,
                "max_bucket_size": max_bucket_size,
            }
        )
        return self

    def add_instance_handler(self, name: str, handler: Handler) -> Extension:
        """Serves `handler` for requests addressed to this instance only (docs/protocol.md §12.2):
        `cirata.extensions.<prefix>.instance.<instance id>.<name>`, or through the gateway
        `/api/v1/extension/<prefix>/<name>?instance=<instance id>`.

        `handler` is `async def handler(req)` and gets the endpoints' request (`req.data`, `req.headers`,
        `req.caller`, `await req.respond(...)`); one that raises is answered like a failing endpoint. `name` is
        1-64 of `[A-Za-z0-9_-]` (`InvalidEndpointError`, code `invalid_endpoint`, otherwise); a second handler of
        the same name replaces the first. Declared in the manifest as `instance_handlers`. Added before
        `connect()` it is served from the start; added while connected it is subscribed in the background and
        the manifest registered again.

        ```python
        async def instance_status(req):
            await req.respond(json.dumps({"instance_id": ext.instance_id}).encode())

        ext.add_instance_handler("local-status", instance_status)
        ```
        """
        self._handlers.add_instance_handler(name, handler)
        self._serve_new_handlers()
        return self

    def add_command_handler(self, name: str, handler: Handler, description: str = "") -> Extension:
        """Serves the command `name` (docs/protocol.md §12.3): exactly one instance of the extension handles
        each request to `cirata.extensions.<prefix>.commands.<name>` (queue group `commands`); Symphony runs it
        with `POST /api/v1/extensions/<prefix>/commands/<name>`. Declared in the manifest as `commands` with
        `description`. The name rule, the request object and the failure replies are those of
        `add_instance_handler`."""
        self._handlers.add_command(name, handler, description)
        self._serve_new_handlers()
        return self

    def enable_work_partitioning(self, on_rebalance: OnRebalance) -> Extension:
        """Makes this instance a member of the extension's work partitioning (docs/protocol.md §12.4): from
        `connect()` on, `ext.work_partitioner.is_my_work(key)` says whether this instance owns `key`, by rendezvous
        hashing over the live members, with leases that keep two live instances from owning a key at once.

        `on_rebalance(total_instances, my_item_count)` (a plain function or a coroutine function) is called
        whenever either number changes after a claim. Call this before `connect()` (`async with ext:`);
        afterwards it raises `PartitioningError`.

        ```python
        def on_rebalance(total_instances, my_item_count):
            logging.info(f"Rebalanced: {total_instances} instances active, I own {my_item_count} items")

        ext.enable_work_partitioning(on_rebalance)
        ```
        """
        if not callable(on_rebalance):
            raise PartitioningError(f"on_rebalance must be callable, not {type(on_rebalance).__name__}")
        if self._session is not None and not self._session.closed:
            raise PartitioningError(
                "enable_work_partitioning() must be called before connect()",
                hint="call it before `async with ext:` / `await ext.operate()`",
            )
        self._partitioner.enable(on_rebalance)
        return self

    @property
    def work_partitioner(self) -> WorkPartitioner:
        """This instance's share of the work: `is_my_work(key)`, `my_item_count`, `fence(key)`, `track(keys)`,
        `forget(key)`, `await fenced_put(bucket, key, value)` (docs/protocol.md §12.4). Owns nothing unless
        `enable_work_partitioning()` was called and the connected extension's first claim completed."""
        return self._partitioner

    def _serve_new_handlers(self) -> None:
        session = self._session
        if session is None or session.closed:
            return

        async def serve() -> None:
            try:
                await self._handlers.sync()
                await session.register()
            except Exception as e:
                log.warning("could not serve the new handlers: %s", e)

        session.spawn(serve())

    def _route(self, path: str, uri: str, routes: RouteTree | None) -> dict[str, Any]:
        validate_route_path(path)
        validate_resource_uri(self.prefix, uri)
        children = []
        for child_path, spec in (routes or {}).items():
            child = {"uri": spec} if isinstance(spec, str) else spec
            if not isinstance(child, Mapping) or not isinstance(child.get("uri"), str):
                raise InvalidManifestError(f'nested route {child_path!r} needs {{"uri": "ui://{self.prefix}/…"}}')
            nested = child.get("routes")
            if nested is not None and not isinstance(nested, Mapping):
                raise InvalidManifestError(f"nested route {child_path!r}: routes must be a mapping of paths")
            children.append(self._route(child_path, child["uri"], nested))
        return {"path": path, "uri": uri, "routes": children}

    # --- what is sent -------------------------------------------------------------------------------------

    @property
    def sdk(self) -> dict[str, str]:
        return {"name": SDK_NAME, "version": __version__}

    def manifest(self) -> dict[str, Any]:
        """The manifest as it would be registered now: declarations plus started services (§5.2)."""
        return copy.deepcopy(
            {
                "manifest_version": PROTOCOL_VERSION,
                "name": self.name,
                "prefix": self.prefix,
                "description": self.description,
                "sdk": self.sdk,
                "capabilities": self._capabilities,
                "resources": self._resources,
                "routes": self._routes,
                "menus": self._menus,
                "widgets": self._widgets,
                "buckets": self._buckets,
                "endpoints": self._services.specs(),
                **self._handlers.manifest_fields(),
            }
        )

    def provision_request(self) -> dict[str, Any]:
        """What provisioning asks for: the declared capabilities and bucket names (§5.1)."""
        return {
            "v": PROTOCOL_VERSION,
            "name": self.name,
            "prefix": self.prefix,
            "capabilities": copy.deepcopy(self._capabilities),
            "buckets": [b["name"] for b in self._buckets],
        }

    # --- connected state ----------------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The token in use once connected (the permanent one after provisioning), else the first token found
        at construction, or `None` when there is none. A secret: never log it."""
        if self._session is not None:
            return self._session.token
        return self._candidates[0].token if self._candidates else None

    def _connected(self, what: str) -> Session:
        if self._session is None or self._session.closed:
            raise NotConnectedError(f"{what} needs a connection: use it inside `async with ext:`")
        return self._session

    @property
    def nc(self) -> NatsClient:
        """The NATS connection (nats-py `Client`)."""
        return self._connected("ext.nc").nc

    @property
    def conn(self) -> NatsClient:
        """The same connection as `nc`."""
        return self._connected("ext.conn").nc

    @property
    def js(self) -> JetStreamContext:
        """JetStream on the connection (key-value buckets: `await ext.js.key_value("<bucket>")`)."""
        return self._connected("ext.js").js

    @property
    def instance_id(self) -> str | None:
        """This instance's id (docs/protocol.md §12.1): minted by the key exchange, the JWT's `jti`, kept across
        renewals. `None` before `connect()` (`async with ext:`); two processes started from one token are two
        instances with two ids."""
        return self._session.instance_id if self._session is not None else None

    async def add_endpoints(
        self,
        name: str,
        version: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> EndpointService:
        """Starts a micro service (`io.nats.micro.v1`); add endpoints through `add_group(name=...)`.
        Its spec (with `metadata`, e.g. `{"openapi": ...}`) goes into the manifest `operate()` registers."""
        session = self._connected("add_endpoints()")
        return await self._services.start(
            session.nc, name, version, description, metadata, lambda: list(self._capabilities)
        )

    async def update_resource(self, uri: str, mime: str, content: str) -> None:
        """Replaces (or adds) a resource and, when connected, registers again so Symphony shows it at once."""
        validate_resource(self.prefix, uri, mime, content)
        resource = {"uri": uri, "mime_type": mime, "content": content}
        for i, existing in enumerate(self._resources):
            if existing["uri"] == uri:
                self._resources[i] = resource
                break
        else:
            self._resources.append(resource)
        if self._session is not None and not self._session.closed:
            await self._session.register()

    @property
    def health(self) -> tuple[str, str | None]:
        """The health set last and its message: `("ok", None)` until `set_health()` is called."""
        return self._health

    async def set_health(self, state: str, message: str | None = None) -> None:
        """Sets this instance's health: the `state` (and `message`) of its status (docs/protocol.md §5.3).

        `state` is `"ok"`, `"warning"` (running, something needs attention) or `"error"` (running, failing at its
        work); anything else raises `InvalidHealthError` (a `ValidationError`/`ValueError`, code
        `invalid_health`) and changes nothing. `message` says why; it is sent with warning and error only, and a
        blank one is dropped. Symphony shows the extension Warning when some live instance reports warning or
        error, and Error when every live instance reports error (§5.4).

        The health is stored; while `operate()` runs the status is published at once (this returns once it was
        published) and every later heartbeat carries it. Before `operate()` the first status it publishes carries
        it. On shutdown the SDK still publishes `disconnected`. Call it from endpoint handlers or tasks while
        `operate()` runs; a failed publish is logged, not raised, and the next heartbeat carries the health.

        ```python
        await ext.set_health("warning", "disk 91% full")
        await ext.set_health("ok")
        ```
        """
        health = validate_health(state, message)
        if health != self._health:
            log.info("health: %s%s", health[0], f" ({health[1]})" if health[1] else "")
        self._health = health
        if self._session is not None and not self._session.closed:
            await self._session.publish_health()

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Resolves the token (provisioning a permanent key from a registration token), connects to NATS and
        registers, so declared buckets exist before handlers run. `async with ext:` calls this.

        Without any token it logs what to do and raises `SystemExit(1)`; other failures raise `RuntimeError`
        subclasses (`cirata.symphony.errors`)."""
        if self._session is not None and not self._session.closed:
            return
        if not self._candidates:
            log.error(NO_TOKEN_HELP)
            raise SystemExit(1)
        credentials = await resolve_credentials(
            self._candidates, CredentialStore(self.prefix), self.provision_request()
        )

        async def on_reconnected() -> None:
            if self._session is not None:
                self._session.spawn(self._session.after_reconnect())

        cell = KeyCell(credentials.api_key, credentials.token, credentials.source)
        name = f"{self.prefix}-{credentials.api_key.instance}"
        nc = await connect_nats(cell, credentials.address, name, on_reconnected=on_reconnected)

        async def services_connection() -> NatsClient:
            return await connect_nats(cell, credentials.address, name)

        self._stop = asyncio.Event()
        self._services = ServiceRegistry(services_connection, credentials.api_key.caller_signing_key)
        session = Session(
            name=self.name,
            prefix=self.prefix,
            sdk=self.sdk,
            credentials=credentials,
            nc=nc,
            manifest=self.manifest,
            services=self._services,
            health=lambda: self._health,
            cell=cell,
        )
        self._session = session
        session.spawn(session.renew_forever())
        try:
            await self._handlers.attach(self._services, nc, self.prefix, session.instance_id)
            await session.register()
            if self._partitioner.enabled:
                membership = await Membership.start(self._partitioner, nc, session.instance_id)
                session.before_close(membership.leave)
                # The buckets exist now: the status may say `partitioning` (the server writes the view then).
                session.partitioning = True
        except BaseException:
            await session.close()
            raise

    async def operate(self) -> None:
        """Registers with the endpoints added so far, publishes status every `heartbeat_secs`, and runs until
        SIGINT/SIGTERM (or `stop()`); then publishes `disconnected`, stops the services and drains."""
        if self._session is None or self._session.closed:
            await self.connect()
        session = self._connected("operate()")
        await session.operate(self._stop)

    def stop(self) -> None:
        """Asks a running `operate()` to shut down, as SIGTERM would."""
        self._stop.set()

    async def close(self) -> None:
        """Stops the services and drains the connection (what leaving `async with` does)."""
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> Extension:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
