"""configure_logging: JSON lines on stdout with the documented fields, configured once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging
from cirata.symphony.logging import configure_logging
configure_logging("myext")
configure_logging("myext")  # idempotent: still one handler
logger = logging.getLogger("myext")
logger.info("Processing batch", extra={"items": 42})
logger.debug("not shown at the default level")
try:
    1 / 0
except ZeroDivisionError:
    logger.error("Query failed", exc_info=True)
"""


def test_configure_logging_emits_one_json_line_per_record() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2, result.stdout
    info, error = lines
    for field in ("timestamp", "level", "extension", "message", "trace_id", "span_id"):
        assert field in info
    assert info["level"] == "INFO"
    assert info["extension"] == "myext"
    assert info["message"] == "Processing batch"
    assert info["items"] == 42
    assert info["trace_id"] is None and info["span_id"] is None
    assert info["timestamp"].endswith("Z")
    assert error["level"] == "ERROR"
    assert "ZeroDivisionError" in error["exception"]
    assert result.stderr == ""
