"""Which certembed configuration a freeze embeds: decided here, once, for every integration.

PyInstaller's hook, Nuitka's plugin, cx_Freeze's ``build_exe`` and ``certembed pyoxidizer`` all
call :func:`resolve`. First match wins:

1. ``CERTEMBED_DISABLE=1`` (or true/yes/on): no certembed for this build (``step="disabled"``);
2. a prebuilt payload: ``_CERTEMBED_PAYLOAD`` names a payload directory that ``certembed build``
   already rendered (``step="prebuilt"``; ``payload`` set, ``spec`` None);
3. the tool's own config (:class:`ToolConfig`: PyInstaller's ``hooksconfig["certembed"]``, a
   Nuitka plugin option, cx_Freeze's ``build_exe --certembed-config``, the config argument of
   ``certembed pyoxidizer``): ``{"enabled": False}`` disables (``step="disabled"``),
   ``{"config": PATH}`` names a file (relative to the project directory), any other keys are an
   inline TOML-shaped table (``step="tool"``);
4. ``CERTEMBED_CONFIG`` naming a config file (``step="env"``);
5. the project's config discovered in the project directory: ``certembed.star``,
   ``certembed.toml``, ``pyproject.toml`` with ``[tool.certembed]`` (``step="discovered"``);
6. the embedded default, certifi roots in fill-gaps (``step="default"``, ``asked`` False).

Each integration decides what "nothing asked" means for it (``Resolution.asked`` False): the
PyInstaller hook embeds the default, cx_Freeze leaves the build exactly as cx_Freeze makes it.
Errors are raised as they are (:class:`~certembed.errors.ConfigError`, ``PathNotFoundError``,
``OSError``...); :func:`asked_by` says, without raising, what in a build asks for certembed, so
that a caller can stop a build that asked and let one that did not go on, and
:func:`failure_message` words that stop the same way for every freezer. :func:`host_payload`
turns a resolution into the payload directory to embed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certembed.config import discover, load_config
from certembed.config.model import Spec, default_spec
from certembed.errors import (
    BundleError,
    CertembedError,
    ConfigError,
    EngineMissingError,
    Location,
)

PAYLOAD_ENV = "_CERTEMBED_PAYLOAD"  # set by `certembed build` to a payload it already built
CONFIG_ENV = "CERTEMBED_CONFIG"
DISABLE_ENV = "CERTEMBED_DISABLE"
TOOL_KEYS = ("enabled", "config")  # keys of a ToolConfig that are not TOML config keys
STEPS = ("disabled", "prebuilt", "tool", "env", "discovered", "default")


@dataclass(frozen=True)
class ToolConfig:
    """certembed options given through the freezer's own configuration.

    ``label``: how messages name it, e.g. ``"hooksconfig['certembed'] in the .spec file"``;
    ``options``: ``{"enabled": bool, "config": path}`` and/or TOML config keys (``mode``,
    ``source``...). ``options=None`` means the tool gave nothing.
    """

    label: str
    options: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Resolution:
    """The answer of :func:`resolve`.

    ``step``: one of :data:`STEPS`; ``spec``: the validated config to render (None for
    ``disabled`` and ``prebuilt``); ``payload``: the prebuilt payload directory (``prebuilt``
    only); ``origin``: a phrase for messages ("CERTEMBED_CONFIG=/x/app.star", "the embedded
    default (certifi roots, fill-gaps)"...); ``asked``: whether something in this build asks for
    certembed (False only for ``default``).
    """

    step: str
    origin: str
    spec: Spec | None = None
    payload: Path | None = None
    asked: bool = True
    config_path: Path | None = field(default=None, compare=False)


def disabled_by_env(environ: Mapping[str, str] | None = None) -> bool:
    """``CERTEMBED_DISABLE`` is set to 1/true/yes/on."""
    env = os.environ if environ is None else environ
    return env.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def prebuilt_payload(environ: Mapping[str, str] | None = None) -> Path | None:
    """The payload directory ``certembed build`` rendered for this freeze, if it set one."""
    env = os.environ if environ is None else environ
    value = env.get(PAYLOAD_ENV)
    return Path(value) if value else None


def _tool_options(tool: ToolConfig | None) -> Mapping[str, Any] | None:
    if tool is None or tool.options is None:
        return None
    if not isinstance(tool.options, Mapping):
        raise ConfigError.single(Location(tool.label), "must be a dict")
    return tool.options


def asked_by(
    project_dir: Path,
    tool: ToolConfig | None = None,
    environ: Mapping[str, str] | None = None,
    allow_prebuilt: bool = True,
) -> str | None:
    """What in this build asks for certembed (a phrase), or None when nothing does. Never
    raises: an unreadable project directory counts as asking (its config is named)."""
    env = os.environ if environ is None else environ
    if allow_prebuilt and env.get(PAYLOAD_ENV):
        return f"certembed build (prebuilt payload {env[PAYLOAD_ENV]})"
    if tool is not None and tool.options is not None:
        return tool.label
    if env.get(CONFIG_ENV):
        return f"{CONFIG_ENV}={env[CONFIG_ENV]}"
    try:
        found = discover(project_dir)
    except Exception:
        return f"the certembed config in {project_dir}"
    return None if found is None else str(found)


def resolve(
    project_dir: Path,
    tool: ToolConfig | None = None,
    environ: Mapping[str, str] | None = None,
    allow_prebuilt: bool = True,
    honour_disable: bool = True,
) -> Resolution:
    """Decide the configuration of one build (see the module docstring for the order).

    ``project_dir``: where relative tool paths start and where a config is discovered (the
    .spec file's directory for PyInstaller, the working directory for cx_Freeze, Nuitka and
    ``certembed pyoxidizer``). ``environ``: the environment to read (default ``os.environ``).
    ``allow_prebuilt=False`` ignores ``_CERTEMBED_PAYLOAD`` (PyOxidizer renders its own rule);
    ``honour_disable=False`` ignores ``CERTEMBED_DISABLE`` (a command the user ran to get
    certembed output). Raises what loading the config raises.
    """
    env = os.environ if environ is None else environ
    if honour_disable and disabled_by_env(env):
        return Resolution("disabled", f"disabled by {DISABLE_ENV}=1")
    payload = prebuilt_payload(env) if allow_prebuilt else None
    if payload is not None:
        return Resolution("prebuilt", f"prebuilt payload {payload}", payload=payload)
    options = _tool_options(tool)
    if tool is not None and options is not None:
        enabled = options.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError.single(Location(tool.label, key="enabled"), "must be True or False")
        if not enabled:
            return Resolution("disabled", f"disabled by {tool.label}")
        if "config" in options:
            path = Path(str(options["config"]))
            path = path if path.is_absolute() else project_dir / path
            spec = load_config(path)
            return Resolution("tool", f"{tool.label}: config file {path}", spec, None, True, path)
        if set(options) - set(TOOL_KEYS):
            from certembed.config.toml import TomlConfig

            spec = TomlConfig.from_mapping(options, tool.label, project_dir, TOOL_KEYS)
            return Resolution("tool", tool.label, spec)
    value = env.get(CONFIG_ENV)
    if value:
        spec = load_config(Path(value))
        return Resolution("env", f"{CONFIG_ENV}={value}", spec, None, True, Path(value))
    found = discover(project_dir)
    if found is not None:
        return Resolution("discovered", str(found), load_config(found), None, True, found)
    return Resolution(
        "default",
        "the embedded default (certifi roots, fill-gaps)",
        default_spec(project_dir),
        asked=False,
    )


def host_payload(found: Resolution, out_dir: Path) -> tuple[Path, str]:
    """The host payload directory to embed for ``found`` and a sentence for the build log: the
    prebuilt payload as it is, else ``found.spec`` rendered for the build machine's OS into
    ``out_dir`` (published atomically; no top-level hashed dir). ``found`` must not be
    ``disabled``. Raises what building raises (a missing bootstrap in a prebuilt payload is a
    ConfigError naming it)."""
    from certembed.payload import BOOTSTRAP_NAME

    if found.payload is not None:
        if not (found.payload / BOOTSTRAP_NAME).is_file():
            raise ConfigError.single(
                Location(str(found.payload)), f"no {BOOTSTRAP_NAME} in this payload"
            )
        return found.payload, f"embedding prebuilt payload {found.payload}"
    if found.spec is None:
        raise ValueError(f"a {found.step} resolution has no payload")
    from certembed.build import build_bundle_output
    from certembed.payload import host_target

    target = host_target()
    result = build_bundle_output(found.spec, out_dir, (target,), hashed_dir=False)
    message = (
        f"embedding {len(result.bundle.anchors)} anchors (mode {found.spec.mode}) "
        f"from {found.origin}"
    )
    return result.out_dir / target, message


def how_to_fix(exc: BaseException, workdir: str = "the freezer's work directory") -> str:
    """The "fix:" line of :func:`failure_message` for ``exc``."""
    if isinstance(exc, EngineMissingError):
        return "install one of the Starlark engines named above, or write the config as TOML"
    if isinstance(exc, ConfigError):
        return "correct the config at the position(s) named above"
    if isinstance(exc, BundleError):
        return "fix or remove the certificate named above"
    if isinstance(exc, CertembedError):
        return "see the message above"
    if isinstance(exc, OSError):
        return f"make the file readable and {workdir} writable"
    return (
        f"this is a bug in certembed ({type(exc).__name__}): please report it with the "
        "output of this build run with CERTEMBED_DEBUG=1"
    )


def failure_message(
    exc: BaseException,
    origin: str,
    turn_off: str,
    workdir: str = "the freezer's work directory",
) -> str:
    """The one message that stops a build which asked for certembed and cannot get it: what
    failed, which config (``origin``, e.g. from :func:`asked_by`), how to fix it, and how to
    freeze without certembed (``turn_off``, the freezer's own words). With ``CERTEMBED_DEBUG``
    set, the traceback follows. Integrations raise it as ``SystemExit`` (never a traceback)."""
    import traceback

    what = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, (CertembedError, OSError)):
        what = f"{type(exc).__name__}: {what}"
    lines = [
        "certembed cannot prepare this app's trust anchors, so the freeze stops here.",
        "  what failed: " + what.replace("\n", "\n    "),
        f"  config: {origin}",
        f"  fix: {how_to_fix(exc, workdir)}",
        f"  or: {turn_off}",
    ]
    if os.environ.get("CERTEMBED_DEBUG"):
        lines.append("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return "\n".join(lines)


__all__ = [
    "CONFIG_ENV",
    "DISABLE_ENV",
    "PAYLOAD_ENV",
    "STEPS",
    "Resolution",
    "ToolConfig",
    "asked_by",
    "disabled_by_env",
    "failure_message",
    "host_payload",
    "how_to_fix",
    "prebuilt_payload",
    "resolve",
]
