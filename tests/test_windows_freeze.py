"""PyInstaller under real Windows CPython 3.13 (Wine), with certembed installed from a wheel of
this tree: plain ``pyinstaller app.py`` with a ``certembed.toml``, onedir and onefile, and
``certembed build app.star``; the apps run on a thin ROOT store (the host's /etc/ssl hidden, so
Wine's ROOT holds only its few built-in roots). The twin, frozen with certembed disabled in its
.spec, fails where the certembed apps verify. Project and install paths hold spaces and
non-ASCII characters. Each freeze takes 30-60 s: they are made once for the module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.project import freezer_project
from tests.support.tls import Server
from tests.support.wine import BUILDER, WineLane, WinePython, freeze, windows_path

pytestmark = [pytest.mark.wine, pytest.mark.freeze]

APP = Path(__file__).resolve().parent / "apps" / "win_frozen_app.py"
TOML = """mode = "fill-gaps"

[[source]]
kind = "pem_file"
path = "certs/fallback.pem"
trust = "fallback"

[[source]]
kind = "pem_file"
path = "certs/corp.pem"
trust = "always"
"""
STAR = """certembed(
    bundle = ca_bundle(sources = [
        pem_file("certs/fallback.pem", trust = "fallback"),
        pem_file("certs/corp.pem", trust = "always"),
    ]),
    mode = "fill-gaps",
    app = pyinstaller_app(name = "starapp", script = "app.py", onefile = False),
)
"""


@pytest.fixture(scope="module")
def builder(wine: WineLane) -> WinePython:
    """Windows CPython 3.13 with PyInstaller, requests and certembed, installed under a path
    with a space and non-ASCII characters."""
    return wine.python("3.13", **BUILDER)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, ca_dir: Path) -> Path:
    return freezer_project(tmp_path_factory.mktemp("winfreeze") / "my app ü", ca_dir, APP, TOML)


@pytest.fixture(scope="module")
def apps(builder: WinePython, project: Path) -> dict[str, Path]:
    return {
        "onedir": freeze(builder, project, "app.py", "app_onedir"),
        "onefile": freeze(builder, project, "app.py", "app_onefile", onefile=True),
        "twin": freeze(
            builder, project, "app.py", "app_twin", hooksconfig='{"certembed": {"enabled": False}}'
        ),
    }


def run_app(wine: WineLane, exe: Path, servers: dict[str, Server]) -> dict[str, object]:
    urls = [servers[n].url for n in ("fallback", "corp", "rogue")]
    proc = wine.run([exe, *urls], thin_store=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def verdicts(report: dict[str, object], servers: dict[str, Server]) -> dict[str, object]:
    return {
        f"{client} {name}": report[f"{client} {servers[name].url}"]
        for client in ("urllib", "requests")
        for name in ("fallback", "corp", "rogue")
    }


CERTEMBED = {
    "urllib fallback": "ok",  # only the embedded fallback holds it: the thin store lacks it
    "urllib corp": "ok",  # always
    "urllib rogue": "verify-failed",
    "requests fallback": "ok",
    "requests corp": "ok",
    "requests rogue": "verify-failed",
}


@pytest.mark.parametrize("layout", ["onedir", "onefile"])
def test_plain_pyinstaller_app_verifies_on_a_thin_store(
    wine: WineLane, apps: dict[str, Path], servers: dict[str, Server], layout: str
) -> None:
    report = run_app(wine, apps[layout], servers)
    assert report["certembed"] is True
    assert verdicts(report, servers) == CERTEMBED
    meipass, temp = str(report["meipass"]), str(report["temp"])
    if layout == "onefile":
        assert meipass.lower().startswith(temp.lower() + "\\_mei"), (meipass, temp)
    else:
        assert meipass.lower().endswith("\\app_onedir\\_internal"), meipass


def test_twin_frozen_with_certembed_disabled_fails(
    wine: WineLane, apps: dict[str, Path], servers: dict[str, Server]
) -> None:
    report = run_app(wine, apps["twin"], servers)
    assert report["certembed"] is False
    assert set(verdicts(report, servers).values()) == {"verify-failed"}


def test_certembed_build_star_on_windows(
    wine: WineLane, builder: WinePython, project: Path, servers: dict[str, Server]
) -> None:
    """``certembed build app.star`` run by Windows CPython (Starlark through starlark-pyo3 and
    the ProcessPrng stand-in) freezes a working .exe."""
    folder = project.parent / "star prój"
    shutil.copytree(project / "certs", folder / "certs")
    shutil.copy(APP, folder / "app.py")
    (folder / "app.star").write_text(STAR)
    proc = builder.run(
        ["-m", "certembed", "build", "app.star", "--json", "--dist", "dist"],
        cwd=folder,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    exe = folder / "dist" / "starapp" / "starapp.exe"
    assert exe.is_file(), proc.stdout[-2000:]
    report = run_app(wine, exe, servers)
    assert report["certembed"] is True
    assert verdicts(report, servers) == CERTEMBED


def test_doctor_on_windows_shows_store_counts_and_decision(
    builder: WinePython, project: Path
) -> None:
    """``certembed doctor`` in Windows CPython on the thin store: the ROOT store's counts and
    the Windows decision per mode (fill-gaps = store + fallback + always)."""
    proc = builder.run(["-m", "certembed", "doctor", "--json"], cwd=project, thin_store=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["platform"] == "windows"
    counts = report["windows_store"]
    assert 0 < counts["ROOT"] < 20 and counts["loaded"] == counts["purpose"] - counts["distrusted"]
    assert counts["malformed"] == 0
    plans = report["decisions"]
    assert plans["fill-gaps"]["windows_store"] is True
    assert plans["fill-gaps"]["roles"] == ["fallback", "always"]
    assert plans["embedded-only"]["windows_store"] is False
    text = builder.run(["-m", "certembed", "doctor"], cwd=project, thin_store=True)
    assert text.returncode == 0, text.stderr[-3000:]
    assert f"Windows ROOT store: {counts['ROOT']} entries" in text.stdout
    assert "fill-gaps (configured): Windows ROOT store" in text.stdout
    assert text.stdout.splitlines()[0] == "config: certembed.toml"  # which config it used
    # SSL_CERT_FILE on Windows joins the ROOT store, which the plan keeps: the text says so
    corp = windows_path(project / "certs" / "corp.pem")
    env = builder.run(
        ["-m", "certembed", "doctor"], cwd=project, thin_store=True, env={"SSL_CERT_FILE": corp}
    )
    assert env.returncode == 0, env.stderr[-3000:]
    assert "SSL_CERT_FILE is loaded next to the Windows ROOT store, which the plan keeps" in (
        env.stdout
    )
    assert f"SSL_CERT_FILE={corp} adds to the app's trust" in env.stdout
    assert not [
        line for line in env.stdout.splitlines() if "SSL_CERT" in line and "replace" in line
    ]
    assert "fill-gaps (configured): environment" in env.stdout
    assert "+ Windows ROOT store" in env.stdout
