"""Render the per-target payload: ``_certembed_bootstrap.py``, ``_certembed_runtime.py`` and their
verified data files."""

from __future__ import annotations

import hashlib
import importlib.util
import py_compile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from certembed import __version__
from certembed.bootstrap.assemble import assemble, parts
from certembed.bundle.model import Bundle
from certembed.bundle.render import hashed_names, render_pem
from certembed.config.model import POLICY_OPTIONS, TRUST_ROLES, Spec
from certembed.payload import (
    BOOTSTRAP_NAME,
    DATA_DIGESTS,
    DATA_DIR_NAME,
    PAYLOAD_MANIFEST,
    RUNTIME_NAME,
    TARGET_TABLES,
    role_file,
)
from certembed.store_paths import TABLES

ROLES = TRUST_ROLES  # one payload file and folder per role, in this order


def _py(value: Any) -> str:
    """A deterministic Python literal (sorted dict keys; lists stay lists)."""
    if isinstance(value, dict):
        items = ", ".join(f"{_py(k)}: {_py(v)}" for k, v in sorted(value.items()))
        return "{" + items + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    return repr(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("certembed.bootstrap", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["py"] = _py
    return env


def payload_files(bundle: Bundle) -> dict[str, bytes]:
    """The data files (relative name -> bytes) shared by every target's payload."""
    files: dict[str, bytes] = {}
    everything = []
    for role in ROLES:
        anchors = bundle.by_role(role)
        if not anchors:
            continue
        everything.extend(anchors)
        # No comment headers here: subjects may be non-ASCII, and cadata/PEM users need ASCII.
        files[role_file(role)] = render_pem(anchors, with_headers=False).encode("ascii")
        for name, anchor in hashed_names(anchors).items():
            files[f"{role}/{name}"] = anchor.pem().encode("ascii")
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n"
        for name, data in sorted(files.items())
        if "/" in name
    )
    if sums:
        files[DATA_DIGESTS] = sums.encode("ascii")
    return dict(sorted(files.items()))


@dataclass(frozen=True)
class Payload:
    target: str
    bootstrap: str  # _certembed_bootstrap.py: what start-up imports
    files: dict[str, bytes]
    runtime: str  # _certembed_runtime.py: loaded by the bootstrap when first needed

    def write(self, directory: Path) -> dict[str, str]:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in ((BOOTSTRAP_NAME, self.bootstrap), (RUNTIME_NAME, self.runtime)):
            source = directory / name
            source.write_text(text, encoding="utf-8")
            write_pyc(source)
        for name, data in self.files.items():
            path = directory / DATA_DIR_NAME / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return {
            "bootstrap_sha256": hashlib.sha256(self.bootstrap.encode("utf-8")).hexdigest(),
            "runtime_sha256": hashlib.sha256(self.runtime.encode("utf-8")).hexdigest(),
        }


def write_pyc(source: Path) -> Path:
    """Compile ``source`` for this interpreter into ``__pycache__`` as an unchecked-hash pyc.

    Frozen apps never write bytecode, so without this every start-up recompiles the bootstrap
    (several ms). The pyc is deterministic (hash-based, no timestamp, bare file name recorded)
    and is used only by the same CPython version, which is the one PyInstaller freezes.
    """
    target = Path(importlib.util.cache_from_source(str(source)))
    py_compile.compile(
        str(source),
        cfile=str(target),
        dfile=source.name,
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return target


def _policy_summary(spec: Spec) -> str:
    """The docstring's policy line: the mode, then the flags two to a line."""
    items = [f"{policy.name}={getattr(spec, policy.name)}" for policy in POLICY_OPTIONS]
    pairs = [", ".join(items[i : i + 2]) for i in range(0, len(items), 2)]
    return f"Policy: mode={spec.mode}, " + ",\n".join(pairs)


def render_bootstrap(
    spec: Spec,
    bundle: Bundle,
    target: str,
    files: dict[str, bytes],
    bundle_digest: str,
    runtime: bool = False,
) -> str:
    """The baked data (the only template) followed by the small start-up module
    (``_certembed_bootstrap``) or, with ``runtime``, the target's runtime modules
    (``_certembed_runtime``)."""
    template = _environment().get_template("baked.py.j2")
    header = template.render(
        runtime=runtime,
        version=__version__,
        target=target,
        mode=spec.mode,
        policy=_policy_summary(spec),
        flags=[(policy.constant, getattr(spec, policy.name)) for policy in POLICY_OPTIONS],
        bundle_sha256=bundle_digest,
        roles={role: len(bundle.by_role(role)) for role in ROLES if bundle.by_role(role)},
        data_files=[
            (name, hashlib.sha256(data).hexdigest())
            for name, data in files.items()
            if "/" not in name  # the rest: in DATA_DIGESTS
        ],
        data_digests=DATA_DIGESTS,
        data_dir_name=DATA_DIR_NAME,
        tables=[(key, TABLES[key]) for key in TARGET_TABLES[target]],
        parts=[f"{name}.py" for name in parts(target)],
    )
    return assemble(header, target, shim=not runtime)


def render_payload(
    spec: Spec,
    bundle: Bundle,
    target: str,
    bundle_digest: str,
    files: dict[str, bytes] | None = None,
) -> Payload:
    """``files``: :func:`payload_files` of ``bundle``, when the caller already has them (they
    are the same for every target)."""
    files = payload_files(bundle) if files is None else files
    return Payload(
        target,
        render_bootstrap(spec, bundle, target, files, bundle_digest),
        files,
        render_bootstrap(spec, bundle, target, files, bundle_digest, runtime=True),
    )


# The payload's names are decided in certembed.payload; they stay importable from here.
__all__ = [
    "BOOTSTRAP_NAME",
    "DATA_DIGESTS",
    "DATA_DIR_NAME",
    "PAYLOAD_MANIFEST",
    "ROLES",
    "Payload",
    "payload_files",
    "render_bootstrap",
    "render_payload",
    "write_pyc",
]
