"""Install the staged libraries atomically, keep the originals and a manifest, roll back.

Layout inside TARGET: ``.certembed-openssl-backup/manifest.json`` and ``files/<path>`` holding
each original. The backup folder is filled under a temporary name and renamed into place once
its manifest is written, so it never exists without one. New files are first written beside the
old ones as ``<name>.certembed-new``; each swap is two renames on one filesystem (original into
the backup, new into place). Rollback moves each replaced file aside (Windows lets a loaded DLL
be renamed, never replaced or deleted) before moving its original back, and ends by renaming the
backup folder away. Any failure undoes the renames done so far, in reverse, and leaves the
manifest saying what is in place; a kill leaves a manifest (state ``swapping`` or
``rolling-back``) that ``rollback`` completes. Leftovers that may be deleted at any time (an
unpublished backup folder, a finished one, replaced DLLs still loaded) are named ``WORK_PREFIX*``
and removed by the next upgrade or rollback.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from certembed import __version__
from certembed.errors import AlreadyUpgraded, OpenSSLError, RollbackRefused, TargetBusy
from certembed.installation.files import WORK_PREFIX
from certembed.openssl.plan import Plan
from certembed.openssl.target import BACKUP_DIR, TRASH_DIR

MANIFEST = "manifest.json"
SCHEMA = "certembed-openssl-upgrade"
STAGED_SUFFIX = ".certembed-new"
# Called with the name of each step just done ("backup folder published", "install <path>"...):
# tests stop the process there (an exception, or SIGKILL) to prove every point is recoverable.
Fault = Callable[[str], None]
# The manifest's states: an upgrade under way, done, or a rollback under way.
SWAPPING, UPGRADED, ROLLING_BACK = "swapping", "upgraded", "rolling-back"


def _step(fault: Fault | None, name: str) -> None:
    if fault is not None:
        fault(name)


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
    # "\n" on every OS: the same manifest byte for byte wherever it is (re)written
    with tmp.open("w", encoding="utf-8", newline="\n") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(backup / MANIFEST)


def refuse_if_upgraded(root: Path) -> None:
    manifest = read_manifest(root)
    if manifest is not None or (root / BACKUP_DIR).exists():
        state = manifest["state"] if manifest else "unknown"
        what = {
            SWAPPING: "an earlier upgrade was interrupted mid-way",
            ROLLING_BACK: "an earlier rollback was interrupted mid-way",
        }.get(state, "an earlier upgrade is in place")
        raise AlreadyUpgraded(
            f"{root / BACKUP_DIR} exists (state {state}): {what}. Run "
            f"`certembed openssl rollback {root}` first, then upgrade again"
        )


def clean_leftovers(root: Path) -> list[str]:
    """Delete what earlier runs left that may go at any time (every ``WORK_PREFIX*`` entry but
    the backup itself); return what could not be deleted yet (DLLs still loaded somewhere)."""
    left = []
    for entry in sorted(root.glob(WORK_PREFIX + "*")):
        if entry.name == BACKUP_DIR:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink()
            except OSError:
                pass
        if entry.exists():
            left += [
                p.relative_to(root).as_posix() for p in sorted(entry.rglob("*")) if p.is_file()
            ]
    return left


def holders(path: Path) -> list[str]:
    """Processes that have ``path`` loaded or open, where the OS tells (Linux: /proc)."""
    if not sys.platform.startswith("linux"):
        return []
    real = os.path.realpath(path)
    out = []
    for proc in sorted(Path("/proc").glob("[0-9]*"), key=lambda p: int(p.name)):
        how = []
        try:
            if any(line.endswith(" " + real) for line in (proc / "maps").read_text().splitlines()):
                how.append("has it loaded")
            if any(str(fd.readlink()) == real for fd in (proc / "fd").iterdir()):
                how.append("has it open")
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue
        if how:
            me = ", this process" if int(proc.name) == os.getpid() else ""
            out.append(f"pid {proc.name} ({comm}{me}) {' and '.join(how)}")
    return out


def _busy(root: Path, exc: OSError, doing: str) -> TargetBusy:
    """The error for a rename (or write) in TARGET that the OS refused, once it is undone."""
    names = [n for n in (exc.filename, exc.filename2) if n]
    inside = [Path(n) for n in names if str(n).startswith(str(root))]
    path = inside[0] if inside else Path(names[0]) if names else root
    held = holders(path)
    if sys.platform == "win32":
        why = (
            "a program opened it without delete sharing (an antivirus or backup scanner, an "
            "editor, a program reading it; a loaded DLL alone does not block this), or it is "
            "read-only: close that program and run the command again"
        )
    else:
        why = (
            "the file is immutable (`lsattr`), its folder is not writable by this user, or the "
            "file system is read-only: fix that and run the command again"
        )
    return TargetBusy(
        f"{doing}: cannot move {path} ({exc.strerror or exc}); every rename done was undone. "
        + (f"Held by: {'; '.join(held)}. " if held else "")
        + why
    )


def apply(plan: Plan, staged: dict[str, bytes], fault: Fault | None = None) -> dict[str, Any]:
    """Swap in ``staged`` (TARGET-relative path -> new bytes). All or nothing."""
    root = Path(plan.target)
    refuse_if_upgraded(root)
    clean_leftovers(root)
    backup = root / BACKUP_DIR
    manifest: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": 1,
        "certembed_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "state": SWAPPING,
        "source": plan.source,
        "old_version": plan.old_version,
        "new_version": plan.new_version,
        "files": [asdict(rep) for rep in plan.replacements],
    }
    journal: list[tuple[str, str]] = []
    written: list[Path] = []
    partial: Path | None = None
    try:
        partial = Path(tempfile.mkdtemp(prefix=WORK_PREFIX + "partial-", dir=root))
        _step(fault, "backup folder made")
        for rep in plan.replacements:
            rep.old_sha256 = _sha_file(root / rep.path)
        manifest["files"] = [asdict(rep) for rep in plan.replacements]
        _write_manifest(partial, manifest)
        _step(fault, "manifest written")
        partial.rename(backup)  # from here on, `rollback` can undo whatever follows
        partial = None
        _step(fault, "backup folder published")
        for rep in plan.replacements:
            original = root / rep.path
            new = original.with_name(original.name + STAGED_SUFFIX)
            with new.open("xb") as handle:
                written.append(new)
                handle.write(staged[rep.path])
                handle.flush()
                os.fsync(handle.fileno())
            shutil.copymode(original, new)
            _step(fault, f"staged {rep.path}")
        for rep in plan.replacements:
            original = root / rep.path
            keep = backup / "files" / rep.path
            keep.parent.mkdir(parents=True, exist_ok=True)
            original.replace(keep)
            journal.append(("backup", rep.path))
            _step(fault, f"backup {rep.path}")
            original.with_name(original.name + STAGED_SUFFIX).replace(original)
            journal.append(("install", rep.path))
            _step(fault, f"install {rep.path}")
        manifest["state"] = UPGRADED
        _write_manifest(backup, manifest)
        _step(fault, "upgraded")
    except OSError as exc:
        _undo(root, journal, written, partial)
        raise _busy(root, exc, "upgrade") from exc
    except BaseException:
        _undo(root, journal, written, partial)
        raise
    return manifest


def _undo(
    root: Path, journal: list[tuple[str, str]], written: list[Path], partial: Path | None
) -> None:
    """Reverse ``journal``; if a reverse rename fails too, stop: the manifest (state
    ``swapping``) stays, and ``rollback`` completes the job once the file is free."""
    backup = root / BACKUP_DIR
    try:
        for step, rel in reversed(journal):
            target = root / rel
            if step == "install":
                target.replace(target.with_name(target.name + STAGED_SUFFIX))
            else:
                (backup / "files" / rel).replace(target)
        for path in written:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise OpenSSLError(
            f"the upgrade failed and undoing it failed too ({exc}); {backup} records what is "
            f"where (state {SWAPPING}): run `certembed openssl rollback {root}` once "
            f"{exc.filename} can be moved"
        ) from exc
    shutil.rmtree(partial if partial is not None else backup, ignore_errors=True)


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


def rollback(root: Path, fault: Fault | None = None) -> dict[str, Any]:
    """Restore every original byte and remove the backup. Refuses if anything changed; a
    failure part-way undoes what it did and leaves the manifest as it was."""
    current = state(root)
    if current is None:
        clean_leftovers(root)  # e.g. a backup folder an upgrade killed early never published
        leftover = root / BACKUP_DIR
        if leftover.exists():
            raise OpenSSLError(f"{leftover}: exists but holds no manifest; inspect it by hand")
        raise OpenSSLError(f"{root}: no certembed OpenSSL upgrade to roll back (no {BACKUP_DIR})")
    # The upgrade or an earlier rollback died between two renames: a file may be missing.
    interrupted = current["state"] in (SWAPPING, ROLLING_BACK)
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
    clean_leftovers(root)
    backup = root / BACKUP_DIR
    raw = read_manifest(root)
    assert raw is not None  # state() read it a moment ago
    before = raw["state"]
    token = secrets.token_hex(4)
    done = root / f"{WORK_PREFIX}done-{token}"
    journal: list[tuple[Path, Path]] = []  # (from, to) renames done
    try:
        raw["state"] = ROLLING_BACK
        _write_manifest(backup, raw)
        _step(fault, "rolling back recorded")
        for index, entry in enumerate(current["files"]):
            kept = backup / "files" / entry["path"]
            target = root / entry["path"]
            if entry["current"] == "as upgraded":
                # Renaming works on a loaded DLL where replacing it does not.
                trash = root / TRASH_DIR
                trash.mkdir(exist_ok=True)
                retired = trash / f"{token}-{index}-{target.name}"
                target.replace(retired)
                journal.append((target, retired))
                _step(fault, f"retire {entry['path']}")
            if entry["current"] in ("as upgraded", "missing"):
                kept.replace(target)
                journal.append((kept, target))
                _step(fault, f"restore {entry['path']}")
            target.with_name(target.name + STAGED_SUFFIX).unlink(missing_ok=True)
        backup.rename(done)  # the upgrade is gone in one step
        journal.append((backup, done))
        _step(fault, "backup folder retired")
    except BaseException as exc:
        failure = None
        try:
            for source, moved in reversed(journal):
                moved.replace(source)
            raw["state"] = before
            _write_manifest(backup, raw)
            clean_leftovers(root)
        except OSError as again:
            failure = again
        if failure is not None:
            raise OpenSSLError(
                f"the rollback failed ({exc}) and undoing it failed too ({failure}); "
                f"{backup} records what is where (state {ROLLING_BACK}): run the rollback again "
                f"once {failure.filename} can be moved"
            ) from exc
        if isinstance(exc, OSError):
            raise _busy(root, exc, "rollback") from exc
        raise
    shutil.rmtree(done, ignore_errors=True)
    current["left_in_use"] = clean_leftovers(root)
    return current
