"""The NATS subjects the SDK builds (docs/protocol.md §4, §5), in one place, as `crates/protocol/src/subjects.rs`."""

from __future__ import annotations

STATUS_BUCKET = "symphony_status"
REGISTRY_PROVISION_PREFIX = "cirata.services.registry.provision"
REGISTRY_REGISTER_PREFIX = "cirata.services.registry.register"


def provision(key_id: str) -> str:
    """Where a registration key asks for its permanent key."""
    return f"{REGISTRY_PROVISION_PREFIX}.{key_id}"


def register(key_id: str) -> str:
    """Where an api key registers its manifest."""
    return f"{REGISTRY_REGISTER_PREFIX}.{key_id}"


def status_subject(prefix: str, key_id: str) -> str:
    """The JetStream subject an instance publishes its status to: `$KV.symphony_status.<prefix>.<key id>`."""
    return f"$KV.{STATUS_BUCKET}.{prefix}.{key_id}"
