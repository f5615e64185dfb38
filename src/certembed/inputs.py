"""One key for everything a payload is made from: the config and every input's content.

A payload rebuilt from the same key is byte-identical; any change to the config, a PEM file, a
file added to a ``pem_dir``, certifi's roots or certembed itself gives another key. The
PyInstaller hook uses it to make PyInstaller re-run its analysis (and so the hook) when an
input changed, instead of reusing a stale bundle from its cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from certembed import __version__
from certembed.config.model import Source, Spec

_CHUNK = 1 << 20


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(block)
    except OSError as exc:
        return f"unreadable:{exc.errno}"
    return digest.hexdigest()


def _dir_entries(root: Path) -> list[tuple[str, str]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        if len(Path(dirpath).relative_to(root).parts) > 32:  # a link loop: load.py reports it
            dirnames.clear()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            out.append((path.relative_to(root).as_posix(), _file_digest(path)))
    return out


def _source_parts(source: Source) -> list[str]:
    parts = [source.kind, source.trust, source.display]
    if source.kind == "certifi":
        import certifi

        parts += [certifi.__version__, _file_digest(Path(certifi.where()))]
    elif source.kind == "system_store":
        from certembed.bundle.load import system_store_paths

        parts += [f"{p}={_file_digest(p)}" for p in system_store_paths()]
    elif source.kind == "pem":
        parts.append(hashlib.sha256((source.text or "").encode("utf-8", "replace")).hexdigest())
    elif source.path is not None:
        if source.path.is_dir():
            parts += [f"{name}={digest}" for name, digest in _dir_entries(source.path)]
        else:
            parts.append(_file_digest(source.path) if source.path.exists() else "missing")
    return parts


def inputs_key(spec: Spec) -> str:
    """SHA-256 over certembed's version, the config's digest (its bytes: every policy value)
    and every source's content (files read now, not their timestamps)."""
    parts = [__version__, spec.config_digest]
    for source in spec.bundle.sources:
        parts += ["--source--", *_source_parts(source)]
    return hashlib.sha256("\n".join(parts).encode("utf-8", "replace")).hexdigest()
