"""Validate, de-duplicate and exclude: turn loaded candidates into a :class:`Bundle`."""

from __future__ import annotations

import base64
import warnings as pywarnings
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, rsa
from cryptography.x509.oid import NameOID

from certembed.bundle.load import load_all
from certembed.bundle.model import Anchor, Bundle, Candidate
from certembed.bundle.strict import strict_problems, strict_warning
from certembed.bundle.subject_hash import subject_hash
from certembed.config.model import BundleSpec
from certembed.errors import BundleError

WARN_DAYS = 30
MIN_RSA_BITS = 2048
_ROLE_RANK = {"fallback": 0, "always": 1}


def _label(cert: x509.Certificate) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATION_NAME):
        attrs = cert.subject.get_attributes_for_oid(oid)
        if attrs:
            value = attrs[0].value
            return value if isinstance(value, str) else value.decode("latin-1")
    return cert.subject.rfc4514_string() or "(empty subject)"


def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def _excluded_by(candidate: Candidate, patterns: tuple[str, ...]) -> str | None:
    for pattern in patterns:
        if pattern.startswith("sha256:"):
            wanted = pattern[len("sha256:") :].replace(":", "").lower()
            if candidate.sha256 == wanted:
                return pattern
        elif pattern.startswith("subject:") and pattern[len("subject:") :] in candidate.subject:
            return pattern
    return None


def _not_ca(cert: x509.Certificate, who: str) -> str:
    """Why a leaf cannot be an anchor, and what to embed instead."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = names.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    what = f"a leaf (server) certificate for {', '.join(dns[:3])}" if dns else "a leaf certificate"
    issuer = cert.issuer.rfc4514_string() or "(empty)"
    return (
        f"not a CA certificate (no basicConstraints CA:TRUE): {who}; it is {what}, which "
        "vouches for no other certificate, and trusting a server's own certificate breaks at "
        f"its next renewal. Embed the CA that issued it instead (issuer {issuer}; "
        "'openssl s_client -connect HOST:443 -showcerts' prints the chain, its last certificate "
        "is the root), or set allow_non_ca = True to trust exactly this certificate"
    )


def check(candidate: Candidate, spec: BundleSpec, now: datetime) -> tuple[list[str], list[str]]:
    """Errors and warnings for one certificate, each naming subject, SHA-256 and source."""
    errors: list[str] = []
    warnings: list[str] = []
    cert = candidate.cert
    who = candidate.describe()
    if not spec.allow_non_ca:
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            is_ca = constraints.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            errors.append(_not_ca(cert, who))
    not_after = cert.not_valid_after_utc
    if not_after <= now:
        errors.append(f"expired on {not_after:%Y-%m-%d}: {who}; exclude it or update the source")
    elif spec.min_days_valid and not_after <= now + timedelta(days=spec.min_days_valid):
        errors.append(
            f"expires on {not_after:%Y-%m-%d}, within min_days_valid={spec.min_days_valid}: {who}"
        )
    elif not_after <= now + timedelta(days=WARN_DAYS):
        warnings.append(f"expires on {not_after:%Y-%m-%d} (within {WARN_DAYS} days): {who}")
    if cert.not_valid_before_utc > now:
        warnings.append(f"not valid before {cert.not_valid_before_utc:%Y-%m-%d}: {who}")
    try:
        key = cert.public_key()
    except (ValueError, TypeError) as exc:
        errors.append(f"unsupported public key ({exc}): {who}")
    else:
        if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)) and key.key_size < MIN_RSA_BITS:
            kind = "RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"
            errors.append(f"{kind} key of {key.key_size} bits (< {MIN_RSA_BITS}): {who}")
    return errors, warnings


def assemble(
    spec: BundleSpec, now: datetime | None = None, relax_x509_strict: bool = False
) -> Bundle:
    """Load every source, validate every certificate, and return the sorted bundle.

    All problems are collected and raised as one :class:`BundleError`. Anchors that Python
    3.13+ rejects under ``VERIFY_X509_STRICT`` are kept, flagged and warned about
    (``relax_x509_strict``: the policy's opt-in, which only changes the advice given).
    """
    with pywarnings.catch_warnings():
        # Some old roots carry non-positive serials; cryptography warns on every access.
        pywarnings.filterwarnings("ignore", message="Parsed a serial number")
        return _assemble(spec, now, relax_x509_strict)


def _assemble(spec: BundleSpec, now: datetime | None, relax_x509_strict: bool) -> Bundle:
    now = now or datetime.now(timezone.utc)
    candidates, records = load_all(spec.sources)
    errors: list[str] = []
    warnings: list[str] = []
    excluded: list[tuple[str, str]] = []
    by_sha: dict[str, list[Candidate]] = {}
    used_patterns: set[str] = set()
    for candidate in candidates:
        pattern = _excluded_by(candidate, spec.exclude)
        if pattern is not None:
            used_patterns.add(pattern)
            excluded.append((candidate.sha256, pattern))
            continue
        by_sha.setdefault(candidate.sha256, []).append(candidate)
    for pattern in spec.exclude:
        if pattern not in used_patterns:
            warnings.append(f"exclude {pattern!r} matched no certificate")
    anchors: list[Anchor] = []
    duplicates = 0
    for sha, group in sorted(by_sha.items()):
        duplicates += len(group) - 1
        first = group[0]
        cert_errors, cert_warnings = check(first, spec, now)
        warnings.extend(cert_warnings)
        if cert_errors and all(c.source == "system_store" for c in group):
            # A snapshot of a store the user does not control (distros ship expired roots):
            # skip what fails validation, loudly, instead of failing the build.
            warnings.extend(f"skipped from system_store(): {e}" for e in cert_errors)
            continue
        errors.extend(cert_errors)
        if cert_errors:
            continue
        trust = max((c.trust for c in group), key=_ROLE_RANK.__getitem__)
        cert = first.cert
        serial = cert.serial_number
        strict = strict_problems(cert)
        if strict:
            public = all(c.source == "certifi" for c in group)
            warnings.append(strict_warning(first.describe(), strict, relax_x509_strict, public))
        anchors.append(
            Anchor(
                der=first.der,
                sha256=sha,
                subject=first.subject,
                issuer=cert.issuer.rfc4514_string(),
                label=_label(cert),
                serial=serial,
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                subject_hash=subject_hash(cert.subject),
                sources=tuple(sorted({c.source for c in group})),
                trust=trust,
                pem_text=_pem(first.der),
                strict=strict,
            )
        )
    if errors:
        count = len(errors)
        raise BundleError(
            f"{count} certificate error{'s' if count != 1 else ''}:\n"
            + "\n".join(f"  {e}" for e in errors)
        )
    if not anchors:
        detail = f" ({len(excluded)} excluded)" if excluded else ""
        raise BundleError(f"the bundle is empty: no certificate left from the sources{detail}")
    return Bundle(
        anchors=anchors,
        sources=records,
        duplicates_removed=duplicates,
        excluded=sorted(excluded),
        warnings=warnings,
    )
