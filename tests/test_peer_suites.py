"""Peer suites: CPython's test_ssl + test_httplib and requests' own tests,
with the bootstrap installed in fill-gaps and embedded-only, compared test by test with the same
suite run plain. Any difference not listed in docs/peer-suites.md fails; so does a listed
difference that no longer happens (the page must say what is true).

All runs start at once, each in its own temp dir and process (tests/support/peers.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from certembed.cli import main
from tests.support.peers import (
    OUTCOMES,
    VARIANTS,
    Run,
    allowed_differences,
    applies,
    compare,
    install_site,
    outcomes,
    parse_rows,
    peer_pythons,
    pytest_node,
    requests_tree,
    requests_venv,
    rerun_cpython,
    rerun_requests,
    start_cpython,
    start_requests,
)

pytestmark = pytest.mark.peers
DOC = Path(__file__).resolve().parents[1] / "docs" / "peer-suites.md"
TIMEOUT = 900


def _payloads(folder: Path, ca_dir: Path) -> dict[str, Path]:
    """A linux payload per mode: certifi roots as fallback, a corporate root as always."""
    out = {}
    for mode in VARIANTS[1:]:
        config = folder / mode / "certembed.toml"
        config.parent.mkdir(parents=True)
        config.write_text(
            f'mode = "{mode}"\ntargets = ["linux"]\n\n[[source]]\nkind = "certifi"\n\n'
            f'[[source]]\nkind = "pem_file"\npath = "{(ca_dir / "corp.pem").as_posix()}"\n'
            'trust = "always"\n'
        )
        code = main(["build", str(config), "-o", str(folder / mode / "out"), "-q", "--no-freeze"])
        assert code == 0
        out[mode] = folder / mode / "out" / "linux"
    return out


class PeerContext:
    """What the runs were made from, to re-run one test alone."""

    def __init__(self, base: Path, pythons: dict[str, str], payloads: dict[str, Path]) -> None:
        self.base = base
        self.pythons = pythons
        self.payloads = payloads
        self.tree: Path | None = None
        self.req_python = ""
        self.count = 0

    def rerun(self, python: str, suite: str, variant: str, test: str) -> tuple[str, str]:
        """(plain, with certembed) outcomes of ``test`` run alone."""
        out = []
        for payload in (None, self.payloads[variant]):
            self.count += 1
            folder = self.base / f"rerun-{self.count}"
            if suite == "cpython":
                env = install_site(folder, payload)
                out.append(rerun_cpython(self.pythons[python], test, folder, env))
            else:
                assert self.tree is not None
                out.append(rerun_requests(self.req_python, test, self.tree, folder, payload))
        return out[0], out[1]


@pytest.fixture(scope="module")
def runs(peer_setup) -> dict[tuple[str, str, str], Run]:
    """(python, suite, variant) -> finished run."""
    return peer_setup[0]


@pytest.fixture(scope="module")
def peer_context(peer_setup) -> PeerContext:
    return peer_setup[1]


@pytest.fixture(scope="module")
def peer_setup(tmp_path_factory, ca_dir) -> tuple[dict[tuple[str, str, str], Run], PeerContext]:
    pythons, how = peer_pythons()
    if not pythons:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no interpreter can run the CPython peer suites: {how}")
        pytest.skip(how)
    print(f"peer suites: CPython {', '.join(p for p, _ in pythons)} ({how})", file=sys.stderr)
    base = tmp_path_factory.mktemp("peers")
    payloads = _payloads(base / "payloads", ca_dir)
    tree = requests_tree(base / "src")
    req_python = requests_venv(base / "requests-venv")
    context = PeerContext(base, dict(pythons), payloads)
    context.tree, context.req_python = tree, req_python
    started: dict[tuple[str, str, str], Run] = {}
    for variant in VARIANTS:
        payload = payloads.get(variant)
        for label, python in pythons:
            folder = base / f"cpython-{label}-{variant}"
            folder.mkdir()
            started[(label, "cpython", variant)] = start_cpython(
                f"{label} cpython {variant}", python, folder, payload
            )
        folder = base / f"requests-{variant}"
        folder.mkdir()
        started[("requests", "requests", variant)] = start_requests(
            f"requests {variant}", req_python, tree, folder, payload
        )
    try:
        for run in started.values():
            run.wait(TIMEOUT)
    finally:
        for run in started.values():
            if run.process.poll() is None:
                run.process.kill()
    return started, context


def _keys(runs) -> list[tuple[str, str, str]]:
    return [key for key in runs if key[2] != "plain"]


def test_every_run_produced_results_and_used_the_bootstrap(runs):
    for (_, _, variant), run in runs.items():
        assert run.junit.exists(), (run.label, run.log_tail())
        assert len(outcomes(run.junit)) > 50, (run.label, run.log_tail())
        if variant == "plain":
            assert run.installed_pids() == 0
        else:  # sitecustomize really installed certembed in the suite's process
            assert run.installed_pids() >= 1, (run.label, run.log_tail())


def test_differences_are_exactly_the_documented_ones(runs, peer_context):
    """Every difference is re-run alone, plain and with certembed, in fresh processes: one
    that does not repeat is a flake (reported, not failed); one that repeats must be
    documented."""
    rows = allowed_differences(DOC)
    unexplained: list[str] = []
    flaky: list[str] = []
    used: set[int] = set()
    for python, suite, variant in _keys(runs):
        plain = outcomes(runs[(python, suite, "plain")].junit)
        other = outcomes(runs[(python, suite, variant)].junit)
        for test, (was, now) in compare(plain, other).items():
            match = [
                i
                for i, row in enumerate(rows)
                if row.test == test
                and applies(row, variant, python)
                and (row.plain, row.certembed) == (was, now)
            ]
            used.update(match)
            if match:
                continue
            again = peer_context.rerun(python, suite, variant, test)
            if again[0] == again[1]:
                flaky.append(f"{python} {variant}: {test}: {was} -> {now}, alone: {again}")
            else:
                unexplained.append(f"{python} {variant}: {test}: {was} -> {now}, alone: {again}")
    if flaky:
        print("peer suites: differences that did not repeat (flakes):", *flaky, sep="\n  ")
    stale = [
        f"{row.test} ({', '.join(row.variants)}; {', '.join(row.pythons)})"
        for i, row in enumerate(rows)
        if i not in used and any(applies(row, v, p) for p, _, v in _keys(runs))
    ]
    assert not unexplained, "undocumented differences:\n" + "\n".join(unexplained)
    assert not stale, "documented differences that no longer happen:\n" + "\n".join(stale)


def test_a_test_rerun_alone_gives_the_suites_outcome(runs, peer_context):
    """The flake check's re-run addresses real tests of both kinds of suite."""
    for python, suite, _ in _keys(runs):
        plain = outcomes(runs[(python, suite, "plain")].junit)
        test = next(t for t, status in sorted(plain.items()) if status == "passed")
        assert peer_context.rerun(python, suite, "fill-gaps", test) == ("passed", "passed"), test
        if suite == "requests":
            break


def test_rerun_addresses():
    node = pytest_node("tests.test_requests.TestRequests.test_x[https://a.b/c]")
    assert node == "tests/test_requests.py::TestRequests::test_x[https://a.b/c]"
    assert pytest_node("tests.test_help.test_system_ssl") == "tests/test_help.py::test_system_ssl"


def test_documented_differences_table_parses():
    """The page has the table the parser reads, its rows use known outcomes, and a row in the
    documented format parses into what it says."""
    assert "| test | modes | Pythons | plain → with certembed | why |" in DOC.read_text()
    assert all(r.plain in OUTCOMES and r.certembed in OUTCOMES for r in allowed_differences(DOC))
    (row,) = parse_rows("| `test.test_ssl.A.test_b` | fill-gaps | 3.13 | passed → failed | x |")
    assert (row.test, row.variants, row.pythons) == (
        "test.test_ssl.A.test_b",
        ("fill-gaps",),
        ("3.13",),
    )
    assert applies(row, "fill-gaps", "3.13")
    assert not applies(row, "embedded-only", "3.13") and not applies(row, "fill-gaps", "3.9")


def test_the_harness_sees_a_difference(tmp_path):
    """Negative control, end to end: a sitecustomize that changes what test_httplib checks
    (HTTPS's default port) must come out of outcomes()/compare() as differences."""
    pythons, how = peer_pythons()
    if not pythons:
        pytest.skip(how)
    python = pythons[0][1]
    plain = _httplib(python, tmp_path / "plain", None)
    broken = _httplib(python, tmp_path / "broken", BROKEN)
    diff = compare(plain, broken)
    assert diff, "a broken sitecustomize went unnoticed"
    assert all(was == "passed" and now in ("failed", "error") for was, now in diff.values()), diff
    # the re-run of one test alone (what tells a flake from a real difference) sees it too
    test = sorted(diff)[0]
    alone_plain = rerun_cpython(
        python, test, tmp_path / "alone-plain", _site_env(tmp_path / "p", None)
    )
    alone_broken = rerun_cpython(
        python, test, tmp_path / "alone-broken", _site_env(tmp_path / "b", BROKEN)
    )
    assert (alone_plain, alone_broken) == diff[test], (test, alone_plain, alone_broken)


BROKEN = "http.client.HTTPSConnection.default_port = 444"


def _site_env(folder: Path, sitecode: str | None) -> dict[str, str]:
    env = install_site(folder, None)
    if sitecode is not None:
        (folder / "site").mkdir()
        (folder / "site" / "sitecustomize.py").write_text(f"import http.client\n{sitecode}\n")
        env["PYTHONPATH"] = str(folder / "site")
    return env


def _httplib(python: str, folder: Path, sitecode: str | None) -> dict[str, str]:
    env = _site_env(folder, sitecode)
    junit = folder / "junit.xml"
    subprocess.run(
        [python, "-m", "test", "test_httplib", "-u", "none", "--junit-xml", str(junit)],
        cwd=folder,
        env=env,
        capture_output=True,
        timeout=300,
    )
    return outcomes(junit)


def test_without_pyenv_the_base_interpreter_runs_the_suites(monkeypatch, tmp_path):
    """A machine without pyenv (a fresh CI box): the interpreter the venv was made from, whose
    test package .ci/run installs (libpython3.X-testsuite), and the run says so."""
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    pythons, how = peer_pythons()
    if not pythons:
        if os.environ.get("CI") == "true":  # .ci/run installs the test package
            pytest.fail(how)
        pytest.skip(how)  # this interpreter's stdlib has no test package here
    assert how == "base interpreter (no pyenv)"
    ((label, exe),) = pythons
    assert label == f"3.{sys.version_info[1]}" and Path(exe).exists()
