"""What every command module shares: how a subcommand is declared and how it reports progress.

A command module holds its parser setup (``register``) beside its handler; the handler returns
the exit code and raises :class:`certembed.errors.CertembedError` for bad input. Only
:mod:`certembed.cli` turns either into a process exit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from certembed.errors import EXIT_CODES

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

Handler = Callable[[argparse.Namespace], int]
Progress = Callable[[str], None]

EPILOG_EXIT = "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())


def command(
    sub: Subparsers,
    name: str,
    func: Handler,
    *,
    help: str,
    description: str,
    examples: str = "",
) -> argparse.ArgumentParser:
    """A subcommand whose --help shows its description, examples and the exit codes."""
    epilog = (f"examples:\n{examples}\n\n" if examples else "") + EPILOG_EXIT
    parser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def progress(quiet: bool) -> Progress:
    """Progress lines go to stderr so that stdout stays the command's result (or its JSON)."""

    def emit(message: str) -> None:
        if not quiet:
            print(f"certembed: {message}", file=sys.stderr, flush=True)

    return emit
