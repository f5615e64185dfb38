"""Regenerate the demo certificates (committed so that builds are deterministic).

DEMO ONLY: the private keys below are public. They let the example app prove, offline, that a
frozen app verifies TLS against a root that certembed embedded. Never trust demo-root.pem anywhere.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).parent
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certembed demo (DO NOT TRUST)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def server(cn: str, issuer: x509.Name, issuer_key, self_signed: bool) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if self_signed else issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(START + timedelta(days=365 * 15))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            key.public_key() if self_signed else issuer_key.public_key()), critical=False)
        .sign(key if self_signed else issuer_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM) + key_pem(key)


def main() -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(name("certembed demo root"))
        .issuer_name(name("certembed demo root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(START + timedelta(days=365 * 20))
        # Key usage and key identifiers: Python 3.13+ default contexts (VERIFY_X509_STRICT)
        # reject roots without them.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, hashes.SHA256())
    )
    (HERE / "demo-root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (HERE / "demo-server.pem").write_bytes(server("127.0.0.1", root.subject, root_key, False))
    (HERE / "untrusted-server.pem").write_bytes(
        server("untrusted 127.0.0.1", root.subject, root_key, True))


if __name__ == "__main__":
    main()
