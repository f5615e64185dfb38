"""One module per ``certembed`` command, each with its parser setup beside its handler.

:data:`COMMANDS` lists them in the order ``certembed --help`` shows them; :mod:`certembed.cli`
builds the top-level parser from it, dispatches, and alone turns errors into exit codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from certembed.commands import (
    audit,
    build,
    doctor,
    eject,
    inject,
    inspect,
    nuitka_plugin,
    openssl,
    pyoxidizer,
)
from certembed.commands._base import EPILOG_EXIT

if TYPE_CHECKING:
    from certembed.commands._base import Subparsers

COMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    build.register,
    inspect.register,
    pyoxidizer.register,
    nuitka_plugin.register,
    audit.register,
    doctor.register,
    openssl.register,
    inject.register,
    eject.register,
)

__all__ = ["COMMANDS", "EPILOG_EXIT"]
