"""The Extension builder: the same validation rules as crates/protocol, raised at the call as ValueErrors."""

from __future__ import annotations

import json

import pytest

from cirata import symphony
from cirata.symphony.errors import (
    CapabilityForbiddenError,
    InvalidBucketError,
    InvalidCapabilityError,
    InvalidManifestError,
    InvalidPrefixError,
    NotConnectedError,
    ValidationError,
)
from cirata.symphony.validation import subject_matches


def ext() -> symphony.Extension:
    return symphony.Extension("Catalog", "catalog", token="unused", description="Items")


@pytest.mark.parametrize("bad", ["", "9a", "_a", "My", "a-b", "a.b", "a b", "a" * 33])
def test_invalid_prefixes_are_refused_by_the_constructor(bad: str) -> None:
    with pytest.raises(InvalidPrefixError) as caught:
        symphony.Extension("X", bad, token="unused")
    assert isinstance(caught.value, ValueError)
    assert caught.value.code == "invalid_prefix"


def test_names_must_not_be_blank() -> None:
    with pytest.raises(InvalidManifestError):
        symphony.Extension("  ", "ok", token="unused")


def test_capabilities_follow_the_grammar_and_the_own_prefix_rule() -> None:
    e = ext()
    e.add_capability("sub", "extensions.catalog.>", "all")
    e.add_capability("sub", "extensions.catalog.*.x", "one level")
    e.add_capability("pub", "extensions.intelligence.mcp", "a specific subject of another extension")
    e.add_capability("sub", "extensions.catalog.>", "again: kept once")
    assert [c["subject"] for c in e.manifest()["capabilities"]] == [
        "extensions.catalog.>",
        "extensions.catalog.*.x",
        "extensions.intelligence.mcp",
    ]
    for bad in [
        "cirata.x",
        "extensions",
        "extensions.",
        "extensions.x..y",
        "extensions.catalog.a>",
        "extensions.catalog.>.y",
        "extensions.X",
        "extensions.catalog.a b",
    ]:
        with pytest.raises(InvalidCapabilityError):
            e.add_capability("sub", bad, "")
    for bad in ["extensions.other.>", "extensions.>", "extensions.*.x", "extensions.other.*"]:
        with pytest.raises(CapabilityForbiddenError):
            e.add_capability("sub", bad, "")
    with pytest.raises(InvalidCapabilityError):
        e.add_capability("both", "extensions.catalog", "")


def test_resources_need_a_known_mime_type_and_an_own_uri() -> None:
    e = ext()
    e.add_resource("ui://catalog/home", "text/symphony-jsx", "export default () => null")
    e.add_htmx_resource("ui://catalog/table", "pages/table")
    assert e.manifest()["resources"][1] == {
        "uri": "ui://catalog/table",
        "mime_type": "text/html+htmx",
        "content": json.dumps({"entry": "pages/table"}),
    }
    with pytest.raises(InvalidManifestError, match="mime type"):
        e.add_resource("ui://catalog/x", "text/plain", "")
    with pytest.raises(InvalidManifestError, match=r"ui://catalog/<name>"):
        e.add_resource("ui://other/x", "text/markdown", "")
    with pytest.raises(InvalidManifestError, match=r"ui://catalog/<name>"):
        e.add_resource("ui://catalog/", "text/markdown", "")
    with pytest.raises(InvalidManifestError, match="entry"):
        e.add_resource("ui://catalog/t2", "text/html+htmx", "<p>")
    with pytest.raises(InvalidManifestError, match="twice"):
        e.add_resource("ui://catalog/home", "text/markdown", "")


def test_nested_routes_become_the_manifest_route_tree() -> None:
    e = ext()
    e.add_route(
        "/catalog",
        "ui://catalog/home",
        routes={
            "/settings": {"uri": "ui://catalog/settings", "routes": {"/advanced": {"uri": "ui://catalog/adv"}}},
            "/detail": {"uri": "ui://catalog/detail"},
        },
    )
    assert e.manifest()["routes"] == [
        {
            "path": "/catalog",
            "uri": "ui://catalog/home",
            "routes": [
                {
                    "path": "/settings",
                    "uri": "ui://catalog/settings",
                    "routes": [{"path": "/advanced", "uri": "ui://catalog/adv", "routes": []}],
                },
                {"path": "/detail", "uri": "ui://catalog/detail", "routes": []},
            ],
        }
    ]
    with pytest.raises(InvalidManifestError):
        e.add_route("catalog", "ui://catalog/home")
    with pytest.raises(InvalidManifestError):
        e.add_route("/a b", "ui://catalog/home")
    with pytest.raises(InvalidManifestError):
        e.add_route(
            "/x",
            "ui://catalog/home",
            routes={"/s": {"uri": "ui://catalog/s", "routes": {"bad": {"uri": "ui://catalog/b"}}}},
        )
    with pytest.raises(InvalidManifestError):
        e.add_route("/x", "ui://catalog/home", routes={"/s": {"path": "no uri"}})


def test_menus_and_widgets() -> None:
    e = ext()
    e.add_menu("main", "Catalog", "/catalog", "fa-book")
    e.add_widget("ui://catalog/status", "Status", "Real-time status")
    m = e.manifest()
    assert m["menus"] == [{"group": "main", "label": "Catalog", "route": "/catalog", "icon": "fa-book"}]
    assert m["widgets"] == [{"uri": "ui://catalog/status", "title": "Status", "description": "Real-time status"}]
    with pytest.raises(InvalidManifestError):
        e.add_menu("main", "", "/catalog", "fa-book")
    with pytest.raises(InvalidManifestError):
        e.add_menu("main", "Catalog", "catalog", "fa-book")
    with pytest.raises(InvalidManifestError):
        e.add_widget("ui://nope/w", "W", "")


def test_buckets_are_named_after_the_prefix() -> None:
    e = ext()
    e.add_bucket("catalog_items", "Items")
    e.add_bucket("catalog", "The prefix itself", ttl=300, max_history_per_key=10, max_bucket_size=1 << 30)
    assert e.manifest()["buckets"][1] == {
        "name": "catalog",
        "description": "The prefix itself",
        "ttl": 300,
        "max_history_per_key": 10,
        "max_bucket_size": 1 << 30,
    }
    for bad in ["catalog_a.b", "", "catalog_a b", "symphony_x", "catalog_" + "x" * 60]:
        with pytest.raises(InvalidBucketError):
            e.add_bucket(bad, "")
    with pytest.raises(InvalidBucketError, match="over 64"):
        e.add_bucket("catalog_h", "", max_history_per_key=65)
    with pytest.raises(InvalidBucketError):
        e.add_bucket("catalog_t", "", ttl=-1)
    with pytest.raises(InvalidBucketError, match="twice"):
        e.add_bucket("catalog_items", "")
    with pytest.raises(InvalidBucketError):
        symphony.Extension("Sym", "symphony", token="unused").add_bucket("symphony_keys", "")


def test_manifest_and_provision_request_shapes() -> None:
    e = ext()
    e.add_capability("sub", "extensions.catalog.list", "List items")
    e.add_bucket("catalog_items", "Items")
    m = e.manifest()
    assert m["manifest_version"] == 1
    assert m["sdk"] == {"name": "cirata-symphony-python", "version": symphony.__version__}
    assert (m["name"], m["prefix"], m["description"], m["endpoints"]) == ("Catalog", "catalog", "Items", [])
    assert e.provision_request() == {
        "v": 1,
        "name": "Catalog",
        "prefix": "catalog",
        "capabilities": [{"kind": "sub", "subject": "extensions.catalog.list", "description": "List items"}],
        "buckets": ["catalog_items"],
    }


async def test_connected_only_calls_say_so_before_connecting() -> None:
    e = ext()
    for read in (lambda: e.nc, lambda: e.js, lambda: e.conn):
        with pytest.raises(NotConnectedError):
            read()
    assert e.instance_id is None, "no instance before the first key exchange"
    with pytest.raises(NotConnectedError) as caught:
        await e.add_endpoints(name="catalog", version="1.0.0")
    assert isinstance(caught.value, RuntimeError)
    assert not isinstance(caught.value, ValidationError)


def test_subject_matching() -> None:
    assert subject_matches("cirata.extensions.catalog.>", "cirata.extensions.catalog.list")
    assert subject_matches("cirata.extensions.*.list", "cirata.extensions.catalog.list")
    assert not subject_matches("cirata.extensions.catalog.>", "cirata.extensions.catalog")
    assert not subject_matches("cirata.extensions.catalog", "cirata.extensions.catalog.list")
