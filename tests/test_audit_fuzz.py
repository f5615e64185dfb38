"""`certembed audit` on damaged binaries — truncated PE/ELF/
Mach-O files, flipped bytes, bogus import tables and load commands, broken wheels — ends in a
result or a clear error with its exit code, never a traceback (exit 1).

Bounded for CI (``max_examples`` below); ``bench/fuzz_audit.py`` runs the same property longer
and records how many inputs it tried in docs/performance.md.

The same damage applied to the real OpenSSL DLLs of a PyPI wheel, given to `certembed openssl
upgrade` as its source: a known exit code, and a damaged file is named, never reported as a
build lacking symbols (kill points of the upgrade are in tests/test_openssl_faults.py)."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certembed.errors import MissingSymbol
from certembed.openssl.symbols import damage
from tests.support.damage import (
    ONEFILE,
    SEEDS,
    audit_holds,
    damaged,
    damaged_copy,
    upgrade_holds,
)
from tests.support.fixtures import extract
from tests.support.pythons import require_module
from tests.support.wine import install_embed


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(damaged())
def test_damaged_binary_alone(tmp_path_factory, sample):
    name, data = sample
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(data)
    report = audit_holds(path)
    if data == SEEDS[name]:  # undamaged: every seed is or imports OpenSSL, and is found so
        openssl = report["openssl"]
        assert openssl["libraries"] or openssl["importers"]  # type: ignore[index]


def test_onefile_cut_short_with_cookies_at_its_end(tmp_path):
    """The PyInstaller onefile seed is fuzzed with the others (it needs PyInstaller's archive
    writer), and a onefile cut short whose tail repeats the archive cookie's magic is audited
    or refused, never a traceback."""
    require_module("PyInstaller", "pip install -e '.[test]'")
    assert ONEFILE in SEEDS
    path = tmp_path / ONEFILE
    path.write_bytes(SEEDS[ONEFILE][:-200] + b"MEI\x0c\x0b\x0a\x0b\x0e" * 12)
    audit_holds(path)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(st.lists(damaged(), min_size=1, max_size=4))
def test_damaged_binaries_in_a_directory_and_a_wheel(tmp_path_factory, samples):
    folder = tmp_path_factory.mktemp("app")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for index, (name, data) in enumerate(samples):
            (folder / f"{index}-{name}").write_bytes(data)
            wheel.writestr(f"pkg/{index}-{name}", data)
    dir_report = audit_holds(folder)
    assert dir_report["kind"] == "directory"
    whl = folder.parent / "pkg-1.0-py3-none-any.whl"
    whl.write_bytes(buffer.getvalue())
    audit_holds(whl)
    # and a wheel cut short: a clear "not a readable wheel" error, exit 5
    whl.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert "not a readable wheel/zip" in audit_holds(whl)["error"]["message"]  # type: ignore[index]


@pytest.fixture(scope="module")
def windows_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """python.org's CPython 3.12 for Windows (OpenSSL 3.0.15), read only: upgrades are planned."""
    home = tmp_path_factory.mktemp("py312") / "python"
    install_embed("3.12", home)
    return home


@pytest.fixture(scope="module")
def wheel_dlls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """psycopg2-binary 2.9.13's win_amd64 OpenSSL 3.6.3 DLLs (delvewheel names)."""
    return extract("psycopg-win64", tmp_path_factory.mktemp("wheel")) / "psycopg2_binary.libs"


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
    database=None,
)
@given(st.sampled_from(["libcrypto-3-x64-", "libssl-3-x64-"]), st.data())
def test_damaged_real_openssl_dll_as_upgrade_source(
    windows_python, wheel_dlls, tmp_path_factory, prefix, data
):
    source = tmp_path_factory.mktemp("source")
    for dll in wheel_dlls.glob("lib*ssl*.dll"):
        shutil.copy(dll, source)
    for dll in wheel_dlls.glob("libcrypto*.dll"):
        shutil.copy(dll, source)
    victim = next(source.glob(prefix + "*.dll"))
    victim.write_bytes(data.draw(damaged_copy(victim.read_bytes())))
    result = upgrade_holds(windows_python, source, victim.name)
    error = result.get("error") or {}
    if error.get("exit_code") == MissingSymbol.exit_code:  # type: ignore[union-attr]
        # only a whole file may be reported as lacking symbols (a byte flipped in a name)
        assert damage(victim, "pe") is None, error
