"""``certembed inspect``: the certificates in any certembed output, an app or a PEM/DER file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from certembed.commands import _options
from certembed.commands._base import command

if TYPE_CHECKING:
    from certembed.commands._base import Subparsers


def _kinds() -> list[str]:
    """The input kinds inspect recognises, as listed by certembed.inspect (one source)."""
    import textwrap

    from certembed.inspect import KINDS

    return [textwrap.fill(text, 88, subsequent_indent="    ") for _, text in KINDS.values()]


def register(sub: Subparsers) -> None:
    inspect = command(
        sub,
        "inspect",
        run,
        help="list the certificates in any certembed output, an app, or a PEM/DER file",
        description="Show subject, SHA-256 prefix, expiry, source, trust role and Python 3.13+\n"
        "strict-X.509 verdict of every certificate in PATH, then a summary: what was read,\n"
        "how many certificates per trust role and per source, how many expired, and how\n"
        "many Python 3.13+ rejects. PATH is any of:\n"
        + "\n".join(f"  - {text}" for text in _kinds()),
        examples="  certembed inspect build/certembed\n  certembed inspect dist/app\n"
        "  certembed inspect dist/app.exe --json\n  certembed inspect certembed.bzl\n"
        "  certembed inspect certs/corp-root.pem",
    )
    inspect.add_argument(
        "path",
        help="a build output dir, an app (onedir dir or onefile executable), a payload dir, a "
        "manifest, certembed.bzl, a PyOxidizer file install, or a PEM/DER file",
    )
    _options.json_output(inspect)


def run(args: argparse.Namespace) -> int:
    from datetime import date

    from certembed.inject.state import describe, summary_line
    from certembed.inspect import inspect_input, render_summary, summary, table

    kind, read, rows = inspect_input(Path(args.path))
    info = summary(kind, read, rows, date.today().isoformat())
    injection = describe(Path(args.path))
    if args.json:
        print(
            json.dumps(
                {
                    "path": args.path,
                    "summary": info,
                    "certificates": rows,
                    "injection": injection,
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        if injection is not None:
            print(summary_line(injection))
        print(table(rows))
        print(render_summary(info))
    return 0
