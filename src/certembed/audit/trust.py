"""Trust findings: the certembed bundle or certifi bundle inside, expired and expiring roots,
and what certifi's history (every release's roots, generated from the releases themselves:
certembed.audit.history) says about each root: current, removed by Mozilla (which certifi
release dropped it, when), or never in Mozilla's store (added locally)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import certifi

from certembed.audit.analyze import Finding, _rel
from certembed.audit.history import History, shipped
from certembed.bundle.load import parse_blob
from certembed.bundle.strict import explain, strict_problems
from certembed.config.model import TRUST_ROLES
from certembed.payload import (
    BOOTSTRAP_NAME,
    DATA_DIR_NAME,
    PAYLOAD_MANIFEST,
    Manifest,
    read_baked,
    role_file,
)

EXPIRING_DAYS = 90
_CERTIFI_VERSION = re.compile(r"certifi-(\d{4}\.\d{1,2}\.\d{1,2})\.dist-info$")


@dataclass
class BundleReport:
    kind: Literal["certembed", "certifi"]
    location: str
    certificates: int = 0
    certembed_version: str | None = None
    mode: str | None = None
    bundle_sha256: str | None = None
    certifi_version: str | None = None
    age_days: int | None = None
    expired: list[dict[str, str]] = field(default_factory=list)
    expiring: list[dict[str, str]] = field(default_factory=list)
    removed_by_mozilla: list[dict[str, str]] = field(default_factory=list)
    never_in_mozilla: list[dict[str, str]] = field(default_factory=list)
    integrity: str | None = None
    relax_x509_strict: bool | None = None  # certembed bundles: the baked opt-in
    x509_strict: list[dict[str, Any]] = field(default_factory=list)
    tooling: str | None = None  # "pip": a copy a tool vendors (pip/_vendor/certifi), not the app's


def _version_date(version: str | None) -> date | None:
    if not version:
        return None
    try:
        year, month, day = (int(x) for x in version.split(".")[:3])
        return date(year, month, day)
    except ValueError:
        return None


def _installed_certifi() -> tuple[str, set[str]]:
    blob = certifi.contents().encode("ascii")
    shas = {hashlib.sha256(der).hexdigest() for _, der, _ in parse_blob(blob, "certifi", [])}
    return certifi.__version__, shas


def _certs(paths: list[Path]) -> list[tuple[Any, str, str]]:
    out = []
    for path in paths:
        if path.is_file():
            for cert, der, origin in parse_blob(path.read_bytes(), path.name, []):
                out.append((cert, hashlib.sha256(der).hexdigest(), origin))
    return out


def _describe(cert: Any, sha: str) -> dict[str, str]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "sha256": sha,
        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%d"),
    }


STRICT_FROM = 13  # CPython 3.13 sets VERIFY_X509_STRICT in create_default_context()


class TrustAuditor:
    def __init__(
        self, root: Path, files: list[Path], as_of: date, python_minor: int | None = None
    ) -> None:
        """``python_minor``: the 3.x the audited app runs, when known (it decides whether
        strict X.509 applies there)."""
        self.root = root
        self.files = files
        self.as_of = as_of
        self.python_minor = python_minor
        self.findings: list[Finding] = []
        self.bundles: list[BundleReport] = []
        self.installed_version, self.installed = _installed_certifi()
        self.history: History = shipped()

    def run(self) -> list[BundleReport]:
        for path in self.files:
            if path.name == BOOTSTRAP_NAME:
                self._certembed(path)
            elif path.name == "cacert.pem" and path.parent.name == "certifi":
                self._certifi(path)
        return self.bundles

    def _check_certs(
        self,
        report: BundleReport,
        certs: list[tuple[Any, str, str]],
        sources: dict[str, list[str]] | None = None,
    ) -> None:
        report.certificates = len(certs)
        now = datetime(self.as_of.year, self.as_of.month, self.as_of.day, tzinfo=timezone.utc)
        soon = now + timedelta(days=EXPIRING_DAYS)
        for cert, sha, _ in certs:
            not_after = cert.not_valid_after_utc
            if not_after <= now:
                report.expired.append(_describe(cert, sha))
            elif not_after <= soon:
                report.expiring.append(_describe(cert, sha))
        for item in report.expired:
            self.findings.append(
                Finding(
                    "expired",
                    report.location,
                    f"expired root {item['subject']} "
                    f"(not after {item['not_after']}, SHA-256 "
                    f"{item['sha256'][:16]}…)",
                    "rebuild with a fresh bundle",
                )
            )
        for cert, sha, _ in certs:
            codes = strict_problems(cert)
            if codes:
                report.x509_strict.append({**_describe(cert, sha), "problems": list(codes)})
                self.findings.append(self._strict_finding(report, cert, sha, codes))
        for item in report.expiring:
            self.findings.append(
                Finding(
                    "expiring",
                    report.location,
                    f"root {item['subject']} expires on "
                    f"{item['not_after']} (within {EXPIRING_DAYS} days)",
                )
            )
        bundle_date = _version_date(report.certifi_version)
        if bundle_date:
            report.age_days = (self.as_of - bundle_date).days
        for cert, sha, _ in certs:
            verdict = self.history.verdict(sha, self.as_of, self.installed)
            if verdict.status == "removed":
                item = _describe(cert, sha)
                item.update(
                    removed_in=str(verdict.removed_in),
                    removed_on=str(verdict.removed_on),
                    last_in=str(verdict.last_in),
                )
                report.removed_by_mozilla.append(item)
                self.findings.append(
                    Finding(
                        "distrusted",
                        report.location,
                        f"{item['subject']} (SHA-256 {sha[:16]}…) was removed from Mozilla's "
                        f"store: certifi {verdict.removed_in} ({verdict.removed_on}) dropped it, "
                        f"certifi {verdict.last_in} was the last to carry it",
                        "rebuild with the current certifi",
                    )
                )
            elif verdict.status == "never":
                item = _describe(cert, sha)
                configured = (sources or {}).get(sha)
                if configured:
                    item["sources"] = ", ".join(configured)
                report.never_in_mozilla.append(item)
                how = (
                    f"added by the app's config ({item['sources']})"
                    if configured
                    else "added locally (by hand or by the packager)"
                )
                self.findings.append(
                    Finding(
                        "local",
                        report.location,
                        f"{item['subject']} (SHA-256 {sha[:16]}…) was never in Mozilla's store "
                        f"(no certifi release {self.history.versions[0]} to "
                        f"{self.history.latest} carried it): {how}; not a distrusted root",
                    )
                )

    def _strict_finding(
        self, report: BundleReport, cert: Any, sha: str, codes: tuple[str, ...]
    ) -> Finding:
        what = (
            f"{cert.subject.rfc4514_string()} (SHA-256 {sha[:16]}…) is rejected by Python 3.13+ "
            f"default contexts (VERIFY_X509_STRICT): {explain(codes)}"
        )
        if self.python_minor is not None and self.python_minor < STRICT_FROM:
            return Finding(
                "info",
                report.location,
                f"{what}; not here: this runs Python 3.{self.python_minor}, whose default "
                "contexts do not set VERIFY_X509_STRICT (it matters if it moves to 3.13+)",
            )
        if self.python_minor is None:
            what += " (applies where the app runs on Python 3.13+; its Python is not known here)"
        if report.relax_x509_strict:
            return Finding("info", report.location, what + "; relaxed by relax_x509_strict = true")
        # One fix per root, whichever bundle holds it: what can be done depends on the root
        # (public or the app's own), not on which copy the audit found it in.
        public = self.history.verdict(sha, self.as_of, self.installed).status != "never"
        if public:
            fix = (
                "a public root in Mozilla's store: only its CA can re-issue it, and servers that "
                "chain to it fail under Python 3.13+ with or without certembed; to accept it "
                "anyway, freeze the app with certembed and relax_x509_strict = true"
            )
        else:
            fix = (
                "re-issue this root with the extensions named, or freeze the app with certembed "
                "and relax_x509_strict = true"
            )
        return Finding("x509-strict", report.location, what, fix)

    def _certembed(self, path: Path) -> None:
        folder = path.parent
        report = BundleReport("certembed", _rel(folder, self.root))
        # The bootstrap, not the manifest beside it, holds the data digests the app checks.
        data: dict[str, str] = {}
        listed = None
        try:
            baked = read_baked(path.read_text(encoding="utf-8"))
        except (SyntaxError, ValueError):
            report.integrity = "unreadable bootstrap"
        else:
            report.certembed_version = baked.version
            report.mode = baked.mode
            report.bundle_sha256 = baked.bundle_sha256
            report.relax_x509_strict = baked.relax_x509_strict
            data = dict(baked.data)
            listed = baked.data_digests
        data_dir = folder / DATA_DIR_NAME
        sums = data_dir / str(listed) if listed else None
        if sums is not None and str(listed) in data and sums.is_file():
            blob = sums.read_bytes()
            if hashlib.sha256(blob).hexdigest() == data[str(listed)]:
                for line in blob.decode("ascii", "replace").splitlines():
                    digest, _, name = line.partition("  ")
                    if name:
                        data.setdefault(name, digest)
        bad = [
            name
            for name, digest in data.items()
            if not (data_dir / name).is_file()
            or hashlib.sha256((data_dir / name).read_bytes()).hexdigest() != digest
        ]
        if report.integrity is None:
            report.integrity = "ok" if not bad else f"{len(bad)} file(s) differ from the bootstrap"
        if bad:
            self.findings.append(
                Finding(
                    "mismatch",
                    report.location,
                    f"embedded data does not match the bootstrap's SHA-256 "
                    f"for {', '.join(sorted(bad)[:5])}: the app will not "
                    "trust those anchors",
                    "rebuild the app",
                )
            )
        manifest_path = folder / PAYLOAD_MANIFEST
        sources: dict[str, list[str]] = {}
        if manifest_path.is_file():
            manifest = Manifest.read(manifest_path, check_schema=False)
            if report.relax_x509_strict is None:
                report.relax_x509_strict = manifest.policy.get("relax_x509_strict")
            for source in manifest.sources:
                if source.get("kind") == "certifi":
                    report.certifi_version = source.get("version")
            sources = {
                c["sha256"]: [str(x) for x in c.get("sources", []) if x != "certifi"]
                for c in manifest.certificates
                if isinstance(c, dict) and "sha256" in c
            }
        certs = _certs([data_dir / role_file(role) for role in TRUST_ROLES])
        self._check_certs(report, certs, sources)
        self.bundles.append(report)

    def _certifi(self, path: Path) -> None:
        report = BundleReport("certifi", _rel(path, self.root))
        parts = path.parts
        if "_vendor" in parts[:-2]:
            report.tooling = parts[parts.index("_vendor") - 1]
        start = len(self.findings)
        init = path.parent / "__init__.py"
        if init.is_file():
            match = re.search(r"__version__ = \"([\d.]+)\"", init.read_text(encoding="utf-8"))
            report.certifi_version = match.group(1) if match else None
        if report.certifi_version is None:
            for candidate in self.files:
                match = _CERTIFI_VERSION.search(candidate.parent.name)
                if match:
                    report.certifi_version = match.group(1)
                    break
        self._check_certs(report, _certs([path]))
        for finding in self.findings[start:]:
            finding.tooling = report.tooling
        self.bundles.append(report)
