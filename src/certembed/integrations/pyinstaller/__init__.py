"""PyInstaller integration: the hook dir registered through the ``pyinstaller40`` entry point."""

from __future__ import annotations

from pathlib import Path

HOOK_DIR = Path(__file__).resolve().parent


def get_hook_dirs() -> list[str]:
    return [str(HOOK_DIR)]


def get_pyinstaller_tests() -> list[str]:
    """Test directories for PyInstaller's test runner (they use its ``pyi_builder`` fixture)."""
    return [str(HOOK_DIR / "tests")]
