"""Python 3.13+ VERIFY_X509_STRICT: the build flags the roots a real 3.13 rejects.

The rules in certembed.bundle.strict are checked against real handshakes: a CPython 3.13
client with a default context (``ssl.create_default_context(cafile=root)``) must fail with the
rule's own OpenSSL message, succeed once the flag is cleared, and a 3.12 client (no flag) must
succeed — so a rule that 3.13 does not enforce, or a message that drifted, fails here.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from cryptography import x509

from certembed.audit.report import audit
from certembed.bundle.strict import RULES, strict_problems
from certembed.cli import main
from tests.support.certs import (
    STRICT_VARIANTS,
    issue_server_pem,
    pem,
    strict_variant_root,
)
from tests.support.env import scrubbed_env
from tests.support.pythons import require_python
from tests.support.tls import pem_server

# Shared by the client and the app scripts (after their imports): "ok" | "verify-failed: <OpenSSL
# message>" (any other error: its repr after the prefix).
_FETCH = """
def fetch(url, context):
    try:
        urllib.request.urlopen(url, context=context, timeout=10).read()
        return "ok"
    except Exception as exc:
        reason = getattr(exc, "reason", exc)
        return "verify-failed: " + getattr(reason, "verify_message", repr(reason))
"""

# Each client run: {variant: fetch(...)}.
_CLIENT = (
    """
import json, ssl, sys, urllib.request
"""
    + _FETCH
    + """
out = {}
for variant, root, url in json.loads(sys.argv[1]):
    context = ssl.create_default_context(cafile=root)
    if sys.argv[2] == "relaxed":
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    out[variant] = fetch(url, context)
print(json.dumps(out))
"""
)


@pytest.fixture(scope="module")
def variant_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[list[str]]]:
    folder = tmp_path_factory.mktemp("strict")
    entries: list[tuple[str, Path, Path]] = []
    for variant in STRICT_VARIANTS:
        key, root = strict_variant_root(variant)
        (folder / f"{variant}.pem").write_bytes(pem(root))
        (folder / f"{variant}.server.pem").write_bytes(issue_server_pem(key, root))
        entries.append((variant, folder / f"{variant}.pem", folder / f"{variant}.server.pem"))
    with (
        pem_server(entries[0][2]) as u0,
        pem_server(entries[1][2]) as u1,
        pem_server(entries[2][2]) as u2,
        pem_server(entries[3][2]) as u3,
        pem_server(entries[4][2]) as u4,
    ):
        urls = [u0, u1, u2, u3, u4]
        yield [[v, str(root), url] for (v, root, _), url in zip(entries, urls)]


def _client(python: str, servers: list[list[str]], how: str) -> dict[str, str]:
    proc = subprocess.run(
        [python, "-I", "-c", _CLIENT, json.dumps(servers), how],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_rule_is_what_python_313_enforces(variant_servers):
    py313 = require_python(13)
    strict = _client(py313, variant_servers, "default")
    relaxed = _client(py313, variant_servers, "relaxed")
    for variant, root, _ in variant_servers:
        codes = strict_problems(x509.load_pem_x509_certificate(Path(root).read_bytes()))
        if variant == "clean":
            assert codes == ()
            assert strict[variant] == "ok", strict
        else:
            assert codes == (variant,)
            assert strict[variant] == f"verify-failed: {RULES[variant].openssl}", strict
        assert relaxed[variant] == "ok", (variant, relaxed)


def test_python_312_does_not_set_the_flag(variant_servers):
    """The twin: the same roots pass on 3.12, so the failures above are the strict flag's."""
    py312 = require_python(12)
    assert set(_client(py312, variant_servers, "default").values()) == {"ok"}


def test_v1_root_is_flagged(tmp_path):
    """X.509 v1 roots (no extensions at all); cryptography cannot build one, openssl can."""
    key = tmp_path / "v1.key"
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["openssl", "req", "-new", "-key", str(key), "-subj", "/CN=V1 Root", "-out", "v1.csr"],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    subprocess.run(
        ["openssl", "x509", "-req", "-in", "v1.csr", "-signkey", str(key), "-out", "v1.pem"],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    cert = x509.load_pem_x509_certificate((tmp_path / "v1.pem").read_bytes())
    assert cert.version == x509.Version.v1
    assert strict_problems(cert) == ("v1-certificate",)


def _project(tmp_path: Path, relax: bool) -> Path:
    _, corp = strict_variant_root("basic-constraints-not-critical", "Corp Proxy Root")
    (tmp_path / "corp.pem").write_bytes(pem(corp))
    (tmp_path / "clean.pem").write_bytes(pem(strict_variant_root("clean", "Clean Fallback")[1]))
    config = tmp_path / "certembed.toml"
    config.write_text(
        f'mode = "fill-gaps"\ntargets = ["linux"]\nrelax_x509_strict = {str(relax).lower()}\n\n'
        '[[source]]\nkind = "pem_file"\npath = "corp.pem"\ntrust = "always"\n\n'
        '[[source]]\nkind = "pem_file"\npath = "clean.pem"\ntrust = "fallback"\n'
    )
    return config


@pytest.mark.parametrize("relax", [False, True], ids=["kept", "relaxed"])
def test_build_inspect_audit_doctor_flag_the_root(tmp_path, capsys, relax):
    config = _project(tmp_path, relax)
    assert main(["build", str(config), "-o", str(tmp_path / "out"), "--no-freeze", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    (warning,) = [w for w in summary["warnings"] if "strict X.509" in w]
    assert "CN=Corp Proxy Root" in warning and "SHA-256 " in warning
    assert "basicConstraints is not marked critical" in warning
    assert "Basic Constraints of CA cert not marked critical" in warning
    assert ("relax_x509_strict = true clears" in warning) == relax
    assert ("re-issue the root" in warning) != relax

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["policy"]["relax_x509_strict"] is relax
    flags = {c["label"]: c["x509_strict"] for c in manifest["certificates"]}
    assert flags == {"Corp Proxy Root": ["basic-constraints-not-critical"], "Clean Fallback": []}

    assert main(["inspect", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    corp_line = next(line for line in text.splitlines() if "Corp Proxy Root" in line)
    clean_line = next(line for line in text.splitlines() if "Clean Fallback" in line)
    assert corp_line.endswith("basic-constraints-not-critical")
    assert clean_line.endswith("ok")
    assert "1 rejected by Python 3.13+" in text
    assert main(["inspect", str(tmp_path / "corp.pem"), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["certificates"]
    assert row["x509_strict"] == ["basic-constraints-not-critical"]

    report = audit(tmp_path / "out" / "linux", date.today())
    strict = [f for f in report.findings if "VERIFY_X509_STRICT" in f.message]
    assert len(strict) == 1 and "Corp Proxy Root" in strict[0].message
    assert strict[0].category == ("info" if relax else "x509-strict")
    assert ("relaxed by relax_x509_strict" in strict[0].message) == relax

    assert main(["doctor", str(config), "--json"]) == 0
    doctor = json.loads(capsys.readouterr().out)["x509_strict"]
    assert doctor["relax_x509_strict"] is relax
    assert [f["subject"] for f in doctor["flagged"]] == ["CN=Corp Proxy Root"]
    assert main(["doctor", str(config)]) == 0
    text = capsys.readouterr().out
    assert ("RELAXED by relax_x509_strict" in text) == relax
    assert "rejected under the flag: CN=Corp Proxy Root" in text


def test_audit_fail_on_x509_strict(tmp_path, capsys):
    config = _project(tmp_path, relax=False)
    assert main(["build", str(config), "-o", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    code = main(["audit", str(tmp_path / "out" / "linux"), "--fail-on", "x509-strict"])
    assert code != 0
    assert "[x509-strict]" in capsys.readouterr().out


# Inside the app: a default context (urllib), and a context the app builds itself from the same
# root with its own flags, which certembed leaves alone.
_APP = (
    """
import json, os, ssl, sys, urllib.request
"""
    + _FETCH
    + """
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap
out = {"x509_strict": _certembed_bootstrap.decision()["x509_strict"]}
for name, context in (
    ("default", None),
    ("own", ssl.create_default_context(cafile=os.environ["ROOT"])),
):
    out[name] = fetch(sys.argv[1], context)
print(json.dumps(out))
"""
)


@pytest.fixture(scope="module")
def corp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("corp")
    key, root = strict_variant_root("basic-constraints-not-critical", "Corp Proxy Root")
    (folder / "corp.pem").write_bytes(pem(root))
    (folder / "server.pem").write_bytes(issue_server_pem(key, root))
    with pem_server(folder / "server.pem") as url:
        yield folder / "corp.pem", url


def _run_app(python: str, out: Path, root: Path, url: str) -> tuple[dict[str, str], str]:
    proc = subprocess.run(
        [python, "-c", _APP, url],
        capture_output=True,
        text=True,
        env=scrubbed_env(BOOTSTRAP=str(out / "linux"), ROOT=str(root), CERTEMBED_DEBUG="1"),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


@pytest.mark.parametrize("relax", [False, True], ids=["kept", "relaxed"])
def test_python_313_with_the_bootstrap(tmp_path, corp_server, relax):
    """3.13 rejects the corporate root in a default context unless the config opts in; the
    opt-in shows in the decision and the debug line; the app's own context keeps the flag."""
    py313 = require_python(13)
    root, url = corp_server
    config = tmp_path / "certembed.toml"
    config.write_text(
        f'mode = "embedded-only"\ntargets = ["linux"]\nrelax_x509_strict = {str(relax).lower()}\n'
        f'[[source]]\nkind = "pem_file"\npath = "{root.as_posix()}"\ntrust = "always"\n'
    )
    assert main(["build", str(config), "-o", str(tmp_path / "out"), "--no-freeze", "-q"]) == 0
    result, stderr = _run_app(py313, tmp_path / "out", root, url)
    strict_failure = "verify-failed: Basic Constraints of CA cert not marked critical"
    assert result["default"] == ("ok" if relax else strict_failure), result
    assert result["own"] == strict_failure, result
    assert result["x509_strict"] == ("relaxed" if relax else "kept")
    (line,) = [x for x in stderr.splitlines() if x.startswith("certembed: {")]
    assert json.loads(line[len("certembed: ") :])["x509_strict"] == result["x509_strict"]
    if not relax:  # the twin: 3.12 never set the flag, the same build works there
        twin, _ = _run_app(require_python(12), tmp_path / "out", root, url)
        assert twin["default"] == "ok" and twin["own"] == "ok", twin


def test_example_demo_certificates_pass_python_313_strict_checks() -> None:
    """The quick start's demo root must work on 3.13+ default contexts: no strict finding."""
    demo = Path(__file__).resolve().parents[1] / "examples" / "hello-https" / "demo"
    for name in ("demo-root.pem", "demo-server.pem"):
        cert = x509.load_pem_x509_certificate((demo / name).read_bytes())
        assert strict_problems(cert) == (), name
