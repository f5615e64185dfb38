"""Where operating systems keep their trust stores: the candidate tables baked into bootstraps.

Sources: Go's crypto/x509 ``root_*.go``, rustls/openssl-probe 0.2.1, truststore 0.10.5 and
python-build-standalone. Files: the first that exists wins. Directories: used only when they hold
OpenSSL ``<hash>.<n>`` names (the RHEL trap: ``/etc/ssl/certs`` exists there without any).
"""

from __future__ import annotations

from typing import TypedDict


class Table(TypedDict):
    files: list[str]
    dirs: list[str]
    use_compiled_default: bool
    system_store: str  # "openssl" (files/dirs) or "windows" (CryptoAPI via load_default_certs)


_LINUX_FILES = [
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Gentoo, Arch, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # RHEL/CentOS, Fedora < 43
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # RHEL 7+, Fedora 43+ (only file left)
    "/etc/ssl/ca-bundle.pem",  # openSUSE, SLES
    "/etc/pki/tls/cacert.pem",  # OpenELEC
    "/etc/pki/tls/cert.pem",  # RHEL symlink
    "/etc/ssl/cert.pem",  # Alpine, Arch, Void
    "/opt/etc/ssl/certs/ca-certificates.crt",  # Entware
    "/etc/ssl/certs/cacert.pem",
]
_LINUX_DIRS = [
    "/etc/ssl/certs",  # Debian, Alpine, openSUSE (link to the next)
    "/var/lib/ca-certificates/openssl",  # openSUSE hashed dir
    "/etc/pki/tls/certs",  # RHEL (usually unhashed: skipped then)
    "/etc/security/certificates",
]

TABLES: dict[str, Table] = {
    "linux": {
        "files": _LINUX_FILES,
        "dirs": _LINUX_DIRS,
        "use_compiled_default": True,
        "system_store": "openssl",
    },
    "freebsd": {
        "files": [
            "/usr/local/etc/ssl/cert.pem",
            "/etc/ssl/cert.pem",
            "/usr/local/share/certs/ca-root-nss.crt",
        ],
        "dirs": ["/etc/ssl/certs", "/usr/local/share/certs"],
        "use_compiled_default": True,
        "system_store": "openssl",
    },
    "openbsd": {
        "files": ["/etc/ssl/cert.pem"],
        "dirs": ["/etc/ssl/certs"],
        "use_compiled_default": True,
        "system_store": "openssl",
    },
    "netbsd": {
        "files": ["/etc/openssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem"],
        "dirs": ["/etc/openssl/certs"],
        "use_compiled_default": True,
        "system_store": "openssl",
    },
    "dragonfly": {
        "files": ["/usr/local/share/certs/ca-root-nss.crt", "/usr/local/etc/ssl/cert.pem"],
        "dirs": ["/etc/ssl/certs"],
        "use_compiled_default": True,
        "system_store": "openssl",
    },
    "sunos": {
        "files": [
            "/etc/certs/ca-certificates.crt",
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/ssl/cacert.pem",
        ],
        "dirs": ["/etc/certs/CA"],
        "use_compiled_default": True,
        "system_store": "openssl",
    },
    # macOS: only Apple-maintained, root-owned locations. A frozen app's compiled-in OPENSSLDIR
    # may be Homebrew's (user-writable), so it is never consulted.
    "macos": {
        "files": ["/private/etc/ssl/cert.pem"],
        "dirs": ["/private/etc/ssl/certs"],
        "use_compiled_default": False,
        "system_store": "openssl",
    },
    # Windows: the system store is CryptoAPI's ROOT and CA stores, read by load_default_certs.
    # OpenSSL's compiled-in dirs (C:\Program Files\Common Files\SSL, or C:\usr\local\ssl which any
    # user can create) are never consulted.
    "windows": {
        "files": [],
        "dirs": [],
        "use_compiled_default": False,
        "system_store": "windows",
    },
}
