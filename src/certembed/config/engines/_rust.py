"""The ``starlark-pyo3`` engine (starlark-rust; import ``starlark``)."""

from __future__ import annotations

import re

from certembed.config.engines import (
    UNIVERSAL,
    BuiltinRaised,
    Builtins,
    Engine,
    EngineUnavailable,
    Guard,
    call_paren,
    eof,
    import_starlark,
    load_unsupported,
    only_blank_after,
    runtime,
    syntax,
    undefined,
)
from certembed.errors import ConfigError, Location

NAME = "starlark-pyo3"
_SPAN = re.compile(r"^\s*--> (?P<file>.+?):(?P<line>\d+):(?P<col>\d+)\s*$", re.MULTILINE)
_ERROR = re.compile(r"^error: (?P<msg>.*)$", re.MULTILINE)
_UNDEFINED = re.compile(r"Variable `(?P<name>\w+)` not found")


def _span(text: str, filename: str) -> tuple[int, int]:
    for match in _SPAN.finditer(text):
        if match.group("file") == filename:
            return int(match.group("line")), int(match.group("col"))
    return 0, 0


def _message(text: str) -> str:
    found = _ERROR.search(text)
    msg = found.group("msg") if found else text.strip().splitlines()[0]
    # the parser lists every token it would accept: keep the sentence, not the list
    return re.sub(r", expected one of .*$", "", msg)


class RustEngine(Engine):
    name = NAME

    def run(self, source: str, filename: str, builtins: Builtins) -> None:
        sl = self.module
        guard = Guard(builtins)
        try:
            ast = sl.parse(filename, source, sl.Dialect.standard())
        except sl.StarlarkError as exc:
            text = str(exc)
            msg = _message(text)
            line, column = _span(text, filename)
            if msg.startswith("Parse error: unexpected new line") and only_blank_after(
                source, line
            ):
                raise ConfigError([eof(filename, source, NAME, msg)]) from None
            if "end of file" in msg:
                raise ConfigError([eof(filename, source, NAME, msg)]) from None
            raise ConfigError([syntax(filename, line, column, NAME, msg)]) from None
        module = sl.Module()
        for name, fn in guard.wrapped.items():
            module.add_callable(name, fn)
        try:
            sl.eval(module, ast, sl.Globals.standard())
        except sl.StarlarkError as exc:
            text = str(exc)
            line, column = _span(text, filename)
            if guard.raised:
                line, column = call_paren(source, line, column)
                raise BuiltinRaised(guard.raised[-1], Location(filename, line, column)) from None
            msg = _message(text)
            found = _UNDEFINED.search(msg)
            if found:
                known = [*builtins, *UNIVERSAL]
                raise ConfigError(
                    [undefined(filename, line, column, found.group("name"), known)]
                ) from None
            if msg.startswith("No imports are available"):
                raise ConfigError([load_unsupported(filename, line, column)]) from None
            raise ConfigError([runtime(filename, line, NAME, msg)]) from None


def load() -> Engine:
    starlark = import_starlark()
    if not (hasattr(starlark, "Globals") and hasattr(starlark, "Module")):
        raise EngineUnavailable("the importable 'starlark' is not starlark-pyo3")
    return RustEngine(starlark)
