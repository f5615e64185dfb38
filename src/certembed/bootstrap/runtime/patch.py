"""The ``ssl`` patches: ``set_default_verify_paths``, ``load_default_certs`` and
``load_verify_locations`` of the standard library's context class load the decided anchors;
verification is never turned off. Each patch is recorded so that uninstall restores the very
same objects."""

import ssl

# certembed: dev-only begin
from typing import Any, Dict, Tuple

from certembed.bootstrap.runtime.baked import (
    ALWAYS_IN_CUSTOM_BUNDLES,
)
from certembed.bootstrap.runtime.policy import (
    _STATE,
)
from certembed.bootstrap.runtime.posix import (
    load_os_store,
)
from certembed.bootstrap.runtime.state import (
    _State,
    relax_x509_strict,
)
from certembed.bootstrap.runtime.stores import (
    _load_verify_locations,
)

# certembed: dev-only end


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


# What the start-up module's stand-ins replaced (``_certembed_bootstrap`` sets it before it calls
# install()): name -> (the standard library's own method, whether the class had its own). The
# patches go over the stand-ins directly, so no thread ever sees the class without either.
_PRIOR: "Dict[str, Tuple[Any, bool]]" = {}


def _prior(cls: "Any", name: "str") -> "Tuple[Any, bool]":
    """``cls.name`` as the standard library has it, and whether ``cls`` has its own."""
    if name in _PRIOR:
        return _PRIOR[name]
    return getattr(cls, name), name in cls.__dict__


def _patch(state: "_State", cls: "Any", name: "str", function: "Any") -> "None":
    """Replace ``cls.name`` by ``function`` dressed as the original: name, qualified name,
    module (so pickling by reference finds it), docstring and ``inspect.signature``."""
    original, own = _prior(cls, name)
    function.__name__ = name
    function.__qualname__ = cls.__name__ + "." + name
    function.__module__ = cls.__module__
    function.__doc__ = getattr(original, "__doc__", None)
    function.__wrapped__ = original
    state.patched.append((cls, name, original, own))
    setattr(cls, name, function)
