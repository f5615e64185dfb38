"""certembed.installation on small real trees: the layouts audit, openssl and inject all read."""

from __future__ import annotations

from pathlib import Path

import pytest

from certembed.installation.files import is_interpreter_name, is_work_path, kind_of, walk
from certembed.installation.layout import classify, stdlib_versions, windows_version
from certembed.installation.venv import read_venv, venv_of_interpreter


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")


@pytest.mark.parametrize(
    ("names", "layout"),
    [
        (["python.exe", "python312.dll", "DLLs/", "Lib/"], "python-windows"),
        (["python.exe", "python312.dll", "python312._pth"], "python-windows-embeddable"),
        (["bin/python3.12", "lib/python3.12/lib-dynload/"], "python-unix"),
        (["app", "_internal/"], "pyinstaller-onedir"),
        (["app", "base_library.zip"], "pyinstaller-onedir"),
        (["pythonw.exe", "DLLs/"], "directory"),  # no python.exe: nothing to run it with
        (["bin/python3.12", "lib/python3.12/"], "directory"),  # no lib-dynload
    ],
)
def test_classify(tmp_path: Path, names: list[str], layout: str) -> None:
    _touch(tmp_path, *names)
    assert classify(tmp_path) == layout


def test_versions_from_names(tmp_path: Path) -> None:
    _touch(tmp_path, "lib/python3.9/", "lib/python3.12/", "lib/python3.x/", "python311._pth")
    assert stdlib_versions(tmp_path / "lib") == [(3, 9), (3, 12)]
    assert stdlib_versions(tmp_path / "missing") == []
    assert windows_version(tmp_path) == (3, 11)


@pytest.mark.parametrize(
    ("home", "prefix"),
    [("/opt/py/bin", "/opt/py"), ("C:/Py312/Scripts", "C:/Py312"), ("C:/Py312", "C:/Py312")],
)
def test_venv_base_prefix(tmp_path: Path, home: str, prefix: str) -> None:
    (tmp_path / "pyvenv.cfg").write_text(
        f"Home = {home}\nversion_info = 3.12.1\nnot a key line\n", encoding="utf-8"
    )
    venv = read_venv(tmp_path)
    assert venv.home == home and venv.version == "3.12.1" and venv.minor == "3.12"
    assert venv.base_prefix() == Path(prefix)
    assert venv.base_executable() is None  # nothing of that home exists here


def test_venv_without_home_and_base_executable(tmp_path: Path) -> None:
    (tmp_path / "pyvenv.cfg").write_text("version = 3.11.4\n", encoding="utf-8")
    assert read_venv(tmp_path).base_prefix() is None
    base = tmp_path / "base"
    _touch(base, "python3")
    (tmp_path / "pyvenv.cfg").write_text(f"home = {base}\nversion = 3.11.4\n", encoding="utf-8")
    assert read_venv(tmp_path).base_executable() == base / "python3"
    _touch(base, "python3.11")  # the versioned name comes first
    assert read_venv(tmp_path).base_executable() == base / "python3.11"
    with pytest.raises(OSError):
        read_venv(tmp_path / "base")


def test_venv_of_interpreter(tmp_path: Path) -> None:
    _touch(tmp_path, "v/pyvenv.cfg", "v/bin/python", "w/pyvenv.cfg", "w/python.exe", "x/python")
    assert venv_of_interpreter(tmp_path / "v" / "bin" / "python") == tmp_path / "v"
    assert venv_of_interpreter(tmp_path / "w" / "python.exe") == tmp_path / "w"
    assert venv_of_interpreter(tmp_path / "x" / "python") is None


def test_files() -> None:
    names = ("python", "python3", "python3.12", "pythonw.exe", "PYTHON.EXE")
    assert all(is_interpreter_name(n) for n in names)
    assert not any(is_interpreter_name(n) for n in ("python3-config", "python.o", "ipython"))
    assert kind_of(b"MZ\x90\x00") == "pe" and kind_of(b"\x7fELF\x02\x01") == "elf"
    assert kind_of(b"\xca\xfe\xba\xbe\x00\x00\x00\x02") == "macho"
    assert kind_of(b"\xca\xfe\xba\xbe\x00\x00\x00\x34") is None  # a Java class file
    assert is_work_path(("a", ".certembed-openssl-backup", "b")) and not is_work_path(("a",))


def test_walk_is_sorted(tmp_path: Path) -> None:
    _touch(tmp_path, "b/z", "b/a", "a/y", "c")
    assert [p.relative_to(tmp_path).as_posix() for p in walk(tmp_path)] == [
        "c",
        "a/y",
        "b/a",
        "b/z",
    ]
