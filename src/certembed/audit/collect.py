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
from pathlib import Path, PurePosixPath

from certembed.errors import AuditError, PathNotFoundError
from certembed.installation.files import is_interpreter_name, kind_of, read_head, walk
from certembed.installation.layout import classify
from certembed.installation.onefile import onefile_reader
from certembed.installation.tree import Interpreter, Tree, TreeKind
from certembed.installation.venv import Venv, is_venv, minor_of, read_venv, venv_of_interpreter
from certembed.suggest import missing_hint

BINARY_SUFFIXES = (".dll", ".pyd", ".so", ".dylib", ".exe")
_EXTRACT_TYPES = ("b", "e", "x")  # binaries, extensions, data (PyInstaller TOC typecodes)

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
    version = tree.interpreter.version if tree.interpreter else None
    minor = minor_of(version)
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


def interpreter_files(executable: Path, minor: str | None = None) -> tuple[Path, list[Path]]:
    """(prefix, files) of the Python installation an executable belongs to: the executable,
    its extension modules (Unix ``lib/pythonX.Y/lib-dynload``, Windows ``DLLs``) and shared
    libpython — what decides its OpenSSL, without walking all of /usr."""
    exe = executable.resolve()
    home = exe.parent
    files = [exe]
    if (home / "DLLs").is_dir():  # Windows layout: python.exe next to DLLs/
        files += [p for p in walk(home / "DLLs") if p.is_file()]
        files += sorted(p for p in home.glob("*.dll") if p.is_file())
        return home, files
    prefix = home.parent
    name_minor = minor_of(exe.name.replace("python", "")) or minor
    stdlibs = (
        [prefix / "lib" / f"python{name_minor}"]
        if name_minor
        else sorted((prefix / "lib").glob("python3*"))
    )
    for stdlib in stdlibs:
        dynload = stdlib / "lib-dynload"
        if dynload.is_dir():
            files += [p for p in walk(dynload) if p.is_file()]
    files += sorted(p for p in (prefix / "lib").glob("libpython3*.so*") if p.is_file())
    return prefix, files


def _read_venv(root: Path) -> Venv:
    try:
        return read_venv(root)
    except OSError as exc:
        raise AuditError(f"{root / 'pyvenv.cfg'}: cannot read ({exc.strerror})") from exc


def _venv_tree(root: Path, via: str) -> Tree:
    venv = _read_venv(root)
    home, version = venv.home, venv.version
    base = venv.base_executable()
    files = walk(root)
    notes = []
    base_prefix = None
    if base is None:
        notes.append(
            f"pyvenv.cfg names the base interpreter's home '{home}', which is not on this "
            "machine: the OpenSSL this venv uses (the base interpreter's) is not audited"
        )
    else:
        prefix, base_files = interpreter_files(base, venv.minor)
        base_prefix = str(prefix)
        files += base_files
        notes.append(
            f"virtual environment: pyvenv.cfg home = {home} -> base interpreter {base.resolve()}"
            f"{f' (Python {version})' if version else ''}; the venv uses its _ssl and OpenSSL, "
            "audited from there"
        )
    interpreter = Interpreter(
        via=via,
        pyvenv_cfg=str(venv.config),
        home=home,
        version=version,
        base_executable=str(base) if base else None,
        base_prefix=base_prefix,
    )
    return Tree(root, "venv", tuple(files), interpreter, tuple(notes))


def _interpreter_tree(executable: Path) -> Tree:
    venv = venv_of_interpreter(executable)
    if venv is not None:
        return _venv_tree(venv, f"interpreter {executable}")
    prefix, files = interpreter_files(executable)
    interpreter = Interpreter(
        via=f"interpreter {executable}",
        pyvenv_cfg=None,
        home=str(executable.resolve().parent),
        version=None,
        base_executable=str(executable.resolve()),
        base_prefix=str(prefix),
    )
    note = f"interpreter {executable.resolve()}: audited with its extension modules under {prefix}"
    return Tree(prefix, "python-interpreter", tuple(files), interpreter, (note,))


def _kind_of_dir(root: Path) -> TreeKind:
    layout = classify(root)
    # The audit report's kinds (schema 2) have no embeddable Python: it is reported as the
    # directory of binaries it was always audited as.
    return "directory" if layout == "python-windows-embeddable" else layout


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
        if is_venv(path):
            yield _venv_tree(path, f"directory {path}")
            return
        yield Tree(path, _kind_of_dir(path), tuple(walk(path)))
        return
    if is_interpreter_name(path.name) and kind_of(_head(path)) is not None:
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
            yield Tree(out, "wheel", tuple(walk(out)))
            return
        if kind_of(_head(path)) is None:
            raise AuditError(f"{path}: not a directory, wheel or executable")
        reader = onefile_reader(path)
        if reader is None:
            (out / path.name).write_bytes(path.read_bytes())
            yield Tree(out, "binary", (out / path.name,))
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
        yield Tree(out, "pyinstaller-onefile", tuple(walk(out)))


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
        return read_head(path)
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
