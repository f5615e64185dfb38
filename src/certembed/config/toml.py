"""The TOML front end: ``certembed.toml`` or ``[tool.certembed]`` in ``pyproject.toml``.

The ``ca_bundle()`` and ``certembed()`` keywords sit together at the top level; sources are
``[[source]]`` tables and the app is an ``[app]`` table. Errors name the dotted key and, where it
can be found in the text, the line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from certembed.config.model import (
    APP_OPTIONS,
    BUNDLE_OPTIONS,
    CERTEMBED_OPTIONS,
    Checker,
    Option,
    Source,
    Spec,
    default_spec,
    digest_bytes,
)
from certembed.errors import ConfigError, Diagnostic, Location
from certembed.suggest import not_utf8

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

TOP_OPTIONS: tuple[Option, ...] = (
    *(o for o in CERTEMBED_OPTIONS if o.name not in ("bundle", "app")),
    *(o for o in BUNDLE_OPTIONS if o.name != "sources"),
    Option("source", "array of tables", '[{kind = "certifi"}]', "`[[source]]` tables."),
    Option("app", "table", None, "`[app]` table: the application to freeze.", ()),
)
_SOURCE_HEADER = r"^\s*\[\[\s*(tool\.certembed\.)?source\s*\]\]"
_APP_HEADER = r"^\s*\[\s*(tool\.certembed\.)?app\s*\]"
_TABLE_HEADER = re.compile(r"^\s*\[")
_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


# tomllib's message -> what usually causes it, and the fix (the first pattern that matches).
_SYNTAX_HINTS = (
    (
        r"Illegal character '\\n'|Unterminated string",
        'a string is not closed on this line: add its closing quote ("..."; a string over '
        'several lines takes triple quotes """...""")',
    ),
    (
        r"Cannot overwrite a value|Cannot declare",
        "this key or table is already set above: keep one (each [[source]] header starts a new "
        "source, with its own kind/path/trust)",
    ),
    (
        r"Expected '\]\]'|Expected '\]' at the end of a table",
        "a table header is not closed: write [[source]] (each source) or [app]",
    ),
    (
        r"Expected '=' after a key|Invalid statement",
        "each line is key = value (strings in double quotes), a [table] or a [[source]] header",
    ),
    (r"Unclosed array", "an array is not closed: end it with ] (items separated by commas)"),
    (r"Unclosed inline table", "an inline table is not closed: end it with } on the same line"),
)


def _syntax_hint(message: str, shown: str, col: int) -> str:
    """``: at `line text`; fix: ...``, the fix naming the usual cause of ``message``."""
    where = f" in `{shown.strip()}`" if shown.strip() else ""
    rest = shown[col - 1 :].strip() if col else ""
    word = re.match(r"[A-Za-z][\w.-]*", rest)
    if "Invalid value" in message and word and word.group(0) not in ("true", "false"):
        key = shown.partition("=")[0].strip() or "key"
        fix = f'strings take double quotes: {key} = "{rest.rstrip(",")}"'
    elif "Invalid value" in message:
        fix = (
            'a value is a "quoted string", a number, true/false (lowercase), [an, array] or '
            "{ an = inline table }"
        )
    else:
        fix = next(
            (hint for pattern, hint in _SYNTAX_HINTS if re.search(pattern, message)),
            "check the quotes, brackets and = on this line (TOML: https://toml.io)",
        )
    return f"{where}; fix: {fix}"


def read_table(path: Path, pyproject: bool) -> tuple[dict[str, Any] | None, bytes]:
    """The certembed table of a file (``None`` for a pyproject without one)."""
    try:
        data = path.read_bytes()
        doc = tomllib.loads(data.decode("utf-8").removeprefix("\ufeff"))
    except OSError as exc:
        raise ConfigError.single(Location(str(path)), f"cannot read: {exc}") from exc
    except UnicodeDecodeError as exc:
        line, message = not_utf8(data, exc)
        raise ConfigError.single(Location(path.name, line), message) from None
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POS.search(str(exc))
        line, col = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
        message = _TOML_POS.sub("", str(exc)).strip()
        text = data.decode("utf-8", errors="replace").removeprefix("\ufeff").splitlines()
        shown = text[line - 1] if 0 < line <= len(text) else ""
        raise ConfigError.single(
            Location(path.name, line, col),
            f"TOML syntax: {message}{_syntax_hint(message, shown, col)}",
        ) from exc
    if not pyproject:
        return doc, data
    tool = doc.get("tool", {})
    table = tool.get("certembed") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise ConfigError.single(Location(path.name, key="tool.certembed"), "must be a table")
    return table, data


class TomlConfig:
    def __init__(self, path: Path, pyproject: bool = False) -> None:
        self.path = path
        self.pyproject = pyproject
        self.prefix = "tool.certembed." if pyproject else ""
        self.lines: list[str] = []

    def _line(self, pattern: str, nth: int = 0) -> int:
        seen = 0
        regex = re.compile(pattern)
        for number, text in enumerate(self.lines, start=1):
            if regex.match(text):
                if seen == nth:
                    return number
                seen += 1
        return 0

    def _key_location(self, loc: Location) -> Location:
        """``loc`` moved to the line that sets its key (``source[2].trust`` -> the ``trust = ...``
        line inside the second ``[[source]]``); unchanged when the key is not written there."""
        key = loc.key[len(self.prefix) :] if loc.key.startswith(self.prefix) else loc.key
        if loc.file != self.path.name or not key:
            return loc
        head, _, rest = key.partition(".")
        block = re.fullmatch(r"source\[(\d+)\]", head)
        if block:
            start = self._line(_SOURCE_HEADER, int(block.group(1)) - 1)
        elif head == "app":
            start = self._line(_APP_HEADER)
        else:
            start = self._line(r"^\s*\[\s*tool\.certembed\s*\]") if self.pyproject else 0
            rest = key
            if self.pyproject and not start:
                return loc
        if (block or head == "app") and not (start and rest):
            return loc  # the table itself, or a table written inline: keep its location
        name = re.sub(r"\[\d+\]$", "", rest.partition(".")[0])
        assignment = re.compile(rf"""^\s*["']?{re.escape(name)}["']?\s*=""")
        for number in range(start + 1, len(self.lines) + 1):
            text = self.lines[number - 1]
            if _TABLE_HEADER.match(text):
                break  # the next table starts: the key is not in this one
            if assignment.match(text):
                return Location(loc.file, number, 0, loc.key)
        return loc

    def _with_column(self, loc: Location, name: str) -> Location:
        """``loc`` with the column (from 1) where ``name`` starts on its line."""
        if not 0 < loc.line <= len(self.lines):
            return loc
        column = self.lines[loc.line - 1].find(name) + 1
        return Location(loc.file, loc.line, max(column, 0), loc.key)

    def _loc(self, key: str, line: int = 0) -> Location:
        return Location(self.path.name, line, 0, self.prefix + key)

    def load(self) -> Spec:
        table, data = read_table(self.path, self.pyproject)
        if table is None:
            raise ConfigError.single(self._loc("", 0), "no [tool.certembed] table")
        self.lines = data.decode("utf-8").splitlines()
        return self.check(table, self.path.parent.resolve(), digest_bytes(data), self.path)

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Any], display: str, base: Path, extra_keys: tuple[str, ...] = ()
    ) -> Spec:
        """Check a TOML-shaped mapping that did not come from a file (PyInstaller hooksconfig)."""
        import json

        config = cls(Path(display))
        config.prefix = ""
        plain = {k: v for k, v in table.items() if k not in extra_keys}
        digest = digest_bytes(json.dumps(plain, sort_keys=True, default=str).encode())
        return config.check(plain, base, digest, None)

    def check(
        self, table: Mapping[str, Any], base: Path, digest: str, config_path: Path | None
    ) -> Spec:
        checker = Checker(base)
        top_loc = Location(self.path.name, 0, 0, self.prefix.rstrip("."))
        names = [o.name for o in TOP_OPTIONS]
        for key in table:
            if key not in names:
                from certembed.config.model import did_you_mean

                line = self._line(rf"^\s*{re.escape(key)}\s*=")
                checker.error(
                    self._loc(key, line), f"unknown key {key!r}{did_you_mean(key, names)}"
                )
        sources = self._sources(checker, table.get("source"), base)
        bundle = checker.bundle(table, top_loc, sources)
        app = None
        app_ok = True
        if "app" in table:
            raw_app = table["app"]
            line = self._line(_APP_HEADER)
            if not isinstance(raw_app, Mapping):
                checker.error(self._loc("app", line), "must be a table ([app])")
                app_ok = False
            else:
                app = checker.app(raw_app, self._loc("app", line))
                app_ok = app is not None
        spec = checker.top(table, top_loc, bundle, app, app_ok, config_path, digest)
        if self.lines:  # point at the offending key's own line, not its table's header
            checker.diagnostics = [
                Diagnostic(self._key_location(d.location), d.message) for d in checker.diagnostics
            ]
        checker.raise_if_any()
        assert spec is not None
        return spec

    def _sources(self, checker: Checker, value: Any, base: Path) -> list[Source] | None:
        if value is None:
            return list(default_spec(base).bundle.sources)
        if not isinstance(value, list):
            checker.error(self._loc("source"), "must be an array of tables ([[source]])")
            return None
        out: list[Source] = []
        ok = True
        for index, item in enumerate(value):
            line = self._line(_SOURCE_HEADER, index)
            loc = self._loc(f"source[{index + 1}]", line)  # counted from 1, as in the file
            if not isinstance(item, Mapping):
                checker.error(loc, "must be a table")
                ok = False
                continue
            source = checker.source(item, loc)
            if source is None:
                ok = False
            else:
                if source.path is not None and self.lines:  # file problems name its path key
                    where = self._key_location(self._loc(f"source[{index + 1}].path", line))
                    source = replace(source, path_location=self._with_column(where, "path"))
                out.append(source)
        return out if ok else None


__all__ = ["APP_OPTIONS", "TOP_OPTIONS", "TomlConfig", "read_table"]
