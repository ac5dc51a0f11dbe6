"""The NATS subjects the SDK builds (docs/protocol.md §4, §5, §12), in one place, as `crates/protocol/src/subjects.rs`.
"""

from __future__ import annotations

STATUS_BUCKET = "symphony_status"
REGISTRY_PROVISION_PREFIX = "cirata.services.registry.provision"
REGISTRY_REGISTER_PREFIX = "cirata.services.registry.register"
COMMANDS_QUEUE = "commands"
"""Queue group of the commands channel (§12.3): each command reaches one instance."""


def provision(key_id: str) -> str:
    """Where a registration key asks for its permanent key."""
    return f"{REGISTRY_PROVISION_PREFIX}.{key_id}"


def register(key_id: str, instance_id: str) -> str:
    """Where one instance of an api key registers its manifest: `cirata.services.registry.register.<K>.<I>`."""
    return f"{REGISTRY_REGISTER_PREFIX}.{key_id}.{instance_id}"


def status_key(prefix: str, instance_id: str) -> str:
    """The status entry of one instance in `symphony_status`: `<prefix>.<instance id>`."""
    return f"{prefix}.{instance_id}"


def status_subject(prefix: str, instance_id: str) -> str:
    """The JetStream subject an instance publishes its status to: `$KV.symphony_status.<prefix>.<instance id>`."""
    return f"$KV.{STATUS_BUCKET}.{status_key(prefix, instance_id)}"


def instance_prefix(prefix: str, instance_id: str) -> str:
    """Subjects addressed to one instance: `cirata.extensions.<prefix>.instance.<instance id>`."""
    return f"cirata.extensions.{prefix}.instance.{instance_id}"


def instance_handler_subject(prefix: str, instance_id: str, name: str) -> str:
    """The subject of instance handler `name` of one instance (§12.2)."""
    return f"{instance_prefix(prefix, instance_id)}.{name}"


def command_subject(prefix: str, name: str) -> str:
    """The subject of command `name`: `cirata.extensions.<prefix>.commands.<name>` (§12.3)."""
    return f"cirata.extensions.{prefix}.commands.{name}"
