"""The distribution builds as the documented wheel: cirata_symphony-<version>-py3-none-any.whl."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from cirata import symphony

from .conftest import REPO


def test_the_wheel_builds_with_the_documented_name(tmp_path: Path) -> None:
    # --no-build-isolation: hatchling is pinned in scripts/requirements-dev.txt, so no download is needed.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path),
            str(REPO / "python"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheels = [p.name for p in tmp_path.glob("*.whl")]
    assert wheels == [f"cirata_symphony-{symphony.__version__}-py3-none-any.whl"]
    names = set(zipfile.ZipFile(tmp_path / wheels[0]).namelist())
    assert "cirata/symphony/__init__.py" in names
    assert "cirata/symphony/py.typed" in names
    assert "cirata/__init__.py" not in names  # `cirata` stays a namespace package
    assert not any(name.startswith("tests/") for name in names)
