"""Names with rules: prefixes, bucket names, capabilities, resource URIs, route paths (docs/protocol.md §4, §5.2).

The same rules as `crates/protocol` (`names.rs`, `capability.rs`, `manifest.rs`), so the SDK refuses at the call
what Symphony would refuse at provisioning or registration. Pure functions: nothing here talks to NATS.
"""

from __future__ import annotations

import json
import re

from .errors import (
    CapabilityForbiddenError,
    InvalidBucketError,
    InvalidCapabilityError,
    InvalidEndpointError,
    InvalidHealthError,
    InvalidManifestError,
    InvalidPrefixError,
)

MAX_PREFIX_LEN = 32
PREFIX_RE = re.compile(rf"[a-z][a-z0-9_]{{0,{MAX_PREFIX_LEN - 1}}}")
BUCKET_CHARS_RE = re.compile(r"[A-Za-z0-9_-]+")
SERVICE_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
HANDLER_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_HANDLER_NAME_LEN = 64
MAX_BUCKET_LEN = 64
MAX_HISTORY = 64
MAX_NAME_LEN = 128
RESERVED_BUCKET_PREFIX = "symphony_"
CAPABILITY_KINDS = ("pub", "sub")
HEALTH_STATES = ("ok", "warning", "error")

MIME_TYPES = (
    "text/symphony-jsx",
    "text/symphony-module",
    "text/html+symphony",
    "text/html+htmx",
    "text/html",
    "text/html;profile=mcp-app",
    "text/markdown",
)
HTMX_MIME = "text/html+htmx"

WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
"""Unicode White_Space, what Rust's `char::is_whitespace` and `str::trim` use for names, URIs and route paths.
(`str.isspace` also counts the separators U+001C-U+001F; `str.strip()` strips them.)"""
SUBJECT_WHITE_SPACE = " \t\n\x0c\r"
"""The characters nats-server refuses inside a subject token (Rust's `u8::is_ascii_whitespace`)."""

_PREFIX_HINT = "a prefix is 1-32 characters: a lowercase letter, then lowercase letters, digits or _"
_CAPABILITY_HINT = "capabilities name subjects extensions.<prefix>[.<rest>]; `*` is a whole token, `>` only last"


def validate_prefix(prefix: str) -> None:
    """`^[a-z][a-z0-9_]{0,31}$`."""
    if not isinstance(prefix, str) or not PREFIX_RE.fullmatch(prefix):
        raise InvalidPrefixError(f"invalid prefix {prefix!r}", hint=_PREFIX_HINT)


def validate_name(name: str) -> None:
    """An extension name: 1-128 characters, not blank."""
    if not isinstance(name, str) or not name.strip(WHITE_SPACE) or len(name) > MAX_NAME_LEN:
        raise InvalidManifestError(f"extension name {name!r} must be 1-{MAX_NAME_LEN} characters")


def validate_bucket_name(bucket: str) -> None:
    """`[A-Za-z0-9_-]`, 1-64 characters, not `symphony_…`: each extension has its own JetStream."""
    charset_ok = isinstance(bucket, str) and bool(BUCKET_CHARS_RE.fullmatch(bucket))
    if charset_ok and not bucket.startswith(RESERVED_BUCKET_PREFIX) and len(bucket) <= MAX_BUCKET_LEN:
        return
    raise InvalidBucketError(
        f"invalid bucket name {bucket!r}",
        hint=f"use letters, digits, _ and - (at most {MAX_BUCKET_LEN} characters); "
        f"names starting {RESERVED_BUCKET_PREFIX} are reserved",
    )


def validate_bucket_limits(name: str, ttl: int, max_history_per_key: int, max_bucket_size: int) -> None:
    """Non-negative integers; `max_history_per_key` at most 64."""
    for field, value in (
        ("ttl", ttl),
        ("max_history_per_key", max_history_per_key),
        ("max_bucket_size", max_bucket_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidBucketError(f"bucket {name!r}: {field} must be a non-negative integer, not {value!r}")
    if max_history_per_key > MAX_HISTORY:
        raise InvalidBucketError(f"bucket {name!r}: max_history_per_key {max_history_per_key} is over {MAX_HISTORY}")


def is_literal_token(token: str) -> bool:
    """A literal subject token: non-empty, no whitespace (`SUBJECT_WHITE_SPACE`), no `.`, no wildcard characters."""
    return bool(token) and not any(c in SUBJECT_WHITE_SPACE or c in ".*>" for c in token)


def capability_target_prefix(subject: str) -> str | None:
    """The extension prefix a capability subject names (`extensions.<prefix>.…`), if it is literal."""
    tokens = subject.split(".")
    if len(tokens) >= 2 and tokens[0] == "extensions" and is_literal_token(tokens[1]):
        return tokens[1]
    return None


def validate_capability(kind: str, subject: str, own_prefix: str) -> None:
    """Kind, subject grammar, and wildcards only inside the extension's own prefix."""
    if kind not in CAPABILITY_KINDS:
        raise InvalidCapabilityError(f'capability kind {kind!r} is neither "pub" nor "sub"')
    if not isinstance(subject, str):
        raise InvalidCapabilityError(f"capability subject {subject!r} is not a string", hint=_CAPABILITY_HINT)
    tokens = subject.split(".")
    if tokens[0] != "extensions" or len(tokens) < 2:
        raise InvalidCapabilityError(
            f"capability {subject!r}: must start with extensions.<prefix>", hint=_CAPABILITY_HINT
        )
    for i, token in enumerate(tokens):
        wildcard_ok = token == "*" or (token == ">" and i == len(tokens) - 1)
        if not wildcard_ok and not is_literal_token(token):
            raise InvalidCapabilityError(
                f"capability {subject!r}: has an empty, wildcard-containing or whitespace token",
                hint=_CAPABILITY_HINT,
            )
    target = capability_target_prefix(subject)
    if target is not None and not PREFIX_RE.fullmatch(target):
        raise InvalidCapabilityError(
            f"capability {subject!r}: names an invalid extension prefix", hint=_CAPABILITY_HINT
        )
    has_wildcard = any(t in ("*", ">") for t in tokens)
    if has_wildcard and target != own_prefix:
        raise CapabilityForbiddenError(
            f"capability {subject!r}: wildcards are only allowed inside the extension's own prefix "
            f"(extensions.{own_prefix}.…)",
            hint="to call another extension, declare its full subject, e.g. extensions.other.process",
        )


def validate_resource_uri(prefix: str, uri: str) -> None:
    """`ui://<prefix>/<name>` with a non-empty name without whitespace."""
    head = f"ui://{prefix}/"
    ok = isinstance(uri, str) and uri.startswith(head)
    name = uri[len(head) :] if ok else ""
    if not name or any(c in WHITE_SPACE for c in name):
        raise InvalidManifestError(f"resource uri {uri!r} must be ui://{prefix}/<name>")


def validate_mime_type(uri: str, mime_type: str) -> None:
    if mime_type not in MIME_TYPES:
        raise InvalidManifestError(
            f"resource {uri!r} has unsupported mime type {mime_type!r} (supported: {', '.join(MIME_TYPES)})"
        )


def _not_json(constant: str) -> None:
    """`json.loads` accepts `NaN` and `Infinity`; JSON (and the server) does not."""
    raise ValueError(f"{constant} is not JSON")


def validate_htmx_config(uri: str, content: str) -> None:
    """An htmx resource's content is the JSON config `{"entry": "<page>"}`."""
    try:
        config = json.loads(content, parse_constant=_not_json)
        # A lone surrogate escape (`"\ud800"`) is no character: the server refuses it, and encoding fails here.
        json.dumps(config, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):
        config = None
    if not isinstance(config, dict) or not isinstance(config.get("entry"), str):
        raise InvalidManifestError(
            f'htmx resource {uri!r} needs the JSON config {{"entry": "…"}}; use add_htmx_resource()'
        )


def validate_resource(prefix: str, uri: str, mime_type: str, content: str) -> None:
    """One resource: its URI, its MIME type, string content and, for htmx, its JSON config."""
    validate_resource_uri(prefix, uri)
    validate_mime_type(uri, mime_type)
    if not isinstance(content, str):
        raise InvalidManifestError(f"resource {uri!r}: content must be a string")
    if mime_type == HTMX_MIME:
        validate_htmx_config(uri, content)


def validate_menu(group: str, label: str, route: str) -> None:
    """A menu entry: group and label not blank, a valid route path."""
    if not str(group).strip(WHITE_SPACE) or not str(label).strip(WHITE_SPACE):
        raise InvalidManifestError("menu group and label must not be empty")
    validate_route_path(route)


def validate_route_path(path: str) -> None:
    """Starts with `/`, no whitespace."""
    if not isinstance(path, str) or not path.startswith("/") or any(c in WHITE_SPACE for c in path):
        raise InvalidManifestError(f"route path {path!r} must start with / and contain no whitespace")


def validate_service_name(name: str) -> None:
    """A micro service name: `[A-Za-z0-9_-]+`."""
    if not isinstance(name, str) or not SERVICE_NAME_RE.fullmatch(name):
        raise InvalidManifestError(f"service name {name!r} may only use A-Z, a-z, 0-9, _ and -")


def validate_handler_name(what: str, name: str) -> None:
    """The name of an instance handler or a command (`what`): 1-64 of `[A-Za-z0-9_-]`, one subject token
    (docs/protocol.md §12.2). Raises `InvalidEndpointError`."""
    if not isinstance(name, str) or not HANDLER_NAME_RE.fullmatch(name):
        shown = name[:40] if isinstance(name, str) else name
        raise InvalidEndpointError(f"{what} name {shown!r} must be 1-{MAX_HANDLER_NAME_LEN} of A-Z, a-z, 0-9, _ and -")


def normalize_service_version(version: str) -> str:
    """A service version as semver: `1` and `1.0` (the seed's `add_endpoints("myext", "1.0")`) become `1.0.0`; a
    pre-release or build suffix is kept. The numeric core must be one to three dot-separated numbers."""
    if not isinstance(version, str):
        raise InvalidManifestError(f"service version {version!r} is not semver (e.g. 1.0.0)")
    cut = min((i for i in (version.find("-"), version.find("+")) if i >= 0), default=len(version))
    core, suffix = version[:cut], version[cut:]
    parts = core.split(".")
    if len(parts) > 3 or not all(p.isascii() and p.isdigit() for p in parts):
        raise InvalidManifestError(f"service version {version!r} is not semver (e.g. 1.0.0)")
    return ".".join(parts + ["0"] * (3 - len(parts))) + suffix


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether NATS subject `pattern` (with `*` and `>`) covers the literal `subject`."""
    pattern_tokens = pattern.split(".")
    subject_tokens = subject.split(".")
    for i, token in enumerate(pattern_tokens):
        if token == ">":
            return len(subject_tokens) > i
        if i >= len(subject_tokens) or (token != "*" and token != subject_tokens[i]):
            return False
    return len(pattern_tokens) == len(subject_tokens)


def validate_health(state: str, message: str | None) -> tuple[str, str | None]:
    """An instance's health (§5.3): `state` is `"ok"`, `"warning"` or `"error"` exactly; `message` a string or
    `None`. Returns what the status carries: the message only with warning/error, and never a blank one."""
    if not isinstance(state, str) or state not in HEALTH_STATES:
        raise InvalidHealthError(
            f"invalid health state {state!r}: an instance reports ok, warning or error "
            "(the SDK itself publishes disconnected on shutdown)",
            state=state,
        )
    if message is not None and not isinstance(message, str):
        raise InvalidHealthError(f"the health message must be a string or None, not {type(message).__name__}")
    if state == "ok" or message is None or not message.strip():
        return state, None
    return state, message
