"""The built wheel and sdist carry every file the runtime needs.

`python -m build` makes the sdist and then the wheel from that sdist, so a file missing from
either fails here. `.ci/run` sets CERTEMBED_DIST to the folder it built, installs that wheel
(not editable) into a clean venv and runs the README's quick start from it; without
CERTEMBED_DIST this test builds its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env

ROOT = Path(__file__).resolve().parents[1]
# What setuptools must ship besides the modules (pyproject's package-data).
DATA_SUFFIXES = (".j2", ".json", ".dat", ".md", ".bzl", ".typed", ".py")


def _needed() -> dict[str, Path]:
    """Wheel path -> source file: every module and data file of the package, the PyOxidizer
    rule template and recipe (certembed._starlark), hooks, runtime hooks and tests included."""
    needed = {}
    for base, prefix in ((ROOT / "src" / "certembed", "certembed"), (ROOT / "starlark", None)):
        for path in base.rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if not path.name.endswith(DATA_SUFFIXES):
                continue
            rel = path.relative_to(base).as_posix()
            needed[f"{prefix}/{rel}" if prefix else f"certembed/_starlark/{rel}"] = path
    return needed


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    given = os.environ.get("CERTEMBED_DIST")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_wheel_carries_every_runtime_file(dist):
    (wheel,) = dist.glob("certembed-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        needed = _needed()
        missing = sorted(set(needed) - names)
        assert not missing, f"{wheel.name} lacks {missing}"
        for name, source in needed.items():  # the shipped bytes are the tree's
            assert archive.read(name) == source.read_bytes(), name
        info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(info).decode()
    # the kinds of file the brief of each role names, so a narrowed glob cannot pass unnoticed
    for required in (
        "certembed/bootstrap/templates/baked.py.j2",
        "certembed/integrations/pyinstaller/rthooks.dat",
        "certembed/integrations/pyinstaller/rthooks/pyi_rth_certembed.py",
        "certembed/integrations/pyinstaller/hook-_ssl.py",
        "certembed/integrations/pyinstaller/hook-urllib3.contrib.pyopenssl.py",
        "certembed/_starlark/certembed.bzl.j2",
        "certembed/_starlark/recipe.bzl",
        "certembed/_starlark/sitecustomize.py.j2",
        "certembed/audit/openssl_eol.json",
        "certembed/audit/certifi_history.json",
        "certembed/py.typed",
    ):
        assert required in names, required
    assert "[pyinstaller40]" in entry_points and "get_hook_dirs" in entry_points
    assert "certembed = certembed.cli:main" in entry_points


def test_sdist_carries_the_sources(dist):
    (sdist,) = dist.glob("certembed-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for path in _needed().values():
        assert path.relative_to(ROOT).as_posix() in names, path
    assert {"pyproject.toml", "README.md"} <= names
