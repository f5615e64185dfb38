"""The ``certembed`` command line: the top-level parser, dispatch to the command modules in
:mod:`certembed.commands`, and errors turned into exit codes. The only module that exits."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence

from certembed import __version__
from certembed.commands import COMMANDS, EPILOG_EXIT
from certembed.errors import CertembedError, ConfigError

MAIN_HELP = """\
certembed makes TLS verification work inside frozen Python apps on every machine.

It assembles a validated CA bundle from a config (Starlark app.star, certembed.toml or
[tool.certembed] in pyproject.toml), renders a tiny standard-library bootstrap that points
OpenSSL at the machine's real trust store (or at the embedded bundle when there is none) and
freezes your app with PyInstaller, Nuitka or cx_Freeze.

typical use:
  certembed build                 build the embedded default (certifi roots, fill-gaps)
  certembed build app.star        build what app.star declares, freeze its app
  certembed inspect build/certembed
  certembed doctor                what this Python and OpenSSL see, and what certembed decides
"""

# The word before the message ("certembed: freeze error: ..."); every other class says "error".
_KINDS = {
    "FreezeError": "freeze error",
    "FreezerMissingError": "freeze error",
    "FreezerFailedError": "freeze error",
    "PathNotFoundError": "not found",
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="certembed",
        description=MAIN_HELP,
        epilog=EPILOG_EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"certembed {__version__}")
    top.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    args = top.parse_args(argv)
    if not getattr(args, "command", None):
        top.print_help()
        return 2
    try:
        return int(args.func(args))
    except CertembedError as exc:
        if args.debug:
            traceback.print_exc()
        kind = _KINDS.get(type(exc).__name__, "error")
        message = str(exc)
        if isinstance(exc, ConfigError):
            print(f"certembed: {message}", file=sys.stderr)
        else:
            print(f"certembed: {kind}: {message}", file=sys.stderr)
        if getattr(args, "json", False):
            print(
                json.dumps(
                    {
                        "error": {
                            "type": type(exc).__name__,
                            "message": message,
                            "exit_code": exc.exit_code,
                        }
                    },
                    indent=2,
                )
            )
        return exc.exit_code
    except KeyboardInterrupt:
        print("certembed: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `certembed audit ... | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        traceback.print_exc()
        print("certembed: unexpected error (exit 1); please report it", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
