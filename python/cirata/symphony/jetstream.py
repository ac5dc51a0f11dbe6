"""The NATS client extensions get (`ext.nc`, `req.nc`): nats-py's, with Symphony's key-value key rule.

Symphony's documentation names keys `config:theme` and `item:<id>`. nats-py 2.16 only accepts
`[-/_=.a-zA-Z0-9]` (the NATS KV ADR), while nats-server takes `:` in a subject token like any other character.
So key-value buckets opened through this client (`ext.js.key_value(...)`, `req.nc.jetstream().key_value(...)`)
also accept `:`. Everything else is nats-py unchanged; connections made with plain `nats.connect` keep nats-py's
rule.

`keys()` of an empty bucket answers `[]` here (nats-py raises `NoKeysError`), so the seed's catalog `list` handler
works on a fresh bucket as written; and it reads until the server's last message, so a key written just before is
always listed (nats-py's `keys()` races its first delivery).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import nats.aio.msg
import nats.errors
import nats.js
import nats.js.api
import nats.js.errors
import nats.js.kv
from nats.aio.client import Client

KEY_RE = re.compile(r"[-/_=.:a-zA-Z0-9]+")


def is_valid_key(key: str) -> bool:
    """`[-/_=.:a-zA-Z0-9]+`, not starting or ending with `.`."""
    return bool(KEY_RE.fullmatch(key)) and not key.startswith(".") and not key.endswith(".")


def _check(key: str, validate: bool) -> None:
    if validate and not is_valid_key(key):
        raise nats.js.errors.InvalidKeyError(key)


class KeyValue(nats.js.kv.KeyValue):
    """nats-py's `KeyValue` with the key rule above."""

    async def get(self, key: str, revision: int | None = None, validate_keys: bool = True) -> nats.js.kv.KeyValue.Entry:
        _check(key, validate_keys)
        return await super().get(key, revision, validate_keys=False)

    async def put(self, key: str, value: bytes, validate_keys: bool = True) -> int:
        _check(key, validate_keys)
        return await super().put(key, value, validate_keys=False)

    async def create(self, key: str, value: bytes, validate_keys: bool = True, msg_ttl: float | None = None) -> int:
        _check(key, validate_keys)
        return await super().create(key, value, validate_keys=False, msg_ttl=msg_ttl)

    async def update(self, key: str, value: bytes, last: int | None = None, validate_keys: bool = True) -> int:
        _check(key, validate_keys)
        return await super().update(key, value, last=last, validate_keys=False)

    async def keys(self, filters: list[str] | None = None, **kwargs: Any) -> list[str]:
        """The bucket's keys (nats-py's `filters`: keep keys containing one of them); `[]` for an empty bucket.

        Read with an ordered consumer (last message per key, headers only) until the message the server says is
        the last (`num_pending == 0`). nats-py's `keys()` instead decides from consumer info, which races the
        first delivery: under load a key written just before could be missed, or an empty bucket reported.
        """
        info = await self._js.stream_info(self._stream)
        if info.state.messages == 0:
            return []
        queue: asyncio.Queue[nats.aio.msg.Msg] = asyncio.Queue()

        async def deliver(msg: nats.aio.msg.Msg) -> None:
            await queue.put(msg)

        sub = await self._js.subscribe(
            f"{self._pre}>",
            stream=self._stream,
            cb=deliver,
            ordered_consumer=True,
            deliver_policy=nats.js.api.DeliverPolicy.LAST_PER_SUBJECT,
            headers_only=True,
            inactive_threshold=60.0,
        )
        keys: list[str] = []
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(queue.get(), timeout=self._js._timeout)
                except asyncio.TimeoutError:
                    break  # every entry expired between the two reads
                headers = msg.headers or {}
                removed = headers.get(nats.js.kv.KV_OP) in (nats.js.kv.KV_DEL, nats.js.kv.KV_PURGE)
                if not removed and nats.js.kv.KV_MARKER_REASON not in headers:
                    keys.append(msg.subject[len(self._pre) :])
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        if filters:
            keys = [k for k in keys if any(f in k for f in filters)]
        return keys

    async def delete(
        self, key: str, last: int | None = None, validate_keys: bool = True, msg_ttl: float | None = None
    ) -> bool:
        _check(key, validate_keys)
        if msg_ttl is None:  # nats-py warns about msg_ttl on delete even when it is None-equivalent
            return await super().delete(key, last=last, validate_keys=False)
        return await super().delete(key, last=last, validate_keys=False, msg_ttl=msg_ttl)


def _adopt(kv: nats.js.kv.KeyValue, js: nats.js.JetStreamContext) -> KeyValue:
    return KeyValue(name=kv._name, stream=kv._stream, pre=kv._pre, js=js, direct=kv._direct)


class JetStreamContext(nats.js.JetStreamContext):
    """nats-py's JetStream context whose key-value buckets use `KeyValue` above."""

    async def key_value(self, bucket: str) -> KeyValue:
        return _adopt(await super().key_value(bucket), self)

    async def create_key_value(self, config: Any = None, **params: Any) -> KeyValue:
        return _adopt(await super().create_key_value(config, **params), self)


class SymphonyClient(Client):
    """nats-py's `Client` whose `jetstream()` returns the `JetStreamContext` above."""

    def jetstream(self, **opts: Any) -> JetStreamContext:
        return JetStreamContext(self, **opts)

    async def reconnect_now(self) -> None:
        """Reconnects now (with the credentials callbacks' current JWT), keeping subscriptions and buffered
        publishes, after flushing what is pending."""
        if not self.is_connected:
            return
        await self.flush()
        await self.force_reconnect()

    async def _process_err(self, err_msg: str) -> None:
        # nats-py closes the connection for good on every server error but a stale connection. When
        # nats-server drops it because its JWT was revoked (a capability edit: docs/protocol.md §9.3) or has
        # expired, reconnect instead: the SDK exchanges its token again and the reconnect uses the new JWT.
        text = err_msg.lower()
        if "authentication revoked" in text or "authentication expired" in text:
            await self._process_op_err(nats.errors.StaleConnectionError())
            return
        await super()._process_err(err_msg)
