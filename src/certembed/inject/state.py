"""Where an injection lives in its Python, and the journal that lets eject undo it.

In the installation's site directory (``Installation.site_dir``):

- ``_certembed_inject.pth`` — two lines: the current payload folder (a path line: ``site``
  appends it to ``sys.path``) and ``import _certembed_bootstrap``. Written last and removed
  first: it is the switch.
- ``_certembed_inject/`` — the state folder: ``journal.json`` (what was created and changed,
  the original folder times, the injection record), ``backup/`` (an original that inject
  replaced: the embeddable ``python3XY._pth``) and ``payload-<id>/`` (the bootstrap, its data
  and its manifest).

Every write is a temporary name then a rename, so a killed inject or eject leaves either the
old or the new state of each file; eject reads whatever journal it finds and finishes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from certembed.errors import InjectError

PTH_NAME = "_certembed_inject.pth"
STATE_DIR = "_certembed_inject"
JOURNAL = "journal.json"
BACKUP_DIR = "backup"
SCHEMA = "certembed-inject"
SCHEMA_VERSION = 1
TMP_MARK = ".tmp-"  # <name>.tmp-<pid>: a temporary sibling, removed by eject if left behind
NEW_SUFFIX = ".certembed-new"


def write_atomic(path: Path, data: bytes, mode: int = 0o644, like: Path | None = None) -> None:
    """``path`` holds either its old bytes or ``data``, whenever the process dies. ``like``:
    a folder whose owner the file takes (when running as root)."""
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.chmod(mode)
    if like is not None and hasattr(os, "lchown") and os.geteuid() == 0:
        info = like.stat()
        os.lchown(tmp, info.st_uid, info.st_gid)
    tmp.replace(path)


def write_journal(state_dir: Path, journal: dict[str, Any]) -> None:
    text = json.dumps(journal, indent=2, sort_keys=True) + "\n"
    write_atomic(state_dir / JOURNAL, text.encode("utf-8"))


def read_journal(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / JOURNAL
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InjectError(f"{path}: unreadable inject journal ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InjectError(f"{path}: not a certembed inject journal")
    if data.get("schema_version", 0) > SCHEMA_VERSION:
        raise InjectError(
            f"{path}: written by a newer certembed (journal version "
            f"{data.get('schema_version')}); use that version to eject"
        )
    return data


def strays(site_dir: Path, extra_dirs: tuple[Path, ...] = ()) -> list[Path]:
    """Temporary names a killed inject or eject may have left (all certembed-named)."""
    out: list[Path] = []
    for folder in (site_dir, *extra_dirs):
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            name = child.name
            if (name.startswith((STATE_DIR + TMP_MARK, PTH_NAME + TMP_MARK))) or (
                name.endswith(NEW_SUFFIX) or (NEW_SUFFIX + TMP_MARK) in name
            ):
                out.append(child)
    return out


def record_of(site_dir: Path) -> dict[str, Any] | None:
    """What ``inspect``, ``audit`` and ``doctor`` say about an injected site directory: the
    injection record plus where its files are, or None when nothing is injected there."""
    state_dir = site_dir / STATE_DIR
    if not state_dir.is_dir() and not (site_dir / PTH_NAME).exists():
        return None
    journal = read_journal(state_dir) if state_dir.is_dir() else None
    if journal is None:
        return {
            "state": "incomplete (no journal)",
            "pth": str(site_dir / PTH_NAME),
            "fix": f"certembed eject {site_dir}",
        }
    record = dict(journal.get("record") or {})
    payload = journal.get("payload")
    record.update(
        {
            "state": journal.get("phase"),
            "pth": str(site_dir / PTH_NAME),
            "pth_present": (site_dir / PTH_NAME).is_file(),
            "payload": str(state_dir / payload) if payload else None,
            "changed": [m["path"] for m in journal.get("modified", [])],
        }
    )
    return record


def describe(path: Path) -> dict[str, Any] | None:
    """:func:`record_of` for whatever Python ``path`` names, or None (not a Python, or a
    Python without an injection)."""
    from certembed.errors import CertembedError
    from certembed.inject.target import detect

    try:
        installation = detect(path)
        return record_of(installation.site_dir)
    except (CertembedError, OSError):
        return None


def summary_line(record: dict[str, Any]) -> str:
    """One line for text reports."""
    if "config" not in record:
        return f"certembed injection: {record['state']} ({record.get('fix', '')})"
    when = record.get("when") or "time not recorded"
    return (
        f"certembed injection ({record['state']}): config {record['config']}, mode "
        f"{record['mode']}, {record['certificates']} certificates, bundle "
        f"{str(record['bundle_sha256'])[:16]}, certembed {record['certembed']}, {when}; "
        f"switch {record['pth']}"
    )
