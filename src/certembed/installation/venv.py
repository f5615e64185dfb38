"""A virtual environment: its ``pyvenv.cfg`` and the base Python it runs (whose ``_ssl`` and
OpenSSL the venv uses)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CONFIG = "pyvenv.cfg"


def read_pyvenv_cfg(path: Path) -> dict[str, str]:
    """``key = value`` lines of a pyvenv.cfg (as CPython's site.py reads them: lower-cased
    keys, the last one wins). ``OSError`` when it cannot be read."""
    out: dict[str, str] = {}
    text = path.read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def minor_of(version: str | None) -> str | None:
    """``"3.11"`` from ``"3.11.4"`` (or from ``"3.11"``); None when there is no X.Y."""
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def is_venv(folder: Path) -> bool:
    return (folder / CONFIG).is_file()


def venv_of_interpreter(executable: Path) -> Path | None:
    """The venv an interpreter executable belongs to (``bin/python``, ``Scripts\\python.exe``),
    if any."""
    for venv in (executable.parent.parent, executable.parent):
        if is_venv(venv):
            return venv
    return None


@dataclass(frozen=True)
class Venv:
    root: Path
    home: str | None  # the base interpreter's folder, as pyvenv.cfg says
    version: str | None  # "version" (venv) or "version_info" (uv)
    executable: str | None  # the base interpreter, when pyvenv.cfg names it (3.11+, uv)

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def minor(self) -> str | None:
        return minor_of(self.version)

    def base_executable(self) -> Path | None:
        """The base interpreter, if it is on this machine: pyvenv.cfg's ``executable``, else
        ``home``'s pythonX.Y, python3, python or python.exe."""
        candidates = []
        if self.executable:
            candidates.append(Path(self.executable))
        if self.home:
            minor = self.minor
            names = [f"python{minor}", "python3", "python"] if minor else ["python3", "python"]
            candidates += [Path(self.home) / n for n in [*names, "python.exe"]]
        return next((c for c in candidates if c.is_file()), None)

    def base_prefix(self) -> Path | None:
        """The base installation's folder: ``home`` itself (Windows: python.exe's folder), or
        its parent when ``home`` is a ``bin``/``Scripts`` folder. None without a ``home``."""
        if not self.home:
            return None
        home = Path(self.home)
        return home.parent if home.name.lower() in ("bin", "scripts") else home


def read_venv(root: Path) -> Venv:
    """The venv at ``root`` (``OSError`` when its pyvenv.cfg cannot be read)."""
    cfg = read_pyvenv_cfg(root / CONFIG)
    return Venv(
        root,
        home=cfg.get("home"),
        version=cfg.get("version") or cfg.get("version_info"),
        executable=cfg.get("executable"),
    )
