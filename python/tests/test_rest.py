"""The seed's Python catalog example (examples/python/catalog), which publishes no OpenAPI, is reachable over REST
through the gateway's service proxy (docs/protocol.md §7.1): `POST /api/v1/extension/catalog/add` and
`GET /api/v1/extension/catalog/list`, with a client key allowed to publish to those endpoints.

Its own server: the catalog's bucket outlives the example, and test_catalog_example.py expects an empty one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO, HttpReply, Platform, http_request, start_platform, stop_process_group, wait_until

CATALOG = REPO / "examples" / "python" / "catalog" / "main.py"


@pytest.fixture(scope="module")
def rest_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with start_platform(tmp_path_factory.mktemp("symphony-rest")) as running:
        yield running


@pytest.fixture
def catalog(rest_platform: Platform, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in rest_platform.env.items() if k != "PYTHONPATH"}
    env.update(
        PYTHONPATH=str(REPO / "python"),
        SYMPHONY_CREDENTIAL_STORE="file",
        CIRATA_CONFIG_DIR=str(tmp_path / "catalog-config"),
        REGISTRATION_TOKEN=rest_platform.registration_token(),
    )
    log = tmp_path / "catalog.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(CATALOG)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    proc.log = log  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        stop_process_group(proc)


def rest(platform: Platform, method: str, path: str, token: str | None, body: object = None) -> HttpReply:
    data = None if body is None else json.dumps(body).encode()
    return http_request(
        method,
        f"{platform.http_url}/api/v1/extension/catalog{path}",
        token=token,
        body=data,
        content_type="application/json" if data is not None else None,
    )


def test_the_python_catalog_is_served_over_rest_by_the_service_proxy(
    rest_platform: Platform, catalog: subprocess.Popen[bytes]
) -> None:
    token = rest_platform.api_key(capabilities=("pub:extensions.catalog.add", "pub:extensions.catalog.list"))

    def routed() -> HttpReply | None:
        if catalog.poll() is not None:
            pytest.fail(f"the catalog exited with {catalog.returncode}:\n{catalog.log.read_text()}")  # type: ignore[attr-defined]
        reply = rest(rest_platform, "GET", "/list", token)
        return reply if reply.status == 200 else None

    # The seed's list handler, unchanged, answers [] for the empty bucket (the SDK's kv.keys() does not raise).
    first = wait_until("GET /api/v1/extension/catalog/list to be routed", routed)
    assert first.headers["content-type"] == "application/json", str(first)
    assert first.json() == [], str(first)

    added = rest(rest_platform, "POST", "/add", token, {"id": "r1", "name": "Over REST", "price": 2})
    assert added.status == 200, str(added)
    assert added.json() == {"status": "created", "id": "r1"}
    listed = rest(rest_platform, "GET", "/list", token)
    assert listed.status == 200, str(listed)
    assert listed.json() == [{"id": "r1", "name": "Over REST", "price": 2}]

    # The gateway's rules hold for a Python extension too.
    missing = rest(rest_platform, "GET", "/list", None)
    assert (missing.status, missing.json()["code"]) == (401, "missing_token"), str(missing)
    only_list = rest_platform.api_key(capabilities=("pub:extensions.catalog.list",))
    forbidden = rest(rest_platform, "POST", "/add", only_list, {"id": "r2"})
    assert (forbidden.status, forbidden.json()["code"]) == (403, "forbidden"), str(forbidden)
    put = rest(rest_platform, "PUT", "/list", token)
    assert (put.status, put.json()["code"]) == (405, "method_not_allowed"), str(put)
    assert put.headers["allow"] == "GET, POST"
    unknown = rest(rest_platform, "GET", "/remove", token)
    assert (unknown.status, unknown.json()["code"]) == (404, "route_not_found"), str(unknown)

    # Stopped gracefully, its routes go away.
    catalog.send_signal(signal.SIGTERM)
    assert catalog.wait(timeout=30) == 0, catalog.log.read_text()  # type: ignore[attr-defined]

    def gone() -> bool:
        reply = rest(rest_platform, "GET", "/list", token)
        return reply.status == 404 and reply.json()["code"] == "route_not_found"

    wait_until("the catalog's routes to vanish", gone)
