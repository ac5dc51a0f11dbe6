"""The documentation's complete example (examples/python/catalog) as a real process: it provisions its own key
from REGISTRATION_TOKEN, serves `add` and `list`, registers its help page and bucket, shuts down on SIGTERM, and
a second start reuses the stored key."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cirata.symphony.bootstrap import connect_nats, exchange
from cirata.symphony.credentials import TokenSource
from cirata.symphony.tokens import parse_token

from .conftest import REPO, Platform, stop_process_group, wait_until

CATALOG = REPO / "examples" / "python" / "catalog" / "main.py"


class ExampleProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(CATALOG)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"the catalog example exited with {self.proc.returncode}:\n{self.output()}")

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the catalog example ignored SIGTERM:\n{self.output()}")


@pytest.fixture
def start_catalog(platform: Platform, tmp_path: Path) -> Iterator[Any]:
    started: list[ExampleProcess] = []
    config_dir = tmp_path / "config" / "cirata"
    registration = platform.registration_token()
    env = {k: v for k, v in platform.env.items() if k not in ("PYTHONPATH",)}
    env.update(
        PYTHONPATH=str(REPO / "python"),
        SYMPHONY_CREDENTIAL_STORE="file",
        CIRATA_CONFIG_DIR=str(config_dir),
        REGISTRATION_TOKEN=registration,
    )

    def start() -> ExampleProcess:
        process = ExampleProcess(env, tmp_path / f"catalog-{len(started)}.log")
        started.append(process)
        return process

    start.config_dir = config_dir  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for process in started:
            stop_process_group(process.proc)


def instance_states(platform: Platform) -> dict[str, str]:
    view = platform.extension("catalog")
    return {i["instance_id"]: i["state"] for i in view["instances"]} if view else {}


def instance_keys(platform: Platform) -> dict[str, str]:
    """The key each instance runs with (its status's `key_id`)."""
    view = platform.extension("catalog")
    return {i["instance_id"]: i.get("key_id") for i in view["instances"]} if view else {}


async def call(platform: Platform, subject: str, payload: Any) -> Any:
    """Calls the catalog as an API client would: a key allowed to publish to its endpoints."""
    token = platform.api_key(capabilities=("pub:extensions.catalog.list", "pub:extensions.catalog.add"))
    address, api_key = await exchange(token, TokenSource.EXPLICIT, None)
    nc = await connect_nats(api_key, address, "catalog-test-client")
    try:
        reply = await nc.request(subject, json.dumps(payload).encode(), timeout=5)
    finally:
        await nc.close()
    return json.loads(reply.data)


async def test_catalog_provisions_serves_and_restarts_with_its_stored_key(
    platform: Platform, start_catalog: Any
) -> None:
    first = start_catalog()

    def running_instance() -> str | None:
        first.check_alive()
        ok = [i for i, state in instance_states(platform).items() if state == "ok"]
        return ok[0] if ok else None

    instance_id = wait_until("the catalog instance to report ok", running_instance)

    # The permanent token is in a private file and names the running instance.
    token_file: Path = start_catalog.config_dir / "catalog.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    stored = token_file.read_text()
    assert parse_token(stored).key_id == instance_keys(platform)[instance_id]

    manifest = platform.extension("catalog")["manifest"]
    assert manifest["sdk"]["name"] == "cirata-symphony-python"
    assert manifest["description"] == "Manages a catalog of items"
    help_page = next(r for r in manifest["resources"] if r["uri"] == "ui://catalog/help")
    assert help_page["mime_type"] == "text/markdown"
    assert help_page["content"].startswith("---\ntitle: Catalog\nbreadcrumbs:\n")
    assert "{{name}}" in help_page["content"] and "{{origin}}" in help_page["content"]
    assert {r["path"]: r["uri"] for r in manifest["routes"]} == {
        "/catalog": "ui://catalog/home",
        "/help/extensions/Catalog": "ui://catalog/help",
    }
    assert [b["name"] for b in manifest["buckets"]] == ["catalog_items"]
    assert manifest["endpoints"][0]["endpoints"] == [
        {"name": "list", "subject": "cirata.extensions.catalog.list"},
        {"name": "add", "subject": "cirata.extensions.catalog.add"},
    ]

    added = await call(platform, "cirata.extensions.catalog.add", {"id": "a1", "name": "Apple"})
    assert added == {"status": "created", "id": "a1"}
    assert await call(platform, "cirata.extensions.catalog.list", {}) == [{"id": "a1", "name": "Apple"}]

    assert first.terminate() == 0, first.output()
    assert instance_states(platform)[instance_id] == "disconnected"
    logs = [json.loads(line) for line in first.output().splitlines() if line.startswith("{")]
    assert {"timestamp", "level", "extension", "message", "trace_id", "span_id"} <= set(logs[0])
    assert all(entry["extension"] == "catalog" for entry in logs)
    assert stored.strip() not in first.output()

    # REGISTRATION_TOKEN is still set (and already used): the stored key comes first, so it is never tried.
    second = start_catalog()

    key_id = instance_keys(platform)[instance_id]

    def back_online() -> bool:
        # A new process is a new instance (docs/protocol.md §12.1), running with the same stored key.
        second.check_alive()
        keys = instance_keys(platform)
        return any(
            state == "ok" and i != instance_id and keys.get(i) == key_id
            for i, state in instance_states(platform).items()
        )

    wait_until("a new instance of the same key to report ok", back_online)
    assert token_file.read_text() == stored
    assert await call(platform, "cirata.extensions.catalog.list", {}) == [{"id": "a1", "name": "Apple"}]
    assert second.terminate() == 0, second.output()
    assert "the stored token" in second.output()
    assert os.environ.get("REGISTRATION_TOKEN") is None  # the test's own environment stayed clean
