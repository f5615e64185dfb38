"""``certembed build`` with an ``app``: hand the built payload to the app's freezer.

The dispatch lives with the integrations, above :mod:`certembed.build` (which every freezer
integration uses to build its payload), so that build never imports an integration.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from certembed.build import BuildResult, Progress
from certembed.config.model import Spec


def _quiet(_: str) -> None:
    return None


def freeze_app(spec: Spec, result: BuildResult, dist: Path, progress: Progress = _quiet) -> Path:
    """Freeze ``spec.app`` with its freezer (``kind``), embedding ``result``'s host payload;
    the executable's path (``dist/<name>/<name>``, ``.exe`` on Windows; onefile:
    ``dist/<name>``). The freezer is imported only here, and only the one the app names: a
    missing one is a :class:`~certembed.errors.FreezerMissingError` naming the package."""
    import importlib.util

    from certembed.config.model import FREEZER_PACKAGES
    from certembed.errors import FreezerMissingError

    app = spec.app
    assert app is not None
    if app.kind == "pyinstaller":
        from certembed.integrations.pyinstaller.freeze import freeze
    elif app.kind == "cx_freeze":
        from certembed.integrations.cx_freeze.freeze import freeze
    else:
        module = FREEZER_PACKAGES[app.kind]
        if importlib.util.find_spec(module) is None:
            raise FreezerMissingError(
                f"the app is a {app.kind} app but {module} is not installed here: "
                f"pip install 'certembed[{app.kind.replace('_', '-')}]'"
            )
        freeze = _integration_freeze(f"certembed.integrations.{app.kind}")

    exe: Path = freeze(spec, result, dist, progress=progress)
    return exe


def _integration_freeze(package: str) -> Callable[..., Path]:
    """``freeze`` of an integration package: ``<package>.freeze.freeze`` (a module, as for
    PyInstaller) or ``<package>.freeze`` (a function in the package)."""
    import importlib

    from certembed.errors import FreezeError

    try:
        module = importlib.import_module(f"{package}.freeze")
    except ModuleNotFoundError as exc:
        if exc.name == package:
            raise FreezeError(f"this certembed has no {package} (reinstall certembed)") from None
        if exc.name != f"{package}.freeze":
            raise
        module = importlib.import_module(package)
    found = getattr(module, "freeze", None)
    if not callable(found):
        raise FreezeError(f"{package} has no freeze() (reinstall certembed)")
    return found  # type: ignore[no-any-return]
