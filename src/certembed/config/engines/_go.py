"""The ``starlark-go`` engine (import ``starlark_go``)."""

from __future__ import annotations

import re

from certembed.config.engines import (
    UNIVERSAL,
    BuiltinRaised,
    Builtins,
    Engine,
    EngineUnavailable,
    Guard,
    eof,
    load_unsupported,
    runtime,
    syntax,
    undefined,
)
from certembed.errors import ConfigError, Location

_FRAME = re.compile(r"^\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): in ", re.MULTILINE)
NAME = "starlark-go"


def _innermost(backtrace: str, filename: str) -> tuple[int, int]:
    frames = [m for m in _FRAME.finditer(backtrace or "") if m.group("file") == filename]
    if not frames:
        return 0, 0
    return int(frames[-1].group("line")), int(frames[-1].group("col"))


def _message(exc: Exception) -> str:
    msg = str(getattr(exc, "msg", "") or getattr(exc, "error", "") or exc)
    # "<builtin> in pem_file:0:0: text" / "app.star in f:2:11: text" -> "text"
    return re.sub(r"^\S+ in [^:]+:\d+:\d+: ", "", msg)


class GoEngine(Engine):
    name = NAME

    def run(self, source: str, filename: str, builtins: Builtins) -> None:
        sg = self.module
        guard = Guard(builtins)
        # starlark-go does not keep a reference to the Python callables it is given: `guard`
        # holds them for the whole run, or the interpreter would call freed objects (SIGSEGV).
        interp = sg.Starlark(globals=guard.wrapped)
        try:
            interp.exec(source, filename=filename)
        except sg.SyntaxError as exc:
            msg = str(exc.msg)
            if "end of file" in msg:
                raise ConfigError([eof(filename, source, NAME, msg)]) from None
            raise ConfigError([syntax(filename, exc.line, exc.column, NAME, msg)]) from None
        except sg.ResolveError as exc:
            # the first problem only, as the other engines stop at it
            item = min(exc.errors, key=lambda e: (e.line, e.column))
            found = re.fullmatch(r"undefined: (\w+)", str(item.msg))
            if found:
                known = [*builtins, *UNIVERSAL]
                diagnostic = undefined(filename, item.line, item.column, found.group(1), known)
            else:
                diagnostic = syntax(filename, item.line, item.column, NAME, item.msg)
            raise ConfigError([diagnostic]) from None
        except sg.StarlarkError as exc:
            line, column = _innermost(str(getattr(exc, "backtrace", "")), filename)
            if guard.raised:
                raise BuiltinRaised(guard.raised[-1], Location(filename, line, column)) from None
            msg = _message(exc)
            if "load not implemented" in msg:
                raise ConfigError([load_unsupported(filename, line, column)]) from None
            raise ConfigError([runtime(filename, line, NAME, msg)]) from None
        finally:
            del interp


def load() -> Engine:
    try:
        import starlark_go
    except Exception as exc:  # not installed, or a broken install (a damaged .so)
        raise EngineUnavailable(f"cannot import starlark_go ({exc})") from None
    return GoEngine(starlark_go)
