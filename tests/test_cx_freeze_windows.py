"""cx_Freeze under real Windows CPython 3.13 (Wine), certembed installed from a wheel of this
tree: plain ``python -m cx_Freeze`` finds certembed through its setuptools plugin and the
project's ``certembed.toml``; ``certembed build app.star`` freezes a ``cx_freeze_app``; the twin
is frozen with ``CERTEMBED_DISABLE=1``. The apps run on a thin ROOT store (Wine's few built-in
roots only). Paths hold spaces and non-ASCII characters. Each freeze is made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import freezer_project
from tests.support.tls import Server
from tests.support.wine import WineLane, WinePython
from tests.test_windows_freeze import APP, CERTEMBED, TOML, run_app, verdicts

pytestmark = [pytest.mark.wine, pytest.mark.freeze]

STAR = """certembed(
    bundle = ca_bundle(sources = [
        pem_file("certs/fallback.pem", trust = "fallback"),
        pem_file("certs/corp.pem", trust = "always"),
    ]),
    app = cx_freeze_app(name = "starapp", script = "app.py"),
)
"""


@pytest.fixture(scope="module")
def builder(wine: WineLane) -> WinePython:
    return wine.python(
        "3.13",
        packages=("cx_Freeze>=7,<9", "requests"),
        certembed=True,
        folder="cx Pythön",
        stdlib_dir=True,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, ca_dir: Path) -> Path:
    folder = freezer_project(tmp_path_factory.mktemp("wincx") / "my app ü", ca_dir, APP, TOML)
    (folder / "app.star").write_text(STAR)
    return folder


def _cx_freeze(builder: WinePython, project: Path, name: str, **env: str) -> Path:
    argv = ["-m", "cx_Freeze", "build_exe", "--script", "app.py", "--target-name", name]
    proc = builder.run([*argv, f"--build-exe=dist\\{name}"], cwd=project, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    exe = project / "dist" / name / f"{name}.exe"
    assert exe.is_file(), proc.stderr[-2000:]
    return exe


@pytest.fixture(scope="module")
def apps(builder: WinePython, project: Path) -> dict[str, Path]:
    built = builder.run(["-m", "certembed", "build", "app.star"], cwd=project, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    return {
        "plain": _cx_freeze(builder, project, "plainapp"),
        "built": project / "dist" / "starapp" / "starapp.exe",
        "twin": _cx_freeze(builder, project, "twinapp", CERTEMBED_DISABLE="1"),
    }


@pytest.mark.parametrize("how", ["plain", "built"])
def test_cx_freeze_app_verifies_on_a_thin_store(
    wine: WineLane, apps: dict[str, Path], servers: dict[str, Server], how: str
) -> None:
    report = run_app(wine, apps[how], servers)
    assert report["certembed"] is True
    assert verdicts(report, servers) == CERTEMBED
    assert (apps[how].parent / "lib" / "certembed" / "_certembed_bootstrap.py").is_file()


def test_twin_frozen_with_certembed_disabled_fails(
    wine: WineLane, apps: dict[str, Path], servers: dict[str, Server]
) -> None:
    report = run_app(wine, apps["twin"], servers)
    assert report["certembed"] is False
    assert set(verdicts(report, servers).values()) == {"verify-failed"}
