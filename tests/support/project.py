"""Build a certembed output from a small generated config, through the real API."""

from __future__ import annotations

import shutil
from pathlib import Path

from certembed.build import BuildResult, build_bundle_output
from certembed.cli import main
from certembed.config import load_config


def toml_config(
    folder: Path,
    ca_dir: Path,
    mode: str = "fill-gaps",
    extra: str = "",
    fallback: str = "fallback.pem",
    corp: str | None = "corp.pem",
    targets: tuple[str, ...] = ("linux",),
) -> Path:
    target_list = ", ".join(f'"{t}"' for t in targets)
    lines = [
        f'mode = "{mode}"',
        f"targets = [{target_list}]",
        extra,
        "",
        "[[source]]",
        'kind = "pem_file"',
        f'path = "{(ca_dir / fallback).as_posix()}"',
        'trust = "fallback"',
    ]
    if corp:
        lines += [
            "",
            "[[source]]",
            'kind = "pem_file"',
            f'path = "{(ca_dir / corp).as_posix()}"',
            'trust = "always"',
        ]
    path = folder / "certembed.toml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def build(folder: Path, ca_dir: Path, **kwargs: object) -> BuildResult:
    config = toml_config(folder, ca_dir, **kwargs)  # type: ignore[arg-type]
    return build_bundle_output(load_config(config), folder / "out")


def corp_payload(folder: Path, ca_dir: Path, extra: str = "") -> Path:
    """An embedded-only Linux payload holding only ``corp.pem`` (trust = always), built through
    the CLI (``certembed build --no-freeze``); ``extra`` is a top-level config line."""
    config = folder / "certembed.toml"
    folder.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'mode = "embedded-only"\ntargets = ["linux"]\n{extra}\n'
        f'[[source]]\nkind = "pem_file"\npath = "{(ca_dir / "corp.pem").as_posix()}"\n'
        'trust = "always"\n'
    )
    assert main(["build", str(config), "-o", str(folder / "out"), "-q", "--no-freeze"]) == 0
    return folder / "out" / "linux"


def freezer_project(folder: Path, ca_dir: Path, app: Path, toml: str) -> Path:
    """A project folder to freeze: ``certs/`` with the session's fallback and corp CAs, ``app``
    as ``app.py`` and ``toml`` as ``certembed.toml``."""
    (folder / "certs").mkdir(parents=True)
    for name in ("fallback", "corp"):
        shutil.copy(ca_dir / f"{name}.pem", folder / "certs" / f"{name}.pem")
    shutil.copy(app, folder / "app.py")
    (folder / "certembed.toml").write_text(toml)
    return folder
