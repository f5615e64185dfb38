"""Every build says which config it used, and names config-like files it did not use."""

from __future__ import annotations

import json

from certembed.cli import main


def _build(capsys, *args: str) -> tuple[dict[str, object], str]:
    assert main(["build", "--json", "--no-freeze", "-o", "out", *args]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_no_config_is_said_and_json_config_is_null(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.certembed]
    (tmp_path / "tasks.star").write_text("def f():\n    return 1\n")  # Starlark, not ours
    summary, err = _build(capsys)
    assert summary["config"] is None
    assert "certembed: no config: embedded default, certifi roots" in err
    assert "note:" not in err  # neither file looks like a certembed config


def test_an_undiscovered_app_star_is_named_with_how_to_pass_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.star").write_text('certembed(mode = "merge")\n')
    (tmp_path / "certembed-prod.toml").write_text('mode = "merge"\n')
    summary, err = _build(capsys)
    assert summary["config"] is None
    assert "no config: embedded default" in err
    assert (
        "note: app.star looks like a certembed config but is not used; "
        "to use it: certembed build app.star"
    ) in err
    assert "to use it: certembed build certembed-prod.toml" in err
    summary, err = _build(capsys, "app.star")
    assert summary["config"] == str(tmp_path / "app.star")
    assert "certembed: config: app.star" in err
    assert "certembed build certembed-prod.toml" in err and "build app.star" not in err


def test_a_discovered_config_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.certembed]\nmode = "merge"\n')
    summary, err = _build(capsys)
    assert summary["config"] == str(tmp_path / "pyproject.toml")
    assert err.splitlines()[0] == "certembed: config: pyproject.toml"
    assert "note:" not in err
