"""A PyInstaller onefile executable: its archive read with PyInstaller's own reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def onefile_reader(path: Path) -> Any | None:
    """PyInstaller's ``CArchiveReader`` on ``path``, or None when ``path`` is not a onefile
    executable or PyInstaller is not installed (then no onefile can be told apart)."""
    try:
        from PyInstaller.archive.readers import CArchiveReader
    except ImportError:
        return None
    try:
        return CArchiveReader(str(path))
    except Exception:
        return None


def is_onefile(path: Path) -> bool:
    return onefile_reader(path) is not None
