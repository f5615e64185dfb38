"""The build output: deterministic, equivalent across front ends, usable by OpenSSL itself."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import certifi
import pytest

from certembed.build import build_bundle_output
from certembed.cli import main
from certembed.config import discover, load_config
from tests.support.certs import make_cert, pem
from tests.support.env import scrubbed_env

ONLY_GIVEN = ("-no-CAfile", "-no-CApath", "-no-CAstore")  # ignore the machine's store
ENV = scrubbed_env()

STAR = """\
corp = pem_file("certs/corp-root.pem", trust = "always")
bundle = ca_bundle(
    sources = [certifi(), corp, pem_dir("certs/extra")],
    exclude = ["sha256:{excluded}"],
)
certembed(
    bundle = bundle,
    mode = "fill-gaps",
    targets = ["linux", "macos", "windows"],
    app = pyinstaller_app(name = "hello", script = "hello.py", onefile = False),
)
"""
TOML = """\
mode = "fill-gaps"
targets = ["linux", "macos", "windows"]
exclude = ["sha256:{excluded}"]

[[source]]
kind = "certifi"

[[source]]
kind = "pem_file"
path = "certs/corp-root.pem"
trust = "always"

[[source]]
kind = "pem_dir"
path = "certs/extra"

[app]
kind = "pyinstaller"
name = "hello"
script = "hello.py"
onefile = false
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / "certs" / "extra" / "nested").mkdir(parents=True)
    (root / "certs" / "corp-root.pem").write_bytes(pem(make_cert("Corp Root")))
    (root / "certs" / "extra" / "one.pem").write_bytes(pem(make_cert("Extra One")))
    (root / "certs" / "extra" / "nested" / "two.crt").write_bytes(pem(make_cert("Extra Two")))
    (root / "hello.py").write_text("print('hi')\n")
    excluded = _first_certifi_sha()
    (root / "app.star").write_text(STAR.format(excluded=excluded))
    (root / "certembed.toml").write_text(TOML.format(excluded=excluded))
    (root / "pyproject.toml").write_text(
        '[project]\nname = "p"\n\n[tool.certembed]\n'
        + TOML.format(excluded=excluded)
        .replace("[[source]]", "[[tool.certembed.source]]")
        .replace("[app]", "[tool.certembed.app]")
    )
    return root


def _first_certifi_sha() -> str:
    import hashlib
    import re
    from base64 import b64decode

    block = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END", certifi.contents(), re.S)
    assert block
    return hashlib.sha256(b64decode("".join(block.group(1).split()))).hexdigest()


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_readme_starlark_example_works_as_written(project):
    spec = load_config(project / "app.star")
    assert [s.kind for s in spec.bundle.sources] == ["certifi", "pem_file", "pem_dir"]
    assert [s.trust for s in spec.bundle.sources] == ["fallback", "always", "always"]
    assert spec.app is not None and spec.app.name == "hello" and not spec.app.onefile
    assert spec.resolved_targets() == ("linux", "macos", "windows")


@pytest.mark.parametrize("config", ["certembed.toml", "pyproject.toml"])
def test_toml_front_ends_give_the_same_bundle_as_starlark(project, tmp_path, config):
    star = build_bundle_output(load_config(project / "app.star"), tmp_path / "star")
    other = build_bundle_output(load_config(project / config), tmp_path / "other")
    a, b = _tree(tmp_path / "star"), _tree(tmp_path / "other")
    manifest_a = json.loads(a.pop("manifest.json"))
    manifest_b = json.loads(b.pop("manifest.json"))
    for target in ("linux", "macos", "windows"):  # provenance copies: config file and digest
        assert a.pop(f"{target}/_certembed_manifest.json") != b""
        b.pop(f"{target}/_certembed_manifest.json")
    assert a == b  # cacert.pem, certs/, every bootstrap and data file byte-identical
    assert star.bundle_sha256 == other.bundle_sha256
    assert manifest_a["certificates"] == manifest_b["certificates"]
    assert manifest_a["counts"]["excluded"] == 1


def test_same_inputs_give_byte_identical_output(project, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    spec = load_config(project / "app.star")
    build_bundle_output(spec, tmp_path / "one")
    build_bundle_output(spec, tmp_path / "two")
    assert _tree(tmp_path / "one") == _tree(tmp_path / "two")
    stamps = {p.stat().st_mtime for p in (tmp_path / "one").rglob("*")}
    assert stamps == {1700000000}
    assert (
        json.loads((tmp_path / "one" / "manifest.json").read_text())["source_date_epoch"]
        == 1700000000
    )


def test_manifest_records_provenance(project, tmp_path):
    result = build_bundle_output(load_config(project / "app.star"), tmp_path / "o")
    data = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert data["schema"] == "certembed-manifest" and data["schema_version"] == 1
    certifi_source = data["sources"][0]
    assert certifi_source["version"] == certifi.__version__
    assert certifi_source["files"][0]["sha256"].startswith("sha256:")
    assert data["sources"][2]["files"][0]["path"] == "nested/two.crt"
    assert data["config"]["digest"].startswith("sha256:")
    assert data["bundle"]["sha256"] == result.bundle_sha256
    corp = [c for c in data["certificates"] if c["label"] == "Corp Root"]
    assert corp and corp[0]["trust"] == "always"
    assert corp[0]["sources"] == ["pem_file:certs/corp-root.pem"]  # relative to the config
    shas = [c["sha256"] for c in data["certificates"]]
    assert shas == sorted(shas)
    assert set(data["payloads"]) == {"linux", "macos", "windows"}


def test_hashed_dir_names_equal_openssl_and_verify(project, tmp_path):
    build_bundle_output(load_config(project / "app.star"), tmp_path / "o")
    certs = tmp_path / "o" / "certs"
    names = sorted(os.listdir(certs))
    assert len(names) == len(
        json.loads((tmp_path / "o" / "manifest.json").read_text())["certificates"]
    )
    for name in names:
        proc = subprocess.run(
            ["openssl", "x509", "-noout", "-subject_hash", "-in", str(certs / name)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert name.split(".")[0] == proc.stdout.strip()
        verify = subprocess.run(
            ["openssl", "verify", "-CApath", str(certs), *ONLY_GIVEN, str(certs / name)],
            capture_output=True,
            text=True,
            env=ENV,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
    # negative twin: an empty CApath does not verify the same certificate
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run(
        ["openssl", "verify", "-CApath", str(empty), *ONLY_GIVEN, str(certs / names[0])],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert bad.returncode != 0


def test_discovery_order(project, tmp_path):
    assert discover(project) == project / "certembed.toml"  # no certembed.star there
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert discover(tmp_path) is None  # a pyproject without [tool.certembed] is not a config
    (tmp_path / "certembed.toml").write_text('mode = "merge"\n')
    assert discover(tmp_path) == tmp_path / "certembed.toml"
    (tmp_path / "certembed.star").write_text('certembed(mode = "embedded-only")\n')
    assert discover(tmp_path) == tmp_path / "certembed.star"
    assert load_config(directory=tmp_path).mode == "embedded-only"


def test_no_config_builds_the_embedded_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--json", "--no-freeze"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["fallback"] == summary["certificates"] > 100
    assert summary["always"] == 0
    assert (tmp_path / "build" / "certembed" / "linux" / "_certembed_bootstrap.py").is_file()


def test_inspect_table_and_json(project, tmp_path, capsys):
    build_bundle_output(load_config(project / "app.star"), tmp_path / "o")
    for path in (tmp_path / "o", tmp_path / "o" / "manifest.json", tmp_path / "o" / "cacert.pem"):
        assert main(["inspect", str(path)]) == 0
        text = capsys.readouterr().out
        assert "SUBJECT" in text and "Corp Root" in text and "always" in text
        assert main(["inspect", str(path), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)["certificates"]
        corp = next(r for r in rows if "Corp Root" in r["subject"])
        assert corp["trust"] == "always" and len(corp["sha256"]) == 64
    assert main(["inspect", str(tmp_path / "nothing")]) == 8  # not found: its own exit code


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("certembed 0.")
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = capsys.readouterr().out
    assert "exit codes:" in text and "SOURCE_DATE_EPOCH" in text
