"""The policy engine every target shares: decide, verify the embedded data, patch ``ssl`` and
certifi, export the environment, install/uninstall. The rules are the runtime contract
(docs/runtime.md).

At run time this is the tail of ``_certembed_bootstrap.py``: the baked constants (``MODE``,
``ROLES``, ``DATA``, ``TABLES``...), :mod:`.stores` and the target's OS module precede it in the
same namespace. Only ``os``, ``sys`` and ``ssl`` are imported at start-up; verification is never
turned off.
"""

import os
import ssl
import sys

# certembed: dev-only begin
from typing import Any, Callable, Dict, List, Optional, Tuple

from certembed.bootstrap.runtime.baked import (
    ALWAYS_IN_CUSTOM_BUNDLES,
    BUNDLE_SHA256,
    DATA,
    DATA_DIGESTS,
    DATA_DIR_NAME,
    EXPORT_ENV,
    MODE,
    PATCH_CERTIFI,
    PATCH_GRPC,
    PATCH_PYCURL,
    RELAX_X509_STRICT,
    RESPECT_ENV,
    ROLES,
    TABLES,
    TARGET,
    VERSION,
)
from certembed.bootstrap.runtime.posix import (
    cache_base,
    file_capath,
    filter_embedded,
    find_machine_store,
    load_machine_files,
    load_os_store,
    os_store_pem,
    private_dir_ok,
    refine_plan,
)
from certembed.bootstrap.runtime.stores import (
    _cache_folder,
    _hashed_files,
    _json,
    _load_slots,
    _load_verify_locations,
    _one_dir,
    _pem_blocks,
    _private_dir_problem,
    _read_regular,
    _regular_problem,
    _same_location,
    _say,
    _sha256_hex,
    _signature,
    probe,
)

Plan = Dict[str, Any]
Pair = Tuple[Optional[str], Optional[str]]
Probed = List[List[Any]]
Part = Tuple[Optional[str], Optional[bytes]]
# certembed: dev-only end

_STATE: "Optional[_State]" = None
_EXPORT_KEEP = 8  # content-addressed export files kept in the private cache dir
__all__ = ["decide", "decision", "env_store", "install", "probe", "uninstall"]


def _platform_key(platform: "str") -> "str":
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    for key in ("freebsd", "openbsd", "netbsd", "dragonfly", "sunos"):
        if platform.startswith(key):
            return key
    return "linux"


def _warn(message: "str") -> "None":
    _say("warning: " + message)


def _debug(message: "str") -> "None":
    """One line on stderr under CERTEMBED_DEBUG=1, each distinct message once per process."""
    state = _STATE
    if state is None or not state.debug or message in state.said:
        return
    state.said.add(message)
    _say("debug: " + message)


def env_store(environ: "Optional[Any]" = None) -> "Optional[Pair]":
    """The user's SSL_CERT_FILE / SSL_CERT_DIR: each non-empty one names its slot (as with
    OpenSSL, whether or not it exists: what cannot be loaded then loads nothing); None when
    neither is set. Read every time a default context loads its defaults."""
    environ = os.environ if environ is None else environ
    cafile = environ.get("SSL_CERT_FILE") or None
    capath = environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        return None
    return cafile, capath


def _our_export(path: "str") -> "bool":
    """A file export_env wrote (``<export folder>/<32 hex>-cacert.pem``, the folder one of
    :func:`_export_bases`), inherited by a child of this app: certembed's decision, not the
    user's choice."""
    name = os.path.basename(path)
    if not EXPORT_ENV or len(name) != 43 or not name.endswith("-cacert.pem"):
        return False
    if any(c not in "0123456789abcdef" for c in name[:32]):
        return False
    folder = os.path.dirname(path)
    for candidate in _export_bases():
        base, sub = candidate
        if base and folder in (os.path.join(base, sub), os.path.join(os.path.realpath(base), sub)):
            return True
    return False


def _export_bases() -> "List[Tuple[Optional[str], str]]":
    """(base, folder name) of the places export files go, best first: the per-user cache
    (``<cache base>/certembed``), then, on POSIX, ``<temp dir>/certembed-<uid>`` (outlives the
    process too; a folder another user made there is refused by the ancestry check). Each must
    pass the OS module's private_dir_ok (stores._private_dir_problem on POSIX)."""
    bases: "List[Tuple[Optional[str], str]]" = [(cache_base(), "certembed")]
    getuid = getattr(os, "getuid", None)
    if getuid is not None and sys.platform != "win32":
        import tempfile

        try:
            bases.append((tempfile.gettempdir(), "certembed-" + str(getuid())))
        except OSError:  # no usable temporary folder at all
            pass
    return bases


def decide(
    mode: "str",
    env: "Optional[Pair]",
    system: "Optional[Pair]",
    windows_store: "bool",
    roles: "Dict[str, int]",
) -> "Plan":
    """The plan: which machine locations and which embedded roles to load.

    ``env``/``system`` are (cafile, capath) or None. Returns a dict with "store" ("env",
    "system", "windows" or None), "cafile", "capath", "env" (the slots the environment
    provides, or None), "windows_store" and "roles".

    As OpenSSL does, ``SSL_CERT_FILE`` replaces only the file and ``SSL_CERT_DIR`` only the
    directory: with one of them set, the other slot keeps what certembed would use without it
    (the machine's file or directory, or the embedded fallback where the machine has none).
    With both set they replace the machine's store; ``fallback`` joins only in ``merge``. The
    Windows store is not an OpenSSL slot: the environment never removes it (as in Python).
    """
    plan: "Plan" = {
        "store": None,
        "cafile": None,
        "capath": None,
        "env": None,
        "windows_store": False,
        "roles": [],
    }
    if mode == "embedded-only":
        use_fallback = True
    elif windows_store:
        plan["store"] = "windows"
        plan["windows_store"] = True
        use_fallback = mode == "merge"
    elif system is not None and (system[0] or system[1]):
        plan["store"] = "system"
        plan["cafile"], plan["capath"] = system
        use_fallback = mode == "merge"
    else:
        use_fallback = True
    if env is not None and (env[0] or env[1]):
        plan["env"] = [env[0], env[1]]
        if env[0] and env[1]:
            plan["cafile"], plan["capath"] = env
            use_fallback = mode == "merge"
        else:
            plan["cafile"] = env[0] or plan["cafile"]
            plan["capath"] = env[1] or plan["capath"]
        plan["store"] = "env"
    if use_fallback and roles.get("fallback"):
        plan["roles"].append("fallback")
    if roles.get("always"):
        plan["roles"].append("always")
    refine_plan(plan, mode, roles)
    return plan


class _Data:
    """The embedded anchors, on disk next to this module or given in memory; verified lazily."""

    def __init__(
        self, directory: "Optional[str]" = None, blobs: "Optional[Dict[str, bytes]]" = None
    ) -> "None":
        self.directory = directory
        self.blobs = blobs
        self.checked: "Dict[str, bool]" = {}
        self.pem: "Dict[str, bytes]" = {}
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
        """Check every file of ``role`` against the baked-in SHA-256 (once per process)."""
        if role in self.checked:
            return self.checked[role]
        prefix = role + "/"
        if self.directory is None:  # in memory: only the PEM is used (through cadata)
            expected = [n for n in DATA if n == role + ".pem"]
            digests = DATA
        else:
            digests = self._digests()
            expected = sorted(n for n in digests if n == role + ".pem" or n.startswith(prefix))
        problem = None
        if not expected:
            problem = "no embedded data for role " + role
        elif not self.digests_ok:
            problem = (
                "embedded file " + DATA_DIGESTS + " is missing or does not match its SHA-256"
                " (tampered?)"
            )
        elif self.directory is not None:
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
                self.pem[role] = blob
        self.checked[role] = problem is None
        if problem is not None:
            self.problems.append(problem)
            _warn(problem + "; not trusting the embedded " + role + " anchors")
        return problem is None

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
        kept = filter_embedded(self.pem[role], capath)
        if kept is not None:
            if kept:
                _load_verify_locations(context, None, None, kept.decode("ascii"))
        elif capath is not None and not _anchors_must_be_listed():
            _load_verify_locations(context, None, capath)
        else:
            _load_verify_locations(context, None, None, self.pem[role].decode("ascii"))


def _anchors_must_be_listed() -> "bool":
    """truststore on macOS and Windows verifies with the OS and trusts, besides, the anchors
    ``get_ca_certs()`` lists (loaded certificates only, never a lazily read hashed directory):
    there the embedded anchors load as PEM so that truststore sees them."""
    return sys.platform in ("darwin", "win32") and "truststore" in sys.modules


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
        system: "Optional[Pair]",
        windows_store: "bool",
        data: "_Data",
        report: "Dict[str, Any]",
        environ: "Optional[Any]",
        debug: "bool",
    ) -> "None":
        self.system = system
        self.windows_store = windows_store
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
        self.pid = os.getpid()

    def env(self) -> "Optional[Pair]":
        """The environment's slots now; a value naming what certembed would use anyway (the
        machine's own file or directory, certembed's own export file) is not an override."""
        if not RESPECT_ENV:
            return None
        env = env_store(self.environ)
        if env is None:
            return None
        cafile, capath = env
        system = self.system or (None, None)
        if cafile is not None and (
            _same_location(cafile, system[0], "file")
            or cafile in self.exported
            or _our_export(cafile)
        ):
            cafile = None
        if capath is not None and _same_location(capath, system[1], "dir"):
            capath = None
        return (cafile, capath) if (cafile or capath) else None

    @property
    def plan(self) -> "Plan":
        """The plan for the environment as it is now (cached per environment)."""
        env = self.env()
        plan = self.plans.get(env)
        if plan is None:
            plan = decide(MODE, env, self.system, self.windows_store, ROLES)
            self.plans[env] = plan
        return plan

    def embedded_roles(self, plan: "Optional[Plan]" = None) -> "List[str]":
        """The plan's roles whose data verified; a failed fallback turns to the machine store."""
        plan = self.plan if plan is None else plan
        roles = [r for r in plan["roles"] if self.data.verify(r)]
        failed_fallback = "fallback" in plan["roles"] and "fallback" not in roles
        if failed_fallback and plan["store"] is None and self.system is not None:
            plan["store"] = "system"
            plan["cafile"], plan["capath"] = self.system
        return roles

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
            kept = filter_embedded(self.data.pem[role], None)
            if kept is None:
                parts.append((self.data.pem_path(role), self.data.pem[role]))
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
            if filter_embedded(self.data.pem[role], folder) is not None:
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


def _state() -> "_State":
    if _STATE is None:  # pragma: no cover - the patches are removed with the state
        raise RuntimeError("certembed bootstrap is not installed")
    return _STATE


def _set_default_verify_paths(self: "ssl.SSLContext") -> "None":
    _state().load_into(self)


def _load_default_certs(
    self: "ssl.SSLContext", purpose: "ssl.Purpose" = ssl.Purpose.SERVER_AUTH
) -> "None":
    # Lib/ssl.py's own body, minus the Windows store when the plan does not use it.
    if not isinstance(purpose, ssl._ASN1Object):
        raise TypeError(purpose)
    if _state().plan["windows_store"]:
        load_os_store(self, purpose)
    self.set_default_verify_paths()


def _load_verify_locations_joined(
    self: "ssl.SSLContext",
    cafile: "Any" = None,
    capath: "Any" = None,
    cadata: "Any" = None,
) -> "None":
    state = _STATE
    own = (
        state is not None
        and capath is None
        and cadata is None
        and isinstance(cafile, str)
        and cafile in state.own_files
    )
    # certifi.where()'s own file (requests, httpx, urllib3 ca_certs=...): the same anchors
    # through the decided hashed directories, else (anything not exact) the file as it is.
    if not (own and state is not None and state.serve_own_file(self, cafile)):
        _load_verify_locations(self, cafile, capath, cadata)
    if state is not None and ALWAYS_IN_CUSTOM_BUNDLES:
        if isinstance(cafile, str) and (
            cafile in state.where_paths.values() or cafile in state.exported
        ):
            relax_x509_strict(self)  # certembed's own file (certifi.where(), export_env)
        state.join_always(self)


def _stdlib_context_class() -> "Any":
    """The standard library's SSLContext, even when ``ssl.SSLContext`` names a subclass put
    there by another library (truststore.inject_into_ssl): its methods are the ones every
    context, truststore's inner ones included, loads trust through."""
    base = getattr(ssl, "_SSLContext", None)
    for cls in ssl.SSLContext.__mro__:
        if base is not None and base in cls.__bases__:
            return cls
    return ssl.SSLContext


def _patch(state: "_State", cls: "Any", name: "str", function: "Any") -> "None":
    """Replace ``cls.name`` by ``function`` dressed as the original: name, qualified name,
    module (so pickling by reference finds it), docstring and ``inspect.signature``."""
    original = getattr(cls, name)
    function.__name__ = name
    function.__qualname__ = cls.__name__ + "." + name
    function.__module__ = cls.__module__
    function.__doc__ = getattr(original, "__doc__", None)
    function.__wrapped__ = original
    state.patched.append((cls, name, original, name in cls.__dict__))
    setattr(cls, name, function)


def _patch_certifi_module(module: "Any") -> "None":
    state = _STATE
    if state is None or getattr(module, "_certembed_patched", False):
        return

    original_where = getattr(module, "where", None)
    original_contents = getattr(module, "contents", None)

    # With no decided anchor at all (no machine store, embedded data unusable), certifi keeps
    # answering with its own bundle, as it would without certembed.
    def where() -> "str":
        if not state.pem_parts() and original_where is not None:
            return str(original_where())
        return state.where()

    def contents() -> "str":
        if not state.pem_parts() and original_contents is not None:
            return str(original_contents())
        return state.contents()

    saved = state.saved.setdefault("certifi", [])
    targets = [module]
    certifi_core = sys.modules.get(module.__name__ + ".core")
    if certifi_core is not None:
        targets.append(certifi_core)
    replacements: "List[Tuple[str, Callable[[], str]]]" = [
        ("where", where),
        ("contents", contents),
    ]
    for target in targets:
        for name, value in replacements:
            if hasattr(target, name):
                saved.append((target, name, getattr(target, name)))
                setattr(target, name, value)
    module._certembed_patched = True


def _patch_grpc_module(module: "Any") -> "None":
    """grpcio verifies in its C core with the ``roots.pem`` it ships, never through ``ssl``:
    credentials made without ``root_certificates`` get the decided anchors instead, unless the
    user chose gRPC's roots with ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``."""
    state = _STATE
    original = getattr(module, "ssl_channel_credentials", None)
    if state is None or original is None or getattr(module, "_certembed_patched", False):
        return
    if os.environ.get("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"):
        state.report["grpc"] = "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH set: gRPC keeps it"
        return

    def ssl_channel_credentials(
        root_certificates: "Optional[bytes]" = None,
        private_key: "Optional[bytes]" = None,
        certificate_chain: "Optional[bytes]" = None,
    ) -> "Any":
        if root_certificates is None:
            root_certificates = state.contents_bytes() or None
        return original(root_certificates, private_key, certificate_chain)

    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(ssl_channel_credentials, attr, getattr(original, attr, None))
    ssl_channel_credentials.__wrapped__ = original  # type: ignore[attr-defined]
    state.saved.setdefault("certifi", []).append((module, "ssl_channel_credentials", original))
    module.ssl_channel_credentials = ssl_channel_credentials
    module._certembed_patched = True
    state.report["grpc"] = "decided anchors"


def _patch_pycurl_module(module: "Any") -> "None":
    """libcurl loads CA files itself (its compiled-in path, never ``ssl``'s): new ``Curl``
    handles start with ``CAINFO`` = the decided anchors' file (also after ``reset()``); an
    app's own ``setopt(CAINFO/CAPATH)`` comes later and wins."""
    state = _STATE
    original = getattr(module, "Curl", None)
    if state is None or original is None or getattr(module, "_certembed_patched", False):
        return

    def _set_cainfo(handle: "Any") -> "None":
        if state.pem_parts():
            handle.setopt(module.CAINFO, state.where())

    class Curl(original):  # type: ignore[misc,valid-type]
        __doc__ = original.__doc__

        def __init__(self, *args: "Any", **kwargs: "Any") -> "None":
            super().__init__(*args, **kwargs)
            _set_cainfo(self)

        def reset(self) -> "None":
            super().reset()
            _set_cainfo(self)

    Curl.__module__ = original.__module__
    Curl.__wrapped__ = original
    state.saved.setdefault("certifi", []).append((module, "Curl", original))
    module.Curl = Curl
    module._certembed_patched = True
    state.report["pycurl"] = "decided anchors"


def _patchers() -> "Dict[str, Callable[[Any], None]]":
    """Modules patched when (and only if) the app imports them: name -> patch function."""
    out: "Dict[str, Callable[[Any], None]]" = {}
    if PATCH_CERTIFI:
        out["certifi"] = _patch_certifi_module
    if PATCH_GRPC:
        out["grpc"] = _patch_grpc_module
    if PATCH_PYCURL:
        out["pycurl"] = _patch_pycurl_module
    return out


class _CertifiLoader:
    def __init__(self, loader: "Any") -> "None":
        self._loader = loader

    def __getattr__(self, name: "str") -> "Any":
        return getattr(self._loader, name)

    def create_module(self, spec: "Any") -> "Any":
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: "Any") -> "None":
        self._loader.exec_module(module)
        _patchers()[module.__name__](module)


class _CertifiFinder:
    """Patches certifi, grpc and pycurl (:func:`_patchers`) when, and only if, the app imports them:
    nothing is imported up front."""

    def find_spec(self, name: "str", path: "Any" = None, target: "Any" = None) -> "Any":
        if name not in _patchers():
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _CertifiLoader(spec.loader)
                return spec
        return None


def _export_env(state: "_State") -> "Dict[str, str]":
    """Point the variables children read at the decided anchors. A failure to write (full
    disk, read-only cache, odd umask) exports nothing, says why (a warning, and
    ``export_problem`` in the report), and never stops the app: it still verifies in-process."""
    values = {}
    problem = None
    path = None
    try:
        blob = state.contents_bytes()
        if blob:
            path = state.materialize("cacert.pem", blob)
        else:
            problem = "no anchors decided, nothing to export"
    except Exception as exc:  # never fail the app's start
        problem = (
            "cannot write the CA file to export (" + type(exc).__name__ + ": " + str(exc) + ")"
        )
        _warn(
            "export_env: "
            + problem
            + "; child processes get no SSL_CERT_FILE (this process still verifies)"
        )
    state.report["export_problem"] = problem
    if path:
        values["SSL_CERT_FILE"] = path
        values["REQUESTS_CA_BUNDLE"] = path
        values["CURL_CA_BUNDLE"] = path
        capath = state.plan["capath"]
        # A directory OpenSSL would split is never handed to children (the user's own list is).
        if capath and (_one_dir(capath) or (state.plan["env"] and state.plan["env"][1])):
            values["SSL_CERT_DIR"] = capath
    for name, value in values.items():
        state.saved_env[name] = os.environ.get(name)
        os.environ[name] = value
    return values


def _imported_early(state: "_State") -> "List[str]":
    """Libraries imported before the bootstrap that keep trust of their own: fix what can be
    fixed, and say what cannot (under CERTEMBED_DEBUG)."""
    notes = []
    adapters = sys.modules.get("requests.adapters")
    if adapters is not None:
        preloaded = getattr(adapters, "_preloaded_ssl_context", None)
        if isinstance(preloaded, ssl.SSLContext):
            # requests >= 2.32 loaded certifi's bundle into one context at import: add ours
            state.load_into(preloaded)
            notes.append(
                "requests was imported before certembed: its preloaded context got the decided "
                "anchors added, but keeps certifi's own roots too"
            )
    for name in ("requests.utils", "requests.adapters"):
        module = sys.modules.get(name)
        held = getattr(module, "DEFAULT_CA_BUNDLE_PATH", None)
        if isinstance(held, str) and PATCH_CERTIFI and state.pem_parts():
            module.DEFAULT_CA_BUNDLE_PATH = state.where()  # type: ignore[union-attr]
            notes.append(
                "requests was imported before certembed: "
                + name
                + ".DEFAULT_CA_BUNDLE_PATH now names the decided anchors"
            )
    connector = sys.modules.get("aiohttp.connector")
    verified = getattr(connector, "_SSL_CONTEXT_VERIFIED", None)
    if isinstance(verified, ssl.SSLContext):
        # aiohttp made its default context at import, with the defaults before certembed
        state.load_into(verified)
        notes.append(
            "aiohttp was imported before certembed: its default context got the decided "
            "anchors added (it keeps what it had loaded)"
        )
    for name in ("urllib3", "httpx", "botocore", "grpc", "pycurl"):
        if name in sys.modules:
            notes.append(
                name + " was imported before certembed: contexts or bundle paths it created "
                "already are not changed"
            )
    return notes


def _default_data_dir() -> "Optional[str]":
    here = globals().get("__file__")
    if not here:
        return None
    folder = os.path.join(os.path.dirname(os.path.abspath(here)), DATA_DIR_NAME)
    return folder if os.path.isdir(folder) else None


def install(
    data_dir: "Optional[str]" = None,
    data: "Optional[Dict[str, bytes]]" = None,
    environ: "Optional[Any]" = None,
    platform: "Optional[str]" = None,
    compiled: "Optional[Pair]" = None,
) -> "Dict[str, Any]":
    """Apply the policy to this process (idempotent). Returns the decision report.

    ``data_dir``: the embedded data directory (default: next to this module); ``data``: the
    same files as a {relative name: bytes} mapping for in-memory hosts. ``environ``,
    ``platform`` and ``compiled`` (cafile, capath) inject OS facts for tests.
    """
    global _STATE
    if _STATE is not None:
        return _STATE.report
    debug = os.environ.get("CERTEMBED_DEBUG") == "1"
    started = 0.0
    if debug:
        import time

        started = time.perf_counter()
    platform = platform or sys.platform
    key = _platform_key(platform)
    table = TABLES.get(key) or TABLES[sorted(TABLES)[0]]
    probed: "Probed" = []
    windows_store, system = find_machine_store(key, table, compiled, probed)
    if data is None and data_dir is None:
        data_dir = _default_data_dir()
    report: "Dict[str, Any]" = {
        "certembed": VERSION,
        "target": TARGET,
        "platform": key,
        "mode": MODE,
        "probed": probed,
        "system_found": list(system) if system else None,
        "bundle_sha256": BUNDLE_SHA256,
        "data": "memory" if data is not None else data_dir,
        "x509_strict": "relaxed" if RELAX_X509_STRICT else "kept",
        # The same keys with or without CERTEMBED_DEBUG (docs/runtime.md, "Debugging").
        "env": None,
        "applied": None,
        "integrity_problems": None,
        "imported_early": [],
        "exported": None,
        "export_problem": None,
        "grpc": None,
        "pycurl": None,
        "elapsed_ms": None,
    }
    state = _State(system, windows_store, _Data(data_dir, data), report, environ, debug)
    env = state.env()
    report["env"] = list(env) if env else None
    _STATE = state
    cls = _stdlib_context_class()
    state.saved["set_default_verify_paths"] = cls.set_default_verify_paths
    _patch(state, cls, "set_default_verify_paths", _set_default_verify_paths)
    _patch(state, cls, "load_default_certs", _load_default_certs)
    if ALWAYS_IN_CUSTOM_BUNDLES or PATCH_CERTIFI:
        _patch(state, cls, "load_verify_locations", _load_verify_locations_joined)
    patchers = _patchers()
    for name, patch in patchers.items():
        loaded = sys.modules.get(name)
        if loaded is not None:
            patch(loaded)
    if any(name not in sys.modules for name in patchers):
        state.finder = _CertifiFinder()
        sys.meta_path.insert(0, state.finder)
    notes = _imported_early(state)
    report["imported_early"] = notes
    report["exported"] = _export_env(state) if EXPORT_ENV else None
    if debug:
        import time

        _fill_report(state)
        report["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 3)
        _say(_json(report))
    return report


def _fill_report(state: "_State") -> "None":
    """The report's "applied" and "integrity_problems": at install under CERTEMBED_DEBUG,
    else when decision() is first asked (they check the embedded data's SHA-256, work a normal
    start defers to the first default context)."""
    plan = state.plan
    roles = state.embedded_roles(plan)
    state.report["applied"] = {
        "store": plan["store"],
        "cafile": plan["cafile"],
        "capath": plan["capath"],
        "env_slots": plan["env"],
        "windows_store": plan["windows_store"],
        "embedded_roles": roles,
        "always_in_custom_bundles": ALWAYS_IN_CUSTOM_BUNDLES,
    }
    state.report["integrity_problems"] = list(state.data.problems)


def uninstall() -> "None":
    """Undo install(): restore ssl (the very same objects), certifi and the environment, and
    remove this process's private temp files."""
    global _STATE
    state = _STATE
    if state is None:
        return
    for cls, name, original, own in reversed(state.patched):
        if own:
            setattr(cls, name, original)
        else:
            delattr(cls, name)
    for target, name, value in state.saved.get("certifi", []):
        setattr(target, name, value)
    for module in list(sys.modules.values()):
        if getattr(module, "_certembed_patched", False):
            try:
                del module._certembed_patched
            except AttributeError:
                pass
    if state.finder is not None and state.finder in sys.meta_path:
        sys.meta_path.remove(state.finder)
    for name, value in state.saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if state.tempdirs and os.getpid() == state.pid:
        import shutil

        for folder in state.tempdirs:
            shutil.rmtree(folder, True)
    _STATE = None


def decision() -> "Optional[Dict[str, Any]]":
    """The current report (None when not installed): every key of the debug line, with or
    without CERTEMBED_DEBUG ("elapsed_ms" is None when it was not measured)."""
    state = _STATE
    if state is None:
        return None
    if state.report.get("applied") is None:
        _fill_report(state)
    return state.report


# In-memory hosts (PyOxidizer) have no __file__: their sitecustomize calls install(data=...).
if __name__ == "_certembed_bootstrap" and globals().get("__file__"):
    install()
