"""The Starlark front end (``*.star``), evaluated by whichever engine imports here.

The engine is chosen by :func:`certembed.config.engines.select` on first use (never at import:
the TOML path must not need one). Builtins only *record* their calls and return tagged plain
dicts (every engine can pass plain data across). Validation happens afterwards in
:class:`~certembed.config.model.Checker`, so every problem in a file is reported at once.

Python builtins do not learn their call site from the engines. To give each value a
``file:line:column`` we re-run the (deterministic) program and stop it at the k-th builtin call:
the engine adapter reports where that stop happened. Only the calls that matter are located, so
this costs one cheap re-run per value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from certembed.config.engines import BuiltinRaised, Engine, select
from certembed.config.model import (
    APP_BUILTINS,
    APP_OPTIONS,
    BUNDLE_OPTIONS,
    CERTEMBED_OPTIONS,
    ONEDIR_ONLY,
    Checker,
    Source,
    Spec,
    did_you_mean,
)
from certembed.errors import ConfigError, Location
from certembed.suggest import not_utf8

TAG = "__certembed__"
_REQUIRED = object()

# name -> (tag, [(param, default)], fixed raw fields)
BUILTINS: dict[str, tuple[str, list[tuple[str, Any]], dict[str, str]]] = {
    "certifi": ("source", [("trust", "fallback")], {"kind": "certifi"}),
    "system_store": ("source", [("trust", "fallback")], {"kind": "system_store"}),
    "pem_file": ("source", [("path", _REQUIRED), ("trust", "always")], {"kind": "pem_file"}),
    "pem_dir": ("source", [("path", _REQUIRED), ("trust", "always")], {"kind": "pem_dir"}),
    "pem": ("source", [("text", _REQUIRED), ("trust", "always")], {"kind": "pem"}),
    "ca_bundle": (
        "bundle",
        [("sources", _REQUIRED)] + [(o.name, o.default) for o in BUNDLE_OPTIONS[1:]],
        {},
    ),
    **{
        builtin: (
            "app",
            [
                (o.name, _REQUIRED if o.default is None else o.default)
                for o in APP_OPTIONS[1:]
                if not (o.name == "onefile" and kind in ONEDIR_ONLY)
            ],
            {"kind": kind},
        )
        for kind, builtin in APP_BUILTINS.items()
    },
    "certembed": ("certembed", [(o.name, o.default) for o in CERTEMBED_OPTIONS], {}),
}
# certembed(bundle=None) means the default bundle, app=None no app.
BUILTINS["certembed"][1][0] = ("bundle", None)


class _Stop(Exception):
    """Raised inside a builtin to stop a locating run at a given call."""


@dataclass
class _Call:
    index: int
    name: str
    problems: list[str] = field(default_factory=list)


class _Recorder:
    def __init__(self, stop_at: int = 0) -> None:
        self.calls: list[_Call] = []
        self.stop_at = stop_at
        self.raws: dict[int, dict[str, Any]] = {}

    def make(self, name: str) -> Callable[..., Any]:
        tag, params, fixed = BUILTINS[name]

        def builtin(*args: Any, **kwargs: Any) -> Any:
            call = _Call(len(self.calls) + 1, name)
            self.calls.append(call)
            if call.index == self.stop_at:
                raise _Stop(name)
            raw: dict[str, Any] = dict(fixed)
            names = [p for p, _ in params]
            if len(args) > len(params):
                call.problems.append(
                    f"{name}() takes at most {len(params)} positional arguments, got {len(args)}"
                )
            for (pname, _), value in zip(params, args):
                raw[pname] = value
            for key, value in kwargs.items():
                if key not in names:
                    call.problems.append(
                        f"{name}() got an unexpected keyword argument {key!r}"
                        f"{did_you_mean(key, names)}"
                    )
                elif key in raw and key not in fixed:
                    call.problems.append(f"{name}() got multiple values for argument {key!r}")
                else:
                    raw[key] = value
            for pname, default in params:
                if pname not in raw:
                    if default is _REQUIRED:
                        call.problems.append(f"{name}() missing required argument {pname!r}")
                    elif not (pname == "trust" and tag == "source"):
                        raw[pname] = default
            raw[TAG] = tag
            raw["__call__"] = call.index
            raw["__builtin__"] = name
            self.raws[call.index] = raw
            # The engine gets a handle, not the values: a value that crosses into Starlark and
            # back is not always the same value (starlark-pyo3 2025 turns -1 into -1.0).
            return {TAG: tag, "__call__": call.index, "__builtin__": name}

        builtin.__name__ = name
        return builtin

    def globals(self) -> dict[str, Callable[..., Any]]:
        return {name: self.make(name) for name in BUILTINS}


def _run(engine: Engine, source: str, filename: str, recorder: _Recorder) -> None:
    try:
        engine.run(source, filename, recorder.globals())
    except BuiltinRaised as exc:
        raise exc.original from None


class StarlarkConfig:
    """Evaluate one Starlark config file into a :class:`Spec`."""

    def __init__(self, path: Path, display: str | None = None) -> None:
        self.path = path
        self.filename = display or path.name
        self._located: dict[int, Location] = {}
        self.engine: Engine | None = None
        self._raws: dict[int, dict[str, Any]] = {}

    def locate(self, call_index: int) -> Location:
        if call_index not in self._located:
            assert self.engine is not None
            recorder = _Recorder(stop_at=call_index)
            try:
                self.engine.run(self.source, self.filename, recorder.globals())
            except BuiltinRaised as exc:
                self._located[call_index] = exc.location
            else:  # pragma: no cover - evaluation is deterministic
                self._located[call_index] = Location(self.filename)
        return self._located[call_index]

    def load(self) -> Spec:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise ConfigError.single(Location(str(self.path)), f"cannot read: {exc}") from exc
        try:
            self.source = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            line, message = not_utf8(data, exc)
            raise ConfigError.single(Location(self.filename, line), message) from None
        self.engine = engine = select()
        recorder = _Recorder()
        _run(engine, self.source, self.filename, recorder)
        checker = Checker(self.path.parent.resolve())
        for call in recorder.calls:
            for problem in call.problems:
                checker.error(self.locate(call.index), problem)
        top_calls = [c for c in recorder.calls if c.name == "certembed"]
        if not top_calls:
            checker.error(
                Location(self.filename),
                "certembed() is never called: the file must call it exactly once",
            )
        for extra in top_calls[1:]:
            first = self.locate(top_calls[0].index)
            checker.error(
                self.locate(extra.index),
                f"certembed() called a second time (first call at line {first.line}); "
                "call it exactly once",
            )
        if not top_calls:
            checker.raise_if_any()
        self._raws = recorder.raws
        spec = self._spec(checker, self._raw(top_calls[0].index), data)
        checker.raise_if_any()
        assert spec is not None
        return spec

    def _raw(self, index: int) -> dict[str, Any]:
        """The arguments a builtin call received (by the handle's call index)."""
        return self._raws[index]

    def _tagged(self, value: Any, tag: str) -> bool:
        return isinstance(value, Mapping) and value.get(TAG) == tag

    def _spec(self, checker: Checker, raw: dict[str, Any], data: bytes) -> Spec | None:
        from certembed.config.model import default_spec, digest_bytes

        top_loc = self.locate(raw["__call__"])
        bundle_raw = raw.get("bundle")
        if bundle_raw is None:
            bundle = default_spec(checker.base_dir).bundle
        elif not self._tagged(bundle_raw, "bundle"):
            checker.error(
                Location(top_loc.file, top_loc.line, top_loc.column, "bundle"),
                f"must be a ca_bundle(...) value, got {_kind_of(bundle_raw)}",
            )
            bundle = None
        else:
            bundle_raw = self._raw(bundle_raw["__call__"])
            bundle_loc = self.locate(bundle_raw["__call__"])
            sources = self._sources(checker, bundle_raw.get("sources"), bundle_loc)
            bundle = checker.bundle(_plain(bundle_raw), bundle_loc, sources)
        app = None
        app_ok = True
        app_raw = raw.get("app")
        if app_raw is not None:
            if not self._tagged(app_raw, "app"):
                checker.error(
                    Location(top_loc.file, top_loc.line, top_loc.column, "app"),
                    "must be a pyinstaller_app(...), nuitka_app(...) or cx_freeze_app(...) "
                    f"value, got {_kind_of(app_raw)}",
                )
                app_ok = False
            else:
                app_raw = self._raw(app_raw["__call__"])
                app = checker.app(_plain(app_raw), self.locate(app_raw["__call__"]))
                app_ok = app is not None
        return checker.top(
            _plain(raw), top_loc, bundle, app, app_ok, self.path.resolve(), digest_bytes(data)
        )

    def _sources(self, checker: Checker, value: Any, loc: Location) -> list[Source] | None:
        if not isinstance(value, (list, tuple)):
            checker.error(
                Location(loc.file, loc.line, loc.column, "sources"),
                f"must be a list of sources, got {_kind_of(value)}",
            )
            return None
        out: list[Source] = []
        ok = True
        for index, item in enumerate(value):
            if not self._tagged(item, "source"):
                checker.error(
                    Location(loc.file, loc.line, loc.column, f"sources[{index}]"),
                    "must be a source such as certifi(), pem_file(...), pem_dir(...), pem(...), "
                    f"system_store(); got {_kind_of(item)}",
                )
                ok = False
                continue
            called = self._raw(item["__call__"])
            source = checker.source(_plain(called), self.locate(called["__call__"]))
            if source is None:
                ok = False
            else:
                out.append(source)
        return out if ok else None


def _plain(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if not k.startswith("__")}


def _kind_of(value: Any) -> str:
    if isinstance(value, Mapping) and TAG in value:
        return f"a {value.get('__builtin__')}(...) value"
    return {str: "a string", int: "an integer", bool: "a boolean", list: "a list"}.get(
        type(value), type(value).__name__
    )
