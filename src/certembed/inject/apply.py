"""Inject the policy into a Python installation, and eject it again byte for byte.

Order (each step a rename, so a killed run leaves a Python that starts; see :mod:`.state`):
inject writes the journal (state folder made under a temporary name, then renamed), the
payload, the backup and new ``._pth`` (embeddable only), and last the ``.pth`` switch; eject
removes the switch first, puts the original ``._pth`` back, removes the state folder and
restores the site folder's times. A second inject adds the new payload beside the old one and
rewrites the switch in one rename; the payload before the previous one is removed (a process
started before still reads its previous payload's hashed folder lazily).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from certembed import __version__
from certembed.config.model import Spec
from certembed.errors import EjectRefused, InjectError, ReadOnlyTarget
from certembed.inject.state import (
    BACKUP_DIR,
    NEW_SUFFIX,
    PTH_NAME,
    SCHEMA,
    SCHEMA_VERSION,
    STATE_DIR,
    TMP_MARK,
    read_journal,
    strays,
    write_atomic,
    write_journal,
)
from certembed.inject.target import Installation

Progress = Callable[[str], None]
OUT_OF_REACH = (
    "python -S (no site module) does not read .pth files: such processes run without the "
    "policy (import _certembed_bootstrap yourself there)"
)


def step(name: str) -> None:
    """Called after each step that changed the target (tests replace it to kill the process
    exactly there)."""


def _quiet(_: str) -> None:
    return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rel(inst: Installation, path: Path) -> str:
    return path.relative_to(inst.root).as_posix() or "."


def site_enabled(pth_text: bytes) -> bool:
    """Whether a ``._pth`` file imports ``site`` (as CPython's getpath reads it)."""
    return any(line.split(b"#", 1)[0].strip() == b"import site" for line in pth_text.splitlines())


def enable_site(pth_text: bytes) -> bytes:
    """``pth_text`` with its ``#import site`` line uncommented, or ``import site`` appended:
    the only change, line ends kept."""
    eol = b"\r\n" if b"\r\n" in pth_text else b"\n"
    lines = pth_text.split(eol)
    for index, line in enumerate(lines):
        if line.strip().lstrip(b"#").strip() == b"import site":
            lines[index] = b"import site"
            return eol.join(lines)
    body = pth_text if not pth_text or pth_text.endswith(eol) else pth_text + eol
    return body + b"import site" + eol


def pth_text(payload: str) -> bytes:
    """The switch: a path line (``site`` appends the payload folder to ``sys.path``) and the
    import line that runs the bootstrap (``site`` executes lines starting with ``import``)."""
    return f"{STATE_DIR}/{payload}\nimport _certembed_bootstrap\n".encode("ascii")


def build_payload(spec: Spec, inst: Installation, work: Path) -> tuple[Path, str, dict[str, Any]]:
    """Render the target OS's payload (bootstrap, data, manifest) into ``work``; return its
    folder, its id (content digest) and the record fields from the bundle."""
    from certembed.build import build_bundle_output

    result = build_bundle_output(spec, work / "out", (inst.os,), hashed_dir=False)
    payload = work / "out" / inst.os
    cache = payload / "__pycache__"
    same = sys.implementation.name == "cpython" and sys.version_info[:2] == inst.version
    if cache.is_dir() and not same:  # bytecode of the host's Python is useless to the target
        shutil.rmtree(cache)
    digest = hashlib.sha256()
    for path in sorted(payload.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(payload).as_posix().encode() + b"\0")
            digest.update(_sha(path.read_bytes()).encode())
    summary = result.summary()
    fields = {
        "config": str(spec.config_path) if spec.config_path else "embedded default",
        "config_digest": spec.config_digest,
        "mode": spec.mode,
        "certificates": summary["certificates"],
        "fallback": summary["fallback"],
        "always": summary["always"],
        "bundle_sha256": result.bundle_sha256,
        "certembed": __version__,
    }
    return payload, "payload-" + digest.hexdigest()[:16], fields


def now_text() -> str:
    """When an injection happened: SOURCE_DATE_EPOCH when set, else now (UTC)."""
    from certembed.output import source_date_epoch

    epoch = source_date_epoch()
    moment = (
        datetime.fromtimestamp(epoch, timezone.utc)
        if epoch is not None
        else datetime.now(timezone.utc)
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _adopt(path: Path, like: Path) -> None:
    """New files belong to whoever owns the folder they join (when we may say so)."""
    if not hasattr(os, "lchown") or os.geteuid() != 0:
        return
    info = like.stat()
    paths = [path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else [path]
    for item in paths:
        os.lchown(item, info.st_uid, info.st_gid)


def _writable(inst: Installation, need_root_file: bool) -> None:
    places = [inst.site_dir]
    if need_root_file and inst.pth_file is not None:
        places.append(inst.pth_file.parent)
    for place in places:
        if not os.access(place, os.W_OK):
            raise ReadOnlyTarget(
                f"{place}: cannot write here (read-only file system or no permission)"
            )


def _times(paths: list[Path]) -> dict[str, int]:
    """Folders' mtimes (ns), put back by eject; access times are not (reading changes them)."""
    return {str(path): path.stat().st_mtime_ns for path in paths}


def _install_payload(source: Path, state_dir: Path, name: str, like: Path) -> None:
    final = state_dir / name
    if final.is_dir():
        return
    tmp = state_dir / f"{name}{TMP_MARK}{os.getpid()}"
    shutil.copytree(source, tmp)
    _adopt(tmp, like)
    tmp.rename(final)


def _write_switch(site: Path, payload: str) -> None:
    path = site / PTH_NAME
    write_atomic(path, pth_text(payload), mode=0o644, like=site)


def _backup(original: Path, backup: Path) -> None:
    """Keep ``original`` (same inode where the file system links: owner, mode, times kept)."""
    if backup.exists():
        return
    tmp = backup.with_name(backup.name + TMP_MARK + str(os.getpid()))
    try:
        os.link(original, tmp)
    except OSError:
        shutil.copy2(original, tmp)
    tmp.replace(backup)


def _change_pth_file(pth: Path, new: bytes) -> None:
    info = pth.stat()
    tmp = pth.with_name(pth.name + NEW_SUFFIX)
    tmp.write_bytes(new)
    tmp.chmod(info.st_mode & 0o7777)
    if hasattr(os, "lchown") and os.geteuid() == 0:
        os.lchown(tmp, info.st_uid, info.st_gid)
    tmp.replace(pth)


def inject(
    inst: Installation,
    spec: Spec,
    dry_run: bool = False,
    when: str | None = "now",
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Install ``spec``'s policy into ``inst``; ``when``: "now", a fixed text, or None (not
    recorded, for reproducible archives)."""
    site = inst.site_dir
    if not site.is_dir():
        raise InjectError(f"{site}: the site-packages folder is missing; create it first")
    state_dir = site / STATE_DIR
    journal = read_journal(state_dir) if state_dir.is_dir() else None
    leftovers = strays(site, (inst.pth_file.parent,) if inst.pth_file else ())
    interrupted = bool(leftovers) or (
        journal is None and (state_dir.exists() or (site / PTH_NAME).exists())
    )
    interrupted = interrupted or (journal is not None and journal.get("phase") != "injected")
    changes: list[dict[str, str]] = []
    notes = [OUT_OF_REACH]
    with tempfile.TemporaryDirectory(prefix="certembed-inject-") as tmp:
        progress(f"rendering the {inst.os} payload")
        payload, payload_id, fields = build_payload(spec, inst, Path(tmp))
        record = dict(fields, when=now_text() if when == "now" else when, payload=payload_id)
        replacing = journal is not None and not interrupted
        pth_change = None
        if inst.pth_file is not None:
            original = inst.pth_file.read_bytes()
            if not site_enabled(original):
                pth_change = (original, enable_site(original))
        if interrupted:
            changes.append(
                {
                    "op": "recover",
                    "path": _rel(inst, site),
                    "detail": "eject an interrupted inject or eject first",
                }
            )
        if replacing:
            assert journal is not None
            if journal["payload"] == payload_id:
                changes.append(
                    {
                        "op": "keep",
                        "path": _rel(inst, state_dir / payload_id),
                        "detail": "same payload; record updated",
                    }
                )
            else:
                changes.append(
                    {
                        "op": "create",
                        "path": _rel(inst, state_dir / payload_id),
                        "detail": "new payload",
                    }
                )
            switch = site / PTH_NAME
            if not switch.is_file() or switch.read_bytes() != pth_text(payload_id):
                changes.append(
                    {
                        "op": "replace",
                        "path": _rel(inst, switch),
                        "detail": "switch to the new payload (one rename)",
                    }
                )
        else:
            changes.append(
                {
                    "op": "create",
                    "path": _rel(inst, state_dir),
                    "detail": "journal, backup and payload (bootstrap, data, manifest)",
                }
            )
            if pth_change is not None and inst.pth_file is not None:
                changes.append(
                    {
                        "op": "modify",
                        "path": _rel(inst, inst.pth_file),
                        "detail": "'import site' enabled (the embeddable Python skips site, "
                        "and so .pth files, without it); original kept in the journal's backup",
                    }
                )
            changes.append(
                {
                    "op": "create",
                    "path": _rel(inst, site / PTH_NAME),
                    "detail": "the switch: payload path + import _certembed_bootstrap",
                }
            )
        result: dict[str, Any] = {
            "action": "inject",
            "dry_run": dry_run,
            "target": inst.to_json(),
            "changes": changes,
            "record": record,
            "notes": notes,
        }
        if dry_run:
            return result
        _writable(inst, pth_change is not None)
        if interrupted:
            progress("ejecting an interrupted inject or eject first")
            eject(inst)
            journal = None
        try:
            if journal is not None:
                _replace(inst, journal, payload, payload_id, record, progress)
            else:
                _first(inst, payload, payload_id, record, pth_change, progress)
        except OSError as exc:
            raise InjectError(f"{inst.root}: inject failed and was undone: {exc}") from exc
    return result


def _first(
    inst: Installation,
    payload: Path,
    payload_id: str,
    record: dict[str, Any],
    pth_change: tuple[bytes, bytes] | None,
    progress: Progress,
) -> None:
    site = inst.site_dir
    state_dir = site / STATE_DIR
    folders = [site]
    modified = []
    if pth_change is not None and inst.pth_file is not None:
        if inst.pth_file.parent != site:
            folders.append(inst.pth_file.parent)
        modified.append(
            {
                "path": _rel(inst, inst.pth_file),
                "backup": f"{BACKUP_DIR}/{inst.pth_file.name}",
                "sha256_original": _sha(pth_change[0]),
                "sha256_new": _sha(pth_change[1]),
            }
        )
    journal = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "phase": "injecting",
        "target": {k: v for k, v in inst.to_json().items() if k in ("kind", "os", "version")},
        "site_dir": _rel(inst, site),
        "created": [_rel(inst, site / PTH_NAME), _rel(inst, state_dir)],
        "modified": modified,
        "times": {_rel(inst, Path(p)): t for p, t in _times(folders).items()},
        "payload": payload_id,
        "previous": [],
        "record": record,
    }
    tmp = site / f"{STATE_DIR}{TMP_MARK}{os.getpid()}"
    tmp.mkdir()
    try:
        (tmp / BACKUP_DIR).mkdir()
        write_journal(tmp, journal)
        tmp.chmod(0o755)
        _adopt(tmp, site)
        tmp.rename(state_dir)
        step("journal")
        progress(f"installing {payload_id}")
        _install_payload(payload, state_dir, payload_id, site)
        step("payload")
        if pth_change is not None and inst.pth_file is not None:
            progress(f"enabling site in {inst.pth_file.name}")
            _backup(inst.pth_file, state_dir / BACKUP_DIR / inst.pth_file.name)
            step("backup")
            _change_pth_file(inst.pth_file, pth_change[1])
            step("site")
        progress(f"writing the switch {PTH_NAME}")
        _write_switch(site, payload_id)
        step("pth")
        journal["phase"] = "injected"
        write_journal(state_dir, journal)
        step("done")
    except BaseException:
        if tmp.exists() or state_dir.exists():
            eject(inst)
        raise


def _replace(
    inst: Installation,
    journal: dict[str, Any],
    payload: Path,
    payload_id: str,
    record: dict[str, Any],
    progress: Progress,
) -> None:
    site = inst.site_dir
    state_dir = site / STATE_DIR
    old = journal["payload"]
    progress(f"installing {payload_id} (replacing {old})")
    _install_payload(payload, state_dir, payload_id, site)
    step("payload")
    journal["previous"] = [old] if old != payload_id else journal.get("previous", [])
    journal["payload"] = payload_id
    journal["record"] = record
    write_journal(state_dir, journal)
    step("journal")
    switch = site / PTH_NAME
    current = switch.read_bytes() if switch.is_file() else None
    if current != pth_text(payload_id):  # also finishes a replacement killed before this
        _write_switch(site, payload_id)
        step("pth")
    keep = {payload_id, *journal["previous"]}
    for child in sorted(state_dir.iterdir()):
        if child.name.startswith("payload-") and child.name not in keep:
            shutil.rmtree(child)
    step("done")


def _journals(inst: Installation, leftovers: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """(state folder, journal) for the state folder and any temporary one a kill left."""
    out = []
    for folder in [inst.site_dir / STATE_DIR, *leftovers]:
        if folder.is_dir():
            try:
                journal = read_journal(folder)
            except InjectError:
                if folder.name == STATE_DIR:
                    raise
                journal = None
            if journal is not None:
                out.append((folder, journal))
    return out


def eject(inst: Installation, dry_run: bool = False) -> dict[str, Any]:
    """Undo every injection step found (complete, interrupted or half-ejected)."""
    site = inst.site_dir
    state_dir = site / STATE_DIR
    extra = (inst.pth_file.parent,) if inst.pth_file else ()
    leftovers = strays(site, extra)
    journals = _journals(inst, leftovers)
    switch = site / PTH_NAME
    if not journals and not state_dir.exists() and not switch.exists() and not leftovers:
        raise InjectError(
            f"{inst.root}: nothing to eject (no {PTH_NAME} and no {STATE_DIR}/ in {site})"
        )
    changes: list[dict[str, str]] = []
    restores: list[tuple[Path, Path]] = []
    times: dict[str, int] = {}
    record = None
    for folder, journal in journals:
        record = record or journal.get("record")
        for key, value in journal.get("times", {}).items():
            times.setdefault(key, value)
        for item in journal.get("modified", []):
            target = inst.root / item["path"]
            backup = folder / item["backup"]
            if not backup.is_file():
                continue  # not replaced yet, or already restored
            current = _sha(target.read_bytes()) if target.is_file() else None
            if current not in (item["sha256_new"], item["sha256_original"]):
                raise EjectRefused(
                    f"{target} changed since certembed injected (sha256 {current}); its "
                    f"original is {backup}: put it back by hand, or restore your own change "
                    "after eject"
                )
            restores.append((backup, target))
            changes.append(
                {
                    "op": "restore",
                    "path": item["path"],
                    "detail": f"original from {_rel(inst, backup)}",
                }
            )
    if switch.exists():
        changes.insert(0, {"op": "remove", "path": _rel(inst, switch), "detail": "the switch"})
    if state_dir.exists():
        changes.append(
            {"op": "remove", "path": _rel(inst, state_dir), "detail": "journal, backup, payloads"}
        )
    changes += [
        {"op": "remove", "path": _rel(inst, p), "detail": "left by an interrupted run"}
        for p in leftovers
    ]
    result: dict[str, Any] = {
        "action": "eject",
        "dry_run": dry_run,
        "target": inst.to_json(),
        "changes": changes,
        "record": record,
        "notes": [],
    }
    if dry_run:
        return result
    _writable(inst, bool(restores))
    try:
        for folder, journal in journals:
            if folder == state_dir and journal.get("phase") != "ejecting":
                journal["phase"] = "ejecting"
                write_journal(folder, journal)
        step("eject-journal")
        if switch.exists() or switch.is_symlink():
            switch.unlink()
        step("eject-pth")
        for backup, target in restores:
            backup.replace(target)
        step("eject-restore")
        if state_dir.exists():
            doomed = site / f"{STATE_DIR}{TMP_MARK}del-{os.getpid()}"
            state_dir.rename(doomed)
            step("eject-rename")
            shutil.rmtree(doomed)
        for path in leftovers:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        step("eject-state")
        for rel, mtime in sorted(times.items()):
            folder = inst.root / rel
            if folder.is_dir():
                os.utime(folder, ns=(folder.stat().st_atime_ns, mtime))
        step("eject-done")
    except OSError as exc:
        raise InjectError(f"{inst.root}: eject failed part-way ({exc}); run eject again") from exc
    return result


def render(result: dict[str, Any]) -> str:
    target = result["target"]
    verb = {"inject": "inject", "eject": "eject"}[result["action"]]
    head = "would " + verb if result["dry_run"] else verb + "ed"
    lines = [
        f"{head}: {target['root']} ({target['kind']}, {target['os']}, Python {target['version']})"
    ]
    for change in result["changes"]:
        lines.append(f"  {change['op']:8} {change['path']}  ({change['detail']})")
    record = result.get("record")
    if record and result["action"] == "inject":
        lines.append(
            f"  config {record['config']}, mode {record['mode']}, {record['certificates']} "
            f"certificates ({record['fallback']} fallback, {record['always']} always), "
            f"bundle {record['bundle_sha256'][:16]}, when {record['when'] or 'not recorded'}"
        )
    lines += [f"  note: {note}" for note in result["notes"]]
    return "\n".join(lines)
