"""The seed's "Checking Enforcement State" and "Subscribing to Enforcement State" snippets against the real server
(docs/protocol.md §13.4): an extension subscribes to the broadcast and asks for the state on demand, unchanged.
A server without a license answers `enforcement_enforced`; the license transitions and their broadcasts are shown
by `tests/tests/licenses.rs`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from .conftest import Platform, start_platform
from .test_extension import running


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A server of this module's own: each extension account reserves JetStream resources on the shared one."""
    with start_platform(tmp_path_factory.mktemp("enforcement")) as running_platform:
        yield running_platform


async def test_the_seeds_enforcement_snippets_run_unchanged(platform: Platform) -> None:
    async with running(platform, "enfseed") as ext:
        # Subscribing to Enforcement State (the seed's snippet)
        ENFORCEMENT_SUBJECT = "cirata.symphony.enforcement"

        async def on_enforcement(msg):
            state = json.loads(msg.data)
            status = state.get("status", "enforcement_ok")
            message = state.get("message", "")
            if status == "enforcement_enforced":
                logging.warning("Enforcement active: %s — pausing operations", message)
            elif status == "enforcement_warning":
                logging.info("Enforcement warning: approaching license limit")

        sub = await ext.conn.subscribe(ENFORCEMENT_SUBJECT, cb=on_enforcement)

        # On demand, e.g. when the extension first starts (the seed's snippet)
        reply = await ext.conn.request(
            "cirata.services.usage.enforcement",
            json.dumps({}).encode("utf-8"),
            timeout=5,
        )
        state = json.loads(reply.data)
        logging.info("Current enforcement status: %s", state.get("status"))

        assert state["status"] == "enforcement_enforced", state
        assert state["message"] == "no valid license"
        assert state["disabled_extensions"] == [] and state["grace_extensions"] == []
        assert state["units_licensed"] == 0
        await sub.unsubscribe()
