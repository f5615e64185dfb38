"""macOS: Apple's root-owned OpenSSL files only (``/private/etc/ssl``); never the frozen
OpenSSL's compiled-in directory (possibly Homebrew's, user-writable: the table says so).

Same OS-module shape as :mod:`.posix` (see :mod:`.shape`).
"""

import os
import ssl

# certembed: dev-only begin
from typing import Any, Dict, List, Optional, Tuple

from certembed.bootstrap.runtime.stores import _load_slots, _owned_private_dir, probe

Table = Dict[str, Any]
Plan = Dict[str, Any]
Pair = Tuple[Optional[str], Optional[str]]
Probed = List[List[Any]]
# certembed: dev-only end

OS_FAMILY = "macos"


def find_machine_store(
    key: "str", table: "Table", compiled: "Optional[Pair]", probed: "Probed"
) -> "Tuple[bool, Optional[Pair]]":
    """(uses an OS certificate store, (cafile, capath) found on disk or None)."""
    found = probe(table, compiled, probed)
    return False, (found if (found[0] or found[1]) else None)


def refine_plan(plan: "Plan", mode: "str", roles: "Dict[str, int]") -> "None":
    """Nothing to adjust: the keychain is not read (decision and reasons: docs/runtime.md)."""


def load_machine_files(
    context: "ssl.SSLContext", cafile: "Optional[str]", capath: "Optional[str]"
) -> "List[str]":
    return _load_slots(context, cafile, capath)


def file_capath(cafile: "str", capath: "Optional[str]") -> "Optional[Tuple[str, Any]]":
    """No fast path here: a client's ``load_verify_locations`` of the machine file loads it."""
    return None


def load_os_store(context: "ssl.SSLContext", purpose: "Any") -> "None":
    """The keychain is not read (see the runtime contract)."""


# Whether filter_embedded can change an embedded role (else it is not called).
FILTERS_EMBEDDED = False


def filter_embedded(pem: "bytes", capath: "Optional[str]") -> "Optional[bytes]":
    """Nothing to remove: this OS has no distrust store certembed reads."""
    return None


def os_store_pem() -> "bytes":
    return b""


def cache_base() -> "Optional[str]":
    """``~/Library/Caches``."""
    return os.path.join(os.path.expanduser("~"), "Library", "Caches")


def private_dir_ok(folder: "str") -> "bool":
    """A real directory (not a link) owned by this user and closed to everyone else."""
    return _owned_private_dir(folder)


def store_counts() -> "Optional[Dict[str, Any]]":
    """No OS certificate store beyond files here (doctor reports the probe instead)."""
    return None


def seen(kind: "str", key: "str", base: "str", names: "Optional[List[str]]") -> "Optional[str]":
    """No record of files found unchanged here: they are read again (see posix.seen)."""
    return None


def remember(
    kind: "str", key: "str", base: "str", names: "List[str]", said: "str", started_ns: "int"
) -> "None":
    """Nothing is recorded here (see posix.remember)."""
