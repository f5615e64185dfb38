"""Configuration: find a config file and turn it into a validated :class:`Spec`."""

from __future__ import annotations

from pathlib import Path

from certembed.config.model import Spec, default_spec
from certembed.config.starlark import StarlarkConfig
from certembed.config.toml import TomlConfig, read_table
from certembed.errors import ConfigError, Location

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
        raise ConfigError.single(Location(str(path)), "config file does not exist")
    if path.suffix in (".star", ".bzl", ".sky"):
        return StarlarkConfig(path).load()
    if path.name == "pyproject.toml":
        return TomlConfig(path, pyproject=True).load()
    if path.suffix == ".toml":
        return TomlConfig(path).load()
    raise ConfigError.single(
        Location(path.name), "unknown config type: use a .star file, a .toml file or pyproject.toml"
    )


__all__ = ["DISCOVERY_ORDER", "Spec", "default_spec", "discover", "load_config"]
