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
# OpenSSL reads a capath (and SSL_CERT_DIR) as a list of directories split on this character
# (its LIST_SEPARATOR_CHAR: ';' on Windows, ':' elsewhere, as os.pathsep), each relative one
# resolved against the current directory. A cafile is one path, never split.
_CAPATH_SEP = os.pathsep
# The most certembed reads from one file at run time (a machine bundle is ~0.2 MB): larger
# files, and anything but a regular file (FIFO, device, socket), are refused unread.
_READ_CAP = 8 * 1024 * 1024
_S_IFMT = 0o170000
_S_IFREG = 0o100000


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
    """A regular, non-empty file (following links), no larger than the read cap."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return (st.st_mode & _S_IFMT) == _S_IFREG and 0 < st.st_size <= _READ_CAP


class _Refused(OSError):
    """A file certembed does not read: not a regular file, or larger than the cap."""

    def __str__(self) -> "str":
        return str(self.strerror) + ": " + repr(self.filename)


def _open_regular(path: "str", cap: "int", follow: "bool") -> "Tuple[int, os.stat_result]":
    """(fd, fstat) of ``path`` opened for reading without ever blocking (``O_NONBLOCK``: a
    FIFO opens at once), refused unless it is a regular file of at most ``cap`` bytes;
    ``follow=False`` refuses a link too (``O_NOFOLLOW``). The caller closes the fd."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_BINARY", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if (st.st_mode & _S_IFMT) != _S_IFREG:
            raise _Refused(0, "not a regular file", path)
        if st.st_size > cap:
            raise _Refused(0, "larger than " + str(cap) + " bytes", path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _regular_problem(path: "str", cap: "int" = _READ_CAP) -> "Optional[str]":
    """None when ``path`` is a regular file (links followed) OpenSSL may be handed to read,
    else why not (missing, a FIFO, a device, too large...); opening it never blocks."""
    try:
        fd, _ = _open_regular(path, cap, True)
    except (OSError, ValueError) as exc:
        return str(exc)
    os.close(fd)
    return None


def _read_regular(path: "str", cap: "int" = _READ_CAP, follow: "bool" = True) -> "bytes":
    """The bytes of ``path``: the one way certembed reads a file at run time. A regular file
    only (checked on the open fd), at most ``cap`` bytes (also if it grows while read), opened
    without blocking; else OSError (:class:`_Refused` for a file of the wrong kind or size)."""
    return _read_regular_stat(path, cap, follow)[0]


def _read_regular_stat(
    path: "str", cap: "int" = _READ_CAP, follow: "bool" = True
) -> "Tuple[bytes, os.stat_result]":
    """:func:`_read_regular` and the fstat of the file it read (which version was read)."""
    fd, st = _open_regular(path, cap, follow)
    try:
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, min(cap + 1 - total, max(st.st_size, 65536)))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise _Refused(0, "larger than " + str(cap) + " bytes", path)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def _one_dir(path: "Optional[str]") -> "bool":
    """``path`` given as a capath reaches OpenSSL as exactly this directory: absolute, and
    holding no list separator (nor NUL)."""
    if not path:
        return False
    return _CAPATH_SEP not in path and "\0" not in path and os.path.isabs(path)


def _capath_of(*folders: "Optional[str]") -> "Optional[str]":
    """The capath string naming exactly ``folders`` (searched in this order; None entries
    skipped), or None when one of them would not survive OpenSSL's splitting."""
    given = [f for f in folders if f]
    if not given or not all(_one_dir(f) for f in given):
        return None
    return _CAPATH_SEP.join(given)


def _load_dir(context: "ssl.SSLContext", folder: "str") -> "List[str]":
    """Load one hashed directory (never a list): by path, read lazily by OpenSSL, when the
    path survives OpenSSL's splitting; else each of its ``<hash>.<n>`` certificate files as a
    file of its own (a cafile is never split), checked first to be a regular file within the
    cap. Returns what could not be loaded (skipped)."""
    if _one_dir(folder):
        _load_verify_locations(context, None, folder)
        return []
    problems = []
    try:
        names = sorted(n for n in os.listdir(folder) if _hashed_name(n) and n[9:].isdigit())
    except (OSError, ValueError) as exc:
        return ["cannot list directory " + folder + " (" + str(exc) + "); skipped"]
    for name in names:
        path = os.path.join(folder, name)
        problem = _regular_problem(path)
        try:
            if problem is not None:
                raise OSError(problem)
            _load_verify_locations(context, path, None)
        except (OSError, ValueError, ssl.SSLError) as exc:
            problems.append("cannot load file " + path + " (" + str(exc) + "); skipped")
    return problems


def same_location(value: "Optional[str]", found: "Optional[str]", kind: "str") -> "bool":
    """``value`` (SSL_CERT_FILE or SSL_CERT_DIR) names the very ``found`` file or directory
    (the machine store as probed) by another path, e.g. through a link: equal strings, or one
    object on disk (device and inode, links followed). A directory value holding the list
    separator is a list for OpenSSL, never the same directory."""
    if not value or not found:
        return False
    if value == found:
        return True
    if kind == "dir" and _CAPATH_SEP in value:
        return False
    try:
        mine = os.stat(value)
        theirs = os.stat(found)
    except (OSError, ValueError):
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino) and bool(mine.st_ino)


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


def _hashed_files(capath: "str", listed: "bool" = True) -> "List[str]":
    """The certificate files of every directory in ``capath`` (split as OpenSSL splits it when
    ``listed``, e.g. the user's SSL_CERT_DIR; else ``capath`` is one directory)."""
    found: "List[str]" = []
    for folder in capath.split(_CAPATH_SEP) if listed else [capath]:
        if not folder:
            continue
        try:
            names = sorted(n for n in os.listdir(folder) if _hashed_name(n))
        except OSError:
            continue
        found.extend(os.path.join(folder, name) for name in names)
    return found


def _load_slots(
    context: "ssl.SSLContext",
    cafile: "Optional[str]",
    capath: "Optional[str]",
    capath_listed: "bool" = False,
) -> "List[str]":
    """Load a file and a directory, each on its own; what cannot be loaded is skipped (as
    OpenSSL's own default loading does) and described in the returned list.

    The file must be a regular file within the read cap (a FIFO or a device would block or
    never end). ``capath`` is one directory (:func:`_load_dir`), or with ``capath_listed`` a
    list the user gave (SSL_CERT_DIR), handed over as it is for OpenSSL to split."""
    problems = []
    for kind, path in (("file", cafile), ("directory", capath)):
        if not path:
            continue
        try:
            if kind == "file":
                problem = _regular_problem(path)
                if problem is not None:
                    raise OSError(problem)
                _load_verify_locations(context, path, None)
            elif capath_listed:
                _load_verify_locations(context, None, path)
            else:
                problems.extend(_load_dir(context, path))
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
