"""The payload format: the one place that knows what ``certembed build`` writes and how it reads.

A build output holds ``cacert.pem``, the hashed ``certs/`` dir, ``manifest.json`` and one payload
dir per target OS: ``_certembed_bootstrap.py`` (what an app imports at start-up, with the policy
and the data digests baked in), ``_certembed_runtime.py`` (the engine it loads when first
needed, the same baked data), ``_certembed_data/`` (one PEM and one hashed dir per trust role,
plus ``SHA256SUMS``) and ``_certembed_manifest.json`` (the build's manifest again, for
``audit``/``inspect`` of a frozen app). Writers (``build``, the bootstrap renderer) and readers
(the integrations, ``inspect``, ``audit``) take the names, the manifest and the platform mapping
from here.

Standard library only, and below ``bundle/`` and ``bootstrap/``: it imports nothing of certembed.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

TargetOS = Literal["linux", "macos", "windows"]  # a target OS a payload is rendered for

BOOTSTRAP_MODULE = "_certembed_bootstrap"
BOOTSTRAP_NAME = BOOTSTRAP_MODULE + ".py"
# The runtime the bootstrap loads when the policy is first needed (start-up imports only the
# small bootstrap): the same baked data, then the engine.
RUNTIME_MODULE = "_certembed_runtime"
RUNTIME_NAME = RUNTIME_MODULE + ".py"
PAYLOAD_MODULES = (BOOTSTRAP_NAME, RUNTIME_NAME)  # the Python files of a payload
DATA_DIR_NAME = "_certembed_data"
# Per-certificate digests live in this data file (verified by one baked SHA-256), not in the
# bootstrap: its size, and so its import time, does not grow with the bundle.
DATA_DIGESTS = "SHA256SUMS"
PAYLOAD_MANIFEST = "_certembed_manifest.json"
BUILD_MANIFEST = "manifest.json"  # at the top of a build output
BUNDLE_FILE = "cacert.pem"  # the whole bundle, certifi-style, at the top of a build output
HASHED_DIR = "certs"  # the OpenSSL hashed dir at the top of a build output
MANIFEST_SCHEMA = "certembed-manifest"
MANIFEST_SCHEMA_VERSION = 1


def role_file(role: str) -> str:
    """The data file (relative to ``DATA_DIR_NAME``) holding one trust role's anchors."""
    return f"{role}.pem"


# Which trust-store tables (store_paths.TABLES) each target's bootstrap carries; the bootstrap
# picks one at run time with the same mapping as :func:`platform_key`.
TARGET_TABLES: dict[str, list[str]] = {
    "linux": ["linux", "freebsd", "openbsd", "netbsd", "dragonfly", "sunos"],
    "macos": ["macos"],
    "windows": ["windows"],
}


def platform_key(platform: str) -> str:
    """Map ``sys.platform`` to a table name (the same logic the bootstrap runs)."""
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    for key in ("freebsd", "openbsd", "netbsd", "dragonfly", "sunos"):
        if platform.startswith(key):
            return key
    return "linux"


def host_target(platform: str = sys.platform) -> TargetOS:
    """The target OS whose payload runs on ``platform`` (default: the build machine)."""
    if platform == "win32":
        return "windows"
    if platform == "darwin":
        return "macos"
    return "linux"


class ManifestError(ValueError):
    """A file that is not a readable certembed manifest (the message says which)."""


@dataclass(frozen=True)
class Manifest:
    """A build's manifest: what was built, from what, with which policy (written sorted, so
    the same build gives the same bytes). Nested records stay JSON objects; their keys are
    those :func:`certembed.bundle.render.manifest` writes."""

    certembed_version: str
    config: Mapping[str, Any]
    policy: Mapping[str, Any]
    targets: tuple[str, ...]
    sources: tuple[Mapping[str, Any], ...]
    counts: Mapping[str, int]
    excluded: tuple[Mapping[str, str], ...]
    certificates: tuple[Mapping[str, Any], ...]
    bundle: Mapping[str, Any]
    payloads: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    app: Mapping[str, Any] | None = None
    source_date_epoch: int | None = None
    schema: str = MANIFEST_SCHEMA
    schema_version: int = MANIFEST_SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": self.schema,
            "schema_version": self.schema_version,
            "certembed_version": self.certembed_version,
            "config": dict(self.config),
            "policy": dict(self.policy),
            "targets": list(self.targets),
            "sources": [dict(s) for s in self.sources],
            "counts": dict(self.counts),
            "excluded": [dict(e) for e in self.excluded],
            "certificates": [dict(c) for c in self.certificates],
            "bundle": dict(self.bundle),
            "payloads": {k: dict(v) for k, v in self.payloads.items()},
        }
        if self.app is not None:
            data["app"] = dict(self.app)
        if self.source_date_epoch is not None:
            data["source_date_epoch"] = self.source_date_epoch
        return data

    def dumps(self) -> str:
        return dumps(self.to_json())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        """Lenient: a key an older (or a damaged) manifest lacks reads as empty."""
        return cls(
            certembed_version=str(data.get("certembed_version", "")),
            config=data.get("config") or {},
            policy=data.get("policy") or {},
            targets=tuple(data.get("targets") or ()),
            sources=tuple(data.get("sources") or ()),
            counts=data.get("counts") or {},
            excluded=tuple(data.get("excluded") or ()),
            certificates=tuple(data.get("certificates") or ()),
            bundle=data.get("bundle") or {},
            payloads=data.get("payloads") or {},
            app=data.get("app"),
            source_date_epoch=data.get("source_date_epoch"),
            schema=str(data.get("schema", "")),
            schema_version=int(data.get("schema_version", 0) or 0),
        )

    @classmethod
    def read(cls, path: Path, check_schema: bool = True) -> Manifest:
        """``path`` parsed; :class:`ManifestError` when it is not JSON (or, with
        ``check_schema``, not a certembed manifest). OS errors count as unreadable."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ManifestError(f"not a readable manifest: {exc}") from exc
        if not isinstance(data, dict) or (check_schema and data.get("schema") != MANIFEST_SCHEMA):
            raise ManifestError("not a certembed manifest (no schema key)")
        return cls.from_json(data)


def dumps(data: Mapping[str, Any]) -> str:
    """The manifest's bytes: sorted keys, two-space indent, UTF-8 text, a final newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Baked:
    """The constants a rendered bootstrap carries that readers of a payload need: the data
    file digests are only here (the app trusts the bootstrap, not the manifest beside it)."""

    version: str | None
    mode: str | None
    bundle_sha256: str | None
    relax_x509_strict: bool | None
    data: dict[str, str]  # role PEMs and DATA_DIGESTS -> SHA-256
    data_digests: str | None  # the name of the file listing every other data file's SHA-256


def imported_modules(source: str) -> set[str]:
    """The top-level modules a payload module's ``source`` imports anywhere (some lazily,
    inside functions): what a freezer that sees it only as a data file must ship."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    names.discard("__future__")
    return names


def read_baked(source: str) -> Baked:
    """The baked constants of a bootstrap's ``source``, read without running it.

    Raises ``SyntaxError`` or ``ValueError`` when the source is not a readable bootstrap.
    """
    tree = ast.parse(source)

    def constant(name: str) -> Any:
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets
            ):
                return ast.literal_eval(node.value)
        return None

    return Baked(
        version=constant("VERSION"),
        mode=constant("MODE"),
        bundle_sha256=constant("BUNDLE_SHA256"),
        relax_x509_strict=constant("RELAX_X509_STRICT"),
        data=dict(constant("DATA") or {}),
        data_digests=constant("DATA_DIGESTS"),
    )
