"""The bootstrap in real distro layouts: real handshakes, scrubbed env, negative twins."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env
from tests.support.layouts import LAYOUTS, build_layout, require_namespaces, run_in_layout
from tests.support.project import build

pytestmark = pytest.mark.namespace
CLIENT = Path(__file__).parent / "support" / "client.py"
ALL_CLIENTS = "urllib,http.client,urllib3,requests,httpx,aiohttp"
STDLIB_CLIENTS = ("urllib", "http.client")


def expected(layout: str, mode: str, server: str) -> bool:
    has_store = layout != "none"
    if server == "corp":
        return True
    if server == "fallback":
        return mode != "fill-gaps" or not has_store
    if server == "distro":
        return has_store and mode != "embedded-only"
    return False  # rogue


def run_clients(
    root: Path, servers: dict, clients: str, bootstrap: Path | None, python: str = sys.executable
) -> dict[str, str]:
    env = scrubbed_env()
    if bootstrap is not None:
        env["BOOTSTRAP"] = str(bootstrap)
    urls = [servers[name].url for name in ("distro", "fallback", "corp", "rogue")]
    proc = run_in_layout(root, [python, str(CLIENT), clients, *urls], env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def outcome(results: dict[str, str], servers: dict, client: str, server: str) -> str:
    return results[f"{client} {servers[server].url}"]


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory, ca_dir: Path) -> dict[str, Path]:
    require_namespaces()
    return {
        name: build_layout(tmp_path_factory.mktemp(name), name, ca_dir / "distro.pem")
        for name in LAYOUTS
    }


@pytest.fixture(scope="module")
def payloads(tmp_path_factory: pytest.TempPathFactory, ca_dir: Path) -> dict[str, Path]:
    out = {}
    for mode in ("fill-gaps", "merge", "embedded-only"):
        result = build(tmp_path_factory.mktemp(mode), ca_dir, mode=mode)
        out[mode] = result.out_dir / "linux"
    return out


@pytest.mark.parametrize("mode", ["fill-gaps", "merge", "embedded-only"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_bootstrap_trusts_exactly_the_decided_anchors(layouts, payloads, servers, layout, mode):
    results = run_clients(layouts[layout], servers, ALL_CLIENTS, payloads[mode])
    for client in ALL_CLIENTS.split(","):
        for server in ("distro", "fallback", "corp", "rogue"):
            got = outcome(results, servers, client, server)
            want = "ok" if expected(layout, mode, server) else "verify-failed"
            assert got == want, f"{layout}/{mode}: {client} -> {server}: {got}, want {want}"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_twin_without_certembed_fails(layouts, servers, layout):
    """The same clients without the bootstrap: no embedded anchor is trusted anywhere, and the
    distro store is found by stock OpenSSL only in the Debian layout it was built for."""
    results = run_clients(layouts[layout], servers, ALL_CLIENTS, None)
    for client in ALL_CLIENTS.split(","):
        for server in ("fallback", "corp", "rogue"):
            assert outcome(results, servers, client, server) == "verify-failed", (client, server)
        distro = outcome(results, servers, client, "distro")
        # requests and httpx read certifi, never the distro store.
        stock_finds_it = layout == "debian" and client not in ("requests", "httpx")
        assert distro == ("ok" if stock_finds_it else "verify-failed"), (layout, client, distro)


def test_debug_line_reports_the_decision(layouts, payloads):
    env = scrubbed_env(CERTEMBED_DEBUG="1", PYTHONPATH=str(payloads["fill-gaps"]))
    proc = run_in_layout(
        layouts["rhel"], [sys.executable, "-c", "import _certembed_bootstrap"], env=env
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("certembed: {")]
    assert len(lines) == 1, proc.stderr
    report = json.loads(lines[0][len("certembed: ") :])
    assert report["mode"] == "fill-gaps"
    assert report["applied"]["store"] == "system"
    assert report["applied"]["cafile"] == "/etc/pki/tls/certs/ca-bundle.crt"
    # RHEL's /etc/ssl/certs exists but has no hash links: probed and rejected.
    assert ["dir", "/etc/ssl/certs", False] in report["probed"]
    assert report["applied"]["embedded_roles"] == ["always"]
    assert report["elapsed_ms"] >= 0


@pytest.mark.parametrize("respect", [True, False])
def test_respect_env(layouts, servers, tmp_path, ca_dir, respect):
    """SSL_CERT_FILE and SSL_CERT_DIR naming the distro root replace the (absent) machine store,
    unless respect_env is off; the twin shows the difference."""
    extra = "" if respect else "respect_env = false"
    payload = build(tmp_path / "p", ca_dir, mode="fill-gaps", extra=extra).out_dir / "linux"
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    env = scrubbed_env(
        BOOTSTRAP=str(payload), SSL_CERT_FILE=str(ca_dir / "distro.pem"), SSL_CERT_DIR=str(empty)
    )
    urls = [servers[n].url for n in ("distro", "fallback", "corp", "rogue")]
    proc = run_in_layout(layouts["none"], [sys.executable, str(CLIENT), "urllib", *urls], env=env)
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome(results, servers, "urllib", "distro") == ("ok" if respect else "verify-failed")
    assert outcome(results, servers, "urllib", "fallback") == ("verify-failed" if respect else "ok")
    assert outcome(results, servers, "urllib", "corp") == "ok"
    assert outcome(results, servers, "urllib", "rogue") == "verify-failed"


@pytest.mark.parametrize("patch", [True, False])
def test_patch_certifi(layouts, servers, tmp_path, ca_dir, patch):
    extra = "" if patch else "patch_certifi = false"
    payload = build(tmp_path / "p", ca_dir, mode="fill-gaps", extra=extra).out_dir / "linux"
    results = run_clients(layouts["none"], servers, "requests,urllib", payload)
    want = "ok" if patch else "verify-failed"
    assert outcome(results, servers, "requests", "fallback") == want
    assert outcome(results, servers, "urllib", "fallback") == "ok"  # urllib never reads certifi
