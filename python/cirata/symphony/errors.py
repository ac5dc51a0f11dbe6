"""The SDK's exceptions: one hierarchy, each error carrying a stable `code` (docs/protocol.md §2).

```
SymphonyError
├── ValidationError (ValueError)      bad input, raised at the call that received it
│   ├── InvalidPrefixError            invalid_prefix
│   ├── InvalidCapabilityError        invalid_capability
│   ├── CapabilityForbiddenError      capability_forbidden
│   ├── InvalidBucketError            invalid_bucket
│   ├── InvalidManifestError          invalid_manifest
│   ├── InvalidAddressError           invalid_address   (SYMPHONY_ADDRESS, token origin)
│   ├── InvalidTokenError             invalid_token     (a malformed token)
│   ├── InvalidHealthError            invalid_health    (`set_health` with a state other than ok/warning/error)
│   └── InvalidEndpointError          invalid_endpoint  (an instance handler or command name)
└── SymphonyRuntimeError (RuntimeError)   starting or running failed
    ├── ConfigurationError            the environment is unusable (bad SYMPHONY_ADDRESS, malformed token)
    ├── UnreachableError              unreachable: Symphony's HTTP API or NATS did not answer
    ├── TokenRejectedError            the API-key exchange refused the token (HTTP status + code)
    ├── ProvisionError                Symphony refused to provision a permanent key
    ├── RegistrationError             Symphony refused the manifest
    ├── NotConnectedError             not_connected: a connected-only call outside `async with ext:`
    ├── PartitioningError             work partitioning is not enabled, or enabled too late
    ├── NotMyWorkError                not_my_work: `fence(key)` of a key this instance does not own now
    └── FencedOutError                fenced_out: `fenced_put` refused (a later owner wrote the entry)
```

Every runtime failure is a `RuntimeError`, so `except RuntimeError` around `async with ext:` catches them all.
"""

from __future__ import annotations

from typing import Any


class SymphonyError(Exception):
    """Base of every SDK error: `code` (stable, snake_case), `message`, optional `hint`."""

    default_code = "internal"

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        self.code = code or self.default_code
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    @classmethod
    def from_body(cls, body: Any, fallback: str) -> SymphonyError:
        """Builds the error from a JSON error body `{"code","message","hint"}`; `fallback` if malformed."""
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            message = body.get("message")
            hint = body.get("hint")
            return cls(
                message if isinstance(message, str) else fallback,
                code=body["code"],
                hint=hint if isinstance(hint, str) else None,
            )
        return cls(fallback)


class ValidationError(SymphonyError, ValueError):
    """A value the SDK refuses before anything is sent."""

    default_code = "invalid_request"


class InvalidPrefixError(ValidationError):
    default_code = "invalid_prefix"


class InvalidCapabilityError(ValidationError):
    default_code = "invalid_capability"


class CapabilityForbiddenError(ValidationError):
    default_code = "capability_forbidden"


class InvalidBucketError(ValidationError):
    default_code = "invalid_bucket"


class InvalidManifestError(ValidationError):
    default_code = "invalid_manifest"


class InvalidAddressError(ValidationError):
    default_code = "invalid_address"


class InvalidTokenError(ValidationError):
    default_code = "invalid_token"


class InvalidHealthError(ValidationError):
    """`Extension.set_health()` got a state other than `"ok"`, `"warning"` or `"error"`, or a message that is
    not a string. `state` is the value refused."""

    default_code = "invalid_health"

    def __init__(self, message: str, *, state: object = None, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, code=code, hint=hint)
        self.state = state


class InvalidEndpointError(ValidationError):
    """The name of an instance handler or a command is not 1-64 of `[A-Za-z0-9_-]` (docs/protocol.md §12.2)."""

    default_code = "invalid_endpoint"


class SymphonyRuntimeError(SymphonyError, RuntimeError):
    """Starting or running the extension failed."""


class ConfigurationError(SymphonyRuntimeError):
    """The environment cannot work: a malformed token or `SYMPHONY_ADDRESS`, found while connecting."""


class UnreachableError(SymphonyRuntimeError):
    default_code = "unreachable"


class TokenRejectedError(SymphonyRuntimeError):
    """`GET /api/v1/apikey` refused the token. `status` is the HTTP status (401 for a bad token)."""

    default_code = "invalid_token"

    def __init__(self, message: str, *, status: int, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, code=code, hint=hint)
        self.status = status


class ProvisionError(SymphonyRuntimeError):
    """`cirata.services.registry.provision.<K>` answered with an error."""


class RegistrationError(SymphonyRuntimeError):
    """`cirata.services.registry.register.<K>.<I>` answered with an error."""


class NotConnectedError(SymphonyRuntimeError):
    default_code = "not_connected"


class PartitioningError(SymphonyRuntimeError):
    """`ext.work_partitioner` without `enable_work_partitioning()`, or enabling it once connected (§12.4)."""

    default_code = "invalid_request"


class NotMyWorkError(SymphonyRuntimeError):
    """`fence(key)` for a key this instance does not own now (docs/protocol.md §12.4)."""

    default_code = "not_my_work"


class FencedOutError(SymphonyRuntimeError):
    """`fenced_put` was refused: the entry carries a greater fencing token than this instance's, so a later owner
    wrote it (docs/protocol.md §12.4)."""

    default_code = "fenced_out"
