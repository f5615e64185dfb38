"""Audit real OpenSSL binaries from PyPI wheels (pinned by SHA-256), and seed 000's two Windows
failures rebuilt from them in a Windows-like Python directory."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from certembed.audit.binaries import read_binary
from certembed.audit.report import audit
from certembed.cli import main
from tests.support.binaries import windows_python
from tests.support.fixtures import extract, wheel

AS_OF = date(2026, 11, 21)


def _libs(report):
    return {(lib.role, lib.version, lib.arch, lib.end_of_life) for lib in report.openssl.libraries}


@pytest.mark.parametrize(
    "name,expected",
    [
        ("kafka-win64", {("libssl", "1.1.1n", "x64", True), ("libcrypto", "1.1.1n", "x64", True)}),
        ("kafka-win32", {("libssl", "1.1.1n", "x86", True), ("libcrypto", "1.1.1n", "x86", True)}),
        ("psycopg-win64", {("libssl", "3.6.3", "x64", True), ("libcrypto", "3.6.3", "x64", True)}),
        (
            "psycopg-macos",
            {("libssl", "3.5.8", "arm64", False), ("libcrypto", "3.5.8", "arm64", False)},
        ),
        (
            "psycopg-linux",
            {("libssl", "3.5.8", "x64", False), ("libcrypto", "3.5.8", "x64", False)},
        ),
    ],
)
def test_real_wheels(name, expected):
    report = audit(wheel(name), AS_OF)
    assert report.kind == "wheel"
    assert _libs(report) == expected
    assert not [f for f in report.findings if f.category == "mismatch"]
    # every OpenSSL user in the wheel resolves its imports inside the wheel
    assert report.openssl.importers
    assert all(edge["resolved"] for imp in report.openssl.importers for edge in imp["imports"])


def test_delvewheel_renamed_dll_keeps_its_export_name(tmp_path):
    folder = extract("psycopg-win64", tmp_path)
    (dll,) = folder.glob("psycopg2_binary.libs/libcrypto-3-x64-*.dll")
    binary = read_binary(dll)
    assert binary.export_name == "libcrypto-3-x64.dll" and binary.version_source == "VERSIONINFO"


def _windows_python(tmp_path: Path) -> Path:
    return windows_python(tmp_path / "Python39")


def test_seed_renamed_vc_win64a_dlls(tmp_path):
    """x64 DLLs built with VC-WIN64A (named -x64) renamed to python.org's names: libssl still
    imports its libcrypto by the old name -> 'DLL load failed ... could not be found'."""
    libs = extract("kafka-win64", tmp_path / "whl") / "confluent_kafka.libs"
    root = _windows_python(tmp_path)
    shutil.copy(next(libs.glob("libssl-1_1-x64-*.dll")), root / "DLLs" / "libssl-1_1.dll")
    shutil.copy(next(libs.glob("libcrypto-1_1-x64-*.dll")), root / "DLLs" / "libcrypto-1_1.dll")
    report = audit(root, AS_OF)
    assert report.kind == "python-windows"
    (finding,) = [f for f in report.findings if f.category == "mismatch"]
    assert finding.file == "DLLs/libssl-1_1.dll"
    assert "imports libcrypto-1_1-x64-6d3f430c.dll, which is not here" in finding.message
    assert "The specified module could not be found" in finding.message
    assert "Renaming an OpenSSL DLL does not change the names it imports" in finding.message
    assert "VC-WIN64A-masm" in finding.fix
    assert main(["audit", str(root), "--fail-on", "mismatch"]) == 6


def _patch_import(dll: Path, old: str, new: str) -> None:
    """Rewrite an imported DLL name in place (NUL-padded, same length), as delvewheel does."""
    data = dll.read_bytes()
    assert data.count(old.encode()) >= 1 and len(new) <= len(old)
    dll.write_bytes(data.replace(old.encode() + b"\x00", new.encode().ljust(len(old) + 1, b"\x00")))


def test_seed_x86_dlls_in_x64_python(tmp_path):
    """x86 DLLs under the right names in an x64 Python -> '%1 is not a valid Win32 application'."""
    libs = extract("kafka-win32", tmp_path / "whl") / "confluent_kafka.libs"
    root = _windows_python(tmp_path)
    ssl_dll = root / "DLLs" / "libssl-1_1.dll"
    shutil.copy(next(libs.glob("libssl-1_1-*.dll")), ssl_dll)
    shutil.copy(next(libs.glob("libcrypto-1_1-*.dll")), root / "DLLs" / "libcrypto-1_1.dll")
    _patch_import(ssl_dll, read_binary(ssl_dll).openssl_imports()[0], "libcrypto-1_1.dll")
    assert read_binary(ssl_dll).imports[0] == "libcrypto-1_1.dll"
    report = audit(root, AS_OF)
    findings = [f for f in report.findings if f.category == "mismatch"]
    assert {f.file for f in findings} == {"DLLs/_ssl.pyd"}
    assert all("%1 is not a valid Win32 application" in f.message for f in findings)
    assert any("_ssl.pyd is x64 but libssl-1_1.dll is x86" in f.message for f in findings)
    # 1.1.1 is past end of life: --fail-on eol fails too, and not before that date
    assert main(["audit", str(root), "--fail-on", "eol"]) == 6
    assert main(["audit", str(root), "--fail-on", "eol", "--as-of", "2023-01-01"]) == 0


def test_old_certifi_roots_are_reported_as_removed():
    report = audit(wheel("certifi-2022"), AS_OF)
    (bundle,) = report.bundles
    assert bundle.kind == "certifi" and bundle.certifi_version == "2022.09.24"
    removed = {item["subject"] for item in bundle.removed_by_mozilla}
    # TrustCor was removed in certifi 2022.12.07 (CVE-2022-23491)
    assert any("TrustCor" in subject for subject in removed)
    assert any(f.category == "distrusted" and "TrustCor" in f.message for f in report.findings)
    assert bundle.age_days and bundle.age_days > 1000
    assert main(["audit", str(wheel("certifi-2022")), "--fail-on", "distrusted"]) == 6


def test_static_openssl_whose_version_text_has_no_build_context():
    """pymssql 2.2.5 links OpenSSL 1.1.1n into _mssql.pyd; its version text stands alone (no
    built on:/OPENSSLDIR), and OpenSSL's error tables and source paths prove the code is in."""
    report = audit(wheel("pymssql-static-111"), AS_OF)
    (lib,) = report.openssl.libraries
    assert (lib.file, lib.role, lib.version, lib.arch, lib.end_of_life) == (
        "pymssql/_mssql.cp310-win_amd64.pyd",
        "static",
        "1.1.1n",
        "x64",
        True,
    )
    assert lib.version_source == "version text"
    assert any("error-library names" in e for e in lib.evidence)
    assert any("ssl_lib.c" in e for e in lib.evidence)
    assert [f.category for f in report.findings] == ["eol"]
    assert main(["audit", str(wheel("pymssql-static-111")), "--fail-on", "eol"]) == 6


def test_static_openssl_with_its_version_text_stripped():
    """pymssql 2.2.11: no OpenSSL version text at all; the build tree's path names 3.1.1."""
    report = audit(wheel("pymssql-static-31"), AS_OF)
    (lib,) = report.openssl.libraries
    assert (lib.role, lib.version, lib.series, lib.end_of_life) == ("static", "3.1.1", "3.1", True)
    assert lib.version_source and lib.version_source.startswith("build path")
    assert "openssl-3.1.1" in lib.version_source
    assert lib.series_hint == "3"  # OpenSSL 3's Provider/ENCODER/DECODER error libraries


def test_openssl_importers_are_not_static_openssl(tmp_path):
    """The kafka wheel's librdkafka imports OpenSSL's functions and carries none of its code:
    only the two DLLs are OpenSSL, nothing is reported as linked in statically."""
    report = audit(wheel("kafka-win64"), AS_OF)
    assert {lib.role for lib in report.openssl.libraries} == {"libssl", "libcrypto"}
    for lib in report.openssl.libraries:
        assert lib.evidence or lib.role == "libssl"


def test_a_header_constant_alone_is_not_openssl():
    """M2Crypto's _m2crypto.pyd holds 'OpenSSL 3.0.22 25 Aug 2026' (its headers' version
    constant) but no OpenSSL code: not a finding. It imports OpenSSL DLLs the wheel does not
    ship, which is said with the right fix (install OpenSSL), not a renaming story."""
    report = audit(wheel("m2crypto-win64"), AS_OF)
    assert report.openssl.libraries == []
    (pyd,) = [p for p in report.openssl.importers if p["file"].endswith(".pyd")]
    assert [e["import"] for e in pyd["imports"]] == ["libssl-3-x64.dll", "libcrypto-3-x64.dll"]
    findings = [f for f in report.findings if f.category == "mismatch"]
    assert len(findings) == 2
    assert all("nothing here provides OpenSSL" in f.fix for f in findings)
    assert not any("Renaming" in f.message for f in findings)
