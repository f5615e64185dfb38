# PyInstaller's own fixtures (pyi_builder, ...), as pyinstaller-hooks-contrib uses them.
from PyInstaller.utils.conftest import *  # noqa: F403
