"""What ``hook-_ssl.py`` does, kept out of the hook file so it can be imported and tested.

Configuration, first match wins:
1. ``hooksconfig={"certembed": {...}}`` in a .spec (TOML keys; ``enabled``, ``config``);
2. ``CERTEMBED_CONFIG`` naming a config file;
3. the project's config discovered in the spec's directory;
4. the embedded default (certifi roots, fill-gaps).

``CERTEMBED_DISABLE=1`` turns the hook off for one build. :func:`run` never lets an exception
out: a build that asked for certembed stops with one :class:`HookError` (what failed, which
config, how to fix it, how to freeze without certembed); a build that asked for nothing
(no hooksconfig, no ``CERTEMBED_CONFIG``, no config file) freezes without certembed and a warning.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from certembed.bootstrap.render import BOOTSTRAP_NAME
from certembed.config import discover, load_config
from certembed.config.model import Spec, default_spec, host_target
from certembed.config.toml import TomlConfig
from certembed.errors import (
    BundleError,
    CertembedError,
    ConfigError,
    EngineMissingError,
    FreezeError,
    Location,
)

PAYLOAD_ENV = "_CERTEMBED_PAYLOAD"  # set by `certembed build` to a payload it already built
CONFIG_ENV = "CERTEMBED_CONFIG"
DEST = "certembed"  # the fixed name under sys._MEIPASS
HOOK_KEYS = ("enabled", "config")
DISABLE_ENV = "CERTEMBED_DISABLE"
TURN_OFF = (
    f"to freeze without certembed, set {DISABLE_ENV}=1 for this build, or put "
    "hooksconfig={'certembed': {'enabled': False}} in the .spec file's Analysis"
)


class HookError(FreezeError):
    """certembed's PyInstaller hook cannot prepare this build; the message says all."""


def disabled_by_env() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def asked_by(hooksconfig: Mapping[str, Any], specpath: Path) -> str | None:
    """What in this build asks for certembed (a phrase), or None when nothing does."""
    if os.environ.get(PAYLOAD_ENV):
        return f"certembed build (prebuilt payload {os.environ[PAYLOAD_ENV]})"
    if "certembed" in hooksconfig:
        return "hooksconfig['certembed'] in the .spec file"
    if os.environ.get(CONFIG_ENV):
        return f"{CONFIG_ENV}={os.environ[CONFIG_ENV]}"
    try:
        found = discover(specpath)
    except Exception:
        return f"the certembed config in {specpath}"
    return None if found is None else str(found)


def _how_to_fix(exc: BaseException) -> str:
    if isinstance(exc, EngineMissingError):
        return "install one of the Starlark engines named above, or write the config as TOML"
    if isinstance(exc, ConfigError):
        return "correct the config at the position(s) named above"
    if isinstance(exc, BundleError):
        return "fix or remove the certificate named above"
    if isinstance(exc, CertembedError):
        return "see the message above"
    if isinstance(exc, OSError):
        return "make the file readable and PyInstaller's work directory writable"
    return (
        f"this is a bug in certembed ({type(exc).__name__}): please report it with the "
        "output of this build run with CERTEMBED_DEBUG=1"
    )


def failure_message(exc: BaseException, origin: str) -> str:
    """One build error: what failed, which config, how to fix it, how to turn certembed off."""
    import traceback

    what = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, (CertembedError, OSError)):
        what = f"{type(exc).__name__}: {what}"
    lines = [
        "certembed cannot prepare this app's trust anchors, so the freeze stops here.",
        "  what failed: " + what.replace("\n", "\n    "),
        f"  config: {origin}",
        f"  fix: {_how_to_fix(exc)}",
        f"  or: {TURN_OFF}",
    ]
    if os.environ.get("CERTEMBED_DEBUG"):
        lines.append("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return "\n".join(lines)


def run(
    hooksconfig: Mapping[str, Any], specpath: Path, workpath: Path
) -> tuple[list[tuple[str, str]], str, str]:
    """What the hook adds: (datas, log message, log level). Raises only :class:`HookError`."""
    if disabled_by_env():
        return (
            [],
            f"certembed: disabled by {DISABLE_ENV}=1; the app gets no certembed bootstrap",
            "info",
        )
    try:
        datas, message = collect(hooksconfig, specpath, workpath)
    except Exception as exc:
        origin = asked_by(hooksconfig, specpath)
        if origin is None:
            what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return (
                [],
                "certembed: nothing in this build asks for certembed and its default payload "
                f"cannot be prepared ({what}); the app is frozen without certembed",
                "warning",
            )
        raise HookError(failure_message(exc, origin)) from None
    return datas, message, "info"


def resolve(hooksconfig: Mapping[str, Any], specpath: Path) -> tuple[Spec | None, str]:
    """The Spec to embed (None when disabled) and a sentence saying where it came from."""
    options = hooksconfig.get("certembed")
    if options is not None:
        if not isinstance(options, Mapping):
            raise ConfigError.single(Location("hooksconfig", key="certembed"), "must be a dict")
        enabled = options.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError.single(
                Location("hooksconfig", key="certembed.enabled"), "must be True or False"
            )
        if not enabled:
            return None, "disabled by hooksconfig['certembed']['enabled']"
        if "config" in options:
            path = Path(str(options["config"]))
            path = path if path.is_absolute() else specpath / path
            return load_config(path), f"hooksconfig config file {path}"
        if set(options) - set(HOOK_KEYS):
            spec = TomlConfig.from_mapping(options, "hooksconfig['certembed']", specpath, HOOK_KEYS)
            return spec, "the .spec file's hooksconfig['certembed']"
    env = os.environ.get(CONFIG_ENV)
    if env:
        return load_config(Path(env)), f"{CONFIG_ENV}={env}"
    found = discover(specpath)
    if found is not None:
        return load_config(found), f"{found}"
    return default_spec(specpath), "the embedded default (certifi roots, fill-gaps)"


def current_inputs_key(specpath: Path) -> str:
    """The inputs' key of the payload the hook would build now, without a ``hooksconfig``:
    a prebuilt payload (``certembed build``), ``CERTEMBED_CONFIG``, the project's config in
    ``specpath``, or the embedded default (see :mod:`certembed.inputs`)."""
    import hashlib

    from certembed.bootstrap.render import PAYLOAD_MANIFEST
    from certembed.inputs import inputs_key

    prebuilt = os.environ.get(PAYLOAD_ENV)
    if prebuilt:
        manifest = Path(prebuilt) / PAYLOAD_MANIFEST
        return hashlib.sha256(manifest.read_bytes()).hexdigest()
    env = os.environ.get(CONFIG_ENV)
    if env:
        return inputs_key(load_config(Path(env)))
    found = discover(specpath)
    return inputs_key(load_config(found) if found else default_spec(specpath))


def payload_datas(payload: Path) -> list[tuple[str, str]]:
    """(source file, destination dir) pairs placing the payload under ``_MEIPASS/certembed``."""
    if not (payload / BOOTSTRAP_NAME).is_file():
        raise ConfigError.single(Location(str(payload)), f"no {BOOTSTRAP_NAME} in this payload")
    datas = []
    for path in sorted(payload.rglob("*")):
        if path.is_file():
            rel_parent = path.parent.relative_to(payload).as_posix()
            dest = DEST if rel_parent == "." else f"{DEST}/{rel_parent}"
            datas.append((str(path), dest))
    return datas


def collect(
    hooksconfig: Mapping[str, Any], specpath: Path, workpath: Path
) -> tuple[list[tuple[str, str]], str]:
    """Build (or reuse) the host payload and return its datas plus a log message."""
    prebuilt = os.environ.get(PAYLOAD_ENV)
    if prebuilt:
        return payload_datas(Path(prebuilt)), f"certembed: embedding prebuilt payload {prebuilt}"
    spec, origin = resolve(hooksconfig, specpath)
    if spec is None:
        return [], f"certembed: {origin}; the app gets no certembed bootstrap"
    from certembed.build import build_bundle_output

    target = host_target()
    result = build_bundle_output(spec, workpath / "certembed", (target,), hashed_dir=False)
    message = (
        f"certembed: embedding {len(result.bundle.anchors)} anchors (mode {spec.mode}) "
        f"from {origin}"
    )
    return payload_datas(result.out_dir / target), message
