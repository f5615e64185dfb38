"""``certembed build`` for ``cx_freeze_app(...)``: freeze with cx_Freeze, payload already built.

cx_Freeze runs in a child process (its full output goes to ``build/cx_freeze/<name>.log``) and
builds into a staging directory next to ``dist/<name>``, which replaces the old one only when
the freeze succeeded: a failed freeze leaves earlier output untouched.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from certembed.config.model import Spec
from certembed.errors import FreezeError, FreezerFailedError, FreezerMissingError
from certembed.integrations.freezing import major_minor, program, shown
from certembed.integrations.resolve import DISABLE_ENV, PAYLOAD_ENV
from certembed.payload import host_target

if TYPE_CHECKING:
    from certembed.build import BuildResult

SUPPORTED = ((7, 0), (9, 0))  # >= 7.0, < 9
INSTALL = "pip install 'certembed[cx-freeze]'"


def cx_freeze_version() -> tuple[int, ...]:
    """The installed cx_Freeze's (major, minor); FreezerMissingError when there is none."""
    if importlib.util.find_spec("cx_Freeze") is None:
        raise FreezerMissingError(
            f"the app is a cx_freeze app but cx_Freeze is not installed here: {INSTALL}"
        )
    text = importlib.metadata.version("cx_Freeze")
    version = major_minor(text)
    if not SUPPORTED[0] <= version < SUPPORTED[1]:
        raise FreezerMissingError(
            f"cx_Freeze {text} is installed; certembed needs cx_Freeze >= 7.0, < 9: {INSTALL}"
        )
    return version


def freeze(spec: Spec, result: BuildResult, dist: Path, progress: Callable[[str], None]) -> Path:
    app = spec.app
    assert app is not None
    version = cx_freeze_version()
    payload = (result.out_dir / host_target()).resolve()
    dist = dist.resolve()
    final = dist / app.name
    stage = dist / f".{app.name}.certembed-partial"
    work = (Path("build") / "cx_freeze" / app.name).resolve()
    log = work.with_name(f"{app.name}.log")
    shutil.rmtree(stage, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    dist.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "certembed.integrations.cx_freeze",
        "--script-dir",
        str(app.script.parent),
        "build_exe",
        "--script",
        str(app.script),
        "--target-name",
        app.name,
        f"--build-exe={stage}",
        *app.args,
    ]
    env = dict(os.environ)
    env[PAYLOAD_ENV] = str(payload)
    env.pop(DISABLE_ENV, None)  # certembed build embeds its payload by definition
    progress(f"freezing {app.name} (onedir) with cx_Freeze {'.'.join(map(str, version))}")
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(
            argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    exe = program(stage, app.name)
    if proc.returncode != 0 or not exe.is_file():
        shutil.rmtree(stage, ignore_errors=True)
        why = f"it exited with status {proc.returncode}" if proc.returncode else "no executable"
        raise FreezerFailedError(
            f"cx_Freeze could not freeze {app.name} from {shown(app.script, spec.base_dir)} "
            f"({why}); its full output is in {log}."
        )
    if not (stage / "lib" / "certembed").is_dir():
        shutil.rmtree(stage, ignore_errors=True)
        raise FreezeError(f"cx_Freeze froze {app.name} without the certembed payload (see {log})")
    if final.exists():
        shutil.rmtree(final)
    stage.replace(final)
    exe = program(final, app.name)
    progress(f"froze {exe}")
    return exe
