"""The embedded anchors: where they are (a directory next to the bootstrap, or blobs in memory),
their SHA-256 verification against the baked digests, and how a verified role loads into a
context."""

import os
import ssl
import sys

# certembed: dev-only begin
from typing import Dict, List, Optional

from certembed.bootstrap.runtime.baked import (
    DATA,
    DATA_DIGESTS,
)
from certembed.bootstrap.runtime.policy import (
    _debug,
    _warn,
)
from certembed.bootstrap.runtime.posix import (
    FILTERS_EMBEDDED,
    filter_embedded,
    remember,
    seen,
)
from certembed.bootstrap.runtime.stores import (
    _load_verify_locations,
    _one_dir,
    _read_regular,
    _sha256_hex,
)

# certembed: dev-only end


class _Data:
    """The embedded anchors, on disk next to this module or given in memory; verified lazily."""

    def __init__(
        self, directory: "Optional[str]" = None, blobs: "Optional[Dict[str, bytes]]" = None
    ) -> "None":
        self.directory = directory
        self.blobs = blobs
        self.checked: "Dict[str, bool]" = {}
        # How each role was checked: "read" (every file), "unchanged" (its record), "memory".
        self.how: "Dict[str, str]" = {}
        self._pem: "Dict[str, bytes]" = {}
        self.problems: "List[str]" = []
        self.digests: "Optional[Dict[str, str]]" = None
        self.digests_ok = True

    def _digests(self) -> "Dict[str, str]":
        """Every embedded data file's SHA-256: the role PEMs (and the digest file) from the
        baked ``DATA``, the rest from the digest file once it matches its baked SHA-256 (read
        once per process; a missing or altered digest file vouches for nothing)."""
        if self.digests is not None:
            return self.digests
        digests = dict(DATA)
        listed = DATA.get(DATA_DIGESTS)
        blob = self._read(DATA_DIGESTS) if listed and self.directory is not None else None
        self.digests_ok = not listed or (blob is not None and _sha256_hex(blob) == listed)
        if blob is not None and self.digests_ok:
            for line in blob.decode("ascii", "replace").splitlines():
                digest, _, name = line.partition("  ")
                if name and name not in DATA:
                    digests[name] = digest
        self.digests = digests
        return digests

    def _read(self, name: "str") -> "Optional[bytes]":
        if self.blobs is not None:
            return self.blobs.get(name)
        if self.directory is None:
            return None
        try:
            return _read_regular(os.path.join(self.directory, *name.split("/")))
        except (OSError, ValueError):
            return None

    def verify(self, role: "str") -> "bool":
        """Check every file of ``role`` against the baked-in SHA-256 (once per process).

        On disk, a record in the user's private cache (POSIX: :func:`.posix.seen`) spares a
        later process the reading: the role's directory and every file of it have the same
        identity, size, mtime and ctime as when a process of this user found them all
        matching. Any write, rename, chmod or chown changes a ctime, which only root can set
        back; then every file is read and checked again."""
        if role in self.checked:
            return self.checked[role]
        import time

        started_ns = time.time_ns()
        key = DATA.get(DATA_DIGESTS, "") + " " + role
        # The names come from the record (this user's process wrote it after a full check):
        # the digest file, the role's folder (standing for its listing), its PEM and every
        # file in it. None may have changed since, the digest file included.
        recorded = self.directory is not None and DATA.get(DATA_DIGESTS)
        if recorded and seen("data", key, str(self.directory), None) == "verified":
            self.checked[role] = True
            self.how[role] = "unchanged"
            return True
        prefix = role + "/"
        if self.directory is None:  # in memory: only the PEM is used (through cadata)
            expected = [n for n in DATA if n == role + ".pem"]
            digests = DATA
        else:
            digests = self._digests()
            expected = sorted(n for n in digests if n == role + ".pem" or n.startswith(prefix))
        problem = None
        record: "Optional[List[str]]" = None
        if not expected:
            problem = "no embedded data for role " + role
        elif not self.digests_ok:
            problem = (
                "embedded file " + DATA_DIGESTS + " is missing or does not match its SHA-256"
                " (tampered?)"
            )
        elif self.directory is not None:
            if DATA.get(DATA_DIGESTS):
                record = [DATA_DIGESTS, role, *expected]
            try:
                listed: "Optional[List[str]]" = sorted(
                    prefix + n for n in os.listdir(os.path.join(self.directory, role))
                )
            except OSError:
                listed = None
            wanted = sorted(n for n in expected if n.startswith(prefix))
            if listed != wanted:
                problem = "embedded directory " + role + "/ is missing or has unexpected files"
        for name in expected:
            if problem is not None:
                break
            blob = self._read(name)
            if blob is None:
                problem = "embedded file " + name + " is missing or not a regular file"
            elif _sha256_hex(blob) != digests[name]:
                problem = "embedded file " + name + " does not match its SHA-256 (tampered?)"
            elif name == role + ".pem":
                self._pem[role] = blob
        self.checked[role] = problem is None
        self.how[role] = "read" if self.directory is not None else "memory"
        if problem is not None:
            self.problems.append(problem)
            _warn(problem + "; not trusting the embedded " + role + " anchors")
        elif record is not None and self.directory is not None:
            remember("data", key, self.directory, record, "verified", started_ns)
        return problem is None

    def pem(self, role: "str") -> "bytes":
        """The PEM of a verified role. Read now when the role was verified by its record: if
        it no longer matches its SHA-256 (changed since), nothing (the role's anchors are not
        trusted) and a warning."""
        if role not in self._pem:
            blob = self._read(role + ".pem")
            if blob is None or _sha256_hex(blob) != DATA.get(role + ".pem"):
                problem = "embedded file " + role + ".pem changed while in use (tampered?)"
                self.problems.append(problem)
                _warn(problem + "; not trusting the embedded " + role + " anchors")
                blob = b""
            self._pem[role] = blob
        return self._pem[role]

    def capath(self, role: "str") -> "Optional[str]":
        """The role's hashed directory as a capath, or None: no data directory, or a path
        OpenSSL would split into a list (an app under "/opt/my:app": the anchors would be lost
        and a relative piece would name a folder under the cwd). Every use of the directory
        goes through here, so no caller can hand OpenSSL such a path; without it the role
        loads its verified PEM."""
        if self.directory is None:
            return None
        folder = os.path.join(self.directory, role)
        return folder if _one_dir(folder) else None

    def pem_path(self, role: "str") -> "Optional[str]":
        if self.directory is None:
            return None
        return os.path.join(self.directory, role + ".pem")

    def load(self, context: "ssl.SSLContext", role: "str") -> "None":
        """Load a verified role: its hashed directory (lazy), else its PEM as ``cadata``; or
        what the OS module says instead (Windows: minus the Disallowed store; all of the PEM
        when the directory's path is not ASCII)."""
        capath = self.capath(role)
        if capath is None and self.directory is not None:
            _debug(
                "the embedded "
                + role
                + " directory "
                + os.path.join(self.directory, role)
                + " is not one path for OpenSSL (list separator or relative); its verified PEM"
                " is loaded instead"
            )
        kept = filter_embedded(self.pem(role), capath) if FILTERS_EMBEDDED else None
        if kept is not None:
            if kept:
                _load_verify_locations(context, None, None, kept.decode("ascii"))
        elif capath is not None and not _anchors_must_be_listed():
            _load_verify_locations(context, None, capath)
        else:
            _load_verify_locations(context, None, None, self.pem(role).decode("ascii"))


def _anchors_must_be_listed() -> "bool":
    """truststore on macOS and Windows verifies with the OS and trusts, besides, the anchors
    ``get_ca_certs()`` lists (loaded certificates only, never a lazily read hashed directory):
    there the embedded anchors load as PEM so that truststore sees them."""
    return sys.platform in ("darwin", "win32") and "truststore" in sys.modules
