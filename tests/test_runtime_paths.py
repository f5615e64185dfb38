"""Paths and files the runtime hands to OpenSSL or reads itself, against real handshakes:

- a capath is a list for OpenSSL (split on ':', ';' on Windows; a relative piece resolves
  against the cwd): an app installed under a folder holding the separator keeps its embedded
  anchors and never trusts a CA planted under its cwd (a real PyInstaller freeze);
- special files (FIFO, device, huge sparse file, links to them, link loops) as SSL_CERT_FILE,
  in SSL_CERT_DIR, in the embedded data and in the private cache never block the app, never
  grow its memory, and are said under CERTEMBED_DEBUG;
- SSL_CERT_FILE/SSL_CERT_DIR naming the machine's own store by another path (a link) is no
  override: same fast path, no doctor warning; a different file still is one.

Every positive check has its twin (the rogue CA, the same plant made live, a real override).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from certembed.bootstrap import load_side_effect_free
from certembed.bundle.subject_hash import subject_hash
from tests.support.env import scrubbed_env
from tests.support.fuzz import make_special
from tests.support.layouts import build_layout, require_namespaces, run_in_layout
from tests.support.project import build
from tests.test_pyinstaller import _bin, _config, _run
from tests.test_runtime_contract import _outcome
from tests.test_runtime_layouts import outcome

NAMES = ("distro", "fallback", "corp", "rogue")


def _hash_name(pem_file: Path) -> str:
    return f"{subject_hash(x509.load_pem_x509_certificate(pem_file.read_bytes()).subject)}.0"


def _results(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fastpath_line(stderr: str) -> dict | None:
    lines = [x for x in stderr.splitlines() if x.startswith("certembed: fastpath ")]
    assert len(lines) <= 1, stderr
    return json.loads(lines[0][len("certembed: fastpath ") :]) if lines else None


def _report(stderr: str) -> dict:
    line = next(x for x in stderr.splitlines() if x.startswith("certembed: {"))
    return json.loads(line[len("certembed: ") :])


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, ca_dir) -> dict[str, Path]:
    require_namespaces()
    return {
        name: build_layout(tmp_path_factory.mktemp(name), name, ca_dir / "distro.pem")
        for name in ("none", "debian", "rhel")
    }


@pytest.fixture(scope="module")
def payload(tmp_path_factory, ca_dir) -> Path:
    return build(tmp_path_factory.mktemp("paths"), ca_dir, mode="fill-gaps").out_dir / "linux"


# --- OpenSSL's own rules, as this machine's OpenSSL applies them -------------------------------


def test_openssl_splits_a_capath_but_never_a_cafile(tmp_path, ca_dir, servers):
    """The facts the runtime is built on: the same hashed directory verifies under a plain
    name and not under a name holding ':' (split into two relative pieces); a cafile under
    that name loads whole, also through SSL_CERT_FILE in a stock Python."""
    corp = ca_dir / "corp.pem"
    for name, want in (("plain", "ok"), ("my:dir", "verify-failed")):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(corp, folder / _hash_name(corp))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(capath=str(folder))
        assert _outcome(ctx, servers["corp"].url) == want, name
    odd = tmp_path / "my:dir;x" / "ca.pem"
    odd.parent.mkdir()
    shutil.copy(corp, odd)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(odd))
    assert ctx.cert_store_stats()["x509_ca"] == 1
    code = "import ssl; print(ssl.create_default_context().cert_store_stats()['x509_ca'])"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=scrubbed_env(SSL_CERT_FILE=str(odd)),
        timeout=60,
    )
    assert proc.stdout.strip() == "1", proc.stderr


# --- an app installed under a folder holding ':' (real PyInstaller freeze) -------------------


@pytest.fixture(scope="module")
def colon_app(tmp_path_factory, ca_dir) -> Path:
    """One onedir freeze (fallback + always roles), installed under ``.../opt/my:app``."""
    folder = tmp_path_factory.mktemp("colonapp")
    _config(folder, ca_dir, app='\n[app]\nname = "tlsapp"\nscript = "tls_app.py"\n')
    _run([_bin("certembed"), "build", "certembed.toml"], folder)
    installed = folder / "opt" / "my:app" / "tlsapp"
    shutil.copytree(folder / "dist" / "tlsapp", installed, symlinks=True)
    exe = installed / "tlsapp"
    assert (installed / "_internal" / "certembed" / "_certembed_data" / "fallback").is_dir()
    return exe


@pytest.fixture(scope="module")
def planted_cwd(tmp_path_factory, colon_app, ca_dir) -> Path:
    """A cwd holding the rogue CA, hash-named, in the relative piece OpenSSL makes of each
    embedded directory's path (``app/tlsapp/_internal/certembed/_certembed_data/<role>``)."""
    cwd = tmp_path_factory.mktemp("cwd")
    data = colon_app.parent / "_internal" / "certembed" / "_certembed_data"
    for role in ("fallback", "always"):
        piece = str(data / role).split(":", 1)[1]
        assert not piece.startswith("/")
        (cwd / piece).mkdir(parents=True)
        shutil.copy(ca_dir / "rogue.pem", cwd / piece / _hash_name(ca_dir / "rogue.pem"))
    return cwd


def _run_app(layout: Path, exe: Path, cwd: Path, servers, **env: str):
    urls = [servers[n].url for n in NAMES]
    return run_in_layout(layout, [str(exe), *urls], env=scrubbed_env(**env), cwd=cwd, timeout=120)


@pytest.mark.freeze
@pytest.mark.namespace
@pytest.mark.parametrize("layout", ["none", "debian"])
def test_app_under_a_colon_path_keeps_its_anchors_and_not_a_planted_ca(
    colon_app, planted_cwd, layouts, servers, layout
):
    """Bare machine: the embedded fallback and always roots verify, the CA planted under the
    cwd does not; on Debian the machine's root and the always root. Under CERTEMBED_DEBUG the
    bootstrap says it loaded the verified PEM instead of the directory."""
    proc = _run_app(layouts[layout], colon_app, planted_cwd, servers, CERTEMBED_DEBUG="1")
    results = _results(proc)
    trusted = {"fallback", "corp"} if layout == "none" else {"distro", "corp"}
    for client in ("urllib", "requests"):
        for server in NAMES:
            want = "ok" if server in trusted else "verify-failed"
            assert outcome(results, servers, client, server) == want, (client, server, results)
    assert "directory" in proc.stderr and "is not one path for OpenSSL" in proc.stderr


@pytest.mark.freeze
@pytest.mark.namespace
def test_twin_the_planted_ca_is_live_once_a_path_is_split(colon_app, planted_cwd, layouts, servers):
    """The same app, cwd and plant, with the embedded fallback directory's path given as
    SSL_CERT_DIR (a list the user chose: OpenSSL splits it, so does certifi's answer): the
    rogue root is then trusted. The check above is not passing for want of a working plant."""
    data = colon_app.parent / "_internal" / "certembed" / "_certembed_data" / "fallback"
    proc = _run_app(layouts["none"], colon_app, planted_cwd, servers, SSL_CERT_DIR=str(data))
    results = _results(proc)
    for client in ("urllib", "requests"):
        assert outcome(results, servers, client, "rogue") == "ok", (client, results)


@pytest.mark.freeze
@pytest.mark.namespace
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_frozen_app_starts_with_a_special_ssl_cert_file(
    colon_app, planted_cwd, layouts, servers, tmp_path, kind
):
    """SSL_CERT_FILE naming a FIFO (or /dev/zero through a link): the app starts, the file
    slot is skipped (said under CERTEMBED_DEBUG), the embedded roots verify, the rogue does not."""
    special = make_special(tmp_path / "ca.pem", kind)
    proc = _run_app(
        layouts["none"],
        colon_app,
        planted_cwd,
        servers,
        SSL_CERT_FILE=str(special),
        CERTEMBED_DEBUG="1",
    )
    results = _results(proc)
    for client in ("urllib", "requests"):
        for server in NAMES:
            want = "ok" if server in ("fallback", "corp") else "verify-failed"
            assert outcome(results, servers, client, server) == want, (client, server, results)
    assert f"cannot load file {special} (not a regular file" in proc.stderr


# --- the Windows target: ';' separates, ':' (a drive letter) does not ------------------------


@pytest.mark.parametrize(
    ("folder", "sep", "eager"),
    [("C;app", ";", True), ("plain", ";", False), ("C;app", ":", False)],
    ids=["semicolon-on-windows", "twin-plain-folder", "twin-semicolon-on-posix"],
)
def test_windows_target_loads_a_semicolon_folder_from_its_pem(
    tmp_path, ca_dir, servers, folder, sep, eager
):
    """The Windows bootstrap, in-process with the target's list separator: embedded roles
    under a folder holding ';' load their verified PEM (the anchors are in the store at once)
    and still verify; a plain folder, or ';' where ':' is the separator, loads the directory
    (lazily: nothing in the store before a handshake)."""
    result = build(tmp_path / "proj", ca_dir, targets=("windows",))
    payload = tmp_path / folder / "windows"
    shutil.copytree(result.out_dir / "windows", payload)
    module = load_side_effect_free(payload, f"boot_paths_windows_{folder}_{sep == ';'}")
    module._CAPATH_SEP = sep
    module.install(platform="win32")
    try:
        ctx = ssl.create_default_context()
        assert ctx.cert_store_stats()["x509_ca"] == (2 if eager else 0)  # fallback + always
        assert _outcome(ctx, servers["fallback"].url) == "ok"
        assert _outcome(ctx, servers["corp"].url) == "ok"
        assert _outcome(ctx, servers["rogue"].url) == "verify-failed"
    finally:
        module.uninstall()
    assert module._capath_of("/a;b", "/c") == (None if sep == ";" else "/a;b:/c")
    assert module._one_dir("relative") is False


# --- special files: never block, never grow, say so ------------------------------------------

SPECIAL_APP = r"""
import json, os, ssl, socket, sys
from urllib.parse import urlsplit
import _certembed_bootstrap, certifi, requests

def handshake(url):
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            with ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname):
                return "ok"
    except ssl.SSLCertVerificationError:
        return "verify-failed"

def with_requests(url):
    try:
        requests.get(url, timeout=10)
        return "ok"
    except requests.exceptions.SSLError:
        return "verify-failed"

where = certifi.where()
out = {
    "where_regular": os.path.isfile(where),
    "contents": certifi.contents(),
    "urllib": {url: handshake(url) for url in sys.argv[1:]},
    "requests": {url: with_requests(url) for url in sys.argv[1:]},
}
print(json.dumps(out))
"""


def _special_run(payload: Path, servers, tmp_path: Path, **env: str) -> tuple[dict, str]:
    env = scrubbed_env(
        PYTHONPATH=str(payload),
        CERTEMBED_DEBUG="1",
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
        **env,
    )
    urls = [servers[n].url for n in NAMES]
    proc = subprocess.run(
        [sys.executable, "-c", SPECIAL_APP, *urls],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,  # a FIFO opened for reading would block for ever
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.parametrize("kind", ["fifo", "device", "sparse", "link-fifo", "link-loop"])
def test_special_ssl_cert_file_never_blocks_nor_grows(payload, servers, ca_dir, tmp_path, kind):
    """SSL_CERT_FILE naming a FIFO, /dev/zero, a 1 GiB sparse file, a link to a FIFO or a link
    loop: default contexts skip the file slot, certifi's answer skips it too (it is a regular
    file of the decided anchors); the always root verifies, the rogue root does not."""
    special = str(make_special(tmp_path / "ca.pem", kind))
    got, err = _special_run(payload, servers, tmp_path, SSL_CERT_FILE=special)
    assert got["where_regular"] is True
    corp = (ca_dir / "corp.pem").read_text().strip()
    assert (
        corp in got["contents"]
        and (ca_dir / "rogue.pem").read_text().strip() not in (got["contents"])
    )
    for client in ("urllib", "requests"):
        assert got[client][servers["corp"].url] == "ok", (client, got)
        assert got[client][servers["rogue"].url] == "verify-failed", (client, got)
    assert f"cannot load file {special} (" in err
    assert f"certifi: skipping {special} (" in err
    reason = {"sparse": "larger than", "link-loop": "Too many levels of symbolic links"}
    assert reason.get(kind, "not a regular file") in err


def test_special_entries_in_ssl_cert_dir_are_skipped_by_certifi(payload, servers, ca_dir, tmp_path):
    """SSL_CERT_DIR holding the distro root (hash-named) next to a FIFO, /dev/zero, a huge
    sparse file and a link loop under hash names: certifi's answer holds the distro root and
    none of them (each said under CERTEMBED_DEBUG), handshakes verify the distro and always
    roots and not the rogue one."""
    folder = tmp_path / "certs"
    folder.mkdir()
    shutil.copy(ca_dir / "distro.pem", folder / _hash_name(ca_dir / "distro.pem"))
    for index, kind in enumerate(["fifo", "device", "sparse", "link-loop"]):
        make_special(folder / f"0000000{index}.0", kind)
    got, err = _special_run(payload, servers, tmp_path, SSL_CERT_DIR=str(folder))
    assert (ca_dir / "distro.pem").read_text().strip() in got["contents"]
    for client in ("urllib", "requests"):
        assert got[client][servers["distro"].url] == "ok", (client, got)
        assert got[client][servers["corp"].url] == "ok", (client, got)
        assert got[client][servers["rogue"].url] == "verify-failed", (client, got)
    for index in range(4):
        assert f"certifi: skipping {folder / f'0000000{index}.0'} (" in err


def test_a_fifo_in_the_embedded_data_is_refused_not_waited_for(payload, servers, ca_dir, tmp_path):
    """always.pem replaced by a FIFO: the role is not trusted (a warning says why), nothing
    blocks; the twin is the corp server, trusted only through that role, now failing."""
    damaged = tmp_path / "payload"
    shutil.copytree(payload, damaged)
    (damaged / "_certembed_data" / "always.pem").unlink()
    make_special(damaged / "_certembed_data" / "always.pem", "fifo")
    got, err = _special_run(damaged, servers, tmp_path)
    assert "embedded file always.pem is missing or not a regular file" in err
    for client in ("urllib", "requests"):
        assert got[client][servers["corp"].url] == "verify-failed", (client, got)
        assert got[client][servers["rogue"].url] == "verify-failed", (client, got)


@pytest.mark.namespace
def test_special_files_planted_in_the_private_cache_are_rebuilt_not_read(
    layouts, payload, servers, tmp_path
):
    """RHEL layout (a file only: the fast path builds a private hashed directory). An entry
    replaced by a FIFO, then by a link to /dev/zero: each next process rebuilds the directory
    (said in the fastpath debug line) and verifies; the rogue root never."""
    cache = tmp_path / "xdg"
    cache.mkdir(mode=0o700)
    env = scrubbed_env(PYTHONPATH=str(payload), CERTEMBED_DEBUG="1", XDG_CACHE_HOME=str(cache))
    urls = [servers["distro"].url, servers["rogue"].url]
    client = str(Path(__file__).parent / "support" / "client.py")
    env["BOOTSTRAP"] = str(payload)
    first = run_in_layout(layouts["rhel"], [sys.executable, client, "urllib", *urls], env=env)
    fast = _fastpath_line(first.stderr)
    assert fast is not None and fast["fastpath"] == "private hashed directory", first.stderr
    private = Path(fast["capath_used"])
    for kind in ("fifo", "device"):
        entry = sorted(private.iterdir())[0]
        entry.unlink()
        make_special(entry, kind)
        proc = run_in_layout(
            layouts["rhel"], [sys.executable, client, "urllib", *urls], env=env, timeout=90
        )
        results = _results(proc)
        assert results[f"urllib {servers['distro'].url}"] == "ok", results
        assert results[f"urllib {servers['rogue'].url}"] == "verify-failed", results
        fast = _fastpath_line(proc.stderr)
        assert fast is not None and fast["cache"].startswith("rebuilt (entry "), fast
        assert fast["capath_used"] == str(private)
        assert sorted(private.iterdir())[0].is_file() and not entry.is_symlink()


# --- the machine's store named by another path ----------------------------------------------


def _layout_python(layout: Path, payload: Path, servers, **env: str):
    urls = [servers["distro"].url, servers["rogue"].url]
    client = str(Path(__file__).parent / "support" / "client.py")
    full = scrubbed_env(BOOTSTRAP=str(payload), CERTEMBED_DEBUG="1", **env)
    proc = run_in_layout(layout, [sys.executable, client, "urllib,requests", *urls], env=full)
    results = _results(proc)
    for client_name in ("urllib", "requests"):
        assert results[f"{client_name} {servers['distro'].url}"] == "ok", results
        assert results[f"{client_name} {servers['rogue'].url}"] == "verify-failed", results
    return _report(proc.stderr), _fastpath_line(proc.stderr)


@pytest.mark.namespace
def test_env_naming_the_machine_store_by_a_link_keeps_the_fast_path(
    layouts, payload, servers, tmp_path
):
    """Debian layout: the probe finds /usr/lib/ssl/cert.pem and /usr/lib/ssl/certs (links to
    /etc/ssl/certs/...). SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt (and SSL_CERT_DIR=
    /etc/ssl/certs) decide exactly as unset: no environment slot, the same fast path. The twin,
    a copy of the same bundle elsewhere, is a real override: loaded as it is, no fast path."""
    root = layouts["debian"]
    unset_report, unset_fast = _layout_python(root, payload, servers)
    assert unset_fast is not None and unset_fast["fastpath"] == "machine directory covers the file"
    for env in (
        {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"},
        {"SSL_CERT_DIR": "/etc/ssl/certs"},
        {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt", "SSL_CERT_DIR": "/etc/ssl/certs"},
    ):
        report, fast = _layout_python(root, payload, servers, **env)
        assert report["env"] is None and report["applied"]["env_slots"] is None, env
        assert report["applied"] == unset_report["applied"], env
        assert fast is not None, env
        for key in ("fastpath", "capath_used", "cafile", "capath"):
            assert fast[key] == unset_fast[key], (env, key, fast)
    copy = tmp_path / "ca-certificates.crt"
    shutil.copy(root / "etc" / "ssl" / "certs" / "ca-certificates.crt", copy)
    report, fast = _layout_python(root, payload, servers, SSL_CERT_FILE=str(copy))
    assert report["env"] == [str(copy), None]
    assert fast is None  # the user's file loads as it is


@pytest.mark.namespace
def test_doctor_does_not_call_the_machine_store_by_a_link_an_override(layouts, ca_dir, tmp_path):
    """certembed doctor in the Debian layout: SSL_CERT_FILE naming the machine file through
    its other path raises no warning and no environment store; the twin (a copy) does."""
    config = tmp_path / "certembed.toml"
    config.write_text(
        f'[[source]]\nkind = "pem_file"\npath = "{ca_dir / "corp.pem"}"\ntrust = "always"\n'
    )
    copy = tmp_path / "copy.crt"
    shutil.copy(layouts["debian"] / "etc" / "ssl" / "certs" / "ca-certificates.crt", copy)
    seen = {}
    for name, value in (("same", "/etc/ssl/certs/ca-certificates.crt"), ("copy", str(copy))):
        proc = run_in_layout(
            layouts["debian"],
            [sys.executable, "-m", "certembed", "doctor", str(config), "--json"],
            env=scrubbed_env(SSL_CERT_FILE=value),
        )
        assert proc.returncode == 0, proc.stderr
        seen[name] = json.loads(proc.stdout)
    assert seen["same"]["system_store"]["cafile"] == "/usr/lib/ssl/cert.pem"
    assert seen["same"]["env_store"] is None
    assert not [w for w in seen["same"]["warnings"] if w["variable"] == "SSL_CERT_FILE"]
    assert seen["copy"]["env_store"] == [str(copy), None]
    warned = [w for w in seen["copy"]["warnings"] if w["variable"] == "SSL_CERT_FILE"]
    assert warned and "replaces the machine's CA file" in warned[0]["message"]


def test_same_location_is_identity_per_slot(tmp_path):
    """The rule itself: a link or a second hard link is the same file; a copy is not; a
    directory value holding the list separator is a list, never the same directory."""
    from certembed.bootstrap.runtime.stores import same_location

    real = tmp_path / "bundle.crt"
    real.write_bytes(b"x")
    (tmp_path / "link.crt").symlink_to(real)
    os.link(real, tmp_path / "hard.crt")
    (tmp_path / "copy.crt").write_bytes(b"x")
    assert same_location(str(tmp_path / "link.crt"), str(real), "file")
    assert same_location(str(tmp_path / "hard.crt"), str(real), "file")
    assert not same_location(str(tmp_path / "copy.crt"), str(real), "file")
    assert not same_location(str(tmp_path / "missing"), str(real), "file")
    assert same_location(str(tmp_path) + "/", str(tmp_path), "dir")
    assert not same_location(f"{tmp_path}:{tmp_path}", str(tmp_path), "dir")


@pytest.mark.parametrize("with_file", [False, True], ids=["dir-only", "file-and-dir"])
@pytest.mark.parametrize("name", ["ssl:certs", "sslcerts"], ids=["colon", "twin-plain"])
def test_a_machine_directory_holding_the_separator_is_read_file_by_file(
    tmp_path, ca_dir, servers, monkeypatch, name, with_file
):
    """The probe finds a hashed directory under a folder holding ':' (a relocatable Python's
    compiled-in one): its files load one by one (eager), the rogue CA planted where the split
    would point is not trusted, the fast path is off and export_env hands children no
    SSL_CERT_DIR. The twin, a plain folder, stays lazy and is exported."""
    root = tmp_path / "prefix" / name
    root.mkdir(parents=True)
    shutil.copy(ca_dir / "distro.pem", root / _hash_name(ca_dir / "distro.pem"))
    cwd = tmp_path / "cwd"
    if ":" in name:
        piece = str(root).split(":", 1)[1]
        (cwd / piece).mkdir(parents=True)
        shutil.copy(ca_dir / "rogue.pem", cwd / piece / _hash_name(ca_dir / "rogue.pem"))
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    cache = tmp_path / "xdg"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    folder = tmp_path / f"p-{with_file}"
    out = build(folder, ca_dir, mode="fill-gaps", extra="export_env = true").out_dir / "linux"
    module = load_side_effect_free(out, f"boot_paths_machine_{name}_{with_file}")
    bundle = tmp_path / "bundle.pem"
    shutil.copy(ca_dir / "distro.pem", bundle)
    module.TABLES = {
        "linux": {
            "files": [str(bundle)] if with_file else [],
            "dirs": [str(root)],
            "use_compiled_default": False,
            "system_store": "openssl",
        }
    }
    report = module.install()
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        module.load_machine_files(ctx, None, str(root))
        assert ctx.cert_store_stats()["x509_ca"] == (1 if ":" in name else 0)
        ctx = ssl.create_default_context()
        assert _outcome(ctx, servers["distro"].url) == "ok"
        assert _outcome(ctx, servers["corp"].url) == "ok"
        assert _outcome(ctx, servers["rogue"].url) == "verify-failed"
        if with_file:
            info: dict = {}
            module.fp_capath(str(bundle), str(root), None, info)
            if ":" in name:
                assert info["fastpath"] == "off: the machine directory is not one path for OpenSSL"
            else:
                assert info["fastpath"] == "machine directory covers the file"
        exported = report["exported"]
        assert ("SSL_CERT_DIR" in exported) is (":" not in name), exported
    finally:
        module.uninstall()
