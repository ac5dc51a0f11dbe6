"""Work partitioning's I/O (docs/protocol.md §12.4): the `WorkPartitioner` an extension asks `is_my_work`, `fence`
and `fenced_put`, and the membership that feeds its claim state: the two partitioning buckets, the watchers of the
view the server writes and of the members' records, and the claim loop.

Who owns a key and when a claim holds is `cirata.symphony.partition` (a port of the protocol crate's); this module
only moves data between NATS and that state.

```python
def on_rebalance(total_instances, my_item_count):
    logging.info(f"Rebalanced: {total_instances} instances active, I own {my_item_count} items")

ext.enable_work_partitioning(on_rebalance)
...
if ext.work_partitioner.is_my_work(key):
    await process_item(key)
```
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import nats.errors
import nats.js.api
import nats.js.errors
import nats.js.kv
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from .errors import FencedOutError, NotConnectedError, NotMyWorkError, SymphonyRuntimeError, ValidationError
from .jetstream import is_valid_key
from .partition import (
    CLAIM_EVERY_MS,
    FENCE_HEADER,
    MEMBERS_BUCKET,
    MEMBERS_MAX_AGE_SECS,
    VIEW_BUCKET,
    VIEW_KEY,
    Member,
    member_key,
    member_of_key,
)

log = logging.getLogger("cirata.symphony")

OnRebalance = Callable[[int, int], Any]
"""`on_rebalance(total_instances, my_item_count)`: a plain function or a coroutine function."""

FENCED_PUT_ATTEMPTS = 16
"""How often a fenced write is tried when other writes keep landing between its read and its write."""
PUT_TIMEOUT_SECS = 5.0
"""How long a claim's put may take."""
LEAVE_TIMEOUT_SECS = 5.0
"""How long a graceful leave waits for its record's deletion."""
EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
WRONG_LAST_SEQUENCE = 10071
"""JetStream's error code for a publish whose expected last subject sequence does not hold."""
STREAM_NOT_FOUND = 10059
"""JetStream's error code for a stream (here: a bucket) that does not exist."""


def _monotonic_ms() -> int:
    return int(time.monotonic() * 1000)


class WorkPartitioner:
    """This instance's share of the work (docs/protocol.md §12.4), from `ext.work_partitioner`. Owns nothing
    until `ext.enable_work_partitioning()` was called and the running extension's first claim completed, and
    nothing again once it stops.

    Re-evaluate ownership on every pass of a work loop rather than caching it: when instances join or leave,
    `is_my_work` answers change (and `on_rebalance` is called).
    """

    def __init__(self, clock: Callable[[], int] = _monotonic_ms) -> None:
        self._clock = clock
        self._on_rebalance: OnRebalance | None = None
        self._member: Member | None = None
        self._tracked: set[str] = set()
        self._js: JetStreamContext | None = None
        self._reported: tuple[int, int] | None = None
        self._callbacks: set[asyncio.Task[Any]] = set()

    @property
    def enabled(self) -> bool:
        """Whether `enable_work_partitioning()` was called."""
        return self._on_rebalance is not None

    def is_my_work(self, key: str) -> bool:
        """Whether this instance owns `key` now. Remembers `key` for `my_item_count` until it is `forget`-ten."""
        self._tracked.add(key)
        return self._member is not None and self._member.owns(key, self._clock())

    @property
    def my_item_count(self) -> int:
        """How many of the remembered keys (`is_my_work`, `track`) this instance owns now."""
        if self._member is None:
            return 0
        return self._member.count_owned(self._tracked, self._clock())

    def track(self, keys: Iterable[str]) -> None:
        """Remembers `keys` (as `is_my_work` does) without asking about them."""
        self._tracked.update(keys)

    def forget(self, key: str) -> None:
        """Stops remembering `key`."""
        self._tracked.discard(key)

    def fence(self, key: str) -> int:
        """The fencing token of the claim under which this instance owns `key` now; a later owner's token is always
        greater. Raises `NotMyWorkError` (code `not_my_work`) when it does not own `key`."""
        token = self._member.fence(key, self._clock()) if self._member is not None else None
        if token is None:
            raise NotMyWorkError(f"this instance does not own {key!r} now")
        return token

    async def fenced_put(self, bucket: str, key: str, value: bytes | str) -> int:
        """Writes `value` under `key` of the KV bucket `bucket` only if `key` is this instance's now
        (`NotMyWorkError` otherwise) and the entry's current fence is not greater than this instance's token
        (`FencedOutError`, code `fenced_out`, otherwise): reads the entry's last message, compares its
        `Symphony-Fence` header, and writes with `Symphony-Fence: <token>` and `Nats-Expected-Last-Subject-Sequence`
        of what it read, trying again when another write landed in between. So a paused old owner's late write
        cannot overwrite the new owner's. Returns the entry's new revision.

        ```python
        await ext.work_partitioner.fenced_put("replicator_state", "orders", b"offset=42")
        ```
        """
        if not is_valid_key(key):
            raise ValidationError(f"{key!r} is not a valid key of bucket {bucket!r}", hint="use [-/_=.:a-zA-Z0-9]")
        payload = value.encode() if isinstance(value, str) else bytes(value)
        js = self._js
        if js is None:
            raise NotConnectedError("fenced_put() needs a running extension with work partitioning enabled")
        stream, subject = f"KV_{bucket}", f"$KV.{bucket}.{key}"
        for _ in range(FENCED_PUT_ATTEMPTS):
            token = self.fence(key)
            try:
                last = await js.get_last_msg(stream, subject)
                sequence, stored = last.seq or 0, _fence_of(last.headers)
            except nats.js.errors.NotFoundError as e:
                if e.err_code == STREAM_NOT_FOUND:
                    raise SymphonyRuntimeError(
                        f"bucket {bucket!r} does not exist", code="invalid_bucket", hint="declare it with add_bucket()"
                    ) from None
                sequence, stored = 0, None  # no entry yet
            if stored is not None and stored > token:
                raise FencedOutError(
                    f"{bucket}/{key} carries fence {stored}, later than this instance's {token}",
                    hint="another instance owns the key now; re-check is_my_work() before writing",
                )
            headers = {FENCE_HEADER: str(token), EXPECTED_LAST_SUBJECT_SEQUENCE: str(sequence)}
            try:
                ack = await js.publish(subject, payload, headers=headers)
            except nats.js.errors.APIError as e:
                if e.err_code == WRONG_LAST_SEQUENCE:
                    continue
                raise
            return int(ack.seq)
        raise SymphonyRuntimeError(
            f"{bucket}/{key} kept changing under {FENCED_PUT_ATTEMPTS} fenced writes; try again", code="conflict"
        )

    # --- membership (the extension's run) ---------------------------------------------------------------

    def enable(self, on_rebalance: OnRebalance) -> None:
        self._on_rebalance = on_rebalance

    def _join(self, me: str, js: JetStreamContext) -> Member:
        self._member = Member(me)
        self._js = js
        self._reported = None
        return self._member

    def _leave(self) -> None:
        if self._member is not None:
            self._member.release()
        self._member = None
        self._js = None

    def _now(self) -> int:
        return self._clock()

    def _report_rebalance(self) -> None:
        """Calls `on_rebalance` if `(total_instances, my_item_count)` changed since it was last called."""
        member, callback = self._member, self._on_rebalance
        if member is None or callback is None:
            return
        numbers = (len(member.view()), member.count_owned(self._tracked, self._clock()))
        if numbers == self._reported:
            return
        self._reported = numbers
        log.info("work rebalanced: %d instances, %d of my items", *numbers)
        try:
            result = callback(*numbers)
        except Exception:
            log.exception("on_rebalance failed")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(_logged(result))
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)


async def _logged(result: Awaitable[Any]) -> None:
    try:
        await result
    except Exception:
        log.exception("on_rebalance failed")


def _fence_of(headers: dict[str, str] | None) -> int | None:
    """The `Symphony-Fence` of a stored message (none, or unreadable: unfenced)."""
    try:
        return int((headers or {})[FENCE_HEADER].strip())
    except (KeyError, ValueError):
        return None


async def _ensure_bucket(js: JetStreamContext, name: str, description: str, max_age_secs: float) -> None:
    """Creates bucket `name` (history 1) when it is missing. Another instance may create it at the same moment."""
    with contextlib.suppress(nats.js.errors.BucketNotFoundError, nats.js.errors.NotFoundError):
        await js.key_value(name)
        return
    config = nats.js.api.KeyValueConfig(bucket=name, description=description, history=1, ttl=max_age_secs or None)
    try:
        await js.create_key_value(config)
    except Exception as created:
        try:
            await js.key_value(name)
        except Exception:
            raise SymphonyRuntimeError(f"could not create the bucket {name}: {created}", code="internal") from created


def _deleted(msg: Msg) -> bool:
    """A KV delete or purge, or a server marker of an entry that went (max age, purge, removal)."""
    headers = msg.headers or {}
    return headers.get(nats.js.kv.KV_OP) in (nats.js.kv.KV_DEL, nats.js.kv.KV_PURGE) or (
        nats.js.kv.KV_MARKER_REASON in headers
    )


class Membership:
    """A running member (docs/protocol.md §12.4): watches the view and the records, claims every `CLAIM_EVERY_MS`
    and at once when the view or another member's record changes, and completes a claim only once its own watcher
    has delivered the claim's revision (so every record written before it has been seen)."""

    def __init__(self, partitioner: WorkPartitioner, nc: Client, js: JetStreamContext, me: str) -> None:
        self._partitioner = partitioner
        self._nc = nc
        self._js = js
        self._me = me
        self._member = partitioner._join(me, js)
        self._wake = asyncio.Event()
        self._claim_now = True
        self._delivered = 0
        """The highest revision the records' watcher has delivered."""
        self._pending: list[tuple[int, int]] = []
        """Claims put and not yet delivered back: `(seq, revision)`."""
        self._records: dict[str, list[str] | None] = {}
        """The other members' records as last seen, to tell a change from a renewal."""
        self._subscriptions: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, partitioner: WorkPartitioner, nc: Client, me: str) -> Membership:
        """Creates the buckets if missing (before the status reports `partitioning`, so the server finds the view
        bucket), watches both and starts the claim loop."""
        js = nc.jetstream()
        await _ensure_bucket(js, VIEW_BUCKET, "Symphony work partitioning: the live members (platform-written)", 0)
        await _ensure_bucket(
            js, MEMBERS_BUCKET, "Symphony work partitioning: the view each member acts on", MEMBERS_MAX_AGE_SECS
        )
        membership = cls(partitioner, nc, js, me)
        try:
            await membership._watch(VIEW_BUCKET, VIEW_KEY, membership._on_view)
            await membership._watch(MEMBERS_BUCKET, ">", membership._on_record)
        except BaseException:
            await membership._unsubscribe()
            partitioner._leave()
            raise
        membership._task = asyncio.ensure_future(membership._claim_loop())
        log.info("work partitioning started", extra={"instance_id": me})
        return membership

    async def _watch(self, bucket: str, keys: str, on_msg: Callable[[Msg], None]) -> None:
        """An ordered consumer over `keys` of `bucket`: the last entry of each key, then every change."""

        async def deliver(msg: Msg) -> None:
            try:
                on_msg(msg)
            except Exception:
                log.exception("work partitioning: could not take in %s", msg.subject)

        subscription = await self._js.subscribe(
            f"$KV.{bucket}.{keys}",
            stream=f"KV_{bucket}",
            cb=deliver,
            ordered_consumer=True,
            deliver_policy=nats.js.api.DeliverPolicy.LAST_PER_SUBJECT,
            inactive_threshold=60.0,
        )
        self._subscriptions.append(subscription)

    def _on_view(self, msg: Msg) -> None:
        if _deleted(msg):
            members: list[str] = []
        else:
            try:
                members = [str(m) for m in json.loads(msg.data)["members"]]
            except (ValueError, KeyError, TypeError) as e:
                log.warning("ignoring an unreadable partition view: %s", e)
                return
        before = self._member.view()
        self._member.set_view(members)
        if self._member.view() != before:
            log.debug("partition view changed: %s", self._member.view())
            self._claim_now = True
            self._wake.set()

    def _on_record(self, msg: Msg) -> None:
        self._delivered = max(self._delivered, msg.metadata.sequence.stream)
        self._wake.set()
        instance = member_of_key(msg.subject[len(f"$KV.{MEMBERS_BUCKET}.") :])
        if instance is None or instance == self._me:
            return
        members: list[str] | None
        if _deleted(msg):
            members = None
        else:
            try:
                members = [str(m) for m in json.loads(msg.data)["members"]]
            except (ValueError, KeyError, TypeError) as e:
                log.warning("ignoring an unreadable member record of %s: %s", instance, e)
                return
        self._member.record(instance, members, self._partitioner._now())
        changed = instance not in self._records or self._records[instance] != members
        self._records[instance] = members
        if changed:
            self._claim_now = True

    async def _claim_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_claim = loop.time()
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_claim - loop.time()))
            self._wake.clear()
            if self._claim_now or loop.time() >= next_claim:
                self._claim_now = False
                try:
                    await self._claim()
                except Exception:
                    log.exception("work partitioning: a claim failed")
                next_claim = loop.time() + CLAIM_EVERY_MS / 1000
            self._complete_delivered()

    async def _claim(self) -> None:
        """Writes a claim: the record of the current view. Its completion waits for the watcher."""
        start = self._member.begin_claim(self._partitioner._now())
        key = member_key(self._me)
        payload = json.dumps(start.record.to_json()).encode()
        try:
            ack = await self._js.publish(f"$KV.{MEMBERS_BUCKET}.{key}", payload, timeout=PUT_TIMEOUT_SECS)
        except (asyncio.TimeoutError, nats.errors.Error) as e:
            # The claim's outcome is unknown: the member keeps acting as if it had been written.
            log.warning("could not write the claim %s: %s", key, e or type(e).__name__)
            return
        self._pending.append((start.seq, int(ack.seq)))

    def _complete_delivered(self) -> None:
        """Completes the claims the records' watcher has delivered, then reports a rebalance."""
        ready = [(seq, revision) for seq, revision in self._pending if revision <= self._delivered]
        if not ready:
            return
        self._pending = [p for p in self._pending if p[1] > self._delivered]
        now = self._partitioner._now()
        for seq, revision in ready:
            self._member.complete_claim(seq, revision, now)
        self._partitioner._report_rebalance()

    async def _unsubscribe(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def leave(self) -> None:
        """Leaves gracefully: stops the claim loop, stops owning anything, then deletes this member's record so
        the others take its keys over at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._partitioner._leave()
        await self._unsubscribe()
        key = member_key(self._me)
        try:
            kv = await self._js.key_value(MEMBERS_BUCKET)
            await asyncio.wait_for(kv.delete(key), LEAVE_TIMEOUT_SECS)
        except Exception as e:
            log.warning("could not delete the member record %s: %s", key, e or type(e).__name__)
