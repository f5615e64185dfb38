"""What an inject TARGET is, found by reading its files (it is never run: it may be a Windows
Python seen from Linux, or a tree unpacked from an archive).

Kinds: a POSIX installation prefix (``bin/python3.X`` + ``lib/python3.X/os.py``), a virtual
environment (``pyvenv.cfg``), a Windows installation (``python.exe`` + ``python3XY.dll`` +
``Lib/``), python.org's Windows embeddable distribution (``python3XY._pth``, which switches
``site`` off unless it says ``import site``), or an interpreter executable inside one of them.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from certembed.errors import ForeignTarget, NotAPython, PythonTooOld
from certembed.installation.files import is_interpreter_name, kind_of, read_head
from certembed.installation.layout import stdlib_versions, windows_version
from certembed.installation.venv import is_venv, read_venv, venv_of_interpreter

Kind = Literal["unix-prefix", "venv", "windows", "windows-embeddable"]
TargetOS = Literal["linux", "macos", "windows"]
MIN_VERSION = (3, 8)  # the oldest Python the runtime bootstrap supports (docs/runtime.md)


@dataclass(frozen=True)
class Installation:
    """One Python installation, as inject sees it. ``root`` is the tree that inject changes
    and eject restores; ``site_dir`` is where the ``.pth`` goes (a directory ``site`` scans
    for every process of this Python, ``python -I`` included)."""

    root: Path
    kind: Kind
    os: TargetOS
    version: tuple[int, int]
    site_dir: Path
    pth_file: Path | None = None  # the embeddable distribution's ``python3XY._pth``
    via: str = ""

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    def to_json(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "kind": self.kind,
            "os": self.os,
            "version": self.version_text,
            "site_dir": str(self.site_dir),
            "pth_file": str(self.pth_file) if self.pth_file else None,
            "via": self.via,
        }


def _head(path: Path) -> bytes:
    try:
        return read_head(path)
    except OSError:
        return b""


def _os_of(executable: Path) -> TargetOS | None:
    kind = kind_of(_head(executable))
    return {"elf": "linux", "macho": "macos", "pe": "windows"}.get(kind or "")  # type: ignore[return-value]


def _check_version(path: Path, version: tuple[int, int]) -> None:
    if version < MIN_VERSION:
        raise PythonTooOld(
            f"{path} is Python {version[0]}.{version[1]}; certembed's bootstrap runs on "
            f"{MIN_VERSION[0]}.{MIN_VERSION[1]} and newer: upgrade that Python"
        )


def _check_os(path: Path, target_os: TargetOS) -> None:
    host = "windows" if sys.platform == "win32" else "macos" if sys.platform == "darwin" else ""
    if target_os == "macos" and host != "macos":
        raise ForeignTarget(
            f"{path} is a macOS Python (Mach-O); from {sys.platform} certembed cannot tell "
            "whether it sits in a code-signed framework or app bundle whose seal new files "
            "would break: run certembed inject on the Mac"
        )


def _venv(root: Path, via: str) -> Installation:
    try:
        venv = read_venv(root)
    except OSError as exc:
        raise NotAPython(f"{root / 'pyvenv.cfg'}: cannot read ({exc.strerror})") from None
    windows = (root / "Scripts").is_dir() and (root / "Lib" / "site-packages").is_dir()
    if windows:
        match = re.match(r"(\d+)\.(\d+)", venv.version or "")
        if not match:
            raise NotAPython(f"{root / 'pyvenv.cfg'}: no version key, cannot tell its Python")
        version = (int(match.group(1)), int(match.group(2)))
        site = root / "Lib" / "site-packages"
        target_os: TargetOS = "windows"
    else:
        versions = stdlib_versions(root / "lib")
        if (
            len(versions) != 1
            or not (
                root / "lib" / f"python{versions[0][0]}.{versions[0][1]}" / "site-packages"
            ).is_dir()
        ):
            raise NotAPython(
                f"{root}: pyvenv.cfg without exactly one lib/python3.X/site-packages "
                f"(found {[f'{a}.{b}' for a, b in versions] or 'none'})"
            )
        version = versions[0]
        site = root / "lib" / f"python{version[0]}.{version[1]}" / "site-packages"
        exe = next(
            (p for p in (root / "bin" / "python3", root / "bin" / "python") if p.exists()), None
        )
        found = _os_of(exe) if exe is not None else None
        target_os = found if found in ("linux", "macos") else "linux"
    _check_version(root, version)
    _check_os(root, target_os)
    return Installation(root, "venv", target_os, version, site, via=via)


def _unix_prefix(root: Path, via: str) -> Installation | None:
    versions = stdlib_versions(root / "lib")
    real = [v for v in versions if (root / "lib" / f"python{v[0]}.{v[1]}" / "os.py").is_file()]
    if not real or not (root / "bin").is_dir():
        return None
    if len(real) > 1:
        raise NotAPython(
            f"{root}: more than one standard library ({', '.join(f'{a}.{b}' for a, b in real)}); "
            "name the interpreter (bin/python3.X) instead"
        )
    version = real[0]
    _check_version(root, version)
    stem = f"python{version[0]}.{version[1]}"
    exe = next((p for p in (root / "bin" / stem, root / "bin" / "python3") if p.exists()), None)
    target_os = _os_of(exe) if exe is not None else None
    if target_os not in ("linux", "macos"):
        raise NotAPython(f"{root}: lib/{stem}/os.py but no bin/{stem} executable")
    _check_os(root, target_os)
    site = root / "lib" / stem / "site-packages"
    return Installation(root, "unix-prefix", target_os, version, site, via=via)


def _windows(root: Path, via: str) -> Installation | None:
    if not (root / "python.exe").is_file():
        return None
    version = windows_version(root)
    if version is None:
        return None
    _check_version(root, version)
    pth = root / f"python{version[0]}{version[1]}._pth"
    if pth.is_file():
        # site.getsitepackages() on Windows lists sys.prefix itself: the folder of python.exe
        return Installation(root, "windows-embeddable", "windows", version, root, pth, via)
    site = root / "Lib" / "site-packages"
    if not (root / "Lib").is_dir():
        return None
    return Installation(root, "windows", "windows", version, site, via=via)


def detect(path: Path) -> Installation:
    """The installation at ``path`` (a prefix, a venv or an interpreter), or a refusal."""
    if not path.exists() and not path.is_symlink():
        raise NotAPython(f"{path}: does not exist")
    if path.is_file():
        if not is_interpreter_name(path.name) or kind_of(_head(path)) is None:
            raise NotAPython(
                f"{path}: a file, but not a python executable (TARGET is a Python installation "
                "prefix, a venv, a python executable or an archive)"
            )
        via = f"interpreter {path}"
        venv = venv_of_interpreter(path)  # bin/python, Scripts\python.exe
        if venv is not None:
            return _venv(venv, via)
        home = path.parent
        found = _windows(home, via) if path.suffix.lower() == ".exe" else None
        found = found or _unix_prefix(home.parent, via)
        if found is None:
            raise NotAPython(f"{path}: no standard library found around this executable")
        return found
    via = f"directory {path}"
    if is_venv(path):
        return _venv(path, via)
    found = _windows(path, via) or _unix_prefix(path, via)
    if found is not None:
        return found
    python2 = [v for v in stdlib_versions(path / "lib") if v < MIN_VERSION]
    if python2:
        _check_version(path, python2[-1])
    raise NotAPython(
        f"{path}: not a Python installation (looked for pyvenv.cfg, python.exe with "
        "python3XY.dll, and bin/ with lib/python3.X/os.py)"
    )


def find_installations(root: Path) -> list[Path]:
    """Every directory under ``root`` that looks like a Python installation (for archives);
    the search does not descend into one it found."""
    found: list[Path] = []

    def looks(folder: Path) -> bool:
        if is_venv(folder):
            return True
        if (folder / "python.exe").is_file() and windows_version(folder) is not None:
            return True
        return (folder / "bin").is_dir() and any(
            (folder / "lib" / f"python{v[0]}.{v[1]}" / "os.py").is_file()
            for v in stdlib_versions(folder / "lib")
        )

    def walk(folder: Path) -> None:
        if looks(folder):
            found.append(folder)
            return
        for child in sorted(folder.iterdir()):
            if child.is_dir() and not child.is_symlink():
                walk(child)

    walk(root)
    return found
