"""Nuitka integration: a user plugin shipped in the package, and ``certembed build``'s freeze.

Nuitka does not discover plugins from installed packages; a build names the plugin file with
``--user-plugin=PATH``, and ``certembed nuitka-plugin`` prints that path.
"""

from __future__ import annotations

from pathlib import Path

PLUGIN_PATH = Path(__file__).resolve().parent / "certembed_nuitka.py"
