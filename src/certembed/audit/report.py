"""``certembed audit``: put the OpenSSL and trust findings together; text, JSON, exit codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from certembed.audit.analyze import (
    Category,
    Finding,
    OpenSSLReport,
    analyze_openssl,
    eol_table,
)
from certembed.audit.collect import candidate_binaries, open_tree, python_minor
from certembed.audit.trust import BundleReport, TrustAuditor
from certembed.installation.files import is_work_path

SCHEMA = "certembed-audit"
SCHEMA_VERSION = 2
FAIL_ON: tuple[Category, ...] = ("eol", "expired", "distrusted", "mismatch", "local", "x509-strict")


@dataclass
class AuditReport:
    path: str
    kind: str
    as_of: date
    openssl: OpenSSLReport
    bundles: list[BundleReport]
    findings: list[Finding] = field(default_factory=list)
    interpreter: dict[str, str | None] | None = None
    notes: list[str] = field(default_factory=list)
    openssl_upgrade: dict[str, Any] | None = None  # `certembed openssl upgrade` state, if any
    injection: dict[str, Any] | None = None  # `certembed inject` record, if any

    def failing(self, fail_on: tuple[str, ...], include_tooling: bool = False) -> list[Finding]:
        """Findings in ``fail_on``; those in tools' vendored copies (pip's certifi) only with
        ``include_tooling``."""
        return [
            f
            for f in self.findings
            if f.category in fail_on and (include_tooling or f.tooling is None)
        ]

    def to_json(self) -> dict[str, Any]:
        table = eol_table()
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "path": self.path,
            "kind": self.kind,
            "as_of": self.as_of.isoformat(),
            "interpreter": self.interpreter,
            "notes": self.notes,
            "eol_table": {"source": table["source"], "checked": table["checked"]},
            "openssl": self.openssl.to_json(),
            "trust": [asdict(b) for b in self.bundles],
            "findings": [asdict(f) for f in self.findings],
            "openssl_upgrade": self.openssl_upgrade,
            "injection": self.injection,
        }


def upgrade_finding(state: dict[str, Any], where: str) -> Finding:
    changed = [f["path"] for f in state["files"] if f["current"] != "as upgraded"]
    message = (
        f"OpenSSL upgraded by certembed on {state['date']} from {state['old_version']} to "
        f"{state['new_version']} (source {state['source']}); originals kept in "
        f"{state['backup_dir']}"
    )
    if changed:
        message += f"; changed since the upgrade: {', '.join(changed)}"
    return Finding("info", where, message, f"undo with: certembed openssl rollback {where}")


def audit(path: Path, as_of: date, upgraded: dict[str, Any] | None = None) -> AuditReport:
    """``upgraded``: the state of a ``certembed openssl upgrade`` of ``path`` (a directory),
    which the caller reads with the openssl package (audit sits below it)."""
    from certembed.inject.state import describe, summary_line

    with open_tree(path) as tree:
        # The originals an upgrade kept (and its trash) are not what the app loads: report them
        # only as such. (a venv's files include its base interpreter's, outside tree.root)
        files = [
            f
            for f in tree.files
            if not (f.is_relative_to(tree.root) and is_work_path(f.relative_to(tree.root).parts))
        ]
        openssl = analyze_openssl(tree.root, candidate_binaries(files), as_of)
        trust = TrustAuditor(tree.root, files, as_of, python_minor(tree))
        bundles = trust.run()
        findings = openssl.findings + trust.findings
        notes = list(tree.notes)
        if tree.interpreter and tree.interpreter.base_executable is None:
            findings.insert(0, Finding("info", str(path), notes[0]))
        if upgraded is not None:
            findings.append(upgrade_finding(upgraded, str(path)))
        injection = describe(path)
        if injection is not None:
            findings.append(
                Finding(
                    "info",
                    str(path),
                    summary_line(injection),
                    f"undo with: certembed eject {path}",
                )
            )
        return AuditReport(
            str(path),
            tree.kind,
            as_of,
            openssl,
            bundles,
            findings,
            tree.interpreter.to_json() if tree.interpreter else None,
            notes,
            openssl_upgrade=upgraded,
            injection=injection,
        )


def render_text(report: AuditReport) -> str:
    lines = [f"{report.path} ({report.kind}), as of {report.as_of.isoformat()}"]
    lines += [f"  {note}" for note in report.notes]
    lines += ["", "OpenSSL:"]
    if not report.openssl.libraries:
        lines.append("  none found")
    for lib in report.openssl.libraries:
        eol = {
            True: f"END OF LIFE since {lib.eol_date}",
            False: f"supported until {lib.eol_date}",
            None: "end of life unknown",
        }[lib.end_of_life]
        where = " (system)" if lib.system else ""
        if lib.maintained_by:
            eol = f"maintained by {lib.maintained_by} ({lib.package}); upstream " + eol.lower()
        lines.append(
            f"  {lib.file}{where}: {lib.role} {lib.version or 'version unknown'} [{lib.arch}] {eol}"
        )
    if report.openssl_upgrade is not None:
        up = report.openssl_upgrade
        lines.append(
            f"  upgraded by certembed on {up['date']}: OpenSSL {up['old_version']} -> "
            f"{up['new_version']}, backup in {up['backup_dir']}"
        )
        lines += [f"    {f['path']}: {f['current']}, original {f['backup']}" for f in up["files"]]
    if report.injection is not None:
        from certembed.inject.state import summary_line

        lines.append(summary_line(report.injection))
    lines.append("Trust:")
    if not report.bundles:
        lines.append("  no certembed bundle and no certifi cacert.pem found")
    for bundle in report.bundles:
        head = f"  {bundle.location}: {bundle.kind} bundle, {bundle.certificates} certificates"
        if bundle.tooling:
            head += f" [tooling: vendored by {bundle.tooling}]"
        if bundle.kind == "certembed":
            head += (
                f", certembed {bundle.certembed_version}, mode {bundle.mode}, "
                f"integrity {bundle.integrity}"
            )
        if bundle.certifi_version:
            head += f", certifi {bundle.certifi_version}"
        if bundle.age_days is not None:
            head += f" ({bundle.age_days} days old)"
        lines.append(head)
    app = [f for f in report.findings if f.tooling is None]
    tools = [f for f in report.findings if f.tooling is not None]
    lines.append("Findings:")
    if not app:
        lines.append("  none")
    for finding in app:
        lines.append(f"  [{finding.category}] {finding.file}: {finding.message}")
        if finding.fix:
            lines.append(f"      fix: {finding.fix}")
    if tools:
        owners = ", ".join(sorted({str(f.tooling) for f in tools}))
        lines.append(
            f"Tooling ({owners}: vendored copies the app does not use; "
            "--fail-on counts them only with --include-tooling):"
        )
        counts: dict[tuple[str, str], int] = {}
        for finding in tools:
            key = (finding.file, finding.category)
            counts[key] = counts.get(key, 0) + 1
        for (where, category), count in counts.items():
            lines.append(f"  [{category}] {where}: {count} finding(s) (--json lists them)")
    return "\n".join(lines)
