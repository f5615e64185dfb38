"""The probe app (tests/apps/openssl_probe.py) frozen by PyInstaller on this Linux host, once
per test session and shared by every module (and xdist worker) that upgrades it: one analysis,
two apps, ``dist/probe`` (onedir; its _ssl loads the libssl.so.3/libcrypto.so.3 copied into
``_internal``) and ``dist/probe-onefile``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env
from tests.support.fixtures import file_lock
from tests.support.pythons import require_module

PROBE = Path(__file__).resolve().parents[1] / "apps" / "openssl_probe.py"
SPEC = """
a = Analysis([{script!r}])
pyz = PYZ(a.pure)
onedir = EXE(pyz, a.scripts, [], exclude_binaries=True, name="probe")
COLLECT(onedir, a.binaries, a.datas, name="probe")
EXE(pyz, a.scripts, a.binaries, a.datas, [], name="probe-onefile")
"""


def frozen_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dist`` holding both apps, frozen on first use in this session."""
    require_module("PyInstaller", "pip install -e '.[test]'")
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / "openssl-probe"
    dist = folder / "dist"
    with file_lock(base / "openssl-probe.lock"):
        if not (folder / "frozen.ok").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            shutil.copy(PROBE, folder / "probe.py")
            (folder / "probe.spec").write_text(SPEC.format(script=str(folder / "probe.py")))
            quiet = ("--noconfirm", "--log-level", "WARN")
            proc = subprocess.run(
                [sys.executable, "-m", "PyInstaller", *quiet, "probe.spec"],
                cwd=folder,
                env=scrubbed_env(),
                capture_output=True,
                text=True,
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
            (folder / "frozen.ok").write_text("ok\n")
    return dist
