"""Install and uninstall: apply the policy to this process (patch ``ssl``, certifi and the
clients, export the environment) and report the decision. The rules are the runtime contract
(docs/runtime.md).

At run time this is the tail of ``_certembed_runtime.py``: the baked constants (``MODE``,
``ROLES``, ``DATA``, ``TABLES``...), :mod:`.stores`, the target's OS module and the other runtime
parts (:mod:`.policy`, :mod:`.data`, :mod:`.state`, :mod:`.patch`, :mod:`.clients`) precede it in
the same namespace. Only ``os``, ``sys`` and ``ssl`` are imported at start-up; verification is
never turned off.
"""

import os
import ssl
import sys

# certembed: dev-only begin
from typing import Any, Dict, List, Optional, Tuple

from certembed.bootstrap.runtime.baked import (
    ALWAYS_IN_CUSTOM_BUNDLES,
    BUNDLE_SHA256,
    DATA_DIR_NAME,
    EXPORT_ENV,
    MODE,
    PATCH_CERTIFI,
    RELAX_X509_STRICT,
    TABLES,
    TARGET,
    VERSION,
)
from certembed.bootstrap.runtime.clients import (
    _CertifiFinder,
    _patchers,
)
from certembed.bootstrap.runtime.data import (
    _Data,
)
from certembed.bootstrap.runtime.patch import (
    _load_default_certs,
    _load_verify_locations_joined,
    _patch,
    _prior,
    _set_default_verify_paths,
    _stdlib_context_class,
)
from certembed.bootstrap.runtime.policy import (
    _STATE,
    _warn,
    decide,
    env_store,
    platform_key,
)
from certembed.bootstrap.runtime.posix import (
    find_machine_store,
)
from certembed.bootstrap.runtime.state import (
    _State,
)
from certembed.bootstrap.runtime.stores import (
    _json,
    _one_dir,
    _say,
    probe,
)

Pair = Tuple[Optional[str], Optional[str]]
Probed = List[List[Any]]
# certembed: dev-only end

__all__ = ["decide", "decision", "env_store", "install", "probe", "uninstall"]


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


# Set by ``_certembed_bootstrap`` right before it installs the runtime from a stand-in.
_ARMED_FIRST: "List[bool]" = []


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
    key = platform_key(platform)
    table = TABLES.get(key) or TABLES[sorted(TABLES)[0]]
    if data is None and data_dir is None:
        data_dir = _default_data_dir()
    report: "Dict[str, Any]" = {
        "certembed": VERSION,
        "target": TARGET,
        "platform": key,
        "mode": MODE,
        # Filled when the machine store is probed (at the first default context, or when
        # decision() is asked), not at start-up.
        "probed": None,
        "system_found": None,
        "bundle_sha256": BUNDLE_SHA256,
        "data": "memory" if data is not None else data_dir,
        "x509_strict": "relaxed" if RELAX_X509_STRICT else "kept",
        # The same keys with or without CERTEMBED_DEBUG (docs/runtime.md, "Debugging").
        "env": None,
        "applied": None,
        "integrity_problems": None,
        "embedded_checked": None,
        "imported_early": [],
        "exported": None,
        "export_problem": None,
        "grpc": None,
        "pycurl": None,
        "elapsed_ms": None,
    }

    def find_machine() -> "Tuple[bool, Optional[Pair]]":
        probed: "Probed" = []
        found = find_machine_store(key, table, compiled, probed)
        report["probed"] = probed
        report["system_found"] = list(found[1]) if found[1] else None
        return found

    state = _State(find_machine, _Data(data_dir, data), report, environ, debug)
    env = state.env()
    report["env"] = list(env) if env else None
    _STATE = state
    cls = _stdlib_context_class()
    state.saved["set_default_verify_paths"] = _prior(cls, "set_default_verify_paths")[0]
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
    # Installed by the start-up module's stand-ins (it armed them only because no library that
    # keeps trust of its own had been imported before it): nothing was imported early, and a
    # library being imported right now (the import of certifi that loaded the runtime) is half
    # made, not early.
    notes = [] if _ARMED_FIRST and _ARMED_FIRST.pop() else _imported_early(state)
    report["imported_early"] = notes
    report["exported"] = _export_env(state) if EXPORT_ENV else None
    if debug:
        import time

        _fill_report(state)
        report["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 3)
        _say(_json(report))
    return report


def _fill_report(state: "_State") -> "None":
    """The report's "applied", "integrity_problems" and "embedded_checked": at install under
    CERTEMBED_DEBUG, else when decision() is first asked (they check the embedded data's
    SHA-256, work a normal start defers to the first default context)."""
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
    state.report["embedded_checked"] = dict(state.data.how)


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
