"""Which kind of Python installation (or frozen app) a folder is, from the names in it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

Layout = Literal[
    "python-windows",  # python.exe next to DLLs/ (python.org's installer, nuget)
    "python-windows-embeddable",  # python.exe next to python3XY._pth (python.org's embeddable zip)
    "python-unix",  # bin/ and lib/python3.X/lib-dynload (a prefix: /usr, /opt/python3.12...)
    "pyinstaller-onedir",  # _internal/ (PyInstaller 6) or base_library.zip (5) beside the exe
    "directory",  # anything else: a folder of binaries
]

_STDLIB = re.compile(r"^python(\d+)\.(\d+)$")
_DLL = re.compile(r"^python(\d)(\d+)\.dll$", re.IGNORECASE)
_PTH = re.compile(r"^python(\d)(\d+)\._pth$", re.IGNORECASE)


def classify(root: Path) -> Layout:
    names = {p.name.lower() for p in root.iterdir()}
    if "python.exe" in names and (root / "DLLs").is_dir():
        return "python-windows"
    if "python.exe" in names and any(_PTH.match(n) for n in names):
        return "python-windows-embeddable"
    if (root / "bin").is_dir() and any((root / "lib").glob("python3*/lib-dynload")):
        return "python-unix"
    if (root / "_internal").is_dir() or (root / "base_library.zip").is_file():
        return "pyinstaller-onedir"
    return "directory"


def stdlib_versions(lib: Path) -> list[tuple[int, int]]:
    """The ``(major, minor)`` of every ``lib/pythonX.Y`` folder, sorted."""
    out = []
    if lib.is_dir():
        for child in sorted(lib.iterdir()):
            match = _STDLIB.match(child.name)
            if match and child.is_dir():
                out.append((int(match.group(1)), int(match.group(2))))
    return sorted(out)


def windows_version(root: Path) -> tuple[int, int] | None:
    """A Windows installation's Python version, from its ``python3XY.dll`` or
    ``python3XY._pth``."""
    for child in sorted(root.iterdir()):
        match = _DLL.match(child.name) or _PTH.match(child.name)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None
