"""Assemble ``_certembed_runtime.py`` (and the small ``_certembed_bootstrap.py`` that start-up
imports, from :mod:`.runtime.shim`) from the real modules under :mod:`.runtime`.

Per target: the baked data (``templates/baked.py.j2``, data only), then :mod:`.runtime.stores`,
the target's OS module and the shared engine (``CORE_PARTS``, :mod:`.runtime.core` last), each
without its docstrings (the module's and every function's and class's) and its functions'
parameter and return annotations (strings for mypy: they are read by people and type checkers,
not by the bootstrap, and unmarshalling them and building each function's annotations is part
of every app's start-up), its ``os``/``ssl``/``sys`` imports (the header has them once) and its
``dev-only`` block. Comments stay: they cost nothing in the compiled module. The result is one
standard-library module that imports nothing else at start-up.
"""

from __future__ import annotations

import ast
from importlib import resources

RUNTIME_PACKAGE = "certembed.bootstrap.runtime"
OS_MODULE = {"linux": "posix", "macos": "macos", "windows": "windows"}
DEV_BEGIN = "# certembed: dev-only begin"
DEV_END = "# certembed: dev-only end"
SHARED_IMPORTS = ("import os", "import ssl", "import sys")
# A cut in one line of source: [start, end) becomes the replacement text.
Cut = tuple[int, int, str]
# The shared engine after the OS module, each part using only the parts before it: the policy,
# the embedded data, the installed state, the ssl patches, the client adapters, install.
CORE_PARTS = ("policy", "data", "state", "patch", "clients", "core")


def parts(target: str) -> list[str]:
    """The runtime modules a target's bootstrap is made of, in order."""
    # Only the posix module's machine stores (Linux, the BSDs) are a PEM file and a directory,
    # which the fast path serves as a hashed directory.
    fast = ["fpcache", "fastpath"] if OS_MODULE[target] == "posix" else []
    return ["stores", *fast, OS_MODULE[target], *CORE_PARTS]


def module_source(name: str) -> str:
    return (resources.files(RUNTIME_PACKAGE) / f"{name}.py").read_text(encoding="utf-8")


def _docstring(body: list[ast.stmt]) -> ast.Expr | None:
    """The docstring statement opening ``body``, if any (what Python stores as ``__doc__``)."""
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


def _strip_docstrings(
    name: str, tree: ast.Module, lines: list[str], drop: set[int], replace: dict[int, str]
) -> None:
    """Mark every function's and class's docstring lines in ``drop``; a docstring that is the
    whole body becomes ``pass`` at its indentation (in ``replace``) so that the body stays.
    Definitions already dropped (the dev-only block) are left alone."""
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if node.lineno - 1 in drop:
            continue
        doc = _docstring(node.body)
        if doc is None:
            continue
        first, last = doc.lineno - 1, (doc.end_lineno or doc.lineno) - 1
        end_col = doc.end_col_offset if doc.end_col_offset is not None else len(lines[last])
        # Lines are dropped whole: a docstring sharing a line with other code cannot be.
        tail = lines[last][end_col:].strip()
        if lines[first][: doc.col_offset].strip() or (tail and not tail.startswith("#")):
            raise ValueError(
                f"{name}.py line {doc.lineno}: the docstring of {node.name!r} shares a line "
                "with other code; put it on lines of its own"
            )
        drop.update(range(first, last + 1))
        if len(node.body) == 1:
            replace[first] = " " * doc.col_offset + "pass"


def _strip_annotations(
    name: str, tree: ast.Module, lines: list[str], drop: set[int], edits: dict[int, list[Cut]]
) -> None:
    """Cut every function's parameter and return annotation (``: "T"``, ``-> "T"``; a default
    keeps ``=``) into ``edits``. Annotations must be one-line strings (the sources' rule: they
    are never evaluated); definitions already dropped are left alone."""
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.lineno - 1 in drop:
            continue
        a = node.args
        for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
            if arg is not None and arg.annotation is not None:
                _cut_annotation(name, lines, edits, arg.annotation, arg.col_offset + len(arg.arg))
        if node.returns is not None:
            line = lines[node.returns.lineno - 1]
            arrow = line.rfind("->", 0, node.returns.col_offset)
            start = len(line[:arrow].rstrip()) if arrow >= 0 else -1
            _cut_annotation(name, lines, edits, node.returns, start, arrow=True)


def _cut_annotation(
    name: str,
    lines: list[str],
    edits: dict[int, list[Cut]],
    annotation: ast.expr,
    start: int,
    arrow: bool = False,
) -> None:
    index = annotation.lineno - 1
    line = lines[index]
    end = annotation.end_col_offset
    separator = line[start : annotation.col_offset].strip() if start >= 0 else ""
    if (
        not isinstance(annotation, ast.Constant)
        or not isinstance(annotation.value, str)
        or annotation.end_lineno != annotation.lineno
        or end is None
        or separator != ("->" if arrow else ":")
    ):
        raise ValueError(
            f"{name}.py line {annotation.lineno}: an annotation the assembler cannot cut "
            "(write it as one quoted string on the line of its parameter or of ->)"
        )
    replacement = ""
    if not arrow and line[end:].startswith(" = "):
        end, replacement = end + 3, "="
    edits.setdefault(index, []).append((start, end, replacement))


def _apply(line: str, cuts: list[Cut]) -> str:
    for start, end, replacement in sorted(cuts, reverse=True):
        line = line[:start] + replacement + line[end:]
    return line


def strip_module(name: str, source: str) -> str:
    """``source`` without its docstrings, function annotations, shared imports and dev-only
    block."""
    tree = ast.parse(source, f"{name}.py")
    lines = source.splitlines()
    drop: set[int] = set()
    replace: dict[int, str] = {}
    edits: dict[int, list[Cut]] = {}
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        end = body[0].end_lineno or body[0].lineno
        drop.update(range(body[0].lineno - 1, end))
    inside = False
    for index, line in enumerate(lines):
        if line == DEV_BEGIN:
            inside = True
        if inside or line in SHARED_IMPORTS:
            drop.add(index)
        if line == DEV_END:
            inside = False
    if inside:
        raise ValueError(f"{name}.py: {DEV_BEGIN!r} without {DEV_END!r}")
    _strip_docstrings(name, tree, lines, drop, replace)
    _strip_annotations(name, tree, lines, drop, edits)
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno - 1 not in drop:
            raise ValueError(
                f"{name}.py line {node.lineno}: module-level import outside the dev-only block"
            )
    kept = [
        replace.get(index, _apply(line, edits.get(index, [])))
        for index, line in enumerate(lines)
        if index not in drop or index in replace
    ]
    return "\n".join(kept).strip("\n")


SHIM = "shim"  # _certembed_bootstrap: what start-up imports (it loads the runtime when needed)


def assemble(header: str, target: str, shim: bool = False) -> str:
    """A shipped module: ``header`` (rendered baked data), then the target's runtime modules
    (``_certembed_runtime``), or with ``shim`` the small module an app imports at start-up
    (``_certembed_bootstrap``)."""
    sections = [header.rstrip("\n")]
    for name in [SHIM] if shim else parts(target):
        sections.append(
            f"# --- certembed/bootstrap/runtime/{name}.py ---\n\n"
            + strip_module(name, module_source(name))
        )
    return "\n\n\n".join(sections) + "\n"
