"""Options that several commands take, declared once so that their flags, choices and wording
stay the same everywhere. Each takes the command's parser; ``help`` differs where the option
means something narrower for that command."""

from __future__ import annotations

import argparse

from certembed.config.model import TARGETS

CONFIG_HELP = "config (default: discovered, else certifi)"


def config(parser: argparse.ArgumentParser, help: str = CONFIG_HELP) -> None:
    """The optional CONFIG positional: discovered in the current directory when omitted."""
    parser.add_argument("config", nargs="?", help=help)


def target_os(parser: argparse.ArgumentParser, help: str, *, repeat: bool = False) -> None:
    """--target: the OS a payload is rendered for (``host``: the machine running certembed)."""
    parser.add_argument(
        "--target", action="append" if repeat else "store", choices=list(TARGETS), help=help
    )


def json_output(parser: argparse.ArgumentParser, help: str = "machine-readable output") -> None:
    """--json: the result as JSON on stdout; an error is JSON too (certembed.cli)."""
    parser.add_argument("--json", action="store_true", help=help)


def quiet(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help=help)


def dry_run(
    parser: argparse.ArgumentParser, help: str = "print what would change, change nothing"
) -> None:
    parser.add_argument("--dry-run", action="store_true", help=help)


def target_path(parser: argparse.ArgumentParser, help: str) -> None:
    """The TARGET positional of the commands that change a Python installation or an app."""
    parser.add_argument("target", metavar="TARGET", help=help)
