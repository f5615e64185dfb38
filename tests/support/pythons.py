"""CPython interpreters that pyenv provides on this machine, and modules this one lacks."""

from __future__ import annotations

import importlib.util
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


def require_module(module: str, install: str) -> None:
    """Skip, naming ``install`` (what provides ``module``), when this Python cannot import
    ``module`` — but fail under CI=true, where the [test] extra provides it."""
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed here ({install})"
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but " + message)
        pytest.skip(message)


# What a minimal copy of a CPython prefix leaves out: tests, IDLE, Tk, the static library and
# the machine's own site-packages (only its README stays).
_SKIP = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "__pycache__")


def copy_prefix(minor: int, dest: Path) -> Path:
    """A working copy of pyenv's CPython 3.``minor`` prefix at ``dest``, without the parts no
    start-up needs (about 50 MB for 3.12): ``bin/python3.N``, ``bin/python3``, the shared
    libpython and the standard library with ``lib-dynload``. CPython finds its prefix from the
    executable's place, so the copy runs on its own. Skips (fails under CI) without pyenv's."""
    exe = Path(require_python(minor)).resolve()
    source = exe.parent.parent
    stem = f"python3.{minor}"
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(source / "bin" / stem, dest / "bin" / stem)
    (dest / "bin" / "python3").symlink_to(stem)
    (dest / "lib").mkdir()
    for lib in sorted((source / "lib").glob("libpython3*.so*")):
        shutil.copy2(lib, dest / "lib" / lib.name, follow_symlinks=False)
    stdlib = source / "lib" / stem

    def ignore(folder: str, names: list[str]) -> list[str]:
        skipped = [n for n in names if n in _SKIP or n.startswith("config-")]
        if Path(folder) == stdlib / "site-packages":
            skipped += [n for n in names if n != "README.txt"]
        return skipped

    shutil.copytree(stdlib, dest / "lib" / stem, symlinks=True, ignore=ignore)
    return dest
