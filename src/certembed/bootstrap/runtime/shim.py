"""``_certembed_bootstrap``: what an app imports at start-up, kept small so that start-up stays
cheap. Importing it does not load the runtime (``_certembed_runtime``, the rest of this
package); it arms three stand-ins on the standard library's context class and one import hook.
The first of them to be used (the first default context, the first ``load_verify_locations``,
the first import of certifi, grpc or pycurl) loads the runtime and runs its ``install()``, which
patches the class over the stand-ins (recording the standard library's own methods, which the
stand-ins hold, as the originals); then the call proceeds as if the runtime had been installed
from the start. The runtime loads at once when
waiting could miss something: under ``CERTEMBED_DEBUG``, with ``export_env`` (children inherit
the environment at start-up), or when a library that keeps trust of its own was imported first.

If the runtime cannot be loaded, the standard library's methods stay in place (OpenSSL's own
defaults, verification on) and one warning says why. ``install()`` with or without arguments,
``decision()`` and ``uninstall()`` keep their meaning; every other name is the runtime's.
"""

import os
import ssl
import sys

# certembed: dev-only begin
from typing import Any, Callable, Dict, List, Optional

from certembed.bootstrap.runtime.baked import (
    ALWAYS_IN_CUSTOM_BUNDLES,
    EXPORT_ENV,
    PATCH_CERTIFI,
    PATCH_GRPC,
    PATCH_PYCURL,
)

# certembed: dev-only end

RUNTIME_MODULE = "_certembed_runtime"
# Libraries that keep trust of their own once imported (the runtime fixes or reports them at
# install): imported before this module, they make the runtime load at once.
_EARLY = (
    "certifi",
    "requests",
    "aiohttp",
    "urllib3",
    "httpx",
    "botocore",
    "grpc",
    "pycurl",
)


def _new_lock() -> "Any":
    import _thread  # built in, and loaded with the interpreter

    return _thread.RLock()


_LOCK = _new_lock()
# The runtime's folder, fixed at import: the app may change directory before the runtime loads.
_HERE = globals().get("__file__")
_FOLDER = os.path.dirname(os.path.abspath(_HERE)) if _HERE else None
_ARMED: "List[Any]" = []  # (class, name, original, whether the class had its own)
_FINDER: "List[Any]" = []
_RUNTIME: "List[Any]" = []  # the loaded runtime module
_ACTIVE: "List[Any]" = []  # the runtime module, once its install() ran
_FAILED: "List[str]" = []  # why the runtime could not be applied (said once)


def _watched() -> "List[str]":
    names = []
    if PATCH_CERTIFI:
        names.append("certifi")
    if PATCH_GRPC:
        names.append("grpc")
    if PATCH_PYCURL:
        names.append("pycurl")
    return names


def _context_class() -> "Any":
    """The standard library's SSLContext, even when ``ssl.SSLContext`` names a subclass (the
    runtime patches the same class)."""
    base = getattr(ssl, "_SSLContext", None)
    for cls in ssl.SSLContext.__mro__:
        if base is not None and base in cls.__bases__:
            return cls
    return ssl.SSLContext


def _runtime() -> "Any":
    """The runtime module, loaded once and not installed: next to this file, else (in memory)
    through the import system."""
    with _LOCK:
        if _RUNTIME:
            return _RUNTIME[0]
        external = sys.modules.get("_frozen_importlib_external")
        bootstrap = sys.modules.get("_frozen_importlib")
        if _FOLDER and external is not None and bootstrap is not None:
            path = os.path.join(_FOLDER, RUNTIME_MODULE + ".py")
            spec = external.spec_from_file_location(RUNTIME_MODULE, path)
            if spec is None or spec.loader is None:
                raise ImportError("no " + path)
            module = bootstrap.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = __import__(RUNTIME_MODULE)
        _RUNTIME.append(module)
        return module


def _disarm() -> "None":
    """Put back what :func:`_arm` replaced (the very same objects)."""
    while _ARMED:
        cls, name, original, own = _ARMED.pop()
        if own:
            setattr(cls, name, original)
        else:
            try:
                delattr(cls, name)
            except AttributeError:  # pragma: no cover - someone removed it already
                pass
    while _FINDER:
        finder = _FINDER.pop()
        try:
            sys.meta_path.remove(finder)
        except ValueError:
            pass


def _activate(quiet: "bool" = True, **kwargs: "Any") -> "Any":
    """Load and install the runtime (once); return it. ``quiet``: a failure puts the standard
    library's methods back, warns and returns None (a stand-in's caller then proceeds as stock
    Python would); else it raises."""
    with _LOCK:
        if _ACTIVE:
            return _ACTIVE[0]
        if quiet and _FAILED:
            return None  # a stand-in held elsewhere: the warning was given, stock it is
        module = None
        try:
            module = _runtime()
            # The runtime patches over the stand-ins (another thread may be using the class
            # meanwhile: it never sees it without one or the other) and records what they
            # replaced as the originals it restores at uninstall().
            module._PRIOR.update({name: (original, own) for _, name, original, own in _ARMED})
            if _ARMED:  # armed at start-up: nothing that keeps its own trust was imported first
                module._ARMED_FIRST[:] = [True]
            module.install(**kwargs)
        except Exception as exc:
            if module is not None and getattr(module, "_STATE", None) is not None:
                try:
                    module.uninstall()
                except Exception:  # pragma: no cover - the stand-ins' originals come next
                    pass
            _disarm()
            if not quiet:
                raise
            _FAILED.append(type(exc).__name__ + ": " + str(exc))
            sys.stderr.write(
                "certembed: warning: the trust policy could not be applied ("
                + _FAILED[-1]
                + "); this process uses OpenSSL's own defaults\n"
            )
            return None
        del _ARMED[:]  # patched over by the runtime, which restores the originals
        while _FINDER:  # the runtime's own import hook is in place
            finder = _FINDER.pop()
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)
        _ACTIVE.append(module)
        return module


def _stand_in(cls: "Any", name: "str") -> "Callable[..., Any]":
    """A method that loads the runtime, then runs what the class holds by then (the runtime's
    patch, or the standard library's own method if the runtime could not load)."""

    def method(self: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        _activate()
        return getattr(cls, name)(self, *args, **kwargs)

    original = getattr(cls, name)
    method.__name__ = name
    method.__qualname__ = cls.__name__ + "." + name
    method.__module__ = cls.__module__
    method.__doc__ = getattr(original, "__doc__", None)
    method.__wrapped__ = original  # type: ignore[attr-defined]
    return method


class _Finder:
    """Loads the runtime when the app imports a module it patches, then hands the import to the
    runtime's own hook."""

    def find_spec(self, name: "str", path: "Any" = None, target: "Any" = None) -> "Any":
        if name not in _watched():
            return None
        module = _activate()
        state = getattr(module, "_STATE", None) if module is not None else None
        finder = getattr(state, "finder", None)
        return finder.find_spec(name, path, target) if finder is not None else None


def _arm() -> "None":
    with _LOCK:
        if _ARMED or _ACTIVE:
            return
        cls = _context_class()
        names = ["set_default_verify_paths", "load_default_certs"]
        if ALWAYS_IN_CUSTOM_BUNDLES or PATCH_CERTIFI:
            names.append("load_verify_locations")
        for name in names:
            _ARMED.append((cls, name, getattr(cls, name), name in cls.__dict__))
            setattr(cls, name, _stand_in(cls, name))
        if _watched():
            finder = _Finder()
            _FINDER.append(finder)
            sys.meta_path.insert(0, finder)


def install(
    data_dir: "Optional[str]" = None,
    data: "Optional[Dict[str, bytes]]" = None,
    environ: "Optional[Any]" = None,
    platform: "Optional[str]" = None,
    compiled: "Optional[Any]" = None,
) -> "Dict[str, Any]":
    """Load the runtime and apply the policy now (idempotent); the decision report."""
    kwargs: "Dict[str, Any]" = {}
    for key, value in (
        ("data_dir", data_dir),
        ("data", data),
        ("environ", environ),
        ("platform", platform),
        ("compiled", compiled),
    ):
        if value is not None:
            kwargs[key] = value
    module = _activate(False, **kwargs)
    return module.install(**kwargs)  # type: ignore[no-any-return]  # the report, as applied


def decision() -> "Optional[Dict[str, Any]]":
    """The decision report (loading the runtime if it is armed but not loaded yet); None when
    certembed is not installed."""
    with _LOCK:
        if _ACTIVE:
            return _ACTIVE[0].decision()  # type: ignore[no-any-return]
        if not _ARMED and not _FINDER:
            return None
    module = _activate()
    return module.decision() if module is not None else None


def uninstall() -> "None":
    """Undo install() or the armed stand-ins: the standard library as it was."""
    with _LOCK:
        _disarm()
        if _ACTIVE:
            _ACTIVE.pop().uninstall()


def __getattr__(name: "str") -> "Any":
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_runtime(), name)


# decide, env_store and probe are the runtime's (module __getattr__ above)
__all__ = ["decide", "decision", "env_store", "install", "probe", "uninstall"]  # noqa: F822


# Imported under its own name from a file: arm (or, where waiting could miss something, install
# at once). In memory (PyOxidizer) there is no file: the host's sitecustomize calls install().
if __name__ == "_certembed_bootstrap" and globals().get("__file__"):
    if (
        EXPORT_ENV
        or os.environ.get("CERTEMBED_DEBUG") == "1"
        or any(name in sys.modules for name in _EARLY)
    ):
        _activate(False)
    else:
        _arm()
