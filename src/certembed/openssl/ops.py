"""``upgrade``, ``rollback`` and ``show``: the three operations the CLI exposes."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from certembed.audit.collect import open_tree
from certembed.errors import AuditError, OpenSSLError, PostCheckFailed
from certembed.openssl import postcheck, swap
from certembed.openssl.plan import make_plan
from certembed.openssl.rewrite import pe_signed, prepare
from certembed.openssl.source import find_pairs, source_tree
from certembed.openssl.target import (
    BACKUP_DIR,
    TRASH_DIR,
    find_openssl,
    open_target,
    venv_base,
)

SIGNATURE_NOTE = (
    "rewritten Windows DLLs lose any Authenticode signature they had; Windows loads unsigned "
    "DLLs unless a policy (WDAC/AppLocker) requires signatures"
)


def _source_root(path: Path) -> tuple[Path, list[str]]:
    """A Python installation given as SOURCE may be a venv: use its base."""
    if path.is_dir():
        base = venv_base(path, role="source")
        if base is not None:
            return base[0], [base[1]]
    return path, []


def upgrade(
    target_path: Path,
    source_path: Path,
    *,
    allow_downgrade: bool = False,
    dry_run: bool = False,
    runner: list[str] | None = None,
    env: dict[str, str] | None = None,
    fault: swap.Fault | None = None,
    allow_eol: bool = False,
    today: date | None = None,
) -> dict[str, Any]:
    tree = open_target(target_path)
    swap.refuse_if_upgraded(tree.root)
    target = find_openssl(tree)
    source_root, source_notes = _source_root(source_path)
    if not source_root.exists():
        raise OpenSSLError(f"--from {source_path}: does not exist")
    try:
        with open_tree(source_root) as opened:
            source = source_tree(opened.root, opened.kind)
            pairs, libs = find_pairs(source)
            plan, pair = make_plan(
                target, pairs, libs, source, str(source_path), allow_downgrade, allow_eol, today
            )
            plan.notes += source_notes
            fmt = target.libcrypto.format
            staged = {
                plan.replacements[0].path: prepare(plan.replacements[0], pair.libssl.path, fmt),
                plan.replacements[1].path: prepare(plan.replacements[1], pair.libcrypto.path, fmt),
            }
    except AuditError as exc:
        raise OpenSSLError(f"--from {source_path}: {exc}") from exc
    for rep in plan.replacements:
        rep.target_signed = fmt == "pe" and pe_signed((tree.root / rep.path).read_bytes())
    if fmt == "pe" and any(
        r.target_signed or r.source_signed or r.rewrites for r in plan.replacements
    ):
        plan.notes.append(SIGNATURE_NOTE)
    command, why = postcheck.runnable(tree.root, tree.kind, runner or [])
    plan.post_check = f"run {why}" if command else f"skipped: {why}"
    result: dict[str, Any] = {"action": "upgrade", "dry_run": dry_run, "plan": plan.to_json()}
    if dry_run:
        return result
    manifest = swap.apply(plan, staged, fault)
    result["backup"] = str(tree.root / BACKUP_DIR)
    result["manifest"] = manifest
    if command is not None:
        check = postcheck.run_check(command, env)
        result["post_check"] = check
        problems = postcheck.judge(check, plan.new_version)
        if problems:
            swap.rollback(tree.root)
            raise PostCheckFailed(
                f"the upgraded {tree.root} failed its post-check, so it was rolled back "
                "(every original byte restored):\n  " + "\n  ".join(problems)
            )
    return result


def upgrade_state(path: Path) -> dict[str, Any] | None:
    """What ``certembed audit PATH`` reports of an upgrade: the state of one made in place in
    ``path`` when it is a folder (a file or interpreter given to audit is never upgraded)."""
    return swap.state(path) if path.is_dir() else None


def rollback(target_path: Path, fault: swap.Fault | None = None) -> dict[str, Any]:
    tree = open_target(target_path, read_binaries=False)  # the manifest says what to restore
    restored = swap.rollback(tree.root, fault)
    return {
        "action": "rollback",
        "target": str(tree.root),
        "notes": tree.notes,
        "restored": restored,
    }


def show(target_path: Path) -> dict[str, Any]:
    tree = open_target(target_path)
    out: dict[str, Any] = {
        "action": "show",
        "target": str(tree.root),
        "kind": tree.kind,
        "notes": tree.notes,
        "upgrade": swap.state(tree.root),
    }
    try:
        target = find_openssl(tree)
    except OpenSSLError as exc:
        out["openssl"] = None
        out["why_not_upgradable"] = str(exc)
        out["exit_code"] = exc.exit_code
        return out
    out["openssl"] = {
        "version": target.version,
        "arch": target.libcrypto.arch,
        "libssl": tree.rel(target.libssl.path),
        "libcrypto": tree.rel(target.libcrypto.path),
        "ssl_module": tree.rel(target.ssl_module.path),
        "importers": sorted({(tree.rel(e.importer.path), e.name) for e in target.edges}),
    }
    return out


def render(result: dict[str, Any]) -> str:
    """Human text for any of the three results."""
    lines: list[str] = []
    action = result["action"]
    if action == "show":
        lines.append(f"{result['target']} ({result['kind']})")
        lines += [f"  note: {n}" for n in result["notes"]]
        ossl = result.get("openssl")
        if ossl:
            lines.append(
                f"OpenSSL {ossl['version']} [{ossl['arch']}] loaded by {ossl['ssl_module']}:"
            )
            lines.append(f"  libssl:    {ossl['libssl']}")
            lines.append(f"  libcrypto: {ossl['libcrypto']}")
            for importer, name in ossl["importers"]:
                lines.append(f"  imported by {importer} as {name}")
        else:
            lines.append(f"not upgradable: {result['why_not_upgradable']}")
        up = result.get("upgrade")
        if up:
            lines.append(
                f"upgraded on {up['date']} from OpenSSL {up['old_version']} to "
                f"{up['new_version']} (source {up['source']}; state {up['state']})"
            )
            lines.append(f"  backup: {up['backup_dir']}")
            for entry in up["files"]:
                lines.append(f"  {entry['path']}: {entry['current']}, original {entry['backup']}")
        else:
            lines.append("no certembed OpenSSL upgrade in place")
        return "\n".join(lines)
    if action == "rollback":
        restored = result["restored"]
        lines += [f"note: {n}" for n in result["notes"]]
        lines.append(
            f"rolled back {result['target']}: OpenSSL {restored['new_version']} -> "
            f"{restored['old_version']}, {len(restored['files'])} files restored byte for byte, "
            "backup removed"
        )
        if restored.get("left_in_use"):
            lines.append(
                "note: the replaced files are still loaded by a running process, so they wait in "
                f"{TRASH_DIR} (never loaded from there) until the next certembed openssl "
                f"command deletes them: {', '.join(restored['left_in_use'])}"
            )
        return "\n".join(lines)
    plan = result["plan"]
    head = "plan (dry run, nothing changed)" if result["dry_run"] else "upgraded"
    lines.append(
        f"{head}: {plan['target']} ({plan['target_kind']}, {plan['arch']}): OpenSSL "
        f"{plan['old_version']} -> {plan['new_version']} from {plan['source']}"
    )
    lines += [f"  note: {n}" for n in plan["notes"]]
    for rep in plan["replacements"]:
        lines.append(f"  {rep['role']}: {rep['path']}  <-  {rep['source']}")
        lines.append(
            f"      staged as {rep['path']}.certembed-new, swapped by rename; original kept in "
            f"{BACKUP_DIR}/files/{rep['path']}"
        )
        for old, new in rep["rewrites"]:
            lines.append(f"      imports {old} rewritten to {new}")
        if rep["soname"]:
            lines.append(f"      SONAME set to {rep['soname']}")
        if rep["export_name"]:
            lines.append(
                f"      export name set to {rep['export_name']} (if it fits), "
                "PE checksum recomputed"
            )
    for importer in plan["importers"]:
        names = ", ".join(f"{k} ({v} symbols)" for k, v in sorted(importer["imports"].items()))
        lines.append(f"  importer {importer['file']}: {names}")
    lines.append("checks passed:")
    lines += [f"  {c}" for c in plan["checks"]]
    lines.append(f"post-check: {plan['post_check']}")
    check = result.get("post_check")
    if check:
        lines.append(
            f"  {check['openssl_version']}; libcrypto loaded: {len(check['libcrypto'])}; right CA: "
            f"{check['right']}; wrong CA: {check['wrong']}"
        )
    if not result["dry_run"]:
        lines.append(f"rollback: certembed openssl rollback {plan['target']}")
    return "\n".join(lines)
