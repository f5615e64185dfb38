"""``python -m certembed.integrations.cx_freeze [--script-dir DIR] CXFREEZE-ARGS...``

cx_Freeze's own command line with certembed's ``build_exe``, whether or not certembed's
setuptools entry point is registered (``certembed build`` runs this in a child process, so the
freezer's output goes to its log and a crash cannot take certembed down). ``--script-dir``
puts the app's directory first on the module search path, as ``cxfreeze`` does for its working
directory.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--script-dir"] and len(args) > 1:
        sys.path.insert(0, args[1])
        args = args[2:]
    import cx_Freeze
    from cx_Freeze import cli
    from cx_Freeze.command.build_exe import build_exe

    from certembed.integrations.cx_freeze.command import wrap

    def setup(**attrs: Any) -> Any:
        attrs.setdefault("cmdclass", {}).setdefault("build_exe", wrap(build_exe))
        return cx_Freeze.setup(**attrs)

    cli.setup = setup
    sys.argv = ["certembed-cx-freeze", *args]
    cli.main()


if __name__ == "__main__":
    main()
