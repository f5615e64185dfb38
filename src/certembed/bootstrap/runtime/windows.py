"""Windows: the machine store is CryptoAPI's ``ROOT`` store, read with ``ssl.enum_certificates``
when a default context loads (never at import). OpenSSL's compiled-in directories
(``C:\\Program Files\\Common Files\\SSL``, or ``C:\\usr\\local\\ssl`` which any user can create) are
never consulted.

Policy (docs/windows.md):

- Windows fills ``ROOT`` lazily: it holds the roots some chain build has already fetched, so a
  root Microsoft trusts can be missing (cpython#80192). ``fill-gaps`` therefore trusts the ROOT
  store **plus** the embedded fallback roots (the public roots the store may lack); ``merge``
  already did; ``embedded-only`` reads no trust store.
- Only ROOT entries trusted for the context's purpose (server auth for a client) are loaded.
  The ``CA`` store (intermediates Windows cached) is not: with ``VERIFY_X509_PARTIAL_CHAIN``
  (CPython 3.13's default) every certificate loaded becomes an anchor, including intermediates
  of a root the machine distrusts.
- The ``Disallowed`` store wins over every source, in every mode: a certificate in it, or any
  certificate with the same public key, is never loaded, whether it comes from ROOT, the
  embedded fallback or the ``always`` role.
- A malformed store entry is skipped (one line on stderr under ``CERTEMBED_DEBUG=1``); it never
  fails the context.

Same OS-module shape as :mod:`.posix` (see :mod:`.shape`). Private helpers are ``_win_*``.
"""

import os
import ssl

# certembed: dev-only begin
from typing import Any, Dict, List, Optional, Set, Tuple

from certembed.bootstrap.runtime.stores import (
    _der_tlv,
    _load_slots,
    _load_verify_locations,
    _pem_blocks,
    _say,
)

Table = Dict[str, Any]
Plan = Dict[str, Any]
Pair = Tuple[Optional[str], Optional[str]]
Probed = List[List[Any]]
Distrust = Tuple[Set[bytes], Dict[bytes, bytes]]  # certificates; public key -> its entry
# certembed: dev-only end

OS_FAMILY = "windows"
_WIN_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
# Facts about this process's reading of the stores, for CERTEMBED_DEBUG and `certembed doctor`.
_WIN_NOTED: "Set[str]" = set()
_WIN_CACHE: "Dict[Any, List[bytes]]" = {}
_WIN_STATS: "Dict[str, Any]" = {}


def find_machine_store(
    key: "str", table: "Table", compiled: "Optional[Pair]", probed: "Probed"
) -> "Tuple[bool, Optional[Pair]]":
    """(uses an OS certificate store, (cafile, capath) found on disk or None)."""
    uses = table["system_store"] == "windows" and key == "windows"
    if uses:
        probed.append(["store", "ROOT (server auth, minus Disallowed)", True])
    return uses, None


def refine_plan(plan: "Plan", mode: "str", roles: "Dict[str, int]") -> "None":
    """fill-gaps with the Windows store: the embedded fallback joins it (lazy ROOT store)."""
    wanted = plan["windows_store"] and mode == "fill-gaps" and roles.get("fallback")
    if wanted and "fallback" not in plan["roles"]:
        plan["roles"].insert(0, "fallback")


def load_machine_files(
    context: "ssl.SSLContext", cafile: "Optional[str]", capath: "Optional[str]"
) -> "List[str]":
    """Machine files: none on Windows (the table has no candidates); kept for the shape."""
    return _load_slots(context, cafile, capath)


def file_capath(cafile: "str", capath: "Optional[str]") -> "Optional[Tuple[str, Any]]":
    """No fast path here: a client's ``load_verify_locations`` of the machine file loads it."""
    return None


def load_os_store(context: "ssl.SSLContext", purpose: "Any") -> "None":
    """The ROOT store's anchors for ``purpose``, minus Disallowed and malformed entries."""
    ders = _win_store_ders(getattr(purpose, "oid", _WIN_SERVER_AUTH))
    if ders:
        _load_verify_locations(context, None, None, b"".join(ders))


def os_store_pem() -> "bytes":
    """The same anchors as PEM (certifi's file, ``export_env``)."""
    return "".join(
        ssl.DER_cert_to_PEM_cert(der) for der in _win_store_ders(_WIN_SERVER_AUTH)
    ).encode("ascii")


# Whether filter_embedded can change an embedded role (else it is not called).
FILTERS_EMBEDDED = True


def filter_embedded(pem: "bytes", capath: "Optional[str]") -> "Optional[bytes]":
    """The PEM to load instead of an embedded role's hashed directory ``capath``, or None to
    load the directory: the role minus what the machine distrusts (Disallowed), or the whole
    role when ``capath`` is not ASCII (OpenSSL's directory lookup on Windows cannot open such
    a path; certifi's file and ``cadata`` can)."""
    distrust = _win_distrust()
    if distrust[0] or distrust[1]:
        kept = []
        removed = 0
        for raw in _pem_blocks(pem):
            block = raw.decode("ascii", "replace")
            try:
                der = ssl.PEM_cert_to_DER_cert(block)
            except Exception:
                kept.append(block)
                continue
            blocker = _win_blocked(der, distrust)
            if blocker is not None:
                removed += 1
                _win_note_blocked("an embedded root", der, blocker)
            else:
                kept.append(block)
        if removed:
            return "".join(kept).encode("ascii")
    if capath is not None and not capath.isascii():
        return pem
    return None


def cache_base() -> "Optional[str]":
    """``%LOCALAPPDATA%`` (per user)."""
    return os.environ.get("LOCALAPPDATA")


def private_dir_ok(folder: "str") -> "bool":
    """A real directory (not a link). No owner and mode bits to check the folders above as on
    POSIX (stores._private_dir_problem): %LOCALAPPDATA% is under the user's profile, whose
    default ACL grants only the user, SYSTEM and Administrators, and nothing here is read
    lazily by path for the life of the process (no fast path on Windows; export_env's file is
    read by children when they start)."""
    return os.path.isdir(folder) and not os.path.islink(folder)


def _win_debug() -> "bool":
    return os.environ.get("CERTEMBED_DEBUG") == "1"


def _win_note(message: "str", der: "Optional[bytes]" = None) -> "None":
    """One stderr line per distinct fact, under CERTEMBED_DEBUG=1 only."""
    if der is not None:
        import hashlib

        message += " (sha256 " + hashlib.sha256(der).hexdigest() + ")"
    if message in _WIN_NOTED:
        return
    _WIN_NOTED.add(message)
    if _win_debug():
        _say("windows store: " + message)


def _win_entries(store: "str") -> "List[Any]":
    """``ssl.enum_certificates(store)``; an unreadable store counts as empty (said in debug)."""
    enum_certificates = getattr(ssl, "enum_certificates", None)
    if enum_certificates is None:
        return []
    try:
        return list(enum_certificates(store))
    except Exception as exc:
        _win_note("cannot read the " + store + " store: " + repr(exc))
        return []


def _win_spki(der: "bytes") -> "Optional[bytes]":
    """The subjectPublicKeyInfo element of a certificate, or None if it cannot be found."""
    try:
        tag, start, _ = _der_tlv(der, 0)
        if tag != 0x30:
            return None
        tag, pos, end = _der_tlv(der, start)  # tbsCertificate
        if tag != 0x30:
            return None
        fields: "List[Tuple[int, int, int]]" = []
        while pos < end and len(fields) < 7:
            tag, _, stop = _der_tlv(der, pos)
            fields.append((tag, pos, stop))
            pos = stop
        if fields and fields[0][0] == 0xA0:  # [0] version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
        if len(fields) < 6 or fields[5][0] != 0x30:
            return None
        return der[fields[5][1] : fields[5][2]]
    except ValueError:
        return None


def _win_distrust() -> "Distrust":
    """(certificates, public keys) in the Disallowed store."""
    certs: "Set[bytes]" = set()
    keys: "Dict[bytes, bytes]" = {}
    for entry in _win_entries("Disallowed"):
        der = entry[0]
        if entry[1] != "x509_asn":
            continue
        certs.add(der)
        spki = _win_spki(der)
        if spki is not None:
            keys.setdefault(spki, der)
    _WIN_STATS["Disallowed"] = len(certs)
    return certs, keys


def _win_blocked(der: "bytes", distrust: "Distrust") -> "Optional[bytes]":
    """The Disallowed entry that distrusts ``der`` (itself, or one with its public key)."""
    if der in distrust[0]:
        return der
    spki = _win_spki(der)
    return None if spki is None else distrust[1].get(spki)


def _win_note_blocked(what: "str", der: "bytes", blocker: "bytes") -> "None":
    """Say which Disallowed entry stopped ``der``: the same certificate, or another one with
    its public key (then both hashes: only the second is in Disallowed)."""
    if blocker == der:
        _win_note("not trusting " + what + " that is in the Disallowed store", der)
        return
    import hashlib

    _win_note(
        "not trusting "
        + what
        + " (sha256 "
        + hashlib.sha256(der).hexdigest()
        + ") that has the public key of Disallowed entry sha256 "
        + hashlib.sha256(blocker).hexdigest()
        + " (matched by key)"
    )


def _win_store_ders(oid: "str") -> "List[bytes]":
    """ROOT entries trusted for ``oid``, not distrusted, each loadable by OpenSSL."""
    distrust = _win_distrust()
    entries = _win_entries("ROOT")
    wanted = []
    seen: "Set[bytes]" = set()
    skipped_distrust = 0
    for entry in entries:
        der, encoding, trust = entry[0], entry[1], entry[2]
        if encoding != "x509_asn" or der in seen:
            continue
        if trust is not True and oid not in trust:
            continue
        seen.add(der)
        blocker = _win_blocked(der, distrust)
        if blocker is not None:
            skipped_distrust += 1
            _win_note_blocked("a ROOT entry", der, blocker)
            continue
        wanted.append(der)
    key = (oid, tuple(wanted))
    good = _WIN_CACHE.get(key)
    if good is None:
        good = _win_loadable(wanted)
        _WIN_CACHE.clear()
        _WIN_CACHE[key] = good
    stats = {
        "ROOT": len(entries),
        "purpose": len(seen),
        "Disallowed": _WIN_STATS.get("Disallowed", 0),
        "distrusted": skipped_distrust,
        "malformed": len(wanted) - len(good),
        "loaded": len(good),
    }
    if stats != _WIN_STATS.get("last"):
        _WIN_STATS["last"] = stats
        if _win_debug():
            import json

            _win_note(json.dumps(stats, sort_keys=True))
    return good


def _win_loadable(ders: "List[bytes]") -> "List[bytes]":
    """The entries OpenSSL accepts: all at once if it can, else one by one (malformed skipped)."""
    if not ders:
        return []
    scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        _load_verify_locations(scratch, None, None, b"".join(ders))
        return list(ders)
    except (ssl.SSLError, ValueError):
        pass
    good = []
    for der in ders:
        try:
            _load_verify_locations(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), None, None, der)
        except (ssl.SSLError, ValueError) as exc:
            _win_note("skipping a malformed ROOT entry: " + str(exc), der)
            continue
        good.append(der)
    return good


def _win_store_counts() -> "Dict[str, Any]":
    """What the stores hold and what a default client context would load from them (for
    ``certembed doctor``): ROOT entries, those trusted for server auth, Disallowed entries,
    ROOT entries dropped as distrusted or malformed, loaded; and the CA store's size."""
    _win_store_ders(_WIN_SERVER_AUTH)
    counts = dict(_WIN_STATS.get("last") or {})
    counts["CA"] = len(_win_entries("CA"))
    return counts


def store_counts() -> "Optional[Dict[str, Any]]":
    """The ROOT, Disallowed and CA stores' counts (:func:`_win_store_counts`), for doctor."""
    return _win_store_counts()


def seen(kind: "str", key: "str", base: "str", names: "Optional[List[str]]") -> "Optional[str]":
    """No record of files found unchanged here: they are read again (see posix.seen)."""
    return None


def remember(
    kind: "str", key: "str", base: "str", names: "List[str]", said: "str", started_ns: "int"
) -> "None":
    """Nothing is recorded here (see posix.remember)."""
