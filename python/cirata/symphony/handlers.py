"""Instance handlers and commands (docs/protocol.md §12.2, §12.3): what an extension declares, and the
subscriptions that serve them.

An instance handler answers requests addressed to one instance: every instance subscribes once, without a queue
group, to `cirata.extensions.<prefix>.instance.<instance id>.>` and dispatches by the last token. A command is
handled by exactly one instance: each instance queue-subscribes (group `commands`) to
`cirata.extensions.<prefix>.commands.<name>`. Both get the endpoints' request object and fail like endpoints
(§5.5). The subscriptions live on the services' connection, so a JWT renewal moves them with the endpoints.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro import request as micro_request

from . import subjects
from .endpoints import Handler, ServiceRegistry, _header_safe, _wrap
from .validation import validate_handler_name

log = logging.getLogger("cirata.symphony")

NOT_FOUND = "not_found"


@dataclass
class _Command:
    handler: Handler
    description: str


@dataclass(frozen=True)
class _Attachment:
    """Where the handlers are served: the registry's connection, for one instance of one prefix."""

    services: ServiceRegistry
    nc: Client
    """The session's connection (`req.nc`)."""
    prefix: str
    instance_id: str


class Handlers:
    """The instance handlers and commands of one extension. Declared at any time; served once `attach()`ed."""

    def __init__(self) -> None:
        self._instance: dict[str, Handler] = {}
        self._commands: dict[str, _Command] = {}
        self._attached: _Attachment | None = None
        self._instance_listening = False
        self._commands_listening: set[str] = set()

    # --- declarations ----------------------------------------------------------------------------------

    def add_instance_handler(self, name: str, handler: Handler) -> None:
        """Registers `handler` for `name` (a second one of the same name replaces the first)."""
        validate_handler_name("instance handler", name)
        self._instance[name] = handler

    def add_command(self, name: str, handler: Handler, description: str) -> None:
        """Registers the command `name` (a second one of the same name replaces the first)."""
        validate_handler_name("command", name)
        self._commands[name] = _Command(handler, description or "")

    def manifest_fields(self) -> dict[str, Any]:
        """`commands` and `instance_handlers` of the manifest, each only when there is one (§12.2, §12.3)."""
        fields: dict[str, Any] = {}
        if self._commands:
            fields["commands"] = [{"name": n, "description": c.description} for n, c in self._commands.items()]
        if self._instance:
            fields["instance_handlers"] = list(self._instance)
        return fields

    # --- serving ---------------------------------------------------------------------------------------

    async def attach(self, services: ServiceRegistry, nc: Client, prefix: str, instance_id: str) -> None:
        """Serves everything declared so far through `services` (and what `sync()` adds later)."""
        self._attached = _Attachment(services, nc, prefix, instance_id)
        self._instance_listening = False
        self._commands_listening = set()
        await self.sync()

    async def sync(self) -> None:
        """Subscribes what is declared and not subscribed yet. Returns once nats-server has the subscriptions."""
        at = self._attached
        if at is None:
            return
        if self._instance and not self._instance_listening:
            self._instance_listening = True
            subject = f"{subjects.instance_prefix(at.prefix, at.instance_id)}.>"
            await at.services.listen(at.nc, subject, "", self._instance_dispatcher(at))
        for name in list(self._commands):
            if name in self._commands_listening:
                continue
            self._commands_listening.add(name)
            subject = subjects.command_subject(at.prefix, name)
            await at.services.listen(at.nc, subject, subjects.COMMANDS_QUEUE, self._command_dispatcher(at, name))

    def _instance_dispatcher(self, at: _Attachment) -> Callable[[Msg], Any]:
        head = subjects.instance_prefix(at.prefix, at.instance_id) + "."

        async def dispatch(msg: Msg) -> None:
            name = msg.subject[len(head) :] if msg.subject.startswith(head) else ""
            handler = self._instance.get(name)  # a name is one token: `a.b` is no handler's
            if handler is None:
                await _not_found(msg, f"instance handler {name!r}")
                return
            await _wrap(handler, at.nc, at.services.caller_key, "instance handler")(micro_request.Request(msg))

        return dispatch

    def _command_dispatcher(self, at: _Attachment, name: str) -> Callable[[Msg], Any]:
        async def dispatch(msg: Msg) -> None:
            command = self._commands.get(name)
            if command is None:  # cannot happen today: commands are never removed
                await _not_found(msg, f"command {name!r}")
                return
            await _wrap(command.handler, at.nc, at.services.caller_key, "command handler")(micro_request.Request(msg))

        return dispatch


async def _not_found(msg: Msg, what: str) -> None:
    """Answers `{"error":{"code":"not_found",…}}` with `Nats-Service-Error-Code: 404` (§12.2)."""
    message = f"this instance has no {what}"
    if not msg.reply:
        log.debug("%s (a publish on %s, nothing to answer)", message, msg.subject)
        return
    body = json.dumps({"error": {"code": NOT_FOUND, "message": message}}).encode()
    headers = {micro_request.ERROR_HEADER: _header_safe(message), micro_request.ERROR_CODE_HEADER: "404"}
    try:
        await micro_request.Request(msg).respond(body, headers=headers)
    except Exception:
        log.exception("could not answer %s", msg.subject)
