"""CPython interpreters that pyenv provides on this machine."""

from __future__ import annotations

import os
from pathlib import Path


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
