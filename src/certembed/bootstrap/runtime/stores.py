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


def _private_dir_problem(folder: "str") -> "Optional[str]":
    """Why ``folder`` cannot hold files OpenSSL reads by path for the life of a process (a
    hashed directory, an exported CA file), or None when it can. POSIX (posix.py, macos.py):
    ``folder`` is a real directory (not a link) owned by this user, closed to group and
    others, and every folder above it passes :func:`_ancestry_problem`."""
    getuid = getattr(os, "getuid", None)
    if getuid is None or sys.platform == "win32":
        return "no POSIX owner and mode bits here"
    try:
        st = os.lstat(folder)
    except (OSError, ValueError) as exc:
        return "cannot check " + folder + " (" + str(getattr(exc, "strerror", None) or exc) + ")"
    mode = st.st_mode
    if (mode & 0o170000) != 0o040000:
        return folder + " is not a real directory (a link or another file type)"
    if st.st_uid != getuid():
        return folder + " is owned by uid " + str(st.st_uid) + ", not this user"
    if mode & 0o077:
        return folder + " is open to group or others (mode " + oct(mode & 0o7777) + ")"
    return _ancestry_problem(os.path.dirname(folder))


def _ancestry_problem(path: "str") -> "Optional[str]":
    """Why a cache cannot live under ``path``, or None: ``path`` and every folder above it, up
    to ``/``, must be real directories owned by root or this user and not writable by group or
    others, unless sticky (``/tmp``: there only an entry's owner, or the folder's owner, itself
    root or this user, can rename or remove it). Else a user who can write one of them could
    swap the cache after it was checked, and every context would read that user's
    certificates (as OpenSSH's StrictModes reasons). POSIX ACLs granting write show in the
    group bits (the ACL mask), so they count as group-writable. POSIX only."""
    uid = os.getuid()  # type: ignore[attr-defined,unused-ignore]
    while True:
        try:
            st = os.lstat(path)
        except (OSError, ValueError) as exc:
            return "cannot check " + path + " (" + str(getattr(exc, "strerror", None) or exc) + ")"
        mode = st.st_mode
        if (mode & 0o170000) != 0o040000:
            return path + " (above the cache) is not a real directory"
        if st.st_uid not in (0, uid):
            return (
                path + " (above the cache) is owned by uid " + str(st.st_uid) + ", neither "
                "root nor this user"
            )
        if mode & 0o022 and not mode & 0o1000:
            return (
                path + " (above the cache) is writable by group or others without the sticky "
                "bit (mode " + oct(mode & 0o7777) + ")"
            )
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def _owned_private_dir(folder: "str") -> "bool":
    """A real directory (not a link) owned by this user, closed to everyone else, under folders
    only root or this user can change (see :func:`_private_dir_problem`; the private_dir_ok of
    posix.py and macos.py; never true on Windows)."""
    return _private_dir_problem(folder) is None


def _cache_folder(
    base: "Optional[str]", private_ok: "Callable[[str], bool]", create: "bool", name: "str"
) -> "Tuple[Optional[str], str]":
    """(``<base>/<name>`` with links above it resolved, or None; why not). Made 0700 when
    missing only if ``create`` (a cache folder is made when something is written there); then
    it must pass ``private_ok`` (the OS module's private_dir_ok)."""
    if not base or not os.path.isabs(base):
        return None, "no absolute cache base"
    folder = os.path.join(base, name)
    posix = hasattr(os, "getuid") and sys.platform != "win32"
    try:
        # POSIX: the folders above are checked where they really are (links resolved).
        real = os.path.join(os.path.realpath(base), name) if posix else folder
        try:
            os.lstat(folder)
        except FileNotFoundError:
            if not create:
                return None, folder + " does not exist (yet)"
            # Nothing is made in a place that could not be served anyway.
            if posix:
                above = os.path.dirname(real)
                while not os.path.lexists(above) and os.path.dirname(above) != above:
                    above = os.path.dirname(above)
                why = _ancestry_problem(above)
                if why is not None:
                    return None, why
            os.makedirs(folder, mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)  # whatever the umask: this user must write into it
    except (OSError, ValueError) as exc:
        return None, "cannot create " + folder + " (" + str(
            getattr(exc, "strerror", None) or exc
        ) + ")"
    if private_ok(real):
        return real, ""
    why = _private_dir_problem(real) if posix else None
    return None, why or real + " is not a private directory"


def _private_subdir(
    base: "Optional[str]", private_ok: "Callable[[str], bool]", create: "bool" = True
) -> "Optional[str]":
    """``<base>/certembed`` (made 0700 if missing and ``create``) when ``base`` is absolute and
    the folder passes ``private_ok`` (the OS module's private_dir_ok), else None."""
    return _cache_folder(base, private_ok, create, "certembed")[0]


def _usable_file(path: "str") -> "bool":
    """A regular, non-empty file (following links)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return (st.st_mode & 0o170000) == 0o100000 and st.st_size > 0


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
