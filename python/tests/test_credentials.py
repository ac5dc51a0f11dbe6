"""Token resolution order and the token store: keyring, else a 0600 file (the same places as the Rust SDK)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cirata import symphony
from cirata.symphony import credentials
from cirata.symphony.credentials import CredentialStore, TokenSource, candidates


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sources(found: list[credentials.Candidate]) -> list[tuple[TokenSource, str]]:
    return [(c.source, c.token) for c in found]


def test_explicit_token_is_the_only_candidate() -> None:
    assert sources(candidates(" x ", "s", "e", "r")) == [(TokenSource.EXPLICIT, "x")]


def test_stored_then_symphony_token_then_registration_token() -> None:
    assert sources(candidates(None, "s", "e", "r")) == [
        (TokenSource.STORED, "s"),
        (TokenSource.ENV_TOKEN, "e"),
        (TokenSource.ENV_REGISTRATION, "r"),
    ]
    assert sources(candidates(None, None, None, "r")) == [(TokenSource.ENV_REGISTRATION, "r")]


def test_blanks_and_repeats_are_dropped() -> None:
    assert sources(candidates("  ", "s", " s ", "")) == [(TokenSource.STORED, "s")]
    assert candidates(None, None, None, None) == []


def test_the_constructor_resolves_the_token(monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> None:
    assert symphony.Extension("X", "xx").token is None
    monkeypatch.setenv("REGISTRATION_TOKEN", "reg")
    assert symphony.Extension("X", "xx").token == "reg"
    monkeypatch.setenv("SYMPHONY_TOKEN", "env")
    assert symphony.Extension("X", "xx").token == "env"
    CredentialStore("xx").save("stored")
    assert symphony.Extension("X", "xx").token == "stored"
    assert symphony.Extension("X", "yy").token == "env"  # another prefix has no stored token
    assert symphony.Extension("X", "xx", token="given").token == "given"


def test_file_store_round_trips_with_private_permissions(isolated_env: Path) -> None:
    store = CredentialStore("catalog")
    assert not store.use_keyring
    assert store.load() is None
    where = store.save("tok.en.value")
    file = isolated_env / "catalog.token"
    assert where == str(file)
    assert mode(file) == 0o600
    assert mode(isolated_env) == 0o700
    assert file.read_text() == "tok.en.value\n"
    assert store.load() == "tok.en.value"
    store.save("second")
    assert store.load() == "second"
    assert sorted(p.name for p in isolated_env.iterdir()) == ["catalog.token"]


def test_existing_directories_keep_their_mode_and_blank_files_read_as_nothing(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    store = CredentialStore("x", use_keyring=False, directory=tmp_path)
    store.save("t")
    assert mode(tmp_path) == 0o755
    assert mode(tmp_path / "x.token") == 0o600
    (tmp_path / "x.token").write_text("  \n")
    assert store.load() is None


def test_a_token_file_others_can_read_is_used_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "x.token").write_text("t\n")
    (tmp_path / "x.token").chmod(0o644)
    assert CredentialStore("x", use_keyring=False, directory=tmp_path).load() == "t"
    assert "chmod 600" in caplog.text


def test_keyring_failures_fall_back_to_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import keyring

    def broken(*_args: object) -> None:
        raise RuntimeError("no D-Bus here")

    monkeypatch.setattr(keyring, "get_password", broken)
    monkeypatch.setattr(keyring, "set_password", broken)
    store = CredentialStore("x", use_keyring=True, directory=tmp_path)
    assert store.save("t") == str(tmp_path / "x.token")
    assert store.load() == "t"


def test_the_keyring_is_used_first_under_the_shared_service_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import keyring

    vault: dict[tuple[str, str], str] = {}
    monkeypatch.setattr(keyring, "set_password", lambda s, u, p: vault.__setitem__((s, u), p))
    monkeypatch.setattr(keyring, "get_password", lambda s, u: vault.get((s, u)))
    store = CredentialStore("x", use_keyring=True, directory=tmp_path)
    assert store.save("t") == "the OS credential store"
    assert vault == {("cirata-symphony", "x"): "t"}
    assert store.load() == "t"
    assert not (tmp_path / "x.token").exists()


def test_no_token_exits_with_instructions_and_never_reads_stdin(tmp_path: Path) -> None:
    script = (
        "import asyncio\n"
        "from cirata import symphony\n"
        "async def main():\n"
        "    ext = symphony.Extension('Hello World', 'hello')\n"
        "    assert ext.token is None\n"
        "    async with ext:\n"
        "        await ext.operate()\n"
        "asyncio.run(main())\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "SYMPHONY_CREDENTIAL_STORE": "file",
        "CIRATA_CONFIG_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        input="typed\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "SYMPHONY_TOKEN" in result.stderr
    assert "REGISTRATION_TOKEN" in result.stderr
    assert "symphony token create --registration" in result.stderr
    assert "Traceback" not in result.stderr
