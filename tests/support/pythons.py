"""CPython interpreters that pyenv provides on this machine."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def pyenv_pythons(min_minor: int = 8) -> list[tuple[int, str]]:
    """(minor version, python3 path) of every pyenv CPython 3.N with N >= min_minor, oldest
    first (a numeric sort: 3.8 before 3.10)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = []
    for folder in root.glob("3.*") if root.is_dir() else []:
        exe = folder / "bin" / "python3"
        parts = folder.name.split(".")
        if exe.exists() and len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) >= min_minor:
            found.append((int(parts[1]), str(exe)))
    return sorted(found)


def python_minor(minor: int) -> str | None:
    """A CPython 3.``minor``: pyenv's, else ``python3.<minor>`` on PATH (apt, uv, a CI image)."""
    for found_minor, exe in pyenv_pythons(minor):
        if found_minor == minor:
            return exe
    return shutil.which(f"python3.{minor}")


def require_python(minor: int) -> str:
    """:func:`python_minor` or skip — but fail under CI=true, where .ci/run provides it."""
    exe = python_minor(minor)
    if exe is None:
        message = f"no CPython 3.{minor} here (pyenv or python3.{minor} on PATH)"
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but " + message)
        pytest.skip(message)
    return exe
