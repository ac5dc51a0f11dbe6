"""`Extension.set_health()` (docs/protocol.md §5.3, §5.4, §5.6): an instance reports ok / warning / error with a
message, from a handler or a task while `operate()` runs, and `GET /api/v1/extensions/{prefix}` shows it; an
invalid state is a typed error; shutdown still publishes `disconnected`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cirata import symphony
from cirata.symphony.validation import validate_health

from .conftest import Platform, http_request
from .test_extension import declare, own_key, poll


@pytest.mark.parametrize("state", ["degraded", "disconnected", "OK", "Warning", "", None, 1])
def test_only_ok_warning_and_error_are_health_states(state: Any) -> None:
    ext = symphony.Extension("Health", "health")
    with pytest.raises(symphony.InvalidHealthError) as caught:
        asyncio.run(ext.set_health(state, "why"))
    error = caught.value
    assert isinstance(error, symphony.ValidationError)
    assert isinstance(error, ValueError)
    assert error.code == "invalid_health"
    assert error.state == state
    assert "ok, warning or error" in str(error)
    assert ext.health == ("ok", None), "a refused state changes nothing"


def test_a_message_goes_with_warning_and_error_only() -> None:
    assert validate_health("warning", "disk 91% full") == ("warning", "disk 91% full")
    assert validate_health("error", None) == ("error", None)
    assert validate_health("error", "  ") == ("error", None)
    assert validate_health("ok", "ignored") == ("ok", None)
    with pytest.raises(symphony.InvalidHealthError, match="must be a string"):
        validate_health("warning", 42)  # type: ignore[arg-type]


async def test_set_health_before_connecting_is_stored() -> None:
    ext = symphony.Extension("Health", "health")
    await ext.set_health("warning", "disk 91% full")
    assert ext.health == ("warning", "disk 91% full")
    await ext.set_health("ok", "gone")
    assert ext.health == ("ok", None)


class View:
    """`GET /api/v1/extensions/{prefix}` of a running extension, as its key."""

    def __init__(self, platform: Platform, prefix: str, key: str) -> None:
        self.url = f"{platform.http_url}/api/v1/extensions/{prefix}"
        self.key = key
        self.instance_id = ""
        self.task: asyncio.Future[None] | None = None

    async def get(self) -> dict[str, Any]:
        reply = await asyncio.to_thread(http_request, "GET", self.url, token=self.key)
        assert reply.status == 200, str(reply)
        return reply.json()

    async def shows(self, state: str, instance_state: str, message: str | None) -> dict[str, Any] | None:
        """The view when the extension is `state` and the instance `instance_state` with `message`, else None."""
        if self.task is not None and self.task.done():
            self.task.result()  # operate() ended early: raise its error here
        current = await self.get()
        instance = self.instance(current)
        if instance is None:
            return None
        if (current["state"], instance["state"], instance.get("message")) != (state, instance_state, message):
            return None
        return current

    def instance(self, current: dict[str, Any]) -> dict[str, Any] | None:
        return next((i for i in current["instances"] if i["instance_id"] == self.instance_id), None)


async def test_set_health_shows_in_the_extension_view(platform: Platform, prefix: str) -> None:
    key = own_key(platform, prefix)
    ext = declare(symphony.Extension("Health", prefix, token=key))
    view = View(platform, prefix, key)
    shows = view.shows

    async with ext:
        instance_id = view.instance_id = ext.instance_id
        service = await ext.add_endpoints(name="health", version="1.0.0")

        async def fail(req: symphony.Request) -> None:
            await ext.set_health("error", req.data.decode())
            await req.respond(b"set")

        await service.add_group(name=f"cirata.extensions.{prefix}").add_endpoint(name="fail", handler=fail)

        # Set before operate(): its first status carries it.
        await ext.set_health("warning", "starting up")
        task = view.task = asyncio.ensure_future(ext.operate())
        current = await poll("warning: starting up", lambda: shows("Warning", "warning", "starting up"))
        assert current["message"] == f"instance {instance_id}: starting up"

        # From a task while operate() runs.
        await asyncio.ensure_future(ext.set_health("warning", "disk 91% full"))
        current = await poll("warning: disk 91% full", lambda: shows("Warning", "warning", "disk 91% full"))
        assert current["message"] == f"instance {instance_id}: disk 91% full"

        # From a handler: every live instance reports error, so the extension is Error.
        reply = await ext.common.client.request(f"cirata.extensions.{prefix}.fail", b"database unreachable", timeout=5)
        assert reply.data == b"set"
        assert ext.health == ("error", "database unreachable")
        current = await poll("error", lambda: shows("Error", "error", "database unreachable"))
        assert current["message"] == f"instance {instance_id}: database unreachable"

        # Back to ok: the message goes.
        await ext.set_health("ok")
        current = await poll("ok", lambda: shows("OK", "ok", None))
        assert "message" not in current

        # Later heartbeats keep carrying the health.
        await ext.set_health("warning", "still warm")
        current = await poll("warning: still warm", lambda: shows("Warning", "warning", "still warm"))
        first = view.instance(current)["updated_at"]

        async def later_heartbeat() -> bool:
            current = await shows("Warning", "warning", "still warm")
            assert current is not None, "a heartbeat lost the health"
            return view.instance(current)["updated_at"] != first

        await poll("a later heartbeat", later_heartbeat)

        # An invalid state is refused while running too, and changes nothing.
        with pytest.raises(symphony.InvalidHealthError):
            await ext.set_health("degraded", "nope")
        assert ext.health == ("warning", "still warm")

        # Shutdown publishes disconnected whatever the health; a later health is stored only.
        ext.stop()
        await asyncio.wait_for(task, 30)
        await poll("disconnected", lambda: shows("Inactive", "disconnected", None))
        await ext.set_health("error", "after shutdown")
        assert (await view.get())["state"] == "Inactive"
