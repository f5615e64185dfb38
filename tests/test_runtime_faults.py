"""Faults: damaged embedded data, no writable temp dir, many processes at once, certifi users,
child processes, and every CPython from 3.8 that pyenv lists. Verification always stays on."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from certembed.bootstrap.runtime import fpcache
from tests.support.env import scrubbed_env
from tests.support.layouts import build_layout, require_namespaces, run_in_layout
from tests.support.project import build
from tests.support.pythons import pyenv_pythons
from tests.test_runtime_layouts import CLIENT, outcome, run_clients

pytestmark = pytest.mark.namespace


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, ca_dir):
    require_namespaces()
    return {
        name: build_layout(tmp_path_factory.mktemp(name), name, ca_dir / "distro.pem")
        for name in ("none", "debian")
    }


@pytest.fixture()
def payload(tmp_path, ca_dir):
    result = build(tmp_path / "p", ca_dir, mode="fill-gaps")
    return result.out_dir / "linux"


def _fallback_files(payload: Path) -> list[Path]:
    return sorted((payload / "_certembed_data" / "fallback").iterdir())


def _damage(payload: Path, how: str, ca_dir: Path) -> None:
    data = payload / "_certembed_data"
    first = _fallback_files(payload)[0]
    if how == "missing":
        shutil.rmtree(data / "fallback")
    elif how == "truncated":
        first.write_bytes(first.read_bytes()[:100])
    elif how == "tampered":  # same name, the attacker's root inside
        first.write_bytes((ca_dir / "rogue.pem").read_bytes())
    elif how == "tampered-same-size":  # ... padded to the same size, mtime put back
        victim = max(_fallback_files(payload), key=lambda path: path.stat().st_size)
        before = victim.stat()
        rogue = (ca_dir / "rogue.pem").read_bytes()
        victim.write_bytes(rogue + b"\n" * max(0, before.st_size - len(rogue)))
        os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert victim.stat().st_mtime_ns == before.st_mtime_ns
    elif how == "extra-file":  # a new hash link with the attacker's root
        (data / "fallback" / "deadbeef.0").write_bytes((ca_dir / "rogue.pem").read_bytes())
    elif how == "pem-edited":
        pem = data / "fallback.pem"
        pem.write_bytes(pem.read_bytes() + (ca_dir / "rogue.pem").read_bytes())
    elif how == "no-data-dir":
        shutil.rmtree(data)
    elif how == "digests-forged":  # the attacker's root in, and the digest file made to match
        rogue = (ca_dir / "rogue.pem").read_bytes()
        sums = data / "SHA256SUMS"
        name = f"fallback/{first.name}"
        old = hashlib.sha256(first.read_bytes()).hexdigest()
        first.write_bytes(rogue)
        new = hashlib.sha256(rogue).hexdigest()
        text = sums.read_text()
        assert f"{old}  {name}\n" in text
        sums.write_text(text.replace(f"{old}  {name}\n", f"{new}  {name}\n"))


@pytest.mark.parametrize(
    "how",
    [
        "missing",
        "truncated",
        "tampered",
        "extra-file",
        "pem-edited",
        "no-data-dir",
        "digests-forged",
    ],
)
@pytest.mark.parametrize("layout", ["none", "debian"])
def test_damaged_data_is_never_trusted(layouts, servers, payload, ca_dir, how, layout):
    _damage(payload, how, ca_dir)
    env = scrubbed_env(BOOTSTRAP=str(payload))
    urls = [servers[n].url for n in ("distro", "fallback", "corp", "rogue")]
    proc = run_in_layout(
        layouts[layout], [sys.executable, str(CLIENT), "urllib,requests", *urls], env=env
    )
    assert proc.returncode == 0, proc.stderr
    # fill-gaps reads the fallback data only where the machine has no store (lazy check)
    every_role = how in ("no-data-dir", "digests-forged")  # the always role goes too
    if layout == "none" or every_role:
        assert "certembed: warning:" in proc.stderr and "not trusting" in proc.stderr
    else:
        assert "warning" not in proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for client in ("urllib", "requests"):
        assert outcome(results, servers, client, "rogue") == "verify-failed"
        assert outcome(results, servers, client, "fallback") == "verify-failed"
        # with the fallback unusable, the machine store is used where there is one
        want = "ok" if layout == "debian" else "verify-failed"
        assert outcome(results, servers, client, "distro") == want, (client, results)
    assert outcome(results, servers, "urllib", "corp") == ("verify-failed" if every_role else "ok")
    if how == "digests-forged":
        assert "SHA256SUMS is missing or does not match its SHA-256" in proc.stderr


def _debug_report(proc: subprocess.CompletedProcess[str]) -> dict:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("certembed: {")]
    assert len(lines) == 1, proc.stderr
    return json.loads(lines[0][len("certembed: ") :])  # type: ignore[no-any-return]


@pytest.mark.parametrize("how", ["tampered-same-size", "extra-file", "pem-edited", "truncated"])
def test_damage_after_a_recorded_check_is_still_caught(
    layouts, servers, payload, ca_dir, tmp_path, how
):
    """A process that found the embedded fallback intact records it (private cache); the next
    takes that from one stat per file. Damage made after that, even in place with the same size
    and the mtime put back, changes a ctime: the data is read again and not trusted."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    env = scrubbed_env(BOOTSTRAP=str(payload), XDG_CACHE_HOME=str(cache), CERTEMBED_DEBUG="1")
    urls = [servers[n].url for n in ("fallback", "rogue")]
    argv = [sys.executable, str(CLIENT), "urllib,requests", *urls]
    time.sleep(1.1)  # a check is recorded only about files a second old (the clock's grain)
    checked = []
    for _ in range(2):
        proc = run_in_layout(layouts["none"], argv, env=env)
        assert proc.returncode == 0, proc.stderr
        results = json.loads(proc.stdout.strip().splitlines()[-1])
        assert outcome(results, servers, "requests", "fallback") == "ok"
        assert outcome(results, servers, "urllib", "rogue") == "verify-failed"
        checked.append(_debug_report(proc)["embedded_checked"]["fallback"])
    assert checked == ["read", "unchanged"]
    _damage(payload, how, ca_dir)
    proc = run_in_layout(layouts["none"], argv, env=env)
    assert proc.returncode == 0, proc.stderr
    assert _debug_report(proc)["embedded_checked"]["fallback"] == "read"
    assert "not trusting the embedded fallback anchors" in proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for client in ("urllib", "requests"):
        assert outcome(results, servers, client, "rogue") == "verify-failed"
        assert outcome(results, servers, client, "fallback") == "verify-failed"


def test_data_others_can_write_is_read_by_every_process(layouts, servers, payload, tmp_path):
    """No record counts for embedded files someone else could change: a fallback file writable
    by others is read and checked in full every time (and still trusted: it is intact)."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    _fallback_files(payload)[0].chmod(0o666)
    env = scrubbed_env(BOOTSTRAP=str(payload), XDG_CACHE_HOME=str(cache), CERTEMBED_DEBUG="1")
    argv = [sys.executable, str(CLIENT), "urllib", servers["fallback"].url]
    time.sleep(1.1)
    for _ in range(2):
        proc = run_in_layout(layouts["none"], argv, env=env)
        assert proc.returncode == 0, proc.stderr
        assert _debug_report(proc)["embedded_checked"]["fallback"] == "read"
        results = json.loads(proc.stdout.strip().splitlines()[-1])
        assert outcome(results, servers, "urllib", "fallback") == "ok"


def test_undamaged_twin_trusts_fallback(layouts, servers, payload):
    results = run_clients(layouts["none"], servers, "urllib,requests", payload)
    assert outcome(results, servers, "urllib", "fallback") == "ok"
    assert outcome(results, servers, "requests", "fallback") == "ok"


@pytest.mark.parametrize("layout", ["none", "debian"])
def test_read_only_and_missing_temp_dirs(layouts, servers, payload, layout):
    """requests needs certifi.where() as one file: with no writable temp dir it still verifies."""
    env = scrubbed_env(BOOTSTRAP=str(payload), TMPDIR="/nonexistent/tmp")
    urls = [servers[n].url for n in ("distro", "fallback", "corp", "rogue")]
    proc = run_in_layout(
        layouts[layout],
        [sys.executable, str(CLIENT), "urllib,requests", *urls],
        env=env,
        read_only_temp=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "cannot write a private CA file" in proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome(results, servers, "requests", "rogue") == "verify-failed"
    # urllib never needs a file: it is unaffected
    assert outcome(results, servers, "urllib", "corp") == "ok"
    if layout == "debian":  # where() falls back to the machine's file alone
        assert outcome(results, servers, "requests", "distro") == "ok"
        # the always root still joins the bundle requests loads (always_in_custom_bundles)
        assert outcome(results, servers, "requests", "corp") == "ok"
    else:  # the verified fallback PEM on disk alone
        assert outcome(results, servers, "requests", "fallback") == "ok"


CERTIFI_PROBE = """
import sys, json
sys.path.insert(0, sys.argv[1])
import _certembed_bootstrap
imported_early = "certifi" in sys.modules
import certifi, requests
corp = open(sys.argv[2]).read().strip()
print(json.dumps({"early": imported_early, "where": certifi.where(),
                  "contents_has_corp": corp in certifi.contents(),
                  "where_has_corp": corp in open(certifi.where()).read(),
                  "status": requests.get(sys.argv[3], timeout=10).status_code}))
"""


def test_certifi_is_patched_lazily(layouts, servers, payload, ca_dir):
    proc = run_in_layout(
        layouts["none"],
        [
            sys.executable,
            "-c",
            CERTIFI_PROBE,
            str(payload),
            str(ca_dir / "corp.pem"),
            servers["corp"].url,
        ],
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["early"] is False  # the bootstrap does not import certifi
    assert data["contents_has_corp"] and data["where_has_corp"] and data["status"] == 200
    assert "certembed-" in data["where"]  # a private materialized file
    # negative twin: plain certifi does not know the corporate root
    plain = subprocess.run(
        [
            sys.executable,
            "-c",
            "import certifi,sys; print(open(sys.argv[1]).read().strip() in certifi.contents())",
            str(ca_dir / "corp.pem"),
        ],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
    )
    assert plain.stdout.strip() == "False"


CHILD_PROBE = """
import os, subprocess, sys
sys.path.insert(0, sys.argv[1])
import _certembed_bootstrap
code = "import os, json; print(json.dumps({k: os.environ.get(k) for k in %r}))" % (
    ["SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"],)
print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)
"""


@pytest.mark.parametrize("export", [False, True])
def test_child_processes_see_nothing_unless_export_env(tmp_path, ca_dir, servers, export):
    extra = "export_env = true" if export else ""
    result = build(tmp_path / "p", ca_dir, mode="embedded-only", extra=extra)
    env = scrubbed_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD_PROBE, str(result.out_dir / "linux")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    if not export:
        assert seen == dict.fromkeys(seen)
        return
    path = Path(seen["SSL_CERT_FILE"])
    assert seen["REQUESTS_CA_BUNDLE"] == seen["CURL_CA_BUNDLE"] == str(path)
    assert path.is_file() and path.parent == tmp_path / "cache" / "certembed"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    # the file outlives the process and a child OpenSSL really trusts it
    client = subprocess.run(
        [sys.executable, str(CLIENT), "urllib", servers["fallback"].url, servers["rogue"].url],
        capture_output=True,
        text=True,
        env=scrubbed_env(SSL_CERT_FILE=str(path)),
    )
    results = json.loads(client.stdout)
    assert outcome(results, servers, "urllib", "fallback") == "ok"
    assert outcome(results, servers, "urllib", "rogue") == "verify-failed"


def test_fifty_processes_at_once(tmp_path, ca_dir, servers):
    result = build(tmp_path / "p", ca_dir, mode="embedded-only", extra="export_env = true")
    cache = tmp_path / "cache"
    env = scrubbed_env(BOOTSTRAP=str(result.out_dir / "linux"), XDG_CACHE_HOME=str(cache))
    argv = [
        sys.executable,
        str(CLIENT),
        "urllib,requests",
        servers["fallback"].url,
        servers["rogue"].url,
    ]

    def one(_: int) -> dict:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    with ThreadPoolExecutor(max_workers=50) as pool:
        runs = list(pool.map(one, range(50)))
    for results in runs:
        for client in ("urllib", "requests"):
            assert outcome(results, servers, client, "fallback") == "ok"
            assert outcome(results, servers, client, "rogue") == "verify-failed"
    # (besides hashed-v1/: records of the embedded data found intact, once the files were old
    # enough to be recorded)
    files = [p for p in (cache / "certembed").iterdir() if p.name != fpcache.FP_CACHE_VERSION]
    assert len(files) == 1  # everyone agreed on one verified, atomically written file


def test_every_pyenv_cpython(layouts, servers, tmp_path, ca_dir):
    pythons = [exe for _, exe in pyenv_pythons()]
    if not pythons:
        pythons = [sys.executable]
    payload = build(tmp_path / "p", ca_dir, mode="fill-gaps").out_dir / "linux"
    for python in pythons:
        results = run_clients(layouts["none"], servers, "urllib,http.client", payload, python)
        twin = run_clients(layouts["none"], servers, "urllib,http.client", None, python)
        for client in ("urllib", "http.client"):
            assert outcome(results, servers, client, "fallback") == "ok", python
            assert outcome(results, servers, client, "corp") == "ok", python
            assert outcome(results, servers, client, "rogue") == "verify-failed", python
            assert outcome(results, servers, client, "distro") == "verify-failed", python
            assert outcome(twin, servers, client, "fallback") == "verify-failed", python


def test_real_certifi_fallback_through_requests(layouts, servers, tmp_path, ca_dir):
    """certifi's roots (non-ASCII subjects included) plus an always root, materialized for
    requests in a machine without a store; the twin without certembed fails."""
    config = tmp_path / "certembed.toml"
    config.write_text(
        'targets = ["linux"]\n[[source]]\nkind = "certifi"\n\n[[source]]\nkind = "pem_file"\n'
        f'path = "{(ca_dir / "corp.pem").as_posix()}"\ntrust = "always"\n'
    )
    from certembed.build import build_bundle_output
    from certembed.config import load_config

    payload = build_bundle_output(load_config(config), tmp_path / "out").out_dir / "linux"
    results = run_clients(layouts["none"], servers, "requests,httpx,urllib", payload)
    twin = run_clients(layouts["none"], servers, "requests,httpx,urllib", None)
    for client in ("requests", "httpx", "urllib"):
        assert outcome(results, servers, client, "corp") == "ok", results
        assert outcome(results, servers, client, "rogue") == "verify-failed"
        assert outcome(twin, servers, client, "corp") == "verify-failed"
