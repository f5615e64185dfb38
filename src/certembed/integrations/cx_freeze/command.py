"""certembed's ``build_exe``: cx_Freeze's command plus the certembed payload.

For a build that has a certembed config (:func:`certembed.integrations.resolve.resolve`: a
prebuilt payload from ``certembed build``, ``--certembed-config``, ``CERTEMBED_CONFIG``, or a
config discovered in the working directory) the command

- renders the host payload into ``<build_base>/certembed-cx_freeze`` (or uses the prebuilt one)
  and copies it to ``lib/certembed`` next to ``library.zip``;
- gives every executable an init script that runs the bootstrap before cx_Freeze's own init
  script (and so before the app imports ``ssl``), then runs that init script unchanged;
- replaces cx_Freeze's ``ssl`` hook for the duration of the freeze: it no longer copies the
  build machine's CA file to ``share/certs.pem`` nor patches ``ssl`` to set ``SSL_CERT_FILE`` at
  start-up (which hid the user's machine store and leaked into every child process); the
  Windows part (the OpenSSL DLLs) is kept.

A build with nothing asking for certembed (no config anywhere) and ``CERTEMBED_DISABLE=1`` are
frozen exactly as cx_Freeze would. Problems stop a build that asked with one message
(``SystemExit``: no traceback), naming the config, the fix and how to freeze without certembed.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from certembed.integrations.cx_freeze import MARK

DEST = "lib/certembed"  # where the payload goes, relative to the executable's directory
PAYLOAD_DIR = "certembed-cx_freeze"  # under build_base
TOOL_LABEL = "build_exe --certembed-config"
TURN_OFF = "to freeze without certembed, set CERTEMBED_DISABLE=1 for this build"

# Runs first in every executable: finds the payload, imports the bootstrap (which applies the
# policy), leaves no names behind. Python 3.8 syntax, ASCII, stdlib only.
PREAMBLE = """\
# certembed: apply the embedded trust policy before cx_Freeze's init script and the app run.


def _certembed_init():
    import os
    import sys

    folders = [os.path.join(os.path.dirname(sys.executable), "lib")]
    folders += [os.path.dirname(p) for p in sys.path if p.endswith(".zip")]
    for folder in folders:
        base = os.path.join(folder, "certembed")
        if os.path.isfile(os.path.join(base, "_certembed_bootstrap.py")):
            break
    else:
        return
    sys.path.insert(0, base)
    try:  # __import__: cx_Freeze's finder would report the payload's module as missing
        __import__("_certembed_bootstrap")  # applies the policy (its runtime loads when needed)
    finally:
        try:
            sys.path.remove(base)
        except ValueError:
            pass


_certembed_init()
del _certembed_init

"""


def _say(message: str) -> None:
    print(f"certembed: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Plan:
    """What certembed adds to one cx_Freeze build."""

    payload: Path
    origin: str
    message: str


def init_script_text(original: Path) -> str:
    """certembed's preamble followed by ``original`` (cx_Freeze's init script) unchanged; the
    original's ``from __future__`` imports move to the top, where Python requires them."""
    source = original.read_text(encoding="utf-8")
    futures = []
    body = []
    for line in source.splitlines(keepends=True):
        if line.startswith("from __future__ import"):
            futures.append(line)
        else:
            body.append(line)
    return "".join(futures) + PREAMBLE + "".join(body)


def bootstrap_imports(payload: Path) -> list[str]:
    """Top-level modules the bootstrap and its runtime may import (some lazily, inside
    functions): cx_Freeze must ship them even when the app does not use them."""
    from certembed.payload import PAYLOAD_MODULES, imported_modules

    names: set[str] = set()
    for module in PAYLOAD_MODULES:
        if (payload / module).is_file():  # not a payload built before the runtime had its own
            names |= imported_modules((payload / module).read_text(encoding="utf-8"))
    return sorted(n for n in names if importlib.util.find_spec(n) is not None)


def prepare(config: str | None, project_dir: Path, build_base: Path) -> Plan | None:
    """The payload to embed, or None when this build gets no certembed (disabled, or nothing
    asks for it). Raises SystemExit with one message when a build that asked cannot get it."""
    from certembed.integrations.resolve import (
        ToolConfig,
        asked_by,
        failure_message,
        host_payload,
        resolve,
    )

    tool = ToolConfig(TOOL_LABEL, {"config": config}) if config else None
    try:
        found = resolve(project_dir, tool)
        if found.step == "disabled":
            _say(f"{found.origin}; cx_Freeze's own ssl handling applies")
            return None
        if not found.asked:
            _say(
                "no certembed config (looked for certembed.star, certembed.toml, pyproject.toml "
                f"[tool.certembed] in {project_dir}, CERTEMBED_CONFIG, --certembed-config); "
                "cx_Freeze freezes this app as it would without certembed"
            )
            return None
        payload, message = host_payload(found, build_base / PAYLOAD_DIR)
        return Plan(payload, found.origin, message)
    except SystemExit:
        raise
    except Exception as exc:
        origin = asked_by(project_dir, tool) or f"the certembed config in {project_dir}"
        raise SystemExit(
            failure_message(exc, origin, TURN_OFF, "cx_Freeze's build folder")
        ) from None


@contextmanager
def ssl_hook_replaced() -> Iterator[None]:
    """cx_Freeze's ``ssl`` hook without its CA-file part, while the block runs."""
    from cx_Freeze import hooks

    try:  # cx_Freeze 7.1+: a ModuleHook class per module
        from cx_Freeze.hooks import _ssl_

        owner: Any = _ssl_.Hook
        name = "ssl"
    except (ImportError, AttributeError):  # older: load_ssl() in cx_Freeze.hooks
        owner, name = hooks, "load_ssl"
    original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
    if original is None:
        yield
        return

    def keep_dlls_only(*args: Any, **kwargs: Any) -> None:
        if sys.platform == "win32":  # there it adds the OpenSSL DLLs and no CA file
            original(*args, **kwargs)

    setattr(owner, name, keep_dlls_only)
    try:
        yield
    finally:
        setattr(owner, name, original)


def wrap(base: type[Any]) -> type[Any]:
    """``base`` (cx_Freeze's build_exe or a project's subclass of it) with certembed added."""

    class build_exe(base):  # type: ignore[misc]
        user_options: ClassVar[list[tuple[str, str | None, str]]] = [
            *base.user_options,
            (
                "certembed-config=",
                None,
                "certembed config file (default: CERTEMBED_CONFIG, else certembed.star, "
                "certembed.toml or pyproject.toml [tool.certembed] here)",
            ),
        ]

        def initialize_options(self) -> None:
            super().initialize_options()
            self.certembed_config: str | None = None

        def run(self) -> None:
            build_base = Path(getattr(self, "build_base", None) or "build").resolve()
            plan = prepare(self.certembed_config, Path.cwd(), build_base)
            if plan is None:
                super().run()
                return
            _say(plan.message)
            scripts = build_base / PAYLOAD_DIR / "initscripts"
            scripts.mkdir(parents=True, exist_ok=True)
            executables = getattr(self.distribution, "executables", None) or []
            for index, exe in enumerate(executables):
                original = Path(exe.init_script)
                script = scripts / f"{index}-{original.stem}.py"
                script.write_text(init_script_text(original), encoding="utf-8")
                exe.init_script = str(script.resolve())
            files = [*getattr(self, "include_files", []), (str(plan.payload), DEST)]
            setattr(self, "include_files", files)  # noqa: B010 - the base class's option
            modules = [*getattr(self, "includes", []), *bootstrap_imports(plan.payload)]
            setattr(self, "includes", modules)  # noqa: B010
            with ssl_hook_replaced():
                super().run()

    setattr(build_exe, MARK, True)
    build_exe.__qualname__ = build_exe.__name__ = "build_exe"
    build_exe.__module__ = __name__
    return build_exe
