"""The pure-Python ``starlark`` engine (import ``starlark``; CPython 3.11+).

Its evaluator reports an error raised by a top-level statement without a position, and an
undefined name only when it is evaluated. To give both a ``file:line:col`` like the other
engines, the file runs one top-level statement at a time (the same steps as
``starlark.Program.exec``), and an undefined name is looked up in the parsed tree.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

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
    rest_is_blank,
    runtime,
    syntax,
    undefined,
)
from certembed.errors import ConfigError, Location

NAME = "starlark"
_UNDEFINED = re.compile(r"name '(?P<name>\w+)' is not defined")


def _nodes(node: Any) -> Iterator[Any]:
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from _nodes(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        yield node
        for field in dataclasses.fields(node):
            if field.name not in ("binding", "position"):
                yield from _nodes(getattr(node, field.name))


def _global(node: Any) -> bool:
    binding = getattr(node, "binding", None)
    return binding is not None and getattr(binding.scope, "name", "") == "GLOBAL"


class PureEngine(Engine):
    name = NAME

    def run(self, source: str, filename: str, builtins: Builtins) -> None:
        sl = self.module
        from starlark.eval.builtins import make_universal, with_mutability, with_thread
        from starlark.eval.evaluator import Frame, Thread, _exec_stmt
        from starlark.program import _resolve

        guard = Guard(builtins)
        predeclared = {
            name: sl.BuiltinFunction(name=name, impl=_converting(fn, sl))
            for name, fn in guard.wrapped.items()
        }
        try:
            program = sl.compile(source, filename=filename, mode="file")
            file, locs = program._file, program._locs
            universal = make_universal()
            _resolve(file, locs, predeclared, universal)
        except sl.StarlarkSyntaxException as exc:
            # the first problem only, as the other engines stop at it
            first = min(exc.errors, key=lambda e: (e.position.line, e.position.column))
            line, column, msg = first.position.line, first.position.column, first.message
            if rest_is_blank(source, line, column):
                raise ConfigError([eof(filename, source, NAME, msg)]) from None
            raise ConfigError([syntax(filename, line, column, NAME, msg)]) from None
        from starlark.syntax.ast import ForStatement, Identifier, IfStatement

        # starlark-go and starlark-pyo3 reject an undefined name before running anything (in an
        # uncalled function too); this engine only when evaluating it: look for one first.
        bound = set(file.globals)
        free = sorted(
            (node.start, node.name)
            for node in _nodes(file.statements)
            if isinstance(node, Identifier) and _global(node) and node.name not in bound
        )
        if free:
            at = locs.position(free[0][0])
            known = [*builtins, *UNIVERSAL]
            raise ConfigError([undefined(filename, at.line, at.column, free[0][1], known)])

        for stmt in file.statements:  # starlark-go and starlark-pyo3 refuse these at top level
            if isinstance(stmt, (IfStatement, ForStatement)):
                at = locs.position(stmt.start)
                word = "if statement" if isinstance(stmt, IfStatement) else "for loop"
                raise ConfigError(
                    [syntax(filename, at.line, at.column, NAME, f"{word} not within a function")]
                )
        module = sl.Module(filename)
        thread = Thread(module=module, predeclared=predeclared, universal=universal, locs=locs)
        frame = Frame(locals_=module.globals, function_name="<toplevel>", module=module)
        thread.frames.append(frame)
        with with_mutability(module.mutability), with_thread(thread):
            for stmt in file.statements:
                try:
                    _exec_stmt(stmt, frame, thread)
                except sl.EvalError as exc:
                    at = locs.position(stmt.start)
                    self._fail(
                        exc, guard, source, filename, (file, locs), (at.line, at.column), builtins
                    )
                except RecursionError:
                    at = locs.position(stmt.start)
                    raise ConfigError(
                        [runtime(filename, at.line, NAME, "maximum recursion depth exceeded")]
                    ) from None

    def _fail(
        self,
        exc: Any,
        guard: Guard,
        source: str,
        filename: str,
        parsed: tuple[Any, Any],
        stmt_at: tuple[int, int],
        builtins: Builtins,
    ) -> None:
        frames = [f for f in exc.frames if f.position is not None and f.position.file == filename]
        line, column = (frames[0].position.line, frames[0].position.column) if frames else stmt_at
        if guard.raised:
            line, column = call_paren(source, line, column)
            raise BuiltinRaised(guard.raised[-1], Location(filename, line, column)) from None
        msg = str(exc.message)
        found = _UNDEFINED.fullmatch(msg)
        if found:
            name = found.group("name")
            from starlark.syntax.ast import Identifier

            file, locs = parsed
            for node in _nodes(file.statements):
                if isinstance(node, Identifier) and node.name == name:
                    at = locs.position(node.start)
                    line, column = at.line, at.column
                    break
            raise ConfigError(
                [undefined(filename, line, column, name, [*builtins, *UNIVERSAL])]
            ) from None
        if exc.frames and exc.frames[0].name == "fail":
            msg = f"fail: {msg}"
        if msg.startswith("load() not allowed"):
            raise ConfigError([load_unsupported(filename, *stmt_at)]) from None
        raise ConfigError([runtime(filename, line, NAME, msg)]) from None


def _converting(fn: Any, sl: Any) -> Any:
    def impl(*args: Any, **kwargs: Any) -> Any:
        plain_args = [sl.from_value(a) for a in args]
        plain_kwargs = {k: sl.from_value(v) for k, v in kwargs.items()}
        return sl.to_value(fn(*plain_args, **plain_kwargs))

    return impl


def load() -> Engine:
    starlark = import_starlark()
    if not hasattr(starlark, "exec_file") or hasattr(starlark, "Globals"):
        raise EngineUnavailable("the importable 'starlark' is not the pure-Python starlark")
    try:
        import starlark.eval.evaluator
        import starlark.program
        import starlark.syntax.ast
    except ImportError as exc:  # pragma: no cover - another release's layout
        raise EngineUnavailable(f"unsupported starlark release ({exc})") from None
    return PureEngine(starlark)
