"""Virtual environments and interpreters followed to their base
interpreter, pip's vendored certifi grouped as tooling, the distribution's OpenSSL reported as
distribution-maintained, and doctor's paths and environment warnings."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from certembed.audit.report import audit
from certembed.cli import main
from tests.support.env import scrubbed_env

# Debian 12's OpenSSL 3.0 passed upstream's end of life (2026-09-07) by this date.
AS_OF = date(2026, 11, 21)


def _base_python() -> Path:
    return Path(getattr(sys, "_base_executable", sys.executable)).resolve()


def _venv(path: Path, pip: bool) -> Path:
    cmd = [str(_base_python()), "-m", "venv", str(path)]
    if not pip:
        cmd.insert(3, "--without-pip")
    subprocess.run(cmd, check=True, env=scrubbed_env(), capture_output=True)
    return path


@pytest.fixture(scope="module")
def venv_with_pip(tmp_path_factory):
    return _venv(tmp_path_factory.mktemp("venvs") / "fresh", pip=True)


def _ssl_libraries(report):
    return [lib for lib in report.openssl.libraries if lib.role in ("libssl", "libcrypto")]


def test_audit_venv_follows_pyvenv_cfg_to_the_base_interpreter(tmp_path, capsys):
    venv = _venv(tmp_path / "v", pip=False)
    report = audit(venv, AS_OF)
    assert report.kind == "venv"
    assert report.interpreter and report.interpreter["home"] == str(_base_python().parent)
    assert Path(str(report.interpreter["base_executable"])).resolve() == _base_python()
    assert any("pyvenv.cfg home" in note and "base interpreter" in note for note in report.notes)
    # the base interpreter's _ssl and the OpenSSL it loads are what the venv uses
    importers = [i["file"] for i in report.openssl.importers]
    assert any("/lib-dynload/_ssl" in f for f in importers), importers
    versions = {lib.version for lib in _ssl_libraries(report)}
    assert ssl.OPENSSL_VERSION.split()[1] in versions
    assert main(["audit", str(venv)]) == 0
    text = capsys.readouterr().out
    assert "virtual environment: pyvenv.cfg home = " in text


def test_audit_venv_python_executable(tmp_path):
    venv = _venv(tmp_path / "v", pip=False)
    for exe in (venv / "bin" / "python", venv / "bin" / "python3"):
        report = audit(exe, AS_OF)
        assert report.kind == "venv"
        assert report.interpreter and report.interpreter["via"] == f"interpreter {exe}"
        assert {lib.version for lib in _ssl_libraries(report)} >= {ssl.OPENSSL_VERSION.split()[1]}


def test_audit_base_interpreter_executable():
    report = audit(_base_python(), AS_OF)
    assert report.kind == "python-interpreter"
    assert any("/lib-dynload/_ssl" in i["file"] for i in report.openssl.importers)
    assert {lib.version for lib in _ssl_libraries(report)} >= {ssl.OPENSSL_VERSION.split()[1]}


def test_venv_whose_base_interpreter_is_gone(tmp_path):
    venv = tmp_path / "moved"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = C:\\Python39\nversion = 3.9.13\n")
    report = audit(venv, AS_OF)
    assert report.kind == "venv" and report.interpreter["base_executable"] is None
    (finding,) = [f for f in report.findings if f.category == "info"]
    assert "not on this machine" in finding.message and "C:\\Python39" in finding.message


def test_pip_vendored_certifi_is_tooling(venv_with_pip, capsys):
    report = audit(venv_with_pip, AS_OF)
    vendored = [b for b in report.bundles if "pip/_vendor/certifi" in b.location]
    assert vendored and all(b.tooling == "pip" for b in vendored)
    tool_findings = [f for f in report.findings if f.tooling == "pip"]
    # ensurepip's pip vendors an older certifi: roots removed since are found ...
    assert vendored[0].removed_by_mozilla and any(f.category == "distrusted" for f in tool_findings)
    # ... and do not fail a fresh venv unless asked
    args = ["audit", str(venv_with_pip), "--as-of", AS_OF.isoformat()]
    assert main([*args, "--fail-on", "distrusted,expired"]) == 0
    text = capsys.readouterr().out
    assert "Tooling (pip: vendored copies the app does not use" in text
    assert main([*args, "--fail-on", "distrusted", "--include-tooling"]) == 6
    capsys.readouterr()
    assert main([*args, "--fail-on", "distrusted", "--include-tooling", "--json"]) == 6
    data = json.loads(capsys.readouterr().out)
    assert data["failed"] and data["include_tooling"]
    assert data["schema_version"] == 2 and data["interpreter"]["pyvenv_cfg"]


def _dpkg_owned(path: Path) -> bool:
    return shutil.which("dpkg") is not None and (
        subprocess.run(["dpkg", "-S", str(path)], capture_output=True).returncode == 0
    )


def test_distribution_openssl_is_maintained_not_end_of_life(tmp_path, capsys):
    venv = _venv(tmp_path / "v", pip=False)
    report = audit(venv, AS_OF)
    system = [lib for lib in _ssl_libraries(report) if lib.system]
    if not system or not _dpkg_owned(Path(system[0].file)):
        message = "the base interpreter's OpenSSL is not a dpkg-installed system library"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    for lib in system:
        assert lib.maintained_by == "debian" and lib.package and lib.package.startswith("libssl")
        assert lib.file.startswith("/")
    assert not [f for f in report.findings if f.category == "eol"]
    maintained = [f for f in report.findings if "distribution-maintained" in f.message]
    assert len(maintained) == len([lib for lib in system if lib.end_of_life])
    assert main(["audit", str(venv), "--fail-on", "eol", "--as-of", AS_OF.isoformat()]) == 0
    assert "maintained by debian (libssl" in capsys.readouterr().out
    # negative twin: the very same library copied out of the distribution's hands is EOL
    copy = tmp_path / "vendored"
    copy.mkdir()
    for lib in system:
        shutil.copy(lib.file, copy / Path(lib.file).name)
    copied = audit(copy, AS_OF)
    assert all(lib.maintained_by is None for lib in copied.openssl.libraries)
    if any(lib.end_of_life for lib in system):
        assert any(f.category == "eol" for f in copied.findings)
        assert main(["audit", str(copy), "--fail-on", "eol", "--as-of", AS_OF.isoformat()]) == 6
    capsys.readouterr()


def test_doctor_paths_keep_their_leading_slash(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["openssl_binaries"]
    assert all(lib["file"].startswith("/") for lib in report["openssl_binaries"])
    assert main(["doctor"]) == 0
    loaded = [line for line in capsys.readouterr().out.splitlines() if "loaded: " in line]
    assert loaded and all(line.split("loaded: ", 1)[1].startswith("/") for line in loaded)


def test_doctor_warns_when_the_environment_overrides_trust(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []  # negative twin
    bundle = tmp_path / "corp.pem"
    bundle.write_text("x")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "missing"))
    assert main(["doctor", "--json"]) == 0
    warnings = {
        w["variable"]: w["message"] for w in json.loads(capsys.readouterr().out)["warnings"]
    }
    assert set(warnings) == {
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    }
    assert "overrides the app's trust" in warnings["REQUESTS_CA_BUNDLE"]
    assert "overrides the app's trust" in warnings["SSL_CERT_FILE"]
    assert "not a usable directory" in warnings["SSL_CERT_DIR"]
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert f"! REQUESTS_CA_BUNDLE={bundle} overrides the app's trust" in text
    (tmp_path / "certembed.toml").write_text("respect_env = false\n")
    assert main(["doctor", "--json"]) == 0
    warnings = {
        w["variable"]: w["message"] for w in json.loads(capsys.readouterr().out)["warnings"]
    }
    assert "certembed ignores it (respect_env = false)" in warnings["SSL_CERT_FILE"]


def test_windows_venv_follows_home_to_a_windows_python(tmp_path, capsys):
    """A Windows venv (Scripts\\python.exe, pyvenv.cfg home = the python.org install): the
    base's DLLs\\ are audited — here OpenSSL 1.1.1n DLLs from a real wheel — both for the venv
    directory and for its Scripts\\python.exe."""
    from tests.support.binaries import windows_python, write_pe
    from tests.support.fixtures import extract

    libs = extract("kafka-win64", tmp_path / "whl") / "confluent_kafka.libs"
    base = windows_python(tmp_path / "Python39")
    shutil.copy(next(libs.glob("libssl-1_1-x64-*.dll")), base / "DLLs" / "libssl-1_1.dll")
    shutil.copy(next(libs.glob("libcrypto-1_1-x64-*.dll")), base / "DLLs" / "libcrypto-1_1.dll")
    venv = tmp_path / "venv"
    (venv / "Scripts").mkdir(parents=True)
    write_pe(venv / "Scripts" / "python.exe", "x64", ["python39.dll"])
    (venv / "pyvenv.cfg").write_text(f"home = {base}\nversion = 3.9.13\n")
    for target in (venv, venv / "Scripts" / "python.exe"):
        report = audit(target, AS_OF)
        assert report.kind == "venv"
        assert report.interpreter["base_executable"] == str(base / "python.exe")
        versions = {(lib.role, lib.version) for lib in report.openssl.libraries}
        assert versions == {("libssl", "1.1.1n"), ("libcrypto", "1.1.1n")}
        assert any(f.category == "eol" for f in report.findings)  # 1.1.1: upstream EOL
    assert main(["audit", str(venv), "--fail-on", "eol", "--as-of", "2022-06-01"]) == 0
    capsys.readouterr()
