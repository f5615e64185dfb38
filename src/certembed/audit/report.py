"""``certembed audit``: put the OpenSSL and trust findings together; text, JSON, exit codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from certembed.audit.analyze import Finding, OpenSSLReport, analyze_openssl, eol_table
from certembed.audit.collect import candidate_binaries, open_tree
from certembed.audit.trust import BundleReport, TrustAuditor

SCHEMA = "certembed-audit"
SCHEMA_VERSION = 2
FAIL_ON = ("eol", "expired", "distrusted", "mismatch", "local", "x509-strict")


@dataclass
class AuditReport:
    path: str
    kind: str
    as_of: date
    openssl: OpenSSLReport
    bundles: list[BundleReport]
    findings: list[Finding] = field(default_factory=list)

    def failing(self, fail_on: tuple[str, ...]) -> list[Finding]:
        return [f for f in self.findings if f.category in fail_on]

    def to_json(self) -> dict[str, Any]:
        table = eol_table()
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "path": self.path,
            "kind": self.kind,
            "as_of": self.as_of.isoformat(),
            "eol_table": {"source": table["source"], "checked": table["checked"]},
            "openssl": self.openssl.to_json(),
            "trust": [asdict(b) for b in self.bundles],
            "findings": [asdict(f) for f in self.findings],
        }


def audit(path: Path, as_of: date) -> AuditReport:
    with open_tree(path) as tree:
        openssl = analyze_openssl(tree.root, candidate_binaries(tree.files), as_of)
        trust = TrustAuditor(tree.root, tree.files, as_of)
        bundles = trust.run()
        findings = openssl.findings + trust.findings
        return AuditReport(str(path), tree.kind, as_of, openssl, bundles, findings)


def render_text(report: AuditReport) -> str:
    lines = [f"{report.path} ({report.kind}), as of {report.as_of.isoformat()}", "", "OpenSSL:"]
    if not report.openssl.libraries:
        lines.append("  none found")
    for lib in report.openssl.libraries:
        eol = {
            True: f"END OF LIFE since {lib.eol_date}",
            False: f"supported until {lib.eol_date}",
            None: "end of life unknown",
        }[lib.end_of_life]
        where = " (system)" if lib.system else ""
        lines.append(
            f"  {lib.file}{where}: {lib.role} {lib.version or 'version unknown'} [{lib.arch}] {eol}"
        )
    lines.append("Trust:")
    if not report.bundles:
        lines.append("  no certembed bundle and no certifi cacert.pem found")
    for bundle in report.bundles:
        head = f"  {bundle.location}: {bundle.kind} bundle, {bundle.certificates} certificates"
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
    lines.append("Findings:")
    if not report.findings:
        lines.append("  none")
    for finding in report.findings:
        lines.append(f"  [{finding.category}] {finding.file}: {finding.message}")
        if finding.fix:
            lines.append(f"      fix: {finding.fix}")
    return "\n".join(lines)
