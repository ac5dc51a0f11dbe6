"""One connected run of an extension: registration (docs/protocol.md §5.2), the status heartbeat (§5.3) with the
extension's health, waiting for SIGINT/SIGTERM, and the graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timezone
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext

from . import subjects
from .bootstrap import Credentials, KeyCell, request_json
from .endpoints import ServiceRegistry
from .errors import RegistrationError
from .jetstream import SymphonyClient

log = logging.getLogger("cirata.symphony")

PROTOCOL_VERSION = 1
DEFAULT_HEARTBEAT_SECS = 30.0
STATUS_TIMEOUT_SECS = 5.0


def rfc3339_now() -> str:
    """UTC now as RFC 3339 with a `Z`, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Session:
    """A connection of one extension instance: the credentials it runs with, its NATS client and JetStream
    context, and the registration/status traffic. Created by `Extension.__aenter__`."""

    def __init__(
        self,
        *,
        name: str,
        prefix: str,
        sdk: dict[str, str],
        credentials: Credentials,
        nc: Client,
        manifest: Callable[[], dict[str, Any]],
        services: ServiceRegistry,
        health: Callable[[], tuple[str, str | None]] = lambda: ("ok", None),
        cell: KeyCell | None = None,
    ) -> None:
        self.name = name
        self.prefix = prefix
        self.sdk = sdk
        self.credentials = credentials
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.key_id = credentials.api_key.id
        # A server older than instance ids names none: the key id serves as one (docs/protocol.md §12.1).
        self.instance_id = credentials.api_key.instance
        self.partitioning = False
        """Whether the status says `"partitioning": true` (set once work partitioning is enabled, §12.4)."""
        self.started_at = rfc3339_now()
        self.heartbeat_secs = DEFAULT_HEARTBEAT_SECS
        self.operating = False
        self.closed = False
        self._manifest = manifest
        self._services = services
        self._cell = cell
        self._health = health
        self._tasks: set[asyncio.Task[Any]] = set()
        self._before_close: list[Callable[[], Awaitable[None]]] = []
        self._register_lock = asyncio.Lock()
        # Orders the status publishes (heartbeats, health changes, `disconnected`): an older health never lands
        # after a newer one, and nothing lands after `disconnected`.
        self._status_lock = asyncio.Lock()

    @property
    def token(self) -> str:
        return self.credentials.token

    @property
    def status_subject(self) -> str:
        return subjects.status_subject(self.prefix, self.instance_id)

    async def register(self) -> dict[str, Any]:
        """Sends the manifest; Symphony stores it and creates the declared buckets. Idempotent.

        Raises `RegistrationError` (a `RuntimeError`) with Symphony's error code and message.
        """
        async with self._register_lock:
            reply = await request_json(
                self.nc,
                subjects.register(self.key_id, self.instance_id),
                self._manifest(),
                RegistrationError,
                "registration",
            )
        heartbeat = reply.get("heartbeat_secs")
        if isinstance(heartbeat, (int, float)) and heartbeat > 0:
            self.heartbeat_secs = float(heartbeat)
        log.info(
            "registered",
            extra={"prefix": self.prefix, "instance_id": self.instance_id, "buckets": reply.get("buckets", [])},
        )
        for warning in reply.get("warnings") or []:
            log.warning("registered with a warning: %s", warning, extra={"prefix": self.prefix})
        return reply

    def status(self, state: str, message: str | None = None) -> dict[str, Any]:
        """The `InstanceStatus` record (docs/protocol.md §5.3); `message` only when given."""
        status: dict[str, Any] = {
            "v": PROTOCOL_VERSION,
            "prefix": self.prefix,
            "instance_id": self.instance_id,
            "name": self.name,
            "state": state,
            "sdk": dict(self.sdk),
            "started_at": self.started_at,
            "updated_at": rfc3339_now(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "key_id": self.key_id,
        }
        if self.partitioning:
            status["partitioning"] = True
        if message is not None:
            status["message"] = message
        return status

    async def _publish(self, state: str, message: str | None) -> bool:
        try:
            await self.js.publish(
                self.status_subject, json.dumps(self.status(state, message)).encode(), timeout=STATUS_TIMEOUT_SECS
            )
        except Exception as e:
            log.warning("could not publish the %s status: %s", state, e or type(e).__name__)
            return False
        return True

    async def publish_status(self, state: str, message: str | None = None) -> bool:
        """Publishes the status through JetStream; a failure is logged, not raised."""
        async with self._status_lock:
            return await self._publish(state, message)

    async def publish_health(self) -> bool:
        """Publishes the extension's current health while operating (not before, not once closing); `False`
        when nothing was published. A failure is logged, not raised."""
        async with self._status_lock:
            if not self.operating or self.closed:
                return False
            state, message = self._health()
            return await self._publish(state, message)

    async def _heartbeat(self) -> None:
        while True:
            await self.publish_health()
            await asyncio.sleep(self.heartbeat_secs)

    def before_close(self, leave: Callable[[], Awaitable[None]]) -> None:
        """Runs `leave` first when the session closes (before `disconnected` is published)."""
        self._before_close.append(leave)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Runs `coro` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def renew_forever(self) -> None:
        """Keeps the JWT fresh (docs/protocol.md §9.3). When `renew_after_secs` has passed: exchanges the token
        again, moves the services to a new connection with the new JWT (both serve during the handover; the
        old one is drained) and reconnects the session's connection, which serves no request, with it. After
        a connection lost the server (a capability edit revokes the JWTs issued before it; an expired JWT):
        exchanges again, and the reconnect under way uses the new JWT."""
        cell = self._cell
        if cell is None:
            return
        retry: float | None = None
        while not self.closed:
            wait = retry if retry is not None else cell.renew_after()
            scheduled = False
            try:
                await asyncio.wait_for(cell.trouble.wait(), timeout=wait)
            except asyncio.TimeoutError:
                scheduled = retry is None
            cell.trouble.clear()
            try:
                await cell.renew()
            except Exception as e:
                retry = min(retry * 2, 60.0) if retry is not None else 1.0
                log.warning("could not renew the NATS credentials (retrying in %.0f s): %s", retry, e)
                continue
            retry = None
            if not scheduled:
                log.info("NATS credentials renewed after a disconnect")
                continue
            try:
                if self._services.has_services():
                    await self._services.move_to(await self._services.connect_fresh())
            except Exception as e:
                log.warning("could not move the services to the renewed credentials: %s", e)
            if isinstance(self.nc, SymphonyClient):
                await self.nc.reconnect_now()
            log.info("NATS credentials renewed")

    async def after_reconnect(self) -> None:
        """A reconnect may have landed on a restarted cluster: register again (and report the health)."""
        if self.closed:
            return
        try:
            await self.register()
        except Exception as e:
            log.warning("re-registering after a reconnect failed: %s", e)
            return
        await self.publish_health()

    async def operate(self, stop: asyncio.Event) -> None:
        """Registers, publishes status every `heartbeat_secs`, and waits for SIGINT/SIGTERM or `stop`;
        then publishes `disconnected`, stops the services and drains the connection."""
        await self.register()
        self.operating = True
        loop = asyncio.get_running_loop()
        installed: list[tuple[signal.Signals, Any]] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, _stop_on_signal, stop, sig)
            except (NotImplementedError, RuntimeError, ValueError) as e:
                # Not the main thread, or an event loop without signal handlers: `stop()` ends the run.
                log.debug("not handling %s here: %s", sig.name, e)
                continue
            installed.append((sig, previous))
        heartbeat = asyncio.ensure_future(self._heartbeat())
        how = "SIGINT (Ctrl-C) or SIGTERM" if installed else "Extension.stop()"
        log.info("running; stop with %s", how, extra={"instance_id": self.instance_id})
        try:
            await stop.wait()
        finally:
            for sig, previous in installed:
                loop.remove_signal_handler(sig)
                if previous is not None:
                    with contextlib.suppress(TypeError, ValueError):
                        signal.signal(sig, previous)
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.close()

    async def close(self) -> None:
        """Publishes `disconnected` (when it was operating), stops the services and drains. Idempotent."""
        if self.closed:
            return
        self.closed = True
        leaving, self._before_close = self._before_close, []
        for leave in leaving:
            try:
                await leave()
            except Exception as e:
                log.warning("leaving failed: %s", e or type(e).__name__)
        if self.operating:
            await self.publish_status("disconnected")
            self.operating = False
        await self._services.stop_all()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.nc.drain()
        if not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.close()
        log.info("stopped", extra={"instance_id": self.instance_id})


def _stop_on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("received %s; shutting down", sig.name)
    stop.set()
