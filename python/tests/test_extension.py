"""The SDK in-process against the real server: endpoints, the client's errors, permissions, KV batches,
registration errors, token fall-through and the operate() lifecycle."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client

from cirata import symphony
from cirata.symphony.bootstrap import connect_nats, exchange
from cirata.symphony.credentials import CredentialStore, TokenSource
from cirata.symphony.errors import ConfigurationError, RegistrationError, TokenRejectedError
from cirata.symphony.kv_batch import put_all
from cirata.symphony.tokens import encode_token, parse_token

from .conftest import HttpReply, Platform, http_request, wait_until


async def poll(what: str, check: Callable[[], Any], deadline_secs: float = 15.0) -> Any:
    """Awaits until `check()` (sync or async) is truthy; fails after the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_secs
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            pytest.fail(f"timed out after {deadline_secs:g} s waiting for {what}")
        await asyncio.sleep(0.05)


def own_key(platform: Platform, prefix: str) -> str:
    """An API key bound to `prefix` that may serve and call everything under it and use `<prefix>_data`."""
    return platform.api_key(
        prefix=prefix,
        capabilities=(f"sub:extensions.{prefix}.>", f"pub:extensions.{prefix}.>"),
        buckets=(f"{prefix}_data",),
    )


def declare(ext: symphony.Extension) -> symphony.Extension:
    ext.add_capability("sub", f"extensions.{ext.prefix}.>", "everything of this test")
    ext.add_capability("pub", f"extensions.{ext.prefix}.>", "calls to itself")
    ext.add_bucket(f"{ext.prefix}_data", "test data")
    return ext


@asynccontextmanager
async def running(platform: Platform, prefix: str) -> AsyncIterator[symphony.Extension]:
    ext = declare(symphony.Extension("Test", prefix, token=own_key(platform, prefix)))
    async with ext:
        yield ext


async def test_a_failing_handler_is_answered_with_error_headers(platform: Platform, prefix: str) -> None:
    async with running(platform, prefix) as ext:
        service = await ext.add_endpoints(name="boom", version="1.0.0", description="fails")
        group = service.add_group(name=f"cirata.extensions.{prefix}")

        async def fail(req: symphony.Request) -> None:
            raise ValueError("kaput\nsecond line")

        async def echo(req: symphony.Request) -> None:
            await req.respond(b"echo:" + req.data)

        await group.add_endpoint(name="fail", handler=fail)
        await group.add_endpoint(name="echo", handler=echo)

        reply = await ext.common.client.request(f"cirata.extensions.{prefix}.fail", b"x", timeout=5)
        assert reply.headers is not None
        assert reply.headers["Nats-Service-Error-Code"] == "500"
        assert reply.headers["Nats-Service-Error"] == "kaput second line"
        assert json.loads(reply.data) == {"error": {"code": "handler_failed", "message": "kaput\nsecond line"}}

        reply = await ext.common.client.request(f"cirata.extensions.{prefix}.echo", b"hi", timeout=5)
        assert reply.data == b"echo:hi"
        assert not reply.headers

        assert ext.manifest()["endpoints"] == [
            {
                "service": "boom",
                "version": "1.0.0",
                "description": "fails",
                "metadata": {},
                "endpoints": [
                    {"name": "fail", "subject": f"cirata.extensions.{prefix}.fail"},
                    {"name": "echo", "subject": f"cirata.extensions.{prefix}.echo"},
                ],
            }
        ]


async def test_client_request_errors_are_natss_own(platform: Platform, prefix: str) -> None:
    async with running(platform, prefix) as ext:

        async def ignore(_msg: Any) -> None:
            return None

        await ext.nc.subscribe(f"cirata.extensions.{prefix}.silent", cb=ignore)
        await ext.nc.flush()
        with pytest.raises(asyncio.TimeoutError):
            await ext.common.client.request(f"cirata.extensions.{prefix}.silent", b"", timeout=0.3)
        with pytest.raises(nats.errors.NoRespondersError):
            await ext.common.client.request(f"cirata.extensions.{prefix}.nobody", b"")
        assert ext.conn is ext.nc


async def test_nats_server_refuses_what_the_key_does_not_allow(
    platform: Platform, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cirata.symphony")
    async with running(platform, prefix) as ext:
        await ext.common.client.publish("cirata.extensions.someoneelse.x", b"x")
        await ext.nc.flush()
        await poll("a permissions violation in the log", lambda: "permissions violation" in caplog.text)
        assert not ext.nc.is_closed


async def test_put_all_reports_bad_keys_and_writes_the_rest(platform: Platform, prefix: str) -> None:
    async with running(platform, prefix) as ext:
        entries = {f"item.{i}": json.dumps({"i": i}).encode() for i in range(50)}
        entries["bad key"] = b"never written"
        result = await put_all(ext.js, f"{prefix}_data", entries, max_in_flight=8)
        assert (result.succeeded, result.failed, result.total) == (50, 1, 51)
        assert list(result.errors) == ["bad key"]
        assert isinstance(result.errors["bad key"], nats.js.errors.InvalidKeyError)
        kv = await ext.js.key_value(f"{prefix}_data")
        assert json.loads((await kv.get("item.7")).value) == {"i": 7}

        missing = await put_all(ext.js, f"{prefix}_nope", {"a": b"1"})
        assert (missing.succeeded, missing.failed, missing.total) == (0, 1, 1)


async def test_keys_of_an_empty_bucket_are_an_empty_list(platform: Platform, prefix: str) -> None:
    async with running(platform, prefix) as ext:
        kv = await ext.js.key_value(f"{prefix}_data")
        assert await kv.keys() == []  # nats-py raises NoKeysError here; the seed's catalog maps over the answer
        await kv.put("item:1", b"{}")
        assert await kv.keys() == ["item:1"]
        assert await kv.keys(filters=["other.>"]) == []


async def test_registration_errors_are_runtime_errors_with_the_servers_code(platform: Platform, prefix: str) -> None:
    key = platform.api_key(prefix=prefix, capabilities=(f"sub:extensions.{prefix}.>",))
    ext = symphony.Extension("Wrong", prefix + "x", token=key)
    with pytest.raises(RuntimeError) as caught:
        async with ext:
            pytest.fail("registered a prefix the key is not bound to")
    assert isinstance(caught.value, RegistrationError)
    assert caught.value.code == "prefix_mismatch"


async def test_environment_mistakes_are_runtime_errors(
    platform: Platform, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        async with symphony.Extension("X", prefix, token="not-a-token"):
            pass
    assert caught.value.code == "invalid_token"
    monkeypatch.setenv("SYMPHONY_ADDRESS", "ftp://nope")
    with pytest.raises(ConfigurationError) as caught:
        async with symphony.Extension("X", prefix, token=own_key(platform, prefix)):
            pass
    assert caught.value.code == "invalid_address"
    assert "SYMPHONY_ADDRESS" in str(caught.value)


async def test_a_stored_token_symphony_refuses_falls_through_to_the_environment(
    platform: Platform, prefix: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    good = own_key(platform, prefix)
    real = parse_token(good)
    forged = encode_token(real.origin, real.key_id, secrets.token_bytes(32))
    CredentialStore(prefix).save(forged)
    monkeypatch.setenv("SYMPHONY_TOKEN", good)
    ext = declare(symphony.Extension("Test", prefix))
    assert ext.token == forged
    async with ext:
        assert ext._session is not None and ext._session.key_id == real.key_id
        assert ext.instance_id not in (None, real.key_id), "each exchange mints an instance id of its own"
        assert ext.token == good
    assert "skipping the stored token" in caplog.text

    # The same refusal for a token the user gave is reported, not skipped.
    with pytest.raises(TokenRejectedError) as caught:
        async with symphony.Extension("Test", prefix, token=forged):
            pass
    assert caught.value.status == 401


async def connect_client(platform: Platform, capabilities: tuple[str, ...]) -> Client:
    """An API client (a key without a prefix) connected the way the SDK connects."""
    token = platform.api_key(capabilities=capabilities)
    address, api_key = await exchange(token, TokenSource.EXPLICIT, None)
    return await connect_nats(api_key, address, "test-client")


async def test_operate_heartbeats_reregisters_and_shuts_down(platform: Platform, prefix: str) -> None:
    ext = declare(symphony.Extension("Operated", prefix, token=own_key(platform, prefix)))
    ext.add_resource(f"ui://{prefix}/status", "text/markdown", "# v1")
    async with ext:
        service = await ext.add_endpoints(name="svc", version="2.0.0", metadata={"team": "tests"})

        async def ping(req: symphony.Request) -> None:
            await req.respond(b"pong")

        await service.add_group(name=f"cirata.extensions.{prefix}").add_endpoint(name="ping", handler=ping)
        task = asyncio.ensure_future(ext.operate())
        instance_id = ext.instance_id

        def instance_state() -> str | None:
            if task.done():
                task.result()  # operate() ended early: raise its error here
            view = platform.extension(prefix)
            states = [i["state"] for i in view["instances"] if i["instance_id"] == instance_id] if view else []
            return states[0] if states else None

        await poll("the instance's ok status", lambda: instance_state() == "ok")
        view = platform.extension(prefix)
        assert view["state"] == "OK"
        assert view["manifest"]["endpoints"][0]["metadata"] == {"team": "tests"}
        assert view["manifest"]["sdk"]["name"] == "cirata-symphony-python"

        client = await connect_client(platform, (f"pub:extensions.{prefix}.ping",))
        try:
            assert (await client.request(f"cirata.extensions.{prefix}.ping", b"", timeout=5)).data == b"pong"
        finally:
            await client.close()

        await ext.update_resource(f"ui://{prefix}/status", "text/markdown", "# v2")
        content = platform.extension(prefix)["manifest"]["resources"][0]["content"]
        assert content == "# v2"

        ext.stop()
        await asyncio.wait_for(task, 30)
        assert instance_state() == "disconnected"
        assert platform.extension(prefix)["state"] == "Inactive"
        with pytest.raises(symphony.NotConnectedError):
            _ = ext.nc


async def test_a_registration_token_in_symphony_token_is_provisioned_and_stored(
    platform: Platform, prefix: str, monkeypatch: pytest.MonkeyPatch, isolated_env: Any
) -> None:
    registration = platform.registration_token()
    monkeypatch.setenv("SYMPHONY_TOKEN", registration)
    ext = declare(symphony.Extension("Provisioned", prefix))
    assert ext.token == registration
    async with ext:
        permanent = ext.token
        assert permanent is not None
        assert permanent != registration
        assert ext._session is not None and ext._session.key_id == parse_token(permanent).key_id
        kv = await ext.js.key_value(f"{prefix}_data")  # the provisioned key may use the declared bucket
        await kv.put("config:theme", b"dark")  # Symphony's documented key style
        assert (await kv.get("config:theme")).value == b"dark"
    assert (isolated_env / f"{prefix}.token").read_text().strip() == permanent


async def test_a_reconnect_registers_again(platform: Platform, prefix: str) -> None:
    async with running(platform, prefix) as ext:
        # Declared after connecting, so only a new registration can bring it to Symphony.
        ext.add_resource(f"ui://{prefix}/late", "text/markdown", "# late")
        assert not platform.extension(prefix)["manifest"]["resources"]
        await ext.nc._reconnected_cb()  # what nats-py calls once a lost connection is back

        def late_resource_registered() -> bool:
            return [r["uri"] for r in platform.extension(prefix)["manifest"]["resources"]] == [f"ui://{prefix}/late"]

        await poll("the manifest registered again", late_resource_registered)


async def test_the_seeds_runtime_bucket_snippet_runs_as_written(platform: Platform, prefix: str) -> None:
    """The seed's "create buckets at runtime" snippet: the cluster's replica count, then a bucket
    in the extension's own account (docs/protocol.md §3.1)."""
    ext = declare(symphony.Extension("Runtime", prefix, token=own_key(platform, prefix)))
    async with ext:
        msg = await ext.nc.request("cirata.services.cluster.info", b"", timeout=2)
        replicas = json.loads(msg.data).get("replicas", 1)
        await ext.js.create_key_value(
            bucket="runtime_data",
            description="Created on demand",
            replicas=replicas,
        )
        kv = await ext.js.key_value("runtime_data")
        await kv.put("k", b"v")
        assert (await kv.get("k")).value == b"v"
    other = f"{prefix}o"
    async with declare(symphony.Extension("Other", other, token=own_key(platform, other))) as neighbour:
        with pytest.raises(nats.js.errors.BucketNotFoundError):
            await neighbour.js.key_value("runtime_data")


async def test_req_caller_is_only_the_gateways_signed_caller(platform: Platform, prefix: str) -> None:
    async with running(platform, prefix) as ext:
        service = await ext.add_endpoints(name="who", version="1.0.0", description="who calls")
        group = service.add_group(name=f"cirata.extensions.{prefix}")

        async def who(req: symphony.Request) -> None:
            raw = (req.headers or {}).get("Symphony-Caller")
            await req.respond(json.dumps({"caller": req.caller, "raw": raw}).encode())

        await group.add_endpoint(name="who", handler=who)
        operating = asyncio.ensure_future(ext.operate())
        try:
            client = platform.api_key(prefix=prefix, capabilities=(f"pub:extensions.{prefix}.who",))
            url = f"{platform.http_url}/api/v1/extension/{prefix}/who"

            def routed() -> HttpReply | None:
                reply = http_request("POST", url, token=client, body=b"{}", content_type="application/json")
                return reply if reply.status == 200 else None

            through = (await asyncio.to_thread(wait_until, "the who endpoint to be routed", routed)).json()
            key_id = client.split(".")[1]
            assert through == {"caller": key_id, "raw": key_id}, through

            # Straight over NATS, anyone allowed to publish can write the header; it is not verified.
            subject = f"cirata.extensions.{prefix}.who"
            only_name = {"Symphony-Caller": "user:admin"}
            forged = await ext.common.client.request(subject, b"{}", timeout=5, headers=only_name)
            assert json.loads(forged.data) == {"caller": None, "raw": "user:admin"}
            bad = {"Symphony-Caller": "user:admin", "Symphony-Caller-Signature": f"v1.{int(time.time())}.AAAA"}
            forged = await ext.common.client.request(subject, b"{}", timeout=5, headers=bad)
            assert json.loads(forged.data)["caller"] is None
        finally:
            ext.stop()
            await operating


async def test_the_seeds_two_part_service_version_is_read_as_semver(platform: Platform, prefix: str) -> None:
    async with running(platform, prefix) as ext:
        await ext.add_endpoints("myext", "1.0")  # the seed's Observability line, as written
        (spec,) = ext.manifest()["endpoints"]
        assert (spec["service"], spec["version"]) == ("myext", "1.0.0")
        with pytest.raises(symphony.errors.InvalidManifestError):
            await ext.add_endpoints("other", "v2")
