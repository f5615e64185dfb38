"""Starlark engines: wheels everywhere, one behaviour under every engine, no engine needed for TOML.

* Every platform x CPython that PyInstaller supports resolves certembed's full dependency set
  from wheels only (``uv pip compile --python-platform``: markers evaluated for the target), and
  gets the engine docs/install.md promises.
* Every example and every Starlark case of the bad-input corpus gives the same exit code, the
  same message at the same ``file:line:col`` and the same output bytes under each engine that
  installs here (each in its own process; starlark-pyo3 from its own ``--target`` directory,
  because it and the pure-Python ``starlark`` share an import name).
* The TOML path never imports an engine; a .star config without one is exit 7 naming packages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.bad_input import CASES, materialize
from tests.support.env import machine_env, scrubbed_env

REPO = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "certembed-test-fixtures" / "engines"
IN_CI = os.environ.get("CI") == "true"
PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"

# The engine each platform gets from `pip install certembed` (docs/install.md says the same).
PLATFORMS = {
    "x86_64-pc-windows-msvc": "win_amd64",
    "aarch64-pc-windows-msvc": "win_arm64",
    "x86_64-apple-darwin": "macosx_x86_64",
    "aarch64-apple-darwin": "macosx_arm64",
    "x86_64-manylinux_2_28": "manylinux_x86_64",
    "aarch64-manylinux_2_28": "manylinux_aarch64",
    "x86_64-unknown-linux-musl": "musllinux_x86_64",
    "aarch64-unknown-linux-musl": "musllinux_aarch64",
}
PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")


def expected_engine(platform: str, python: str) -> str | None:
    minor = int(python.split(".")[1])
    if "windows" in platform and platform.startswith("x86_64"):
        return "starlark-pyo3"
    if "apple" in platform and minor <= 13:
        return "starlark-go"
    return "starlark" if minor >= 11 else None


# python.org has no Windows arm64 CPython before 3.11, and cryptography no win_arm64 wheel for it.
UNSUPPORTED = {("aarch64-pc-windows-msvc", "3.9"), ("aarch64-pc-windows-msvc", "3.10")}
MATRIX = [(p, v) for p in PLATFORMS for v in PYTHONS if (p, v) not in UNSUPPORTED]


def _uv() -> str:
    found = Path(sys.executable).with_name("uv")
    return str(found) if found.exists() else shutil.which("uv") or "uv"


# The running interpreter only hosts uv's resolver; --python-version sets the target (without
# this uv would look for, or download, a CPython of the target version).
UV_PYTHON = ("--python", sys.executable, "--no-python-downloads")


def _compile(wheel: Path, platform: str, python: str, extra: str = "") -> tuple[str, str]:
    """(uv's exit code and stderr tail, the pinned requirements) for one target."""
    requirements = wheel.parent / f"in-{platform}-{python}{extra}.txt"
    requirements.write_text(f"certembed{extra} @ {wheel.as_uri()}\n")
    proc = subprocess.run(
        [_uv(), "pip", "compile", "--quiet", "--no-header", "--no-annotate", *UV_PYTHON,
         "--python-platform", platform, "--python-version", python,
         "--only-binary", ":all:", str(requirements)],
        capture_output=True, text=True, env=machine_env(), timeout=300,
    )  # fmt: skip
    return f"{proc.returncode} {proc.stderr[-3000:]}", proc.stdout


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        found = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if found:
            pins[found.group(1).lower().replace("_", "-")] = found.group(2)
    return pins


GLIBC_EXTRA = [("x86_64-manylinux_2_28", v, "[starlark-go]") for v in ("3.9", "3.10", "3.13")]


@pytest.fixture(scope="session")
def resolved(project_wheel) -> dict[tuple[str, str, str], tuple[str, str]]:
    """Every target resolved once, in parallel (each resolution waits on the network)."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(p, v, "") for p, v in MATRIX] + GLIBC_EXTRA
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda job: _compile(project_wheel, *job), jobs)
        return dict(zip(jobs, results))


@pytest.mark.parametrize(("platform", "python"), MATRIX, ids=[f"{p}-{v}" for p, v in MATRIX])
def test_dependency_set_resolves_from_wheels_only(resolved, platform, python):
    status, text = resolved[(platform, python, "")]
    assert status.startswith("0 "), f"{platform} CPython {python}: {status}"
    pins = _pins(text)
    engines = sorted({"starlark-go", "starlark-pyo3", "starlark"} & set(pins))
    wanted = expected_engine(platform, python)
    assert engines == ([wanted] if wanted else []), pins
    assert {"cryptography", "certifi", "jinja2"} <= set(pins)


@pytest.mark.parametrize("job", GLIBC_EXTRA, ids=[v for _, v, _ in GLIBC_EXTRA])
def test_glibc_linux_gets_starlark_go_with_the_extra(resolved, job):
    status, text = resolved[job]
    assert status.startswith("0 "), status
    pins = _pins(text)
    python = job[1]
    assert "starlark-go" in pins
    assert not {"starlark", "starlark-pyo3"} & set(pins) or python >= "3.11"


@pytest.mark.parametrize(
    ("platform", "python"), [("x86_64-manylinux_2_28", "3.11"), ("x86_64-pc-windows-msvc", "3.13")]
)
def test_cx_freeze_extra_resolves_from_wheels_only(project_wheel, platform, python):
    """`pip install "certembed[cx-freeze]"` needs no compiler where the tests freeze with it."""
    status, text = _compile(project_wheel, platform, python, "[cx-freeze]")
    assert status.startswith("0 "), f"{platform} CPython {python}: {status}"
    assert "cx-freeze" in _pins(text)


def test_unsupported_pairs_fail_for_a_reason_outside_certembed(project_wheel):
    """Windows arm64 with CPython 3.9/3.10 has no cryptography wheel: keep the exclusion honest."""
    requirements = project_wheel.parent / "in-arm64-3.10.txt"
    requirements.write_text(f"certembed @ {project_wheel.as_uri()}\n")
    proc = subprocess.run(
        [_uv(), "pip", "compile", "--quiet", *UV_PYTHON,
         "--python-platform", "aarch64-pc-windows-msvc", "--python-version", "3.10",
         "--only-binary", ":all:", str(requirements)],
        capture_output=True, text=True, env=machine_env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "cryptography" in proc.stderr
    assert "starlark" not in proc.stderr


# --- conformance -------------------------------------------------------------------------

# The newest release, and the newest with a Windows CPython 3.9 wheel (what win_amd64 cp39 gets).
PYO3_VERSIONS = ("2026.1.3", "2025.2.5")


def _pyo3_target(version: str) -> Path | None:
    """starlark-pyo3 in its own --target directory (it shares an import name with starlark)."""
    target = CACHE / f"starlark-pyo3-{version}-{PY}"
    if (target / "starlark").is_dir():
        return target
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--only-binary", ":all:",
         "--target", str(tmp), f"starlark-pyo3=={version}"],
        capture_output=True, text=True, env=machine_env(), timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        return None
    tmp.rename(target)
    return target


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def engine_runs() -> list[tuple[str, dict[str, str]]]:
    """(engine[@version], extra environment) for every engine that installs here."""
    from importlib.metadata import PackageNotFoundError, version

    runs = []
    if _importable("starlark_go"):
        runs.append(("starlark-go", {}))
    try:
        version("starlark")
        runs.append(("starlark", {}))
    except PackageNotFoundError:
        pass
    for pyo3 in PYO3_VERSIONS:
        target = _pyo3_target(pyo3)
        if target is not None:
            runs.append((f"starlark-pyo3@{pyo3}", {"PYTHONPATH": str(target)}))
    return runs


ENGINE_DETAIL = re.compile(r" \((?:starlark-go|starlark-pyo3|starlark): [^\n]*\)")

PORTABLE = """\
# Starlark that every engine accepts: def, comprehensions, formatting, dicts, conditionals.
def pems(names, trust):
    return [pem_file("certs/%s.pem" % n, trust = trust) for n in sorted(names)]

FALLBACK = {"mode": "merge", "days": 30}

def settings():
    return dict(mode = FALLBACK["mode"] if len(FALLBACK) == 2 else "fill-gaps")

certembed(
    bundle = ca_bundle(sources = [certifi()] + pems(["b", "a"], "always"),
                       min_days_valid = FALLBACK["days"]),
    targets = ["linux", "windows"],
    **settings()
)
"""


def drive_engine(spec: Path, name: str, extra: dict[str, str]) -> dict[str, Any]:
    """tests/support/engine_driver.py over the projects in ``spec`` under engine ``name``
    (``engine@version``), in a fresh Python; it must exit 0. Its JSON report."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "support" / "engine_driver.py"), str(spec), name],
        capture_output=True, text=True, timeout=600,
        env=scrubbed_env(CERTEMBED_STARLARK_ENGINE=name.split("@", maxsplit=1)[0], **extra),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def conformance(tmp_path_factory):
    from tests.support.certs import make_cert, pem

    root = tmp_path_factory.mktemp("conformance")
    projects = []
    for case in CASES:
        if not case.config.endswith(".star"):
            continue
        folder = root / case.name
        folder.mkdir()
        materialize(folder, case)
        projects.append({"name": case.name, "dir": str(folder), "config": case.config})
    example = root / "example-hello-https"
    shutil.copytree(REPO / "examples" / "hello-https", example)
    projects.append({"name": "example-hello-https", "dir": str(example), "config": "app.star"})
    portable = root / "portable"
    (portable / "certs").mkdir(parents=True)
    (portable / "certs" / "a.pem").write_bytes(pem(make_cert("Portable A")))
    (portable / "certs" / "b.pem").write_bytes(pem(make_cert("Portable B")))
    (portable / "app.star").write_text(PORTABLE)
    projects.append({"name": "portable", "dir": str(portable), "config": "app.star"})
    spec = root / "projects.json"
    spec.write_text(json.dumps(projects))
    runs = engine_runs()
    names = [name for name, _ in runs]
    if IN_CI:
        minor = sys.version_info[1]
        wanted = [*(["starlark-go"] if minor <= 13 else []), *(["starlark"] if minor >= 11 else [])]
        wanted += [f"starlark-pyo3@{v}" for v in PYO3_VERSIONS if minor <= 13 or v >= "2026"]
        assert names == wanted, f"engines installed in CI: {names}"
    results = {}
    for name, extra in runs:
        report = drive_engine(spec, name, extra)
        assert [report["engine"], report["version"]][: len(name.split("@"))] == name.split("@")
        results[name] = report["results"]
    return results


def test_at_least_two_engines_install_here(conformance):
    assert len(conformance) >= 2, f"only {list(conformance)} installs here"
    assert any(n.startswith("starlark-pyo3@") for n in conformance)  # own --target directory


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.config.endswith(".star")], ids=lambda c: c.name
)
def test_every_starlark_case_is_the_same_under_every_engine(conformance, case):
    seen = {}
    for engine, results in conformance.items():
        got = results[case.name]
        assert got["code"] == case.code, f"{engine}: {got['stderr']}"
        for needle in case.needles:
            assert needle in got["stderr"], f"{engine}: {needle!r} not in {got['stderr']}"
        assert "Traceback" not in got["stderr"]
        seen[engine] = (got["code"], ENGINE_DETAIL.sub("", got["stderr"]))
    assert len(set(seen.values())) == 1, json.dumps(seen, indent=1)


@pytest.mark.parametrize("name", ["example-hello-https", "portable"])
def test_examples_build_the_same_bytes_under_every_engine(conformance, name):
    outputs = {engine: results[name] for engine, results in conformance.items()}
    for engine, got in outputs.items():
        assert got["code"] == 0, f"{engine}: {got['stderr']}"
        assert any(f.endswith(".pem") for f in got["files"]), got["files"]
    assert len({json.dumps(got["files"], sort_keys=True) for got in outputs.values()}) == 1


def test_undefined_builtin_suggests_the_nearest_under_every_engine(conformance):
    for engine, results in conformance.items():
        assert "did you mean 'pem_file'?" in results["unknown-builtin"]["stderr"], engine


# --- no engine ---------------------------------------------------------------------------

CHECK_MODULES = """
import sys
from certembed.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("starlark", "starlark_go")
                or m.startswith("certembed.config.engines._"))
print("RESULT", code, loaded)
"""


def test_toml_path_never_imports_an_engine(tmp_path):
    (tmp_path / "certembed.toml").write_text('mode = "merge"\n[[source]]\nkind = "certifi"\n')
    proc = subprocess.run(
        [sys.executable, "-c", CHECK_MODULES, "build", "certembed.toml", "--no-freeze", "-q"],
        cwd=tmp_path, capture_output=True, text=True, env=scrubbed_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = proc.stdout.strip().splitlines()[-1]
    assert result == "RESULT 0 []", proc.stdout
    # the twin: a .star config does import one
    (tmp_path / "app.star").write_text("certembed()\n")
    proc = subprocess.run(
        [sys.executable, "-c", CHECK_MODULES, "build", "app.star", "--no-freeze", "-q"],
        cwd=tmp_path, capture_output=True, text=True, env=scrubbed_env(),
    )  # fmt: skip
    result = proc.stdout.strip().splitlines()[-1]
    assert result.startswith("RESULT 0 "), proc.stdout + proc.stderr
    assert "certembed.config.engines._go" in result or "starlark" in result


@pytest.mark.parametrize(("platform", "python"), MATRIX, ids=[f"{p}-{v}" for p, v in MATRIX])
def test_missing_engine_message_names_what_the_platform_gets(platform, python):
    """The package the error recommends is the one the markers give that platform (or the
    [starlark-go] extra on glibc Linux before 3.11, nothing on musl before 3.11)."""
    from certembed.config.engines import recommended

    system = "Windows" if "windows" in platform else "Darwin" if "apple" in platform else "Linux"
    machine = {"Windows": "AMD64", "Darwin": "x86_64", "Linux": "x86_64"}[system]
    if platform.startswith("aarch64"):
        machine = "ARM64" if system == "Windows" else "arm64" if system == "Darwin" else "aarch64"
    minor = int(python.split(".")[1])
    glibc = "manylinux" in platform
    got = recommended(system, machine, minor, glibc)
    wanted = expected_engine(platform, python)
    if wanted is None and glibc:
        wanted = "starlark-go"
    assert got == wanted


# --- differential: generated configs under every engine ------------------------------------


def _generated_configs(count: int) -> list[tuple[bool, bytes]]:
    """(well-formed, bytes) of ``count`` Starlark configs from tests/support/fuzz.py's
    strategies, drawn reproducibly (derandomized Hypothesis, no database)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.support.fuzz import config_tables, mangled, to_starlark

    drawn: list[tuple[bool, bytes]] = []

    @st.composite
    def star_config(draw: st.DrawFn) -> tuple[bool, bytes]:
        clean = draw(st.integers(0, 2)) > 0
        text = to_starlark(draw(config_tables(clean)))
        return (True, text.encode("utf-8", "surrogatepass")) if clean else (
            False, draw(mangled(text))
        )  # fmt: skip

    @settings(
        max_examples=count, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(star_config())
    def collect(item: tuple[bool, bytes]) -> None:
        drawn.append(item)

    collect()
    return drawn


PORTABLE_ONLY = re.compile(rb"\\[uUx]")
GENERATED = int(os.environ.get("CERTEMBED_ENGINE_EXAMPLES", "80"))


def test_generated_configs_behave_the_same_under_every_engine(tmp_path):
    from tests.support.fuzz import PEM_A, PEM_B

    projects = []
    kinds = {}
    for index, (clean, data) in enumerate(_generated_configs(GENERATED)):
        if PORTABLE_ONLY.search(data):
            continue  # \u / \x escapes: not in the pure-Python engine (docs/install.md)
        folder = tmp_path / f"g{index:03d}"
        (folder / "certs").mkdir(parents=True)
        (folder / "input.pem").write_bytes(PEM_A)
        (folder / "good.pem").write_bytes(PEM_B)
        (folder / "certs" / "a.pem").write_bytes(PEM_A)
        (folder / "app.star").write_bytes(data)
        projects.append({"name": folder.name, "dir": str(folder), "config": "app.star"})
        kinds[folder.name] = clean
    spec = tmp_path / "projects.json"
    spec.write_text(json.dumps(projects))
    runs = engine_runs()
    assert len(runs) >= 2
    results = {}
    for name, extra in runs:
        results[name] = drive_engine(spec, name, extra)["results"]
    outcomes = set()
    for project in projects:
        seen = {}
        for engine, by_project in results.items():
            got = by_project[project["name"]]
            assert "Traceback" not in got["stderr"] and got["code"] != 1, got["stderr"]
            text = ENGINE_DETAIL.sub("", got["stderr"])
            if "syntax error" in text and "unexpected end of file" not in text:
                # an engine's own syntax message and column: compare the exit code and the line
                text = re.sub(r"(\.star:\d+):\d+", r"\1", text)
            seen[engine] = (got["code"], text, json.dumps(got["files"], sort_keys=True))
        assert len(set(seen.values())) == 1, json.dumps(seen, indent=1)
        outcomes.add(next(iter(seen.values()))[:2])
    codes = {code for code, _ in outcomes}
    assert {0, 2} <= codes, outcomes  # the drawn configs reach success and config errors
    assert len(outcomes) >= 20  # and many different messages, not one error repeated


def test_doctor_names_the_engine_a_star_config_would_use(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "certembed", "doctor", "--json"],
        cwd=tmp_path, capture_output=True, text=True, env=scrubbed_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    engines = json.loads(proc.stdout)["starlark"]
    names = [e["name"] for e in engines["importable"]]
    assert engines["selected"] == names[0]  # the first that imports, in ENGINES order
    for name in names:
        proc = subprocess.run(
            [sys.executable, "-m", "certembed", "doctor"],
            cwd=tmp_path, capture_output=True, text=True,
            env=scrubbed_env(CERTEMBED_STARLARK_ENGINE=name),
        )  # fmt: skip
        assert f"Starlark engine for .star configs: {name} " in proc.stdout


def test_broken_engine_install_is_named_and_the_next_engine_serves(tmp_path):
    """A starlark_go whose native library is damaged (its ELF header overwritten: the loader
    refuses it): forced, exit 7 naming the engine and the loader's error; otherwise certembed
    uses the next engine that imports."""
    if not _importable("starlark_go") and not IN_CI:
        pytest.skip("starlark-go is not installed here (the test extra installs it on Linux)")
    import starlark_go

    broken = tmp_path / "broken"
    shutil.copytree(Path(starlark_go.__file__).parent, broken / "starlark_go")
    for lib in (broken / "starlark_go").glob("*.so"):
        data = lib.read_bytes()
        lib.write_bytes(b"\0" * 64 + data[64:])
    project = tmp_path / "p"
    project.mkdir()
    (project / "app.star").write_text("certembed(mode = 'merge')\n")
    argv = [sys.executable, "-m", "certembed", "build", "app.star", "--no-freeze", "-q"]
    env = {"PYTHONPATH": str(broken)}
    forced = subprocess.run(
        argv, cwd=project, capture_output=True, text=True,
        env=scrubbed_env(CERTEMBED_STARLARK_ENGINE="starlark-go", **env),
    )  # fmt: skip
    assert forced.returncode == 7, forced.stderr
    assert "Traceback" not in forced.stderr
    assert "the Starlark engine starlark-go cannot be imported here" in forced.stderr
    assert "Tried: starlark-go: cannot import starlark_go" in forced.stderr
    fallback = subprocess.run(
        argv, cwd=project, capture_output=True, text=True, env=scrubbed_env(**env)
    )  # fmt: skip
    assert fallback.returncode == 0, fallback.stderr
