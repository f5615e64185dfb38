"""Helpful words for a path that does not exist: the near names that do."""

from __future__ import annotations

import difflib
from pathlib import Path

_MAX_ENTRIES = 5000  # a huge directory is not searched name by name


def near_names(path: Path, limit: int = 3) -> list[str]:
    """Names next to ``path`` that look like it (typos, other suffix, other case)."""
    parent = path.parent
    try:
        names = []
        for index, entry in enumerate(parent.iterdir()):
            if index >= _MAX_ENTRIES:
                break
            names.append(entry.name)
    except OSError:
        return []
    names.sort()
    wanted = path.name
    close = difflib.get_close_matches(wanted, names, n=limit, cutoff=0.6)
    stem = Path(wanted).stem.lower()
    for name in names:  # same stem, another suffix: corp.pem vs corp.crt
        if len(close) >= limit:
            break
        if name not in close and Path(name).stem.lower() == stem:
            close.append(name)
    return close


def missing_hint(path: Path, shown: str | None = None) -> str:
    """``does not exist`` plus what is near: ``(did you mean 'corp.pem'?)`` or the missing dir."""
    shown = shown or str(path)
    close = near_names(path)
    if close:
        options = " or ".join(repr(str(Path(shown).parent / name)) for name in close)
        options = options.replace("'./", "'")
        return f"{shown} does not exist (did you mean {options}?)"
    missing = None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        missing, parent = parent, parent.parent
    if missing is not None:
        return f"{shown} does not exist (there is no directory {missing})"
    return f"{shown} does not exist"


def not_utf8(data: bytes, exc: UnicodeDecodeError) -> tuple[int, str]:
    """(line, message) for a config file that is not UTF-8, saying what it is instead."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return 1, "is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8"
    line = data.count(b"\n", 0, exc.start) + 1
    return line, (
        f"is not UTF-8: byte 0x{data[exc.start]:02x} on line {line} is not valid UTF-8 "
        "(Latin-1 or another legacy encoding?); save the file as UTF-8"
    )
