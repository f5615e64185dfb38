"""The fast path's private cache: where it lives (``<cache>/certembed/hashed-v1``, private to
the user, checked on every use) and the records that spare later processes work: a bundle's
subject hashes (``<SHA-256>.subject-hashes``) and whether a machine directory covers a bundle
(``.covered``, keyed by the directory's entries). Each record is written aside and renamed into
place, the ``FP_KEEP`` newest of each kind kept; a record that is not a private regular file of
this user, or does not parse, is ignored (the work is redone)."""

import os

# certembed: dev-only begin
from typing import List, Optional, Tuple

from certembed.bootstrap.runtime.stores import _sha256_hex, _stat_signature

# certembed: dev-only end

FP_CACHE_VERSION = "hashed-v1"
FP_KEEP = 8  # private hashed directories kept, most recently used first (one per bundle)


def _fp_private(st: "os.stat_result", kind: "int") -> "bool":
    """Owned by this user, closed to group and others, of file type ``kind`` (no links)."""
    return (
        (st.st_mode & 0o170000) == kind
        and st.st_uid == os.getuid()  # type: ignore[attr-defined,unused-ignore]
        and not st.st_mode & 0o077
    )


def _fp_remove(path: "str") -> "None":
    import shutil

    try:
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
        else:
            shutil.rmtree(path, True)
    except OSError:
        pass


FP_HASHES_SUFFIX = ".subject-hashes"
_FP_HEX = frozenset("0123456789abcdef")


def _fp_cache_root(cache: "str") -> "Optional[str]":
    """``cache/hashed-v1``, made if missing, when it is a private directory of ours."""
    root = os.path.join(cache, FP_CACHE_VERSION)
    try:
        os.mkdir(root, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        return root if _fp_private(os.lstat(root), 0o040000) else None
    except OSError:
        return None


def fp_cached_hashes(root: "str", key: "str", count: "int") -> "Optional[List[str]]":
    """The subject hashes of the ``count`` certificates of the bundle whose SHA-256 is ``key``,
    as an earlier process stored them (``root/<key>.subject-hashes``: a private regular file,
    one 8-hex-digit hash per line), or None.

    Why trusting them is safe: a wrong hash can only misfile a certificate of the bundle. The
    machine directory is used only where it holds, under those names, exactly the bundle's
    certificates (and it names its files by their real hashes); the private directory holds
    only the bundle's certificates, verified byte for byte. So anchors can go missing (until
    the file is fixed), never be added."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(os.path.join(root, key + FP_HASHES_SUFFIX), flags)
    except OSError:
        return None
    try:
        if not _fp_private(os.fstat(fd), 0o100000):
            return None
        blob = os.read(fd, 9 * count + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    hashes = blob.decode("ascii", "replace").split("\n")
    if hashes[-1] != "" or len(hashes) != count + 1:
        return None
    hashes.pop()
    for digest in hashes:
        if len(digest) != 8 or not _FP_HEX.issuperset(digest):
            return None
    return hashes


def fp_store_hashes(root: "str", key: "str", hashes: "List[str]") -> "None":
    """Store ``hashes`` for :func:`fp_cached_hashes`. Failures only mean they are computed
    again."""
    blob = "".join(h + "\n" for h in hashes).encode("ascii")
    _fp_store(root, key + FP_HASHES_SUFFIX, blob, FP_HASHES_SUFFIX)


def _fp_write_new(path: "str", blob: "bytes") -> "None":
    """Create ``path`` holding ``blob``: 0600 whatever the umask, never through a link and
    never over an existing file (so nothing planted there is written into)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _fp_store(root: "str", name: "str", blob: "bytes", suffix: "str") -> "None":
    """Write ``root/name`` (0600) aside and rename it into place; keep the ``FP_KEEP`` newest
    files ending in ``suffix``."""
    tmp = os.path.join(root, f".tmp-{os.getpid()}-{os.urandom(6).hex()}")
    try:
        _fp_write_new(tmp, blob)
        os.rename(tmp, os.path.join(root, name))
    except OSError:
        _fp_remove(tmp)
        return
    try:
        stored = sorted(
            (entry.stat(follow_symlinks=False).st_mtime, entry.path)
            for entry in os.scandir(root)
            if entry.name.endswith(suffix)
        )
    except OSError:
        return
    for _, path in stored[:-FP_KEEP]:
        _fp_remove(path)


FP_COVER_SUFFIX = ".covered"


def _fp_cover_name(key: "str", capath: "str") -> "str":
    """One record per bundle and directory (its path and identity): machines or containers
    that share a home and a bundle but not the directory keep theirs apart."""
    st = os.stat(capath)
    where = f"{capath}\0{st.st_dev}\0{st.st_ino}".encode("utf-8", "surrogateescape")
    return key + "-" + _sha256_hex(where)[:16] + FP_COVER_SUFFIX


def _fp_entries_state(capath: "str", names: "List[str]") -> "Tuple[str, int]":
    """The identity of ``capath`` and of the file behind each of ``names`` in it (links
    followed), and the newest change time among them: adding, removing or renaming an entry
    changes the directory's own; rewriting, replacing or re-linking a file changes the file's
    (ctime is set by the kernel)."""
    found = _stat_signature(os.stat(capath))
    newest = found[4]
    lines = [capath, " ".join(map(str, found))]
    for name in names:
        found = _stat_signature(os.stat(os.path.join(capath, name)))
        newest = max(newest, found[4])
        lines.append(name + " " + " ".join(map(str, found)))
    return "\n".join(lines) + "\n", newest


def fp_cached_cover(root: "str", key: "str", capath: "str") -> "Optional[Tuple[int, bool]]":
    """(certificates in the file, the directory holds nothing else) when an earlier process
    found that ``capath`` covers the file whose SHA-256 is ``key`` and neither the directory
    nor any file it read has changed since; else None (then it is read again).

    A false record could only make the machine directory (which stock OpenSSL trusts as well)
    stand in for the file: anchors can go missing, none can be added."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(os.path.join(root, _fp_cover_name(key, capath)), flags)
    except (OSError, ValueError):
        return None
    try:
        if not _fp_private(os.fstat(fd), 0o100000):
            return None
        blob = os.read(fd, 1 << 22)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        head, _, state = blob.decode("utf-8").partition("\n")
        count, only = head.split(" ")
        lines = state.split("\n")
        names = [line.split(" ", 1)[0] for line in lines[2:-1]]
        if lines[0] != capath or _fp_entries_state(capath, names)[0] != state:
            return None
        return int(count), only == "only"
    except (OSError, ValueError, UnicodeError):
        return None


def fp_store_cover(
    root: "str",
    key: "str",
    capath: "str",
    read: "List[str]",
    count: "int",
    only: "bool",
    started_ns: "int",
) -> "None":
    """Record for :func:`fp_cached_cover` that ``capath`` covers the file (``read``: the names
    read to find out, from ``started_ns`` on). Not when anything read changed less than a
    second before that (it may have changed while being read, within the clock's grain): the
    next process reads again. Failures only mean the directory is read again next time."""
    try:
        state, newest = _fp_entries_state(capath, read)
    except OSError:
        return
    if newest >= started_ns - 1_000_000_000:
        return
    text = f"{count} {'only' if only else 'more'}\n" + state
    try:
        name = _fp_cover_name(key, capath)
    except (OSError, ValueError):
        return
    _fp_store(root, name, text.encode("utf-8"), FP_COVER_SUFFIX)
