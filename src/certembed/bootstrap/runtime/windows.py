"""Windows: the machine store is CryptoAPI's ROOT and CA stores (as ``load_default_certs`` reads
them). OpenSSL's compiled-in directories (``C:\\Program Files\\Common Files\\SSL``, or
``C:\\usr\\local\\ssl`` which any user can create) are never consulted.

Same OS-module shape as :mod:`.posix` (see :mod:`.shape`). Hook points for the Windows trust
policy (issue 10): :func:`find_machine_store`, :func:`refine_plan` (which embedded roles join the
store in each mode), :func:`load_os_store` (what a context loads from CryptoAPI) and
:func:`os_store_pem` (the same anchors as PEM, for certifi and ``export_env``).
"""

import os
import ssl
import sys

# certembed: dev-only begin
from typing import Any, Dict, List, Optional, Tuple

from certembed.bootstrap.runtime.stores import _load_slots

Table = Dict[str, Any]
Plan = Dict[str, Any]
Pair = Tuple[Optional[str], Optional[str]]
Probed = List[List[Any]]
# certembed: dev-only end

OS_FAMILY = "windows"
_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"


def find_machine_store(
    key: "str", table: "Table", compiled: "Optional[Pair]", probed: "Probed"
) -> "Tuple[bool, Optional[Pair]]":
    """(uses an OS certificate store, (cafile, capath) found on disk or None)."""
    return table["system_store"] == "windows" and key == "windows", None


def refine_plan(plan: "Plan", mode: "str", roles: "Dict[str, int]") -> "None":
    """Adjust the decided plan for this OS (unchanged for now: see issue 10)."""


def load_machine_files(
    context: "ssl.SSLContext", cafile: "Optional[str]", capath: "Optional[str]"
) -> "List[str]":
    """Machine files: none on Windows (the table has no candidates); kept for the shape."""
    return _load_slots(context, cafile, capath)


def load_os_store(context: "ssl.SSLContext", purpose: "Any") -> "None":
    """Lib/ssl.py's own loading of the Windows stores."""
    if sys.platform != "win32":
        return
    for storename in context._windows_cert_stores:
        context._load_windows_store_certs(storename, purpose)


def os_store_pem() -> "bytes":  # pragma: no cover - Windows only
    """The ROOT and CA stores' server-auth certificates as PEM."""
    enum_certificates = getattr(ssl, "enum_certificates", None)
    if enum_certificates is None:
        return b""
    import base64

    seen = set()
    out = []
    for store in ("ROOT", "CA"):
        try:
            entries = enum_certificates(store)
        except Exception:
            continue
        for der, encoding, usage in entries:
            if encoding != "x509_asn" or der in seen:
                continue
            if usage is not True and _SERVER_AUTH not in usage:
                continue
            seen.add(der)
            text = base64.encodebytes(der).decode("ascii").replace("\n", "")
            lines = [text[i : i + 64] for i in range(0, len(text), 64)]
            out.append(
                "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
            )
    return "".join(out).encode("ascii")


def cache_base() -> "Optional[str]":
    """``%LOCALAPPDATA%`` (per user)."""
    return os.environ.get("LOCALAPPDATA")


def private_dir_ok(folder: "str") -> "bool":
    """A real directory; %LOCALAPPDATA% is per user by its ACL."""
    return os.path.isdir(folder) and not os.path.islink(folder)
