"""Peer suites (issue 12 item 15): CPython's test_ssl + test_httplib and requests' own tests,
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
    outcomes,
    parse_rows,
    peer_pythons,
    requests_tree,
    requests_venv,
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


@pytest.fixture(scope="module")
def runs(tmp_path_factory, ca_dir) -> dict[tuple[str, str, str], Run]:
    """(python, suite, variant) -> finished run."""
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
    return started


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


def test_differences_are_exactly_the_documented_ones(runs):
    rows = allowed_differences(DOC)
    unexplained: list[str] = []
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
            if not match:
                unexplained.append(f"{python} {variant}: {test}: {was} -> {now}")
    stale = [
        f"{row.test} ({', '.join(row.variants)}; {', '.join(row.pythons)})"
        for i, row in enumerate(rows)
        if i not in used
        and row.pythons != ("none",)
        and any(applies(row, v, p) for p, _, v in _keys(runs))
    ]
    assert not unexplained, "undocumented differences:\n" + "\n".join(unexplained)
    assert not stale, "documented differences that no longer happen:\n" + "\n".join(stale)


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
    broken = _httplib(python, tmp_path / "broken", "http.client.HTTPSConnection.default_port = 444")
    diff = compare(plain, broken)
    assert diff, "a broken sitecustomize went unnoticed"
    assert all(was == "passed" and now in ("failed", "error") for was, now in diff.values()), diff


def _httplib(python: str, folder: Path, sitecode: str | None) -> dict[str, str]:
    from tests.support.peers import install_site

    env = install_site(folder, None)
    if sitecode is not None:
        (folder / "site").mkdir()
        (folder / "site" / "sitecustomize.py").write_text(f"import http.client\n{sitecode}\n")
        env["PYTHONPATH"] = str(folder / "site")
    junit = folder / "junit.xml"
    subprocess.run(
        [python, "-m", "test", "test_httplib", "-u", "none", "--junit-xml", str(junit)],
        cwd=folder,
        env=env,
        capture_output=True,
        timeout=300,
    )
    return outcomes(junit)
