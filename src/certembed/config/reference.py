"""Generate the option reference in ``docs/config.md`` from the option tables.

``python -m certembed.config.reference docs/config.md`` rewrites the generated section; a test
fails when the committed file drifts from the tables.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from certembed.config.model import (
    APP_OPTIONS,
    BUNDLE_OPTIONS,
    CERTEMBED_OPTIONS,
    DEFAULT_TRUST,
    SOURCE_OPTIONS,
    Option,
)
from certembed.config.toml import TOP_OPTIONS

START = "<!-- generated: options -->"
END = "<!-- /generated: options -->"


def _default(option: Option) -> str:
    if option.default is None:
        return "required" if option.name in ("name", "script", "path", "text", "kind") else "none"
    if isinstance(option.default, bool):
        return "`True`" if option.default else "`False`"
    return f"`{option.default}`"


def _table(options: Sequence[Option]) -> list[str]:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for option in options:
        kind = option.kind
        if option.choices:
            kind += ": " + ", ".join(f"`{c}`" for c in option.choices)
        rows.append(f"| `{option.name}` | {kind} | {_default(option)} | {option.doc} |")
    return rows


def render() -> str:
    lines = [START, "", "### `certembed(...)` (Starlark)", ""]
    lines += _table(CERTEMBED_OPTIONS)
    lines += ["", "### `ca_bundle(...)` (Starlark)", ""]
    lines += _table(BUNDLE_OPTIONS)
    lines += [
        "",
        "### Sources",
        "",
        "Starlark builtins `certifi()`, `system_store()`, `pem_file(path)`, "
        "`pem_dir(path)`, `pem(text)`; TOML `[[source]]` tables with these keys. Default "
        "trust per kind: " + ", ".join(f"`{k}` {v}" for k, v in DEFAULT_TRUST.items()) + ".",
        "",
    ]
    lines += _table(SOURCE_OPTIONS)
    lines += [
        "",
        "### `pyinstaller_app(...)`, `nuitka_app(...)`, `cx_freeze_app(...)` / TOML `[app]`",
        "",
        "One builtin per freezer (`cx_freeze_app` takes no `onefile`); in TOML, `[app]` with "
        "`kind`. The executable lands at `dist/<name>/<name>` (`.exe` on Windows; onefile: "
        "`dist/<name>`).",
        "",
    ]
    lines += _table(APP_OPTIONS)
    lines += [
        "",
        "### TOML top level (`certembed.toml`, or `[tool.certembed]` in pyproject.toml)",
        "",
    ]
    lines += _table(TOP_OPTIONS)
    lines += ["", END]
    return "\n".join(lines)


def update(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    new = head + render() + tail
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


if __name__ == "__main__":  # pragma: no cover
    changed = update(Path(sys.argv[1]))
    print("updated" if changed else "up to date")
