"""The PyOxidizer rule: deterministic, evaluated by starlark-go and by the real pyoxidizer 0.24
binary (offline), and served from memory by oxidized-importer under CPython 3.10."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import starlark_go

from certembed.build import build_bundle_output
from certembed.cli import main
from certembed.config import load_config
from tests.support.env import scrubbed_env
from tests.support.layouts import build_layout, require_namespaces, run_in_layout
from tests.support.project import toml_config
from tests.support.pythons import pyenv_pythons

RUNNER = Path(__file__).parent / "support" / "oxidized_runner.py"
RECIPE = """\
load("certembed.bzl", "certembed_configure", "certembed_add", "certembed_manifest")

def make_manifest():
    return certembed_manifest(FileManifest, FileContent, prefix = "lib")

register_target("certs", make_manifest, default = True)
resolve_targets()
"""


def _tree(folder: Path) -> dict[str, bytes]:
    """A payload's files, minus the pyc and the provenance manifest (not inlined in the rule)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.name != "_certembed_manifest.json"
    }


@pytest.fixture()
def project(tmp_path, ca_dir):
    toml_config(tmp_path, ca_dir, mode="fill-gaps")
    return tmp_path


def _rule(project: Path) -> dict:
    interp = starlark_go.Starlark()
    interp.exec((project / "certembed.bzl").read_text(), filename="certembed.bzl")
    interp.exec(
        'resources = certembed_resources()\nchained = certembed_resources("app_site")\n'
        'files = certembed_files("lib")\n',
        filename="probe.star",
    )
    return {name: interp.get(name) for name in ("resources", "chained", "files")}


def test_rule_is_deterministic_and_inlines_the_payload(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    assert main(["pyoxidizer", "certembed.toml"]) == 0
    printed = capsys.readouterr().out
    assert 'load("certembed.bzl", "certembed_configure", "certembed_add"' in printed
    first = (project / "certembed.bzl").read_bytes()
    assert main(["pyoxidizer", "certembed.toml"]) == 0
    assert (project / "certembed.bzl").read_bytes() == first
    payload = build_bundle_output(load_config(project / "certembed.toml"), project / "out")
    expected = _tree(payload.out_dir / "linux")
    rule = _rule(project)
    names = [r[0] for r in rule["resources"]]
    assert names == [
        "_certembed_bootstrap",
        "_certembed_runtime",
        "_certembed_inline",
        "sitecustomize",
    ]
    assert rule["resources"][0][1].encode() == expected["_certembed_bootstrap.py"]
    assert rule["resources"][1][1].encode() == expected["_certembed_runtime.py"]
    assert all(r[2] is False for r in rule["resources"])
    assert '"app_site"' in rule["chained"][3][1] and '"@CHAIN@"' not in rule["chained"][3][1]
    files = {f"{d}/{n}".removeprefix("lib/"): c.encode() for d, n, c in rule["files"]}
    assert files.pop("sitecustomize.py").startswith(b"# certembed sitecustomize")
    assert files == expected  # the manifest form is the build payload, byte for byte


def test_check_reports_stale_and_broken_rules(project, capsys, monkeypatch, ca_dir):
    monkeypatch.chdir(project)
    assert main(["pyoxidizer", "--check"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["pyoxidizer"]) == 0
    assert main(["pyoxidizer", "--check"]) == 0
    config = project / "certembed.toml"
    config.write_text(config.read_text().replace('mode = "fill-gaps"', 'mode = "merge"'))
    capsys.readouterr()
    assert main(["pyoxidizer", "--check"]) == 2
    err = capsys.readouterr().err
    assert "certembed.bzl: stale: generated for payload " in err
    assert "target linux), but the config now gives payload " in err
    assert "run certembed pyoxidizer" in err
    assert main(["pyoxidizer"]) == 0
    rule = project / "certembed.bzl"
    lines = rule.read_text().splitlines()
    lines[20] = "CERTEMBED_BROKEN = ("
    rule.write_text("\n".join(lines) + "\n")
    assert main(["pyoxidizer", "--check"]) == 2
    assert "certembed.bzl:21:" in capsys.readouterr().err  # the line we broke


def test_check_judges_the_payload_not_the_config_bytes(project, capsys, monkeypatch):
    """A comment-only config edit gives the same payload: --check passes and a rewrite changes
    nothing; a change the payload depends on (a certificate's trust role) is stale."""
    monkeypatch.chdir(project)
    assert main(["pyoxidizer"]) == 0
    rule = (project / "certembed.bzl").read_bytes()
    config = project / "certembed.toml"
    config.write_text("# reviewed by the security team\n" + config.read_text() + "\n# end\n")
    capsys.readouterr()
    assert main(["pyoxidizer", "--check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{Path('certembed.bzl')} is up to date (payload ")
    assert main(["pyoxidizer"]) == 0
    assert capsys.readouterr().err.startswith("unchanged: certembed.bzl")
    assert (project / "certembed.bzl").read_bytes() == rule
    config.write_text(config.read_text().replace('trust = "always"', 'trust = "fallback"', 1))
    assert main(["pyoxidizer", "--check"]) == 2
    assert "certembed.bzl: stale: generated for payload" in capsys.readouterr().err


def test_printed_recipe_is_the_documented_one(project, capsys, monkeypatch):
    """`certembed pyoxidizer` prints, on stdout, exactly the docs' full recipe, which adds the
    app module it runs."""
    from certembed.docgen.pyoxidizer_recipe import END, START, render
    from certembed.integrations.pyoxidizer import recipe

    monkeypatch.chdir(project)
    assert main(["pyoxidizer"]) == 0
    printed = capsys.readouterr().out
    assert printed == recipe()
    docs = (Path(__file__).resolve().parents[1] / "docs" / "pyoxidizer.md").read_text()
    section = docs[docs.index(START) : docs.index(END) + len(END)]
    assert section == render(), "run: python -m certembed.docgen.pyoxidizer_recipe " + (
        "docs/pyoxidizer.md"
    )
    assert f"```python\n{printed}```" in section
    assert 'python_config.run_command = "import app; app.main()"' in printed
    assert 'exe.read_package_root(CWD, ["app"])' in printed  # the module it runs is added


def _list_targets(project: Path, break_rule: bool = False) -> subprocess.CompletedProcess[str]:
    """Generate the rule (optionally with a syntax error), add the recipe, and let the real
    pyoxidizer evaluate both."""
    assert main(["pyoxidizer"]) == 0
    (project / "pyoxidizer.bzl").write_text(RECIPE)
    if break_rule:
        rule = project / "certembed.bzl"
        rule.write_text(
            rule.read_text().replace("def certembed_files(", "def certembed_files(((", 1)
        )
    return subprocess.run(
        [_pyoxidizer(), "list-targets"],
        cwd=project,
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=300,
    )


def _pyoxidizer() -> str:
    exe = shutil.which("pyoxidizer", path=str(Path(sys.executable).parent)) or shutil.which(
        "pyoxidizer"
    )
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pyoxidizer is not installed (pip install pyoxidizer==0.24.0)")
        pytest.skip("pyoxidizer binary not installed")
    return exe


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, ca_dir):
    require_namespaces()
    return {"none": build_layout(tmp_path_factory.mktemp("none"), "none", ca_dir / "distro.pem")}


def test_real_pyoxidizer_evaluates_and_builds_the_manifest(project, monkeypatch, layouts, servers):
    pyox = _pyoxidizer()
    monkeypatch.chdir(project)
    listed = _list_targets(project)
    assert listed.returncode == 0, listed.stderr
    assert "certs" in listed.stdout
    built = subprocess.run(
        [pyox, "build", "certs"],
        cwd=project,
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (lib,) = list(project.glob("build/*/debug/certs/lib"))
    payload = build_bundle_output(load_config(project / "certembed.toml"), project / "out")
    files = _tree(lib)
    assert files.pop("sitecustomize.py").startswith(b"# certembed sitecustomize")
    assert files == _tree(payload.out_dir / "linux")
    # The files work: Python's own site runs the sitecustomize from lib/ and trusts the anchors.
    urls = [servers[n].url for n in ("fallback", "corp", "rogue")]
    probe = (
        "import json, sys, urllib.request\nout = {}\nfor u in sys.argv[1:]:\n"
        "    try:\n        urllib.request.urlopen(u, timeout=10); out[u] = 'ok'\n"
        "    except Exception as e:\n        out[u] = 'failed'\n"
        "print(json.dumps([('_certembed_bootstrap' in sys.modules), out]))"
    )
    for with_lib in (True, False):
        env = scrubbed_env(PYTHONPATH=str(lib)) if with_lib else scrubbed_env()
        proc = run_in_layout(layouts["none"], [sys.executable, "-c", probe, *urls], env=env)
        loaded, out = json.loads(proc.stdout)
        assert loaded is with_lib
        assert out[urls[0]] == out[urls[1]] == ("ok" if with_lib else "failed")
        assert out[urls[2]] == "failed"


def test_real_pyoxidizer_evaluates_the_printed_recipe(project, capsys, monkeypatch):
    """The real pyoxidizer loads the rule from the printed pyoxidizer.bzl and registers its
    targets (building them needs a Python distribution and crates from the network)."""
    pyox = _pyoxidizer()
    monkeypatch.chdir(project)
    assert main(["pyoxidizer"]) == 0
    (project / "pyoxidizer.bzl").write_text(capsys.readouterr().out)
    (project / "app.py").write_text("def main():\n    print('hello')\n")
    listed = subprocess.run(
        [pyox, "list-targets"],
        cwd=project,
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr
    assert {"exe", "*install"} <= set(listed.stdout.split())  # * marks the default target


def test_real_pyoxidizer_reports_a_broken_rule(project, monkeypatch):
    monkeypatch.chdir(project)
    listed = _list_targets(project, break_rule=True)
    assert listed.returncode != 0
    assert "certembed.bzl" in listed.stdout + listed.stderr


def _python310() -> str:
    found = [exe for minor, exe in pyenv_pythons(10) if minor == 10]
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no CPython 3.10 for oxidized-importer")
        pytest.skip("no CPython 3.10 (oxidized-importer 0.6 has wheels for 3.10 only)")
    return found[-1]


@pytest.fixture(scope="module")
def oxidized_python(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ve310")
    subprocess.run([_python310(), "-m", "venv", "--clear", str(folder)], check=True)
    python = str(folder / "bin" / "python")
    proc = subprocess.run(
        [python, "-m", "pip", "install", "-q", "oxidized-importer==0.6.0", "certifi"],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
    )
    assert proc.returncode == 0, proc.stderr
    return python


def test_in_memory_with_oxidized_importer(
    project, monkeypatch, layouts, servers, ca_dir, oxidized_python
):
    monkeypatch.chdir(project)
    assert main(["pyoxidizer"]) == 0
    resources = _rule(project)["resources"]
    urls = [servers[n].url for n in ("fallback", "corp", "rogue")]
    for label, payload in (("certembed", resources), ("twin", [])):
        path = project / f"{label}.json"
        path.write_text(json.dumps(payload))
        proc = run_in_layout(
            layouts["none"],
            [oxidized_python, str(RUNNER), str(path), str(ca_dir / "corp.pem"), *urls],
        )
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        if label == "twin":
            assert report["installed"] is False
            assert set(report["urllib"].values()) == {"verify-failed"}
            assert report["certifi_contents_has_corp"] is False
            continue
        for name in (
            "sitecustomize",
            "_certembed_bootstrap",
            "_certembed_runtime",
            "_certembed_inline",
        ):
            assert report["modules"][name] == {"file": None, "loader": "OxidizedFinder"}, name
        assert report["installed"] is True
        assert report["urllib"] == {urls[0]: "ok", urls[1]: "ok", urls[2]: "verify-failed"}
        assert report["certifi_contents_has_corp"] and report["certifi_where_has_corp"]
