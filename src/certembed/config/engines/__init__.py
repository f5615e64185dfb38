"""One small adapter over the Starlark engines certembed can evaluate a ``.star`` config with.

Three engines exist on PyPI, none with wheels everywhere (see docs/install.md):

* ``starlark-go`` (import ``starlark_go``): Go's reference implementation; glibc Linux and macOS.
* ``starlark-pyo3`` (import ``starlark``): starlark-rust, the family PyOxidizer uses; Windows x64,
  glibc Linux, macOS arm64.
* ``starlark`` (import ``starlark``): pure Python, any platform, CPython 3.11+.

The two latter install the same top-level package, so at most one of them is importable.

Every engine is wrapped so that certembed sees the same thing whichever one runs: builtins are
plain Python callables; a problem is a :class:`~certembed.errors.ConfigError` whose diagnostics
use one convention for positions (1-based line and column; a call is located at its opening
parenthesis, as starlark-go does; a run-time error by its line) and certembed's own words for
what certembed decides (undefined names with a did-you-mean, ``load()``, the end of the file).
What only the engine can say (the exact wording of a syntax or run-time error) follows in
parentheses, prefixed by the engine's name.

Nothing here imports an engine at module import time: :func:`select` does, on first use.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from certembed.errors import Diagnostic, EngineMissingError, Location

ENGINE_ENV = "CERTEMBED_STARLARK_ENGINE"

Builtins = Mapping[str, Callable[..., Any]]


@dataclass(frozen=True)
class EngineInfo:
    """One engine: its PyPI name, the module it imports and where it has wheels."""

    name: str
    module: str
    where: str


ENGINES: tuple[EngineInfo, ...] = (
    EngineInfo("starlark-go", "certembed.config.engines._go", "glibc Linux, macOS; CPython ≤ 3.13"),
    EngineInfo(
        "starlark-pyo3",
        "certembed.config.engines._rust",
        "Windows x64, glibc Linux, macOS arm64; CPython 3.9-3.14",
    ),
    EngineInfo("starlark", "certembed.config.engines._pure", "any platform; CPython ≥ 3.11"),
)
ENGINE_NAMES = tuple(e.name for e in ENGINES)


class EngineUnavailable(Exception):
    """Raised by an engine module whose package cannot be imported (or is another engine)."""


class BuiltinRaised(Exception):
    """A certembed builtin raised while the engine evaluated the file."""

    def __init__(self, original: BaseException, location: Location) -> None:
        super().__init__(f"{location}: {original}")
        self.original = original
        self.location = location


class Engine:
    """What every engine module provides (subclassed in ``_go``, ``_rust``, ``_pure``)."""

    name = ""  # the distribution's name on PyPI

    def __init__(self, module: Any) -> None:
        self.module = module
        self.version = _distribution_version(self.name)

    def run(self, source: str, filename: str, builtins: Builtins) -> None:
        """Execute ``source``; raise ConfigError (engine-detected) or BuiltinRaised."""
        raise NotImplementedError


def _distribution_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover - imported without metadata
        return "unknown"


def load(info: EngineInfo) -> Engine:
    """The engine ``info`` names, imported now; raises EngineUnavailable when it cannot be."""
    module = importlib.import_module(info.module)
    engine: Engine = module.load()
    return engine


_selected: dict[str, Engine] = {}


def select(name: str | None = None) -> Engine:
    """The engine named (or in ``$CERTEMBED_STARLARK_ENGINE``), else the first importable one."""
    wanted = name or os.environ.get(ENGINE_ENV) or ""
    if wanted in _selected:
        return _selected[wanted]
    if wanted:
        matches = [e for e in ENGINES if e.name == wanted]
        if not matches:
            raise EngineMissingError(
                f"{ENGINE_ENV}={wanted!r} is not a Starlark engine certembed knows; "
                f"use one of {', '.join(ENGINE_NAMES)}"
            )
        candidates = matches
    else:
        candidates = list(ENGINES)
    reasons: list[str] = []
    for info in candidates:
        try:
            engine = load(info)
        except EngineUnavailable as exc:
            reasons.append(f"{info.name}: {exc}")
            continue
        _selected[wanted] = engine
        return engine
    raise EngineMissingError(missing_message(wanted, reasons))


def recommended(system: str, machine: str, minor: int, glibc: bool) -> str | None:
    """The engine with wheels for this platform (docs/install.md's table), or None."""
    if system == "Windows" and machine.upper() in ("AMD64", "X86_64"):
        return "starlark-pyo3"
    if system == "Darwin" and minor <= 13:
        return "starlark-go"
    if minor >= 11:
        return "starlark"
    if system == "Linux" and glibc:
        return "starlark-go"
    return None


def missing_message(wanted: str, reasons: list[str]) -> str:
    """What to install here, then every choice."""
    import platform
    import sys

    minor = sys.version_info[1]
    here = f"{platform.system()} {platform.machine()}, CPython {sys.version_info[0]}.{minor}"
    glibc = platform.libc_ver()[0] == "glibc"
    if wanted:
        head = f"the Starlark engine {wanted} cannot be imported here ({here})"
    else:
        head = f"no Starlark engine can be imported here ({here})"
    lines = [head + ", so a .star config cannot be read."]
    best = recommended(platform.system(), platform.machine(), minor, glibc)
    if best is not None:
        lines.append(f"For this platform: pip install {best}")
    else:
        lines.append("No engine has wheels for this platform and Python: use CPython 3.11+.")
    lines += [
        "Engines and where they have wheels:",
        "  pip install starlark-go      # glibc Linux, macOS; CPython 3.8-3.13",
        "  pip install starlark-pyo3    # Windows x64, glibc Linux, macOS arm64; CPython 3.9-3.14",
        "  pip install starlark         # pure Python, any platform; CPython 3.11+",
        "(starlark-pyo3 and starlark share the import name 'starlark': install only one),",
        "or write the same settings as certembed.toml, which needs no engine.",
    ]
    if reasons:
        lines.append("Tried: " + "; ".join(reasons))
    return "\n".join(lines)


def importable() -> list[str]:
    """Names of the engines that import here (for doctor and the tests)."""
    names = []
    for info in ENGINES:
        try:
            load(info)
        except EngineUnavailable:
            continue
        names.append(info.name)
    return names


# --- helpers shared by the engine modules -------------------------------------------------


def import_starlark() -> Any:
    """The installed ``starlark`` package (starlark-pyo3 or the pure-Python one), or
    EngineUnavailable naming why it cannot be imported (not installed, or a broken install
    such as a damaged .so)."""
    try:
        return _import_starlark()
    except Exception as exc:
        raise EngineUnavailable(f"cannot import starlark ({exc})") from None


def _import_starlark() -> Any:
    """Import the installed ``starlark`` package (starlark-pyo3 or the pure-Python one).

    Only a ``sys.path`` entry that holds the distribution's metadata beside the package counts:
    a project folder named ``starlark`` (or this repository's PyOxidizer templates when run from
    a checkout) would otherwise be imported instead and hide the installed engine.
    """
    import sys
    from importlib.machinery import PathFinder
    from importlib.util import module_from_spec

    current = sys.modules.get("starlark")
    if current is not None:
        origin = getattr(current, "__file__", None) or ""
        if any(origin.startswith(str(entry)) for entry in _engine_entries()):
            return current
    for entry in _engine_entries():
        spec = PathFinder.find_spec("starlark", [entry])
        if spec is None or spec.loader is None or not spec.has_location:
            continue
        module = module_from_spec(spec)
        sys.modules["starlark"] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules["starlark"]
            raise
        return module
    raise ImportError("no installed distribution provides the package 'starlark'")


def _engine_entries() -> list[str]:
    """``sys.path`` entries holding starlark-pyo3's or starlark's metadata, in path order."""
    import sys
    from importlib.metadata import distributions

    entries = []
    for entry in sys.path:
        names = {
            (d.metadata["Name"] or "").lower().replace("_", "-")
            for d in distributions(path=[entry or "."])
        }
        if names & {"starlark-pyo3", "starlark"}:
            entries.append(entry or ".")
    return entries


class Guard:
    """Wraps builtins so that an exception one raises is kept, whatever the engine makes of it."""

    def __init__(self, builtins: Builtins) -> None:
        self.raised: list[BaseException] = []
        self.wrapped: dict[str, Callable[..., Any]] = {
            name: self._wrap(name, fn) for name, fn in builtins.items()
        }

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def builtin(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                self.raised.append(exc)
                raise

        builtin.__name__ = name
        return builtin


def call_paren(source: str, line: int, column: int) -> tuple[int, int]:
    """From the start of a call's callee (``pem_file`` in ``pem_file('a')``) to its ``(``.

    starlark-go names a call by its parenthesis, the Rust and Python engines by the callee's
    first character; certembed reports the parenthesis everywhere. Only a dotted name followed
    by optional blanks is skipped, so anything else keeps the position it had.
    """
    lines = source.splitlines()
    if not (0 < line <= len(lines)) or column <= 0:
        return line, column
    text = lines[line - 1]
    index = column - 1
    while index < len(text) and (text[index].isalnum() or text[index] in "_."):
        index += 1
    while index < len(text) and text[index] in " \t":
        index += 1
    if index < len(text) and text[index] == "(" and index > column - 1:
        return line, index + 1
    return line, column


def end_of_file(source: str) -> tuple[int, int]:
    """The position just past the last character, as starlark-go reports it."""
    lines = source.split("\n")
    return len(lines), len(lines[-1]) + 1


def only_blank_after(source: str, line: int) -> bool:
    """True when lines after ``line`` hold nothing but blanks and comments."""
    rest = source.splitlines()[line:]
    return all(not text.strip() or text.strip().startswith("#") for text in rest)


def rest_is_blank(source: str, line: int, column: int) -> bool:
    """True when nothing but blanks and comments follows ``line:column``."""
    lines = source.splitlines()
    if line > len(lines):
        return True
    tail = lines[line - 1][max(column - 1, 0) :]
    return not tail.strip() and only_blank_after(source, line)


def undefined(filename: str, line: int, column: int, name: str, known: list[str]) -> Diagnostic:
    from certembed.config.model import did_you_mean

    return Diagnostic(
        Location(filename, line, column), f"undefined: {name}{did_you_mean(name, known)}"
    )


def syntax(filename: str, line: int, column: int, engine: str, detail: str) -> Diagnostic:
    return Diagnostic(Location(filename, line, column), f"syntax error ({engine}: {detail})")


def eof(filename: str, source: str, engine: str, detail: str) -> Diagnostic:
    line, column = end_of_file(source)
    return Diagnostic(
        Location(filename, line, column),
        f"syntax error: unexpected end of file ({engine}: {detail})",
    )


def load_unsupported(filename: str, line: int, column: int) -> Diagnostic:
    return Diagnostic(
        Location(filename, line, column),
        "load() is not supported: a certembed config is one file (define helpers with def in it)",
    )


def runtime(filename: str, line: int, engine: str, detail: str) -> Diagnostic:
    if detail.startswith("fail: "):  # the config's own fail(...): its words, no engine name
        return Diagnostic(Location(filename, line), detail)
    return Diagnostic(Location(filename, line), f"evaluation failed ({engine}: {detail})")


# Starlark's predeclared names that every engine knows (for did-you-mean on undefined names).
UNIVERSAL = [
    "None", "True", "False", "abs", "all", "any", "bool", "dict", "dir", "enumerate", "fail",
    "getattr", "hasattr", "hash", "int", "len", "list", "max", "min", "print", "range", "repr",
    "reversed", "sorted", "str", "tuple", "type", "zip",
]  # fmt: skip


__all__ = [
    "ENGINES",
    "ENGINE_ENV",
    "ENGINE_NAMES",
    "BuiltinRaised",
    "Engine",
    "EngineInfo",
    "EngineUnavailable",
    "importable",
    "select",
]
