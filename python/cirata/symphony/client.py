"""`ext.common.client`: request/reply and publish on the extension's connection, with the SDK's defaults."""

from __future__ import annotations

from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

DEFAULT_REQUEST_TIMEOUT = 0.5
"""Seconds `Client.request` waits by default: short on purpose; pass the latency you expect."""


class Client:
    """Calls other extensions' services. Raises nats-py's errors unchanged: `asyncio.TimeoutError`
    (`nats.errors.TimeoutError`) when no reply comes in time, `nats.errors.NoRespondersError` when nobody
    listens on the subject."""

    def __init__(self, connection: Callable[[], NatsClient]) -> None:
        self._connection = connection

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
        headers: dict[str, str] | None = None,
    ) -> Msg:
        """Sends a request and waits up to `timeout` seconds for the reply."""
        return await self._connection().request(subject, payload, timeout=timeout, headers=headers)

    async def publish(self, subject: str, payload: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Fire-and-forget: publishes without waiting for anyone."""
        await self._connection().publish(subject, payload, headers=headers)


class Common:
    """Shared helpers of a connected extension (`ext.common.client`)."""

    def __init__(self, connection: Callable[[], NatsClient]) -> None:
        self.client = Client(connection)
