"""Writing many key-value entries at once: concurrent puts with a bounded number in flight, never failing fast.

```python
from cirata.symphony.kv_batch import put_all

result = await put_all(ext.js, "my_ext_data", {"a": b"1", "b": b"2"})
print(result.succeeded, result.failed, result.total, result.errors)
```
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from nats.js import JetStreamContext

DEFAULT_MAX_IN_FLIGHT = 256
"""Puts awaiting their JetStream ack at the same time."""


@dataclass
class BatchPutResult:
    """What `put_all` did: counts, and for each failed key the exception it raised."""

    succeeded: int = 0
    failed: int = 0
    total: int = 0
    errors: dict[str, BaseException] = field(default_factory=dict)


async def put_all(
    js: JetStreamContext,
    bucket: str,
    entries: Mapping[str, bytes],
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
) -> BatchPutResult:
    """Puts every entry into `bucket` concurrently (at most `max_in_flight` unacknowledged at once).

    A bad key or a failed put is recorded in `errors` and the rest still go through. If the bucket itself
    cannot be opened, every key fails with that error.
    """
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
    result = BatchPutResult(total=len(entries))
    if not entries:
        return result
    try:
        kv = await js.key_value(bucket)
    except Exception as e:
        result.failed = result.total
        result.errors = dict.fromkeys(entries, e)
        return result

    gate = asyncio.Semaphore(max_in_flight)

    async def put(key: str, value: bytes) -> None:
        async with gate:
            try:
                await kv.put(key, value)
            except Exception as e:
                result.errors[key] = e
            else:
                result.succeeded += 1

    await asyncio.gather(*(put(key, value) for key, value in entries.items()))
    result.failed = len(result.errors)
    return result
