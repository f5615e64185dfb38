"""What certembed says, checked with exit codes and message text: audit's fixes and its
strict-X.509 verdict per target Python, `build -q`, and doctor naming its config and following
its plan. (TOML positions and syntax hints: tests/support/bad_input.py; inspect: test_inspect;
the Windows Disallowed message: test_windows_runtime.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import certifi
import pytest

from certembed.audit.report import audit
from certembed.cli import main
from tests.support.certs import pem, strict_variant_root
from tests.support.env import scrubbed_env
from tests.support.pythons import require_python

TWCA = "59769007f7685d0fcd50872f9f95d5755a5b2b457d81f3692b610a98672f0e1b"  # certifi, no SKI


def test_audit_of_a_missing_path_exits_8_with_near_names(tmp_path, capsys):
    """As inspect and build do for a missing path (it was exit 5, no suggestion)."""
    (tmp_path / "dist").mkdir()
    assert main(["audit", str(tmp_path / "dsit")]) == 8
    err = capsys.readouterr().err
    assert err.strip() == (
        f"certembed: not found: {tmp_path / 'dsit'} does not exist "
        f"(did you mean '{tmp_path / 'dist'}'?)"
    )
    assert main(["audit", "/nonexistent/app", "--json"]) == 8
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["type"] == "PathNotFoundError" and out["error"]["exit_code"] == 8
    assert "there is no directory /nonexistent" in out["error"]["message"]


def _app_with_both_bundles(tmp_path: Path) -> Path:
    """A certembed payload (certifi + a local root Python 3.13 rejects) next to certifi's own
    cacert.pem: the public root TWCA is in both. No interpreter in it: Python unknown."""
    _, corp = strict_variant_root("basic-constraints-not-critical", "Corp Proxy Root")
    (tmp_path / "corp.pem").write_bytes(pem(corp))
    (tmp_path / "certembed.toml").write_text(
        'targets = ["linux"]\n\n[[source]]\nkind = "certifi"\n\n'
        '[[source]]\nkind = "pem_file"\npath = "corp.pem"\ntrust = "always"\n'
    )
    config = str(tmp_path / "certembed.toml")
    assert main(["build", config, "-q", "--no-freeze", "-o", str(tmp_path / "out")]) == 0
    app = tmp_path / "app"
    shutil.copytree(tmp_path / "out" / "linux", app / "_internal" / "certembed")
    (app / "_internal" / "certifi").mkdir()
    shutil.copy(certifi.where(), app / "_internal" / "certifi" / "cacert.pem")
    return app


def test_audit_gives_one_root_one_fix(tmp_path, capsys):
    app = _app_with_both_bundles(tmp_path)
    report = audit(app, date.today())
    strict = [f for f in report.findings if f.category == "x509-strict"]
    twca = [f for f in strict if TWCA[:16] in f.message]
    assert {f.file for f in twca} == {"_internal/certembed", "_internal/certifi/cacert.pem"}
    (fix,) = {f.fix for f in twca}  # the same root: the same fix, whichever copy
    assert fix is not None and fix.startswith("a public root in Mozilla's store")
    assert "re-issue this root" not in fix and "nothing certembed can change" not in fix
    (corp,) = [f for f in strict if "Corp Proxy Root" in f.message]
    assert corp.fix is not None and corp.fix.startswith("re-issue this root")
    for finding in strict:  # the Python is not known from a bare tree: say where it applies
        assert "applies where the app runs on Python 3.13+" in finding.message
    capsys.readouterr()
    assert main(["audit", str(app), "--fail-on", "x509-strict"]) == 6
    out = capsys.readouterr().out
    assert out.count(f"fix: {fix}") == 2


@pytest.mark.parametrize("minor", [12, 13])
def test_strict_findings_only_where_the_python_sets_the_flag(tmp_path, capsys, minor):
    """A real venv of CPython 3.12 and 3.13 carrying certifi: only 3.13 (whose default contexts
    set VERIFY_X509_STRICT) gets an x509-strict finding that fails --fail-on."""
    venv = tmp_path / f"venv3{minor}"
    subprocess.run(
        [require_python(minor), "-m", "venv", "--without-pip", str(venv)],
        check=True,
        env=scrubbed_env(),
    )
    site = venv / "lib" / f"python3.{minor}" / "site-packages"
    shutil.copytree(Path(certifi.__file__).parent, site / "certifi")
    code = main(["audit", str(venv), "--fail-on", "x509-strict", "--json"])
    findings = [
        f for f in json.loads(capsys.readouterr().out)["findings"] if TWCA[:16] in f["message"]
    ]
    (finding,) = findings
    if minor == 13:
        assert code == 6
        assert finding["category"] == "x509-strict"
        assert finding["fix"].startswith("a public root in Mozilla's store")
    else:
        assert code == 0
        assert finding["category"] == "info" and not finding["fix"]
        message = finding["message"]
        assert "not here: this runs Python 3.12, whose default contexts do not set" in message


def test_build_quiet_prints_no_config_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "certembed.toml").write_text('targets = ["linux"]\n')
    assert main(["build", "--no-freeze", "-o", "out"]) == 0
    assert "certembed: config: certembed.toml" in capsys.readouterr().err  # the twin
    assert main(["build", "--no-freeze", "-o", "out", "-q"]) == 0
    err = capsys.readouterr().err
    assert "config:" not in err and "certembed: note:" not in err
    assert main(["build", "--no-freeze", "-o", "out", "-q", "--json"]) == 0
    captured = capsys.readouterr()
    assert "config:" not in captured.err
    assert json.loads(captured.out)["config"].endswith("certembed.toml")  # said there instead


def test_build_warns_about_strict_roots_only_for_python_313(tmp_path, monkeypatch, capsys):
    """Bundle only (the target Python is unknown): the warning, naming 3.13+. The freeze case
    (this interpreter runs the app) is in test_freeze_notes_strict_roots_once below."""
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--no-freeze", "-o", "out"]) == 0
    err = capsys.readouterr().err
    assert "certembed: warning: strict X.509 (Python 3.13+): no subjectKeyIdentifier" in err
    assert TWCA in err


@pytest.mark.freeze
def test_freeze_notes_strict_roots_once(tmp_path, capsys):
    """`certembed build` freezing with this Python: under 3.13 the flag does not apply, so one
    note replaces the warnings; from 3.13 on the warnings stay (checked against sys)."""
    import sys

    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "certembed.toml").write_text(
        'targets = ["linux"]\n\n[app]\nname = "hi"\nscript = "app.py"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "certembed", "build", "certembed.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    minor = sys.version_info[1]
    if minor < 13:
        assert "warning: strict X.509" not in proc.stderr
        assert (
            "certembed: note: 1 root(s) fail Python 3.13+'s VERIFY_X509_STRICT; not an issue "
            f"for this app, frozen with Python 3.{minor}, which does not set it"
        ) in proc.stderr
    else:
        assert "warning: strict X.509 (Python 3.13+)" in proc.stderr
    assert (tmp_path / "dist" / "hi" / "hi").is_file()


def test_doctor_names_the_config_it_used(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["doctor"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("no config: embedded default, certifi roots (looked for ")
    (tmp_path / "certembed.toml").write_text('mode = "merge"\n')
    assert main(["doctor", "--json"]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert config == {"path": str(tmp_path / "certembed.toml"), "used": ["config: certembed.toml"]}
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "config: certembed.toml"
    assert "merge (configured):" in text


def test_doctor_says_what_ssl_cert_file_does_in_the_plan(tmp_path, monkeypatch, capsys):
    """One variable replaces only its own slot; both replace the store (the Windows wording,
    where the plan keeps the ROOT store, runs under Wine: test_windows_freeze)."""
    monkeypatch.chdir(tmp_path)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    bundle = tmp_path / "corp.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "SSL_CERT_FILE replaces the machine's CA file only; the other slot is kept" in text
    assert "replace the machine store" not in text
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "SSL_CERT_FILE and SSL_CERT_DIR replace the machine's CA file and directory" in text
