"""The shape every OS module has (checked by mypy: each module is assigned to this Protocol).

Not shipped: only the type checker and the tests read it.
"""

from __future__ import annotations

import ssl
from typing import Any, Optional, Protocol

from certembed.bootstrap.runtime import macos, posix, windows

Pair = tuple[Optional[str], Optional[str]]


class OSModule(Protocol):
    OS_FAMILY: str
    FILTERS_EMBEDDED: bool  # filter_embedded can change a role (else it is not called)

    def find_machine_store(
        self, key: str, table: dict[str, Any], compiled: Pair | None, probed: list[list[Any]]
    ) -> tuple[bool, Pair | None]:
        """(uses an OS certificate store such as CryptoAPI, (cafile, capath) or None)."""

    def refine_plan(self, plan: dict[str, Any], mode: str, roles: dict[str, int]) -> None:
        """Adjust the plan ``policy.decide`` makes (which store, which embedded roles)."""

    def load_machine_files(
        self, context: ssl.SSLContext, cafile: str | None, capath: str | None
    ) -> list[str]:
        """Load the machine store's file and/or directory into a default context; never raise
        for what cannot be loaded: skip it and return a description (``stores._load_slots``)."""

    def file_capath(self, cafile: str, capath: str | None) -> tuple[str, Any] | None:
        """For the probed machine store: (a directory certembed decided that trusts exactly
        ``cafile``'s certificates, the identity of the file version it was decided from), or
        None. Lets ``load_verify_locations`` serve certembed's own ``certifi.where()`` file."""

    def load_os_store(self, context: ssl.SSLContext, purpose: Any) -> None:
        """Load the OS certificate store (only called when the plan uses one)."""

    def os_store_pem(self) -> bytes:
        """The OS certificate store's anchors as PEM (certifi, export_env)."""

    def filter_embedded(self, pem: bytes, capath: str | None) -> bytes | None:
        """PEM to load instead of an embedded role's directory ``capath`` (e.g. minus what the
        OS distrusts), or None to load the directory as is."""

    def cache_base(self) -> str | None:
        """The per-user cache base directory (absolute) or None."""

    def store_counts(self) -> dict[str, Any] | None:
        """What the OS certificate stores hold, for ``certembed doctor`` (None: no such stores)."""

    def seen(self, kind: str, key: str, base: str, names: list[str] | None) -> str | None:
        """What a process of this user recorded about ``base`` and ``names`` under it (None:
        the names the record lists), when none of them has changed since (identity, size,
        mtime, ctime); else None."""

    def remember(
        self, kind: str, key: str, base: str, names: list[str], said: str, started_ns: int
    ) -> None:
        """Record ``said`` for :meth:`seen` (files read from ``started_ns`` on)."""

    def private_dir_ok(self, folder: str) -> bool:
        """``folder`` is a private directory of this user (never shared or world-writable)."""


OS_MODULES: dict[str, OSModule] = {"linux": posix, "macos": macos, "windows": windows}
