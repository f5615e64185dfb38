"""Client libraries that keep trust of their own: certifi (``where``/``contents``), grpcio
(``ssl_channel_credentials``) and pycurl (``Curl``), patched when, and only if, the app imports
them (a meta-path finder; nothing is imported up front)."""

import os
import sys

# certembed: dev-only begin
from typing import Any, Callable, Dict, List, Optional, Tuple

from certembed.bootstrap.runtime.baked import (
    PATCH_CERTIFI,
    PATCH_GRPC,
    PATCH_PYCURL,
)
from certembed.bootstrap.runtime.policy import (
    _STATE,
)

# certembed: dev-only end


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
