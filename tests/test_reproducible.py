"""Reproducible builds: one project, checked out anywhere and built by anyone, gives one output.

The way reprotest varies a build: a different directory (and a longer path), umask, time zone,
locale, user name and home, and the order in which the input files were created. The TOML and
the Starlark form of one project, in two different directories, give the same bundle bytes.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.support.certs import make_cert, pem
from tests.support.env import scrubbed_env

TOML = """\
targets = ["linux", "windows"]

[[source]]
kind = "certifi"

[[source]]
kind = "pem_file"
path = "certs/corp-root.pem"
trust = "always"

[[source]]
kind = "pem_dir"
path = "certs/extra"
"""
STAR = """\
certembed(
    bundle = ca_bundle(sources = [
        certifi(),
        pem_file("certs/corp-root.pem", trust = "always"),
        pem_dir("certs/extra"),
    ]),
    targets = ["linux", "windows"],
)
"""
CERTS = {
    "certs/corp-root.pem": pem(make_cert("Corp Root", serial=11)),
    "certs/extra/one.pem": pem(make_cert("Extra One", serial=12)),
    "certs/extra/b/two.crt": pem(make_cert("Extra Two", serial=13)),
    "certs/extra/a/three.cer": pem(make_cert("Extra Three", serial=14)),
}


def _project(root: Path, config_name: str, text: str, reverse: bool = False) -> Path:
    names = sorted(CERTS, reverse=reverse)  # file-system order differs between the two copies
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(CERTS[name])
    (root / config_name).write_text(text)
    return root


def _build(project: Path, config: str, umask: int, **env: str) -> Path:
    """``certembed build`` into ``out/`` and ``certembed pyoxidizer`` next to the config."""
    out = project / "out"

    def child() -> None:
        os.umask(umask)

    for argv in (
        ["build", config, "-o", str(out), "-q"],
        ["pyoxidizer", config],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "certembed", *argv],
            cwd=project,
            env=scrubbed_env(**env),
            capture_output=True,
            text=True,
            preexec_fn=child,
        )
        assert proc.returncode == 0, proc.stderr
    return out


def _tree(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Relative path -> (permission bits, bytes) of every file and directory of the build
    output, plus the PyOxidizer rule written next to the config."""
    rule = folder.parent / "certembed.bzl"
    out: dict[str, tuple[int, bytes]] = {
        "../certembed.bzl": (stat.S_IMODE(rule.stat().st_mode), rule.read_bytes())
    }
    for path in sorted(folder.rglob("*")):
        mode = stat.S_IMODE(path.stat().st_mode)
        out[path.relative_to(folder).as_posix()] = (
            mode,
            path.read_bytes() if path.is_file() else b"<dir>",
        )
    return out


def test_varied_builds_give_identical_bytes_and_modes(tmp_path):
    one = _project(tmp_path / "a", "certembed.toml", TOML)
    two = _project(
        tmp_path / "some much longer" / "checkout dir" / "b", "certembed.toml", TOML, reverse=True
    )
    first = _build(one, "certembed.toml", 0o022, TZ="UTC", LC_ALL="C.UTF-8", USER="alice")
    second = _build(
        two,
        "certembed.toml",
        0o077,
        TZ="Asia/Kathmandu",
        LC_ALL="C",
        LANG="C",
        USER="bob",
        LOGNAME="bob",
        HOME=str(tmp_path),
    )
    a, b = _tree(first), _tree(second)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"{name} differs between the two builds"
    assert a["../certembed.bzl"][1].count(b"BEGIN CERTIFICATE") > 100  # the PyOxidizer rule
    modes = {mode for mode, _ in a.values()}
    assert modes == {0o644, 0o755}  # not the builder's umask
    for folder in (one, two):  # the build directory ships nowhere
        needle = str(folder).encode()
        leaks = [name for name, (_, data) in _tree(folder / "out").items() if needle in data]
        assert not leaks, f"{folder} appears in {leaks}"
    header = (first / "cacert.pem").read_text()
    assert "# Source: pem_file:certs/corp-root.pem" in header
    assert "# Source: pem_dir:certs/extra" in header


def test_toml_and_starlark_forms_in_different_dirs_give_the_same_bundle(tmp_path):
    toml = _build(_project(tmp_path / "toml-form", "certembed.toml", TOML), "certembed.toml", 0o22)
    star = _build(
        _project(tmp_path / "elsewhere" / "star-form", "app.star", STAR, reverse=True),
        "app.star",
        0o22,
    )
    a, b = _tree(toml), _tree(star)
    named = [n for n in a if n.endswith(("manifest.json", ".bzl"))]
    assert len(named) == 4  # manifests (top-level + per target) and the rule name the config
    for name in named:
        assert a.pop(name)[1] != b.pop(name)[1]
    assert a == b  # cacert.pem, certs/, bootstraps, data files: byte-identical
    assert a["cacert.pem"][1].count(b"-----BEGIN CERTIFICATE-----") > 100
