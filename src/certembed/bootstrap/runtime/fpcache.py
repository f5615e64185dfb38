"""The fast path's private cache: where it lives (``<cache>/certembed/hashed-v1``, private to
the user, checked on every use) and the records that spare later processes work: a bundle's
subject hashes (``<SHA-256>.subject-hashes``), and what a process found about files that have
not changed since (``.seen``: a file's SHA-256, that a machine directory covers a bundle, that a
private hashed directory or an embedded role verified), valid while the identity, size, mtime
and ctime of every file involved are the same. Each record is written aside and renamed into
place, the newest of each kind kept; a record that is not a private regular file of this user,
does not parse or no longer matches the files is ignored (the work is redone)."""

import os

# certembed: dev-only begin
from typing import Callable, List, Optional, Tuple, Union

from certembed.bootstrap.runtime.stores import _stat_signature

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


def _fp_made(base: "str") -> "bool":
    """Whether ``<base>/certembed/hashed-v1`` exists yet (nothing is recorded before it)."""
    return os.path.isdir(os.path.join(base, "certembed", FP_CACHE_VERSION))


def fp_cached_hashes(root: "str", key: "str", count: "int") -> "Optional[List[str]]":
    """The subject hashes of the ``count`` certificates of the bundle whose SHA-256 is ``key``,
    as an earlier process stored them (``root/<key>.subject-hashes``: a private regular file,
    one 8-hex-digit hash per line), or None.

    Why trusting them is safe: a wrong hash can only misfile a certificate of the bundle. The
    machine directory is used only where it holds, under those names, exactly the bundle's
    certificates (and it names its files by their real hashes); the private directory holds
    only the bundle's certificates, verified byte for byte. So anchors can go missing (until
    the file is fixed), never be added."""
    blob = _fp_read_record(os.path.join(root, key + FP_HASHES_SUFFIX), 9 * count + 1)
    if blob is None:
        return None
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


def _fp_store(
    root: "str", name: "str", blob: "bytes", suffix: "str", keep: "int" = FP_KEEP
) -> "None":
    """Write ``root/name`` (0600) aside and rename it into place; keep the ``keep`` newest
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
    for _, path in stored[:-keep]:
        _fp_remove(path)


# Records that a set of files is unchanged since a process read them: one per (kind, key, base
# path and identity), ``<8 hex>.<kind>.seen``, the newest FP_SEEN_KEEP of each kind kept.
FP_SEEN_SUFFIX = ".seen"
FP_SEEN_KEEP = 16
# A private directory's mtime marks its last use (for _fp_prune) to the day: touching it on
# every use would change its ctime, and with it the record that spares reading it.
FP_TOUCH_AFTER = 86400


def _fp_seen_path(root: "str", kind: "str", key: "str", base: "str") -> "str":
    """One record per kind, key and ``base`` (its path and identity): machines or containers
    that share a home but not the files keep theirs apart. The name is a CRC (``binascii``
    is loaded with ``ssl``; a digest module would cost more to load than this whole check):
    two records sharing one only replace each other, since each names its kind, key and base
    inside."""
    import binascii

    st = os.stat(base)
    where = f"{kind}\0{key}\0{base}\0{st.st_dev}\0{st.st_ino}".encode("utf-8", "surrogateescape")
    return os.path.join(root, f"{binascii.crc32(where):08x}.{kind}{FP_SEEN_SUFFIX}")


def _fp_record_head(kind: "str", key: "str", said: "str") -> "str":
    return kind + " " + key + "\n" + said + "\n"


def _fp_entries_state(base: "str", names: "List[str]") -> "Tuple[str, int, bool]":
    """The identity of ``base`` and of the file behind each of ``names`` under it (links
    followed), the newest change time among them, and whether all of them are closed (owned
    by root or this user, not writable by group or others). Adding, removing or renaming an
    entry changes a directory's own; rewriting, replacing, re-linking, chmod or chown of a
    file changes the file's (ctime is set by the kernel, and no one but root can set it back)."""
    uid = os.getuid()  # type: ignore[attr-defined,unused-ignore]
    # The entries are looked up relative to the directory opened once (no path walked again
    # per entry: about half the cost of a stat by full path), where the OS allows it.
    fd = -1
    if names and os.stat in os.supports_dir_fd:
        try:
            fd = os.open(base, _FP_DIR_FLAGS)
        except OSError:
            fd = -1
    try:
        st = os.fstat(fd) if fd >= 0 else os.stat(base)
        found = _stat_signature(st)
        newest = found[4]
        closed = st.st_uid in (0, uid) and not st.st_mode & 0o022
        lines = [base, " ".join(map(str, found))]
        for name in names:
            st = os.stat(name, dir_fd=fd) if fd >= 0 else os.stat(os.path.join(base, name))
            newest = max(newest, st.st_ctime_ns)
            if closed and (st.st_uid not in (0, uid) or st.st_mode & 0o022):
                closed = False
            lines.append(
                f"{name} {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"
            )
    finally:
        if fd >= 0:
            os.close(fd)
    return "\n".join(lines) + "\n", newest, closed


# A directory opened for relative lookups: never a FIFO's blocking open, not inherited.
_FP_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


# Kinds whose files only root or this user may be able to change for a record to count: the
# embedded data (what certembed's own check vouches for). Files anyone else can write are read
# in full by every process, whatever the file system does with ctime.
FP_CLOSED_KINDS = ("data",)


def _fp_read_record(path: "str", cap: "int") -> "Optional[bytes]":
    """A record's bytes (at most ``cap``) when it is a private regular file of this user (no
    link followed, never blocking), else None."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(fd)
        if not _fp_private(st, 0o100000):
            return None
        # Its size, not the cap: a buffer of the cap costs more than reading a record.
        # A record that grows meanwhile is read short and fails its own checks.
        return os.read(fd, min(cap, st.st_size))
    except OSError:
        return None
    finally:
        os.close(fd)


def fp_seen(
    root: "str", kind: "str", key: "str", base: "str", names: "Optional[List[str]]" = None
) -> "Optional[str]":
    """What an earlier process recorded (:func:`fp_store_seen`) about ``base`` and ``names``
    under it, for ``kind`` and ``key``, when none of them has changed since (identity, size,
    mtime, ctime); else None, and the caller reads them again. ``names=None``: the names the
    record lists (a directory's own identity then stands for its listing).

    Only this user and root can write the cache (``stores._private_dir_problem``), and the
    record says only what that user's process found; files someone else can write are caught
    changing by their ctime, which only root can set back."""
    try:
        blob = _fp_read_record(_fp_seen_path(root, kind, key, base), 1 << 22)
        if blob is None:
            return None
        head, _, rest = blob.decode("utf-8", "surrogateescape").partition("\n")
        said, _, state = rest.partition("\n")
        lines = state.split("\n")
        if head != kind + " " + key or lines[0] != base or lines[-1] != "":
            return None
        if names is None:  # relative names inside base, as this module wrote them
            names = [line.split(" ", 1)[0] for line in lines[2:-1]]
            for name in names:
                if not name or name.startswith("/") or ".." in name.split("/"):
                    return None
        now, _, closed = _fp_entries_state(base, names)
        if now != state or (kind in FP_CLOSED_KINDS and not closed):
            return None
        return said
    except (OSError, ValueError, UnicodeError):
        return None


def fp_store_seen(
    root: "Union[str, Callable[[], Optional[str]]]",
    kind: "str",
    key: "str",
    base: "str",
    names: "List[str]",
    said: "str",
    started_ns: "int",
) -> "None":
    """Record ``said`` (one line) for :func:`fp_seen` about ``base`` and ``names``, read from
    ``started_ns`` on. Not when anything changed less than a second before that (it may have
    changed while being read, within the clock's grain): the next process reads again.
    ``root`` may be a function giving it, called only when there is a record to write (it may
    create the cache folder). Failures only mean the next process reads again."""
    if "\n" in said or "\n" in key:
        raise ValueError("a record's key and finding are one line each")
    try:
        state, newest, closed = _fp_entries_state(base, names)
        if newest >= started_ns - 1_000_000_000 or (kind in FP_CLOSED_KINDS and not closed):
            return
        folder = root() if callable(root) else root
        if folder is None:
            return
        path = _fp_seen_path(folder, kind, key, base)
        blob = (_fp_record_head(kind, key, said) + state).encode("utf-8", "surrogateescape")
    except (OSError, ValueError, UnicodeError):
        return
    _fp_store(folder, os.path.basename(path), blob, "." + kind + FP_SEEN_SUFFIX, FP_SEEN_KEEP)
