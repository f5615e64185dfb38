"""Compile a declared app with Nuitka (``python -m nuitka``), embedding an already built payload.

Nuitka runs in a child process of the same Python with certembed's plugin; its whole output
goes to a log file under ``build/nuitka/``, which a failure names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from certembed.config.model import Spec
from certembed.errors import (
    FreezeError,
    FreezerFailedError,
    FreezerMissingError,
    NuitkaOptionConflict,
    NuitkaPluginError,
    NuitkaPluginMoved,
)
from certembed.integrations.freezing import executable_path, major_minor, shown
from certembed.integrations.nuitka import PLUGIN_PATH
from certembed.integrations.resolve import PAYLOAD_ENV
from certembed.payload import host_target

if TYPE_CHECKING:
    from certembed.build import BuildResult

SUPPORTED = ((4, 0), (5, 0))  # >= 4.0, < 5
# The plugin's own failures come back as Nuitka's exit status: re-raise them as themselves.
_PLUGIN_ERRORS = {
    cls.exit_code: cls for cls in (NuitkaPluginMoved, NuitkaOptionConflict, NuitkaPluginError)
}


def nuitka_version() -> tuple[int, ...]:
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("nuitka") is None:
        raise FreezerMissingError("Nuitka is not installed: pip install 'certembed[nuitka]'")
    try:
        text = importlib.metadata.version("nuitka")
    except importlib.metadata.PackageNotFoundError:
        raise FreezerMissingError(
            "Nuitka is importable but has no package metadata: pip install 'certembed[nuitka]'"
        ) from None
    return major_minor(text)


# Set by certembed build itself: the app's args must not move the output or change the mode.
_RESERVED = (
    "--output-dir",
    "--output-filename",
    "--output-folder-name",
    "-o",
    "--standalone",
    "--onefile",
    "--mode",
    "--module",
)


def check_args(args: tuple[str, ...]) -> None:
    """Refuse app args that fight what certembed build decides (``onefile`` is a key)."""
    taken = [a for a in args if a.split("=", 1)[0] in _RESERVED]
    if taken:
        raise NuitkaOptionConflict(
            f"the app's args {', '.join(taken)} fight certembed build, which chooses Nuitka's "
            "mode (the app's onefile key) and where it writes (dist/); remove them"
        )


def _plugin_message(log: str) -> str:
    """The plugin's own error (Nuitka prints it as ``FATAL: certembed: ...`` plus indented
    lines) from the log."""
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if "FATAL: certembed: " in line:
            block = [line.split("FATAL: certembed: ", 1)[1]]
            block += [more for more in lines[index + 1 :] if more.startswith("  ")]
            return "\n".join(block)
    return ""


def _last_fatal(log: str) -> str:
    fatal = [line.split("FATAL:", 1)[1].strip() for line in log.splitlines() if "FATAL:" in line]
    return fatal[-1] if fatal else ""


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def freeze(spec: Spec, result: BuildResult, dist: Path, progress: Callable[[str], None]) -> Path:
    app = spec.app
    assert app is not None
    version = nuitka_version()
    shown_version = ".".join(map(str, version))
    if not SUPPORTED[0] <= version < SUPPORTED[1]:
        raise FreezeError(f"Nuitka {shown_version} is not supported (need >= 4.0, < 5)")
    check_args(app.args)
    if not PLUGIN_PATH.is_file():
        raise NuitkaPluginMoved(
            f"this certembed has no Nuitka plugin at {PLUGIN_PATH}; reinstall it: "
            "pip install --force-reinstall certembed"
        )
    payload = (result.out_dir / host_target()).resolve()
    dist = dist.resolve()
    workpath = (Path("build") / "nuitka" / f"{app.name}-{result.bundle_sha256[:12]}").resolve()
    _remove(workpath)
    workpath.mkdir(parents=True)
    log_path = workpath / "nuitka.log"
    kind = "onefile" if app.onefile else "standalone"
    command = [
        sys.executable,
        "-m",
        "nuitka",
        "--onefile" if app.onefile else "--standalone",
        f"--user-plugin={PLUGIN_PATH}",
        f"--output-dir={workpath}",
        f"--output-filename={app.name}",
        "--assume-yes-for-downloads",
        "--no-progressbar",
        "--remove-output",
        *app.args,
        str(app.script),
    ]
    env = dict(os.environ)
    env[PAYLOAD_ENV] = str(payload)
    progress(f"freezing {app.name} ({kind}) with Nuitka {shown_version}; log: {log_path}")
    with log_path.open("w", encoding="utf-8") as log:
        log.write(" ".join(command) + "\n\n")
        log.flush()
        try:
            proc = subprocess.run(
                command,
                cwd=spec.base_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            raise FreezerFailedError(f"cannot run Nuitka ({exc}); the log is {log_path}") from None
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if proc.returncode in _PLUGIN_ERRORS:
        message = _plugin_message(text) or _last_fatal(text)
        raise _PLUGIN_ERRORS[proc.returncode](f"{message}\n(full Nuitka log: {log_path})")
    if proc.returncode != 0:
        why = _last_fatal(text)
        raise FreezerFailedError(
            f"Nuitka could not compile {app.name} from {shown(app.script, spec.base_dir)} "
            f"(exit status {proc.returncode}{': ' + why if why else ''}); its log is {log_path}"
        )
    suffix = ".exe" if sys.platform == "win32" else ""
    built = (
        workpath / f"{app.name}{suffix}"
        if app.onefile
        else workpath / f"{Path(app.script).stem}.dist"
    )
    exe = executable_path(dist, app.name, app.onefile)
    if not built.exists():
        raise FreezerFailedError(
            f"Nuitka finished but {built} does not exist; its log is {log_path}"
        )
    target = exe if app.onefile else exe.parent
    dist.mkdir(parents=True, exist_ok=True)
    _remove(target)
    shutil.move(str(built), str(target))
    if not exe.exists():
        raise FreezerFailedError(f"Nuitka finished but {exe} does not exist; its log is {log_path}")
    progress(f"froze {exe}")
    return exe
