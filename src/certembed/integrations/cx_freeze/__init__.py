"""cx_Freeze integration: plain ``cxfreeze`` (and ``setup.py build_exe``) picks certembed up.

cx_Freeze looks for module hooks only inside its own package, but it builds through setuptools,
whose ``setuptools.finalize_distribution_options`` entry points run for every distribution it
creates; cx_Freeze registers its own plugin there. certembed registers :func:`plugin` in the
same group, ordered after cx_Freeze's: for a distribution with cx_Freeze ``executables`` it
replaces the ``build_exe`` command by a subclass (:mod:`certembed.integrations.cx_freeze.command`)
that embeds the certembed payload when the project has a certembed config. Anything else is
left alone, and this module imports nothing until a cx_Freeze build asks.
"""

from __future__ import annotations

from typing import Any

MARK = "_certembed_build_exe"


def plugin(dist: Any) -> None:
    """The ``setuptools.finalize_distribution_options`` entry point. Never raises: a broken
    certembed must not break a build that never asked for it (the command itself reports
    problems for builds that did)."""
    if getattr(dist, "executables", None) is None:
        return  # not a cx_Freeze build
    try:
        cmdclass = dist.cmdclass
        base = cmdclass.get("build_exe")
        if base is None:
            from cx_Freeze.command import build_exe as command

            base = command.build_exe
        if getattr(base, MARK, False):
            return
        from certembed.integrations.cx_freeze.command import wrap

        cmdclass["build_exe"] = wrap(base)
    except Exception as exc:  # report, and let cx_Freeze build as it would without certembed
        import sys

        print(
            f"certembed: warning: cannot hook into cx_Freeze ({type(exc).__name__}: {exc}); "
            "this build does not get certembed",
            file=sys.stderr,
        )


# After cx_Freeze's own plugin (order 0), which installs its build_exe command.
plugin.order = 10  # type: ignore[attr-defined]
