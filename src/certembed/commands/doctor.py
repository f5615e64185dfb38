"""``certembed doctor``: what this Python and OpenSSL see and what the bootstrap would decide."""

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
    doctor = command(
        sub,
        "doctor",
        run,
        help="what this Python/OpenSSL sees and what the bootstrap would decide here",
        description="Report this interpreter's OpenSSL, its compiled-in CA paths, the SSL_* "
        "environment, the machine's trust store as the bootstrap probes it, and the decision "
        "in every mode.",
    )
    _options.config(
        doctor, help="config to take the bundle from (default: discovered, else certifi)"
    )
    _options.json_output(doctor)


def run(args: argparse.Namespace) -> int:
    from certembed.doctor import doctor, render_text

    report = doctor(Path(args.config) if args.config else None)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True, default=str))
    else:
        print(render_text(report))
    return 0
