"""Deterministic renderings of a bundle: certifi-style PEM, OpenSSL hashed dir, manifest."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from certembed import __version__
from certembed.bundle.model import Anchor, Bundle
from certembed.config.model import Spec
from certembed.payload import BUNDLE_FILE, Manifest


def _fingerprint(sha: str) -> str:
    return ":".join(sha[i : i + 2] for i in range(0, len(sha), 2)).upper()


def anchor_header(anchor: Anchor) -> str:
    return (
        f"# Issuer: {anchor.issuer}\n"
        f"# Subject: {anchor.subject}\n"
        f'# Label: "{anchor.label}"\n'
        f"# Serial: {anchor.serial}\n"
        f"# SHA256 Fingerprint: {_fingerprint(anchor.sha256)}\n"
        f"# Not After: {anchor.not_after:%Y-%m-%d %H:%M:%S} UTC\n"
        f"# Source: {', '.join(anchor.sources)}\n"
        f"# Trust: {anchor.trust}\n"
    )


def render_pem(anchors: Iterable[Anchor], with_headers: bool = True) -> str:
    """Anchors (already sorted by SHA-256) as PEM, each behind certifi-style comments."""
    parts = []
    for anchor in anchors:
        parts.append((anchor_header(anchor) if with_headers else "") + anchor.pem())
    return "\n".join(parts)


def bundle_pem(bundle: Bundle) -> str:
    head = (
        f"# certembed {__version__} CA bundle: {len(bundle.anchors)} certificates, sorted by "
        "SHA-256.\n# Generated file: edit the certembed config instead.\n\n"
    )
    return head + render_pem(bundle.anchors)


def hashed_names(anchors: Iterable[Anchor]) -> dict[str, Anchor]:
    """``<subject_hash>.<n>`` -> anchor, numbered in SHA-256 order on collisions."""
    out: dict[str, Anchor] = {}
    counts: dict[str, int] = {}
    for anchor in sorted(anchors, key=lambda a: a.sha256):
        n = counts.get(anchor.subject_hash, 0)
        counts[anchor.subject_hash] = n + 1
        out[f"{anchor.subject_hash}.{n}"] = anchor
    return dict(sorted(out.items()))


def write_hashed_dir(directory: Path, anchors: Iterable[Anchor]) -> dict[str, bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, anchor in hashed_names(anchors).items():
        data = anchor.pem().encode("ascii")
        (directory / name).write_bytes(data)
        written[name] = data
    return written


def _relative(path: str, base: Path) -> str:
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return path


def manifest(
    spec: Spec,
    bundle: Bundle,
    bundle_digest: str,
    payloads: dict[str, dict[str, str]],
    source_date_epoch: int | None,
) -> Manifest:
    base = spec.base_dir
    return Manifest(
        certembed_version=__version__,
        config={
            "file": spec.config_path.name if spec.config_path else None,
            "digest": spec.config_digest,
        },
        policy={"mode": spec.mode, **spec.policy_flags()},
        targets=spec.resolved_targets(),
        sources=tuple(
            {
                "kind": s.kind,
                "label": _relative(s.label.split(":", 1)[-1], base)
                if s.kind in ("pem_file", "pem_dir")
                else s.label,
                "trust": s.trust,
                "location": s.location,
                "version": s.version,
                "files": [{"path": _relative(p, base), "sha256": d} for p, d in s.files],
                "certificates": s.certificates,
            }
            for s in bundle.sources
        ),
        counts={
            "certificates": len(bundle.anchors),
            "fallback": len(bundle.by_role("fallback")),
            "always": len(bundle.by_role("always")),
            "duplicates_removed": bundle.duplicates_removed,
            "excluded": len(bundle.excluded),
        },
        excluded=tuple({"sha256": sha, "rule": rule} for sha, rule in bundle.excluded),
        certificates=tuple(
            {
                "subject": a.subject,
                "issuer": a.issuer,
                "label": a.label,
                "sha256": a.sha256,
                "serial": format(a.serial, "x"),
                "not_before": a.not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "not_after": a.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "subject_hash": a.subject_hash,
                "sources": list(a.sources),
                "trust": a.trust,
                "x509_strict": list(a.strict),
            }
            for a in bundle.anchors
        ),
        bundle={"file": BUNDLE_FILE, "sha256": bundle_digest},
        payloads=payloads,
        app=None
        if spec.app is None
        else {
            "kind": spec.app.kind,
            "name": spec.app.name,
            "script": _relative(str(spec.app.script), base),
            "onefile": spec.app.onefile,
        },
        source_date_epoch=source_date_epoch,
    )
