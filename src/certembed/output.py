"""Atomic publication of a build directory.

Everything is written into a sibling staging directory; only a complete build replaces the
previous output, so a failed build leaves it byte-for-byte intact.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from certembed.errors import CertembedError


def source_date_epoch() -> int | None:
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise CertembedError(f"SOURCE_DATE_EPOCH={value!r} is not an integer") from None


def _normalize_modes(root: Path) -> None:
    """0644 files, 0755 directories: the output must not depend on the builder's umask."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            (Path(dirpath) / name).chmod(0o644)
        Path(dirpath).chmod(0o755)


def _stamp(root: Path, epoch: int) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            os.utime(Path(dirpath) / name, (epoch, epoch))
        os.utime(dirpath, (epoch, epoch))


@contextmanager
def staged(out_dir: Path) -> Iterator[Path]:
    """Yield a staging dir; on success it atomically becomes ``out_dir``."""
    out_dir = out_dir.absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent))
    try:
        yield stage
        _normalize_modes(stage)
        epoch = source_date_epoch()
        if epoch is not None:
            _stamp(stage, epoch)
        old = None
        if out_dir.exists() or out_dir.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            old.rmdir()
            out_dir.replace(old)
        try:
            stage.replace(out_dir)
        except OSError:
            if old is not None:
                old.replace(out_dir)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
