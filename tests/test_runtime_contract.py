"""The runtime contract (docs/runtime.md), each rule against real handshakes, real
clients and real processes: environment semantics as OpenSSL's, the always roots in every
client-chosen bundle, process life (fork, threads, export files), truststore in both orders,
faithful patched methods, libraries imported before the bootstrap, and debug output without
``json`` (also in a real PyInstaller freeze)."""

from __future__ import annotations

import inspect
import json
import os
import pickle
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509

from certembed.bootstrap import load_side_effect_free
from certembed.bootstrap.runtime.stores import _json
from certembed.bundle.subject_hash import subject_hash
from tests.support.env import scrubbed_env
from tests.support.project import build

PATCHED = ("set_default_verify_paths", "load_default_certs", "load_verify_locations")


def _outcome(ctx: ssl.SSLContext, url: str) -> str:
    parts = urlsplit(url)
    try:
        with (
            socket.create_connection((parts.hostname, parts.port), timeout=10) as sock,
            ctx.wrap_socket(sock, server_hostname=parts.hostname),
        ):
            return "ok"
    except ssl.SSLCertVerificationError:
        return "verify-failed"


def _python(
    code: str, *args: str, env: dict[str, str], timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in this test's Python (``-c``); it must exit 0 (else: its stderr)."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def payloads(tmp_path_factory, ca_dir):
    """Payload directories by (mode, extra), built once per module."""
    cache: dict[tuple[str, str], Path] = {}

    def get(mode: str = "fill-gaps", extra: str = "") -> Path:
        if (mode, extra) not in cache:
            folder = tmp_path_factory.mktemp("contract")
            cache[mode, extra] = build(folder, ca_dir, mode=mode, extra=extra).out_dir / "linux"
        return cache[mode, extra]

    return get


@pytest.fixture()
def boot(payloads, tmp_path, monkeypatch):
    """A bootstrap loaded without side effects whose machine store is what the test says
    (``machine``: candidate files; none by default): the host's own store never counts."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    loaded = []

    def make(mode: str = "fill-gaps", machine: tuple[Path, ...] = (), extra: str = ""):
        module = load_side_effect_free(payloads(mode, extra), f"boot_contract_{len(loaded)}")
        module.TABLES = {
            "linux": {
                "files": [str(p) for p in machine],
                "dirs": [],
                "use_compiled_default": False,
                "system_store": "openssl",
            }
        }
        loaded.append(module)
        return module

    yield make
    for module in loaded:
        module.uninstall()


def _hashed_dir(folder: Path, pem_file: Path) -> Path:
    """A directory laid out as ``openssl rehash`` does, holding ``pem_file``'s certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    cert = x509.load_pem_x509_certificate(pem_file.read_bytes())
    (folder / f"{subject_hash(cert.subject)}.0").write_bytes(pem_file.read_bytes())
    return folder


# --- environment, as OpenSSL reads it ---------------------------------------------------------


def test_env_is_read_when_a_default_context_loads(boot, servers, ca_dir, tmp_path, monkeypatch):
    """SSL_CERT_FILE/SSL_CERT_DIR set after start-up count, as in plain OpenSSL
    (CPython's test_ssl ContextTests.test_load_default_certs_env does exactly this)."""
    module = boot()
    module.install()
    assert _outcome(ssl.create_default_context(), servers["distro"].url) == "verify-failed"
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_dir / "distro.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    ctx = ssl.create_default_context()
    assert _outcome(ctx, servers["distro"].url) == "ok"
    assert _outcome(ctx, servers["fallback"].url) == "verify-failed"  # both set: replaced
    assert _outcome(ctx, servers["corp"].url) == "ok"  # always
    assert _outcome(ctx, servers["rogue"].url) == "verify-failed"
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bare.load_default_certs()
    assert bare.cert_store_stats()["x509_ca"] == 1  # the file's one root (dirs load lazily)
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.delenv("SSL_CERT_DIR")
    again = ssl.create_default_context()
    assert _outcome(again, servers["distro"].url) == "verify-failed"
    assert _outcome(again, servers["fallback"].url) == "ok"


def test_one_variable_keeps_the_other_slot(boot, servers, ca_dir, tmp_path, monkeypatch):
    """Only SSL_CERT_DIR set: the machine's file still counts (OpenSSL's rule)."""
    module = boot(machine=(ca_dir / "distro.pem",))
    monkeypatch.setenv("SSL_CERT_DIR", str(_hashed_dir(tmp_path / "dir", ca_dir / "rogue.pem")))
    report = module.install()
    assert report["env"] == [None, str(tmp_path / "dir")]
    ctx = ssl.create_default_context()
    assert _outcome(ctx, servers["distro"].url) == "ok"  # the machine file is kept
    assert _outcome(ctx, servers["rogue"].url) == "ok"  # the user's directory
    assert _outcome(ctx, servers["corp"].url) == "ok"
    assert _outcome(ctx, servers["fallback"].url) == "verify-failed"  # fill-gaps, store found
    # negative twin: without the variable, the directory's root is not trusted
    monkeypatch.delenv("SSL_CERT_DIR")
    assert _outcome(ssl.create_default_context(), servers["rogue"].url) == "verify-failed"


@pytest.mark.parametrize("how", ["not-pem", "truncated", "deleted"])
def test_unreadable_env_file_never_breaks_a_context(
    boot, servers, ca_dir, tmp_path, monkeypatch, capsys, how
):
    """What cannot be loaded is skipped, the always roots stay, debug says so."""
    bad = tmp_path / "bad.pem"
    if how == "not-pem":
        bad.write_bytes(b"this is not a certificate\n" * 4)
    else:
        bad.write_bytes((ca_dir / "distro.pem").read_bytes()[:200])
    monkeypatch.setenv("SSL_CERT_FILE", str(bad))
    monkeypatch.setenv("CERTEMBED_DEBUG", "1")
    module = boot(machine=(ca_dir / "distro.pem",))
    module.install()
    if how == "deleted":
        bad.unlink()
    ctx = ssl.create_default_context()  # never raises
    assert _outcome(ctx, servers["corp"].url) == "ok"
    assert _outcome(ctx, servers["rogue"].url) == "verify-failed"
    err = capsys.readouterr().err
    # the user's file replaces the machine's file (as with OpenSSL), and yields nothing
    assert _outcome(ctx, servers["distro"].url) == "verify-failed"
    assert f"certembed: debug: cannot load file {bad}" in err
    assert "the always anchors are kept" in err


# --- the always roots join a client-chosen bundle ---------------------------------------------

CLIENTS = r"""
import json, os, ssl, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap
bundle = os.environ["BUNDLE"]

def requests_env(url):
    import requests
    return requests.get(url, timeout=10).status_code

def requests_verify(url):
    import requests
    return requests.get(url, timeout=10, verify=bundle).status_code

def urllib3_ca_certs(url):
    import urllib3
    pool = urllib3.PoolManager(ca_certs=bundle)
    return pool.request("GET", url, timeout=10, retries=False).status

def httpx_verify(url):
    import httpx
    return httpx.get(url, timeout=10, verify=bundle).status_code

def aiohttp_cafile(url):
    import asyncio, aiohttp
    async def go():
        ctx = ssl.create_default_context(cafile=bundle)
        async with aiohttp.ClientSession() as s, s.get(url, ssl=ctx) as r:
            return r.status
    return asyncio.run(go())

out = {}
for name in sys.argv[1].split(","):
    for url in sys.argv[2:]:
        try:
            globals()[name](url)
            out[name + " " + url] = "ok"
        except Exception as exc:
            out[name + " " + url] = "verify-failed" if "CERTIFICATE_VERIFY_FAILED" in repr(
                exc) or "certificate verify failed" in str(exc) else "error: " + repr(exc)
print(json.dumps(out))
"""
CLIENT_NAMES = "requests_env,requests_verify,urllib3_ca_certs,httpx_verify,aiohttp_cafile"


@pytest.mark.parametrize("joined", [True, False], ids=["default", "configured-off"])
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_always_roots_join_client_chosen_bundles(payloads, servers, ca_dir, joined, variable):
    extra = "" if joined else "always_in_custom_bundles = false"
    env = scrubbed_env(
        BOOTSTRAP=str(payloads("fill-gaps", extra)),
        BUNDLE=str(ca_dir / "distro.pem"),
        **{variable: str(ca_dir / "distro.pem")},
    )
    urls = [servers[n].url for n in ("distro", "corp", "rogue")]
    proc = _python(CLIENTS, CLIENT_NAMES, *urls, env=env, timeout=300)
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for client in CLIENT_NAMES.split(","):
        assert results[f"{client} {servers['distro'].url}"] == "ok", (client, results)
        want = "ok" if joined else "verify-failed"
        assert results[f"{client} {servers['corp'].url}"] == want, (client, results)
        assert results[f"{client} {servers['rogue'].url}"] == "verify-failed", (client, results)


# --- process life -----------------------------------------------------------------------------

FORK = r"""
import json, os, sys
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap
import certifi, requests
path = certifi.where()
pid = os.fork()
if pid == 0:
    sys.exit(0)  # a normal exit: the child runs its atexit handlers
os.waitpid(pid, 0)
print(json.dumps({"path": path, "exists": os.path.exists(path),
                  "status": requests.get(sys.argv[1], timeout=10).status_code}))
"""


def test_forked_child_exit_keeps_the_parents_file(payloads, servers, tmp_path):
    env = scrubbed_env(BOOTSTRAP=str(payloads("embedded-only")), TMPDIR=str(tmp_path))
    proc = _python(FORK, servers["fallback"].url, env=env)
    data = json.loads(proc.stdout)
    assert data["exists"] and data["status"] == 200
    assert data["path"].startswith(str(tmp_path))
    assert not Path(data["path"]).exists()  # the creating process cleaned up at its exit


THREADS = r"""
import glob, json, os, sys, threading
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap
import certifi
barrier = threading.Barrier(16)
paths = []
def run():
    barrier.wait()
    paths.append(certifi.where())
threads = [threading.Thread(target=run) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"paths": sorted(set(paths)),
                  "dirs": len(glob.glob(os.path.join(os.environ["TMPDIR"], "certembed-*")))}))
"""


def test_racing_threads_get_one_file(payloads, tmp_path):
    env = scrubbed_env(BOOTSTRAP=str(payloads("embedded-only")), TMPDIR=str(tmp_path))
    for _ in range(3):
        proc = _python(THREADS, env=env)
        data = json.loads(proc.stdout)
        assert len(data["paths"]) == 1 and data["dirs"] == 1, data


GENERATION = r"""
import json, os, sys
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap, requests
status = requests.get(sys.argv[1], timeout=10).status_code
print(json.dumps({"status": status, "env": {k: os.environ.get(k) for k in
      ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}}))
"""


def test_export_env_generations_reuse_one_bounded_file(payloads, servers, tmp_path):
    cache = tmp_path / "cache" / "certembed"
    cache.mkdir(parents=True, mode=0o700)
    old = time.time() - 86400
    for index in range(12):  # stale files of ours from earlier bundles
        stale = cache / f"{index:032x}-cacert.pem"
        stale.write_text("stale")
        os.utime(stale, (old + index, old + index))
    (cache / "unrelated.txt").write_text("not ours")
    inherited: dict[str, str] = {}
    exported = set()
    for _ in range(4):  # each generation inherits the previous one's environment
        env = scrubbed_env(
            BOOTSTRAP=str(payloads("embedded-only", "export_env = true")),
            XDG_CACHE_HOME=str(tmp_path / "cache"),
            **inherited,
        )
        proc = _python(GENERATION, servers["corp"].url, env=env)
        data = json.loads(proc.stdout)
        assert data["status"] == 200
        inherited = {k: v for k, v in data["env"].items() if v}
        exported.add(inherited["SSL_CERT_FILE"])
    assert len(exported) == 1  # content-addressed: every generation reuses the same file
    ours = sorted(p.name for p in cache.iterdir() if p.name.endswith("-cacert.pem"))
    assert len(ours) <= 8 and Path(exported.pop()).name in ours  # bounded, newest kept
    assert (cache / "unrelated.txt").exists()


# --- truststore -------------------------------------------------------------------------------

TRUSTSTORE = r"""
import json, os, sys
sys.path.insert(0, os.environ["BOOTSTRAP"])
import truststore
order = sys.argv[1]
if order in ("truststore-first", "truststore-only"):
    truststore.inject_into_ssl()
if order != "truststore-only":
    import _certembed_bootstrap
if order == "certembed-first":
    truststore.inject_into_ssl()
import ssl, urllib.request, requests
assert ssl.SSLContext is truststore.SSLContext
out = {}
for url in sys.argv[2:]:
    for name, get in (("urllib", lambda u: urllib.request.urlopen(u, timeout=10).read()),
                      ("requests", lambda u: requests.get(u, timeout=10))):
        try:
            get(url)
            out[name + " " + url] = "ok"
        except Exception as exc:
            out[name + " " + url] = "failed"
print(json.dumps(out))
"""


@pytest.mark.parametrize("order", ["truststore-first", "certembed-first", "truststore-only"])
def test_truststore_composes_in_both_orders(payloads, servers, order):
    env = scrubbed_env(BOOTSTRAP=str(payloads("embedded-only")))
    urls = [servers[n].url for n in ("fallback", "corp", "rogue")]
    proc = _python(TRUSTSTORE, order, *urls, env=env)
    results = json.loads(proc.stdout)
    for client in ("urllib", "requests"):
        for name in ("fallback", "corp"):
            want = "failed" if order == "truststore-only" else "ok"  # the twin without us
            assert results[f"{client} {servers[name].url}"] == want, (client, name, results)
        assert results[f"{client} {servers['rogue'].url}"] == "failed"


# --- faithful patched methods -----------------------------------------------------------------


def test_patched_methods_are_faithful_and_uninstall_restores_identity(boot, servers):
    before = {n: (getattr(ssl.SSLContext, n), n in ssl.SSLContext.__dict__) for n in PATCHED}
    module = boot()
    module.install()
    for name in PATCHED:
        method = getattr(ssl.SSLContext, name)
        assert method is not before[name][0]
        assert method.__qualname__ == f"SSLContext.{name}" and method.__name__ == name
        assert pickle.loads(pickle.dumps(method)) is method
        assert inspect.signature(method) == inspect.signature(before[name][0])

    class OtherSignature(ssl.SSLContext):
        def load_verify_locations(self, bundle):  # another signature: never called by us
            raise AssertionError("certembed called the subclass's load_verify_locations")

    ctx = OtherSignature(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_default_certs()
    assert _outcome(ctx, servers["fallback"].url) == "ok"
    assert _outcome(ctx, servers["rogue"].url) == "verify-failed"
    module.uninstall()
    for name in PATCHED:
        assert getattr(ssl.SSLContext, name) is before[name][0], name
        assert (name in ssl.SSLContext.__dict__) is before[name][1], name
    # negative twin: after uninstall the fallback root is unknown again
    assert _outcome(ssl.create_default_context(), servers["fallback"].url) == "verify-failed"


# --- libraries imported before the bootstrap --------------------------------------------------

LATE = r"""
import os, sys
import requests  # before certembed: requests preloads certifi's bundle into one context
if os.environ.get("BOOTSTRAP"):
    sys.path.insert(0, os.environ["BOOTSTRAP"])
    import _certembed_bootstrap
try:
    print(requests.get(sys.argv[1], timeout=10).status_code)
except requests.exceptions.SSLError:
    print("verify-failed")
"""


LATE_AIOHTTP = r"""
import asyncio, os, sys
import aiohttp  # before certembed: aiohttp makes its default context at import
if os.environ.get("BOOTSTRAP"):
    sys.path.insert(0, os.environ["BOOTSTRAP"])
    import _certembed_bootstrap
async def get(url):
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status
try:
    print(asyncio.run(get(sys.argv[1])))
except aiohttp.ClientConnectorCertificateError:
    print("verify-failed")
"""


@pytest.mark.parametrize("with_bootstrap", [True, False])
@pytest.mark.parametrize("client", ["requests", "aiohttp"])
def test_late_import_is_covered_and_said(payloads, servers, with_bootstrap, client):
    extra = {"BOOTSTRAP": str(payloads("fill-gaps"))} if with_bootstrap else {}
    proc = _python(
        LATE if client == "requests" else LATE_AIOHTTP,
        servers["corp"].url,
        env=scrubbed_env(CERTEMBED_DEBUG="1", **extra),
    )
    if with_bootstrap:
        assert proc.stdout.strip() == "200"
        line = next(x for x in proc.stderr.splitlines() if x.startswith("certembed: {"))
        report = json.loads(line[len("certembed: ") :])
        said = f"{client} was imported before certembed"
        assert any(said in note for note in report["imported_early"]), report["imported_early"]
    else:  # the twin: the client alone does not know the corporate root
        assert proc.stdout.strip() == "verify-failed"


# --- debug output without json ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"b": [1, 2.5, None, True, False], "a": "plain"},
        {"path": 'C:\\Users\\x "q"\n\t\x01', "name": "Zürich 東京 \U0001f512"},
        [],
        {},
    ],
)
def test_json_without_the_json_module(value):
    assert json.loads(_json(value)) == value
    assert _json(value) == json.dumps(value, sort_keys=True)


def test_debug_line_when_json_cannot_be_imported(payloads, servers):
    code = (
        "import sys; sys.modules['json'] = None\n"
        "sys.path.insert(0, sys.argv[1]); import _certembed_bootstrap, urllib.request\n"
        "urllib.request.urlopen(sys.argv[2], timeout=10).read(); print('ok')\n"
    )
    proc = _python(
        code, str(payloads("fill-gaps")), servers["corp"].url, env=scrubbed_env(CERTEMBED_DEBUG="1")
    )
    assert proc.stdout.strip() == "ok", proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("certembed: {"))
    report = json.loads(line[len("certembed: ") :])
    assert report["mode"] == "fill-gaps" and report["applied"]["embedded_roles"] == ["always"]


@pytest.mark.freeze
def test_frozen_urllib_only_app_with_debug(tmp_path, ca_dir, servers):
    """A real PyInstaller freeze of an app that never imports json, run with
    CERTEMBED_DEBUG=1: the debug line is printed and the app works (the always root is
    trusted, the rogue one is not)."""
    app = Path(__file__).parent / "apps" / "urllib_debug_app.py"
    shutil.copy(app, tmp_path / "urllib_debug_app.py")
    (tmp_path / "certembed.toml").write_text(
        f'mode = "fill-gaps"\n\n[[source]]\nkind = "pem_file"\n'
        f'path = "{(ca_dir / "corp.pem").as_posix()}"\ntrust = "always"\n\n'
        '[app]\nname = "urlapp"\nscript = "urllib_debug_app.py"\n'
    )
    certembed = Path(sys.executable).with_name("certembed")
    proc = subprocess.run(
        [str(certembed), "build", "certembed.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    exe = tmp_path / "dist" / "urlapp" / "urlapp"
    run = subprocess.run(
        [str(exe), servers["corp"].url, servers["rogue"].url],
        capture_output=True,
        text=True,
        env=scrubbed_env(CERTEMBED_DEBUG="1"),
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "has_json=False results=ok,failed: URLError"
    line = next(x for x in run.stderr.splitlines() if x.startswith("certembed: {"))
    report = json.loads(line[len("certembed: ") :])
    assert report["applied"]["embedded_roles"] == ["always"]


def test_relaxed_strict_flag_reaches_certembeds_own_file_only(boot, ca_dir):
    """With relax_x509_strict, a context loading certembed's own certifi file (requests,
    urllib3) is relaxed like a default context; a bundle the client chose keeps its flags."""
    module = boot(mode="embedded-only")
    module.RELAX_X509_STRICT = True
    module.install()
    own = module._STATE.where()
    for path, relaxed in ((own, True), (str(ca_dir / "distro.pem"), False)):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_flags |= ssl.VERIFY_X509_STRICT
        ctx.load_verify_locations(cafile=path)
        assert bool(ctx.verify_flags & ssl.VERIFY_X509_STRICT) is not relaxed, path


CERTIFI_DIR = r"""
import os, sys
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap, requests
try:
    print(requests.get(sys.argv[1], timeout=10).status_code)
except requests.exceptions.SSLError:
    print("verify-failed")
"""


@pytest.mark.parametrize("with_dir", [True, False])
def test_certifi_users_see_a_user_set_directory(payloads, servers, ca_dir, tmp_path, with_dir):
    """Requests too: the roots of an SSL_CERT_DIR the user set reach certifi.where()
    too, next to the machine's file (here: the host's)."""
    extra = {"SSL_CERT_DIR": str(_hashed_dir(tmp_path / "dir", ca_dir / "rogue.pem"))}
    proc = _python(
        CERTIFI_DIR,
        servers["rogue"].url,
        env=scrubbed_env(BOOTSTRAP=str(payloads("fill-gaps")), **(extra if with_dir else {})),
    )
    assert proc.stdout.strip() == ("200" if with_dir else "verify-failed")


@pytest.mark.parametrize("with_truststore", [True, False])
def test_truststore_on_macos_and_windows_lists_the_anchors(boot, monkeypatch, with_truststore):
    """truststore on macOS/Windows trusts what ``get_ca_certs()`` lists besides the OS store:
    with truststore imported there, the embedded anchors load as listed certificates (the twin:
    otherwise as a lazy directory, which lists nothing)."""
    import truststore

    module = boot(mode="embedded-only")
    module.install()
    monkeypatch.setattr(sys, "platform", "darwin")
    if not with_truststore:
        monkeypatch.delitem(sys.modules, "truststore")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_default_certs()
    listed = ctx.get_ca_certs()
    assert (len(listed) == 2) is with_truststore, listed  # the fallback and the always root
    assert truststore is not None
