"""Key JWTs are short-lived (docs/protocol.md §9.3): the Python SDK exchanges its token again before the JWT
expires and moves its services to a connection with the new JWT without leaving a request unanswered. The
server here gives key JWTs a lifetime of a few seconds, so several renewals happen in one test."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import nats.errors
import pytest
from nats.aio.client import Client

from cirata import symphony
from cirata.symphony.bootstrap import connect_nats, exchange
from cirata.symphony.credentials import TokenSource

from .conftest import Platform, http_request, start_platform

LIFETIME_SECS = 6


ADMIN_PASSWORD = "renewal-admin-password"


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("renewal")
    previous = os.environ.get("SYMPHONY_ADMIN_PASSWORD")
    os.environ["SYMPHONY_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    try:
        with start_platform(data_dir, "--key-jwt-lifetime-for-tests", f"{LIFETIME_SECS}s") as running:
            yield running
    finally:
        if previous is None:
            os.environ.pop("SYMPHONY_ADMIN_PASSWORD", None)
        else:
            os.environ["SYMPHONY_ADMIN_PASSWORD"] = previous


async def connect_client(token: str) -> Client:
    """A connection of an API client (a key without a prefix) with a fresh JWT."""
    address, api_key = await exchange(token, TokenSource.EXPLICIT, None)
    return await connect_nats(api_key, address, "renewal-client")


async def ask_whoami(token: str, prefix: str, instance_id: str) -> None:
    """The instance handler and the command `whoami` both answer the instance's id."""
    client = await connect_client(token)
    try:
        for subject in (f"instance.{instance_id}.whoami", "commands.whoami"):
            mine = await client.request(f"cirata.extensions.{prefix}.{subject}", b"", timeout=10)
            assert mine.data == instance_id.encode(), f"{subject}: {mine.data!r}"
    finally:
        await client.close()


async def may_publish(nc: Client, subject: str) -> bool:
    """A permitted request finds no responder (nobody serves it); a forbidden one is dropped by nats-server
    and times out."""
    try:
        await nc.request(subject, b"{}", timeout=0.5)
    except nats.errors.NoRespondersError:
        return True
    except nats.errors.TimeoutError:
        return False
    raise AssertionError(f"{subject} was answered")


async def test_a_narrowed_capability_reaches_a_live_python_instance(short_lived: Platform, prefix: str) -> None:
    platform = short_lived
    own = f"sub:extensions.{prefix}.>"
    token = platform.api_key(prefix=prefix, capabilities=(own, "pub:extensions.other.a", "pub:extensions.other.b"))
    key_id = token.split(".")[1]
    login = http_request(
        "POST",
        f"{platform.http_url}/api/v1/login",
        body=json.dumps({"username": "admin", "password": ADMIN_PASSWORD}).encode(),
        content_type="application/json",
    )
    assert login.status == 200, login
    admin = json.loads(login.body)["token"]
    ext = symphony.Extension("Narrowed", prefix, token=token)
    ext.add_capability("sub", f"extensions.{prefix}.>", "its own endpoints")
    async with ext:
        task = asyncio.ensure_future(ext.operate())
        a, b = "cirata.extensions.other.a", "cirata.extensions.other.b"
        assert await may_publish(ext.nc, a)
        assert await may_publish(ext.nc, b)
        edit = {"capabilities": [own, "pub:extensions.other.a"]}
        edited = await asyncio.to_thread(
            http_request,
            "PUT",
            f"{platform.http_url}/api/v1/key/{key_id}",
            token=admin,
            body=json.dumps(edit).encode(),
            content_type="application/json",
        )
        assert edited.status == 200, edited
        # The live connection is dropped, the SDK exchanges again and reconnects with only `a` allowed.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        # (A request sent while the connection is away times out too: `a` tells the two apart.)
        while await may_publish(ext.nc, b) or not await may_publish(ext.nc, a):
            assert loop.time() < deadline, f"{b} still allowed on the live connection, or {a} not any more"
            assert not task.done(), task
            await asyncio.sleep(0.2)
        assert not task.done(), "the extension still runs"
        ext.stop()
        await asyncio.wait_for(task, 30)


async def test_a_python_extension_renews_its_jwt_without_leaving_a_request_unanswered(
    short_lived: Platform, prefix: str
) -> None:
    """Endpoints, instance handlers and commands stay served and partitioning claims keep completing across
    renewals, and the instance keeps its id (docs/protocol.md §12.1)."""
    platform = short_lived
    token = platform.api_key(prefix=prefix, capabilities=(f"sub:extensions.{prefix}.>",))
    caller = platform.api_key(capabilities=(f"pub:extensions.{prefix}.echo",))
    started = time.time()
    ext = symphony.Extension("Renewal", prefix, token=token)
    ext.add_capability("sub", f"extensions.{prefix}.>", "its own endpoints")

    async def whoami(req: symphony.Request) -> None:
        await req.respond(str(ext.instance_id).encode())

    ext.add_instance_handler("whoami", whoami).add_command_handler("whoami", whoami)
    ext.enable_work_partitioning(lambda total, mine: None)
    async with ext:
        instance_id = ext.instance_id
        assert ext._session is not None
        first_jwt = ext._session.credentials.api_key.jwt
        # The client's own JWT is as short-lived: a fresh connection for each round.
        client_token = platform.api_key(
            capabilities=(
                f"pub:extensions.{prefix}.instance.{instance_id}.whoami",
                f"pub:extensions.{prefix}.commands.whoami",
            )
        )

        service = await ext.add_endpoints(name="renewal", version="1.0.0")

        async def echo(req: symphony.Request) -> None:
            await req.respond(req.data)

        await service.add_group(name=f"cirata.extensions.{prefix}").add_endpoint(name="echo", handler=echo)
        task = asyncio.ensure_future(ext.operate())
        url = f"{platform.http_url}/api/v1/extension/{prefix}/echo"

        def instance_ok() -> bool:
            view = platform.extension(prefix)
            return bool(view) and view["state"] == "OK"

        while not await asyncio.to_thread(instance_ok):
            assert not task.done(), task
            await asyncio.sleep(0.1)

        # Requests one after another until the first JWT is long expired: at least two renewals happen
        # while they run. Every one is answered.
        answered = 0
        while time.time() <= started + 3 * LIFETIME_SECS + 1:
            body = json.dumps({"n": answered}).encode()
            reply = await asyncio.to_thread(
                http_request, "POST", url, token=caller, body=body, content_type="application/json"
            )
            assert reply.status == 200, f"request {answered}: {reply}"
            assert reply.body == body, f"request {answered}"
            await ask_whoami(client_token, prefix, str(instance_id))
            answered += 1
        assert answered > 0
        assert not task.done(), "the extension still runs"
        assert ext.instance_id == instance_id, "a renewal keeps the instance id"
        # Claims still complete on the renewed connection (a lease holds 6 s, the first JWT is long gone).
        assert ext.work_partitioner.is_my_work("item"), "the partitioning claims survive renewals"
        assert ext._session._cell is not None and ext._session._cell.api_key.jwt != first_jwt, "the JWT was renewed"
        assert [i["instance_id"] for i in platform.extension(prefix)["instances"]] == [instance_id]
        ext.stop()
        await asyncio.wait_for(task, 30)
