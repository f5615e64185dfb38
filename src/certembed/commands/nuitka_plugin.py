"""``certembed nuitka-plugin``: the path of the Nuitka user plugin shipped in this certembed."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from certembed.commands._base import command

if TYPE_CHECKING:
    from certembed.commands._base import Subparsers


def register(sub: Subparsers) -> None:
    command(
        sub,
        "nuitka-plugin",
        run,
        help="print the path of certembed's Nuitka plugin (for --user-plugin=)",
        description="Print the path of the Nuitka user plugin shipped in this certembed. It\n"
        "embeds the payload (config: CERTEMBED_CONFIG, else the project's config next to the\n"
        "main script, else certifi's roots) and runs the bootstrap before the app's code.\n"
        "The path changes with the environment certembed is installed in: ask for it at\n"
        "each build rather than writing it down.",
        examples="  python -m nuitka --standalone --user-plugin=$(certembed nuitka-plugin) app.py",
    )


def run(args: argparse.Namespace) -> int:
    from certembed.errors import NuitkaPluginMoved
    from certembed.integrations.nuitka import PLUGIN_PATH

    if not PLUGIN_PATH.is_file():
        raise NuitkaPluginMoved(
            f"this certembed has no Nuitka plugin at {PLUGIN_PATH}; reinstall it: "
            "pip install --force-reinstall certembed"
        )
    print(PLUGIN_PATH)
    return 0
