"""``certembed inspect``: what a PEM file, an output dir or a manifest contains."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from certembed.bundle.load import parse_blob
from certembed.bundle.strict import strict_problems
from certembed.errors import BundleError, ConfigError, Location, PathNotFoundError
from certembed.suggest import missing_hint

_HEADER = re.compile(r"^# (Source|Trust): (.*)$")


def _from_manifest(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError.single(Location(str(path)), f"not a readable manifest: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != "certembed-manifest":
        raise ConfigError.single(Location(str(path)), "not a certembed manifest (no schema key)")
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
        for c in data.get("certificates", [])
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


def inspect_path(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        manifest = path / "manifest.json"
        if manifest.is_file():
            return _from_manifest(manifest)
        raise ConfigError.single(Location(str(path)), "directory has no manifest.json")
    if not path.exists():
        raise PathNotFoundError(missing_hint(path))
    if path.suffix == ".json":
        return _from_manifest(path)
    return _from_pem(path)


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
    out.append(f"{len(rows)} certificate{'s' if len(rows) != 1 else ''}")
    flagged = [r for r in rows if r.get("x509_strict")]
    if flagged:
        out.append(
            f"{len(flagged)} rejected by Python 3.13+ default contexts (VERIFY_X509_STRICT); "
            "codes: docs/config.md#python-313-strict-verification"
        )
    return "\n".join(out)
