"""Real cx_Freeze freezes (Linux) run in private mount namespaces, real handshakes.

Three freezes of one urllib + requests app, each made once for the module (cx_Freeze needs no
compiler: about a second each): ``certembed build`` with ``[app] kind = "cx_freeze"``; plain
``cxfreeze`` (certembed found through its setuptools plugin) run inside the Debian layout, the
Nuitka #3240 scenario for cx_Freeze; and the twin, plain ``cxfreeze`` with
``CERTEMBED_DISABLE=1``, which keeps cx_Freeze's own ``ssl`` hook (build machine's CA file,
``SSL_CERT_FILE`` set at start-up).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env
from tests.support.layouts import build_layout, require_namespaces, run_in_layout
from tests.test_pyinstaller import _assert_trust, _bin, _config, _results, _run

pytestmark = [pytest.mark.freeze, pytest.mark.namespace]
SSL_NAMES = ["SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"]
APP_TABLE = '\n[app]\nkind = "cx_freeze"\nname = "tlsapp"\nscript = "tls_app.py"\n'


def _cxfreeze(folder: Path, name: str, layout: Path | None = None, **env: str) -> Path:
    """Plain ``cxfreeze`` in ``folder`` (inside ``layout``'s namespace if given); the exe."""
    argv = [_bin("cxfreeze"), "build_exe", "--script", "tls_app.py", "--target-name", name]
    argv.append(f"--build-exe=dist/{name}")
    if layout is None:
        _run(argv, folder, **env)
    else:
        proc = run_in_layout(layout, argv, env=scrubbed_env(**env), cwd=folder, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    exe = folder / "dist" / name / name
    assert exe.is_file()
    return exe


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, ca_dir):
    require_namespaces()
    return {
        name: build_layout(tmp_path_factory.mktemp(name), name, ca_dir / "distro.pem")
        for name in ("none", "debian", "rhel", "fedora43")
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory, ca_dir):
    """``certembed build certembed.toml`` with a cx_freeze [app]."""
    folder = tmp_path_factory.mktemp("cxbuild")
    _config(folder, ca_dir, app=APP_TABLE)
    proc = _run([_bin("certembed"), "build", "certembed.toml"], folder)
    exe = folder / "dist" / "tlsapp" / "tlsapp"
    assert f"executable: {exe}" in proc.stdout
    assert "freezing tlsapp (onedir) with cx_Freeze" in proc.stderr
    return exe


@pytest.fixture(scope="module")
def plain(tmp_path_factory, ca_dir, layouts):
    """Plain ``cxfreeze`` on the Debian layout, the project's certembed.toml discovered."""
    folder = tmp_path_factory.mktemp("cxplain")
    _config(folder, ca_dir)
    return _cxfreeze(folder, "plainapp", layouts["debian"])


@pytest.fixture(scope="module")
def twin(tmp_path_factory, ca_dir, layouts):
    """The same project frozen on the Debian layout with CERTEMBED_DISABLE=1."""
    folder = tmp_path_factory.mktemp("cxtwin")
    _config(folder, ca_dir)
    return _cxfreeze(folder, "twinapp", layouts["debian"], CERTEMBED_DISABLE="1")


def _child_env(layout: Path, exe: Path) -> dict[str, str | None]:
    proc = run_in_layout(layout, [str(exe), "--child-env"], env=scrubbed_env())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_bare_machine_always_and_fallback_verify(built, plain, layouts, servers):
    for exe in (built, plain):
        _assert_trust(_results(layouts["none"], exe, servers), servers, {"fallback", "corp"})


def test_machine_store_verifies_on_rhel_and_fedora(built, plain, layouts, servers):
    """Built on the Debian layout, run where the store lives elsewhere (Nuitka #3240 for
    cx_Freeze): the machine's root verifies, the corporate `always` root too."""
    for layout in ("rhel", "fedora43"):
        _assert_trust(_results(layouts[layout], plain, servers), servers, {"distro", "corp"})
    _assert_trust(_results(layouts["rhel"], built, servers), servers, {"distro", "corp"})


def test_twin_without_certembed_fails_on_the_corporate_server(twin, layouts, servers):
    results = _results(layouts["rhel"], twin, servers)
    for client in ("urllib", "requests"):
        assert results[f"{client} {servers['corp'].url}"] == "verify-failed", results
        assert results[f"{client} {servers['rogue'].url}"] == "verify-failed", results
    # cx_Freeze's own ssl hook shipped the build machine's CA file and exports it to children
    assert (twin.parent / "share" / "certs.pem").is_file()
    assert _child_env(layouts["rhel"], twin)["SSL_CERT_FILE"] is not None


def test_certembed_replaces_cx_freezes_ssl_cert_file(built, plain, layouts):
    for exe in (built, plain):
        assert not (exe.parent / "share" / "certs.pem").exists()
        assert (exe.parent / "lib" / "certembed" / "_certembed_bootstrap.py").is_file()
        assert _child_env(layouts["none"], exe) == dict.fromkeys(SSL_NAMES)


def test_debug_line_and_tamper_check(built, layouts, servers, tmp_path):
    """CERTEMBED_DEBUG=1 prints the decision; a changed embedded file is refused, not used."""
    proc = run_in_layout(
        layouts["none"],
        [str(built), servers["fallback"].url],
        env=scrubbed_env(CERTEMBED_DEBUG="1"),
    )
    debug = [line for line in proc.stderr.splitlines() if line.startswith("certembed: {")]
    assert len(debug) == 1, proc.stderr
    report = json.loads(debug[0][len("certembed: ") :])
    assert report["integrity_problems"] == []
    assert report["data"] == str(built.parent / "lib" / "certembed" / "_certembed_data")
    copy = tmp_path / "tlsapp"
    shutil.copytree(built.parent, copy, symlinks=True)
    fallback = copy / "lib" / "certembed" / "_certembed_data" / "fallback.pem"
    fallback.write_bytes(fallback.read_bytes().replace(b"\n", b"\r\n"))
    proc = run_in_layout(
        layouts["none"],
        [str(copy / "tlsapp"), servers["fallback"].url],
        env=scrubbed_env(CERTEMBED_DEBUG="1"),
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(results.values()) == {"verify-failed"}, results
    assert "fallback.pem" in proc.stderr


def test_plain_cxfreeze_without_a_config_is_unchanged(tmp_path):
    """No certembed config anywhere: cx_Freeze builds exactly as it would without certembed."""
    shutil.copy(Path(__file__).parent / "apps" / "tls_app.py", tmp_path / "tls_app.py")
    proc = subprocess.run(
        [_bin("cxfreeze"), "build_exe", "--script", "tls_app.py", "--build-exe=dist/app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=scrubbed_env(SSL_CERT_FILE=str(Path(__file__).parent / "apps" / "tls_app.py")),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cx_Freeze freezes this app as it would without certembed" in proc.stderr
    assert not (tmp_path / "dist" / "app" / "lib" / "certembed").exists()
    assert (tmp_path / "dist" / "app" / "share" / "certs.pem").is_file()


def test_plain_cxfreeze_with_a_broken_config_stops_with_one_message(tmp_path, ca_dir):
    _config(tmp_path, ca_dir, extra='mdoe = "merge"')
    proc = subprocess.run(
        [_bin("cxfreeze"), "build_exe", "--script", "tls_app.py", "--build-exe=dist/app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=600,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.count("certembed cannot prepare") == 1
    assert "certembed.toml:2: mdoe" in proc.stderr and "did you mean 'mode'" in proc.stderr
    assert "CERTEMBED_DISABLE=1" in proc.stderr
    assert not (tmp_path / "dist" / "app").exists()


def _certembed(folder: Path, *args: str, block: str = "") -> subprocess.CompletedProcess[str]:
    """``certembed ARGS`` in a child Python; ``block``: a module made unimportable there."""
    code = "import sys\n"
    if block:
        code += f"sys.modules[{block!r}] = None\n"
    code += "from certembed.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=600,
    )


@pytest.mark.parametrize(
    ("kind", "module", "package"),
    [
        ("cx_freeze", "cx_Freeze", "certembed[cx-freeze]"),
        ("nuitka", "nuitka", "certembed[nuitka]"),
        ("pyinstaller", "PyInstaller", "certembed[pyinstaller]"),
    ],
)
def test_missing_freezer_is_named_and_leaves_output(tmp_path, ca_dir, kind, module, package):
    _config(tmp_path, ca_dir, app=APP_TABLE.replace("cx_freeze", kind))
    old = tmp_path / "dist" / "tlsapp" / "old.txt"
    old.parent.mkdir(parents=True)
    old.write_text("earlier output\n")
    proc = _certembed(tmp_path, "build", "certembed.toml", "--json", block=module)
    assert proc.returncode == 50, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{kind} app but {module} is not installed" in proc.stderr and package in proc.stderr
    assert json.loads(proc.stdout)["error"]["exit_code"] == 50
    assert old.read_text() == "earlier output\n"


def test_freezer_failure_names_its_log_and_leaves_output(tmp_path, ca_dir):
    _config(tmp_path, ca_dir, app=APP_TABLE + 'args = ["--no-such-cx-freeze-option"]\n')
    old = tmp_path / "dist" / "tlsapp" / "old.txt"
    old.parent.mkdir(parents=True)
    old.write_text("earlier output\n")
    proc = _certembed(tmp_path, "build", "certembed.toml")
    assert proc.returncode == 51, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if "cx_Freeze could not freeze" in x]
    log = Path(line.rsplit("its full output is in ", 1)[1].rstrip("."))
    assert log.is_file() and "no-such-cx-freeze-option" in log.read_text()
    assert old.read_text() == "earlier output\n"
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == ["tlsapp"]


def test_unknown_freezer_kind_is_a_config_error(tmp_path, ca_dir):
    _config(tmp_path, ca_dir, app=APP_TABLE.replace('"cx_freeze"', '"cxfreeze"'))
    proc = _certembed(tmp_path, "build", "certembed.toml")
    assert proc.returncode == 2, proc.stderr
    assert "certembed.toml:" in proc.stderr and "app.kind: 'cxfreeze' is not one of" in proc.stderr
    assert "did you mean 'cx_freeze'?" in proc.stderr
    assert not (tmp_path / "build").exists() and not (tmp_path / "dist").exists()


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_json_report_and_the_same_payload_from_another_checkout(built, tmp_path, ca_dir):
    """`certembed build --json` names the executable; the same project built elsewhere embeds
    byte-identical payload files."""
    _config(tmp_path, ca_dir, app=APP_TABLE)
    proc = _run([_bin("certembed"), "build", "certembed.toml", "--json"], tmp_path)
    report = json.loads(proc.stdout)
    exe = tmp_path / "dist" / "tlsapp" / "tlsapp"
    assert report["executable"] == str(exe) and exe.is_file()
    ours = _tree(exe.parent / "lib" / "certembed")
    assert "_certembed_bootstrap.py" in ours and "_certembed_data/fallback.pem" in ours
    assert ours == _tree(built.parent / "lib" / "certembed")


def test_certembed_config_env_embedded_only_and_export_env(tmp_path, ca_dir, layouts, servers):
    """CERTEMBED_CONFIG picks the config for plain cxfreeze; embedded-only ignores the machine's
    store; export_env hands the decided anchors to children (and only then)."""
    config = tmp_path / "elsewhere" / "certembed.toml"
    config.parent.mkdir()
    config.write_text(
        'mode = "embedded-only"\nexport_env = true\n[[source]]\nkind = "pem_file"\n'
        f'path = "{(ca_dir / "corp.pem").as_posix()}"\ntrust = "always"\n'
    )
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(Path(__file__).parent / "apps" / "tls_app.py", project / "tls_app.py")
    exe = _cxfreeze(project, "envapp", CERTEMBED_CONFIG=str(config))
    _assert_trust(_results(layouts["debian"], exe, servers), servers, {"corp"})
    proc = run_in_layout(
        layouts["debian"],
        [str(exe), "--child-env"],
        env=scrubbed_env(XDG_CACHE_HOME=str(tmp_path / "cache")),
    )
    seen = json.loads(proc.stdout)
    assert seen["SSL_CERT_FILE"] and seen["REQUESTS_CA_BUNDLE"] == seen["SSL_CERT_FILE"]
    assert Path(seen["SSL_CERT_FILE"]).is_relative_to(tmp_path / "cache")


SETUP_PY = """
from cx_Freeze import Executable, setup

setup(
    name="tlsapp",
    version="1.0",
    executables=[Executable("tls_app.py")],
    options={"build_exe": {"build_exe": "dist/app", "certembed_config": "conf/trust.toml"}},
)
"""


def test_setup_py_build_exe_with_the_certembed_config_option(tmp_path, ca_dir, layouts, servers):
    """`python setup.py build_exe` gets certembed too; options={"build_exe":
    {"certembed_config": ...}} names the config (no file is discovered here)."""
    _config(tmp_path / "conf", ca_dir)
    (tmp_path / "conf" / "certembed.toml").rename(tmp_path / "conf" / "trust.toml")
    shutil.move(tmp_path / "conf" / "tls_app.py", tmp_path / "tls_app.py")
    (tmp_path / "setup.py").write_text(SETUP_PY)
    proc = _run([sys.executable, "setup.py", "build_exe"], tmp_path)
    assert "from build_exe --certembed-config: config file" in proc.stderr
    exe = tmp_path / "dist" / "app" / "tls_app"
    _assert_trust(_results(layouts["none"], exe, servers), servers, {"fallback", "corp"})
