"""certembed: make TLS verification work inside frozen Python apps on every machine."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
