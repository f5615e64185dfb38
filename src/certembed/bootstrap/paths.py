"""The trust-store tables, as the runtime's development stand-ins (``runtime/baked.py``) import
them. They live in :mod:`certembed.store_paths`, below both ``bundle`` (which probes the build
machine's store with them) and ``bootstrap`` (which bakes them into every bootstrap)."""

from __future__ import annotations

from certembed.payload import TARGET_TABLES
from certembed.store_paths import TABLES

__all__ = ["TABLES", "TARGET_TABLES"]
