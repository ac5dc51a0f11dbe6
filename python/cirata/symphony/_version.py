"""The SDK's version: the wheel's version and the `sdk.version` it reports to Symphony."""

__version__ = "0.1.0"
