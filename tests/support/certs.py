"""Generate certificates with odd properties using ``cryptography``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
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


def same_key_root(ca_key_pem: bytes, common_name: str, days: int) -> x509.Certificate:
    """Another self-signed CA certificate for the key in ``ca_key_pem`` (what a re-issued root
    looks like): only its public key matches the original certificate."""
    key = serialization.load_pem_private_key(ca_key_pem, password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )


# Trust anchors that break one rule of OpenSSL's X509_V_FLAG_X509_STRICT each (Python 3.13+
# sets it on default contexts); "clean" breaks none. See certembed.bundle.strict.
STRICT_VARIANTS = (
    "clean",
    "basic-constraints-not-critical",
    "no-key-usage",
    "no-subject-key-identifier",
    "no-basic-constraints",
)


def strict_variant_root(
    variant: str, cn: str | None = None
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed root with the defect ``variant`` (one of STRICT_VARIANTS)."""
    if variant not in STRICT_VARIANTS:
        raise ValueError(variant)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or f"Strict {variant}")])
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
    )
    if variant != "no-basic-constraints":
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None),
            critical=variant != "basic-constraints-not-critical",
        )
    if variant != "no-key-usage":
        builder = builder.add_extension(_key_usage(cert_sign=True), critical=True)
    if variant != "no-subject-key-identifier":
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    return key, builder.sign(key, hashes.SHA256())


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def issue_server_pem(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, *names: str
) -> bytes:
    """A well-formed (strict-clean) server certificate for ``names`` (IPs or DNS names) plus
    its key, as one PEM for ``SSLContext.load_cert_chain``."""
    import ipaddress

    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for item in names or ("127.0.0.1", "localhost"):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(item)))
        except ValueError:
            alt.append(x509.DNSName(item))
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "server")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return pem(cert) + key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
