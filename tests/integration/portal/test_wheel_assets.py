"""The portal's files ship inside the wheel (setuptools package-data): an installed gateway serves the
portal with no build step and nothing fetched at run time."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from gateway.portal.assets import STATIC_DIR
from tests.support.paths import PYTHON, REPO

pytestmark = pytest.mark.slow


def test_the_wheel_contains_every_portal_file(tmp_path: Path) -> None:
    # Built from a copy, so the build leaves nothing in the working tree.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("gateway", "toolrouter", "bridge", "infra"):
        shutil.copytree(REPO / package, source / package, ignore=ignore)
    # With build isolation: pyproject.toml asks for setuptools>=77, which a venv's own may predate (pip takes
    # it from the package index, as any install from source does).
    built = subprocess.run([PYTHON, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("mcp_gateway-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"gateway/portal/{p.relative_to(STATIC_DIR.parent).as_posix()}"
                for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert "gateway/portal/static/index.html" in expected
    assert "gateway/portal/static/assets/js/mcp/client.js" in expected
    assert expected <= names, sorted(expected - names)
