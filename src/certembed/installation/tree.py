"""An installation (or frozen app, wheel, binary) as a tree of files to examine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from certembed.installation.layout import Layout

TreeKind = Literal[
    Layout,
    "venv",  # a virtual environment, followed to its base interpreter
    "python-interpreter",  # an interpreter executable, with its installation's extension modules
    "wheel",  # a wheel (or any zip), unpacked
    "pyinstaller-onefile",  # a onefile executable, its archive unpacked
    "binary",  # a single executable or library
]


@dataclass(frozen=True)
class Interpreter:
    """The interpreter a venv or an executable runs, and how it was found."""

    via: str  # "directory PATH" or "interpreter PATH": what was given
    pyvenv_cfg: str | None
    home: str | None
    version: str | None
    base_executable: str | None  # None: pyvenv.cfg names a base that is not on this machine
    base_prefix: str | None

    def to_json(self) -> dict[str, str | None]:
        return {
            "via": self.via,
            "pyvenv_cfg": self.pyvenv_cfg,
            "home": self.home,
            "version": self.version,
            "base_executable": self.base_executable,
            "base_prefix": self.base_prefix,
        }


@dataclass(frozen=True)
class Tree:
    root: Path
    kind: TreeKind
    files: tuple[Path, ...]
    interpreter: Interpreter | None = None  # a venv or an interpreter: the base it runs
    notes: tuple[str, ...] = ()
