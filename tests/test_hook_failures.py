"""certembed's PyInstaller hook never breaks a freeze with a traceback (real freezes).

A build that did not ask for certembed freezes even where no Starlark engine is installed; a
build that asked and cannot get it stops with one message (what failed, which config, how to
fix it, how to freeze without certembed), and that way out works.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.support.env import machine_env, scrubbed_env
from tests.support.pythons import require_module

pytestmark = pytest.mark.freeze
REPO = Path(__file__).resolve().parents[1]
APP = "import ssl\nimport sys\nprint('hello from', sys.platform, ssl.OPENSSL_VERSION)\n"
ENGINES = ("starlark", "starlark-go", "starlark-pyo3")


def _run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env=scrubbed_env(**env), timeout=900
    )


@pytest.fixture(scope="module")
def no_engine(tmp_path_factory) -> Path:
    """A venv with certembed and PyInstaller and no Starlark engine (what Linux CPython 3.9/3.10
    gets from `pip install certembed`; here the engine the markers pull in is uninstalled)."""
    home = tmp_path_factory.mktemp("no-engine")
    venv.create(home / "venv", with_pip=True)
    python = str(home / "venv" / "bin" / "python")
    for cmd in (
        [python, "-m", "pip", "install", "-q", "pyinstaller>=6,<7", str(REPO)],
        [python, "-m", "pip", "uninstall", "-q", "-y", *ENGINES],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=machine_env())
        assert proc.returncode == 0, proc.stderr[-3000:]
    probe = _run([python, "-c", "import starlark"], home)
    assert probe.returncode != 0  # really no engine
    probe = _run([python, "-c", "import starlark_go"], home)
    assert probe.returncode != 0
    return home / "venv" / "bin"


def _project(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "app.py").write_text(APP)
    for name, text in files.items():  # certembed_star -> certembed.star
        (folder / ".".join(name.rsplit("_", 1))).write_text(text)
    return folder


def _freeze(bin_dir: Path, folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return _run(
        [str(bin_dir / "pyinstaller"), "--noconfirm", "--log-level", "WARN", "app.py"],
        folder,
        **env,
    )


def test_unconfigured_app_freezes_without_an_engine(no_engine, tmp_path):
    folder = _project(tmp_path / "plain")
    proc = _freeze(no_engine, folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    dist = folder / "dist" / "app"
    run = _run([str(dist / "app")], folder)
    assert run.returncode == 0 and "hello from" in run.stdout, run.stderr
    # nothing configured: the embedded default still ships (it needs no engine)
    assert list(dist.rglob("certembed/*")), "the default payload is missing"


def test_star_config_without_engine_is_one_clear_error_and_can_be_turned_off(no_engine, tmp_path):
    folder = _project(tmp_path / "star", certembed_star="certembed()\n")
    proc = _freeze(no_engine, folder)
    assert proc.returncode != 0
    err = proc.stderr
    assert "Traceback" not in err, err[-3000:]
    assert "certembed cannot prepare this app's trust anchors" in err, err[-3000:]
    assert "certembed.star" in err  # which config
    assert "pip install starlark" in err  # how to fix
    assert "CERTEMBED_DISABLE=1" in err  # how to freeze without certembed
    assert err.count("certembed cannot prepare") == 1
    assert not (folder / "dist" / "app").exists()
    # the way out the message gives works, and the app then has no certembed payload
    proc = _freeze(no_engine, folder, CERTEMBED_DISABLE="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    dist = folder / "dist" / "app"
    assert not list(dist.rglob("certembed/*"))
    run = _run([str(dist / "app")], folder)
    assert run.returncode == 0 and "hello from" in run.stdout, run.stderr


def test_cli_without_engine_exit_7_and_toml_still_builds(no_engine, tmp_path):
    folder = _project(tmp_path / "cli", certembed_star="certembed()\n")
    proc = _run([str(no_engine / "certembed"), "build", "certembed.star", "--no-freeze"], folder)
    assert proc.returncode == 7, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "no Starlark engine can be imported here" in proc.stderr
    assert "pip install starlark" in proc.stderr and "certembed.toml" in proc.stderr
    (folder / "certembed.toml").write_text('mode = "merge"\n')
    proc = _run([str(no_engine / "certembed"), "build", "certembed.toml", "--no-freeze"], folder)
    assert proc.returncode == 0, proc.stderr
    # doctor says so too, with what to install (Linux CPython 3.11+: the pure-Python engine)
    proc = _run([str(no_engine / "certembed"), "doctor", "certembed.toml", "--json"], folder)
    assert proc.returncode == 0, proc.stderr
    engines = json.loads(proc.stdout)["starlark"]
    assert engines["importable"] == [] and engines["selected"] is None
    assert engines["recommended"] == ("starlark" if sys.version_info >= (3, 11) else "starlark-go")
    proc = _run([str(no_engine / "certembed"), "doctor", "certembed.toml"], folder)
    assert "Starlark engine for .star configs: none (pip install" in proc.stdout


def test_broken_config_stops_the_freeze_with_one_message(tmp_path):
    """In the test venv (engines installed): a config error is one message, not a traceback."""
    folder = _project(tmp_path / "toml", certembed_toml='mdoe = "merge"\n')
    require_module("PyInstaller", "pip install -e '.[test]'")
    pyinstaller = Path(sys.executable).with_name("pyinstaller")
    proc = _freeze(pyinstaller.parent, folder)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "certembed.toml:1: mdoe" in proc.stderr and "did you mean 'mode'" in proc.stderr
    assert "fix: correct the config" in proc.stderr
    assert "CERTEMBED_DISABLE=1" in proc.stderr
