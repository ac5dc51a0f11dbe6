"""Fixtures: one real `symphony serve` (with its embedded nats-server) for the whole session, the `symphony` CLI,
and an environment that never touches the user's keyring, config directory or tokens.

Every process started here is in its own process group and is stopped (SIGTERM, then SIGKILL) at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SYMPHONY = REPO / "target" / "debug" / "symphony"
STARTUP_DEADLINE_SECS = 60.0
STOP_GRACE_SECS = 10.0

SDK_ENV = (
    "SYMPHONY_TOKEN",
    "REGISTRATION_TOKEN",
    "SYMPHONY_ADDRESS",
    "SYMPHONY_CREDENTIAL_STORE",
    "SYMPHONY_CA_FILE",
    "CIRATA_CONFIG_DIR",
)


def _stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 1 is the ppid, 19 the start time)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every live process below `pid`; children may have their own process group, as
    nats-server does. The start time tells a process from a later one that reused its pid."""
    children: dict[int, list[tuple[int, str]]] = {}
    for proc_dir in Path("/proc").glob("[0-9]*"):
        fields = _stat(proc_dir.name)
        if fields:
            children.setdefault(int(fields[1]), []).append((int(proc_dir.name), fields[19]))
    found: list[tuple[int, str]] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child[0])
    return found


def stop_process_group(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM to the child's process group, SIGKILL after the grace period, then SIGKILL to anything it
    started that is still alive; reaps the child."""
    spawned = descendants(proc.pid)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_GRACE_SECS)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_GRACE_SECS)
    for pid, started in spawned:
        fields = _stat(pid)
        if fields and fields[19] == started:  # still the process we started, not a reused pid
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def wait_until(what: str, check: Callable[[], Any], deadline_secs: float = 30.0, interval: float = 0.1) -> Any:
    """Polls `check` until it returns something truthy; fails the test after the deadline."""
    deadline = time.monotonic() + deadline_secs
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {deadline_secs:g} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Platform:
    """A running `symphony serve` and its CLI."""

    data_dir: Path
    http_url: str
    nats_url: str
    log_path: Path
    env: dict[str, str] = field(repr=False)
    # The CA of a TLS server (`ports.json` `tls_ca`: `<data dir>/tls/ca.pem` with `--tls-self-signed`).
    tls_ca: str | None = None
    ports: dict[str, Any] = field(default_factory=dict, repr=False)

    def ssl_context(self) -> ssl.SSLContext | None:
        """A context that trusts this server's CA (host names still checked); None without TLS."""
        return ssl.create_default_context(cafile=self.tls_ca) if self.tls_ca else None

    def cli(self, *args: str) -> str:
        """Runs `symphony <args> --data-dir <dir>`; returns stdout, stripped."""
        result = subprocess.run(
            [str(SYMPHONY), *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"symphony {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout.strip()

    def registration_token(self) -> str:
        return self.cli("token", "create", "--registration")

    def api_key(
        self, *, prefix: str | None = None, capabilities: tuple[str, ...] = (), buckets: tuple[str, ...] = ()
    ) -> str:
        args = ["key", "create"]
        if prefix:
            args += ["--prefix", prefix]
        for cap in capabilities:
            args += ["--capability", cap]
        for bucket in buckets:
            args += ["--bucket", bucket]
        return self.cli(*args)

    def extensions(self) -> list[dict[str, Any]]:
        return json.loads(self.cli("extension", "list", "--json"))

    def extension(self, prefix: str) -> dict[str, Any] | None:
        return next((e for e in self.extensions() if e["prefix"] == prefix), None)

    def server_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@dataclass
class HttpReply:
    """A complete HTTP reply; header names are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode(errors="replace")

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.headers.get('content-type', '')!r}: {self.text()[:2000]}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http_request(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
    follow_redirects: bool = True,
    timeout: float = 30,
    context: ssl.SSLContext | None = None,
) -> HttpReply:
    """One HTTP request straight to the loopback server (no proxies); 4xx/5xx are replies, not exceptions.
    `context` is the TLS context for https (e.g. `Platform.ssl_context()`)."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    if not follow_redirects:
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, data=body, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if content_type is not None:
        request.add_header("Content-Type", content_type)
    try:
        with opener.open(request, timeout=timeout) as response:
            return HttpReply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return HttpReply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def _ready(http_url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(f"{http_url}/api/v1/ready", timeout=2, context=context) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def start_platform(data_dir: Path, *extra_args: str, host: str = "127.0.0.1") -> Iterator[Platform]:
    """Runs `symphony serve` (embedded nats-server, free ports on `host`, 1 s heartbeat, 3 s status TTL, then
    `extra_args`) in `data_dir` until the block ends; yields once it is ready. With TLS (`--tls-self-signed`)
    the readiness check and `Platform.ssl_context()` trust the server's CA (`ports.json` `tls_ca`)."""
    if not SYMPHONY.exists():
        pytest.fail(f"{SYMPHONY} is missing: run cargo build --workspace --bins first")
    nats_server = os.environ.get("SYMPHONY_NATS_SERVER") or str(REPO / ".venv" / "bin" / "nats-server")
    env = {k: v for k, v in os.environ.items() if k not in SDK_ENV}
    env["SYMPHONY_NATS_SERVER"] = nats_server
    log_path = data_dir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(SYMPHONY),
                "serve",
                "--data-dir",
                str(data_dir),
                "--host",
                host,
                "--http",
                "0",
                "--nats-port",
                "0",
                "--ws-port",
                "0",
                "--heartbeat",
                "1s",
                "--status-ttl",
                "3s",
                *extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        ports_file = data_dir / "ports.json"

        def started() -> dict[str, Any] | None:
            if proc.poll() is not None:
                pytest.fail(f"symphony serve exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                return json.loads(ports_file.read_text())
            except (OSError, ValueError):
                return None

        ports = wait_until("ports.json", started, STARTUP_DEADLINE_SECS)
        tls_ca = ports.get("tls_ca")
        context = ssl.create_default_context(cafile=tls_ca) if tls_ca else None
        wait_until("/api/v1/ready", lambda: _ready(ports["http_url"], context), STARTUP_DEADLINE_SECS)
        yield Platform(data_dir, ports["http_url"], ports["nats_url"], log_path, env, tls_ca, ports)
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One server for the whole session."""
    with start_platform(tmp_path_factory.mktemp("symphony")) as running:
        yield running


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SDK variables from the outside; the file store in a fresh directory (never the real keyring)."""
    for name in SDK_ENV:
        monkeypatch.delenv(name, raising=False)
    config_dir = tmp_path / "cirata-config"
    monkeypatch.setenv("SYMPHONY_CREDENTIAL_STORE", "file")
    monkeypatch.setenv("CIRATA_CONFIG_DIR", str(config_dir))
    return config_dir


@pytest.fixture
def prefix() -> str:
    """A prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"
