"""Generate certificates with odd properties using ``cryptography``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

_EC_KEY = ec.generate_private_key(ec.SECP256R1())
_RSA_KEYS: dict[int, rsa.RSAPrivateKey] = {}


def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    if bits not in _RSA_KEYS:
        _RSA_KEYS[bits] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _RSA_KEYS[bits]


def make_cert(
    cn: str = "Test Root",
    *,
    name: x509.Name | None = None,
    ca: bool = True,
    days_valid: int = 3650,
    starts_days_ago: int = 1,
    rsa_bits: int | None = None,
    serial: int = 1000,
) -> x509.Certificate:
    key = rsa_key(rsa_bits) if rsa_bits else _EC_KEY
    subject = name or x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certembed tests"),
        ]
    )
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=starts_days_ago))
        .not_valid_after(now + timedelta(days=days_valid))
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=None), critical=True
        )
    return builder.sign(key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)
