"""The policy engine every target shares: decide, verify the embedded data, patch ``ssl`` and
certifi, export the environment, install/uninstall.

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
    BUNDLE_SHA256,
    DATA,
    DATA_DIR_NAME,
    EXPORT_ENV,
    MODE,
    PATCH_CERTIFI,
    RELAX_X509_STRICT,
    RESPECT_ENV,
    ROLES,
    TABLES,
    TARGET,
    VERSION,
)
from certembed.bootstrap.runtime.posix import (
    cache_base,
    find_machine_store,
    load_machine_files,
    load_os_store,
    os_store_pem,
    private_dir_ok,
    refine_plan,
)
from certembed.bootstrap.runtime.stores import (
    _hashed_files,
    _load_verify_locations,
    _usable_file,
    probe,
)

Plan = Dict[str, Any]
Pair = Tuple[Optional[str], Optional[str]]
Probed = List[List[Any]]
Part = Tuple[Optional[str], Optional[bytes]]
# certembed: dev-only end

_STATE: "Optional[_State]" = None
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
    try:
        sys.stderr.write("certembed: warning: " + message + "\n")
    except Exception:
        pass


def env_store(environ: "Optional[Any]" = None) -> "Optional[Pair]":
    """The user's SSL_CERT_FILE / SSL_CERT_DIR when non-empty and existing, else None."""
    environ = os.environ if environ is None else environ
    cafile = environ.get("SSL_CERT_FILE") or None
    capath = environ.get("SSL_CERT_DIR") or None
    if cafile is not None and not _usable_file(cafile):
        cafile = None
    if capath is not None and not any(os.path.isdir(p) for p in capath.split(os.pathsep) if p):
        capath = None
    if cafile is None and capath is None:
        return None
    return cafile, capath


def decide(
    mode: "str",
    env: "Optional[Pair]",
    system: "Optional[Pair]",
    windows_store: "bool",
    roles: "Dict[str, int]",
) -> "Plan":
    """The plan: which machine locations and which embedded roles to load.

    ``env``/``system`` are (cafile, capath) or None. Returns a dict with "store" ("env",
    "system", "windows" or None), "cafile", "capath", "windows_store" and "roles".
    """
    plan: "Plan" = {
        "store": None,
        "cafile": None,
        "capath": None,
        "windows_store": False,
        "roles": [],
    }
    if env is not None:
        plan["store"] = "env"
        plan["cafile"], plan["capath"] = env
        use_fallback = mode == "merge"
    elif mode == "embedded-only":
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

    def _read(self, name: "str") -> "Optional[bytes]":
        if self.blobs is not None:
            return self.blobs.get(name)
        if self.directory is None:
            return None
        try:
            with open(os.path.join(self.directory, *name.split("/")), "rb") as handle:
                return handle.read()
        except (OSError, ValueError):
            return None

    def verify(self, role: "str") -> "bool":
        """Check every file of ``role`` against the baked-in SHA-256 (once per process)."""
        if role in self.checked:
            return self.checked[role]
        import hashlib

        prefix = role + "/"
        if self.directory is None:  # in memory: only the PEM is used (through cadata)
            expected = [n for n in DATA if n == role + ".pem"]
        else:
            expected = sorted(n for n in DATA if n == role + ".pem" or n.startswith(prefix))
        problem = None
        if not expected:
            problem = "no embedded data for role " + role
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
                problem = "embedded file " + name + " is missing"
            elif hashlib.sha256(blob).hexdigest() != DATA[name]:
                problem = "embedded file " + name + " does not match its SHA-256 (tampered?)"
            elif name == role + ".pem":
                self.pem[role] = blob
        self.checked[role] = problem is None
        if problem is not None:
            self.problems.append(problem)
            _warn(problem + "; not trusting the embedded " + role + " anchors")
        return problem is None

    def capath(self, role: "str") -> "Optional[str]":
        if self.directory is None:
            return None
        return os.path.join(self.directory, role)

    def pem_path(self, role: "str") -> "Optional[str]":
        if self.directory is None:
            return None
        return os.path.join(self.directory, role + ".pem")


class _State:
    def __init__(self, plan: "Plan", data: "_Data", report: "Dict[str, Any]") -> "None":
        self.plan = plan
        self.data = data
        self.report = report
        self.saved: "Dict[str, Any]" = {}
        self.saved_env: "Dict[str, Optional[str]]" = {}
        self.finder: "Optional[_CertifiFinder]" = None
        self.tempdirs: "List[str]" = []
        self.where_path: "Optional[str]" = None

    def embedded_roles(self) -> "List[str]":
        """The plan's roles whose data verified; a failed fallback turns to the machine store."""
        roles = [r for r in self.plan["roles"] if self.data.verify(r)]
        failed_fallback = "fallback" in self.plan["roles"] and "fallback" not in roles
        if failed_fallback and self.plan["store"] is None and self.report.get("system_found"):
            self.plan["store"] = "system"
            self.plan["cafile"], self.plan["capath"] = self.report["system_found"]
        return roles

    def load_into(self, context: "ssl.SSLContext") -> "None":
        relax_x509_strict(context)
        plan = self.plan
        if plan["cafile"] or plan["capath"]:
            load_machine_files(context, plan["cafile"], plan["capath"])
        roles = self.embedded_roles()
        for role in roles:
            capath = self.data.capath(role)
            if capath is not None:
                _load_verify_locations(context, None, capath)
            else:
                _load_verify_locations(context, None, None, self.data.pem[role].decode("ascii"))
        failed_fallback = "fallback" in plan["roles"] and "fallback" not in roles
        if plan["store"] is None and (failed_fallback or not roles):
            # No machine store and no verified fallback: keep OpenSSL's own defaults.
            self.saved["set_default_verify_paths"](context)

    def pem_parts(self) -> "List[Part]":
        """(path or None, bytes or None) pieces making up the decided anchors, for certifi."""
        parts: "List[Part]" = []
        if self.plan["cafile"]:
            parts.append((self.plan["cafile"], None))
        elif self.plan["capath"]:
            parts.extend((path, None) for path in _hashed_files(self.plan["capath"]))
        if self.plan["windows_store"]:
            parts.append((None, os_store_pem()))
        for role in self.embedded_roles():
            parts.append((self.data.pem_path(role), self.data.pem[role]))
        return parts

    def contents(self) -> "str":
        return self.contents_bytes().decode("utf-8", "replace")

    def contents_bytes(self) -> "bytes":
        chunks = []
        for path, given in self.pem_parts():
            blob = given
            if blob is None:
                if path is None:
                    continue
                try:
                    with open(path, "rb") as handle:
                        blob = handle.read()
                except OSError:
                    continue
            chunks.append(blob if blob.endswith(b"\n") else blob + b"\n")
        return b"".join(chunks)

    def where(self) -> "str":
        if self.where_path is not None:
            return self.where_path
        parts = self.pem_parts()
        if len(parts) == 1 and parts[0][0] is not None:
            self.where_path = parts[0][0]
            return self.where_path
        try:
            self.where_path = self.materialize("cacert.pem", self.contents_bytes())
        except OSError as exc:
            on_disk = [path for path, _ in parts if path is not None]
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
        return self.where_path

    def materialize(self, name: "str", blob: "bytes") -> "str":
        """Write ``blob`` into a private place: a 0700 per-user cache dir when it must outlive
        the process (export_env), else a private mkdtemp dir removed at exit."""
        import tempfile

        if EXPORT_ENV:
            folder = _private_cache_dir()
            if folder is not None:
                import hashlib

                target = os.path.join(folder, hashlib.sha256(blob).hexdigest()[:32] + "-" + name)
                if not _usable_file(target):
                    fd, tmp = tempfile.mkstemp(dir=folder)
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(blob)
                    os.chmod(tmp, 0o600)
                    os.replace(tmp, target)
                return target
        import atexit
        import shutil

        folder = tempfile.mkdtemp(prefix="certembed-")
        self.tempdirs.append(folder)
        atexit.register(shutil.rmtree, folder, True)
        target = os.path.join(folder, name)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        return target


def relax_x509_strict(context: "ssl.SSLContext") -> "None":
    """With the ``relax_x509_strict`` opt-in, clear ``VERIFY_X509_STRICT`` (set by 3.13+'s
    create_default_context and urllib3 2 on 3.13+) on a context that loads certembed's anchors.
    Chain, hostname and expiry checks stay on; the report says ``"x509_strict": "relaxed"``."""
    flag = getattr(ssl, "VERIFY_X509_STRICT", 0)
    if RELAX_X509_STRICT and flag:
        context.verify_flags &= ~flag


def _private_cache_dir() -> "Optional[str]":
    """A per-user, 0700 cache dir we own, or None (never a shared or world-writable place)."""
    base = cache_base()
    if not base or not os.path.isabs(base):
        return None
    folder = os.path.join(base, "certembed")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return folder if private_dir_ok(folder) else None


def _state() -> "_State":
    if _STATE is None:  # pragma: no cover - the patches are removed with the state
        raise RuntimeError("certembed bootstrap is not installed")
    return _STATE


def _patched_set_default_verify_paths(self: "ssl.SSLContext") -> "None":
    _state().load_into(self)


def _patched_load_default_certs(
    self: "ssl.SSLContext", purpose: "ssl.Purpose" = ssl.Purpose.SERVER_AUTH
) -> "None":
    # Lib/ssl.py's own body, minus the Windows store when the plan does not use it.
    if not isinstance(purpose, ssl._ASN1Object):
        raise TypeError(purpose)
    if _state().plan["windows_store"]:
        load_os_store(self, purpose)
    self.set_default_verify_paths()


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
        _patch_certifi_module(module)


class _CertifiFinder:
    """Patches certifi when (and only if) the app imports it: nothing is imported up front."""

    def find_spec(self, name: "str", path: "Any" = None, target: "Any" = None) -> "Any":
        if name != "certifi":
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
    blob = state.contents_bytes()
    path = state.materialize("cacert.pem", blob) if blob else None
    values = {}
    if path:
        values["SSL_CERT_FILE"] = path
        values["REQUESTS_CA_BUNDLE"] = path
        values["CURL_CA_BUNDLE"] = path
    if state.plan["capath"]:
        values["SSL_CERT_DIR"] = state.plan["capath"]
    for name, value in values.items():
        state.saved_env[name] = os.environ.get(name)
        os.environ[name] = value
    return values


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
    env = env_store(environ) if RESPECT_ENV else None
    probed: "Probed" = []
    windows_store, system = find_machine_store(key, table, compiled, probed)
    plan = decide(MODE, env, system, windows_store and env is None, ROLES)
    if data is None and data_dir is None:
        data_dir = _default_data_dir()
    report: "Dict[str, Any]" = {
        "certembed": VERSION,
        "target": TARGET,
        "platform": key,
        "mode": MODE,
        "env": list(env) if env else None,
        "probed": probed,
        "system_found": list(system) if system else None,
        "bundle_sha256": BUNDLE_SHA256,
        "data": "memory" if data is not None else data_dir,
        "x509_strict": "relaxed" if RELAX_X509_STRICT else "kept",
    }
    state = _State(plan, _Data(data_dir, data), report)
    state.saved["set_default_verify_paths"] = ssl.SSLContext.set_default_verify_paths
    state.saved["load_default_certs"] = ssl.SSLContext.load_default_certs
    _STATE = state
    ssl.SSLContext.set_default_verify_paths = _patched_set_default_verify_paths  # type: ignore[method-assign]
    ssl.SSLContext.load_default_certs = _patched_load_default_certs  # type: ignore[method-assign]
    if PATCH_CERTIFI:
        certifi = sys.modules.get("certifi")
        if certifi is not None:
            _patch_certifi_module(certifi)
        else:
            state.finder = _CertifiFinder()
            sys.meta_path.insert(0, state.finder)
    if EXPORT_ENV:
        report["exported"] = _export_env(state)
    if debug:
        import time

        roles = state.embedded_roles()
        report["applied"] = {
            "store": plan["store"],
            "cafile": plan["cafile"],
            "capath": plan["capath"],
            "windows_store": plan["windows_store"],
            "embedded_roles": roles,
        }
        report["integrity_problems"] = list(state.data.problems)
        report["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 3)
        import json

        sys.stderr.write("certembed: " + json.dumps(report, sort_keys=True) + "\n")
    return report


def uninstall() -> "None":
    """Undo install(): restore ssl, certifi and the environment, remove private temp files."""
    global _STATE
    state = _STATE
    if state is None:
        return
    ssl.SSLContext.set_default_verify_paths = state.saved["set_default_verify_paths"]  # type: ignore[method-assign]
    ssl.SSLContext.load_default_certs = state.saved["load_default_certs"]  # type: ignore[method-assign]
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
    if state.tempdirs:
        import shutil

        for folder in state.tempdirs:
            shutil.rmtree(folder, True)
    _STATE = None


def decision() -> "Optional[Dict[str, Any]]":
    """The current report (None when not installed)."""
    return None if _STATE is None else _STATE.report


# In-memory hosts (PyOxidizer) have no __file__: their sitecustomize calls install(data=...).
if __name__ == "_certembed_bootstrap" and globals().get("__file__"):
    install()
