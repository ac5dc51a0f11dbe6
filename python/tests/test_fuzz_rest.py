"""Fuzzes the platform's REST API with schemathesis (docs/security.md "Fuzzing"): every operation in
`GET /api/v1/openapi.json`, generated from its schema, sent anonymously and as the signed-in admin.
Any 5xx or dropped connection fails, and every error answer is a typed JSON error (`code`, `message`).

`SYMPHONY_FUZZ_EXAMPLES` raises the examples per operation for a longer campaign (default 15)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from .conftest import Platform, http_request, start_platform

EXAMPLES = int(os.environ.get("SYMPHONY_FUZZ_EXAMPLES", "15"))
ADMIN_PASSWORD = "fuzz-admin-password-1"
# Ends the admin's own session, which the rest of the run signs in with: fuzzed anonymously only.
ANONYMOUS_ONLY = {("POST", "/api/v1/logout")}


@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMPHONY_ADMIN_PASSWORD", ADMIN_PASSWORD)
        with start_platform(tmp_path_factory.mktemp("symphony-fuzz")) as running:
            yield running


@pytest.fixture(scope="module")
def admin_headers(fuzz_platform: Platform) -> dict[str, str]:
    reply = http_request(
        "POST",
        f"{fuzz_platform.http_url}/api/v1/login",
        body=json.dumps({"username": "admin", "password": ADMIN_PASSWORD}).encode(),
        content_type="application/json",
    )
    assert reply.status == 200, reply
    return {"Authorization": f"Bearer {reply.json()['token']}"}


@pytest.fixture(scope="module")
def api_schema(fuzz_platform: Platform, admin_headers: dict[str, str]) -> Any:
    # The aggregated document is behind sign-in.
    return schemathesis.openapi.from_url(f"{fuzz_platform.http_url}/api/v1/openapi.json", headers=admin_headers)


def assert_typed_answer(response: Any, who: str, case: Any) -> None:
    where = f"{case.method} {case.formatted_path} as {who} (body {case.body!r:.200})"
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400 and response.status_code != 405:
        try:
            body = json.loads(response.text)
        except ValueError:
            pytest.fail(f"{where}: {response.status_code} is not a JSON error: {response.text[:300]!r}")
        assert isinstance(body, dict) and "code" in body and "message" in body, f"{where}: {body}"


def fuzz_operation(operation: Any, base_url: str, admin_headers: dict[str, str], cases: dict[str, int]) -> None:
    """Up to `EXAMPLES` valid and schema-violating cases of one operation, each sent anonymously and as admin."""
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)
    anonymous_only = (operation.method.upper(), operation.path) in ANONYMOUS_ONLY

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case: Any) -> None:
        cases[operation.label] = cases.get(operation.label, 0) + 1
        assert_typed_answer(case.call(base_url=base_url), "anonymous", case)
        if not anonymous_only:
            assert_typed_answer(case.call(base_url=base_url, headers=admin_headers), "admin", case)

    fuzz()


def test_no_input_is_a_server_error(api_schema: Any, fuzz_platform: Platform, admin_headers: dict[str, str]) -> None:
    # schemathesis' own pytest plugin does not run under pytest 9 (it reads `Function._nodeid`), so each
    # operation's strategy drives a plain Hypothesis test.
    cases: dict[str, int] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 25, [op.label for op in operations]
    for operation in operations:
        fuzz_operation(operation, fuzz_platform.http_url, admin_headers, cases)
    # Still up and still the admin's: nothing above ended the server or the session.
    assert http_request("GET", f"{fuzz_platform.http_url}/api/v1/ping").status == 200
    who = http_request("GET", f"{fuzz_platform.http_url}/api/v1/userinfo", token=admin_headers["Authorization"][7:])
    assert who.status == 200, who
    print(f"fuzzed {len(cases)} operations, {sum(cases.values())} cases: {cases}")
