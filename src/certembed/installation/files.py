"""Files of an installation: which executable format a file is, the interpreter's names, a
sorted walk, and the folders certembed makes inside a tree."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

BinaryFormat = Literal["pe", "elf", "macho"]

# python, python3, python3.11, pythonw.exe, python.exe (not python3-config, not python.o)
_INTERPRETER = re.compile(r"^pythonw?(\d+(\.\d+)?)?(\.exe)?$", re.IGNORECASE)

# Every folder certembed makes inside a tree starts with WORK_PREFIX (``certembed openssl``'s
# backup and trash); none of them is part of what the app loads.
WORK_PREFIX = ".certembed-openssl-"


def kind_of(head: bytes) -> BinaryFormat | None:
    """The executable format whose magic ``head`` (a file's first 8 bytes) starts with."""
    if head[:2] == b"MZ":
        return "pe"
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:4] in (
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
    ):
        return "macho"
    if head[:4] == b"\xca\xfe\xba\xbe" and len(head) >= 8 and int.from_bytes(head[4:8], "big") < 32:
        return "macho"  # fat binary (a Java class file has a large version number here)
    return None


def read_head(path: Path) -> bytes:
    """The first 8 bytes of ``path`` (``OSError`` when it cannot be read: each command words
    that failure its own way)."""
    with path.open("rb") as handle:
        return handle.read(8)


def is_interpreter_name(name: str) -> bool:
    """``name`` is what a Python interpreter executable is called."""
    return _INTERPRETER.match(name) is not None


def is_work_path(parts: tuple[str, ...]) -> bool:
    """``parts`` (of a path relative to a tree's root) lie in a folder certembed made there."""
    return any(part.startswith(WORK_PREFIX) for part in parts)


def walk(root: Path) -> list[Path]:
    """Every file under ``root``, in a stable (sorted) order."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            out.append(Path(dirpath) / name)
    return out
