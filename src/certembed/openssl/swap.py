"""Install the staged libraries atomically, keep the originals and a manifest, roll back.

Layout inside TARGET: ``.certembed-openssl-backup/manifest.json`` and ``files/<path>`` holding
each original. New files are first written beside the old ones as ``<name>.certembed-new``;
each swap is two renames on one filesystem (original into the backup, new into place). Any
failure undoes the renames done so far, in reverse, and removes what was added.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from certembed import __version__
from certembed.errors import AlreadyUpgraded, OpenSSLError, RollbackRefused
from certembed.openssl.plan import Plan
from certembed.openssl.target import BACKUP_DIR

MANIFEST = "manifest.json"
SCHEMA = "certembed-openssl-upgrade"
STAGED_SUFFIX = ".certembed-new"
Fault = Callable[[str], None]


def _sha_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(root: Path) -> dict[str, Any] | None:
    path = root / BACKUP_DIR / MANIFEST
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OpenSSLError(f"{path}: unreadable upgrade manifest ({exc})") from exc
    if data.get("schema") != SCHEMA:
        raise OpenSSLError(f"{path}: not a certembed upgrade manifest")
    return data


def _write_manifest(backup: Path, data: dict[str, Any]) -> None:
    tmp = backup / (MANIFEST + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(backup / MANIFEST)


def refuse_if_upgraded(root: Path) -> None:
    manifest = read_manifest(root)
    if manifest is not None or (root / BACKUP_DIR).exists():
        state = manifest["state"] if manifest else "unknown"
        what = (
            "an earlier upgrade was interrupted mid-way"
            if state == "swapping"
            else "an earlier upgrade is in place"
        )
        raise AlreadyUpgraded(
            f"{root / BACKUP_DIR} exists (state {state}): {what}. Run "
            f"`certembed openssl rollback {root}` first, then upgrade again"
        )


def apply(plan: Plan, staged: dict[str, bytes], fault: Fault | None = None) -> dict[str, Any]:
    """Swap in ``staged`` (TARGET-relative path -> new bytes). All or nothing."""
    root = Path(plan.target)
    refuse_if_upgraded(root)
    backup = root / BACKUP_DIR
    manifest: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": 1,
        "certembed_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "state": "swapping",
        "source": plan.source,
        "old_version": plan.old_version,
        "new_version": plan.new_version,
        "files": [asdict(rep) for rep in plan.replacements],
    }
    journal: list[tuple[str, str]] = []
    written: list[Path] = []
    try:
        backup.mkdir()
        for rep in plan.replacements:
            rep.old_sha256 = _sha_file(root / rep.path)
        manifest["files"] = [asdict(rep) for rep in plan.replacements]
        _write_manifest(backup, manifest)
        for rep in plan.replacements:
            original = root / rep.path
            new = original.with_name(original.name + STAGED_SUFFIX)
            with new.open("xb") as handle:
                written.append(new)
                handle.write(staged[rep.path])
                handle.flush()
                os.fsync(handle.fileno())
            shutil.copymode(original, new)
        for rep in plan.replacements:
            original = root / rep.path
            keep = backup / "files" / rep.path
            keep.parent.mkdir(parents=True, exist_ok=True)
            original.replace(keep)
            journal.append(("backup", rep.path))
            if fault:
                fault(f"backup {rep.path}")
            original.with_name(original.name + STAGED_SUFFIX).replace(original)
            journal.append(("install", rep.path))
            if fault:
                fault(f"install {rep.path}")
        manifest["state"] = "upgraded"
        _write_manifest(backup, manifest)
    except BaseException:
        _undo(root, journal, written)
        raise
    return manifest


def _undo(root: Path, journal: list[tuple[str, str]], written: list[Path]) -> None:
    backup = root / BACKUP_DIR
    for step, rel in reversed(journal):
        target = root / rel
        if step == "install":
            target.replace(target.with_name(target.name + STAGED_SUFFIX))
        else:
            (backup / "files" / rel).replace(target)
    for path in written:
        path.unlink(missing_ok=True)
    shutil.rmtree(backup, ignore_errors=True)


def state(root: Path) -> dict[str, Any] | None:
    """The manifest plus, per file, whether it is still what the upgrade installed."""
    manifest = read_manifest(root)
    if manifest is None:
        return None
    for entry in manifest["files"]:
        path = root / entry["path"]
        current = _sha_file(path) if path.is_file() else None
        entry["current"] = (
            "as upgraded"
            if current == entry["new_sha256"]
            else "original"
            if current == entry["old_sha256"]
            else "missing"
            if current is None
            else "changed since the upgrade"
        )
        kept = root / BACKUP_DIR / "files" / entry["path"]
        entry["backup"] = (
            "present"
            if kept.is_file() and _sha_file(kept) == entry["old_sha256"]
            else "missing or damaged"
        )
    manifest["backup_dir"] = str(root / BACKUP_DIR)
    return manifest


def rollback(root: Path) -> dict[str, Any]:
    """Restore every original byte and remove the backup. Refuses if anything changed."""
    current = state(root)
    if current is None:
        leftover = root / BACKUP_DIR
        if leftover.exists():
            raise OpenSSLError(f"{leftover}: exists but holds no manifest; inspect it by hand")
        raise OpenSSLError(f"{root}: no certembed OpenSSL upgrade to roll back (no {BACKUP_DIR})")
    interrupted = current["state"] == "swapping"  # the upgrade died between two renames
    problems = []
    for entry in current["files"]:
        if interrupted and entry["current"] == "missing" and entry["backup"] == "present":
            continue
        if entry["current"] not in ("as upgraded", "original"):
            problems.append(
                f"{entry['path']}: {entry['current']} (SHA-256 expected {entry['new_sha256']})"
            )
        if entry["backup"] != "present" and entry["current"] != "original":
            problems.append(f"{BACKUP_DIR}/files/{entry['path']}: {entry['backup']}")
    if problems:
        raise RollbackRefused(
            "refusing to roll back, nothing changed:\n  "
            + "\n  ".join(problems)
            + "\nRestore those files (or remove the backup folder by hand if you meant to keep "
            "them)"
        )
    for entry in current["files"]:
        kept = root / BACKUP_DIR / "files" / entry["path"]
        target = root / entry["path"]
        if entry["current"] in ("as upgraded", "missing"):
            kept.replace(target)
        staged = target.with_name(target.name + STAGED_SUFFIX)
        staged.unlink(missing_ok=True)
    shutil.rmtree(root / BACKUP_DIR)
    return current
