"""OpenSSL's subject-name hash, as ``openssl x509 -subject_hash`` and ``openssl rehash`` compute it.

OpenSSL hashes a *canonical* encoding of the name (``x509_name_canon`` in crypto/x509/x_name.c):
each string whose type is one of the "printable" kinds is converted to UTF-8, leading and trailing
ASCII white space is dropped, inner runs of it fold to one space, ASCII letters are lower-cased, and
the value is re-tagged as UTF8String. Other types keep their tag and bytes. Each RDN is then
DER-encoded as a SET OF (members sorted by their encoding) and the SETs are concatenated without
the outer SEQUENCE. The hash is the first four bytes of SHA-1 of that, read little-endian.

Getting this byte-exact matters: ``OpenSSL``'s hashed-directory lookup only finds files named
``<hash>.<n>``, so a wrong hash means a silently missing anchor.
"""

from __future__ import annotations

import hashlib

from cryptography import x509

# ASN.1 universal tags that OpenSSL canonicalises (ASN1_MASK_CANON).
_CANON_TAGS = frozenset({12, 19, 20, 22, 26, 28, 30})
_UTF8STRING = 12
_ASCII_SPACE = frozenset(b" \t\n\v\f\r")


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    first = arcs[0] * 40 + arcs[1]
    out = bytearray()
    for arc in [first, *arcs[2:]]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out.extend(reversed(chunk))
    return _tlv(0x06, bytes(out))


def canonical_string(raw: bytes) -> bytes:
    """OpenSSL's ``asn1_string_canon`` applied to a UTF-8 value."""
    start, end = 0, len(raw)
    while start < end and raw[start] in _ASCII_SPACE:
        start += 1
    while end > start and raw[end - 1] in _ASCII_SPACE:
        end -= 1
    out = bytearray()
    index = start
    while index < end:
        byte = raw[index]
        if byte >= 0x80:
            out.append(byte)
            index += 1
        elif byte in _ASCII_SPACE:
            out.append(0x20)
            while index < end and raw[index] in _ASCII_SPACE:
                index += 1
        else:
            out.append(byte + 32 if 0x41 <= byte <= 0x5A else byte)
            index += 1
    return bytes(out)


def _value_tlv(attribute: x509.NameAttribute[str | bytes]) -> bytes:
    tag = int(attribute._type.value)
    value = attribute.value
    if tag in _CANON_TAGS:
        text = value if isinstance(value, str) else value.decode("latin-1")
        return _tlv(_UTF8STRING, canonical_string(text.encode("utf-8")))
    if isinstance(value, str):
        return _tlv(tag, value.encode("utf-8"))
    if tag == 0x03:  # BIT STRING: cryptography hands back whole bytes
        return _tlv(tag, b"\x00" + value)
    return _tlv(tag, value)


def canonical_encoding(name: x509.Name) -> bytes:
    out = bytearray()
    for rdn in name.rdns:
        members = sorted(
            _tlv(0x30, _oid(attr.oid.dotted_string) + _value_tlv(attr)) for attr in rdn
        )
        out.extend(_tlv(0x31, b"".join(members)))
    return bytes(out)


def subject_hash(name: x509.Name) -> str:
    """The 8-hex-digit hash OpenSSL uses for ``<hash>.<n>`` file names (``-subject_hash``)."""
    digest = hashlib.sha1(canonical_encoding(name), usedforsecurity=False).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"
