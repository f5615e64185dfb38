"""`certembed inspect` reads every output certembed makes (the frozen ones: test_pyinstaller)."""

from __future__ import annotations

import json
from pathlib import Path

from certembed.cli import main
from certembed.config.engines import select
from tests.support.project import toml_config

kinds_seen: dict[str, str] = {}


def _rows(capsys, path: Path) -> list[dict[str, str]]:
    assert main(["inspect", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    summary = data["summary"]
    assert summary["certificates"] == len(data["certificates"])
    kinds_seen[summary["kind"]] = summary["read"]
    return data["certificates"]


def _roles(rows: list[dict[str, str]]) -> dict[str, str]:
    return {r["subject"].split("CN=")[-1]: r["trust"] for r in rows}


def test_build_dir_payload_dir_rule_and_file_layout(tmp_path, ca_dir, monkeypatch, capsys):
    toml_config(tmp_path, ca_dir)  # fallback.pem as fallback, corp.pem as always
    monkeypatch.chdir(tmp_path)
    assert main(["build", "certembed.toml", "-q", "-o", "out"]) == 0
    assert main(["pyoxidizer", "certembed.toml"]) == 0
    capsys.readouterr()
    expected = _roles(_rows(capsys, tmp_path / "out"))
    assert sorted(expected.values()) == ["always", "fallback"]
    # a payload directory alone (what the PyInstaller hook embeds): its _certembed_manifest.json
    assert _roles(_rows(capsys, tmp_path / "out" / "linux")) == expected
    # the PyOxidizer rule itself
    assert _roles(_rows(capsys, tmp_path / "certembed.bzl")) == expected
    # a file-layout PyOxidizer install: what certembed_manifest() writes, no manifest beside it
    captured: list = []
    select().run(
        (tmp_path / "certembed.bzl").read_text() + '\ncapture(certembed_files("lib"))\n',
        "certembed.bzl",
        {"capture": captured.append},
    )
    install = tmp_path / "install"
    for directory, name, content in captured[0]:
        (install / directory).mkdir(parents=True, exist_ok=True)
        (install / directory / name).write_text(content)
    assert not list(install.rglob("*.json"))
    rows = _rows(capsys, install)
    assert _roles(rows) == expected
    assert {r["source"] for r in rows} == {"lib"}
    _rows(capsys, tmp_path / "out" / "manifest.json")
    _rows(capsys, ca_dir / "corp.pem")
    assert kinds_seen == {
        "build": str(tmp_path / "out" / "manifest.json"),
        "payload": str(tmp_path / "out" / "linux" / "_certembed_manifest.json"),
        "pyoxidizer-rule": str(tmp_path / "certembed.bzl"),
        "pyoxidizer-files": str(install / "lib" / "_certembed_data"),
        "manifest": str(tmp_path / "out" / "manifest.json"),
        "pem": str(ca_dir / "corp.pem"),
    }


def test_text_output_ends_with_a_summary(tmp_path, ca_dir, monkeypatch, capsys):
    toml_config(tmp_path, ca_dir)  # fallback.pem as fallback, corp.pem as always
    monkeypatch.chdir(tmp_path)
    assert main(["build", "certembed.toml", "-q", "-o", "out"]) == 0
    capsys.readouterr()
    assert main(["inspect", "out/linux"]) == 0
    summary = capsys.readouterr().out.splitlines()[-3:]
    assert summary[0] == (f"read {Path('out/linux/_certembed_manifest.json')}: certembed payload")
    assert summary[1].startswith("2 certificates (1 always, 1 fallback); sources: pem_file:")
    assert summary[2].startswith("none expired; the first expiry is ")


def test_help_names_every_input_it_reads(capsys):
    from typing import get_args

    from certembed.inspect import KINDS, InputKind

    assert list(KINDS) == list(get_args(InputKind))  # every kind inspect returns has its text
    try:
        main(["inspect", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for _, help_text in KINDS.values():
        assert " ".join(help_text.split()) in text
    for word in ("onedir", "onefile", "certembed.bzl", "PEM or DER", "manifest.json", "summary"):
        assert word in text


def test_a_directory_without_certembed_output_is_named(tmp_path, capsys):
    (tmp_path / "readme.txt").write_text("nothing here\n")
    assert main(["inspect", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no certembed output here" in err and "_certembed_manifest.json" in err
