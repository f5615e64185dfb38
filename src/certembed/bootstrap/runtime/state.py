"""The process's installed state: the decided plan, the anchors' PEM parts, the file
``certifi.where()`` answers with and the private files it publishes (content-addressed, pruned)."""

import os
import ssl
import sys

# certembed: dev-only begin
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from certembed.bootstrap.runtime.baked import (
    EXPORT_ENV,
    RELAX_X509_STRICT,
    RESPECT_ENV,
    ROLES,
)
from certembed.bootstrap.runtime.data import (
    _anchors_must_be_listed,
    _Data,
)
from certembed.bootstrap.runtime.policy import (
    _debug,
    _export_bases,
    _warn,
    env_override,
    env_store,
    plan_for,
)
from certembed.bootstrap.runtime.posix import (
    FILTERS_EMBEDDED,
    file_capath,
    filter_embedded,
    load_machine_files,
    os_store_pem,
    private_dir_ok,
)
from certembed.bootstrap.runtime.stores import (
    _cache_folder,
    _hashed_files,
    _json,
    _load_slots,
    _load_verify_locations,
    _pem_blocks,
    _private_dir_problem,
    _read_regular,
    _regular_problem,
    _say,
    _sha256_hex,
    _signature,
)

Plan = Dict[str, Any]
Pair = Tuple[Optional[str], Optional[str]]
Part = Tuple[Optional[str], Optional[bytes]]
if TYPE_CHECKING:
    from certembed.bootstrap.runtime.clients import _CertifiFinder
# certembed: dev-only end

_EXPORT_KEEP = 8  # content-addressed export files kept in the private cache dir


def _unique_pem(blob: "bytes") -> "bytes":
    """``blob`` with repeated certificates dropped (first occurrence kept, order kept)."""
    seen = set()
    out = []
    for block in _pem_blocks(blob):
        key = b"".join(block.split())
        if key not in seen:
            seen.add(key)
            out.append(block)
    return b"".join(out)


def _holds(path: "str", blob: "bytes") -> "bool":
    """True if the file at ``path`` holds exactly ``blob`` (read as every run-time read is)."""
    try:
        return _read_regular(path) == blob
    except (OSError, ValueError):
        return False


def _remove_if_owner(folder: "str", pid: "int") -> "None":
    """atexit: only the process that created ``folder`` removes it (forked children do not)."""
    if os.getpid() == pid:
        import shutil

        shutil.rmtree(folder, True)


class _State:
    def __init__(
        self,
        find_machine: "Callable[[], Tuple[bool, Optional[Pair]]]",
        data: "_Data",
        report: "Dict[str, Any]",
        environ: "Optional[Any]",
        debug: "bool",
    ) -> "None":
        # The machine store is probed when first needed (the first default context, an
        # environment override to compare, decision()), not at start-up: reading a directory
        # to find its hash links is most of what install() would otherwise cost.
        self.find_machine = find_machine
        self.machine: "Optional[Tuple[bool, Optional[Pair]]]" = None
        self.data = data
        self.report = report
        self.environ = environ
        self.debug = debug
        self.said: "set[str]" = set()
        self.plans: "Dict[Any, Plan]" = {}
        self.saved: "Dict[str, Any]" = {}
        self.patched: "List[Tuple[Any, str, Any, bool]]" = []
        self.saved_env: "Dict[str, Optional[str]]" = {}
        self.finder: "Optional[_CertifiFinder]" = None
        self.tempdirs: "List[str]" = []
        self.where_paths: "Dict[Any, str]" = {}
        # where() file -> (environment it answers for, machine file version, file version)
        self.own_files: "Dict[str, Tuple[Any, Any, Any]]" = {}
        self.exported: "set[str]" = set()
        import _thread

        self.lock = _thread.allocate_lock()
        self.probe_lock = _thread.allocate_lock()
        self.pid = os.getpid()

    def _probed(self) -> "Tuple[bool, Optional[Pair]]":
        found = self.machine
        if found is None:
            with self.probe_lock:  # one probe, even when threads race to the first context
                found = self.machine
                if found is None:
                    found = self.machine = self.find_machine()
        return found

    @property
    def system(self) -> "Optional[Pair]":
        """The machine store's (cafile, capath) found on disk, or None."""
        return self._probed()[1]

    @property
    def windows_store(self) -> "bool":
        """Whether the plan uses the OS certificate store (Windows)."""
        return self._probed()[0]

    def env(self) -> "Optional[Pair]":
        """The environment's overriding slots now (:func:`env_override`)."""
        if RESPECT_ENV and env_store(self.environ) is None:
            return None  # nothing to compare with the machine store: it need not be probed
        return env_override(self.environ, self.system, self.exported)

    @property
    def plan(self) -> "Plan":
        """The final plan for the environment as it is now (:func:`plan_for`, the same as
        :func:`explain`), cached per environment."""
        env = self.env()
        plan = self.plans.get(env)
        if plan is None:
            plan = plan_for(env, self.system, self.windows_store, self.data.verify)
            self.plans[env] = plan
        return plan

    def embedded_roles(self, plan: "Optional[Plan]" = None) -> "List[str]":
        """The plan's roles whose embedded data verified."""
        plan = self.plan if plan is None else plan
        return [r for r in plan["roles"] if self.data.verify(r)]

    def load_into(self, context: "ssl.SSLContext") -> "None":
        relax_x509_strict(context)
        plan = self.plan
        roles = self.embedded_roles(plan)
        env = plan["env"] or [None, None]
        problems = []
        if env[0] or env[1]:
            problems.extend(_load_slots(context, env[0], env[1], True))
        machine_file = None if env[0] else plan["cafile"]
        machine_dir = None if env[1] else plan["capath"]
        if machine_file or machine_dir:
            problems.extend(load_machine_files(context, machine_file, machine_dir))
        for role in roles:
            self.data.load(context, role)
        for problem in problems:
            _debug(problem + "; the always anchors are kept")
        failed_fallback = "fallback" in plan["roles"] and "fallback" not in roles
        if plan["store"] is None and (failed_fallback or not roles):
            # No machine store and no verified fallback: keep OpenSSL's own defaults.
            self.saved["set_default_verify_paths"](context)

    def join_always(self, context: "ssl.SSLContext") -> "None":
        """The always anchors join a bundle the client chose (the runtime contract's rule)."""
        if "always" in ROLES and self.data.verify("always"):
            self.data.load(context, "always")

    def pem_parts(self) -> "List[Part]":
        """(path or None, bytes or None) pieces making up the decided anchors, for certifi."""
        plan = self.plan
        roles = self.embedded_roles(plan)
        parts: "List[Part]" = []
        if plan["cafile"]:
            parts.append((plan["cafile"], None))
        # The machine's directory is taken to hold its file's roots; one the user set does not
        env_dir = bool(plan["env"] and plan["env"][1])
        if plan["capath"] and (env_dir or not plan["cafile"]):
            parts.extend((path, None) for path in _hashed_files(plan["capath"], env_dir))
        if plan["windows_store"]:
            parts.append((None, os_store_pem()))
        for role in roles:
            kept = filter_embedded(self.data.pem(role), None)
            if kept is None:
                parts.append((self.data.pem_path(role), self.data.pem(role)))
            elif kept:
                parts.append((None, kept))
        return parts

    def contents(self) -> "str":
        return self.contents_bytes().decode("utf-8", "replace")

    def contents_bytes(self, parts: "Optional[List[Part]]" = None) -> "bytes":
        chunks = []
        for path, given in self.pem_parts() if parts is None else parts:
            blob = given
            if blob is None:
                if path is None:
                    continue
                try:
                    blob = _read_regular(path)
                except (OSError, ValueError) as exc:
                    _debug("certifi: skipping " + path + " (" + str(exc) + ")")
                    continue
            chunks.append(blob if blob.endswith(b"\n") else blob + b"\n")
        return _unique_pem(b"".join(chunks))

    def where(self) -> "str":
        """One file per process and decision, created once even when threads race."""
        key = self.env()
        path = self.where_paths.get(key)
        if path is not None:
            return path
        with self.lock:
            path = self.where_paths.get(key)
            if path is not None:
                return path
            parts = self.pem_parts()
            plan = self.plan
            machine = plan["cafile"] if not plan["env"] else None
            before = _signature(machine) if machine else None
            blob = None
            single = parts[0][0] if len(parts) == 1 else None
            if single is not None and _regular_problem(single) is None:
                path = single
            else:
                try:
                    blob = self.contents_bytes(parts)
                    path = self.materialize("cacert.pem", blob)
                except OSError as exc:
                    on_disk = [p for p, _ in parts if p is not None and not _regular_problem(p)]
                    if not on_disk:
                        raise
                    # Still verifying, with fewer anchors: better than failing every request.
                    _warn(
                        "cannot write a private CA file ("
                        + str(exc)
                        + "); certifi.where() serves "
                        + on_disk[0]
                        + " alone"
                    )
                    return on_disk[0]
            self.where_paths[key] = path
            # Served by directories later only as this version, holding what was decided (an
            # export_env file found in the cache is reused by name: its bytes are compared).
            version = _signature(path)
            same = before == (_signature(machine) if machine else None)
            if same and (blob is None or _holds(path, blob)) and version == _signature(path):
                self.own_files[path] = (key, before, version)
            return path

    def serve_own_file(self, context: "ssl.SSLContext", path: "str") -> "bool":
        """Load the anchors of ``path``, a file :meth:`where` returned, through the hashed
        directories certembed decided for exactly those anchors (no PEM parsing); False, having
        loaded nothing, unless that is exact: ``path`` and the machine file are the versions
        the file was made from, the environment is the one it answers for, and every part has
        such a directory (the machine file's from the fast path, the embedded roles' own)."""
        key, machine_version, version = self.own_files[path]
        if self.env() != key or _signature(path) != version:
            return False
        plan = self.plan
        if plan["env"] or plan["windows_store"] or (plan["capath"] and not plan["cafile"]):
            return False
        capaths = []
        if plan["cafile"]:
            alone = file_capath(plan["cafile"], plan["capath"])
            if alone is None or alone[1] != machine_version:
                return False
            if _signature(plan["cafile"]) != machine_version:
                return False
            capaths.append(alone[0])
        for role in self.embedded_roles(plan):
            folder = self.data.capath(role)
            if folder is None or _anchors_must_be_listed():
                return False
            if FILTERS_EMBEDDED and filter_embedded(self.data.pem(role), folder) is not None:
                return False
            capaths.append(folder)
        try:
            for folder in capaths:
                _load_verify_locations(context, None, folder)
        except (OSError, ValueError, ssl.SSLError):
            return False  # the file as it is, then (what was loaded is a part of it)
        if self.debug and path not in self.said:
            self.said.add(path)
            _say(
                "certifi-file "
                + _json({"cafile": path, "served_by": capaths, "served": "hashed directories"})
            )
        return True

    def materialize(self, name: "str", blob: "bytes") -> "str":
        """Write ``blob`` into a private place: with export_env, a 0700 per-user folder that
        outlives the process (named by content, reused, at most a few kept; see
        :func:`_export_bases`), else (or when there is none) a private mkdtemp dir that only
        this process removes at exit. Raises OSError when nothing private can be written."""
        whys: "List[str]" = []
        if EXPORT_ENV:
            for base, sub in _export_bases():
                folder, why = _cache_folder(base, private_dir_ok, True, sub)
                if folder is not None:
                    try:
                        target = _publish(folder, name, blob)
                    except OSError as exc:  # full disk, read-only: the next place
                        why = "cannot write in " + folder + " (" + str(exc.strerror or exc) + ")"
                    else:
                        self.exported.add(target)
                        if whys:
                            _debug("export_env: " + "; ".join(whys) + "; exported to " + target)
                        return target
                whys.append(why)
        try:
            target = self._process_file(name, blob)
        except OSError as exc:
            raise OSError("; ".join([*whys, str(exc)])) from None
        if EXPORT_ENV:
            self.exported.add(target)
            if "export-fallback" not in self.said:
                self.said.add("export-fallback")
                _warn(
                    "export_env: no private folder outlives this process ("
                    + "; ".join(whys)
                    + "); the exported CA file is removed when this process exits, so child "
                    "processes that outlive it lose SSL_CERT_FILE"
                )
        return target

    def _process_file(self, name: "str", blob: "bytes") -> "str":
        """``blob`` in a private mkdtemp folder that only this process removes, at its exit."""
        import atexit
        import tempfile

        folder = tempfile.mkdtemp(prefix="certembed-")
        self.tempdirs.append(folder)
        atexit.register(_remove_if_owner, folder, os.getpid())
        os.chmod(folder, 0o700)  # whatever the umask
        if hasattr(os, "getuid") and sys.platform != "win32":
            folder = os.path.realpath(folder)  # checked where it really is
            problem = _private_dir_problem(folder)
        else:
            problem = None
        if problem is not None:
            # OpenSSL-based clients read this file by path, later: not under a folder another
            # user can swap.
            raise OSError("no private temporary folder: " + problem)
        target = os.path.join(folder, name)
        fd = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600
        )
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        return target


def _publish(folder: "str", name: "str", blob: "bytes") -> "str":
    """``<folder>/<first 32 hex of SHA-256>-<name>`` holding ``blob``: reused when it is already
    there (a private regular file of the right size: only this user writes the folder, and
    files appear there only by rename, whole), else written into a temporary sibling and
    renamed into place, so a process killed at any point never leaves a partial file under a
    name another process would use."""
    target = os.path.join(folder, _sha256_hex(blob)[:32] + "-" + name)
    if _export_file_ok(target, len(blob)):
        try:
            os.utime(target)  # most recently used: kept by _prune
        except OSError:
            pass
        return target
    tmp = os.path.join(folder, ".tmp-" + str(os.getpid()) + "-" + os.urandom(6).hex() + "-" + name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            fchmod = getattr(os, "fchmod", None)
            if fchmod is not None:
                fchmod(fd, 0o600)  # whatever the umask
            view = memoryview(blob)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _prune(folder, name, target)
    return target


def _export_file_ok(path: "str", size: "int") -> "bool":
    """A regular file (not a link) of ``size`` bytes, on POSIX owned by this user and closed
    to group and others."""
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return False
    if (st.st_mode & 0o170000) != 0o100000 or st.st_size != size:
        return False
    getuid = getattr(os, "getuid", None)
    if getuid is None or sys.platform == "win32":
        return True
    return st.st_uid == getuid() and not st.st_mode & 0o077


def relax_x509_strict(context: "ssl.SSLContext") -> "None":
    """With the ``relax_x509_strict`` opt-in, clear ``VERIFY_X509_STRICT`` (set by 3.13+'s
    create_default_context and urllib3 2 on 3.13+) on a context that loads certembed's anchors.
    Chain, hostname and expiry checks stay on; the report says ``"x509_strict": "relaxed"``."""
    flag = getattr(ssl, "VERIFY_X509_STRICT", 0)
    if RELAX_X509_STRICT and flag:
        context.verify_flags &= ~flag


def _prune(folder: "str", name: "str", keep: "str") -> "None":
    """Keep the newest ``_EXPORT_KEEP`` export files of ours in ``folder`` (and ``keep``), and
    remove temporary files of ours that a killed writer left more than an hour ago."""
    import time

    now = time.time()
    try:
        entries = []
        for entry in os.scandir(folder):
            if entry.name.startswith(".tmp-") and entry.name.endswith("-" + name):
                if now - entry.stat(follow_symlinks=False).st_mtime > 3600:
                    os.unlink(entry.path)
            elif len(entry.name) == 33 + len(name) and entry.name.endswith("-" + name):
                entries.append((entry.stat().st_mtime, entry.path))
        entries.sort(reverse=True)
        for _, path in entries[_EXPORT_KEEP:]:
            if path != keep:
                os.unlink(path)
    except OSError:
        pass
