"""Real PyInstaller freezes run in a scrubbed environment inside private mount namespaces."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env
from tests.support.layouts import build_layout, require_namespaces, run_in_layout
from tests.support.pythons import require_module
from tests.test_runtime_layouts import outcome

pytestmark = [pytest.mark.freeze, pytest.mark.namespace]
APP = Path(__file__).parent / "apps" / "tls_app.py"
REPO = Path(__file__).resolve().parents[1]


def _bin(name: str) -> str:
    found = Path(sys.executable).with_name(name)
    return str(found) if found.exists() else name


def _config(folder: Path, ca_dir: Path, extra: str = "", app: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(APP, folder / "tls_app.py")
    (folder / "certembed.toml").write_text(
        f'mode = "fill-gaps"\n{extra}\n'
        f'[[source]]\nkind = "pem_file"\npath = "{(ca_dir / "fallback.pem").as_posix()}"\n'
        'trust = "fallback"\n\n'
        f'[[source]]\nkind = "pem_file"\npath = "{(ca_dir / "corp.pem").as_posix()}"\n'
        f'trust = "always"\n{app}'
    )


def _run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env=scrubbed_env(**env), timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _pyinstaller(
    folder: Path, *args: str, python: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    if python is None:  # this environment's PyInstaller (a given ``python`` brings its own)
        require_module("PyInstaller", "pip install -e '.[test]'")
    exe = [python, "-m", "PyInstaller"] if python else [_bin("pyinstaller")]
    return _run([*exe, "--noconfirm", "--log-level", "WARN", *args], folder, **env)


def _urls(servers) -> list[str]:
    return [servers[n].url for n in ("distro", "fallback", "corp", "rogue")]


def _results(layout_root: Path, exe: Path, servers) -> dict[str, str]:
    proc = run_in_layout(layout_root, [str(exe), *_urls(servers)], env=scrubbed_env())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_trust(results, servers, trusted: set[str]) -> None:
    for client in ("urllib", "requests"):
        for server in ("distro", "fallback", "corp", "rogue"):
            want = "ok" if server in trusted else "verify-failed"
            assert outcome(results, servers, client, server) == want, (client, server, results)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, ca_dir):
    require_namespaces()
    return {
        name: build_layout(tmp_path_factory.mktemp(name), name, ca_dir / "distro.pem")
        for name in ("none", "debian", "rhel")
    }


@pytest.fixture(scope="module", params=[False, True], ids=["onedir", "onefile"])
def built(request, tmp_path_factory, ca_dir):
    """`certembed build certembed.toml` with an [app]: freezes through PyInstaller's API."""
    folder = tmp_path_factory.mktemp("onefile" if request.param else "onedir")
    onefile = "true" if request.param else "false"
    _config(
        folder,
        ca_dir,
        app=f'\n[app]\nname = "tlsapp"\nscript = "tls_app.py"\nonefile = {onefile}\n',
    )
    proc = _run([_bin("certembed"), "build", "certembed.toml"], folder)
    exe = folder / "dist" / ("tlsapp" if request.param else "tlsapp/tlsapp")
    assert f"executable: {exe}" in proc.stdout
    assert "freezing tlsapp" in proc.stderr  # progress is shown
    return exe


def test_frozen_app_verifies_without_etc_ssl(built, layouts, servers):
    _assert_trust(_results(layouts["none"], built, servers), servers, {"fallback", "corp"})


def test_frozen_app_uses_the_machine_store_where_there_is_one(built, layouts, servers):
    _assert_trust(_results(layouts["debian"], built, servers), servers, {"distro", "corp"})
    _assert_trust(_results(layouts["rhel"], built, servers), servers, {"distro", "corp"})


def test_child_process_inherits_nothing(built, layouts):
    proc = run_in_layout(layouts["none"], [str(built), "--child-env"], env=scrubbed_env())
    assert json.loads(proc.stdout) == dict.fromkeys(
        ["SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"]
    )


SPEC = """
a = Analysis(["tls_app.py"], hooksconfig={hooksconfig!r})
pyz = PYZ(a.pure)
exe = EXE(pyz, a.scripts, [], exclude_binaries=True, name="tlsapp", console=True)
coll = COLLECT(exe, a.binaries, a.datas, name="tlsapp")
"""


def test_disabled_twin_fails(tmp_path, ca_dir, layouts, servers):
    """The same app, frozen with {"enabled": False}: nothing embedded, every handshake fails."""
    _config(tmp_path, ca_dir)
    (tmp_path / "app.spec").write_text(SPEC.format(hooksconfig={"certembed": {"enabled": False}}))
    proc = _pyinstaller(tmp_path, "app.spec")
    assert "disabled by hooksconfig" in proc.stderr
    exe = tmp_path / "dist" / "tlsapp" / "tlsapp"
    assert not (tmp_path / "dist" / "tlsapp" / "_internal" / "certembed").exists()
    _assert_trust(_results(layouts["none"], exe, servers), servers, set())


def test_spec_hooksconfig_sets_the_options(tmp_path, ca_dir, layouts, servers):
    _config(tmp_path, ca_dir)  # certembed.toml exists but hooksconfig wins
    options = {
        "certembed": {
            "mode": "embedded-only",
            "source": [{"kind": "pem_file", "path": str(ca_dir / "corp.pem"), "trust": "always"}],
        }
    }
    (tmp_path / "app.spec").write_text(SPEC.format(hooksconfig=options))
    proc = _pyinstaller(tmp_path, "app.spec")
    assert "from the .spec file's hooksconfig" in proc.stderr
    exe = tmp_path / "dist" / "tlsapp" / "tlsapp"
    _assert_trust(_results(layouts["debian"], exe, servers), servers, {"corp"})


def test_plain_pyinstaller_discovers_the_project_config(tmp_path, ca_dir, layouts, servers):
    _config(tmp_path, ca_dir)
    proc = _pyinstaller(tmp_path, "tls_app.py")
    assert "certembed: embedding 2 anchors (mode fill-gaps) from" in proc.stderr
    exe = tmp_path / "dist" / "tls_app" / "tls_app"
    assert (
        tmp_path / "dist" / "tls_app" / "_internal" / "certembed" / "_certembed_bootstrap.py"
    ).is_file()
    _assert_trust(_results(layouts["none"], exe, servers), servers, {"fallback", "corp"})
    markers = run_in_layout(layouts["none"], [str(exe), "--markers"], env=scrubbed_env())
    assert json.loads(markers.stdout)["leaked_globals"] == []


def test_certembed_config_env_and_export_env(tmp_path, ca_dir, layouts, servers):
    project = tmp_path / "project"
    _config(project, ca_dir)
    elsewhere = tmp_path / "elsewhere"
    _config(elsewhere, ca_dir, extra="export_env = true")
    (project / "certembed.toml").unlink()
    _pyinstaller(project, "tls_app.py", CERTEMBED_CONFIG=str(elsewhere / "certembed.toml"))
    exe = project / "dist" / "tls_app" / "tls_app"
    proc = run_in_layout(
        layouts["none"],
        [str(exe), "--child-env"],
        env=scrubbed_env(XDG_CACHE_HOME=str(tmp_path / "cache")),
    )
    seen = json.loads(proc.stdout)
    assert seen["SSL_CERT_FILE"] and Path(seen["SSL_CERT_FILE"]).is_file()
    assert seen["REQUESTS_CA_BUNDLE"] == seen["SSL_CERT_FILE"]
    assert Path(seen["SSL_CERT_FILE"]).is_relative_to(tmp_path / "cache")


def test_user_ssl_hooks_coexist(tmp_path, ca_dir, layouts, servers):
    _config(tmp_path, ca_dir)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (tmp_path / "user-hook-marker.txt").write_text("from the user's hook-ssl.py\n")
    marker = str(tmp_path / "user-hook-marker.txt")
    (hooks / "hook-ssl.py").write_text(f"datas = [({marker!r}, '.')]\n")
    (tmp_path / "rth_user_ssl.py").write_text("import os\nos.environ['USER_SSL_RTHOOK'] = 'ran'\n")
    _pyinstaller(
        tmp_path,
        "tls_app.py",
        "--additional-hooks-dir",
        "hooks",
        "--runtime-hook",
        "rth_user_ssl.py",
    )
    exe = tmp_path / "dist" / "tls_app" / "tls_app"
    markers = json.loads(
        run_in_layout(layouts["none"], [str(exe), "--markers"], env=scrubbed_env()).stdout
    )
    assert markers["user_rthook"] == "ran"
    assert markers["user_hook_data"] is True
    assert markers["certembed"] is True
    _assert_trust(_results(layouts["none"], exe, servers), servers, {"fallback", "corp"})


def test_oldest_supported_pyinstaller_5(tmp_path, ca_dir, layouts, servers):
    """PyInstaller 5.13, the lower end of the declared range, loads the hook via the entry point."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    _run(
        [python, "-m", "pip", "install", "-q", "pyinstaller==5.13.2", "requests", str(REPO)],
        tmp_path,
    )
    _config(tmp_path / "p", ca_dir)
    _pyinstaller(tmp_path / "p", "tls_app.py", python=python)
    exe = tmp_path / "p" / "dist" / "tls_app" / "tls_app"
    _assert_trust(_results(layouts["none"], exe, servers), servers, {"fallback", "corp"})


@pytest.mark.parametrize("how", ["app.star", "hello.spec"])
def test_example_hello_https_self_test(tmp_path, layouts, how):
    """The README's main job: the example, frozen, proves it verifies TLS with no /etc/ssl."""
    example = tmp_path / "hello-https"
    shutil.copytree(
        REPO / "examples" / "hello-https", example, ignore=shutil.ignore_patterns("build", "dist")
    )
    if how == "app.star":
        _run([_bin("certembed"), "build", "app.star"], example)
    else:
        _pyinstaller(example, "hello.spec")
    exe = example / "dist" / "hello" / "hello"
    proc = run_in_layout(layouts["none"], [str(exe), "--self-test"], env=scrubbed_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "server signed by the embedded demo root: verified (as expected)" in proc.stdout
    assert "self-signed server, not in the bundle: rejected (as expected)" in proc.stdout
    assert "certembed: active, mode fill-gaps" in proc.stdout


def test_pyinstaller40_tests_entry_point_runs(tmp_path):
    """The `tests` entry point names a real directory whose tests pass under PyInstaller's own
    pyi_builder fixture (onedir and onefile)."""
    from importlib.metadata import entry_points

    (entry,) = [
        e
        for e in entry_points(group="pyinstaller40")
        if e.name == "tests" and e.value.startswith("certembed.")
    ]
    (folder,) = entry.load()()
    assert (Path(folder) / "test_certembed_hook.py").is_file()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            folder,
            folder,
            "--basetemp",
            str(tmp_path / "t"),
        ],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout


def test_audit_frozen_apps_end_to_end(built, tmp_path, capsys):
    """`certembed audit` on the onedir dist and the onefile executable (read with PyInstaller's
    own CArchiveReader): this machine's OpenSSL and the embedded certembed bundle."""
    import ssl
    from datetime import date

    import certembed
    from certembed.audit.report import audit
    from certembed.cli import main

    target = built if built.name == "tlsapp" and built.parent.name == "dist" else built.parent
    report = audit(target, date(2026, 1, 1))
    assert report.kind in ("pyinstaller-onedir", "pyinstaller-onefile")
    versions = {lib.version for lib in report.openssl.libraries}
    assert ssl.OPENSSL_VERSION.split()[1] in versions
    (bundle,) = [b for b in report.bundles if b.kind == "certembed"]
    assert bundle.certificates == 2 and bundle.integrity == "ok" and bundle.mode == "fill-gaps"
    assert bundle.certembed_version == certembed.__version__
    assert main(["audit", str(target), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == report.kind and data["trust"]


def test_inspect_frozen_apps(built, capsys):
    """`certembed inspect` on the onedir dist and on the onefile executable: the payload's
    provenance manifest (in the onefile: inside PyInstaller's archive)."""
    from certembed.cli import main

    target = built if built.parent.name == "dist" else built.parent
    assert main(["inspect", str(target), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = data["certificates"]
    assert data["summary"]["kind"] == ("payload" if target.is_dir() else "pyinstaller-onefile")
    assert sorted(r["trust"] for r in rows) == ["always", "fallback"]
    assert all(len(r["sha256"]) == 64 for r in rows)
    assert main(["inspect", str(target)]) == 0
    assert "2 certificates" in capsys.readouterr().out


URLLIB_APP = """\
import sys
import urllib.request

for url in sys.argv[1:]:
    try:
        urllib.request.urlopen(url, timeout=20).read()
        print("ok")
    except Exception as exc:
        print("verify-failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else repr(exc))
"""


def test_plain_pyinstaller_rebuilds_after_a_pem_or_config_change(
    tmp_path, ca_dir, layouts, servers
):
    """No stale bundle: `pyinstaller app.py` again (no --clean) after a PEM or the config
    changed embeds the new inputs; PyInstaller's cache is reused when nothing changed."""
    (tmp_path / "app.py").write_text(URLLIB_APP)
    shutil.copy(ca_dir / "corp.pem", tmp_path / "corp-local.pem")
    config = '[[source]]\nkind = "pem_file"\npath = "corp-local.pem"\ntrust = "always"\n'
    (tmp_path / "certembed.toml").write_text(config)
    exe = tmp_path / "dist" / "app" / "app"
    bootstrap = tmp_path / "dist" / "app" / "_internal" / "certembed" / "_certembed_bootstrap.py"
    urls = [servers["corp"].url, servers["rogue"].url]

    def verdicts() -> list[str]:
        proc = run_in_layout(layouts["none"], [str(exe), *urls], env=scrubbed_env())
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    _pyinstaller(tmp_path, "app.py")
    assert verdicts() == ["ok", "verify-failed"]
    shutil.copy(ca_dir / "rogue.pem", tmp_path / "corp-local.pem")  # the PEM changes
    proc = _pyinstaller(tmp_path, "app.py", "--log-level", "INFO")
    assert "certembed: embedding 1 anchors" in proc.stderr  # the hook ran again
    assert verdicts() == ["verify-failed", "ok"]
    (tmp_path / "certembed.toml").write_text('mode = "merge"\n' + config)  # the config changes
    proc = _pyinstaller(tmp_path, "app.py", "--log-level", "INFO")
    assert "(mode merge)" in proc.stderr
    assert "MODE = 'merge'" in bootstrap.read_text()
    proc = _pyinstaller(tmp_path, "app.py", "--log-level", "INFO")  # nothing changed
    assert "certembed: embedding" not in proc.stderr  # the cached analysis was reused


def _carried(folder: Path) -> set[str]:
    return {p.name for p in (folder / "dist" / "app" / "_internal").iterdir()}


def test_requests_app_carries_no_certembed_build_dependencies(tmp_path):
    """certembed needs cryptography to build; requests' dead pyOpenSSL branch made every
    requests app carry it, and so did urllib3.contrib.pyopenssl in apps whose hooks collect every
    urllib3 submodule (yt-dlp's). Only certembed's payload may differ (bench/app_size.py)."""
    import importlib.util

    assert importlib.util.find_spec("cryptography") is not None  # installed, as with certembed
    assert importlib.util.find_spec("OpenSSL") is None  # no pyOpenSSL: the branch is dead
    (tmp_path / "app.py").write_text("import requests\n\nprint(requests.certs.where())\n")
    _pyinstaller(tmp_path, "--collect-submodules", "urllib3", "app.py")
    internal = tmp_path / "dist" / "app" / "_internal"
    assert (internal / "certembed" / "_certembed_bootstrap.py").is_file()
    carried = _carried(tmp_path)
    unwanted = {"cryptography", "jinja2", "markupsafe", "starlark_go", "pefile.py", "elftools"}
    assert not carried & unwanted, sorted(carried & unwanted)
    assert not [name for name in carried if name.startswith("_cffi_backend")]
    xref = (tmp_path / "build" / "app" / "xref-app.html").read_text()
    assert 'name="urllib3.contrib.pyopenssl"' in xref  # collected, without what it imports
    # The app carries certifi's cacert.pem and certembed's payload, both with public roots
    # Python 3.13 rejects; frozen by this Python, the audit says whether that applies to it.
    from datetime import date

    from certembed.audit.report import audit

    report = audit(tmp_path / "dist" / "app", date.today())
    strict = [f for f in report.findings if "VERIFY_X509_STRICT" in f.message]
    assert {f.file for f in strict} == {"_internal/certembed", "_internal/certifi/cacert.pem"}
    minor = sys.version_info[1]
    if minor < 13:
        assert {f.category for f in strict} == {"info"}
        assert all(f"this runs Python 3.{minor}" in f.message for f in strict)
    else:
        assert {f.category for f in strict} == {"x509-strict"}
        assert len({f.fix for f in strict}) == 1
    proc = subprocess.run(
        [str(tmp_path / "dist" / "app" / "app")],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(".pem")  # certembed's answer to certifi.where()


def test_an_app_that_imports_cryptography_keeps_it(tmp_path):
    """The twin: the same urllib3 collection in an app that uses cryptography itself."""
    (tmp_path / "app.py").write_text(
        "import requests\nfrom cryptography import x509\n\nprint(x509.Version.v3.name)\n"
    )
    _pyinstaller(tmp_path, "--collect-submodules", "urllib3", "app.py")
    assert "cryptography" in _carried(tmp_path)
    proc = subprocess.run(
        [str(tmp_path / "dist" / "app" / "app")],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "v3"
