"""TLS (docs/protocol.md §10, §1.1) with the Python SDK: a `symphony serve --tls-self-signed` server, the real
`examples/python/hello` provisioning over HTTPS and `tls://` NATS when `SYMPHONY_CA_FILE` names the local CA, and
failing on the certificate without it, or when it is sent to a name the certificate does not carry.

The wrong name is deterministic and stays on loopback: the server listens on 0.0.0.0, so it is reachable as
127.0.0.2 (Linux routes 127.0.0.0/8 to the loopback interface), and the generated certificate names only
`localhost`, `127.0.0.1` and `::1`.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from cirata.symphony.address import Address
from cirata.symphony.bootstrap import connect_nats, exchange
from cirata.symphony.credentials import TokenSource
from cirata.symphony.errors import UnreachableError

from .conftest import REPO, Platform, http_request, start_platform, stop_process_group, wait_until

HELLO = REPO / "examples" / "python" / "hello" / "main.py"
EXIT_DEADLINE_SECS = 30.0
# A bound for giving up on a refused NATS certificate (three attempts, 2 s apart), not an expectation.
NATS_GIVE_UP_DEADLINE_SECS = 30.0


@pytest.fixture(scope="module")
def tls_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One `--tls-self-signed` server on 0.0.0.0 for this module."""
    with start_platform(tmp_path_factory.mktemp("symphony-tls"), "--tls-self-signed", host="0.0.0.0") as running:
        yield running


def example_env(platform: Platform, config_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in platform.env.items() if k != "PYTHONPATH"}
    env.update(
        PYTHONPATH=str(REPO / "python"),
        PYTHONUNBUFFERED="1",
        SYMPHONY_CREDENTIAL_STORE="file",
        CIRATA_CONFIG_DIR=str(config_dir),
        HOME=str(config_dir),
        NO_PROXY="127.0.0.1,127.0.0.2,localhost",
    )
    env.update(extra)
    return env


def start_hello(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, str(HELLO)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def run_hello_to_failure(env: dict[str, str], log: Path) -> str:
    """Runs the hello example, which must exit non-zero on its own; returns its output."""
    proc = start_hello(env, log)
    try:
        code = proc.wait(timeout=EXIT_DEADLINE_SECS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the hello example did not give up:\n{log.read_text(errors='replace')}")
    finally:
        stop_process_group(proc)
    output = log.read_text(errors="replace")
    assert code != 0, output
    return output


def assert_still_unused(platform: Platform, registration: str) -> None:
    """A refused TLS connection consumed nothing: the registration token still exchanges."""
    reply = http_request(
        "GET", f"{platform.http_url}/api/v1/apikey", token=registration, context=platform.ssl_context()
    )
    assert reply.status == 200, reply
    assert reply.json()["kind"] == "registration"


def test_ports_and_symphonyinfo_announce_https_tls_nats_and_wss(tls_platform: Platform) -> None:
    ports = tls_platform.ports
    assert tls_platform.tls_ca == str(tls_platform.data_dir / "tls" / "ca.pem")
    assert Path(tls_platform.tls_ca).is_file()
    assert ports["http_url"] == f"https://127.0.0.1:{ports['http']}"
    assert ports["nats_url"] == f"tls://127.0.0.1:{ports['nats']}"

    info = http_request("GET", f"{tls_platform.http_url}/api/v1/symphonyinfo", context=tls_platform.ssl_context())
    assert info.status == 200, info
    body = info.json()
    assert body["origin"] == ports["http_url"]
    assert body["nats_urls"] == [ports["nats_url"]]
    assert body["websocket_url"] == f"wss://127.0.0.1:{ports['websocket']}"

    # Without the CA, Python's default trust refuses the certificate.
    with pytest.raises(urllib.error.URLError) as refused:
        http_request("GET", f"{tls_platform.http_url}/api/v1/ping")
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError), refused.value


def test_hello_provisions_and_registers_with_symphony_ca_file(tls_platform: Platform, tmp_path: Path) -> None:
    registration = tls_platform.registration_token()
    config_dir = tmp_path / "hello-config"
    log = tmp_path / "hello.log"
    env = example_env(
        tls_platform, config_dir, REGISTRATION_TOKEN=registration, SYMPHONY_CA_FILE=str(tls_platform.tls_ca)
    )
    proc = start_hello(env, log)
    try:

        def registered() -> str | None:
            if proc.poll() is not None:
                pytest.fail(f"the hello example exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
            view = tls_platform.extension("hello")
            if not view or view["state"] != "OK":
                return None
            ok = [i["key_id"] for i in view["instances"] if i["state"] == "ok" and i["pid"] == proc.pid]
            return ok[0] if ok else None

        key_id = wait_until("hello to register over TLS", registered)
        stored = (config_dir / "hello.token").read_text().strip()
        assert key_id in stored, "the instance runs with the provisioned key"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=EXIT_DEADLINE_SECS) == 0, log.read_text(errors="replace")
    finally:
        stop_process_group(proc)
    # The registration token was used for provisioning.
    reply = http_request(
        "GET", f"{tls_platform.http_url}/api/v1/apikey", token=registration, context=tls_platform.ssl_context()
    )
    assert reply.status == 401, reply
    assert reply.json()["code"] == "token_used", reply


def test_without_symphony_ca_file_hello_fails_on_the_certificate(tls_platform: Platform, tmp_path: Path) -> None:
    registration = tls_platform.registration_token()
    output = run_hello_to_failure(
        example_env(tls_platform, tmp_path / "config", REGISTRATION_TOKEN=registration), tmp_path / "hello.log"
    )
    assert "CERTIFICATE_VERIFY_FAILED" in output, output
    assert f"{tls_platform.http_url}/api/v1/apikey" in output, output
    assert_still_unused(tls_platform, registration)


def test_a_name_the_certificate_does_not_carry_is_refused(tls_platform: Platform, tmp_path: Path) -> None:
    registration = tls_platform.registration_token()
    wrong = f"https://127.0.0.2:{tls_platform.ports['http']}"
    output = run_hello_to_failure(
        example_env(
            tls_platform,
            tmp_path / "config",
            REGISTRATION_TOKEN=registration,
            SYMPHONY_CA_FILE=str(tls_platform.tls_ca),
            SYMPHONY_ADDRESS=wrong,
        ),
        tmp_path / "hello.log",
    )
    assert "CERTIFICATE_VERIFY_FAILED" in output and "not valid for '127.0.0.2'" in output, output
    assert_still_unused(tls_platform, registration)


async def test_the_nats_leg_checks_the_certificate_name_too(
    tls_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYMPHONY_CA_FILE", str(tls_platform.tls_ca))
    token = tls_platform.api_key(capabilities=("pub:extensions.hello.ping",))
    address, api_key = await exchange(token, TokenSource.EXPLICIT, None)
    assert address.http_base == tls_platform.http_url
    assert api_key.nats_urls == [tls_platform.nats_url]

    # Over tls:// with the CA: connected and usable.
    nc = await connect_nats(api_key, address, "tls-probe")
    try:
        reply = await nc.request("cirata.services.cluster.info", b"{}", timeout=10)
        assert json.loads(reply.data)["cluster_size"] == 1
    finally:
        await nc.close()

    # The same NATS server reached as 127.0.0.2 (HTTPS untouched): refused for the name. `connect_nats` gives up
    # after INITIAL_CONNECT_ATTEMPTS; the deadline only keeps a hang from stalling the suite.
    wrong = Address(address.http_base, nats_host="127.0.0.2")

    async def connect_or_give_up() -> None:
        try:
            await asyncio.wait_for(connect_nats(api_key, wrong, "tls-wrong-name"), NATS_GIVE_UP_DEADLINE_SECS)
        except asyncio.TimeoutError:
            pytest.fail(
                f"connect_nats to tls://127.0.0.2 neither connected nor failed within {NATS_GIVE_UP_DEADLINE_SECS:g} s "
                "after the certificate was refused (nats-py hangs in _close() after a failed TLS upgrade, "
                "nats-io/nats.py#718)"
            )

    with pytest.raises(UnreachableError) as refused:
        await connect_or_give_up()
    assert "127.0.0.2" in str(refused.value), refused.value
    assert "certificate" in str(refused.value).lower() or isinstance(
        refused.value.__cause__, ssl.SSLCertVerificationError
    ), repr(refused.value.__cause__)
