"""Bad input is a feature: each case checks exit code, message and untouched earlier output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from certembed.cli import main
from tests.support.bad_input import CASES, materialize, star
from tests.support.certs import der, make_cert, pem
from tests.support.env import scrubbed_env


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(tmp_path, monkeypatch, capsys, case):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["build", "--no-freeze", "-q", "-o", str(out)]) == 0  # earlier good output
    before = _snapshot(out)
    materialize(tmp_path, case)
    capsys.readouterr()
    code = main(["build", case.config, "-q", "--no-freeze", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == case.code, err
    for needle in case.needles:
        assert needle in err, f"{needle!r} not in:\n{err}"
    assert _snapshot(out) == before, "a failed build changed the previous output"
    leftovers = [p.name for p in tmp_path.iterdir() if ".staging-" in p.name or ".old-" in p.name]
    assert leftovers == []


def test_der_and_duplicates_are_accepted(tmp_path, monkeypatch, capsys):
    cert = make_cert("Dup Root")
    (tmp_path / "a.der").write_bytes(der(cert))
    (tmp_path / "b.pem").write_bytes(pem(cert))
    (tmp_path / "app.star").write_text(
        star("pem_file('a.der'), pem_file('b.pem', trust='fallback')")
    )
    monkeypatch.chdir(tmp_path)
    assert main(["build", "app.star", "--no-freeze", "--json", "-o", "out"]) == 0
    import json

    summary = json.loads(capsys.readouterr().out)
    assert summary["certificates"] == 1
    assert summary["duplicates_removed"] == 1
    assert summary["always"] == 1  # the stronger role wins for a duplicate


def test_console_script_exit_code_and_json_error(tmp_path):
    (tmp_path / "app.star").write_text("certembed(mode = 'nope')\n")
    exe = Path(sys.executable).with_name("certembed")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "certembed"]
    proc = subprocess.run(
        [*argv, "build", "app.star", "--json", "--no-freeze"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=scrubbed_env(),
    )
    assert proc.returncode == 2
    assert "app.star:1:10: mode: 'nope' is not one of" in proc.stderr
    import json

    assert json.loads(proc.stdout)["error"]["exit_code"] == 2
    assert not (tmp_path / "build").exists()
    assert os.listdir(tmp_path) == ["app.star"]
