"""Freeze a declared app with PyInstaller's Python API, embedding an already built payload."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from certembed.config.model import Spec
from certembed.errors import FreezeError, FreezerMissingError
from certembed.integrations.freezing import executable_path, major_minor, shown
from certembed.integrations.resolve import PAYLOAD_ENV
from certembed.payload import host_target

if TYPE_CHECKING:
    from certembed.build import BuildResult

SUPPORTED = ((5, 13), (7, 0))  # >= 5.13, < 7


def pyinstaller_version() -> tuple[int, ...]:
    try:
        import PyInstaller
    except ImportError:
        raise FreezerMissingError(
            "the app is a pyinstaller app but PyInstaller is not installed here: "
            "pip install 'certembed[pyinstaller]'"
        ) from None
    return major_minor(str(PyInstaller.__version__))


_PATH_PAIR_FLAGS = ("--add-data", "--add-binary")


def absolutize_args(args: tuple[str, ...], base: Path) -> list[str]:
    """Make relative SOURCE paths of ``--add-data``/``--add-binary`` relative to ``base``
    (the config's directory): PyInstaller would resolve them against the spec's directory."""

    def fix(pair: str) -> str:
        source, sep, dest = pair.rpartition(":")
        if not sep or Path(source).is_absolute():
            return pair
        return f"{(base / source).resolve()}:{dest}"

    out: list[str] = []
    expect_pair = False
    for arg in args:
        if expect_pair:
            out.append(fix(arg))
            expect_pair = False
        elif arg in _PATH_PAIR_FLAGS:
            out.append(arg)
            expect_pair = True
        elif arg.startswith(tuple(f + "=" for f in _PATH_PAIR_FLAGS)):
            flag, _, pair = arg.partition("=")
            out.append(f"{flag}={fix(pair)}")
        else:
            out.append(arg)
    return out


def freeze(spec: Spec, result: BuildResult, dist: Path, progress: Callable[[str], None]) -> Path:
    app = spec.app
    assert app is not None
    version = pyinstaller_version()
    if not SUPPORTED[0] <= version < SUPPORTED[1]:
        raise FreezeError(
            f"PyInstaller {'.'.join(map(str, version))} is not supported (need >= 5.13, < 7)"
        )
    import PyInstaller.__main__

    payload = result.out_dir / host_target()
    dist = dist.resolve()
    workpath = (Path("build") / "pyinstaller" / f"{app.name}-{result.bundle_sha256[:12]}").resolve()
    args = [
        str(app.script),
        "--name",
        app.name,
        "--distpath",
        str(dist),
        "--workpath",
        str(workpath),
        "--specpath",
        str(workpath),
        "--noconfirm",
        "--log-level",
        "WARN",
        "--onefile" if app.onefile else "--onedir",
        *absolutize_args(app.args, spec.base_dir),
    ]
    kind = "onefile" if app.onefile else "onedir"
    progress(f"freezing {app.name} ({kind}) with PyInstaller {'.'.join(map(str, version))}")
    previous = os.environ.get(PAYLOAD_ENV)
    os.environ[PAYLOAD_ENV] = str(payload.resolve())
    try:
        PyInstaller.__main__.run(args)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise FreezeError(
                f"PyInstaller could not freeze {app.name} from {shown(app.script, spec.base_dir)} "
                f"(it exited with status {exc.code}), and its log above says why."
            ) from exc
    except Exception as exc:
        raise FreezeError(
            f"PyInstaller could not freeze {app.name} from {shown(app.script, spec.base_dir)} "
            f"because it raised {type(exc).__name__}: {exc}."
        ) from exc
    finally:
        if previous is None:
            os.environ.pop(PAYLOAD_ENV, None)
        else:
            os.environ[PAYLOAD_ENV] = previous
    exe = executable_path(dist, app.name, app.onefile)
    if not exe.exists():
        raise FreezeError(f"PyInstaller finished but {exe} does not exist")
    progress(f"froze {exe}")
    return exe
