"""Turn an audit input into a directory tree of files to examine.

Kinds: a PyInstaller onedir dist, a PyInstaller onefile executable (read with PyInstaller's own
``CArchiveReader``), a Python installation (Windows ``DLLs/`` layout or Unix), a wheel, or any
directory of binaries.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from certembed.audit.binaries import kind_of
from certembed.errors import AuditError

BINARY_SUFFIXES = (".dll", ".pyd", ".so", ".dylib", ".exe")
_EXTRACT_TYPES = ("b", "e", "x")  # binaries, extensions, data (PyInstaller TOC typecodes)


@dataclass
class Tree:
    root: Path
    kind: str
    files: list[Path]


def _walk(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            out.append(Path(dirpath) / name)
    return out


def _kind_of_dir(root: Path, files: list[Path]) -> str:
    names = {p.name.lower() for p in root.iterdir()}
    if (root / "DLLs").is_dir() and any(
        n.startswith("python") and n.endswith(".exe") for n in names
    ):
        return "python-windows"
    if (root / "bin").is_dir() and any((root / "lib").glob("python3*/lib-dynload")):
        return "python-unix"
    if (root / "_internal").is_dir() or (root / "base_library.zip").is_file():
        return "pyinstaller-onedir"
    return "directory"


def _onefile_reader(path: Path):  # type: ignore[no-untyped-def]
    try:
        from PyInstaller.archive.readers import CArchiveReader
    except ImportError:
        return None
    try:
        return CArchiveReader(str(path))
    except Exception:
        return None


def _safe(name: str) -> PurePosixPath:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        raise AuditError(f"refusing unsafe archive member name {name!r}")
    return pure


@contextmanager
def open_tree(path: Path) -> Iterator[Tree]:
    if not path.exists():
        raise AuditError(f"{path}: does not exist")
    if path.is_dir():
        files = _walk(path)
        yield Tree(path, _kind_of_dir(path, files), files)
        return
    with tempfile.TemporaryDirectory(prefix="certembed-audit-") as tmp:
        out = Path(tmp)
        if path.suffix == ".whl" or zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as archive:
                    for member in archive.infolist():
                        if not member.is_dir():
                            target = out / _safe(member.filename)
                            target.parent.mkdir(parents=True, exist_ok=True)
                            target.write_bytes(archive.read(member))
            except zipfile.BadZipFile as exc:
                raise AuditError(f"{path}: not a readable wheel/zip ({exc})") from exc
            yield Tree(out, "wheel", _walk(out))
            return
        with path.open("rb") as handle:
            head = handle.read(8)
        if kind_of(head) is None:
            raise AuditError(f"{path}: not a directory, wheel or executable")
        reader = _onefile_reader(path)
        if reader is None:
            (out / path.name).write_bytes(path.read_bytes())
            yield Tree(out, "binary", [out / path.name])
            return
        (out / path.name).write_bytes(path.read_bytes())
        for name, entry in reader.toc.items():
            if entry[-1] in _EXTRACT_TYPES:
                target = out / "_MEIPASS" / _safe(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(reader.extract(name))
        yield Tree(out, "pyinstaller-onefile", _walk(out))


def candidate_binaries(files: list[Path]) -> list[Path]:
    out = []
    for path in files:
        name = path.name.lower()
        if (
            name.endswith(BINARY_SUFFIXES)
            or ".so." in name
            or ("." not in name and path.is_file() and os.access(path, os.X_OK))
        ):
            out.append(path)
    return out
