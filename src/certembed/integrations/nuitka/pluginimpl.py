"""What the Nuitka plugin (``certembed_nuitka.py``) does, kept out of the plugin file so that it
can be imported and tested without Nuitka.

The plugin puts the host payload (bootstrap, data, manifest) under ``certembed/`` in the
distribution (for onefile: inside the archive, extracted with the rest) and adds pre-load code
to the main module that runs the bootstrap before the app's own code, as PyInstaller's runtime
hook does. Which config: :func:`certembed.integrations.resolve.resolve`, as for every freezer
(a payload prebuilt by ``certembed build``, ``--certembed-config``, ``CERTEMBED_CONFIG``, the
project's config discovered next to the main script, the embedded default).
``CERTEMBED_DISABLE=1`` turns the plugin off for one build.

Never a traceback: a build that asked for certembed and cannot get it stops with one error
(:class:`NuitkaPluginError`); a build that asked for nothing (the default config) compiles
without certembed and a warning. A stale plugin file and options that fight the plugin have
their own errors and exit codes.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from certembed.errors import (
    ConfigError,
    Location,
    NuitkaOptionConflict,
    NuitkaPluginError,
    NuitkaPluginMoved,
)
from certembed.integrations.nuitka import PLUGIN_PATH
from certembed.integrations.resolve import (
    DISABLE_ENV,
    ToolConfig,
    asked_by,
    failure_message,
    host_payload,
    resolve,
)
from certembed.payload import BOOTSTRAP_NAME, PAYLOAD_MODULES, imported_modules

DEST = "certembed"  # the payload's folder in the distribution (next to the executable)
CONFIG_OPTION = "--certembed-config"
TURN_OFF = (
    f"to compile without certembed, set {DISABLE_ENV}=1 for this build or leave out the "
    "--user-plugin option"
)
# Variables that point OpenSSL, requests or curl at one CA file: forcing them at run time
# replaces the machine's store and leaks into every child process.
CA_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclass(frozen=True)
class NuitkaOptions:
    """What the plugin reads from Nuitka's command line."""

    standalone: bool  # --standalone or --onefile: a distribution of its own
    onefile: bool
    project_dir: Path  # the main script's folder: where a project config is discovered
    tool_config: str | None = None  # --certembed-config
    forced_env: tuple[tuple[str, str], ...] = ()  # --force-runtime-environment-variable
    data_dests: tuple[tuple[str, str], ...] = ()  # (option as given, dest) of --include-data-*
    excluded: tuple[str, ...] = ()  # --noinclude-data-files patterns
    external: tuple[str, ...] = ()  # --include-data-files-external patterns


@dataclass(frozen=True)
class Payload:
    files: dict[str, bytes]  # destination (under certembed/, with /) -> contents
    imports: tuple[str, ...]  # standard-library modules the bootstrap imports
    message: str
    patch_certifi: bool = True  # the bootstrap answers certifi.where() with its anchors


def check_plugin_file(loaded: Path) -> None:
    """Stop when the plugin Nuitka loaded is not this certembed's (moved or copied and stale)."""
    installed = PLUGIN_PATH
    try:
        current = installed.read_bytes()
    except OSError as exc:
        raise NuitkaPluginMoved(
            f"the certembed installed for {sys.executable} has no Nuitka plugin at {installed} "
            f"({exc.strerror or exc}); reinstall it: pip install --force-reinstall certembed"
        ) from None
    try:
        same = loaded.resolve() == installed or loaded.read_bytes() == current
    except OSError:
        same = False
    if not same:
        raise NuitkaPluginMoved(
            f"the Nuitka plugin {loaded} is not the one of the certembed installed for "
            f"{sys.executable} (a moved or stale copy); pass "
            "--user-plugin=$(certembed nuitka-plugin) instead"
        )


def _dest_hits(pattern: str, dests: list[str]) -> bool:
    pattern = pattern.replace("\\", "/").strip("/")
    return any(fnmatch.fnmatch(dest, pattern) or dest.startswith(pattern + "/") for dest in dests)


CERTIFI_BUNDLE = "certifi/cacert.pem"


def check_conflicts(options: NuitkaOptions, dests: list[str], patch_certifi: bool = True) -> None:
    """Raise :class:`NuitkaOptionConflict` for an option that fights the plugin."""
    problems = []
    for name, value in options.forced_env:
        if name in CA_ENV:
            problems.append(
                f"--force-runtime-environment-variable={name}={value} pins one CA file for the "
                "app and every child process, which replaces the machine's trust store that "
                f"certembed decides on; drop it (certembed sets {name} only with export_env)"
            )
    for given, dest in options.data_dests:
        clean = dest.replace("\\", "/").strip("/")
        if clean == DEST or clean.startswith(DEST + "/"):
            problems.append(
                f"{given} writes into {DEST}/, the folder that holds certembed's payload; "
                "choose another destination"
            )
        elif patch_certifi and clean == CERTIFI_BUNDLE:
            problems.append(
                f"{given} replaces certifi's bundle, which the app would never read: certembed "
                "answers certifi.where() with the decided anchors; put those roots in the "
                'certembed config (trust = "always"), or set patch_certifi = false'
            )
    for pattern in options.excluded:
        if _dest_hits(pattern, dests):
            problems.append(
                f"--noinclude-data-files={pattern} drops certembed's payload ({DEST}/...)"
            )
    for pattern in options.external:
        if _dest_hits(pattern, dests):
            problems.append(
                f"--include-data-files-external={pattern} moves certembed's payload out of the "
                "onefile archive, where the bootstrap looks for it"
            )
    if problems:
        lines = [
            "a Nuitka option fights the certembed plugin, so the build stops here:",
            *(f"  {p}" for p in problems),
            f"  or: {TURN_OFF}",
        ]
        raise NuitkaOptionConflict("\n".join(lines))


def tool_config(options: NuitkaOptions) -> ToolConfig:
    """``--certembed-config`` as the tool's own config for :func:`resolve` (a relative path is
    taken from the working directory, as Nuitka takes its own paths)."""
    value = options.tool_config
    if not value:
        return ToolConfig(CONFIG_OPTION)
    return ToolConfig(f"{CONFIG_OPTION}={value}", {"config": str(Path(value).absolute())})


def read_payload(payload: Path) -> dict[str, bytes]:
    """Every file of a rendered payload dir, keyed by its destination under ``certembed/``."""
    if not (payload / BOOTSTRAP_NAME).is_file():
        raise ConfigError.single(Location(str(payload)), f"no {BOOTSTRAP_NAME} in this payload")
    return {
        f"{DEST}/{path.relative_to(payload).as_posix()}": path.read_bytes()
        for path in sorted(payload.rglob("*"))
        if path.is_file()
    }


def bootstrap_imports(source: str) -> tuple[str, ...]:
    """The standard-library modules the bootstrap imports (Nuitka cannot see them: the
    bootstrap is a data file), limited to those this Python has."""
    names = imported_modules(source)
    stdlib = getattr(sys, "stdlib_module_names", None)
    return tuple(
        sorted(
            name
            for name in names - {"typing"}
            if (stdlib is None or name in stdlib) and importlib.util.find_spec(name) is not None
        )
    )


def collect(options: NuitkaOptions) -> Payload:
    """The payload of the config :func:`~certembed.integrations.resolve.resolve` decides (the
    plugin file has already honoured ``CERTEMBED_DISABLE``)."""
    found = resolve(options.project_dir, tool_config(options), honour_disable=False)
    with tempfile.TemporaryDirectory(prefix="certembed-nuitka-") as tmp:
        payload_dir, message = host_payload(found, Path(tmp) / "out")
        files = read_payload(payload_dir)
    source = files[f"{DEST}/{BOOTSTRAP_NAME}"].decode("utf-8")
    patch_certifi = "\nPATCH_CERTIFI = False\n" not in source
    # What the bootstrap imports, and the runtime it loads when first needed
    imports = {
        name
        for module in PAYLOAD_MODULES
        for name in bootstrap_imports(files.get(f"{DEST}/{module}", b"").decode("utf-8"))
    }
    return Payload(files, tuple(sorted(imports)), message, patch_certifi)


def prepare(options: NuitkaOptions) -> tuple[Payload | None, str, str]:
    """(payload or None, log message, log level); raises only :class:`NuitkaPluginError`."""
    if not options.standalone:
        return (
            None,
            "certembed: not a --standalone or --onefile build: the program runs on the "
            "installed Python and its trust store, so nothing is embedded",
            "info",
        )
    try:
        payload = collect(options)
    except Exception as exc:
        origin = asked_by(options.project_dir, tool_config(options))
        if origin is None:
            what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return (
                None,
                "certembed: nothing in this build asks for a certembed config and the default "
                f"payload cannot be prepared ({what}); the app is compiled without certembed",
                "warning",
            )
        raise NuitkaPluginError(
            failure_message(exc, origin, TURN_OFF, "the temporary directory")
        ) from None
    return payload, f"certembed: {payload.message}", "info"


# Runs first in the compiled app (pre-load code of the main module, in a module of its own, so
# that no name reaches the app's namespace). The payload sits in the distribution folder, which
# for onefile is the folder the archive was extracted to.
PRELOAD_CODE = f"""\
def _certembed_preload():
    import os
    import sys

    info = globals().get("__uncompiled__", globals().get("__compiled__"))
    folder = getattr(info, "python_runtime_dir", None) or os.path.dirname(__file__)
    base = os.path.join(folder, "{DEST}")
    source = os.path.join(base, "{BOOTSTRAP_NAME}")
    if not os.path.isfile(source):
        return  # the app does not use ssl, or certembed was disabled for this build
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("_certembed_bootstrap", source)
    module = module_from_spec(spec)
    sys.modules["_certembed_bootstrap"] = module
    try:
        spec.loader.exec_module(module)  # applies the policy; its runtime loads when needed
    except BaseException:
        del sys.modules["_certembed_bootstrap"]
        raise


_certembed_preload()
del _certembed_preload
"""
