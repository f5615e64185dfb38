"""Real Nuitka builds for the tests: plain ``python -m nuitka`` with certembed's plugin, and
certembed's own freeze (``certembed.integrations.nuitka.freeze``), each optionally run inside a
distro layout's mount namespace (tests/support/layouts.py), so that "built on Debian" is literal.

``python -m tests.support.nuitka CONFIG NAME SCRIPT standalone|onefile`` runs the freeze as
``certembed build`` does for an ``[app]`` of kind "nuitka": the bundle, then Nuitka with the
prebuilt payload. Nuitka is slow (it compiles C): share each build across tests.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from tests.support.env import scrubbed_env
from tests.support.layouts import run_in_layout

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 1200  # a cold build (no ccache) of a requests app takes minutes on 2 cores


def _run(
    argv: list[str], cwd: Path, layout_root: Path | None, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    if layout_root is not None:
        return run_in_layout(layout_root, argv, env=env, timeout=TIMEOUT, cwd=cwd)
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def plain_nuitka(
    folder: Path, *args: str, layout_root: Path | None = None, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m nuitka ARGS`` in ``folder`` (scrubbed environment plus ``env``)."""
    proc = _run(
        [sys.executable, "-m", "nuitka", "--no-progressbar", *args],
        folder,
        layout_root,
        scrubbed_env(**env),
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


def certembed_freeze(
    folder: Path, config: Path, name: str, script: str, onefile: bool, layout_root: Path | None
) -> subprocess.CompletedProcess[str]:
    """certembed's Nuitka freeze of ``script`` declared as app ``name`` in ``folder``."""
    env = scrubbed_env(PYTHONPATH=str(REPO))
    argv = [
        sys.executable,
        "-m",
        "tests.support.nuitka",
        str(config),
        name,
        script,
        "onefile" if onefile else "standalone",
    ]
    proc = _run(argv, folder, layout_root, env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


def _main(argv: list[str]) -> int:
    from certembed.build import build_bundle_output
    from certembed.config import load_config
    from certembed.config.model import AppSpec, host_target
    from certembed.integrations.nuitka.freeze import freeze

    config, name, script, kind = argv
    spec = load_config(Path(config))
    app = AppSpec(name, (spec.base_dir / script).resolve(), kind == "onefile", (), "nuitka")
    spec = dataclasses.replace(spec, app=app)

    def progress(message: str) -> None:
        print(f"certembed: {message}", file=sys.stderr, flush=True)

    result = build_bundle_output(spec, Path("build/certembed"), (host_target(),))
    exe = freeze(spec, result, Path("dist"), progress)
    print(f"executable: {exe}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
