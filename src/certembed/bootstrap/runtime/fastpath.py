"""The fast path for file-and-directory machine stores (Linux, the BSDs).

Loading the machine's PEM bundle parses every certificate for every default context (~15-20 ms
for ~145 roots); a hashed directory (``<subject_hash>.<n>`` names) costs what a bare context
costs, and OpenSSL then reads only the roots a handshake needs. :func:`fp_capath` turns the
machine's (file, directory) pair into a ``capath`` that trusts *exactly* the same anchors:

- the machine directory alone, when it covers the file: for every subject hash of the file's
  certificates, ``<hash>.0``, ``<hash>.1``, ... (read as OpenSSL reads them, up to the first
  missing name) hold exactly the file's certificates of that hash;
- else a private hashed directory built from the file, searched *before* the machine directory
  (``private:machine``). OpenSSL's lookup stops at the first directory that has a certificate
  with the wanted subject, and with a file loaded it never consults the directory for a subject
  the file has: both ways the file's certificates win for the file's subjects and the directory
  serves the rest, so the anchors are the same;
- else ``None``: the caller loads the file and the directory as they are (stock behaviour).

The private directory lives under the user's cache (``<cache>/certembed/hashed-v1/<SHA-256 of
the file>``, 0700, owner and mode checked, served only under folders that root or the user alone
can change: ``stores._private_dir_problem``), is written into a temporary sibling and renamed into
place, and is verified in full before use: exactly the expected names, each a private regular
file (no links) holding exactly the expected certificate; later processes take that from its
record while the directory and every file in it are unchanged (``fpcache.fp_seen``: any write,
entry, chmod or chown changes a ctime). Anything off (planted, tampered, missing, wrong owner or
mode) and it is rebuilt; if that fails, the file is loaded.

Standard library only, imported lazily: nothing here runs before the first default context.
"""

import os

# certembed: dev-only begin
from typing import Any, Callable, Dict, List, Optional, Union

from certembed.bootstrap.runtime.fpcache import (
    _FP_HEX,
    FP_CACHE_VERSION,
    FP_KEEP,
    FP_TOUCH_AFTER,
    _fp_cache_root,
    _fp_private,
    _fp_remove,
    _fp_write_new,
    fp_cached_hashes,
    fp_seen,
    fp_store_hashes,
    fp_store_seen,
)
from certembed.bootstrap.runtime.stores import (
    _capath_of,
    _der_tlv,
    _hashed_name,
    _one_dir,
    _open_regular,
    _read_regular,
    _read_regular_stat,
    _sha1_digest,
    _sha256_hex,
    _stat_signature,
)

FpInfo = Dict[str, Any]
# certembed: dev-only end

_FP_BEGIN = b"-----BEGIN "
_FP_CERT_BEGIN = b"-----BEGIN CERTIFICATE-----"
_FP_CERT_END = b"-----END CERTIFICATE-----"
# OpenSSL's ASN1_MASK_CANON: the string types a name's canonical form converts to UTF-8.
_FP_CANON_TAGS = (12, 19, 20, 22, 26, 28, 30)


class _FpUnusable(Exception):
    """The input cannot be served by a hashed directory: load the file as it is."""


def fp_pem_certificates(data: "bytes") -> "List[bytes]":
    """The DER of every ``CERTIFICATE`` block of a PEM file, in file order.

    Raises :class:`_FpUnusable` for anything OpenSSL would read differently from a plain
    certificate (``TRUSTED CERTIFICATE`` with trust settings, CRLs, keys, PEM headers, bad
    base64): such files are loaded as they are.
    """
    import binascii

    out: "List[bytes]" = []
    pos = 0
    while True:
        start = data.find(_FP_BEGIN, pos)
        if start < 0:
            return out
        if not data.startswith(_FP_CERT_BEGIN, start):
            raise _FpUnusable("a PEM block other than CERTIFICATE")
        body_start = start + len(_FP_CERT_BEGIN)
        end = data.find(_FP_CERT_END, body_start)
        if end < 0:
            raise _FpUnusable("an unterminated CERTIFICATE block")
        body = data[body_start:end]
        if b":" in body:
            raise _FpUnusable("PEM headers in a CERTIFICATE block")
        try:
            der = binascii.a2b_base64(body)
        except (binascii.Error, ValueError):
            raise _FpUnusable("bad base64 in a CERTIFICATE block") from None
        out.append(der)
        pos = end + len(_FP_CERT_END)


def _fp_der_length(length: "int") -> "bytes":
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _fp_canon(tag: "int", value: "bytes") -> "bytes":
    """OpenSSL's ``asn1_string_canon``: UTF-8, ASCII white space trimmed and folded to one
    space, ASCII letters lower-cased, re-tagged as UTF8String."""
    if tag == 12:
        raw = value.decode("utf-8").encode("utf-8")
    elif tag == 30:
        raw = value.decode("utf-16-be").encode("utf-8")
    elif tag == 28:
        raw = value.decode("utf-32-be").encode("utf-8")
    elif value.isascii():
        raw = value
    else:  # Printable, T61, IA5, Visible: one byte per character (Latin-1)
        raw = value.decode("latin-1").encode("utf-8")
    # bytes.split() splits on exactly the white space OpenSSL folds; bytes.lower() is ASCII-only.
    out = b" ".join(raw.split()).lower()
    return b"\x0c" + _fp_der_length(len(out)) + out


def fp_subject_hash(der: "bytes") -> "str":
    """``openssl x509 -subject_hash`` of a DER certificate: the first four bytes, read
    little-endian, of the SHA-1 of the subject's canonical encoding (``x509_name_canon``:
    each RDN a SET OF its canonical attributes, sorted, SETs concatenated)."""
    try:
        tag, cert, cert_end = _der_tlv(der, 0)
        if tag != 0x30 or cert_end != len(der):
            raise _FpUnusable("not a DER certificate")
        tag, tbs, tbs_end = _der_tlv(der, cert)
        # tbsCertificate, signatureAlgorithm, signatureValue and nothing else: a damaged
        # certificate OpenSSL would refuse (refusing the whole file) never gets this far.
        tag2, _, alg_end = _der_tlv(der, tbs_end)
        tag3, _, sig_end = _der_tlv(der, alg_end)
        if (tag, tag2, tag3) != (0x30, 0x30, 0x03) or sig_end != cert_end:
            raise _FpUnusable("not a DER certificate")
        pos = tbs
        tag, _, end = _der_tlv(der, pos)
        if tag == 0xA0:  # [0] version
            pos = end
        for _ in range(4):  # serial, signature algorithm, issuer, validity
            pos = _der_tlv(der, pos)[2]
        tag, name, name_end = _der_tlv(der, pos)
        if tag != 0x30 or name_end > tbs_end:
            raise _FpUnusable("no subject name")
        canon = []
        pos = name
        while pos < name_end:
            tag, rdn, rdn_end = _der_tlv(der, pos)
            if tag != 0x31:
                raise _FpUnusable("a bad RDN")
            members = []
            inner = rdn
            while inner < rdn_end:
                tag, ava, ava_end = _der_tlv(der, inner)
                if tag != 0x30:
                    raise _FpUnusable("a bad attribute")
                oid_end = _der_tlv(der, ava)[2]
                vtag, vstart, vend = _der_tlv(der, oid_end)
                if vtag in _FP_CANON_TAGS:
                    value = _fp_canon(vtag, der[vstart:vend])
                else:
                    value = der[oid_end:vend]
                body = der[ava:oid_end] + value
                members.append(b"\x30" + _fp_der_length(len(body)) + body)
                inner = ava_end
            joined = b"".join(sorted(members))
            canon.append(b"\x31" + _fp_der_length(len(joined)) + joined)
            pos = rdn_end
    except UnicodeError:
        raise _FpUnusable("an undecodable subject") from None
    except ValueError as exc:  # from _der_tlv: truncated DER, bad DER length
        raise _FpUnusable(str(exc)) from None
    digest = _sha1_digest(b"".join(canon))
    return "{:08x}".format(int.from_bytes(digest[:4], "little"))


def fp_group_by_hash(
    ders: "List[bytes]", hashes: "Optional[List[str]]" = None
) -> "Dict[str, List[bytes]]":
    """Subject hash -> the distinct certificates with that hash, sorted by their DER.
    ``hashes``: each certificate's subject hash, when already known."""
    groups = {}  # type: Dict[str, List[bytes]]
    for index, der in enumerate(ders):
        digest = fp_subject_hash(der) if hashes is None else hashes[index]
        members = groups.setdefault(digest, [])
        if der not in members:
            members.append(der)
    for members in groups.values():
        members.sort()
    return groups


def fp_dir_covers(
    folder: "str", groups: "Dict[str, List[bytes]]", read: "Optional[List[str]]" = None
) -> "bool":
    """True if, for every subject hash in ``groups``, ``folder`` holds exactly those
    certificates under ``<hash>.0``, ``<hash>.1``, ... up to the first missing name (as
    OpenSSL's directory lookup reads them). ``read`` collects the names read."""
    for digest, members in groups.items():
        found = []  # type: List[bytes]
        index = 0
        while True:
            path = os.path.join(folder, f"{digest}.{index}")
            try:
                blob = _read_regular(path)
            except FileNotFoundError:
                break
            except (OSError, ValueError):  # a FIFO, a device, a link loop, too large...
                return False
            try:
                found.extend(fp_pem_certificates(blob))
            except _FpUnusable:
                return False
            if read is not None:
                read.append(f"{digest}.{index}")
            index += 1
        if sorted(set(found)) != members:
            return False
    return True


def fp_dir_holds_only(folder: "str", read: "List[str]") -> "bool":
    """True if the certificate names (``<hash>.<n>``) in ``folder`` are exactly ``read``: the
    directory then trusts nothing beyond what was read from it."""
    try:
        names = {n for n in os.listdir(folder) if _hashed_name(n) and n[9:10] != "r"}
    except OSError:
        return False
    return names == set(read)


def fp_hashed_entries(groups: "Dict[str, List[bytes]]") -> "Dict[str, bytes]":
    """``<hash>.<n>`` -> PEM bytes: the private hashed directory for ``groups``."""
    import ssl

    out = {}
    for digest in sorted(groups):
        for index, der in enumerate(groups[digest]):
            out[f"{digest}.{index}"] = ssl.DER_cert_to_PEM_cert(der).encode("ascii")
    return out


def fp_verify_dir(folder: "str", entries: "Dict[str, bytes]") -> "Optional[str]":
    """None if ``folder`` is a private directory holding exactly ``entries``, each a private
    regular file with exactly the expected bytes; else what is off."""
    try:
        if not _fp_private(os.lstat(folder), 0o040000):
            return "not a private directory"
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if names != sorted(entries):
        return "unexpected or missing entries"
    for name in names:
        expected = entries[name]
        try:
            # no link followed, never blocking (a FIFO), refused unless a regular file
            fd, st = _open_regular(os.path.join(folder, name), len(expected), False)
        except OSError as exc:
            return f"entry {name} is not a regular file of the expected size ({exc})"
        try:
            if not _fp_private(st, 0o100000):
                return f"entry {name} is not a private regular file"
            blob = os.read(fd, len(expected) + 1)
        finally:
            os.close(fd)
        if blob != expected:
            return f"entry {name} does not hold the expected certificate"
    return None


def _fp_write_dir(folder: "str", entries: "Dict[str, bytes]") -> "None":
    os.mkdir(folder, 0o700)
    os.chmod(folder, 0o700)  # whatever the umask
    for name, blob in entries.items():
        _fp_write_new(os.path.join(folder, name), blob)


def fp_private_hashed_dir(
    cache: "str", key: "str", entries: "Dict[str, bytes]", info: "FpInfo"
) -> "Optional[str]":
    """``cache/hashed-v1/key`` verified to hold exactly ``entries``: reused when it verifies,
    else built in a temporary sibling and renamed into place. None when that cannot be done.
    ``cache`` must be a private directory already (checked by the caller)."""
    root = os.path.join(cache, FP_CACHE_VERSION)
    try:
        os.mkdir(root, 0o700)
        os.chmod(root, 0o700)  # whatever the umask
    except FileExistsError:
        pass
    except OSError as exc:
        info["cache"] = f"cannot create {root} ({exc.strerror})"
        return None
    try:
        if not _fp_private(os.lstat(root), 0o040000):
            info["cache"] = f"{root} is not a private directory"
            return None
    except OSError as exc:
        info["cache"] = f"cannot stat {root} ({exc.strerror})"
        return None
    folder = os.path.join(root, key)
    problem = fp_verify_dir(folder, entries)
    if problem is None:
        info["cache"] = "hit"
        import time

        try:  # most recently used (to the day): kept by _fp_prune
            if time.time() - os.lstat(folder).st_mtime > FP_TOUCH_AFTER:
                os.utime(folder)
        except OSError:
            pass
        return folder
    info["cache"] = "built" if problem == "missing" else f"rebuilt ({problem})"
    tag = f"{os.getpid()}-{os.urandom(6).hex()}"
    tmp = os.path.join(root, ".tmp-" + tag)
    try:
        _fp_write_dir(tmp, entries)
        if os.path.lexists(folder):
            if fp_verify_dir(folder, entries) is None:  # another process published it meanwhile
                _fp_remove(tmp)
                info["cache"] = "hit (published by another process)"
                return folder
            old = os.path.join(root, ".old-" + tag)
            os.rename(folder, old)
            _fp_remove(old)
        os.rename(tmp, folder)
    except OSError as exc:
        _fp_remove(tmp)
        if fp_verify_dir(folder, entries) is None:  # another process published it meanwhile
            info["cache"] = "hit (published by another process)"
            return folder
        info["cache"] = f"cannot write ({exc.strerror})"
        return None
    if fp_verify_dir(folder, entries) is not None:  # changed under our feet: do not use
        info["cache"] = "changed while being published"
        return None
    _fp_prune(root, key)
    return folder


def _fp_prune(root: "str", keep: "str") -> "None":
    """Keep the ``FP_KEEP`` most recently used directories (each hit touches its own), and
    remove what crashed builders left behind more than an hour ago. Runs after a build only."""
    import time

    now = time.time()
    used = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if entry.name.startswith((".tmp-", ".old-")):
            if now - mtime > 3600:
                _fp_remove(entry.path)
        elif len(entry.name) == 64 and entry.name != keep:
            used.append((mtime, entry.name))
    used.sort(reverse=True)
    for _, name in used[FP_KEEP - 1 :]:
        old = os.path.join(root, f".old-{os.getpid()}-{os.urandom(6).hex()}")
        try:
            os.rename(os.path.join(root, name), old)
        except OSError:
            continue
        _fp_remove(old)


def fp_capath(
    cafile: "Optional[str]",
    capath: "Optional[str]",
    cache: "Union[str, Callable[[], Optional[str]], None]",
    info: "FpInfo",
    alone: "Optional[FpInfo]" = None,
) -> "Optional[str]":
    """A ``capath`` trusting exactly what ``cafile`` + ``capath`` trust, or None (then load
    them as they are). ``cache``: a private per-user directory (checked by the caller) or None,
    or a function giving it, called only once a file is to be served (so that no cache folder
    is made where the fast path has nothing to do). ``info`` collects what was decided, for the
    debug line. ``alone`` (if given) gets ``"capath"``: a directory trusting exactly
    ``cafile``'s certificates, without what only ``capath`` adds (or None), and
    ``"signature"``: the identity of the file version read.

    What a process finds is recorded in the private cache for the next one, valid while the
    files involved are unchanged (:func:`.fpcache.fp_seen`): the file's SHA-256, that the
    machine directory covers it, that the private hashed directory verified. With all three
    unchanged, a process reads none of them again: one ``stat`` per file."""
    if cafile is None:
        info["fastpath"] = "directory only"
        return None
    if capath is not None and not _one_dir(capath):
        info["fastpath"] = "off: the machine directory is not one path for OpenSSL"
        return None
    if alone is None:
        alone = {}
    alone["capath"] = None
    import time

    started_ns = time.time_ns()
    try:
        st = os.stat(cafile)
        if callable(cache):  # no cache folder made for what cannot be served (a FIFO...)
            cache = cache() if (st.st_mode & 0o170000) == 0o100000 else None
        root = _fp_cache_root(cache) if cache is not None else None
        key = fp_seen(root, "file", "", cafile, []) if root is not None else None
        data = None
        if key is None or len(key) != 64 or not _FP_HEX.issuperset(key):
            data, st = _read_regular_stat(cafile)
            key = _sha256_hex(data)
            if root is not None:
                fp_store_seen(root, "file", "", cafile, [], key, started_ns)
        else:
            info["file"] = "unchanged"
        alone["signature"] = _stat_signature(st)
        # Whether the machine directory covers the file: "<count> only|more", "0 none", or
        # not known (then the directory is read below).
        known = ""
        if capath is not None and root is not None:
            known = fp_seen(root, "cover", key, capath) or ""
            number, _, whether = known.partition(" ")
            if number.isdigit() and whether in ("only", "more"):
                info["certificates"] = int(number)
                info["fastpath"] = "machine directory covers the file"
                info["coverage"] = "cached"
                alone["capath"] = info["file_alone"] = capath if whether == "only" else None
                return capath
        if root is not None and (capath is None or known == "0 none"):
            private = os.path.join(root, key)
            number = fp_seen(root, "private", key, private) or ""
            joined = _capath_of(private, capath)
            if number.isdigit() and joined is not None:
                info["certificates"] = int(number)
                info["fastpath"] = "private hashed directory"
                info["cache"] = "hit (unchanged)"
                if known:
                    info["coverage"] = "cached"
                alone["capath"] = info["file_alone"] = private
                return joined
        if data is None:
            data, st = _read_regular_stat(cafile)
            key = _sha256_hex(data)  # decide on what was read, had it changed meanwhile
            alone["signature"] = _stat_signature(st)
        ders = fp_pem_certificates(data)
        if not ders:
            raise _FpUnusable("no certificate in the file")
        hashes = fp_cached_hashes(root, key, len(ders)) if root is not None else None
        info["subject_hashes"] = "cached" if hashes is not None else "computed"
        if hashes is None:
            hashes = [fp_subject_hash(der) for der in ders]
            if root is not None:
                fp_store_hashes(root, key, hashes)
        groups = fp_group_by_hash(ders, hashes)
    except (OSError, ValueError) as exc:
        info["fastpath"] = f"off: file unreadable ({getattr(exc, 'strerror', None) or exc})"
        return None
    except _FpUnusable as exc:
        info["fastpath"] = f"off: {exc}"
        return None
    info["certificates"] = len(ders)
    read: "List[str]" = []
    started_ns = time.time_ns()
    if capath is not None and fp_dir_covers(capath, groups, read):
        info["fastpath"] = "machine directory covers the file"
        info["coverage"] = "read"
        only = fp_dir_holds_only(capath, read)
        if only:
            alone["capath"] = capath
        info["file_alone"] = alone["capath"]
        if root is not None:
            said = f"{len(ders)} {'only' if only else 'more'}"
            fp_store_seen(root, "cover", key, capath, read, said, started_ns)
        return capath
    if capath is not None and root is not None:
        info["coverage"] = "read"
        fp_store_seen(root, "cover", key, capath, read, "0 none", started_ns)
    if cache is None:
        info["fastpath"] = "off: no private cache directory"
        return None
    entries = fp_hashed_entries(groups)
    folder = fp_private_hashed_dir(cache, key, entries, info)
    joined = _capath_of(folder, capath) if folder is not None else None
    if folder is None or joined is None:
        info["fastpath"] = "off: private hashed directory unusable"
        return None
    if root is not None:
        fp_store_seen(root, "private", key, folder, sorted(entries), str(len(ders)), started_ns)
    info["fastpath"] = "private hashed directory"
    alone["capath"] = info["file_alone"] = folder
    return joined
