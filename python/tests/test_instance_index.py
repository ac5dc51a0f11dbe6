"""The SDKs served by the instance ("Languages and Libraries", docs/protocol.md §8): the libraries list, the
downloads it names, the PEP 503 index, and a real `pip install --index-url <instance>/pypi/simple cirata-symphony`
into a fresh venv (the SDK from the instance, its dependencies through the redirect to PyPI)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from cirata import symphony

from .conftest import Platform, http_request

PIP_DEADLINE_SECS = 600


def libraries(platform: Platform) -> dict[str, dict[str, Any]]:
    reply = http_request("GET", f"{platform.http_url}/api/v1/libraries")
    assert reply.status == 200, str(reply)
    listed = reply.json()
    by_language = {entry["language"]: entry for entry in listed}
    assert len(by_language) == len(listed) == 2, listed
    return by_language


def download(entry: dict[str, Any]) -> bytes:
    reply = http_request("GET", entry["url"])
    assert reply.status == 200, f"{entry['url']}: {reply}"
    return reply.body


def test_libraries_lists_the_wheel_and_the_rust_tarball_with_their_sha256(platform: Platform) -> None:
    listed = libraries(platform)
    version = symphony.__version__

    wheel = listed["python"]
    assert wheel["name"] == "cirata-symphony"
    assert wheel["version"] == version
    assert wheel["file"] == f"cirata_symphony-{version}-py3-none-any.whl"
    assert wheel["url"].endswith(f"/downloads/{wheel['file']}")
    assert f"--index-url {platform.http_url}/pypi/simple cirata-symphony" in wheel["install"], wheel
    data = download(wheel)
    assert hashlib.sha256(data).hexdigest() == wheel["sha256"]
    assert len(data) == wheel["size"]
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert "cirata/symphony/__init__.py" in names
    assert f"cirata_symphony-{version}.dist-info/METADATA" in names

    crate = listed["rust"]
    assert crate["name"] == "cirata-symphony"
    assert crate["version"] == version
    assert crate["file"] == f"cirata-symphony-rust-{version}.tar.gz"
    data = download(crate)
    assert hashlib.sha256(data).hexdigest() == crate["sha256"]
    assert len(data) == crate["size"]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = set(tar.getnames())
    root = f"cirata-symphony-rust-{version}"
    assert {f"{root}/Cargo.toml", f"{root}/crates/sdk/Cargo.toml", f"{root}/crates/protocol/Cargo.toml"} <= members

    # The downloads route serves the same bytes by file name; unknown files are 404.
    same = http_request("GET", f"{platform.http_url}/downloads/{wheel['file']}")
    assert hashlib.sha256(same.body).hexdigest() == wheel["sha256"]
    assert http_request("GET", f"{platform.http_url}/downloads/nothing.whl").status == 404


def test_the_simple_index_links_the_wheel_and_redirects_other_projects(platform: Platform) -> None:
    wheel = libraries(platform)["python"]
    root = http_request("GET", f"{platform.http_url}/pypi/simple/")
    assert root.status == 200, str(root)
    assert 'href="cirata-symphony/"' in root.text()

    page = http_request("GET", f"{platform.http_url}/pypi/simple/cirata-symphony/")
    assert page.status == 200, str(page)
    links = re.findall(r'href="([^"]+)"', page.text())
    assert links == [f"/downloads/{wheel['file']}#sha256={wheel['sha256']}"], page.text()
    assert 'data-requires-python="&gt;=3.10"' in page.text()

    other = http_request("GET", f"{platform.http_url}/pypi/simple/nats-py/", follow_redirects=False)
    assert other.status == 307, str(other)
    assert other.headers["location"] == "https://pypi.org/simple/nats-py/"
    unnormalized = http_request("GET", f"{platform.http_url}/pypi/simple/Cirata_Symphony/", follow_redirects=False)
    assert unnormalized.status in (301, 308), str(unnormalized)
    assert unnormalized.headers["location"] == "/pypi/simple/cirata-symphony/"


def test_pip_installs_the_sdk_from_the_instance_into_a_fresh_venv(platform: Platform, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    # Only the instance's index: no find-links, extra indexes or config files from this machine.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX")
    }
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    result = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--timeout",
            "60",
            "--retries",
            "3",
            "--index-url",
            f"{platform.http_url}/pypi/simple",
            "cirata-symphony",
        ],
        capture_output=True,
        text=True,
        timeout=PIP_DEADLINE_SECS,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    wheel = libraries(platform)["python"]["file"]
    assert wheel in result.stdout, result.stdout  # the SDK came from the instance, not from PyPI

    # The installed SDK, not the repository's (cwd is the temp dir, no PYTHONPATH).
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import cirata.symphony as s; from cirata import symphony; symphony.Extension; "
            "print(s.__version__, s.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    version, location = check.stdout.split()
    assert version == symphony.__version__
    assert Path(location).is_relative_to(venv), location
