"""Linux and the BSDs (and illumos): the machine store is OpenSSL files and hashed directories.

OS-module shape (the same names in :mod:`.macos` and :mod:`.windows`; see :mod:`.shape`):
``find_machine_store``, ``refine_plan``, ``load_machine_files``, ``load_os_store``,
``os_store_pem``, ``cache_base``, ``private_dir_ok``, ``store_counts``... (:class:`.shape.OSModule`)

Hook points for the fast path: :func:`find_machine_store` (what the probe reports)
and :func:`load_machine_files` (how a context loads the machine's file and directory).
"""

import os
import ssl
import sys

# certembed: dev-only begin
from typing import Any, Dict, List, Optional, Tuple

from certembed.bootstrap.runtime.fastpath import FpInfo, fp_capath
from certembed.bootstrap.runtime.fpcache import (
    _fp_cache_root,
    _fp_made,
    fp_seen,
    fp_store_seen,
)
from certembed.bootstrap.runtime.stores import (
    _cache_folder,
    _json,
    _load_slots,
    _load_verify_locations,
    _owned_private_dir,
    _say,
    probe,
)

Table = Dict[str, Any]
Plan = Dict[str, Any]
Pair = Tuple[Optional[str], Optional[str]]
Probed = List[List[Any]]
# certembed: dev-only end

OS_FAMILY = "posix"
# The machine store the probe found, and the fast path decided for it (once per process).
_FP_MACHINE: "List[Optional[Pair]]" = [None]
_FP_DECIDED: "Dict[Pair, Optional[str]]" = {}
# Per machine store: a capath trusting exactly its file's certificates, and that file's version.
_FP_ALONE: "Dict[Pair, FpInfo]" = {}
# The private cache folder (or None, and why), and its record folder, once per process.
_FP_CACHE: "List[Tuple[Optional[str], str]]" = []
_FP_RECORDS: "List[Optional[str]]" = []


def find_machine_store(
    key: "str", table: "Table", compiled: "Optional[Pair]", probed: "Probed"
) -> "Tuple[bool, Optional[Pair]]":
    """(uses an OS certificate store, (cafile, capath) found on disk or None)."""
    found = probe(table, compiled, probed)
    machine = found if (found[0] or found[1]) else None
    _FP_MACHINE[0] = machine
    _FP_DECIDED.clear()
    _FP_ALONE.clear()
    del _FP_CACHE[:], _FP_RECORDS[:]
    return False, machine


def refine_plan(plan: "Plan", mode: "str", roles: "Dict[str, int]") -> "None":
    """Adjust the decided plan for this OS (nothing to adjust on Linux/BSD)."""


def load_machine_files(
    context: "ssl.SSLContext", cafile: "Optional[str]", capath: "Optional[str]"
) -> "List[str]":
    """Load the machine store's file and/or directory into ``context`` (core passes only the
    slots the environment does not override); return what could not be loaded (skipped).

    The machine's own store takes the fast path: a hashed-directory ``capath``
    trusting exactly what the file and directory trust (see :mod:`.fastpath`). Locations the
    user names (``SSL_CERT_FILE``/``SSL_CERT_DIR``) load as they are, as OpenSSL loads them.
    """
    if cafile is not None and (cafile, capath) == _FP_MACHINE[0]:
        fast = _fp_decided(cafile, capath)
        if fast is not None:
            try:
                _load_verify_locations(context, None, fast)
                return []
            except (OSError, ValueError, ssl.SSLError):
                pass  # the files as they are, below
    return _load_slots(context, cafile, capath)


def _fp_decided(cafile: "str", capath: "Optional[str]") -> "Optional[str]":
    """The fast-path capath for the machine store, decided at the first default context of
    the process (two threads racing here both decide, identically; the cache is race-safe)."""
    pair = (cafile, capath)
    if pair in _FP_DECIDED:
        return _FP_DECIDED[pair]
    debug = os.environ.get("CERTEMBED_DEBUG") == "1"
    if debug:
        import time

        started = time.perf_counter()
    info: "FpInfo" = {"cafile": cafile, "capath": capath}
    alone: "FpInfo" = {}
    try:
        fast = fp_capath(cafile, capath, lambda: _fp_cache_dir(info), info, alone)
    except Exception as exc:  # never break a default context: load the files as they are
        info["fastpath"] = f"off: unexpected {type(exc).__name__}: {exc}"
        fast = None
    _FP_DECIDED[pair] = fast
    _FP_ALONE[pair] = alone
    if debug:
        info["capath_used"] = fast
        info["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 3)
        _say("fastpath " + _json(info))
    return fast


def file_capath(cafile: "str", capath: "Optional[str]") -> "Optional[Tuple[str, Any]]":
    """For the machine store (``cafile``, ``capath``) as probed: (a directory the fast path
    decided that trusts exactly ``cafile``'s certificates, the identity of the file version it
    was decided from; see :func:`.stores._signature`), or None."""
    pair = (cafile, capath)
    if pair != _FP_MACHINE[0]:
        return None
    _fp_decided(cafile, capath)
    alone = _FP_ALONE.get(pair) or {}
    if alone.get("capath") is None:
        return None
    return alone["capath"], alone["signature"]


def _fp_cache_dir(info: "Optional[FpInfo]" = None) -> "Optional[str]":
    """``<cache base>/certembed`` when it is (or can be made) a private directory of ours under
    folders only root or this user can change; else None, and ``info["cache"]`` says why.
    Checked once per process (the folders above can change only by root or this user)."""
    if sys.platform == "win32" or not hasattr(os, "getuid"):  # pragma: no cover - POSIX module
        return None
    if not _FP_CACHE:
        _FP_CACHE.append(_cache_folder(cache_base(), private_dir_ok, True, "certembed"))
    folder, why = _FP_CACHE[0]
    if folder is None and info is not None:
        info["cache"] = "not served: " + why
    return folder


def _fp_records(create: "bool") -> "Optional[str]":
    """``<cache>/certembed/hashed-v1`` when the private cache can be served (checked once per
    process), else None. Without ``create``, nothing is made to find out: no cache folder yet
    means no record yet."""
    if not _FP_RECORDS:
        if not create:
            base = cache_base()
            if not base or not _fp_made(base):
                return None
        cache = _fp_cache_dir()
        _FP_RECORDS.append(_fp_cache_root(cache) if cache is not None else None)
    return _FP_RECORDS[0]


def seen(kind: "str", key: "str", base: "str", names: "Optional[List[str]]") -> "Optional[str]":
    """What a process of this user recorded about ``base`` and ``names`` under it (for
    ``kind`` and ``key``; ``names=None``: those the record lists), when none has changed
    since; else None (see fpcache.fp_seen)."""
    root = _fp_records(False)
    return fp_seen(root, kind, key, base, names) if root is not None else None


def remember(
    kind: "str", key: "str", base: "str", names: "List[str]", said: "str", started_ns: "int"
) -> "None":
    """Record ``said`` about ``base`` and ``names``, read from ``started_ns`` on, for
    :func:`seen` in later processes (nothing when the private cache cannot be served; the
    cache folder is made only when there is a record to write)."""
    fp_store_seen(lambda: _fp_records(True), kind, key, base, names, said, started_ns)


def load_os_store(context: "ssl.SSLContext", purpose: "Any") -> "None":
    """No OS certificate store outside files and directories here."""


# Whether filter_embedded can change an embedded role (else it is not called).
FILTERS_EMBEDDED = False


def filter_embedded(pem: "bytes", capath: "Optional[str]") -> "Optional[bytes]":
    """Nothing to remove: this OS has no distrust store certembed reads."""
    return None


def os_store_pem() -> "bytes":
    return b""


def cache_base() -> "Optional[str]":
    """The per-user cache base: ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


def private_dir_ok(folder: "str") -> "bool":
    """A real directory (not a link) owned by this user and closed to everyone else."""
    return _owned_private_dir(folder)


def store_counts() -> "Optional[Dict[str, Any]]":
    """No OS certificate store beyond files here (doctor reports the probe instead)."""
    return None
