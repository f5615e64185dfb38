"""``certembed inspect``: what a PEM file, an output dir or a manifest contains."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

from certembed.bundle.load import parse_blob
from certembed.bundle.strict import strict_problems
from certembed.config.model import TRUST_ROLES
from certembed.errors import BundleError, ConfigError, Location, PathNotFoundError
from certembed.payload import (
    BUILD_MANIFEST,
    DATA_DIR_NAME,
    PAYLOAD_MANIFEST,
    Manifest,
    ManifestError,
    role_file,
)
from certembed.suggest import missing_hint

_HEADER = re.compile(r"^# (Source|Trust): (.*)$")


def _from_manifest(path: Path) -> list[dict[str, Any]]:
    try:
        manifest = Manifest.read(path)
    except ManifestError as exc:
        raise ConfigError.single(Location(str(path)), str(exc)) from exc
    return [
        {
            "subject": c["subject"],
            "sha256": c["sha256"],
            "not_after": c["not_after"],
            "source": ", ".join(c["sources"]),
            "trust": c["trust"],
            # manifests before the strict check carry no key: unknown, not "passes"
            "x509_strict": c.get("x509_strict"),
        }
        for c in manifest.certificates
    ]


def _from_pem(path: Path) -> list[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc.strerror})") from exc
    problems: list[str] = []
    rows = []
    lines = data.decode("utf-8", "replace").splitlines()
    for cert, der, origin in parse_blob(data, path.name, problems):
        meta = {"Source": path.name, "Trust": "-"}
        line = int(origin.rsplit(":", 1)[1]) if origin.rsplit(":", 1)[-1].isdigit() else 0
        for text in reversed(lines[max(0, line - 12) : max(0, line - 1)]):
            match = _HEADER.match(text)
            if match and meta[match.group(1)] in (path.name, "-"):
                meta[match.group(1)] = match.group(2)
            if text.startswith("-----END"):
                break
        rows.append(
            {
                "subject": cert.subject.rfc4514_string(),
                "sha256": hashlib.sha256(der).hexdigest(),
                "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "source": meta["Source"],
                "trust": meta["Trust"],
                "x509_strict": list(strict_problems(cert)),
            }
        )
    if problems:
        raise BundleError("\n".join(problems))
    return rows


_ROLE_FILES = {role_file(role): role for role in TRUST_ROLES}


def _from_role_pems(files: list[tuple[str, bytes]], source: str) -> list[dict[str, Any]]:
    """Rows from a payload's ``_certembed_data/<role>.pem`` files (no manifest beside them)."""
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for name, data in files:
        role = _ROLE_FILES[Path(name).name]
        for cert, der, _origin in parse_blob(data, name, problems):
            rows.append(
                {
                    "subject": cert.subject.rfc4514_string(),
                    "sha256": hashlib.sha256(der).hexdigest(),
                    "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "source": source,
                    "trust": role,
                    "x509_strict": list(strict_problems(cert)),
                }
            )
    if problems:
        raise BundleError("\n".join(problems))
    return sorted(rows, key=lambda r: str(r["sha256"]))


# What ``certembed inspect`` reads, in the words its --help and summary use.
# What `inspect` was given: the summary and --json name it, --help lists them from KINDS.
InputKind = Literal[
    "pem",
    "build",
    "manifest",
    "payload",
    "pyinstaller-onefile",
    "pyoxidizer-rule",
    "pyoxidizer-files",
    "injected-python",
]
KINDS: dict[InputKind, tuple[str, str]] = {  # kind: (summary label, --help text)
    "pem": ("certificate file", "a PEM or DER certificate file (any name: cacert.pem, corp.crt)"),
    "build": ("`certembed build` output", "a `certembed build` output dir (its manifest.json)"),
    "manifest": (
        "certembed manifest",
        "a manifest file: manifest.json or a payload's _certembed_manifest.json",
    ),
    "payload": (
        "certembed payload",
        "a directory holding a certembed payload: a PyInstaller onedir app (dist/app), "
        "a payload dir (build/certembed/linux) or any folder above one",
    ),
    "pyinstaller-onefile": (
        "PyInstaller onefile executable",
        "a PyInstaller onefile executable (the payload is read from its archive)",
    ),
    "pyoxidizer-rule": (
        "PyOxidizer rule",
        "a certembed.bzl rule written by `certembed pyoxidizer`",
    ),
    "pyoxidizer-files": (
        "PyOxidizer file install",
        "a file-layout PyOxidizer install (the _certembed_data/ that certembed_manifest() writes)",
    ),
    "injected-python": (
        "Python with certembed injected",
        "a Python that `certembed inject` changed (its prefix, venv or python executable)",
    ),
}


def _in_directory(path: Path) -> tuple[InputKind, Path, list[dict[str, Any]]]:
    """A build dir (``manifest.json``), a PyInstaller onedir (``_certembed_manifest.json``
    under ``_internal/certembed``) or a file-layout PyOxidizer install (``_certembed_data/``)."""
    manifest = path / BUILD_MANIFEST
    if manifest.is_file():
        return "build", manifest, _from_manifest(manifest)
    found = sorted(path.rglob(PAYLOAD_MANIFEST), key=lambda p: (len(p.parts), str(p)))
    if found:
        return "payload", found[0], _from_manifest(found[0])
    data_dirs = sorted(path.rglob(DATA_DIR_NAME), key=lambda p: (len(p.parts), str(p)))
    for data_dir in data_dirs:
        pems = [data_dir / name for name in _ROLE_FILES if (data_dir / name).is_file()]
        if pems:
            files = [(p.relative_to(path).as_posix(), p.read_bytes()) for p in pems]
            source = data_dir.parent.relative_to(path).as_posix() or "."
            return "pyoxidizer-files", data_dir, _from_role_pems(files, source)
    raise ConfigError.single(
        Location(str(path)),
        f"no certembed output here (looked for manifest.json, {PAYLOAD_MANIFEST} and "
        f"{DATA_DIR_NAME}/ below it)",
    )


def _from_rule(path: Path) -> list[dict[str, Any]]:
    """A ``certembed.bzl`` written by ``certembed pyoxidizer``: the payload it inlines."""
    from certembed.config.engines import BuiltinRaised, select

    entries: list[Any] = []
    try:
        source = path.read_text(encoding="utf-8")
        select().run(
            source + '\n_certembed_capture(certembed_files(""))\n',
            path.name,
            {"_certembed_capture": entries.append},
        )
    except (OSError, UnicodeDecodeError, ConfigError, BuiltinRaised) as exc:
        raise ConfigError.single(
            Location(str(path)),
            f"not a readable certembed.bzl ({exc}); regenerate it with certembed pyoxidizer",
        ) from None
    files = [
        (f"{directory}/{name}", str(content).encode("ascii", "replace"))
        for directory, name, content in (entries[0] if entries else [])
        if str(directory).endswith(DATA_DIR_NAME) and name in _ROLE_FILES
    ]
    if not files:
        raise ConfigError.single(Location(str(path)), "holds no certembed payload data files")
    return _from_role_pems(files, path.name)


def _in_executable(path: Path) -> list[dict[str, Any]] | None:
    """A PyInstaller onefile executable: the manifest inside its archive (None: not one)."""
    from certembed.audit.collect import open_tree
    from certembed.errors import AuditError

    try:
        with open_tree(path) as tree:
            if tree.kind != "pyinstaller-onefile":
                return None
            for file in tree.files:
                if file.name == PAYLOAD_MANIFEST:
                    return _from_manifest(file)
    except AuditError:
        return None
    raise ConfigError.single(
        Location(str(path)), "a PyInstaller onefile executable without a certembed payload"
    )


def inspect_input(path: Path) -> tuple[InputKind, Path, list[dict[str, Any]]]:
    """(kind of input (a key of :data:`KINDS`), the file read, its certificates)."""
    if not path.exists():
        raise PathNotFoundError(missing_hint(path))
    from certembed.inject.state import describe

    injection = describe(path) if path.is_dir() or path.name.startswith("python") else None
    if injection is not None and injection.get("payload"):
        manifest = Path(injection["payload"]) / PAYLOAD_MANIFEST
        return "injected-python", manifest, _from_manifest(manifest)
    if path.is_dir():
        return _in_directory(path)
    if path.suffix == ".json":
        return "manifest", path, _from_manifest(path)
    if path.suffix == ".bzl":
        return "pyoxidizer-rule", path, _from_rule(path)
    with path.open("rb") as handle:
        head = handle.read(8)
    if head[:4] == b"\x7fELF" or head[:2] == b"MZ" or head[:4] in _MACHO:
        rows = _in_executable(path)
        if rows is not None:
            return "pyinstaller-onefile", path, rows
    return "pem", path, _from_pem(path)


def inspect_path(path: Path) -> list[dict[str, Any]]:
    """The certificates of any output certembed makes, or of a PEM/DER file."""
    return inspect_input(path)[2]


def summary(kind: InputKind, read: Path, rows: list[dict[str, Any]], today: str) -> dict[str, Any]:
    """What ``inspect`` read and what the certificates add up to (``today``: YYYY-MM-DD)."""
    roles: dict[str, int] = {}
    sources: dict[str, int] = {}
    for row in rows:
        roles[str(row["trust"])] = roles.get(str(row["trust"]), 0) + 1
        for source in str(row["source"]).split(", "):
            sources[source] = sources.get(source, 0) + 1
    dates = sorted(str(r["not_after"])[:10] for r in rows)
    return {
        "kind": kind,
        "read": str(read),
        "certificates": len(rows),
        "trust": dict(sorted(roles.items())),
        "sources": dict(sorted(sources.items())),
        "expired": sum(1 for d in dates if d < today),
        "first_expiry": dates[0] if dates else None,
        "x509_strict": sum(1 for r in rows if r.get("x509_strict")),
        "x509_strict_unknown": sum(1 for r in rows if r.get("x509_strict") is None),
    }


def render_summary(info: dict[str, Any]) -> str:
    kind = KINDS[info["kind"]][0]
    count = info["certificates"]
    lines = [f"read {info['read']}: {kind}"]
    roles = ", ".join(f"{n} {role}" for role, n in info["trust"].items())
    sources = ", ".join(f"{source} {n}" for source, n in info["sources"].items())
    lines.append(
        f"{count} certificate{'s' if count != 1 else ''}"
        + (f" ({roles}); sources: {sources}" if count else "")
    )
    if count:
        lines.append(
            f"{info['expired']} expired; the first expiry is {info['first_expiry']}"
            if info["expired"]
            else f"none expired; the first expiry is {info['first_expiry']}"
        )
    if info["x509_strict"]:
        lines.append(
            f"{info['x509_strict']} rejected by Python 3.13+ default contexts "
            "(VERIFY_X509_STRICT); codes: docs/config.md#python-313-strict-verification"
        )
    if info["x509_strict_unknown"]:
        lines.append(
            f"{info['x509_strict_unknown']} not checked for Python 3.13+ strict X.509 (a "
            "manifest older than that check: ?)"
        )
    return "\n".join(lines)


_MACHO = (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def _strict_cell(codes: list[str] | None) -> str:
    if codes is None:
        return "?"
    return ",".join(codes) if codes else "ok"


def table(rows: list[dict[str, Any]]) -> str:
    headers = ("SUBJECT", "SHA-256", "NOT AFTER", "SOURCE", "TRUST", "PY3.13+ STRICT")
    body = [
        (
            r["subject"] if len(r["subject"]) <= 60 else r["subject"][:57] + "...",
            r["sha256"][:16],
            r["not_after"][:10],
            r["source"],
            r["trust"],
            _strict_cell(r.get("x509_strict")),
        )
        for r in rows
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in body)) if body else len(h)
        for i, h in enumerate(headers)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]
    return "\n".join(out)
