"""Every builtin and key, positively, in both front ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certembed.build import build_bundle_output
from certembed.cli import main
from certembed.config import load_config
from certembed.errors import BundleError
from tests.support.certs import der, make_cert, pem

LEAF = make_cert("Leaf Allowed", ca=False)
SHORT = make_cert("Short Root", days_valid=20)


def test_every_starlark_builtin(tmp_path):
    (tmp_path / "a.pem").write_bytes(pem(make_cert("File Root")))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.crt").write_bytes(pem(make_cert("Dir Root")))
    (tmp_path / "app.py").write_text("print(1)\n")
    inline = pem(make_cert("Inline Root")).decode()
    (tmp_path / "app.star").write_text(f'''
def corp(path):
    return pem_file(path, trust = "always")

certembed(
    bundle = ca_bundle(
        sources = [certifi(trust = "fallback"), system_store(), corp("a.pem"),
                   pem_dir("d", trust = "fallback"), pem("""{inline}""")],
        exclude = [],
        min_days_valid = 1,
        allow_non_ca = False,
    ),
    mode = "merge",
    targets = ["host", "windows"],
    respect_env = False,
    export_env = True,
    patch_certifi = False,
    app = pyinstaller_app(name = "app", script = "app.py", onefile = True, args = ["--strip"]),
)
''')
    spec = load_config(tmp_path / "app.star")
    kinds = [(s.kind, s.trust) for s in spec.bundle.sources]
    assert kinds == [
        ("certifi", "fallback"),
        ("system_store", "fallback"),
        ("pem_file", "always"),
        ("pem_dir", "fallback"),
        ("pem", "always"),
    ]
    assert spec.mode == "merge" and spec.targets == ("host", "windows")
    assert (spec.respect_env, spec.export_env, spec.patch_certifi) == (False, True, False)
    assert spec.app is not None and spec.app.onefile and spec.app.args == ("--strip",)
    assert spec.bundle.min_days_valid == 1
    assert spec.bundle.sources[1].location.line == 7  # each value knows where it came from


def test_system_store_snapshots_the_build_machine(tmp_path, monkeypatch):
    """A snapshot of a store nobody here controls: invalid entries (Debian ships expired roots)
    are skipped with a warning; a user-supplied file with the same problem is an error."""
    expired = make_cert("Expired In Store", days_valid=-1, starts_days_ago=10)
    store = tmp_path / "store.pem"
    store.write_bytes(
        Path("/usr/lib/ssl/cert.pem").read_bytes() + pem(expired)
        if Path("/usr/lib/ssl/cert.pem").exists()
        else pem(expired)
    )
    monkeypatch.setattr("certembed.bundle.load.system_store_paths", lambda: [store])
    (tmp_path / "certembed.toml").write_text(
        '[[source]]\nkind = "system_store"\n[[source]]\nkind = "certifi"\n'
    )
    result = build_bundle_output(load_config(tmp_path / "certembed.toml"), tmp_path / "o")
    assert len(result.bundle.anchors) > 100
    record = result.bundle.sources[0]
    assert record.kind == "system_store" and record.files and record.certificates >= 1
    assert any(
        "skipped from system_store()" in w and "Expired In Store" in w
        for w in result.bundle.warnings
    )
    (tmp_path / "certembed.toml").write_text(
        f'[[source]]\nkind = "pem_file"\npath = "{store.as_posix()}"\n'
    )
    with pytest.raises(BundleError, match="Expired In Store"):
        build_bundle_output(load_config(tmp_path / "certembed.toml"), tmp_path / "o2")


def test_pem_text_and_der_and_allow_non_ca_and_warnings(tmp_path, capsys, monkeypatch):
    cert = make_cert("DER Root")
    (tmp_path / "root.der").write_bytes(der(cert))
    (tmp_path / "leaf.pem").write_bytes(pem(LEAF))
    (tmp_path / "short.pem").write_bytes(pem(SHORT))
    (tmp_path / "certembed.toml").write_text(
        'allow_non_ca = true\nexclude = ["subject:Nothing Matches This"]\n'
        '[[source]]\nkind = "pem_file"\npath = "root.der"\n'
        '[[source]]\nkind = "pem_file"\npath = "leaf.pem"\n'
        '[[source]]\nkind = "pem_file"\npath = "short.pem"\ntrust = "fallback"\n'
        f'[[source]]\nkind = "pem"\ntext = """{pem(make_cert("Text Root")).decode()}"""\n'
    )
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--no-freeze", "--json", "-o", "out"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["certificates"] == 4 and summary["always"] == 3 and summary["fallback"] == 1
    assert any("expires on" in w and "Short Root" in w for w in summary["warnings"])
    assert any("matched no certificate" in w for w in summary["warnings"])


@pytest.mark.parametrize("config", ["certembed.toml", "pyproject.toml"])
def test_every_toml_key(tmp_path, config):
    (tmp_path / "a.pem").write_bytes(pem(make_cert("File Root")))
    (tmp_path / "s.py").write_text("")
    prefix = "tool.certembed." if config == "pyproject.toml" else ""
    head = "[tool.certembed]\n" if prefix else ""
    (tmp_path / config).write_text(
        f'{head}mode = "embedded-only"\ntargets = ["linux", "macos"]\nexclude = []\n'
        "min_days_valid = 0\nallow_non_ca = false\nrespect_env = false\nexport_env = true\n"
        "patch_certifi = false\n"
        f'[[{prefix}source]]\nkind = "certifi"\ntrust = "fallback"\n'
        f'[[{prefix}source]]\nkind = "pem_file"\npath = "a.pem"\ntrust = "always"\n'
        f'[{prefix}app]\nkind = "pyinstaller"\nname = "s"\nscript = "s.py"\nonefile = true\n'
        'args = ["--strip"]\n'
    )
    spec = load_config(tmp_path / config)
    assert spec.mode == "embedded-only" and spec.targets == ("linux", "macos")
    assert (spec.respect_env, spec.export_env, spec.patch_certifi) == (False, True, False)
    assert [s.kind for s in spec.bundle.sources] == ["certifi", "pem_file"]
    assert spec.app is not None and spec.app.script == Path(tmp_path / "s.py").resolve()
    # [[source]] tables carry their line (pyproject has one more line: its table header)
    assert spec.bundle.sources[1].location.line == (13 if prefix else 12)


def test_doctor_reports_and_decides(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["openssl"]["version"].startswith(("OpenSSL", "LibreSSL"))
    assert report["bundle"]["fallback"] > 100
    assert set(report["decisions"]) == {"fill-gaps", "merge", "embedded-only"}
    assert report["decisions"]["embedded-only"]["roles"] == ["fallback"]
    assert report["probed"] and all({"kind", "path", "usable"} <= set(p) for p in report["probed"])
    import ssl

    loaded = {(lib["role"], lib["version"]) for lib in report["openssl_binaries"]}
    assert ("libssl", ssl.OPENSSL_VERSION.split()[1]) in loaded  # the OpenSSL really loaded
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "Decision per mode:" in text and "fill-gaps (configured)" in text
    assert "loaded: " in text


def test_doctor_honours_respect_env(tmp_path, monkeypatch, capsys):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pem(make_cert("Env Root")))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.chdir(tmp_path)
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["env_store"] == [str(ca), None]
    assert report["decisions"]["fill-gaps"]["store"] == "env"
    (tmp_path / "certembed.toml").write_text("respect_env = false\n")
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["decisions"]["fill-gaps"]["store"] != "env"
