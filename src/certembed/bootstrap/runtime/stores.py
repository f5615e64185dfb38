"""OpenSSL-style trust locations: usable files, hashed directories, the candidate-table probe.

Shared by every target (the Windows table simply has no candidates).
"""

import os
import ssl
import sys

# certembed: dev-only begin
from typing import Any, Callable, Dict, List, Optional, Tuple

Table = Dict[str, Any]
Pair = Tuple[Optional[str], Optional[str]]
Probed = List[List[Any]]
# certembed: dev-only end

_HEX = "0123456789abcdef"
_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
_PEM_END = b"-----END CERTIFICATE-----"
# The C implementation, whatever a subclass or another library (truststore) does to the class.
_load_verify_locations = ssl._SSLContext.load_verify_locations  # type: ignore[attr-defined]


_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _say(line: "str") -> "None":
    """``certembed: <line>`` on stderr; never raises (stderr may be closed or broken)."""
    try:
        sys.stderr.write("certembed: " + line + "\n")
    except Exception:
        pass


def _json(value: "Any") -> "str":
    """JSON text (sorted keys, ASCII) without importing ``json``: a frozen app may lack it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        out = []
        for char in value:
            code = ord(char)
            if char in _JSON_ESCAPES:
                out.append(_JSON_ESCAPES[char])
            elif 0x20 <= code < 0x7F:
                out.append(char)
            elif code > 0xFFFF:
                code -= 0x10000
                high, low = 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)
                out.append("\\u" + format(high, "04x") + "\\u" + format(low, "04x"))
            else:
                out.append("\\u" + format(code, "04x"))
        return '"' + "".join(out) + '"'
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ", ".join(_json(k) + ": " + _json(v) for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    return _json(str(value))


def _pem_blocks(blob: "bytes") -> "List[bytes]":
    """Every ``CERTIFICATE`` block of ``blob``, BEGIN line to END line plus a newline, in
    order; text between blocks is dropped and an unterminated block ends the list."""
    blocks = []
    pos = 0
    while True:
        start = blob.find(_PEM_BEGIN, pos)
        if start < 0:
            break
        stop = blob.find(_PEM_END, start)
        if stop < 0:
            break
        stop += len(_PEM_END)
        blocks.append(blob[start:stop] + b"\n")
        pos = stop
    return blocks


def _sha256_hex(data: "bytes") -> "str":
    """SHA-256 of ``data`` in hex. The interpreter's own ``_sha256`` (``_sha2`` from 3.12) loads
    in a small fraction of what ``import hashlib`` costs (which sets up OpenSSL's digests)."""
    if len(data) > 1 << 20:  # OpenSSL's SHA-256 is faster, worth the import for big inputs
        import hashlib

        return hashlib.sha256(data).hexdigest()
    try:
        if sys.version_info >= (3, 12):
            from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]
        else:
            from _sha256 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:  # pragma: no cover - an interpreter built without them
        from hashlib import sha256
    return str(sha256(data).hexdigest())


def _sha1_digest(data: "bytes") -> "bytes":
    """SHA-1 of ``data`` (OpenSSL's subject hash), through ``_sha1`` like :func:`_sha256_hex`."""
    try:
        from _sha1 import sha1  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - an interpreter built without it
        from hashlib import sha1
    return bytes(sha1(data).digest())


def _der_tlv(der: "bytes", pos: "int") -> "Tuple[int, int, int]":
    """(tag, content start, content end) of the DER element at ``pos``; ValueError if the
    element is truncated or its length is not a definite length of 1-4 bytes."""
    if pos + 2 > len(der):
        raise ValueError("truncated DER")
    tag = der[pos]
    length = der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(der):
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _owned_private_dir(folder: "str") -> "bool":
    """A real directory (not a link) owned by this user and closed to everyone else (POSIX:
    the private_dir_ok of posix.py and macos.py; never true on Windows)."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    getuid = getattr(os, "getuid", None)
    if getuid is None or sys.platform == "win32":  # pragma: no cover - POSIX only
        return False
    return st.st_uid == getuid() and not st.st_mode & 0o077 and (st.st_mode & 0o170000) == 0o040000


def _private_subdir(base: "Optional[str]", private_ok: "Callable[[str], bool]") -> "Optional[str]":
    """``<base>/certembed`` (made 0700 if missing) when ``base`` is absolute and the folder
    passes ``private_ok`` (the OS module's private_dir_ok), else None."""
    if not base or not os.path.isabs(base):
        return None
    folder = os.path.join(base, "certembed")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return folder if private_ok(folder) else None


def _usable_file(path: "str") -> "bool":
    """A regular, non-empty file (following links)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return (st.st_mode & 0o170000) == 0o100000 and st.st_size > 0


def _signature(path: "str") -> "Optional[Tuple[int, int, int, int, int]]":
    """What identifies one version of a file (device, inode, size, mtime and ctime in ns), or
    None when it cannot be read: a rewrite, a replacement or a ``touch`` changes it."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return _stat_signature(st)


def _stat_signature(st: "os.stat_result") -> "Tuple[int, int, int, int, int]":
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _hashed_name(name: "str") -> "bool":
    """``<8 hex>.<digits>`` (certificates) or ``<8 hex>.r<digits>`` (CRLs), as rehash writes."""
    if len(name) < 10 or name[8] != ".":
        return False
    if any(c not in _HEX for c in name[:8].lower()):
        return False
    tail = name[9:]
    if tail[:1] == "r":
        tail = tail[1:]
    return tail.isdigit()


def _hashed_dir(path: "str") -> "bool":
    """True only if ``path`` holds OpenSSL hash links (RHEL's /etc/ssl/certs holds none)."""
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if _hashed_name(entry.name):
                    return True
    except (OSError, ValueError):
        pass
    return False


def _hashed_files(capath: "str") -> "List[str]":
    """The certificate files of every directory in ``capath`` (``os.pathsep``-separated)."""
    found: "List[str]" = []
    for folder in capath.split(os.pathsep):
        if not folder:
            continue
        try:
            names = sorted(n for n in os.listdir(folder) if _hashed_name(n))
        except OSError:
            continue
        found.extend(os.path.join(folder, name) for name in names)
    return found


def _load_slots(
    context: "ssl.SSLContext", cafile: "Optional[str]", capath: "Optional[str]"
) -> "List[str]":
    """Load a file and a directory, each on its own; what cannot be loaded is skipped (as
    OpenSSL's own default loading does) and described in the returned list."""
    problems = []
    for kind, path in (("file", cafile), ("directory", capath)):
        if not path:
            continue
        try:
            if kind == "file":
                _load_verify_locations(context, path, None)
            else:
                _load_verify_locations(context, None, path)
        except (OSError, ValueError, ssl.SSLError) as exc:
            problems.append("cannot load " + kind + " " + path + " (" + str(exc) + "); skipped")
    return problems


def _first_usable(
    kind: "str", paths: "List[str]", usable: "Callable[[str], bool]", probed: "Probed"
) -> "Optional[str]":
    """The first of ``paths`` that is ``usable``, or None; each path tried is recorded in
    ``probed`` as [kind, path, usable]."""
    for path in paths:
        ok = usable(path)
        probed.append([kind, path, ok])
        if ok:
            return path
    return None


def probe(
    table: "Table", compiled: "Optional[Pair]" = None, probed: "Optional[Probed]" = None
) -> "Pair":
    """Find the machine's store: (cafile or None, capath or None).

    The compiled-in cafile if it exists, else the first candidate file; the compiled-in capath
    only if it holds hash links, else the first candidate dir that does.
    """
    if probed is None:
        probed = []
    if compiled is None and table["use_compiled_default"]:
        paths = ssl.get_default_verify_paths()
        compiled = (paths.openssl_cafile, paths.openssl_capath)
    files = list(table["files"])
    dirs = list(table["dirs"])
    if compiled is not None and table["use_compiled_default"]:
        if compiled[0]:
            files.insert(0, compiled[0])
        if compiled[1]:
            dirs.insert(0, compiled[1])
    cafile = _first_usable("file", files, _usable_file, probed)
    capath = _first_usable("dir", dirs, _hashed_dir, probed)
    return cafile, capath
