"""Cirata Symphony's Python SDK: build extensions on NATS.

```python
from cirata import symphony

ext = symphony.Extension("Hello World", "hello")
async with ext:
    await ext.operate()
```

While `operate()` runs, handlers and tasks report the instance's health with
`await ext.set_health("warning", "disk 91% full")` / `await ext.set_health("ok")` (`"ok"`, `"warning"` or
`"error"`; anything else raises `InvalidHealthError`).

The wire contract is docs/protocol.md of the Symphony repository.
"""

from ._version import __version__
from .address import Address, resolve_address
from .client import Client, Common
from .endpoints import EndpointGroup, EndpointService, Request
from .errors import (
    CapabilityForbiddenError,
    ConfigurationError,
    FencedOutError,
    InvalidAddressError,
    InvalidBucketError,
    InvalidCapabilityError,
    InvalidEndpointError,
    InvalidHealthError,
    InvalidManifestError,
    InvalidPrefixError,
    InvalidTokenError,
    NotConnectedError,
    NotMyWorkError,
    PartitioningError,
    ProvisionError,
    RegistrationError,
    SymphonyError,
    SymphonyRuntimeError,
    TokenRejectedError,
    UnreachableError,
    ValidationError,
)
from .extension import Extension
from .partitioning import WorkPartitioner
from .tokens import Token, parse_token

__all__ = [
    "Address",
    "CapabilityForbiddenError",
    "Client",
    "Common",
    "ConfigurationError",
    "EndpointGroup",
    "EndpointService",
    "Extension",
    "FencedOutError",
    "InvalidAddressError",
    "InvalidBucketError",
    "InvalidCapabilityError",
    "InvalidEndpointError",
    "InvalidHealthError",
    "InvalidManifestError",
    "InvalidPrefixError",
    "InvalidTokenError",
    "NotConnectedError",
    "NotMyWorkError",
    "PartitioningError",
    "ProvisionError",
    "RegistrationError",
    "Request",
    "SymphonyError",
    "SymphonyRuntimeError",
    "Token",
    "TokenRejectedError",
    "UnreachableError",
    "ValidationError",
    "WorkPartitioner",
    "__version__",
    "parse_token",
    "resolve_address",
]
