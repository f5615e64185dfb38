"""The package structure: packages depend one way, and no package reaches into another's private
names.

Every ``import`` in ``src/certembed`` is read with ``ast`` (module level and inside functions:
a deferred import is still a dependency, only a later one). A "package" is a subpackage of
``certembed`` (``audit``, ``openssl``, ``bundle``...) or a top-level module (``cli``,
``build``...); ``certembed/__init__.py`` itself (the version) is the root every package may use.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import certembed

SRC = Path(certembed.__file__).resolve().parent
ROOT = "certembed"

# (importing file, module, private name) allowed across packages, each with its reason. An entry
# that no longer matches an import fails the test, so the list only shrinks.
PRIVATE_ALLOWED: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class Import:
    source: Path  # the importing file
    line: int
    module: str  # the absolute module imported from (certembed.audit.collect)
    names: tuple[str, ...]  # the names taken from it (empty for ``import x.y``)


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports() -> list[Import]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = _absolute(path, node)
                names = tuple(alias.name for alias in node.names)
                out.append(Import(path, node.lineno, module, names))
            elif isinstance(node, ast.Import):
                out += [Import(path, node.lineno, alias.name, ()) for alias in node.names]
    return [i for i in out if i.module == ROOT or i.module.startswith(ROOT + ".")]


def package_of(module: str) -> str:
    """``certembed.audit.collect`` -> ``audit``; ``certembed.cli`` -> ``cli``; ``certembed``
    -> ``certembed``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _is_module(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (SRC / relative).is_dir() or (SRC / relative).with_suffix(".py").is_file()


def graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> where (``file:line``), for imports between packages.
    ``from certembed import audit`` names the package ``audit`` itself."""
    edges: dict[str, dict[str, list[str]]] = {}
    for imp in imports():
        source = package_of(_module_of(imp.source))
        targets = {package_of(imp.module)}
        if imp.module == ROOT:  # from certembed import __version__ / from certembed import cli
            targets = {n for n in imp.names if _is_module(f"{ROOT}.{n}")} or {ROOT}
        where = f"{imp.source.relative_to(SRC.parent)}:{imp.line}"
        for target in targets - {source}:
            edges.setdefault(source, {}).setdefault(target, []).append(where)
    return edges


def cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges.get(node, {})):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    nodes = set(edges) | {t for targets in edges.values() for t in targets}
    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return out


def test_no_cycle_between_packages() -> None:
    edges = graph()
    found = cycles(edges)
    report = []
    for component in found:
        report.append(" <-> ".join(component))
        for source in component:
            for target in component:
                for where in edges.get(source, {}).get(target, []):
                    report.append(f"    {source} -> {target}  ({where})")
    assert not found, "import cycles between packages:\n" + "\n".join(report)


def test_no_private_name_imported_across_packages() -> None:
    found = []
    allowed_seen = set()
    for imp in imports():
        if package_of(_module_of(imp.source)) == package_of(imp.module):
            continue
        where = imp.source.relative_to(SRC.parent).as_posix()
        private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        private += [p for p in imp.module.split(".") if p.startswith("_") and p != "__init__"]
        for name in private:
            key = (where, imp.module, name)
            if key in PRIVATE_ALLOWED:
                allowed_seen.add(key)
            else:
                found.append(f"{where}:{imp.line}: {imp.module} {name}")
    assert not found, "private names imported from another package:\n" + "\n".join(found)
    stale = PRIVATE_ALLOWED - allowed_seen
    assert not stale, f"allowed crossings that no longer happen (remove them): {sorted(stale)}"


def test_the_checks_see_what_they_check() -> None:
    """The walk finds the imports it is meant to judge: a known one-way edge, a function-level
    import, and a private name inside one package (allowed)."""
    edges = graph()
    assert "bundle" in edges["build"]  # build.py: from certembed.bundle.assemble import assemble
    deferred = [
        i
        for i in imports()
        if i.source == SRC / "commands" / "doctor.py" and i.module == "certembed.doctor"
    ]
    assert deferred, "function-level imports are not seen"
    assert cycles({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}) == [
        ["a", "b", "c"]
    ]
    assert cycles({"a": {"b": []}, "b": {}}) == []


def test_the_installation_model_is_below_its_readers() -> None:
    """audit, openssl and inject read installations through certembed.installation, which
    depends on none of them (nor on anything above the leaf errors module)."""
    edges = graph()
    assert set(edges.get("installation", {})) <= {"errors"}
    for reader in ("audit", "openssl", "inject"):
        assert "installation" in edges[reader], reader
    assert "openssl" not in edges["audit"] and "audit" not in edges["inject"]
