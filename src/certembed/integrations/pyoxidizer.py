"""``certembed pyoxidizer``: render a ``load()``-able PyOxidizer rule with everything inlined.

The rule (template: top-level ``starlark/certembed.bzl.j2``) carries the rendered bootstrap, the
anchors as an in-memory module, a ``sitecustomize`` and the file payload, all as string
constants, in the Starlark subset that PyOxidizer 0.24 (starlark-rust 0.3.2) and starlark-go
both accept. Output is deterministic; ``--check`` reports a stale or broken rule.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import jinja2

from certembed import __version__
from certembed.bootstrap.render import render_payload
from certembed.bundle.assemble import assemble
from certembed.bundle.model import Bundle
from certembed.bundle.render import bundle_pem
from certembed.config.model import Spec
from certembed.errors import ConfigError, Location
from certembed.payload import BOOTSTRAP_NAME, DATA_DIGESTS, DATA_DIR_NAME

RULE_NAME = "certembed.bzl"
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}

RECIPE_NAME = "recipe.bzl"  # in certembed._starlark: the pyoxidizer.bzl that docs and CLI show


def recipe() -> str:
    """The full ``pyoxidizer.bzl`` that ``certembed pyoxidizer`` prints and docs/pyoxidizer.md
    shows (generated from this by :mod:`certembed.docgen.pyoxidizer_recipe`)."""
    return files("certembed._starlark").joinpath(RECIPE_NAME).read_text(encoding="utf-8")


def bzl_string(text: str) -> str:
    """A Starlark string literal using only the escapes both interpreters accept."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif " " <= char <= "~":
            out.append(char)
        else:
            raise ConfigError.single(
                Location(RULE_NAME),
                f"cannot inline character {char!r}: only printable ASCII, newline and tab",
            )
    return '"' + "".join(out) + '"'


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _environment() -> jinja2.Environment:
    folder = files("certembed._starlark")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["bzl"] = bzl_string
    return env


def inline_module(payload_files: dict[str, bytes]) -> str:
    """``_certembed_inline``: the role PEMs as a Python module (anchors with no file on disk)."""
    parts = [
        '"""certembed anchors for in-memory hosts (generated; do not edit)."""',
        "",
        "FILES = {",
    ]
    for name, data in payload_files.items():
        if "/" in name or name == DATA_DIGESTS:
            continue  # hashed directories (and their digests) are for files on disk only
        parts.append(f'    "{name}": """{data.decode("ascii")}""",')
    parts += [
        "}",
        "",
        "",
        "def files():",
        '    return {name: text.encode("ascii") for name, text in FILES.items()}',
        "",
    ]
    return "\n".join(parts)


@dataclass(frozen=True)
class Rule:
    text: str
    payload_sha256: str
    bundle_sha256: str


def _payload_digest(
    bootstrap: str, data: dict[str, bytes], sitecustomize: str, runtime: str
) -> str:
    """What the rule's behaviour depends on (bootstrap with its policy, its runtime, anchors,
    start-up module), never the config file's bytes: a comment-only config edit gives the same
    digest."""
    digest = hashlib.sha256()
    for name, content in [
        ("bootstrap", bootstrap.encode("utf-8")),
        ("runtime", runtime.encode("utf-8")),
        ("sitecustomize", sitecustomize.encode("utf-8")),
        *sorted(data.items()),
    ]:
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def render_rule(spec: Spec, target: str, bundle: Bundle | None = None) -> Rule:
    bundle = bundle or assemble(spec.bundle, relax_x509_strict=spec.relax_x509_strict)
    digest = hashlib.sha256(bundle_pem(bundle).encode("utf-8")).hexdigest()
    payload = render_payload(spec, bundle, target, digest)
    env = _environment()
    sitecustomize = env.get_template("sitecustomize.py.j2").render()
    data_files = []
    for name, data in payload.files.items():
        directory, _, filename = f"{DATA_DIR_NAME}/{name}".rpartition("/")
        data_files.append((directory, filename, _lines(data.decode("ascii"))))
    payload_sha256 = _payload_digest(
        payload.bootstrap, payload.files, sitecustomize, payload.runtime
    )
    text = env.get_template("certembed.bzl.j2").render(
        version=__version__,
        target=target,
        config_name=spec.config_path.name if spec.config_path else "the embedded default",
        payload_sha256=payload_sha256,
        bundle_sha256=digest,
        bootstrap_lines=_lines(payload.bootstrap),
        runtime_lines=_lines(payload.runtime),
        inline_lines=_lines(inline_module(payload.files)),
        sitecustomize_lines=_lines(sitecustomize),
        data_files=data_files,
    )
    return Rule(text, payload_sha256, digest)


def resolve_spec(config: str | None, project_dir: Path) -> Spec:
    """The config ``certembed pyoxidizer [CONFIG]`` renders, decided by the one resolution every
    integration uses (:mod:`certembed.integrations.resolve`): CONFIG (the tool's own config),
    else ``CERTEMBED_CONFIG``, else the config discovered in ``project_dir``, else the default.
    The user ran certembed to get a rule: ``CERTEMBED_DISABLE`` and a prebuilt payload do not
    apply."""
    from certembed.integrations.resolve import ToolConfig, resolve

    tool = ToolConfig("certembed pyoxidizer CONFIG", {"config": config}) if config else None
    found = resolve(project_dir, tool, allow_prebuilt=False, honour_disable=False)
    assert found.spec is not None
    return found.spec


def check_rule(path: Path, expected: Rule) -> None:
    """Raise ConfigError when ``path`` is missing, is not valid Starlark, or is stale.

    Stale means the rule's text differs from what the config gives now; that text depends on
    the payload (bundle, policy, bootstrap) and the target, not on the config file's bytes.
    """
    from certembed.config.engines import BuiltinRaised, select

    if not path.is_file():
        raise ConfigError.single(
            Location(str(path)),
            f'does not exist, and pyoxidizer.bzl\'s load("{RULE_NAME}", ...) needs it; write it '
            "with: certembed pyoxidizer",
        )
    current = path.read_text(encoding="utf-8")
    try:
        select().run(current, path.name, {})
    except ConfigError as exc:
        first = exc.diagnostics[0]
        raise ConfigError.single(
            first.location,
            f"the generated rule is not valid Starlark ({first.message}); "
            "regenerate it with certembed pyoxidizer",
        ) from None
    except BuiltinRaised as exc:  # pragma: no cover - no builtins are given
        raise exc.original from None
    if current != expected.text:
        recorded = _recorded(current)
        raise ConfigError.single(
            Location(path.name),
            "stale: generated for payload "
            f"{recorded.get('CERTEMBED_PAYLOAD_SHA256', '?')[:16]} (bundle "
            f"{recorded.get('CERTEMBED_BUNDLE_SHA256', '?')[:16]}, target "
            f"{recorded.get('CERTEMBED_TARGET', '?')}), but the config now gives payload "
            f"{expected.payload_sha256[:16]} (bundle {expected.bundle_sha256[:16]}); "
            "run certembed pyoxidizer",
        )


def missing_rule(directory: Path) -> str | None:
    """A sentence when ``directory/pyoxidizer.bzl`` loads certembed.bzl but it is not there
    (pyoxidizer itself would only report an I/O error)."""
    project = directory / "pyoxidizer.bzl"
    try:
        text = project.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if f'"{RULE_NAME}"' not in text or (directory / RULE_NAME).is_file():
        return None
    return (
        f"{project} loads {RULE_NAME}, which does not exist next to it; write it with "
        f"'certembed pyoxidizer --out {directory}' before running pyoxidizer"
    )


def _recorded(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition(" = ")
        if sep and name.startswith("CERTEMBED_") and value.startswith('"'):
            out[name] = value.strip('"')
    return out


def write_rule(out_dir: Path, rule: Rule) -> tuple[Path, bool]:
    """Write ``out_dir/certembed.bzl`` atomically; return (path, changed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RULE_NAME
    if path.is_file() and path.read_text(encoding="utf-8") == rule.text:
        return path, False
    fd, tmp = tempfile.mkstemp(prefix=".certembed.bzl.", dir=out_dir)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(rule.text)
    Path(tmp).chmod(0o644)
    Path(tmp).replace(path)
    return path, True


__all__ = [
    "BOOTSTRAP_NAME",
    "RULE_NAME",
    "check_rule",
    "recipe",
    "render_rule",
    "write_rule",
]
