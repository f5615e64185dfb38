"""Audit branches on generated minimal PE, ELF and Mach-O files."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from certembed.audit.analyze import analyze_openssl, name_implies, series_of
from certembed.audit.binaries import read_binary
from certembed.audit.report import audit
from certembed.cli import main
from tests.support.binaries import (
    VERSION_1X,
    VERSION_ALONE,
    VERSION_WITH_CONTEXT,
    windows_python,
    write_elf,
    write_macho,
    write_pe,
)
from tests.support.certs import make_cert, pem

TODAY = date(2026, 11, 21)


@pytest.mark.parametrize("arch", ["x86", "x64", "arm64"])
def test_pe_machine_imports_export_and_version(tmp_path, arch):
    lib = read_binary(
        write_pe(
            tmp_path / "libcrypto-3.dll",
            arch,
            ["KERNEL32.dll"],
            export_name="libcrypto-3-x64.dll",
            blob=VERSION_WITH_CONTEXT,
        )
    )
    assert (lib.format, lib.arch, lib.export_name) == ("pe", arch, "libcrypto-3-x64.dll")
    assert lib.imports == ["KERNEL32.dll"]
    assert (lib.version, lib.version_source) == ("3.0.13", "build-info text")
    assert lib.openssl_role == "crypto"
    ext = read_binary(write_pe(tmp_path / "_ssl.pyd", arch, ["libssl-3.dll", "python3.dll"]))
    assert ext.openssl_imports() == ["libssl-3.dll"] and ext.openssl_role is None


@pytest.mark.parametrize("arch", ["x86", "x64", "arm64"])
def test_elf_machine_needed_and_soname(tmp_path, arch):
    lib = read_binary(
        write_elf(
            tmp_path / "libssl.so.3", arch, ["libcrypto.so.3", "libc.so.6"], soname="libssl.so.3"
        )
    )
    assert (lib.format, lib.arch, lib.export_name) == ("elf", arch, "libssl.so.3")
    assert lib.imports == ["libcrypto.so.3", "libc.so.6"]
    assert lib.openssl_imports() == ["libcrypto.so.3"]


@pytest.mark.parametrize("arch", ["x64", "arm64"])
def test_macho_cputype_loads_and_install_name(tmp_path, arch):
    lib = read_binary(
        write_macho(
            tmp_path / "libssl.3.dylib",
            arch,
            ["@loader_path/libcrypto.3.dylib", "/usr/lib/libSystem.B.dylib"],
            install_name="@rpath/libssl.3.dylib",
        )
    )
    assert (lib.format, lib.arch, lib.export_name) == ("macho", arch, "@rpath/libssl.3.dylib")
    assert lib.imports == ["@loader_path/libcrypto.3.dylib", "/usr/lib/libSystem.B.dylib"]


def test_version_text_needs_its_build_info_context(tmp_path):
    alone = read_binary(write_elf(tmp_path / "_rust.so", "x64", [], blob=VERSION_ALONE))
    assert alone.version is None  # a header constant is not an OpenSSL build
    static = read_binary(write_elf(tmp_path / "_ssl.so", "x64", [], blob=VERSION_WITH_CONTEXT))
    assert static.version == "3.0.13"
    old = read_binary(write_elf(tmp_path / "old.so", "x64", [], blob=VERSION_1X))
    assert old.version == "1.1.1w"  # 1.x puts two spaces before the date
    far_apart = VERSION_ALONE + b"\x00" * 4096 + b'built on: Sat May 2\x00OPENSSLDIR: "/o"\x00'
    far = read_binary(write_elf(tmp_path / "_rust.abi3.so", "x64", [], blob=far_apart))
    assert far.version == "3.0.13"  # statically linked: build info linked in, far apart
    boring = read_binary(
        write_elf(tmp_path / "boring.so", "x64", [], blob=VERSION_WITH_CONTEXT + b"BoringSSL\x00")
    )
    assert boring.version is None and boring.boringssl


def test_implementation_evidence_not_header_constants(tmp_path):
    """OpenSSL's error tables prove a static build without any build-info
    text; a version constant next to imported function names proves nothing."""
    tables = b"\x00".join(
        [b"common libcrypto routines", b"bignum routines", b"rsa routines", b"SSL routines", b""]
    )
    stripped = read_binary(write_elf(tmp_path / "_db.so", "x64", [], blob=tables))
    assert stripped.version is None and len(stripped.implementation) == 1
    report = analyze_openssl(tmp_path, [tmp_path / "_db.so"], TODAY)
    (lib,) = report.libraries
    assert lib.role == "static" and lib.version is None and lib.end_of_life is None
    (info,) = report.findings
    assert "statically linked" in info.message and "version text is stripped" in info.message
    with_text = read_binary(write_elf(tmp_path / "_db2.so", "x64", [], blob=tables + VERSION_ALONE))
    assert with_text.version == "3.0.13" and with_text.version_source == "version text"
    imports_only = VERSION_ALONE + b"OPENSSL_init_ssl\x00EVP_DigestInit_ex\x00SSL routines\x00"
    user = tmp_path / "_client.so"
    write_elf(user, "x64", ["libssl.so.3"], blob=imports_only)
    assert read_binary(user).version is None and not read_binary(user).implementation
    libraries = analyze_openssl(tmp_path, [user], TODAY).libraries
    assert not [lib for lib in libraries if lib.file == "_client.so"]


def test_non_binaries_and_malformed_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert read_binary(tmp_path / "notes.txt") is None
    broken = tmp_path / "broken.dll"
    broken.write_bytes(b"MZ" + b"\x00" * 10)
    with pytest.raises(ValueError, match=r"broken\.dll: cannot parse as pe"):
        read_binary(broken)
    report = analyze_openssl(tmp_path, [broken], TODAY)
    assert report.unreadable and not report.libraries


@pytest.mark.parametrize(
    "name,implied",
    [
        ("libcrypto-1_1-x64.dll", "1.1"),
        ("libssl-1_1.dll", "1.1"),
        ("libcrypto-3.dll", "3"),
        ("libcrypto-3-x64-c1e69c503b8c5d65.dll", "3"),
        ("libssl-8bd944e8.so.3", "3"),
        ("libcrypto.so.1.1", "1.1"),
        ("libssl.3.dylib", "3"),
        ("libcrypto.1.1.dylib", "1.1"),
        ("libssl.dll", None),
        ("libcrypto.so", None),
    ],
)
def test_name_implies(name, implied):
    assert name_implies(name) == implied


def test_series():
    assert [series_of(v) for v in ("1.0.2u", "1.1.1w", "3.0.13", "3.6.3", "4.0.0")] == [
        "1.0.2",
        "1.1.1",
        "3.0",
        "3.6",
        "4.0",
    ]


def _windows_python(tmp_path: Path, arch_ext: str, arch_lib: str, ssl_imports: list[str]) -> Path:
    root = windows_python(tmp_path / "Python39", arch_ext)
    write_pe(root / "DLLs" / "libssl-1_1.dll", arch_lib, ssl_imports, export_name="libssl-1_1.dll")
    write_pe(
        root / "DLLs" / "libcrypto-1_1.dll",
        arch_lib,
        [],
        export_name="libcrypto-1_1.dll",
        blob=VERSION_1X,
    )
    return root


def test_missing_import_explained(tmp_path):
    root = _windows_python(tmp_path, "x64", "x64", ["libcrypto-1_1-x64.dll"])
    report = audit(root, TODAY)
    assert report.kind == "python-windows"
    (missing,) = [f for f in report.findings if f.category == "mismatch"]
    assert missing.file == "DLLs/libssl-1_1.dll"
    assert "imports libcrypto-1_1-x64.dll, which is not here" in missing.message
    assert "DLL load failed while importing libssl-1_1" in missing.message
    assert "Renaming an OpenSSL DLL does not change the names it imports" in missing.message
    assert "VC-WIN64A-masm" in missing.fix
    libssl = next(lib for lib in report.openssl.libraries if lib.role == "libssl")
    assert libssl.version is None  # its libcrypto is missing: the version cannot be known


def test_architecture_mismatch_explained(tmp_path):
    root = _windows_python(tmp_path, "x64", "x86", ["libcrypto-1_1.dll"])
    findings = [f for f in audit(root, TODAY).findings if f.category == "mismatch"]
    assert len(findings) == 2  # _ssl.pyd -> libssl, _ssl.pyd -> libcrypto
    assert all("%1 is not a valid Win32 application" in f.message for f in findings)
    assert "_ssl.pyd is x64 but libssl-1_1.dll is x86" in findings[0].message
    # the twin with matching architectures has no mismatch
    twin = _windows_python(tmp_path / "twin", "x64", "x64", ["libcrypto-1_1.dll"])
    report = audit(twin, TODAY)
    assert [f for f in report.findings if f.category == "mismatch"] == []
    libssl = next(lib for lib in report.openssl.libraries if lib.role == "libssl")
    # libssl carries no build-info text: its version comes from the libcrypto it imports
    assert libssl.version == "1.1.1w" and libssl.version_source == "from libcrypto-1_1.dll"


def test_name_and_version_disagree(tmp_path):
    write_pe(
        tmp_path / "libcrypto-1_1.dll",
        "x64",
        [],
        export_name="libcrypto-1_1.dll",
        blob=VERSION_WITH_CONTEXT,
    )
    (finding,) = [f for f in audit(tmp_path, TODAY).findings if f.category == "mismatch"]
    assert "named for OpenSSL 1.1 but contains OpenSSL 3.0.13" in finding.message


def test_end_of_life_depends_on_the_audit_date(tmp_path):
    write_elf(
        tmp_path / "libcrypto.so.3", "x64", [], soname="libcrypto.so.3", blob=VERSION_WITH_CONTEXT
    )
    before = audit(tmp_path, date(2026, 9, 6))
    after = audit(tmp_path, date(2026, 9, 7))
    assert before.openssl.libraries[0].end_of_life is False
    assert after.openssl.libraries[0].end_of_life is True
    assert [f.category for f in after.findings] == ["eol"]


def test_elf_and_macho_import_graph(tmp_path):
    write_elf(tmp_path / "_ssl.so", "x64", ["libssl-abc.so.9"])
    (finding,) = [f for f in audit(tmp_path, TODAY).findings if f.category == "mismatch"]
    assert "needs libssl-abc.so.9" in finding.message
    mac = tmp_path / "mac"
    (mac / ".dylibs").mkdir(parents=True)
    write_macho(mac / "_ext.so", "arm64", ["@loader_path/.dylibs/libssl.3.dylib"])
    write_macho(
        mac / ".dylibs" / "libssl.3.dylib",
        "x64",
        ["@loader_path/libcrypto.3.dylib"],
        install_name="@rpath/libssl.3.dylib",
    )
    write_macho(
        mac / ".dylibs" / "libcrypto.3.dylib",
        "x64",
        [],
        install_name="@rpath/libcrypto.3.dylib",
        blob=VERSION_WITH_CONTEXT,
    )
    findings = audit(mac, TODAY).findings
    assert any("_ext.so is arm64 but libssl.3.dylib is x64" in f.message for f in findings)


def test_trust_expired_and_expiring(tmp_path):
    folder = tmp_path / "certifi"
    folder.mkdir()
    (folder / "cacert.pem").write_bytes(
        pem(make_cert("Soon Root", days_valid=30)) + pem(make_cert("Later Root", days_valid=400))
    )
    report = audit(tmp_path, date.today())
    (bundle,) = report.bundles
    assert bundle.kind == "certifi" and bundle.certificates == 2
    assert ["Soon Root" in e["subject"] for e in bundle.expiring] == [True]
    later = audit(tmp_path, date.today().replace(year=date.today().year + 2))
    assert len(later.bundles[0].expired) == 2
    # local: never in certifi; x509-strict: make_cert roots carry no keyUsage/subjectKeyIdentifier
    assert {f.category for f in later.findings} == {"expired", "local", "x509-strict"}


def test_cli_exit_codes_and_json(tmp_path, capsys):
    root = _windows_python(tmp_path, "x64", "x86", ["libcrypto-1_1.dll"])
    assert main(["audit", str(root), "--as-of", "2022-01-01"]) == 0
    assert main(["audit", str(root), "--fail-on", "mismatch", "--as-of", "2022-01-01"]) == 6
    capsys.readouterr()
    assert main(["audit", str(root), "--fail-on", "eol", "--json", "--as-of", "2022-01-01"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "certembed-audit" and data["schema_version"] == 2
    assert data["kind"] == "python-windows" and data["as_of"] == "2022-01-01"
    assert data["failed"] is False and data["fail_on"] == ["eol"]
    assert {"libraries", "importers", "unreadable"} <= set(data["openssl"])
    assert main(["audit", str(root), "--fail-on", "eol", "--as-of", "2024-01-01"]) == 6
    assert main(["audit", str(root), "--fail-on", "sometimes"]) == 5
    assert "unknown sometimes" in capsys.readouterr().err
    assert main(["audit", str(root), "--as-of", "yesterday"]) == 5
    assert main(["audit", str(tmp_path / "missing")]) == 8  # not found, as in every command
    not_binary = tmp_path / "notes.txt"
    not_binary.write_text("x")
    assert main(["audit", str(not_binary)]) == 5


def test_this_unix_python_installation():
    """The running interpreter's own installation: its _ssl resolves to the system OpenSSL."""
    import ssl
    import sys

    root = Path(sys.base_prefix)
    if not any((root / "lib").glob("python3*/lib-dynload/_ssl*")):
        pytest.skip(f"{root} has no lib-dynload/_ssl (not a Unix layout)")
    report = audit(root, TODAY)
    assert report.kind == "python-unix"
    versions = {(lib.role, lib.version) for lib in report.openssl.libraries}
    assert ("libssl", ssl.OPENSSL_VERSION.split()[1]) in versions
    ssl_ext = [i for i in report.openssl.importers if "_ssl" in i["file"]]
    assert ssl_ext and all(edge["resolved"] for edge in ssl_ext[0]["imports"])
