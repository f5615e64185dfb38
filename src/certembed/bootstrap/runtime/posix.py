"""Linux and the BSDs (and illumos): the machine store is OpenSSL files and hashed directories.

OS-module shape (the same names in :mod:`.macos` and :mod:`.windows`; see :mod:`.shape`):
``find_machine_store``, ``refine_plan``, ``load_machine_files``, ``load_os_store``,
``os_store_pem``, ``cache_base`` and ``private_dir_ok``.

Hook points for the fast path (issue 14): :func:`find_machine_store` (what the probe reports)
and :func:`load_machine_files` (how a context loads the machine's file and directory).
"""

import os
import ssl
import sys

# certembed: dev-only begin
from typing import Any, Dict, List, Optional, Tuple

from certembed.bootstrap.runtime.stores import _load_verify_locations, probe

Table = Dict[str, Any]
Plan = Dict[str, Any]
Pair = Tuple[Optional[str], Optional[str]]
Probed = List[List[Any]]
# certembed: dev-only end

OS_FAMILY = "posix"


def find_machine_store(
    key: "str", table: "Table", compiled: "Optional[Pair]", probed: "Probed"
) -> "Tuple[bool, Optional[Pair]]":
    """(uses an OS certificate store, (cafile, capath) found on disk or None)."""
    found = probe(table, compiled, probed)
    return False, (found if (found[0] or found[1]) else None)


def refine_plan(plan: "Plan", mode: "str", roles: "Dict[str, int]") -> "None":
    """Adjust the decided plan for this OS (nothing to adjust on Linux/BSD)."""


def load_machine_files(
    context: "ssl.SSLContext", cafile: "Optional[str]", capath: "Optional[str]"
) -> "None":
    """Load the decided machine (or environment) file and directory into ``context``."""
    _load_verify_locations(context, cafile, capath)


def load_os_store(context: "ssl.SSLContext", purpose: "Any") -> "None":
    """No OS certificate store outside files and directories here."""


def os_store_pem() -> "bytes":
    return b""


def cache_base() -> "Optional[str]":
    """The per-user cache base: ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


def private_dir_ok(folder: "str") -> "bool":
    """A real directory (not a link) owned by this user and closed to everyone else."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    getuid = getattr(os, "getuid", None)
    if getuid is None or sys.platform == "win32":  # pragma: no cover - POSIX module
        return False
    return st.st_uid == getuid() and not st.st_mode & 0o077 and (st.st_mode & 0o170000) == 0o040000
