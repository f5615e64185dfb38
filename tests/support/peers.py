"""Peer suites: test suites nobody here wrote, run with and without the bootstrap.

CPython's own ``test_ssl`` and ``test_httplib`` (regrtest, per interpreter) and the tests of the
requests sdist (pytest) run once plain and once per certembed mode, each in its own process
and temp dir, all at once (they mostly wait on sockets). The bootstrap is installed the way an
unfrozen app would do it: a ``sitecustomize`` module that imports ``_certembed_bootstrap`` from a
built payload; it records each process it installed itself into, so a run that silently went
without certembed cannot pass. Results come from JUnit XML, one outcome per test id.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import venv
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from tests.support.env import scrubbed_env
from tests.support.fixtures import pinned_download
from tests.support.pythons import pyenv_pythons

VARIANTS = ("plain", "fill-gaps", "embedded-only")
CPYTHON_SUITES = ("test_ssl", "test_httplib")
# requests' own tests: the sdist (pinned by SHA-256) and its test requirements (requirements-dev).
REQUESTS_SDIST = (
    "requests==2.34.2",
    "requests-2.34.2.tar.gz",
    "f288924cae4e29463698d6d60bc6a4da69c89185ad1e0bcc4104f584e960b9ed",
)
REQUESTS_TEST_DEPS = (
    "requests[socks]==2.34.2",
    "pytest>=8,<10",
    "pytest-httpbin==2.1.0",
    "httpbin~=0.10.0",
    "trustme",
)

_SITECUSTOMIZE = """\
import os
import sys

sys.path.insert(0, {payload!r})
import _certembed_bootstrap  # noqa: E402

_marker = os.environ.get("CERTEMBED_PEER_MARKER")
if _marker and _certembed_bootstrap.decision() is not None:
    with open(_marker, "a") as _f:
        _f.write("%d\\n" % os.getpid())
"""


def peer_pythons() -> tuple[list[tuple[str, str]], str]:
    """[(label, python)] whose standard library ships ``test.test_ssl``, and how they were found.

    pyenv's 3.9 and newest CPython when present; else this interpreter's base Python (Debian:
    ``apt-get install libpython3.X-testsuite``), which ``.ci/run`` provides on a fresh machine.
    """
    found = [(minor, exe) for minor, exe in pyenv_pythons(9) if _has_test_ssl(exe)]
    chosen = {m: e for m, e in found if m == 9 or m == max(x for x, _ in found)} if found else {}
    if chosen:
        return [(f"3.{m}", e) for m, e in sorted(chosen.items())], "pyenv"
    base = Path(sys.base_prefix) / "bin" / f"python3.{sys.version_info[1]}"
    exe = str(base) if base.exists() else sys.executable
    if _has_test_ssl(exe):
        return [(f"3.{sys.version_info[1]}", exe)], "base interpreter (no pyenv)"
    return [], "none: no pyenv CPython and no test.test_ssl in the base interpreter"


def _has_test_ssl(python: str) -> bool:
    probe = subprocess.run(
        [python, "-c", "import test.test_ssl, test.test_httplib"],
        capture_output=True,
        env=scrubbed_env(),
        timeout=120,
    )
    return probe.returncode == 0


def install_site(folder: Path, payload: Path | None) -> dict[str, str]:
    """Environment for one run: scrubbed, plus (with a payload) PYTHONPATH to a sitecustomize
    that installs the bootstrap and a marker file it writes to."""
    folder.mkdir(parents=True, exist_ok=True)
    env = scrubbed_env(PYTHONDONTWRITEBYTECODE="1")
    if payload is not None:
        site = folder / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(payload=str(payload)))
        env["PYTHONPATH"] = str(site)
        env["CERTEMBED_PEER_MARKER"] = str(folder / "installed.txt")
    return env


@dataclass
class Run:
    label: str  # e.g. "3.13 cpython fill-gaps"
    folder: Path
    junit: Path
    process: subprocess.Popen[bytes]
    with_bootstrap: bool

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def log_tail(self) -> str:
        return (self.folder / "log.txt").read_text(errors="replace")[-3000:]

    def installed_pids(self) -> int:
        marker = self.folder / "installed.txt"
        return len(marker.read_text().split()) if marker.exists() else 0


def _start(label: str, cmd: list[str], folder: Path, env: dict[str, str], cwd: Path) -> Run:
    log = open(folder / "log.txt", "wb")  # noqa: SIM115 - handed to the child, closed by it
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return Run(label, folder, folder / "junit.xml", process, "PYTHONPATH" in env)


def start_cpython(label: str, python: str, folder: Path, payload: Path | None) -> Run:
    """regrtest, in-process (no -j), no network resources, JUnit XML out."""
    env = install_site(folder, payload)
    junit = folder / "junit.xml"
    cmd = [python, "-m", "test", *CPYTHON_SUITES, "-u", "none", "--junit-xml", str(junit)]
    return _start(label, cmd, folder, env, folder)


def requests_tree(dest: Path) -> Path:
    """The requests sdist (cached, SHA-256 checked) unpacked under ``dest``."""
    requirement, filename, sha = REQUESTS_SDIST
    path = pinned_download(requirement, filename, sha, ["--no-binary", ":all:"])
    with tarfile.open(path) as archive:
        archive.extractall(dest, filter="data")
    return dest / filename[: -len(".tar.gz")]


def requests_venv(dest: Path) -> str:
    """A venv with requests' test requirements; returns its python."""
    venv.create(dest, with_pip=True)
    python = str(dest / "bin" / "python")
    proc = subprocess.run(
        [python, "-m", "pip", "install", "-q", *REQUESTS_TEST_DEPS],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return python


def start_requests(label: str, python: str, tree: Path, folder: Path, payload: Path | None) -> Run:
    env = install_site(folder, payload)
    junit = folder / "junit.xml"
    cmd = [python, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"]
    cmd += [f"--junitxml={junit}"]
    return _start(label, cmd, folder, env, tree)


def outcomes(junit: Path) -> dict[str, str]:
    """test id -> passed | failed | error | skipped, from JUnit XML (regrtest or pytest)."""
    out: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "failed"}.get(child.tag, child.tag)
                break
        # regrtest: name is the full id, no classname; pytest: classname + name
        name, classname = case.get("name", ""), case.get("classname")
        test_id = f"{classname}.{name}" if classname else name
        out[test_id] = status
    return out


@dataclass(frozen=True)
class Allowed:
    """One documented difference (a row of docs/peer-suites.md)."""

    test: str
    variants: tuple[str, ...]
    pythons: tuple[str, ...]
    plain: str
    certembed: str


OUTCOMES = ("passed", "failed", "error", "skipped", "missing")


def allowed_differences(doc: Path) -> list[Allowed]:
    """The documented differences in ``doc`` (docs/peer-suites.md)."""
    return parse_rows(doc.read_text())


def parse_rows(text: str) -> list[Allowed]:
    """Rows ``| `test id` | variants | pythons | plain → with certembed | why |``."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \| (\w+) → (\w+) \| .+\|$", line)
        if match:
            test, variants, pythons, plain, with_ = match.groups()
            rows.append(
                Allowed(
                    test,
                    tuple(v.strip() for v in variants.split(",")),
                    tuple(p.strip() for p in pythons.split(",")),
                    plain,
                    with_,
                )
            )
    return rows


def applies(row: Allowed, variant: str, python: str) -> bool:
    return ("all" in row.variants or variant in row.variants) and (
        "all" in row.pythons or python in row.pythons
    )


def compare(plain: dict[str, str], other: dict[str, str]) -> dict[str, tuple[str, str]]:
    """test id -> (plain outcome, with certembed) for every test whose outcome differs
    (a test that ran in only one of the two counts as ``missing`` in the other)."""
    ids = set(plain) | set(other)
    return {
        t: (plain.get(t, "missing"), other.get(t, "missing"))
        for t in sorted(ids)
        if plain.get(t, "missing") != other.get(t, "missing")
    }


_ONE_TEST = """\
import sys, unittest
suite = unittest.defaultTestLoader.loadTestsFromName(sys.argv[1])
result = unittest.TestResult()
suite.run(result)
print("error" if result.errors else "failed" if result.failures else
      "skipped" if result.skipped else "passed" if result.testsRun else "missing")
"""


def rerun_cpython(python: str, test_id: str, folder: Path, env: dict[str, str]) -> str:
    """One CPython test, alone, in a fresh process with ``env`` (see :func:`install_site`): its
    outcome, to tell flakes from real differences."""
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [python, "-c", _ONE_TEST, test_id],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if lines else "error"


def pytest_node(test_id: str) -> str:
    """``tests.test_requests.TestX.test_y[p]`` -> ``tests/test_requests.py::TestX::test_y[p]``."""
    head, _, name = test_id.partition("[")
    parts = head.split(".")
    split = next((i for i, p in enumerate(parts) if p[:1].isupper()), len(parts) - 1)
    module, rest = parts[:split], parts[split:]
    node = "/".join(module) + ".py::" + "::".join(rest)
    return node + ("[" + name if name else "")


def rerun_requests(
    python: str, test_id: str, tree: Path, folder: Path, payload: Path | None
) -> str:
    env = install_site(folder, payload)
    junit = folder / "junit.xml"
    cmd = [python, "-m", "pytest", pytest_node(test_id), "-q", "-p", "no:cacheprovider"]
    subprocess.run(
        [*cmd, f"--junitxml={junit}"],
        cwd=tree,
        env=env,
        capture_output=True,
        timeout=600,
    )
    if not junit.exists():
        return "error"
    return outcomes(junit).get(test_id, "missing")
