"""Our subject hash equals ``openssl x509 -subject_hash`` for every certifi root and odd names."""

from __future__ import annotations

import re
import subprocess
import warnings

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from certembed.bootstrap.runtime.fastpath import fp_subject_hash
from certembed.bundle.subject_hash import canonical_string, subject_hash
from tests.support.certs import make_cert, pem


def openssl_hashes(pems: list[bytes]) -> list[str]:
    out = []
    for blob in pems:
        proc = subprocess.run(
            ["openssl", "x509", "-noout", "-subject_hash"],
            input=blob,
            capture_output=True,
            check=True,
        )
        out.append(proc.stdout.decode().strip())
    return out


def test_every_certifi_root_matches_openssl():
    text = certifi.contents()
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", text, re.S)
    assert len(blocks) > 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few old roots have non-positive serial numbers
        certs = [x509.load_pem_x509_certificate(b.encode()) for b in blocks]
    theirs = openssl_hashes([b.encode() for b in blocks])
    assert [subject_hash(c.subject) for c in certs] == theirs
    # The bootstrap's standard-library version (runtime fast path), from the DER alone.
    assert [fp_subject_hash(c.public_bytes(Encoding.DER)) for c in certs] == theirs


A = x509.NameAttribute
ODD_NAMES = {
    "case": [A(NameOID.COMMON_NAME, "MiXeD CaSe Root"), A(NameOID.COUNTRY_NAME, "DE")],
    "spaces": [A(NameOID.COMMON_NAME, "  lots   of \t spaces  ")],
    "utf8": [A(NameOID.COMMON_NAME, "Zertifizierungsstelle Ä Ö Ü ß ÉCOLE 日本")],
    "printable": [A(NameOID.COMMON_NAME, "Printable Root", _ASN1Type.PrintableString)],
    "ia5": [A(NameOID.EMAIL_ADDRESS, "PKI@Example.COM")],
    "bmp": [A(NameOID.COMMON_NAME, "BMP Straße Root", _ASN1Type.BMPString)],
    "universal": [A(NameOID.COMMON_NAME, "Universal Ω Root", _ASN1Type.UniversalString)],
    "t61": [A(NameOID.COMMON_NAME, "Teletex Root", _ASN1Type.T61String)],
    "numeric_kept": [
        A(NameOID.COMMON_NAME, "Numeric"),
        A(x509.ObjectIdentifier("2.5.4.5"), "0042", _ASN1Type.PrintableString),
    ],
    "empty_value": [A(NameOID.COMMON_NAME, "   ", _ASN1Type.UTF8String)],
}


@pytest.mark.parametrize("label", sorted(ODD_NAMES))
def test_odd_names_match_openssl(label):
    cert = make_cert(name=x509.Name(ODD_NAMES[label]))
    theirs = openssl_hashes([pem(cert)])[0]
    assert subject_hash(cert.subject) == theirs
    assert fp_subject_hash(cert.public_bytes(Encoding.DER)) == theirs


def test_multi_valued_rdn_matches_openssl():
    rdn = x509.RelativeDistinguishedName(
        [
            A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Zeta Unit"),
            A(NameOID.COMMON_NAME, "Alpha Multi RDN"),
        ]
    )
    name = x509.Name([x509.RelativeDistinguishedName([A(NameOID.COUNTRY_NAME, "US")]), rdn])
    cert = make_cert(name=name)
    theirs = openssl_hashes([pem(cert)])[0]
    assert subject_hash(cert.subject) == theirs
    assert fp_subject_hash(cert.public_bytes(Encoding.DER)) == theirs


def test_canonical_string_rules():
    assert canonical_string(b"  A  B\tC  ") == b"a b c"
    assert canonical_string("ÄB".encode()) == "Äb".encode()
    assert canonical_string(b"") == b""
