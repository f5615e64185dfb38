"""The runtime bootstrap's source as real modules: their shape, the assembly into the shipped
``_certembed_bootstrap.py``, and the modules' logic imported directly (no build)."""

from __future__ import annotations

import ast
import inspect
import ssl
import subprocess
import sys

import pytest

from certembed.bootstrap import assemble
from certembed.bootstrap.runtime import policy, state, stores
from certembed.bootstrap.runtime.shape import OS_MODULES, OSModule
from tests.support.env import scrubbed_env
from tests.support.project import build
from tests.support.pythons import pyenv_pythons

RUNTIME = (
    "stores",
    "fpcache",
    "fastpath",
    "posix",
    "macos",
    "windows",
    *assemble.CORE_PARTS,
    "shim",
)


def _bare(sig: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def _contract() -> dict[str, inspect.Signature | None]:
    names: dict[str, inspect.Signature | None] = {}
    for name, member in vars(OSModule).items():
        if name.startswith("_"):
            continue
        if callable(member):
            sig = inspect.signature(member)
            names[name] = sig.replace(parameters=list(sig.parameters.values())[1:])
    for name in OSModule.__annotations__:
        names[name] = None
    return names


@pytest.mark.parametrize("target", ["linux", "macos", "windows"])
def test_every_os_module_has_exactly_the_shape(target):
    module = OS_MODULES[target]
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not inspect.ismodule(v)
        and getattr(v, "__module__", module.__name__) == module.__name__
    }
    contract = _contract()
    assert public == set(contract)
    for name, sig in contract.items():
        if sig is not None:
            # names, kinds and defaults here; the types are mypy's job (shape.OS_MODULES)
            assert _bare(inspect.signature(getattr(module, name))) == _bare(sig), name


def _top_level_names(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


@pytest.mark.parametrize("target", ["linux", "macos", "windows"])
def test_assembled_parts_never_shadow_each_other(target):
    seen: dict[str, str] = {}
    for part in assemble.parts(target):
        for name in _top_level_names(assemble.strip_module(part, assemble.module_source(part))):
            assert name not in seen, f"{name} defined in {seen.get(name)} and {part}"
            seen[name] = part


@pytest.mark.parametrize("name", RUNTIME)
def test_runtime_sources_follow_the_rules(name):
    source = assemble.module_source(name)
    # printable ASCII only: the PyOxidizer rule inlines the bootstrap as Starlark text
    assert source.isascii(), [line for line in source.splitlines() if not line.isascii()]
    tree = ast.parse(source, feature_version=(3, 8))
    for node in tree.body:
        assert not (isinstance(node, ast.ImportFrom) and node.module == "__future__"), name
    stripped = assemble.strip_module(name, source)
    assert "dev-only" not in stripped and "certembed.bootstrap" not in stripped
    # the sources' annotations are strings (strip_module refuses any other); shipped, none is
    # left to be unmarshalled and built into each function at start-up
    assert _annotated(stripped) == [], name
    assert _docstrings_left(stripped) == [], name


def test_strip_module_rejects_stray_imports_and_open_blocks():
    with pytest.raises(ValueError, match=r"x\.py line 2: module-level import"):
        assemble.strip_module("x", '"""doc"""\nimport json\n')
    with pytest.raises(ValueError, match="without"):
        assemble.strip_module("x", f"{assemble.DEV_BEGIN}\nfrom typing import Any\n")
    text = assemble.strip_module(
        "x", f'"""doc"""\nimport os\n{assemble.DEV_BEGIN}\nimport json\n{assemble.DEV_END}\nA = 1\n'
    )
    assert text == "A = 1"


def _annotated(source: str) -> list[str]:
    """The functions of ``source`` with a parameter or return annotation."""
    found = []
    for node in ast.walk(ast.parse(source, feature_version=(3, 8))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            args = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
            if node.returns is not None or any(x is not None and x.annotation for x in args):
                found.append(node.name)
    return found


def test_strip_module_cuts_annotations_keeping_signatures():
    source = (
        'def f(a: "int", b: "int" = 2, *args: "Any", c: "str" = "x", **kw: "Any") -> "int":\n'
        "    return a + b + len(args) + len(c) + len(kw)\n"
        "\n"
        "async def g(\n"
        '    first: "bytes",\n'
        '    second: "Optional[bytes]" = None,\n'
        ') -> "Dict[str, int]":  # a comment stays\n'
        '    local: "int" = 1\n'
        "    return {}\n"
        "\n"
        "def h(x, /, y=3):\n"
        "    return x + y\n"
    )
    stripped = assemble.strip_module("x", source)
    assert _annotated(stripped) == []
    assert 'def f(a, b=2, *args, c="x", **kw):' in stripped
    assert "    second=None,\n):  # a comment stays" in stripped
    assert 'local: "int" = 1' in stripped  # a local's annotation is never evaluated
    namespace: dict[str, object] = {}
    exec(compile(stripped, "x.py", "exec"), namespace)
    f = namespace["f"]
    assert callable(f) and f(1, 2, 3, c="ab", k=0) == 7
    assert inspect.signature(f) == inspect.signature(lambda a, b=2, *args, c="x", **kw: None)


@pytest.mark.parametrize(
    "source,line",
    [
        ("def f(a: int):\n    pass\n", 1),
        ('def f(a) -> (\n    "int"\n):\n    pass\n', 2),
        ('def f(a: "Dict["\n       "str]"):\n    pass\n', 1),
    ],
)
def test_strip_module_rejects_annotations_it_cannot_cut(source, line):
    with pytest.raises(ValueError, match=rf"x\.py line {line}: an annotation the assembler cannot"):
        assemble.strip_module("x", source)


def _docstrings_left(source: str) -> list[str]:
    """The functions and classes of ``source`` that still carry a docstring."""
    return [
        node.name
        for node in ast.walk(ast.parse(source, feature_version=(3, 8)))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and ast.get_docstring(node, clean=False) is not None
    ]


DOCUMENTED = f'''"""module"""
class Empty(Exception):
    """only a docstring: the body becomes pass"""

class Kept:
    r"""a docstring
    over lines"""  # a comment after it
    # a comment that stays
    value = 1

    def method(self):
        """method"""
        def inner():
            """nested, only a docstring"""
        return inner()

async def run():
    """async"""
    return 2

def first_statement_is_code():
    x = "a string later is code"
    return x
{assemble.DEV_BEGIN}
class DevOnly:
    """dropped with its block: no stray pass"""
{assemble.DEV_END}
'''


def test_strip_module_drops_function_and_class_docstrings_keeping_bodies():
    stripped = assemble.strip_module("x", DOCUMENTED)
    assert _docstrings_left(stripped) == []
    assert "docstring" not in stripped and "DevOnly" not in stripped
    assert "# a comment that stays" in stripped and "a string later is code" in stripped
    assert stripped.count("pass") == 2
    namespace: dict[str, object] = {}
    exec(compile(stripped, "x.py", "exec"), namespace)
    empty = namespace["Empty"]
    assert isinstance(empty, type) and issubclass(empty, Exception)
    with pytest.raises(empty):
        raise empty("still an exception")
    kept: type = namespace["Kept"]  # type: ignore[assignment]
    assert kept.__doc__ is None and kept.value == 1  # type: ignore[attr-defined]
    assert kept().method() is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "source", ['def f(): """doc on the def line"""\n', 'class C:\n    """doc"""; x = 1\n']
)
def test_strip_module_rejects_a_docstring_sharing_a_line(source):
    with pytest.raises(ValueError, match=r"x\.py line \d+: the docstring of '(f|C)' shares a line"):
        assemble.strip_module("x", source)


@pytest.fixture(scope="module")
def result(tmp_path_factory, ca_dir):
    return build(tmp_path_factory.mktemp("mods"), ca_dir, targets=("linux", "macos", "windows"))


@pytest.mark.parametrize(
    "target,family", [("linux", "posix"), ("macos", "macos"), ("windows", "windows")]
)
def test_payload_is_core_plus_its_own_os_module(result, target, family):
    source = (result.out_dir / target / "_certembed_runtime.py").read_text()
    assert f'OS_FAMILY = "{family}"' in source
    assert source.count("OS_FAMILY = ") == 1
    assert source.count("def install(") == 1
    assert "# certembed: dev-only" not in source
    for part in assemble.parts(target):
        assert f"# --- certembed/bootstrap/runtime/{part}.py ---" in source
    # docstrings and annotations are for the sources' readers: none is shipped to be
    # unmarshalled at start-up
    assert _docstrings_left(source) == [] and _annotated(source) == [], target
    compile(source, "_certembed_runtime.py", "exec")
    # the start-up module: the same baked data, the shim, nothing of the engine
    shim = (result.out_dir / target / "_certembed_bootstrap.py").read_text()

    def baked(text: str) -> str:  # VERSION = ... through the ENV_VARS line
        start = text.index("\nVERSION = ")
        return text[start : text.index("\n", text.index("\nENV_VARS = ") + 1)]

    assert baked(shim) == baked(source) and "MODE = " in baked(shim)
    assert "def install(" in shim and "OS_FAMILY" not in shim and "def fp_capath" not in shim
    assert _docstrings_left(shim) == [] and _annotated(shim) == [], target
    compile(shim, "_certembed_bootstrap.py", "exec")


def test_shipped_bodies_that_were_only_a_docstring_still_work(result):
    """The Linux bootstrap loaded under another name (no side effects): the exception class
    and the functions whose whole body was a docstring behave as in the sources."""
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('shipped', sys.argv[1])\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(m)\n"
        "assert issubclass(m._FpUnusable, Exception) and m._FpUnusable.__doc__ is None\n"
        "try:\n"
        "    m.fp_pem_certificates(b'-----BEGIN X509 CRL-----\\n')\n"
        "except m._FpUnusable as exc:\n"
        "    print(exc)\n"
        "assert m.refine_plan({}, 'fill-gaps', {}) is None\n"
        "assert m.load_os_store(None, None) is None\n"
    )
    shipped = result.out_dir / "linux" / "_certembed_runtime.py"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(shipped)],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "a PEM block other than CERTIFICATE"


def test_payload_installs_on_the_oldest_and_newest_python(result, servers):
    pythons = [exe for _, exe in pyenv_pythons()]
    if not pythons:
        pytest.skip("no pyenv CPython on this machine")
    code = (
        "import ssl, urllib.request, sys, _certembed_bootstrap as b\n"
        "assert b.decision()['mode'] == 'fill-gaps'\n"
        "urllib.request.urlopen(sys.argv[1], timeout=20).read()\n"
        "b.uninstall()\n"
        "C = ssl.SSLContext\n"
        "assert C.set_default_verify_paths is ssl._SSLContext.set_default_verify_paths\n"
        "print('ok')\n"
    )
    env = scrubbed_env(PYTHONPATH=str(result.out_dir / "linux"))
    for exe in {pythons[0], pythons[-1]}:
        proc = subprocess.run(
            [exe, "-c", code, servers["corp"].url], capture_output=True, text=True, env=env
        )
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", (exe, proc.stderr)
        # negative twin: the always root is trusted only through the bootstrap
        twin = subprocess.run(
            [
                exe,
                "-c",
                "import urllib.request, sys; urllib.request.urlopen(sys.argv[1])",
                servers["corp"].url,
            ],
            capture_output=True,
            text=True,
            env=scrubbed_env(),
        )
        assert twin.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in twin.stderr


def test_policy_decides_as_a_plain_module():
    roles = {"fallback": 2, "always": 1}
    plan = policy.decide("fill-gaps", None, ("/etc/ssl/cert.pem", None), False, roles)
    assert plan["store"] == "system" and plan["roles"] == ["always"]
    plan = policy.decide("merge", ("/env.pem", None), None, False, roles)
    assert plan["store"] == "env" and plan["roles"] == ["fallback", "always"]
    assert (
        policy.platform_key("win32") == "windows" and policy.platform_key("freebsd14") == "freebsd"
    )


def test_stores_probe_and_hashed_files_as_a_plain_module(tmp_path):
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "0a1b2c3d.0").write_text("x")
    (folder / "README").write_text("x")
    (tmp_path / "ca.pem").write_text("pem")
    table = {
        "files": [str(tmp_path / "missing.pem"), str(tmp_path / "ca.pem")],
        "dirs": [str(folder)],
        "use_compiled_default": False,
        "system_store": "openssl",
    }
    probed: list[list[object]] = []
    assert stores.probe(table, None, probed) == (str(tmp_path / "ca.pem"), str(folder))
    assert probed[0] == ["file", str(tmp_path / "missing.pem"), False]
    assert stores._hashed_files(f"{folder}:/nonexistent") == [str(folder / "0a1b2c3d.0")]
    # the C method, not a Python override: what subclasses or truststore do cannot change it
    assert stores._load_verify_locations is ssl._SSLContext.load_verify_locations


def test_policy_partial_environment_keeps_the_other_slot():
    roles = {"fallback": 2, "always": 1}
    machine = ("/machine.pem", "/machine/certs")
    plan = policy.decide("fill-gaps", (None, "/env/dir"), machine, False, roles)
    assert (plan["cafile"], plan["capath"], plan["env"]) == (
        "/machine.pem",
        "/env/dir",
        [None, "/env/dir"],
    )
    assert plan["store"] == "env" and plan["roles"] == ["always"]
    # no machine store: the slot left unset keeps the embedded fallback
    plan = policy.decide("fill-gaps", ("/env.pem", None), None, False, roles)
    assert plan["roles"] == ["fallback", "always"] and plan["capath"] is None
    # both set: they replace the machine store; fallback only in merge
    plan = policy.decide("fill-gaps", ("/env.pem", "/env/dir"), None, False, roles)
    assert plan["roles"] == ["always"]
    assert policy.decide("merge", ("/e", "/d"), None, False, roles)["roles"] == [
        "fallback",
        "always",
    ]
    # the Windows store is not an OpenSSL slot: the environment keeps it
    assert (
        policy.decide("fill-gaps", ("/env.pem", None), None, True, roles)["windows_store"] is True
    )


def test_state_unique_pem_drops_repeats_and_keeps_order(ca_dir):
    one, two = (ca_dir / "corp.pem").read_bytes(), (ca_dir / "distro.pem").read_bytes()
    joined = state._unique_pem(one + two + one.replace(b"\n", b"\r\n") + b"junk")
    assert joined == one.strip() + b"\n" + two.strip() + b"\n"
    assert state._unique_pem(b"no certificates here") == b""


def test_policy_recognises_only_its_own_export_files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(policy, "EXPORT_ENV", True)
    ours = str(tmp_path / "certembed" / ("ab" * 16 + "-cacert.pem"))
    assert policy._our_export(ours)
    assert not policy._our_export(str(tmp_path / "elsewhere" / ("ab" * 16 + "-cacert.pem")))
    assert not policy._our_export(str(tmp_path / "certembed" / ("zz" * 16 + "-cacert.pem")))
    monkeypatch.setattr(policy, "EXPORT_ENV", False)
    assert not policy._our_export(ours)
