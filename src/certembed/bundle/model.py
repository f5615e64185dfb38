"""What an assembled bundle is made of."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from certembed.config.model import SourceKind, TrustRole


@dataclass(frozen=True)
class Candidate:
    """A certificate as read from a source, before validation."""

    cert: x509.Certificate
    der: bytes
    source: str  # the source's label, e.g. "certifi" or "pem_file:/abs/corp.pem"
    origin: str  # where exactly: "corp.pem:12" or "app.star:3:9"
    trust: TrustRole

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    def describe(self) -> str:
        """Subject, SHA-256 and source: how every certificate error names its certificate."""
        return f"subject {self.subject!r}, SHA-256 {self.sha256}, source {self.origin}"


@dataclass(frozen=True)
class Anchor:
    """A validated trust anchor as it lands in the bundle."""

    der: bytes
    sha256: str
    subject: str
    issuer: str
    label: str
    serial: int
    not_before: datetime
    not_after: datetime
    subject_hash: str
    sources: tuple[str, ...]
    trust: TrustRole
    pem_text: str
    strict: tuple[str, ...] = ()  # codes of certembed.bundle.strict.RULES it breaks

    def pem(self) -> str:
        return self.pem_text


@dataclass(frozen=True)
class SourceRecord:
    """Provenance of one configured source, for the manifest."""

    kind: SourceKind
    label: str
    trust: TrustRole
    location: str
    version: str | None = None
    files: tuple[tuple[str, str], ...] = ()  # (path, sha256:...)
    certificates: int = 0


@dataclass
class Bundle:
    anchors: list[Anchor]
    sources: list[SourceRecord]
    duplicates_removed: int = 0
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (sha256, why)
    warnings: list[str] = field(default_factory=list)

    def by_role(self, trust: TrustRole) -> list[Anchor]:
        return [a for a in self.anchors if a.trust == trust]
