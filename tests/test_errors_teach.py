"""Errors that teach: one clear sentence, the right exit code, what to do next."""

from __future__ import annotations

import json

from certembed.cli import main
from certembed.errors import FreezeError, PathNotFoundError


def test_freeze_failure_is_one_sentence_with_exit_4(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "certembed.toml").write_text(
        '[app]\nname = "hello"\nscript = "app.py"\nargs = ["--no-such-pyinstaller-option"]\n'
    )
    code = main(["build", "-q", "--json", "-o", "out", "--dist", "dist"])
    captured = capsys.readouterr()
    assert code == FreezeError.exit_code == 4
    line = next(x for x in captured.err.splitlines() if x.startswith("certembed: freeze error"))
    assert line == (
        "certembed: freeze error: PyInstaller could not freeze hello from app.py "
        "(it exited with status 2), and its log above says why."
    )
    assert json.loads(captured.out)["error"]["exit_code"] == 4


def test_missing_paths_have_their_own_exit_code_and_near_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    assert main(["inspect", "manifest.jsn"]) == PathNotFoundError.exit_code == 8
    err = capsys.readouterr().err
    assert err.strip() == (
        "certembed: not found: manifest.jsn does not exist (did you mean 'manifest.json'?)"
    )
    assert "configuration error" not in err
    assert main(["build", "conf/app.star", "--json"]) == 8
    captured = capsys.readouterr()
    assert "there is no directory conf" in captured.err
    assert json.loads(captured.out)["error"]["type"] == "PathNotFoundError"


def test_build_reports_a_missing_certembed_bzl(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyoxidizer.bzl").write_text(
        'load("certembed.bzl", "certembed_add")\n\ndef make_exe():\n    pass\n'
    )
    assert main(["build", "-q", "--no-freeze", "-o", "out"]) == 0
    err = capsys.readouterr().err
    assert "pyoxidizer.bzl loads certembed.bzl, which does not exist next to it" in err
    assert "certembed pyoxidizer --out" in err
    assert main(["pyoxidizer", "--check"]) == 2
    assert 'pyoxidizer.bzl\'s load("certembed.bzl", ...) needs it' in capsys.readouterr().err
    assert main(["pyoxidizer"]) == 0
    capsys.readouterr()
    assert main(["build", "-q", "--no-freeze", "-o", "out"]) == 0
    assert "certembed.bzl" not in capsys.readouterr().err  # written now: nothing to say
