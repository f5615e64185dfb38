"""What ``hook-_ssl.py`` does, kept out of the hook file so it can be imported and tested.

Configuration: :func:`certembed.integrations.resolve.resolve` decides it, as for every
integration (a prebuilt payload from ``certembed build``; ``hooksconfig={"certembed": {...}}`` in a
.spec, TOML keys plus ``enabled`` and ``config``; ``CERTEMBED_CONFIG``; the project's config
discovered in the spec's directory; the embedded default, certifi roots in fill-gaps).

``CERTEMBED_DISABLE=1`` turns the hook off for one build. :func:`run` never lets an exception
out: a build that asked for certembed stops with one :class:`HookError` (what failed, which
config, how to fix it, how to freeze without certembed); a build that asked for nothing
(no hooksconfig, no ``CERTEMBED_CONFIG``, no config file) freezes without certembed and a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from certembed.config.model import Spec
from certembed.errors import (
    ConfigError,
    FreezeError,
    Location,
)
from certembed.integrations import resolve as resolution
from certembed.integrations.resolve import (
    DISABLE_ENV,
    TOOL_KEYS,
    ToolConfig,
    disabled_by_env,
)
from certembed.payload import BOOTSTRAP_NAME, host_target

DEST = "certembed"  # the fixed name under sys._MEIPASS
HOOK_KEYS = TOOL_KEYS
HOOKSCONFIG_LABEL = "hooksconfig['certembed'] in the .spec file"
TURN_OFF = (
    f"to freeze without certembed, set {DISABLE_ENV}=1 for this build, or put "
    "hooksconfig={'certembed': {'enabled': False}} in the .spec file's Analysis"
)


class HookError(FreezeError):
    """certembed's PyInstaller hook cannot prepare this build; the message says all."""


def _tool(hooksconfig: Mapping[str, Any]) -> ToolConfig:
    return ToolConfig(HOOKSCONFIG_LABEL, hooksconfig.get("certembed"))


def asked_by(hooksconfig: Mapping[str, Any], specpath: Path) -> str | None:
    """What in this build asks for certembed (a phrase), or None when nothing does."""
    return resolution.asked_by(specpath, _tool(hooksconfig))


def failure_message(exc: BaseException, origin: str) -> str:
    """One build error: what failed, which config, how to fix it, how to turn certembed off."""
    return resolution.failure_message(exc, origin, TURN_OFF, "PyInstaller's work directory")


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
    """The Spec to embed (None when disabled) and a sentence saying where it came from
    (the prebuilt payload and CERTEMBED_DISABLE are handled by the caller)."""
    if "certembed" in hooksconfig and not isinstance(hooksconfig["certembed"], Mapping):
        raise ConfigError.single(Location("hooksconfig", key="certembed"), "must be a dict")
    found = resolution.resolve(
        specpath, _tool(hooksconfig), allow_prebuilt=False, honour_disable=False
    )
    if found.step == "disabled":
        return None, "disabled by hooksconfig['certembed']['enabled']"
    if found.step == "tool" and found.config_path is not None:
        return found.spec, f"hooksconfig config file {found.config_path}"
    if found.step == "tool":
        return found.spec, "the .spec file's hooksconfig['certembed']"
    return found.spec, found.origin


def current_inputs_key(specpath: Path) -> str:
    """The inputs' key of the payload the hook would build now, without a ``hooksconfig``:
    a prebuilt payload (``certembed build``), ``CERTEMBED_CONFIG``, the project's config in
    ``specpath``, or the embedded default (see :mod:`certembed.inputs`)."""
    import hashlib

    from certembed.inputs import inputs_key
    from certembed.payload import PAYLOAD_MANIFEST

    found = resolution.resolve(specpath, honour_disable=False)
    if found.payload is not None:
        manifest = found.payload / PAYLOAD_MANIFEST
        return hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert found.spec is not None
    return inputs_key(found.spec)


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
    prebuilt = resolution.prebuilt_payload()
    if prebuilt is not None:
        return payload_datas(prebuilt), f"certembed: embedding prebuilt payload {prebuilt}"
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
