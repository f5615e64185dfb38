"""Rendering and loading of the runtime bootstrap (``_certembed_bootstrap.py``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from certembed.payload import BOOTSTRAP_NAME, DATA_DIR_NAME, RUNTIME_NAME


def load_side_effect_free(
    payload_dir: Path, name: str = "certembed_bootstrap_inspect", shim: bool = False
) -> ModuleType:
    """Load a rendered payload's runtime (``_certembed_runtime.py``: the engine, with every name
    of the policy) under another module name: it does not install itself. ``shim``: the
    start-up module (``_certembed_bootstrap.py``) instead, under that name: it does not arm."""
    path = payload_dir / (BOOTSTRAP_NAME if shim else RUNTIME_NAME)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - file exists by construction
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


__all__ = ["BOOTSTRAP_NAME", "DATA_DIR_NAME", "RUNTIME_NAME", "load_side_effect_free"]
