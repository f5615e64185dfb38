"""Generated docs do not drift; documented behaviour matches the code."""

from __future__ import annotations

import re
from pathlib import Path

from certembed.config.reference import END, START, render
from certembed.errors import EXIT_CODES, BundleError, ConfigError, FreezeError

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_config_reference_is_current():
    text = (DOCS / "config.md").read_text()
    section = text[text.index(START) : text.index(END) + len(END)]
    assert section == render(), "run: python -m certembed.config.reference docs/config.md"


def test_documented_exit_codes_match_the_errors():
    cli = (DOCS / "cli.md").read_text()
    documented = {int(m) for m in re.findall(r"^\| (\d) \|", cli, re.M)}
    assert {ConfigError.exit_code, BundleError.exit_code, FreezeError.exit_code, 0, 1} <= documented
    assert documented <= set(EXIT_CODES)


def test_readme_quick_start_is_two_commands():
    readme = (DOCS.parent / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    assert "certembed build app.star" in commands[0] and "--self-test" in commands[0]
    assert "pytest" in commands[1]
    # Both run from the repository's root, in sequence in one shell: a `cd` stays in a subshell
    # (.ci/run runs command 1 from the built wheel, then checks it is still at the root).
    for command in commands:
        for part in re.split(r"&&|;|\|\|", command):
            if part.strip().startswith("cd "):
                assert re.search(r"\(\s*" + re.escape(part.strip()), command), command
    assert "pip install certembed` will" in readme  # not on PyPI yet: says so


def test_pyproject_lists_every_package():
    from certembed.config.toml import tomllib

    root = DOCS.parent
    listed = set(
        tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(root / "src").parts)
        for p in (root / "src").rglob("__init__.py")
    }
    assert listed == found | {"certembed._starlark"}
    assert (root / "starlark" / "certembed.bzl.j2").is_file()


def test_openssl_exit_codes_are_documented():
    """Every `certembed openssl` error class has its row in docs/openssl-upgrade.md, and the
    row's text names its rule."""
    from certembed import errors

    table = dict(
        re.findall(r"^\| (\d+) \| (.+) \|$", (DOCS / "openssl-upgrade.md").read_text(), re.M)
    )
    classes = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.OpenSSLError)
    ]
    assert len(classes) == 17
    assert {str(cls.exit_code) for cls in classes} == set(table)
    assert "architecture" in table[str(errors.ArchMismatch.exit_code)]
    assert "onefile" in table[str(errors.OnefileTarget.exit_code)]
    assert "post-check" in table[str(errors.PostCheckFailed.exit_code)]
    assert "end of life" in table[str(errors.SourceEndOfLife.exit_code)]
    assert "cannot be moved" in table[str(errors.TargetBusy.exit_code)]
    assert {cls.exit_code for cls in classes} <= set(errors.EXIT_CODES)
