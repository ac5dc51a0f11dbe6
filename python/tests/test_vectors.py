"""The cross-language test vectors (`crates/protocol/vectors/*.json`) against the Python SDK.

`crates/protocol/tests/vectors.rs` runs the same files against the Rust `symphony-protocol` crate, so a rule that
changes on one side only fails one of the two. Each case is `{"kind", "input", "ok" | "error", "note"?}`: `ok` is
the normalised value (`true` when the check returns nothing), `error` the `code` of the SDK error raised. A kind
this runner does not know fails its test; nothing is skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cirata import symphony
from cirata.symphony import caller, lifecycle, partition, subjects, tokens, validation
from cirata.symphony.address import resolve_address
from cirata.symphony.errors import SymphonyError

VECTORS = Path(__file__).resolve().parents[2] / "crates" / "protocol" / "vectors"
CASE_KEYS = {"kind", "input", "ok", "error", "note"}


@dataclass(frozen=True)
class Case:
    origin: str
    kind: str
    input: Any
    expected: tuple[str, Any]
    """`("ok", value)` or `("error", code)`."""


def parse_file(name: str, text: str) -> list[Case]:
    """One vector file's cases; a case of the wrong shape is an error (never skipped)."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise ValueError(f'{name}: no "cases" array')
    cases = []
    for i, raw in enumerate(data["cases"]):
        origin = f"{name}#{i}"
        if not isinstance(raw, dict):
            raise ValueError(f"{origin}: not an object")
        if unknown := set(raw) - CASE_KEYS:
            raise ValueError(f"{origin}: unknown keys {sorted(unknown)}")
        if not isinstance(raw.get("kind"), str) or "input" not in raw:
            raise ValueError(f'{origin}: needs "kind" and "input"')
        if ("ok" in raw) == ("error" in raw) or ("error" in raw and not isinstance(raw["error"], str)):
            raise ValueError(f'{origin}: needs exactly one of "ok" or an "error" code')
        expected = ("ok", raw["ok"]) if "ok" in raw else ("error", raw["error"])
        cases.append(Case(origin, raw["kind"], raw["input"], expected))
    return cases


def load_all() -> list[Case]:
    files = sorted(VECTORS.glob("*.json"))
    assert files, f"no vector files in {VECTORS}"
    return [case for path in files for case in parse_file(path.name, path.read_text(encoding="utf-8"))]


CONSTANTS: dict[str, Any] = {
    "protocol_version": lifecycle.PROTOCOL_VERSION,
    "max_prefix_len": validation.MAX_PREFIX_LEN,
    "max_bucket_len": validation.MAX_BUCKET_LEN,
    "reserved_bucket_prefix": validation.RESERVED_BUCKET_PREFIX,
    "max_history_per_key": validation.MAX_HISTORY,
    "max_name_len": validation.MAX_NAME_LEN,
    "key_id_len": tokens.KEY_ID_LEN,
    "secret_len": tokens.SECRET_LEN,
    "status_bucket": subjects.STATUS_BUCKET,
    "mime_types": list(validation.MIME_TYPES),
    "htmx_mime": validation.HTMX_MIME,
}


class UnknownKind(Exception):
    """The runner does not know a case's kind (or the constant or subject it names)."""


def _constant(name: str) -> Any:
    if name not in CONSTANTS:
        raise UnknownKind(f"constant {name!r}")
    return CONSTANTS[name]


def _subject(i: Mapping[str, str]) -> str:
    builders: dict[str, Callable[[], str]] = {
        "provision": lambda: subjects.provision(i["key_id"]),
        "register": lambda: subjects.register(i["key_id"], i["instance_id"]),
        "status": lambda: subjects.status_subject(i["prefix"], i["instance_id"]),
        "instance_handler": lambda: subjects.instance_handler_subject(i["prefix"], i["instance_id"], i["handler"]),
        "command": lambda: subjects.command_subject(i["prefix"], i["command"]),
    }
    if i["name"] not in builders:
        raise UnknownKind(f"subject {i['name']!r}")
    return builders[i["name"]]()


def _token(text: str) -> dict[str, str]:
    t = tokens.parse_token(text)
    return {"origin": t.origin, "key_id": t.key_id, "secret_sha256": hashlib.sha256(t.secret).hexdigest()}


def _address(i: Mapping[str, Any]) -> dict[str, Any]:
    a = resolve_address(i["origin"], i["override"])
    return {"http_base": a.http_base, "nats_host": a.nats_host, "plaintext": a.is_plaintext}


def _route_tree(routes: list[dict[str, Any]]) -> dict[str, Any]:
    """Manifest routes (`[{"path","uri","routes"}]`) as the builder's nested mapping."""
    return {r["path"]: {"uri": r["uri"], "routes": _route_tree(r.get("routes", []))} for r in routes}


def _manifest(m: Mapping[str, Any]) -> dict[str, Any]:
    """Declares the manifest through the public builder, as an extension would, and returns what it would send."""
    ext = symphony.Extension(m["name"], m["prefix"], token="unused", description=m.get("description"))
    for c in m.get("capabilities", []):
        ext.add_capability(c["kind"], c["subject"], c.get("description", ""))
    for r in m.get("resources", []):
        ext.add_resource(r["uri"], r["mime_type"], r["content"])
    for r in m.get("routes", []):
        ext.add_route(r["path"], r["uri"], _route_tree(r.get("routes", [])))
    for menu in m.get("menus", []):
        ext.add_menu(menu["group"], menu["label"], menu["route"], menu["icon"])
    for w in m.get("widgets", []):
        ext.add_widget(w["uri"], w["title"], w.get("description", ""))
    for b in m.get("buckets", []):
        ext.add_bucket(
            b["name"],
            b.get("description", ""),
            b.get("ttl", 0),
            b.get("max_history_per_key", 0),
            b.get("max_bucket_size", 0),
        )
    # The case's sdk is what the manifest declares; this SDK writes its own.
    return {**ext.manifest(), "sdk": m.get("sdk", {"name": "", "version": ""})}


RUNNERS: dict[str, Callable[[Any], Any]] = {
    "constant": _constant,
    "prefix": validation.validate_prefix,
    "bucket": lambda i: validation.validate_bucket_name(i["bucket"]),
    "bucket_spec": lambda i: (
        validation.validate_bucket_name(i["name"]),
        validation.validate_bucket_limits(i["name"], i["ttl"], i["max_history_per_key"], i["max_bucket_size"]),
    ),
    "capability": lambda i: validation.validate_capability(i["kind"], i["subject"], i["own_prefix"]),
    "resource": lambda i: validation.validate_resource(i["prefix"], i["uri"], i["mime_type"], i["content"]),
    "route_path": validation.validate_route_path,
    "extension_name": validation.validate_name,
    "menu": lambda i: validation.validate_menu(i["group"], i["label"], i["route"]),
    "service_name": validation.validate_service_name,
    "handler_name": lambda i: validation.validate_handler_name("handler", i),
    "service_version": validation.normalize_service_version,
    "manifest": _manifest,
    "subject": _subject,
    "subject_match": lambda i: {"matches": validation.subject_matches(i["pattern"], i["subject"])},
    "token": _token,
    "address": _address,
    "caller_signature": lambda i: caller.verify(
        i["public_key"], i["signature"], i["subject"], i["caller"], i["body"].encode(), i["now"]
    ),
    "nats_url": lambda i: resolve_address(i["origin"], i["override"]).nats_url(i["from_key"]),
    "partition_score": lambda i: f"{partition.score(i['member'], i['key']):016x}",
    "partition_owner": lambda i: partition.owner(i["members"], i["key"]),
}
"""Kinds whose function returns a value give it as `ok`; the checks that return nothing give `true`."""
VALUE_KINDS = {
    "service_version",
    "constant",
    "manifest",
    "subject",
    "subject_match",
    "token",
    "address",
    "nats_url",
    "partition_score",
    "partition_owner",
}


def run(kind: str, value: Any) -> tuple[str, Any]:
    """Runs one case against the SDK: `("ok", value)` or `("error", code)`."""
    if kind not in RUNNERS:
        raise UnknownKind(f"kind {kind!r}")
    try:
        result = RUNNERS[kind](value)
    except SymphonyError as e:
        return ("error", e.code)
    return ("ok", result if kind in VALUE_KINDS else True)


CASES = load_all()


@pytest.mark.parametrize("case", CASES, ids=[c.origin for c in CASES])
def test_vector(case: Case) -> None:
    assert run(case.kind, case.input) == case.expected, f"{case.kind} {case.input!r}"


def test_an_unknown_kind_or_shape_is_refused_not_skipped() -> None:
    (unknown,) = parse_file("t.json", '{"cases":[{"kind":"frobnicate","input":"x","ok":true}]}')
    with pytest.raises(UnknownKind):
        run(unknown.kind, unknown.input)
    with pytest.raises(UnknownKind):
        run("constant", "no_such_constant")
    for bad in [
        '{"cases":[{"kind":"prefix","input":"a"}]}',
        '{"cases":[{"kind":"prefix","input":"a","ok":true,"error":"invalid_prefix"}]}',
        '{"cases":[{"kind":"prefix","input":"a","eror":"invalid_prefix"}]}',
        '{"cases":[{"input":"a","ok":true}]}',
        '{"vectors":[]}',
    ]:
        with pytest.raises(ValueError, match=r"t\.json"):
            parse_file("t.json", bad)


def test_every_kind_has_vectors() -> None:
    """A runner kind without cases would check nothing; the Rust runner knows the same kinds."""
    assert {c.kind for c in CASES} == set(RUNNERS)
