"""The inputs' key that makes PyInstaller rebuild a stale payload (the real freeze test is
test_pyinstaller::test_plain_pyinstaller_rebuilds_after_a_pem_or_config_change)."""

from __future__ import annotations

import os
from pathlib import Path

from certembed.config import load_config
from certembed.inputs import inputs_key
from certembed.integrations.pyinstaller import HOOK_DIR, get_hook_dirs
from tests.support.certs import make_cert, pem


def test_key_follows_content_not_timestamps(tmp_path):
    (tmp_path / "certs").mkdir()
    (tmp_path / "corp.pem").write_bytes(pem(make_cert("Key Corp", serial=21)))
    (tmp_path / "certs" / "a.pem").write_bytes(pem(make_cert("Key A", serial=22)))
    config = tmp_path / "certembed.toml"
    config.write_text(
        '[[source]]\nkind = "pem_file"\npath = "corp.pem"\n\n'
        '[[source]]\nkind = "pem_dir"\npath = "certs"\n'
    )
    first = inputs_key(load_config(config))
    os.utime(tmp_path / "corp.pem", (1, 1))  # a touched file is not a changed input
    assert inputs_key(load_config(config)) == first
    (tmp_path / "certs" / "b.pem").write_bytes(pem(make_cert("Key B", serial=23)))
    second = inputs_key(load_config(config))
    assert second != first  # a file added to a pem_dir
    (tmp_path / "corp.pem").write_bytes(pem(make_cert("Key Corp 2", serial=24)))
    third = inputs_key(load_config(config))
    assert third not in (first, second)  # a PEM's content
    config.write_text('mode = "merge"\n' + config.read_text())
    assert inputs_key(load_config(config)) not in (first, second, third)  # the config


def test_hook_dirs_carry_the_key_and_normalize_to_real_dirs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "certembed.toml").write_text('mode = "merge"\n')
    ours, keyed = get_hook_dirs()
    assert Path(ours) == HOOK_DIR
    assert Path(os.path.abspath(keyed)) == HOOK_DIR / "rthooks"
    assert not list((HOOK_DIR / "rthooks").glob("hook-*.py"))  # a no-op hook dir
    assert not (HOOK_DIR / "rthooks" / "rthooks.dat").exists()
    (tmp_path / "certembed.toml").write_text('mode = "embedded-only"\n')
    assert get_hook_dirs()[1] != keyed
    (tmp_path / "certembed.toml").write_text('mode = "nonsense"\n')  # broken: never raises
    assert "inputs-unreadable-" in get_hook_dirs()[1]
