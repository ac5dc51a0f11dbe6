"""Instances (docs/protocol.md §12.1-§12.3) against the real server: two processes from one token are two instances,
instance handlers reach only their instance (over NATS and through the gateway's `?instance=`), and each command
is handled by exactly one instance."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from cirata import symphony
from cirata.symphony.errors import InvalidEndpointError
from cirata.symphony.tokens import parse_token

from .conftest import HttpReply, Platform, http_request, start_platform
from .test_extension import declare, own_key, poll


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A server of this module's own: the session's has made many extension accounts by the time this runs, and
    each reserves JetStream resources."""
    with start_platform(tmp_path_factory.mktemp("instances")) as running:
        yield running


async def request(ext: symphony.Extension, subject: str, payload: bytes = b"") -> Any:
    return await ext.common.client.request(subject, payload, timeout=10)


def handler_subject(prefix: str, instance: str | None, name: str) -> str:
    return f"cirata.extensions.{prefix}.instance.{instance}.{name}"


def with_local_status(ext: symphony.Extension) -> symphony.Extension:
    async def local_status(req: symphony.Request) -> None:
        await req.respond(json.dumps({"instance_id": ext.instance_id, "got": req.data.decode()}).encode())

    async def boom(req: symphony.Request) -> None:
        raise RuntimeError("instance boom")

    return ext.add_instance_handler("local-status", local_status).add_instance_handler("boom", boom)


@asynccontextmanager
async def operating(*exts: symphony.Extension) -> AsyncIterator[None]:
    """Runs `operate()` of every extension (status heartbeats) until the block ends."""
    async with AsyncExitStack() as stack:
        for ext in exts:
            await stack.enter_async_context(ext)
        tasks = [asyncio.ensure_future(ext.operate()) for ext in exts]
        try:
            yield
        finally:
            for ext in exts:
                ext.stop()
            await asyncio.gather(*tasks)


def test_handler_and_command_names_are_checked_and_declared() -> None:
    ext = symphony.Extension("Test", "names", token="unused")

    async def handler(req: symphony.Request) -> None:
        return None

    for bad in ("", "a.b", "a b", "*", ">", "é", "x" * 65):
        with pytest.raises(InvalidEndpointError) as caught:
            ext.add_instance_handler(bad, handler)
        assert caught.value.code == "invalid_endpoint"
        assert isinstance(caught.value, symphony.ValidationError)
        with pytest.raises(InvalidEndpointError):
            ext.add_command_handler(bad, handler)
    assert "commands" not in ext.manifest()
    assert "instance_handlers" not in ext.manifest()
    ext.add_instance_handler("local-status", handler).add_instance_handler("local-status", handler)
    ext.add_command_handler("reindex", handler, description="Rebuild").add_command_handler("x" * 64, handler)
    ext.add_command_handler("reindex", handler, description="Rebuild the search index")
    manifest = ext.manifest()
    assert manifest["instance_handlers"] == ["local-status"]
    assert manifest["commands"] == [
        {"name": "reindex", "description": "Rebuild the search index"},
        {"name": "x" * 64, "description": ""},
    ]


async def test_two_instances_of_one_token_serve_their_own_instance_handlers(platform: Platform, prefix: str) -> None:
    token = own_key(platform, prefix)
    key_id = parse_token(token).key_id
    first, second = (with_local_status(declare(symphony.Extension("Test", prefix, token=token))) for _ in range(2))
    async with operating(first, second):
        ids = {first.instance_id, second.instance_id}
        assert len(ids) == 2 and None not in ids and key_id not in ids, ids

        def listed() -> bool:
            view = platform.extension(prefix)
            live = {i["instance_id"]: i for i in view["instances"] if i["state"] == "ok"} if view else {}
            return ids <= set(live) and all(live[i]["key_id"] == key_id for i in ids)

        await poll("both instances in the extension's view", listed)
        assert platform.extension(prefix)["manifest"]["instance_handlers"] == ["local-status", "boom"]

        # Each instance answers for itself, whoever asks.
        for target in (first, second):
            reply = await request(first, handler_subject(prefix, target.instance_id, "local-status"), b"hi")
            assert json.loads(reply.data) == {"instance_id": target.instance_id, "got": "hi"}

        unknown = await request(first, handler_subject(prefix, second.instance_id, "nope"))
        assert unknown.headers is not None and unknown.headers["Nats-Service-Error-Code"] == "404"
        assert unknown.headers["Nats-Service-Error"]
        assert json.loads(unknown.data)["error"]["code"] == "not_found"

        failed = await request(first, handler_subject(prefix, second.instance_id, "boom"))
        assert failed.headers is not None and failed.headers["Nats-Service-Error-Code"] == "500"
        assert json.loads(failed.data) == {"error": {"code": "handler_failed", "message": "instance boom"}}

        # A handler added while running is served and declared.
        async def late(req: symphony.Request) -> None:
            await req.respond(b"late")

        first.add_instance_handler("late", late)

        async def late_served() -> bool:
            reply = await request(second, handler_subject(prefix, first.instance_id, "late"))
            return reply.data == b"late"

        await poll("the late handler", late_served)
        await poll(
            "the late handler in the manifest",
            lambda: "late" in platform.extension(prefix)["manifest"]["instance_handlers"],
        )


def gateway(platform: Platform, path: str, token: str | None) -> HttpReply:
    return http_request("GET", f"{platform.http_url}/api/v1/extension/{path}", token=token)


async def test_the_gateway_reaches_one_instance_with_the_instance_query(platform: Platform, prefix: str) -> None:
    ext = with_local_status(declare(symphony.Extension("Test", prefix, token=own_key(platform, prefix))))
    async with operating(ext):
        instance = ext.instance_id
        client = platform.api_key(capabilities=(f"pub:extensions.{prefix}.instance.{instance}.local-status",))
        await poll("the instance to be live", lambda: (platform.extension(prefix) or {}).get("state") == "OK")
        reply = await asyncio.to_thread(gateway, platform, f"{prefix}/local-status?instance={instance}", client)
        assert reply.status == 200, str(reply)
        assert reply.json()["instance_id"] == instance

        other = parse_token(own_key(platform, prefix)).key_id  # a well-formed id that is no instance of `prefix`
        for query in (f"instance={other}", "instance=not-an-id"):
            missing = await asyncio.to_thread(gateway, platform, f"{prefix}/local-status?{query}", client)
            assert (missing.status, missing.json()["code"]) == (404, "instance_not_found"), str(missing)


async def test_each_command_is_handled_by_exactly_one_instance(platform: Platform, prefix: str) -> None:
    token = own_key(platform, prefix)
    handled: Counter[tuple[str | None, int]] = Counter()
    exts = [declare(symphony.Extension("Test", prefix, token=token)) for _ in range(3)]
    for ext in exts:

        async def reindex(req: symphony.Request, ext: symphony.Extension = ext) -> None:
            n = json.loads(req.data)["n"]
            handled[(ext.instance_id, n)] += 1
            await req.respond(json.dumps({"n": n, "by": ext.instance_id, "caller": req.caller}).encode())

        ext.add_command_handler("reindex", reindex, description="Rebuild the search index")
    async with operating(*exts):
        count = 60
        subject = f"cirata.extensions.{prefix}.commands.reindex"
        replies = await asyncio.gather(
            *(request(exts[0], subject, json.dumps({"n": n}).encode()) for n in range(count))
        )
        by = [json.loads(r.data)["by"] for r in replies]
        assert sorted(json.loads(r.data)["n"] for r in replies) == list(range(count))
        # Give a duplicate delivery time to show up before counting.
        await exts[0].nc.flush()
        await asyncio.sleep(0.5)
        per_command = Counter(n for (_, n) in handled.elements())
        assert per_command == Counter(range(count)), "every command exactly once"
        assert set(by) <= {e.instance_id for e in exts}
        assert len(set(by)) >= 2, f"the queue group spread the commands: {Counter(by)}"
        manifest = platform.extension(prefix)["manifest"]
        assert manifest["commands"] == [{"name": "reindex", "description": "Rebuild the search index"}]

        # The platform runs a declared command on one instance, with the signed caller.
        client = platform.api_key(capabilities=(f"pub:extensions.{prefix}.commands.reindex",))
        client_id = parse_token(client).key_id
        ran = await asyncio.to_thread(run_command, platform, prefix, "reindex", client, {"n": count})
        assert ran.status == 200, str(ran)
        assert ran.json()["n"] == count and ran.json()["by"] in {e.instance_id for e in exts}
        assert ran.json()["caller"] == client_id
        missing = await asyncio.to_thread(run_command, platform, prefix, "undeclared", client, {})
        assert (missing.status, missing.json()["code"]) == (404, "command_not_found"), str(missing)
        assert sum(handled.values()) == count + 1


def run_command(platform: Platform, prefix: str, name: str, token: str, body: Any) -> HttpReply:
    return http_request(
        "POST",
        f"{platform.http_url}/api/v1/extensions/{prefix}/commands/{name}",
        token=token,
        body=json.dumps(body).encode(),
        content_type="application/json",
    )
