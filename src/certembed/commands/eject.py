"""``certembed eject``: an injection removed, the Python installation back byte for byte."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from certembed.commands import _options
from certembed.commands._base import command

if TYPE_CHECKING:
    from certembed.commands._base import Subparsers


def register(sub: Subparsers) -> None:
    ej = command(
        sub,
        "eject",
        run,
        help="remove an injection: TARGET back byte for byte",
        description="Undo certembed inject, also after an inject or eject that was killed: remove\n"
        "the switch (_certembed_inject.pth) first, put back every file inject replaced (the\n"
        "embeddable Python's ._pth) from the journal's backup, remove the state folder and\n"
        "restore the site folder's times. Refuses, changing nothing, when a replaced file was\n"
        "changed again since.",
        examples="  certembed eject .venv\n  certembed eject /opt/python3.12 --dry-run --json",
    )
    _options.target_path(ej, help="the injected Python prefix, venv or executable")
    _options.dry_run(ej)
    _options.json_output(ej, help="machine-readable result")


def run(args: argparse.Namespace) -> int:
    from certembed.inject import apply
    from certembed.inject.target import detect

    result = apply.eject(detect(Path(args.target)), dry_run=args.dry_run)
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else apply.render(result))
    return 0
