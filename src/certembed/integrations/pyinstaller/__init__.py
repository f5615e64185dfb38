"""PyInstaller integration: the hook dir registered through the ``pyinstaller40`` entry point."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

HOOK_DIR = Path(__file__).resolve().parent


def get_hook_dirs() -> list[str]:
    """Our hook dir, plus a no-op second entry whose spelling carries the inputs' key.

    PyInstaller reuses a cached analysis (and so never re-runs our hook) unless one of its
    inputs changed; the hook search path is one of them, compared as text. The second entry,
    ``<dir>/inputs-<key>/../rthooks``, is our ``rthooks/`` directory once normalized (it holds
    no ``hook-*.py`` and no ``rthooks.dat``, so PyInstaller finds nothing there); its text names
    the key of the config and every PEM/certifi input, so a plain ``pyinstaller app.py`` re-runs
    the analysis and rebuilds the payload when any input changed, without ``--clean``.
    Runs in PyInstaller's isolated subprocess, in its working directory and environment; never
    raises (a failing entry point would silently drop the hook).
    """
    try:
        from certembed.integrations.pyinstaller.hookimpl import current_inputs_key

        key = current_inputs_key(Path.cwd())[:16]
    except Exception as exc:  # the hook itself reports the problem, loudly, when it runs
        key = "unreadable-" + hashlib.sha256(repr(exc).encode()).hexdigest()[:16]
    return [str(HOOK_DIR), str(HOOK_DIR / f"inputs-{key}" / os.pardir / "rthooks")]


def get_pyinstaller_tests() -> list[str]:
    """Test directories for PyInstaller's test runner (they use its ``pyi_builder`` fixture)."""
    return [str(HOOK_DIR / "tests")]
