"""Turn an audit input into a directory tree of files to examine.

Kinds: a PyInstaller onedir dist, a PyInstaller onefile executable (read with PyInstaller's own
``CArchiveReader``), a Python installation (Windows ``DLLs/`` layout or Unix), a virtual
environment (its ``pyvenv.cfg`` followed to the base interpreter, whose ``_ssl`` and OpenSSL the
venv uses), an interpreter executable (``venv/bin/python``, ``/usr/bin/python3.11``), a wheel, or
any directory of binaries.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from certembed.audit.binaries import kind_of
from certembed.errors import AuditError, PathNotFoundError
from certembed.suggest import missing_hint

BINARY_SUFFIXES = (".dll", ".pyd", ".so", ".dylib", ".exe")
_EXTRACT_TYPES = ("b", "e", "x")  # binaries, extensions, data (PyInstaller TOC typecodes)


@dataclass
class Tree:
    root: Path
    kind: str
    files: list[Path]
    # a venv or an interpreter: which base interpreter the audit followed, and how
    interpreter: dict[str, str | None] | None = None
    notes: list[str] = field(default_factory=list)


_INTERPRETER = re.compile(r"^pythonw?(\d+(\.\d+)?)?(\.exe)?$", re.IGNORECASE)


_PYTHON_MARKERS = (
    re.compile(r"^libpython3\.(\d+)"),  # libpython3.11.so.1.0, libpython3.12.dylib
    re.compile(r"^python3(\d+)\.dll$", re.IGNORECASE),  # python311.dll (python3.dll: no minor)
    # _ssl.cpython-311-x86_64-linux-gnu.so (extension modules only: a __pycache__/*.pyc names
    # whichever Python compiled it, e.g. the build machine's)
    re.compile(r"\.cpython-3(\d+)[^/]*\.(so|pyd)$"),
    re.compile(r"^python3\.(\d+)$"),  # lib/python3.11/, PyInstaller's _internal/python3.11/
)


def python_minor(tree: Tree) -> int | None:
    """The Python 3 minor version the audited app or interpreter runs, when its files name
    exactly one (libpython3.X, python3X.dll, *.cpython-3X-*, lib/python3.X, pyvenv.cfg); None
    when none or several do (a directory of mixed binaries)."""
    found: set[int] = set()
    version = (tree.interpreter or {}).get("version")
    minor = _minor(version)
    if minor and minor.startswith("3."):
        found.add(int(minor.split(".")[1]))
    for path in tree.files:
        try:
            parts = path.relative_to(tree.root).parts
        except ValueError:  # a venv's base interpreter files, outside the venv
            parts = path.parts[-3:]
        for part in parts:
            for marker in _PYTHON_MARKERS:
                match = marker.search(part)
                if match:
                    found.add(int(match.group(1)))
    return found.pop() if len(found) == 1 else None


def read_pyvenv_cfg(path: Path) -> dict[str, str]:
    """``key = value`` lines of a pyvenv.cfg (as CPython's site.py reads them)."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise AuditError(f"{path}: cannot read ({exc.strerror})") from exc
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def _minor(version: str | None) -> str | None:
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def interpreter_files(executable: Path, minor: str | None = None) -> tuple[Path, list[Path]]:
    """(prefix, files) of the Python installation an executable belongs to: the executable,
    its extension modules (Unix ``lib/pythonX.Y/lib-dynload``, Windows ``DLLs``) and shared
    libpython — what decides its OpenSSL, without walking all of /usr."""
    exe = executable.resolve()
    home = exe.parent
    files = [exe]
    if (home / "DLLs").is_dir():  # Windows layout: python.exe next to DLLs/
        files += [p for p in _walk(home / "DLLs") if p.is_file()]
        files += sorted(p for p in home.glob("*.dll") if p.is_file())
        return home, files
    prefix = home.parent
    name_minor = _minor(exe.name.replace("python", "")) or minor
    stdlibs = (
        [prefix / "lib" / f"python{name_minor}"]
        if name_minor
        else sorted((prefix / "lib").glob("python3*"))
    )
    for stdlib in stdlibs:
        dynload = stdlib / "lib-dynload"
        if dynload.is_dir():
            files += [p for p in _walk(dynload) if p.is_file()]
    files += sorted(p for p in (prefix / "lib").glob("libpython3*.so*") if p.is_file())
    return prefix, files


def _venv_tree(venv: Path, via: str) -> Tree:
    cfg = read_pyvenv_cfg(venv / "pyvenv.cfg")
    home = cfg.get("home")
    version = cfg.get("version") or cfg.get("version_info")
    minor = _minor(version)
    candidates = []
    if cfg.get("executable"):
        candidates.append(Path(cfg["executable"]))
    if home:
        names = [f"python{minor}", "python3", "python"] if minor else ["python3", "python"]
        candidates += [Path(home) / n for n in [*names, "python.exe"]]
    base = next((c for c in candidates if c.is_file()), None)
    files = _walk(venv)
    info: dict[str, str | None] = {
        "via": via,
        "pyvenv_cfg": str(venv / "pyvenv.cfg"),
        "home": home,
        "version": version,
        "base_executable": str(base) if base else None,
        "base_prefix": None,
    }
    notes = []
    if base is None:
        notes.append(
            f"pyvenv.cfg names the base interpreter's home '{home}', which is not on this "
            "machine: the OpenSSL this venv uses (the base interpreter's) is not audited"
        )
    else:
        prefix, base_files = interpreter_files(base, minor)
        info["base_prefix"] = str(prefix)
        files += base_files
        notes.append(
            f"virtual environment: pyvenv.cfg home = {home} -> base interpreter {base.resolve()}"
            f"{f' (Python {version})' if version else ''}; the venv uses its _ssl and OpenSSL, "
            "audited from there"
        )
    return Tree(venv, "venv", files, info, notes)


def _interpreter_tree(executable: Path) -> Tree:
    for venv in (executable.parent.parent, executable.parent):  # bin/python, Scripts\python.exe
        if (venv / "pyvenv.cfg").is_file():
            return _venv_tree(venv, f"interpreter {executable}")
    prefix, files = interpreter_files(executable)
    info: dict[str, str | None] = {
        "via": f"interpreter {executable}",
        "pyvenv_cfg": None,
        "home": str(executable.resolve().parent),
        "version": None,
        "base_executable": str(executable.resolve()),
        "base_prefix": str(prefix),
    }
    note = f"interpreter {executable.resolve()}: audited with its extension modules under {prefix}"
    return Tree(prefix, "python-interpreter", files, info, [note])


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
    if not path.exists():  # like every command's missing path: exit 8, near names suggested
        raise PathNotFoundError(missing_hint(path))
    if path.is_dir():
        if (path / "pyvenv.cfg").is_file():
            yield _venv_tree(path, f"directory {path}")
            return
        files = _walk(path)
        yield Tree(path, _kind_of_dir(path, files), files)
        return
    if _INTERPRETER.match(path.name) and kind_of(_head(path)) is not None:
        yield _interpreter_tree(path)
        return
    with tempfile.TemporaryDirectory(prefix="certembed-audit-") as tmp:
        out = Path(tmp)
        if path.suffix == ".whl" or zipfile.is_zipfile(path):
            name = ""
            try:
                with zipfile.ZipFile(path) as archive:
                    for member in archive.infolist():
                        if not member.is_dir():
                            name = member.filename
                            _extract_to(out, name, archive.read(member))
            except _DAMAGED as exc:
                where = f" (member {name!r})" if name else ""
                raise AuditError(
                    f"{path}: not a readable wheel/zip{where}: {exc or type(exc).__name__}"
                ) from exc
            yield Tree(out, "wheel", _walk(out))
            return
        if kind_of(_head(path)) is None:
            raise AuditError(f"{path}: not a directory, wheel or executable")
        reader = _onefile_reader(path)
        if reader is None:
            (out / path.name).write_bytes(path.read_bytes())
            yield Tree(out, "binary", [out / path.name])
            return
        (out / path.name).write_bytes(path.read_bytes())
        name = ""
        try:
            for name, entry in reader.toc.items():
                if entry[-1] in _EXTRACT_TYPES:
                    _extract_to(out / "_MEIPASS", name, reader.extract(name))
        except _DAMAGED as exc:
            raise AuditError(
                f"{path}: damaged PyInstaller archive: member {name!r} cannot be extracted "
                f"({exc or type(exc).__name__})"
            ) from exc
        yield Tree(out, "pyinstaller-onefile", _walk(out))


# What a damaged archive raises while it is read: bad headers, CRCs, compressed streams,
# offsets past the end, names that collide with a directory.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, ValueError, OSError, KeyError)


def _extract_to(out: Path, name: str, data: bytes) -> None:
    relative = _safe(name)
    if not relative.parts or relative.parts == (".",):
        raise ValueError(f"empty member name {name!r}")
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(8)
    except OSError as exc:
        raise AuditError(f"{path}: cannot read ({exc.strerror})") from exc


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
