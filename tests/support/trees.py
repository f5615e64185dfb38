"""Full snapshots of a directory tree: every entry's type, mode, size, mtime and SHA-256."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

Entry = tuple[str, int, int, int, str]


def snapshot(root: Path, dir_times: bool = True) -> dict[str, Entry]:
    """rel path -> (kind, mode, size, mtime_ns, sha256). ``dir_times=False`` leaves out the
    directories' mtimes (they change whenever an entry is added and removed again)."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            info = path.lstat()
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                out[rel] = ("link", info.st_mode, 0, info.st_mtime_ns, os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                out[rel] = ("dir", info.st_mode, 0, info.st_mtime_ns if dir_times else 0, "")
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[rel] = ("file", info.st_mode, info.st_size, info.st_mtime_ns, digest)
    top = root.lstat()
    out["."] = ("dir", top.st_mode, 0, top.st_mtime_ns if dir_times else 0, "")
    return out


def diff(before: dict[str, Entry], after: dict[str, Entry]) -> list[str]:
    """Human-readable differences (empty when identical)."""
    lines = [f"removed {k}" for k in sorted(set(before) - set(after))]
    lines += [f"added {k}" for k in sorted(set(after) - set(before))]
    lines += [
        f"changed {k}: {before[k]} -> {after[k]}"
        for k in sorted(set(before) & set(after))
        if before[k] != after[k]
    ]
    return lines


def fresh_copy(source: Path, into: Path) -> Path:
    """A writable copy of the tree ``source`` as ``into / source.name`` (links kept as links),
    so each test changes its own copy of an installation made once per module."""
    dest = into / source.name
    shutil.copytree(source, dest, symlinks=True)
    return dest
