"""Real Nuitka builds (certembed's freeze and plain ``nuitka --user-plugin``) run in a scrubbed
environment inside private mount namespaces, with real handshakes.

Nuitka compiles C and is slow on 2 cores, so three builds serve every test: certembed's
standalone freeze and a plain ``--onefile`` build with the plugin (both of the urllib + requests
app), and the disabled twin (urllib only, ``CERTEMBED_DISABLE=1``). All three are built inside
the Debian layout's namespace, so Nuitka issue #3240 (built on Debian, run on Fedora 43 / RHEL)
is reproduced literally. Plugin errors stop Nuitka before it compiles anything.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from certembed.errors import FreezeError, FreezerFailedError, NuitkaOptionConflict
from certembed.integrations.nuitka import PLUGIN_PATH
from tests.support.env import machine_env, scrubbed_env
from tests.support.layouts import build_layout, require_namespaces, run_in_layout
from tests.support.nuitka import certembed_freeze, plain_nuitka
from tests.support.project import corp_payload
from tests.test_engines import UV_PYTHON, _pins, _uv
from tests.test_pyinstaller import URLLIB_APP, _assert_trust, _config, _results

pytestmark = [pytest.mark.freeze, pytest.mark.namespace]
REPO = Path(__file__).resolve().parents[1]
NONE = {"SSL_CERT_FILE": None, "SSL_CERT_DIR": None, "REQUESTS_CA_BUNDLE": None}


def _certembed(*args: str) -> subprocess.CompletedProcess[str]:
    found = Path(sys.executable).with_name("certembed")
    exe = str(found) if found.exists() else "certembed"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env=scrubbed_env(), timeout=120
    )


def _plugin() -> str:
    """The plugin path as the docs tell users to get it: ``certembed nuitka-plugin``."""
    proc = _certembed("nuitka-plugin")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def nk_layouts(tmp_path_factory, ca_dir):
    require_namespaces()
    return {
        name: build_layout(tmp_path_factory.mktemp(f"nk-{name}"), name, ca_dir / "distro.pem")
        for name in ("none", "debian", "rhel", "fedora43")
    }


@pytest.fixture(scope="session")
def nk_standalone(tmp_path_factory, ca_dir, nk_layouts) -> Path:
    """certembed's freeze (what `certembed build` runs for an app of kind "nuitka")."""
    folder = tmp_path_factory.mktemp("nk-standalone")
    _config(folder, ca_dir)
    proc = certembed_freeze(
        folder, folder / "certembed.toml", "tlsapp", "tls_app.py", False, nk_layouts["debian"]
    )
    exe = folder / "dist" / "tlsapp" / "tlsapp"
    assert f"executable: {exe}" in proc.stdout
    assert "freezing tlsapp (standalone) with Nuitka 4." in proc.stderr
    assert (exe.parent / "certembed" / "_certembed_bootstrap.py").is_file()
    return exe


@pytest.fixture(scope="session")
def nk_onefile(tmp_path_factory, ca_dir, nk_layouts) -> Path:
    """Plain Nuitka with the plugin; the project's certembed.toml is discovered."""
    folder = tmp_path_factory.mktemp("nk-onefile")
    _config(folder, ca_dir)
    proc = plain_nuitka(
        folder,
        "--onefile",
        f"--user-plugin={_plugin()}",
        "--output-dir=out",
        "tls_app.py",
        layout_root=nk_layouts["debian"],
    )
    said = proc.stdout + proc.stderr
    assert "certembed: embedding 2 anchors (mode fill-gaps) from" in said
    assert str(folder / "certembed.toml") in said
    exe = folder / "out" / "tls_app.bin"
    assert exe.is_file()
    return exe


@pytest.fixture(scope="session")
def nk_disabled(tmp_path_factory, ca_dir, nk_layouts) -> Path:
    """The twin: the plugin given but CERTEMBED_DISABLE=1, so plain Nuitka's own behaviour."""
    folder = tmp_path_factory.mktemp("nk-disabled")
    _config(folder, ca_dir)  # a config that would be used, were certembed not disabled
    (folder / "app.py").write_text(URLLIB_APP)
    proc = plain_nuitka(
        folder,
        "--standalone",
        f"--user-plugin={_plugin()}",
        "--output-dir=out",
        "app.py",
        layout_root=nk_layouts["debian"],
        CERTEMBED_DISABLE="1",
    )
    assert "disabled by CERTEMBED_DISABLE=1" in proc.stdout + proc.stderr
    dist = folder / "out" / "app.dist"
    assert not (dist / "certembed").exists()
    return dist / "app.bin"


@pytest.fixture(params=["standalone", "onefile"])
def built(request) -> Path:
    return request.getfixturevalue(f"nk_{request.param}")


def _verdicts(layout_root: Path, exe: Path, urls: list[str]) -> list[str]:
    proc = run_in_layout(layout_root, [str(exe), *urls], env=scrubbed_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_bare_machine_always_and_fallback_verify_unknown_fails(built, nk_layouts, servers):
    _assert_trust(_results(nk_layouts["none"], built, servers), servers, {"fallback", "corp"})


def test_machine_store_is_used_where_there_is_one(built, nk_layouts, servers):
    for layout in ("debian", "rhel"):
        _assert_trust(_results(nk_layouts[layout], built, servers), servers, {"distro", "corp"})


def test_issue_3240_built_on_debian_runs_on_fedora43_and_rhel(
    nk_standalone, nk_disabled, nk_layouts, servers
):
    """Plain Nuitka's app carries Debian's OpenSSL, which looks in /usr/lib/ssl: on Fedora 43
    and RHEL it verifies nothing; certembed's finds the distributions' own bundle files."""
    for layout in ("fedora43", "rhel"):
        results = _results(nk_layouts[layout], nk_standalone, servers)
        _assert_trust(results, servers, {"distro", "corp"})
    distro = servers["distro"].url
    assert _verdicts(nk_layouts["debian"], nk_disabled, [distro]) == ["ok"]
    assert _verdicts(nk_layouts["fedora43"], nk_disabled, [distro]) == ["verify-failed"]
    assert _verdicts(nk_layouts["rhel"], nk_disabled, [distro]) == ["verify-failed"]


def test_disabled_twin_fails_on_the_corporate_server(nk_disabled, nk_layouts, servers):
    urls = [servers[n].url for n in ("corp", "fallback", "rogue")]
    for layout in ("none", "debian"):
        assert _verdicts(nk_layouts[layout], nk_disabled, urls) == ["verify-failed"] * 3


def test_child_process_inherits_nothing(built, nk_layouts):
    proc = run_in_layout(nk_layouts["none"], [str(built), "--child-env"], env=scrubbed_env())
    assert json.loads(proc.stdout) == {**NONE, "CURL_CA_BUNDLE": None}


def test_bootstrap_runs_first_and_leaves_no_names(built, nk_layouts):
    proc = run_in_layout(nk_layouts["none"], [str(built), "--markers"], env=scrubbed_env())
    markers = json.loads(proc.stdout)
    assert markers["certembed"] is True
    assert markers["leaked_globals"] == []


def test_debug_line_names_where_the_payload_was_found(built, nk_layouts, servers):
    """Onefile extracts to a temporary folder: the payload is found there, not beside the exe."""
    proc = run_in_layout(
        nk_layouts["none"],
        [str(built), servers["corp"].url],
        env=scrubbed_env(CERTEMBED_DEBUG="1"),
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("certembed: {")]
    report = json.loads(line.split(": ", 1)[1])
    assert report["integrity_problems"] == [] and report["mode"] == "fill-gaps"
    data = Path(report["data"])
    assert data.name == "_certembed_data" and data.parent.name == "certembed"
    if built.name == "tlsapp":  # standalone: next to the executable
        assert data.parent.parent == built.parent
    else:  # onefile: in the folder it extracted itself to, gone once it exited
        assert not data.is_relative_to(built.parent)
        assert not data.exists()
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(results.values()) == {"ok"}


def _dist_copy(exe: Path, folder: Path) -> Path:
    shutil.copytree(exe.parent, folder, symlinks=True)
    return folder / exe.name


def test_mode_and_export_env_come_from_the_payload(
    nk_standalone, tmp_path, ca_dir, nk_layouts, servers
):
    """The embedded payload alone decides: a dist carrying an embedded-only, export_env payload
    (the files the plugin would embed from that config) trusts only it and exports it."""
    exe = _dist_copy(nk_standalone, tmp_path / "dist")
    payload = corp_payload(tmp_path / "p", ca_dir, extra="export_env = true")
    shutil.rmtree(exe.parent / "certembed")
    shutil.copytree(payload, exe.parent / "certembed")
    _assert_trust(_results(nk_layouts["debian"], exe, servers), servers, {"corp"})
    proc = run_in_layout(
        nk_layouts["none"],
        [str(exe), "--child-env"],
        env=scrubbed_env(XDG_CACHE_HOME=str(tmp_path / "cache")),
    )
    seen = json.loads(proc.stdout)
    assert seen["SSL_CERT_FILE"] and Path(seen["SSL_CERT_FILE"]).is_relative_to(tmp_path / "cache")
    assert seen["REQUESTS_CA_BUNDLE"] == seen["SSL_CERT_FILE"]


def test_tampered_fallback_is_not_trusted(nk_standalone, tmp_path, ca_dir, nk_layouts, servers):
    exe = _dist_copy(nk_standalone, tmp_path / "dist")
    fallback = sorted((exe.parent / "certembed" / "_certembed_data" / "fallback").iterdir())
    fallback[0].write_bytes((ca_dir / "rogue.pem").read_bytes())
    urls = [servers[n].url for n in ("fallback", "corp", "rogue")]
    proc = run_in_layout(nk_layouts["none"], [str(exe), *urls], env=scrubbed_env())
    assert proc.returncode == 0, proc.stderr
    assert "certembed: warning:" in proc.stderr and "not trusting" in proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for client in ("urllib", "requests"):
        assert results[f"{client} {servers['fallback'].url}"] == "verify-failed"
        assert results[f"{client} {servers['rogue'].url}"] == "verify-failed"
        assert results[f"{client} {servers['corp'].url}"] == "ok"


def test_inspect_and_audit_read_the_standalone_dist(nk_standalone, capsys):
    """The payload's provenance manifest travels in dist/<name>/certembed/."""
    from datetime import date

    from certembed.audit.report import audit
    from certembed.cli import main

    dist = nk_standalone.parent
    assert main(["inspect", str(dist), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["certificates"]
    assert sorted(r["trust"] for r in rows) == ["always", "fallback"]
    report = audit(dist, date(2026, 1, 1))
    (bundle,) = [b for b in report.bundles if b.kind == "certembed"]
    assert bundle.certificates == 2 and bundle.integrity == "ok" and bundle.mode == "fill-gaps"


# --- bad input: each stops Nuitka before it compiles, with one message and its own exit code


def _failing_build(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(URLLIB_APP)
    proc = plain_nuitka(
        folder, "--standalone", "--output-dir=out", *args, "app.py", check=False, **env
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (folder / "out").exists()  # nothing was compiled
    return proc


def test_conflicting_options_exit_56(tmp_path):
    proc = _failing_build(
        tmp_path,
        f"--user-plugin={_plugin()}",
        "--force-runtime-environment-variable=SSL_CERT_FILE=/etc/ssl/cert.pem",
        "--include-data-files=app.py=certembed/extra.txt",
        "--include-data-files=app.py=certifi/cacert.pem",
        "--noinclude-data-files=certembed/*",
    )
    assert proc.returncode == NuitkaOptionConflict.exit_code == 56
    said = proc.stdout + proc.stderr
    assert "FATAL: certembed: a Nuitka option fights the certembed plugin" in said
    assert "--force-runtime-environment-variable=SSL_CERT_FILE=/etc/ssl/cert.pem pins" in said
    assert "--include-data-files=app.py=certembed/extra.txt writes into certembed/" in said
    assert "--noinclude-data-files=certembed/* drops certembed's payload" in said
    assert "--include-data-files=app.py=certifi/cacert.pem replaces certifi's bundle" in said


def test_a_moved_or_stale_plugin_copy_exit_55(tmp_path):
    stale = tmp_path / "vendored" / "certembed_nuitka.py"
    stale.parent.mkdir()
    stale.write_text(PLUGIN_PATH.read_text() + "\n# an older certembed's plugin\n")
    proc = _failing_build(tmp_path / "app", f"--user-plugin={stale}")
    assert proc.returncode == 55
    said = proc.stdout + proc.stderr
    assert f"the Nuitka plugin {stale} is not the one of the certembed installed" in said
    assert "--user-plugin=$(certembed nuitka-plugin)" in said


def test_a_broken_config_exit_57_names_file_and_line(tmp_path):
    config = tmp_path / "ce.toml"
    config.write_text('mode = "fill-gaps"\ntargets = ["linux"]\nexport_env = "yes"\n')
    proc = _failing_build(
        tmp_path / "app", f"--user-plugin={_plugin()}", f"--certembed-config={config}"
    )
    assert proc.returncode == 57
    said = proc.stdout + proc.stderr
    assert "FATAL: certembed: certembed cannot prepare this app's trust anchors" in said
    assert "ce.toml:3" in said and "export_env" in said
    assert f"config: --certembed-config={config}" in said
    assert "CERTEMBED_DISABLE=1" in said


def test_an_app_that_asked_for_nothing_still_compiles(tmp_path):
    """No config anywhere and the default cannot be prepared (certifi broken in the build
    environment): a warning, and the app compiles and runs as plain Nuitka makes it."""
    shadow = tmp_path / "shadow" / "certifi"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('certifi is broken here')\n")
    (tmp_path / "hello.py").write_text("import ssl\nprint('hello', ssl.OPENSSL_VERSION_INFO[0])\n")
    proc = plain_nuitka(
        tmp_path,
        "--standalone",
        f"--user-plugin={_plugin()}",
        "--output-dir=out",
        "hello.py",
        PYTHONPATH=str(shadow.parent),
    )
    said = proc.stdout + proc.stderr
    assert "the default payload cannot be prepared (certifi is broken here)" in said
    assert "compiled without certembed" in said
    dist = tmp_path / "out" / "hello.dist"
    assert not (dist / "certembed").exists()
    run = subprocess.run(
        [str(dist / "hello.bin")], capture_output=True, text=True, env=scrubbed_env()
    )
    assert run.returncode == 0 and run.stdout.startswith("hello "), run.stderr


# --- certembed's own freeze: failures are one sentence naming the log


def _spec(folder: Path, script: str, args: tuple[str, ...] = ()):
    from certembed.config import load_config
    from certembed.config.model import AppSpec

    (folder / "certembed.toml").write_text('mode = "fill-gaps"\ntargets = ["linux"]\n')
    spec = load_config(folder / "certembed.toml")
    app = AppSpec("app", folder / script, False, args, "nuitka")
    return dataclasses.replace(spec, app=app)


def test_freeze_failure_is_one_sentence_naming_the_log(tmp_path, monkeypatch):
    from certembed.build import build_bundle_output
    from certembed.integrations.nuitka.freeze import freeze

    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.py").write_text("def main(:\n")
    spec = _spec(tmp_path, "broken.py")
    result = build_bundle_output(spec, tmp_path / "build" / "certembed")
    with pytest.raises(FreezeError) as caught:
        freeze(spec, result, tmp_path / "dist", progress=lambda _: None)
    message = str(caught.value)
    assert type(caught.value) is FreezerFailedError and caught.value.exit_code == 51
    assert message.startswith("Nuitka could not compile app from broken.py (exit status 1")
    log = Path(message.rsplit("its log is ", 1)[1])
    assert log.is_file() and "broken.py" in log.read_text()
    assert "\n" not in message
    assert not (tmp_path / "dist").exists()


def test_freeze_reports_the_plugins_own_error(tmp_path, monkeypatch):
    """An app's args that fight the plugin: certembed build stops with the plugin's exit code."""
    from certembed.build import build_bundle_output
    from certembed.integrations.nuitka.freeze import freeze

    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text(URLLIB_APP)
    spec = _spec(tmp_path, "app.py", ("--force-runtime-environment-variable=SSL_CERT_DIR=/x",))
    result = build_bundle_output(spec, tmp_path / "build" / "certembed")
    with pytest.raises(NuitkaOptionConflict) as caught:
        freeze(spec, result, tmp_path / "dist", progress=lambda _: None)
    message = str(caught.value)
    assert message.startswith("a Nuitka option fights the certembed plugin")
    assert "SSL_CERT_DIR=/x pins one CA file" in message
    assert "(full Nuitka log: " in message and "Traceback" not in message


def test_freeze_refuses_args_that_move_the_output(tmp_path, monkeypatch):
    from certembed.build import build_bundle_output
    from certembed.integrations.nuitka.freeze import freeze

    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text(URLLIB_APP)
    spec = _spec(tmp_path, "app.py", ("--onefile", "--output-dir=elsewhere", "--lto=no"))
    result = build_bundle_output(spec, tmp_path / "build" / "certembed")
    with pytest.raises(NuitkaOptionConflict, match=r"args --onefile, --output-dir=elsewhere fight"):
        freeze(spec, result, tmp_path / "dist", progress=lambda _: None)
    assert not (tmp_path / "build" / "nuitka").exists()  # Nuitka never ran


def test_plain_builds_find_their_config_in_one_order(tmp_path, monkeypatch):
    """The shared resolution order: --certembed-config, then CERTEMBED_CONFIG, then the
    project's file, then the default."""
    from certembed.integrations.nuitka.pluginimpl import NuitkaOptions, prepare, tool_config
    from certembed.integrations.resolve import resolve

    project = tmp_path / "project"
    project.mkdir()

    def found(tool: str | None = None) -> tuple[str, Path | None]:
        options = NuitkaOptions(
            standalone=True, onefile=False, project_dir=project, tool_config=tool
        )
        got = resolve(project, tool_config(options), honour_disable=False)
        return got.step, got.config_path

    assert found() == ("default", None)
    (project / "certembed.toml").write_text('mode = "merge"\n')
    assert found() == ("discovered", project / "certembed.toml")
    (tmp_path / "env.toml").write_text('mode = "embedded-only"\n')
    monkeypatch.setenv("CERTEMBED_CONFIG", str(tmp_path / "env.toml"))
    assert found() == ("env", tmp_path / "env.toml")
    (tmp_path / "tool.toml").write_text('mode = "merge"\n')
    monkeypatch.chdir(tmp_path)
    assert found("tool.toml") == ("tool", tmp_path / "tool.toml")
    # not a distribution of its own: the program uses the installed Python's trust
    payload, message, level = prepare(
        NuitkaOptions(standalone=False, onefile=False, project_dir=project)
    )
    assert payload is None and level == "info" and "nothing is embedded" in message


def test_nuitka_plugin_command_prints_the_shipped_plugin(capsys):
    from certembed.cli import main

    assert main(["nuitka-plugin"]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed == PLUGIN_PATH and printed.is_file()
    assert "class CertembedNuitkaPlugin(NuitkaPluginBase)" in printed.read_text()


# --- Windows: Nuitka needs a C toolchain it downloads (not here), so only its install resolves


@pytest.mark.parametrize("python", ["3.9", "3.11", "3.13"])
def test_windows_install_of_the_nuitka_extra_resolves(project_wheel, python):
    """`pip install certembed[nuitka]` on Windows x64: every dependency from a win_amd64 wheel
    except Nuitka itself, which PyPI ships only as a pure-Python source distribution."""
    requirements = project_wheel.parent / f"in-nuitka-windows-{python}.txt"
    requirements.write_text(f"certembed[nuitka] @ {project_wheel.as_uri()}\n")
    proc = subprocess.run(
        [_uv(), "pip", "compile", "--quiet", "--no-header", "--no-annotate", *UV_PYTHON,
         "--python-platform", "x86_64-pc-windows-msvc", "--python-version", python,
         "--only-binary", ":all:", "--no-binary", "nuitka", str(requirements)],
        capture_output=True, text=True, env=machine_env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    pins = _pins(proc.stdout)
    assert pins["nuitka"].startswith("4.")
    assert {"cryptography", "certifi", "starlark-pyo3"} <= set(pins)


def test_the_wheel_ships_the_plugin(project_wheel):
    import zipfile

    names = zipfile.ZipFile(project_wheel).namelist()
    assert "certembed/integrations/nuitka/certembed_nuitka.py" in names
    assert "certembed/integrations/nuitka/pluginimpl.py" in names
