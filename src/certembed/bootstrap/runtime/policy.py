"""The policy: which machine locations and which embedded roles a process trusts (``explain``,
made of ``env_override``, ``decide`` and the integrity check's outcome), and the helpers every
later part shares (the platform key, warnings, the debug line, the process's one state). The
rules are the runtime contract (docs/runtime.md)."""

import os
import sys

# certembed: dev-only begin
from typing import TYPE_CHECKING, Any, Callable, Collection, Dict, List, Optional, Tuple

from certembed.bootstrap.runtime.baked import (
    EXPORT_ENV,
    MODE,
    RESPECT_ENV,
    ROLES,
)
from certembed.bootstrap.runtime.posix import (
    cache_base,
    refine_plan,
)
from certembed.bootstrap.runtime.stores import (
    _say,
    same_location,
)

if TYPE_CHECKING:
    from certembed.bootstrap.runtime.state import _State

Plan = Dict[str, Any]
Pair = Tuple[Optional[str], Optional[str]]
# certembed: dev-only end

_STATE: "Optional[_State]" = None


def platform_key(platform: "str") -> "str":
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


def env_override(
    environ: "Optional[Any]", system: "Optional[Pair]", exported: "Collection[str]" = ()
) -> "Optional[Pair]":
    """The environment's slots that override (None with ``respect_env`` off): a value naming
    what certembed would use anyway (the machine's own file or directory, certembed's own
    export file, one of ``exported``) is not an override."""
    if not RESPECT_ENV:
        return None
    env = env_store(environ)
    if env is None:
        return None
    cafile, capath = env
    machine = system or (None, None)
    if cafile is not None and (
        same_location(cafile, machine[0], "file") or cafile in exported or _our_export(cafile)
    ):
        cafile = None
    if capath is not None and same_location(capath, machine[1], "dir"):
        capath = None
    return (cafile, capath) if (cafile or capath) else None


def plan_for(
    env: "Optional[Pair]",
    system: "Optional[Pair]",
    windows_store: "bool",
    verified: "Optional[Callable[[str], bool]]" = None,
    mode: "Optional[str]" = None,
    roles: "Optional[Dict[str, int]]" = None,
) -> "Plan":
    """The final plan for an environment's overriding slots (:func:`env_override`): the
    decided one, or, when the embedded fallback it relies on fails ``verified`` (the data's
    integrity check) and there is no other store, a new plan on the machine store. Never
    edits a plan it returned."""
    # The baked constants are read at call time (tests and hosts may set them after loading).
    mode = MODE if mode is None else mode
    plan = decide(mode, env, system, windows_store, ROLES if roles is None else roles)
    if verified is None or "fallback" not in plan["roles"]:
        return plan
    failed = not verified("fallback")
    if failed and plan["store"] is None and system is not None:
        plan = dict(plan, store="system", cafile=system[0], capath=system[1])
        plan["roles"] = list(plan["roles"])
        plan["env"] = list(plan["env"]) if plan["env"] else None
    return plan


def explain(
    environ: "Optional[Any]",
    system: "Optional[Pair]",
    windows_store: "bool",
    verified: "Optional[Callable[[str], bool]]" = None,
    mode: "Optional[str]" = None,
    roles: "Optional[Dict[str, int]]" = None,
) -> "Plan":
    """What this bootstrap does for ``environ`` (None: ``os.environ``) on a machine whose
    store the OS module found (``system``: (cafile, capath) or None; ``windows_store``): the
    plan install() applies and doctor reports. Side-effect free except ``verified`` (a role
    name -> its embedded data passed the integrity check; None: taken as passing). ``mode``
    and ``roles`` default to the baked ones."""
    env = env_override(environ, system)
    return plan_for(env, system, windows_store, verified, mode, roles)
