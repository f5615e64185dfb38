"""Run under Windows CPython (Wine): add or remove certificates in the current user's system
stores through CryptoAPI (crypt32), as an administrator or Windows Update would.

    python winstore.py add|remove STORE user|machine file.pem [file.pem ...]
    python winstore.py count STORE

Standard library only (ctypes); no certembed import.
"""

from __future__ import annotations

import ctypes
import ssl
import sys
from ctypes import wintypes

X509_ASN_ENCODING = 0x1
CERT_STORE_ADD_REPLACE_EXISTING = 3
# The registry-backed physical store itself: Wine 8 never flushes a write made through the
# system-store collection (CertOpenSystemStoreW), so open the registry store directly.
CERT_STORE_PROV_SYSTEM_REGISTRY_W = 13
LOCATIONS = {"user": 0x10000, "machine": 0x20000}  # CERT_SYSTEM_STORE_CURRENT_USER / LOCAL_MACHINE


def _crypt32() -> ctypes.WinDLL:  # type: ignore[name-defined,unused-ignore]
    lib = ctypes.WinDLL("crypt32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    lib.CertOpenStore.restype = ctypes.c_void_p
    lib.CertOpenStore.argtypes = [
        ctypes.c_void_p,
        wintypes.DWORD,
        ctypes.c_void_p,
        wintypes.DWORD,
        wintypes.LPCWSTR,
    ]
    lib.CertAddEncodedCertificateToStore.restype = wintypes.BOOL
    lib.CertAddEncodedCertificateToStore.argtypes = [
        ctypes.c_void_p,
        wintypes.DWORD,
        ctypes.c_char_p,
        wintypes.DWORD,
        wintypes.DWORD,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    lib.CertDeleteCertificateFromStore.restype = wintypes.BOOL
    lib.CertDeleteCertificateFromStore.argtypes = [ctypes.c_void_p]
    lib.CertCloseStore.argtypes = [ctypes.c_void_p, wintypes.DWORD]
    return lib


def _ders(paths: list[str]) -> list[bytes]:
    ders = []
    for path in paths:
        with open(path, encoding="ascii") as handle:
            text = handle.read()
        marker = "-----END CERTIFICATE-----"
        for block in text.split(marker)[:-1]:
            ders.append(ssl.PEM_cert_to_DER_cert(block.strip() + "\n" + marker + "\n"))
    return ders


def main(argv: list[str]) -> int:
    action, store = argv[0], argv[1]
    if action == "count":
        print(len(ssl.enum_certificates(store)))
        return 0
    lib = _crypt32()
    location = LOCATIONS[argv[2]]
    handle = lib.CertOpenStore(CERT_STORE_PROV_SYSTEM_REGISTRY_W, 0, None, location, store)
    if not handle:
        raise OSError(ctypes.get_last_error(), f"CertOpenStore({store}, {argv[2]})")
    try:
        for der in _ders(argv[3:]):
            added = ctypes.c_void_p()
            ok = lib.CertAddEncodedCertificateToStore(
                handle,
                X509_ASN_ENCODING,
                der,
                len(der),
                CERT_STORE_ADD_REPLACE_EXISTING,
                ctypes.byref(added),
            )
            if not ok:
                raise OSError(ctypes.get_last_error(), f"adding a certificate to {store}")
            if action == "remove" and not lib.CertDeleteCertificateFromStore(added):
                raise OSError(ctypes.get_last_error(), f"removing a certificate from {store}")
    finally:
        lib.CertCloseStore(handle, 0)
    print(len(ssl.enum_certificates(store)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
