"""Configuration: find a config file and turn it into a validated :class:`Spec`."""

from __future__ import annotations

import re
from pathlib import Path

from certembed.config.model import Spec, default_spec
from certembed.config.starlark import StarlarkConfig
from certembed.config.toml import TomlConfig, read_table
from certembed.errors import ConfigError, Location, PathNotFoundError
from certembed.suggest import missing_hint

DISCOVERY_ORDER = ("certembed.star", "certembed.toml", "pyproject.toml")


def discover(directory: Path) -> Path | None:
    """The first config file in ``directory`` (a pyproject only with ``[tool.certembed]``)."""
    for name in DISCOVERY_ORDER:
        candidate = directory / name
        if not candidate.is_file():
            continue
        if name == "pyproject.toml":
            table, _ = read_table(candidate, pyproject=True)
            if table is None:
                continue
        return candidate
    return None


_LOOKS_LIKE = {
    ".star": re.compile(r"^\s*certembed\s*\(", re.M),
    ".toml": re.compile(r"^\s*(\[\[(tool\.certembed\.)?source\]\]|\[tool\.certembed\])", re.M),
}
_NEARBY_MAX_BYTES = 1 << 20


def nearby_configs(directory: Path, used: Path | None) -> list[Path]:
    """Other files in ``directory`` that look like certembed configs (``app.star``,
    ``certembed-prod.toml``, a ``pyproject.toml`` with ``[tool.certembed]``) but are not the
    one in use: a build names them, so that a user's roots never silently lose to the default."""
    out: list[Path] = []
    try:
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
    except OSError:
        return out
    for path in entries:
        pattern = _LOOKS_LIKE.get(path.suffix)
        if pattern is None or (used is not None and path.resolve() == used.resolve()):
            continue
        try:
            if not path.is_file() or path.stat().st_size > _NEARBY_MAX_BYTES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if pattern.search(text) or (path.suffix == ".toml" and "certembed" in path.name):
            out.append(path)
    return out


def describe_config(spec: Spec, directory: Path) -> list[str]:
    """The lines a build prints about its configuration: which one, and what else is near."""
    used = spec.config_path
    if used is not None:
        lines = [f"config: {_shown(used)}"]
        where = used.parent
    elif spec.config_digest == "default":
        lines = [
            "no config: embedded default, certifi roots (looked for "
            f"{', '.join(DISCOVERY_ORDER)} [tool.certembed] in {_shown(directory) or '.'})"
        ]
        where = directory
    else:
        return ["config: given inline (PyInstaller hooksconfig)"]
    for other in nearby_configs(where, used):
        lines.append(
            f"note: {_shown(other)} looks like a certembed config but is not used; "
            f"to use it: certembed build {_shown(other)}"
        )
    return lines


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when below it, else as is."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix() or "."
    except ValueError:
        return str(path)


def load_config(path: Path | None = None, directory: Path | None = None) -> Spec:
    """Load ``path``; without one, discover in ``directory`` (default: CWD) or use the default."""
    if path is None:
        where = directory or Path.cwd()
        found = discover(where)
        if found is None:
            return default_spec(where.resolve())
        path = found
    if path.is_dir():
        found = discover(path)
        if found is None:
            raise ConfigError.single(
                Location(str(path)), f"no {', '.join(DISCOVERY_ORDER)} with certembed settings here"
            )
        path = found
    if not path.exists():
        raise PathNotFoundError(f"config file {missing_hint(path)}")
    if path.suffix in (".star", ".bzl", ".sky"):
        return StarlarkConfig(path).load()
    if path.name == "pyproject.toml":
        return TomlConfig(path, pyproject=True).load()
    if path.suffix == ".toml":
        return TomlConfig(path).load()
    raise ConfigError.single(
        Location(path.name), "unknown config type: use a .star file, a .toml file or pyproject.toml"
    )


__all__ = [
    "DISCOVERY_ORDER",
    "Spec",
    "default_spec",
    "describe_config",
    "discover",
    "load_config",
    "nearby_configs",
]
