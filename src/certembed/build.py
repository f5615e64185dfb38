"""``certembed build``: config -> bundle -> per-target payloads -> published output dir."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from certembed.bootstrap.render import payload_files, render_payload
from certembed.bundle.assemble import assemble
from certembed.bundle.model import Bundle
from certembed.bundle.render import bundle_pem, manifest, write_hashed_dir
from certembed.config.model import Spec
from certembed.output import source_date_epoch, staged
from certembed.payload import BUILD_MANIFEST, BUNDLE_FILE, HASHED_DIR, PAYLOAD_MANIFEST

Progress = Callable[[str], None]


@dataclass
class BuildResult:
    out_dir: Path
    bundle: Bundle
    bundle_sha256: str
    targets: tuple[str, ...]
    executable: Path | None = None
    warnings: list[str] = field(default_factory=list)
    config: Path | None = None

    def summary(self) -> dict[str, object]:
        return {
            "config": str(self.config) if self.config else None,
            "output": str(self.out_dir),
            "certificates": len(self.bundle.anchors),
            "fallback": len(self.bundle.by_role("fallback")),
            "always": len(self.bundle.by_role("always")),
            "duplicates_removed": self.bundle.duplicates_removed,
            "excluded": len(self.bundle.excluded),
            "bundle_sha256": self.bundle_sha256,
            "targets": list(self.targets),
            "payloads": {t: str(self.out_dir / t) for t in self.targets},
            "executable": str(self.executable) if self.executable else None,
            "warnings": list(self.warnings),
        }


def _quiet(_: str) -> None:
    return None


def build_bundle_output(
    spec: Spec,
    out_dir: Path,
    targets: tuple[str, ...] | None = None,
    now: datetime | None = None,
    progress: Progress = _quiet,
    hashed_dir: bool = True,
) -> BuildResult:
    """Assemble and validate the bundle, render every target, publish ``out_dir`` atomically.

    ``hashed_dir=False`` skips the top-level ``certs/`` (the PyInstaller hook needs only the
    payloads, which carry their own hashed dirs).
    """
    progress("assembling CA bundle")
    bundle = assemble(spec.bundle, now, spec.relax_x509_strict)
    targets = targets or spec.resolved_targets()
    pem = bundle_pem(bundle)
    digest = hashlib.sha256(pem.encode("utf-8")).hexdigest()
    with staged(out_dir) as stage:
        progress(f"writing {len(bundle.anchors)} certificates")
        (stage / BUNDLE_FILE).write_text(pem, encoding="utf-8")
        if hashed_dir:
            write_hashed_dir(stage / HASHED_DIR, bundle.anchors)
        payloads = {}
        files = payload_files(bundle)
        for target in targets:
            progress(f"rendering bootstrap for {target}")
            payload = render_payload(spec, bundle, target, digest, files)
            payloads[target] = payload.write(stage / target)
        built = manifest(spec, bundle, digest, payloads, source_date_epoch())
        text = replace(built, targets=tuple(targets)).dumps()
        (stage / BUILD_MANIFEST).write_text(text, encoding="utf-8")
        for target in targets:  # provenance travels with the payload (for `certembed audit`)
            (stage / target / PAYLOAD_MANIFEST).write_text(text, encoding="utf-8")
    return BuildResult(
        out_dir, bundle, digest, targets, warnings=list(bundle.warnings), config=spec.config_path
    )
