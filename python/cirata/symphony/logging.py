"""Structured logs: one JSON object per line on stdout, for journald or the container runtime.

```python
from cirata.symphony.logging import configure_logging
configure_logging("catalog")
logging.getLogger("catalog").info("Processing batch", extra={"items": 42})
# {"timestamp": "...Z", "level": "INFO", "extension": "catalog", "logger": "catalog",
#  "message": "Processing batch", "trace_id": null, "span_id": null, "items": 42}
```
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with `timestamp`, `level`, `extension`, `logger`, `message`,
    `trace_id`, `span_id`, the record's `extra` fields, and `exception` when there is one."""

    def __init__(self, extension: str) -> None:
        super().__init__()
        self.extension = extension

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "extension": self.extension,
            "logger": record.name,
            "message": record.getMessage(),
            # Filled in once tracing exists; present now so log consumers can rely on the fields.
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


if TYPE_CHECKING:
    # Generic in typeshed; subscriptable at run time only from Python 3.11.
    _StreamHandler = logging.StreamHandler[TextIO]
else:
    _StreamHandler = logging.StreamHandler


class _SymphonyHandler(_StreamHandler):
    """Marks the handler `configure_logging` installed, so a second call does not add another."""


def configure_logging(name: str, level: int = logging.INFO) -> logging.Handler:
    """Sends the root logger's records to stdout as JSON lines tagged with `extension: name`.

    Call it once, at module level, before other logging. Calling it again only updates the extension name
    and level; it never adds a second handler. Returns the handler.
    """
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, _SymphonyHandler):
            handler.setFormatter(JsonFormatter(name))
            root.setLevel(level)
            return handler
    handler = _SymphonyHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(name))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
