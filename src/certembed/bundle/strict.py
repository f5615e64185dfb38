"""Which trust anchors Python 3.13+ rejects under ``VERIFY_X509_STRICT``.

Python 3.13's ``ssl.create_default_context()`` (and urllib3 2 on 3.13+) sets OpenSSL's
``X509_V_FLAG_X509_STRICT``. With it, OpenSSL checks every certificate of the chain, the trust
anchor included, against RFC 5280 rules that many corporate and TLS-inspection roots break, and
the handshake fails although the same root works on 3.12. Each rule below was seen failing a
real handshake under CPython 3.13 with OpenSSL 3.0 (``tests/test_strict.py`` repeats it), and
carries the message OpenSSL prints, so a user can match it against the error they see.

Rules that every Python enforces anyway (a critical key identifier, a keyUsage without
``keyCertSign``) are not strict-mode problems and are not listed here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from cryptography import x509


@dataclass(frozen=True)
class StrictRule:
    code: str  # stable, for the manifest and --json
    problem: str  # what is wrong with the certificate
    openssl: str  # what Python 3.13+ reports (ssl.SSLCertVerificationError.verify_message)


RULES = {
    rule.code: rule
    for rule in (
        StrictRule(
            "v1-certificate",
            "X.509 v1 certificate (no extensions, so no basicConstraints CA:TRUE)",
            "invalid CA certificate",
        ),
        StrictRule(
            "no-basic-constraints",
            "no basicConstraints extension",
            "invalid CA certificate",
        ),
        StrictRule(
            "basic-constraints-not-critical",
            "basicConstraints is not marked critical",
            "Basic Constraints of CA cert not marked critical",
        ),
        StrictRule(
            "no-key-usage",
            "no keyUsage extension",
            "CA cert does not include key usage extension",
        ),
        StrictRule(
            "no-subject-key-identifier",
            "no subjectKeyIdentifier extension",
            "Missing Subject Key Identifier",
        ),
    )
}


def strict_problems(cert: x509.Certificate) -> tuple[str, ...]:
    """Codes of :data:`RULES` that ``cert``, used as a trust anchor, breaks (sorted)."""
    with warnings.catch_warnings():
        # Some old roots carry non-positive serials; cryptography warns on every access.
        warnings.filterwarnings("ignore", message="Parsed a serial number")
        return _problems(cert)


def _problems(cert: x509.Certificate) -> tuple[str, ...]:
    if cert.version == x509.Version.v1:
        return ("v1-certificate",)
    found: list[str] = []
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        found.append("no-basic-constraints")
    else:
        if not constraints.critical:
            found.append("basic-constraints-not-critical")
    for ext_class, code in (
        (x509.KeyUsage, "no-key-usage"),
        (x509.SubjectKeyIdentifier, "no-subject-key-identifier"),
    ):
        try:
            cert.extensions.get_extension_for_class(ext_class)
        except x509.ExtensionNotFound:
            found.append(code)
    return tuple(sorted(found))


def explain(codes: tuple[str, ...] | list[str]) -> str:
    """``basicConstraints is not marked critical ("Basic Constraints of CA cert not marked
    critical")``, joined with ``; `` for several codes."""
    return "; ".join(f'{RULES[c].problem} ("{RULES[c].openssl}")' for c in codes if c in RULES)


STRICT_PREFIX = "strict X.509 (Python 3.13+):"


def strict_warning(who: str, codes: tuple[str, ...], relaxed: bool, public: bool) -> str:
    """The build warning for one anchor; ``who`` names it (subject, SHA-256, source).

    ``public``: the anchor comes only from certifi (a public root that the app did not choose,
    which fails on 3.13+ with or without certembed); ``relaxed``: the config opts in to
    ``relax_x509_strict``.
    """
    if relaxed:
        outcome = (
            "Python 3.13+ rejects it under VERIFY_X509_STRICT; relax_x509_strict = true "
            "clears that flag on the contexts that load certembed's anchors"
        )
    elif public:
        outcome = (
            "Python 3.13+ default contexts (VERIFY_X509_STRICT) reject servers that chain to "
            "this public root, with or without certembed"
        )
    else:
        outcome = (
            "Python 3.13+ default contexts (VERIFY_X509_STRICT) reject every server it signs "
            "with CERTIFICATE_VERIFY_FAILED; re-issue the root with these extensions, or set "
            "relax_x509_strict = true (docs/config.md)"
        )
    return f"{STRICT_PREFIX} {explain(codes)}: {who}; {outcome}"
