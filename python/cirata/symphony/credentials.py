"""Which token an extension uses, and where a provisioned token is kept between runs.

Order (the same as the Rust SDK): the `token` argument → the stored token → `SYMPHONY_TOKEN` →
`REGISTRATION_TOKEN`. The store is the OS credential store (keyring entry `("cirata-symphony", <prefix>)`), else
the file `<config>/<prefix>.token` (mode 0600) where `<config>` is `CIRATA_CONFIG_DIR` or `~/.config/cirata`.
`SYMPHONY_CREDENTIAL_STORE=file` skips the keyring (containers, tests). Both SDKs read and write the same places,
so either finds a token the other stored. Tokens are never logged.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

KEYRING_SERVICE = "cirata-symphony"
CONFIG_DIR_ENV = "CIRATA_CONFIG_DIR"
STORE_ENV = "SYMPHONY_CREDENTIAL_STORE"
TOKEN_ENV = "SYMPHONY_TOKEN"
REGISTRATION_TOKEN_ENV = "REGISTRATION_TOKEN"

log = logging.getLogger("cirata.symphony")


class TokenSource(str, enum.Enum):
    """Where a token came from (logged instead of the token)."""

    EXPLICIT = "the token argument"
    STORED = "the stored token"
    ENV_TOKEN = TOKEN_ENV
    ENV_REGISTRATION = REGISTRATION_TOKEN_ENV
    PROVISIONED = "the provisioned token"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Candidate:
    """A token to try and where it came from."""

    source: TokenSource
    token: str = field(repr=False)


def candidates(
    explicit: str | None,
    stored: str | None,
    env_token: str | None,
    env_registration: str | None,
) -> list[Candidate]:
    """The tokens to try, in order. An explicit token is the only candidate; blanks and repeats are dropped."""
    if explicit and explicit.strip():
        return [Candidate(TokenSource.EXPLICIT, explicit.strip())]
    out: list[Candidate] = []
    for source, token in (
        (TokenSource.STORED, stored),
        (TokenSource.ENV_TOKEN, env_token),
        (TokenSource.ENV_REGISTRATION, env_registration),
    ):
        value = token.strip() if token else ""
        if value and all(c.token != value for c in out):
            out.append(Candidate(source, value))
    return out


def _env(name: str) -> str | None:
    value = os.environ.get(name, "")
    return value if value.strip() else None


class CredentialStore:
    """The token store of one extension prefix."""

    def __init__(self, prefix: str, *, use_keyring: bool | None = None, directory: Path | None = None) -> None:
        self.prefix = prefix
        if use_keyring is None:
            use_keyring = os.environ.get(STORE_ENV, "").strip().lower() != "file"
        self.use_keyring = use_keyring
        if directory is None:
            configured = os.environ.get(CONFIG_DIR_ENV, "")
            directory = Path(configured) if configured else Path.home() / ".config" / "cirata"
        self.directory = directory

    @property
    def token_file(self) -> Path:
        """`<config>/<prefix>.token`."""
        return self.directory / f"{self.prefix}.token"

    def load(self) -> str | None:
        """The stored token: the keyring first, then the file. Any failure reads as "nothing stored"."""
        if self.use_keyring:
            token = _keyring_get(self.prefix)
            if token:
                return token
        return _read_token_file(self.token_file)

    def save(self, token: str) -> str:
        """Stores `token` in the keyring, else in the file; returns where ("the OS credential store" or a path).

        Raises `OSError` when neither works.
        """
        if self.use_keyring and _keyring_set(self.prefix, token):
            return "the OS credential store"
        write_token_file(self.token_file, token)
        return str(self.token_file)


def _keyring_get(prefix: str) -> str | None:
    try:
        import keyring

        token = keyring.get_password(KEYRING_SERVICE, prefix)
    except Exception as e:  # any keyring failure means "no credential store here"
        log.debug("OS credential store unavailable (%s); using the token file", type(e).__name__)
        return None
    return token.strip() if token and token.strip() else None


def _keyring_set(prefix: str, token: str) -> bool:
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, prefix, token)
    except Exception as e:  # any keyring failure means "no credential store here"
        log.debug("OS credential store unavailable (%s); writing the token file", type(e).__name__)
        return False
    return True


def _read_token_file(path: Path) -> str | None:
    """A missing, unreadable or blank file is `None`. Warns when other users may read it."""
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError):
        return None
    if mode & 0o077:
        log.warning("the token file %s is readable by other users; run `chmod 600` on it", path)
    token = text.strip()
    return token or None


def write_token_file(path: Path, token: str) -> None:
    """Writes `token` atomically: a 0600 temp file in the same directory, then a rename.

    A directory this creates gets mode 0700; an existing one keeps its mode.
    """
    directory = path.parent
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            # O_CREAT's mode only applies to new files: a leftover temp file must not keep wider permissions.
            os.fchmod(f.fileno(), stat.S_IRUSR | stat.S_IWUSR)
            f.write(token + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def resolve_candidates(prefix: str, explicit: str | None) -> list[Candidate]:
    """The candidates for an extension, read from the argument, the store and the environment."""
    stored = None if explicit and explicit.strip() else CredentialStore(prefix).load()
    return candidates(explicit, stored, _env(TOKEN_ENV), _env(REGISTRATION_TOKEN_ENV))
