"""What every freezer integration needs the same way: the freezer's version, where the
executable lands, and how a path is shown in messages."""

from __future__ import annotations

import sys
from pathlib import Path


def major_minor(text: str) -> tuple[int, ...]:
    """(major, minor) of a version string: the digits of its first two dotted pieces
    (``"6.11.1"`` gives ``(6, 11)``, ``"8.0rc1"`` gives ``(8, 0)``)."""
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def program(folder: Path, name: str) -> Path:
    """The executable ``name`` in ``folder`` (``name.exe`` on Windows)."""
    return folder / (f"{name}.exe" if sys.platform == "win32" else name)


def executable_path(dist: Path, name: str, onefile: bool) -> Path:
    """``dist/<name>/<name>`` (``.exe`` on Windows), or ``dist/<name>`` for a onefile app."""
    return program(dist if onefile else dist / name, name)


def shown(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` (the config's directory) when it is below it."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
