"""Every TLS client of docs/clients.md, in one frozen app, on a bare machine.

One PyInstaller onedir app (tests/apps/clients_app.py) holds every client; it is frozen twice per
session: with certembed (an embedded ``fallback`` root and an ``always`` corporate root) and,
as the twin, with certembed disabled. Both run in a mount namespace where /etc/ssl and
/usr/lib/ssl are empty (tests/support/layouts.py, layout "none"), against HTTPS/WSS and gRPC
servers signed by the fallback CA, the corporate CA and a rogue CA nobody trusts.
``EXPECTED`` is the table in docs/clients.md; a drift test keeps the two equal.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env
from tests.support.layouts import build_layout, require_namespaces, run_in_layout
from tests.support.pythons import require_module
from tests.support.tls import Server, grpc_server

pytestmark = [pytest.mark.freeze, pytest.mark.namespace]
APP = Path(__file__).parent / "apps" / "clients_app.py"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "clients.md"
ROLES = ("always", "fallback", "rogue")  # which CA signed the server
OK, FAIL, NO_CA = "ok", "verify-failed", "no-ca-file"

# client: (with certembed: always, fallback, rogue), (without: always, fallback)
EXPECTED: dict[str, tuple[tuple[str, str, str], tuple[str, str]]] = {
    "urllib": ((OK, OK, FAIL), (FAIL, FAIL)),
    "http.client": ((OK, OK, FAIL), (FAIL, FAIL)),
    "asyncio": ((OK, OK, FAIL), (FAIL, FAIL)),
    "urllib3": ((OK, OK, FAIL), (FAIL, FAIL)),
    "requests": ((OK, OK, FAIL), (FAIL, FAIL)),
    "httpx": ((OK, OK, FAIL), (FAIL, FAIL)),
    "httpx-async": ((OK, OK, FAIL), (FAIL, FAIL)),
    "aiohttp": ((OK, OK, FAIL), (FAIL, FAIL)),
    "websockets": ((OK, OK, FAIL), (FAIL, FAIL)),
    "botocore": ((OK, OK, FAIL), (FAIL, FAIL)),
    "grpc": ((OK, OK, FAIL), (FAIL, FAIL)),
    "grpc-certifi": ((OK, OK, FAIL), (FAIL, FAIL)),
    "pycurl": ((OK, OK, FAIL), (NO_CA, NO_CA)),
    "pycurl-certifi": ((OK, OK, FAIL), (FAIL, FAIL)),
}
_SPEC = """
a = Analysis(["clients_app.py"], hooksconfig={hooksconfig!r})
pyz = PYZ(a.pure)
exe = EXE(pyz, a.scripts, [], exclude_binaries=True, name="clients", console=True)
coll = COLLECT(exe, a.binaries, a.datas, name="clients")
"""


def _freeze(folder: Path, ca_dir: Path, enabled: bool) -> Path:
    require_module("PyInstaller", "pip install -e '.[test]'")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(APP, folder / "clients_app.py")
    (folder / "certembed.toml").write_text(
        'mode = "fill-gaps"\n\n'
        f'[[source]]\nkind = "pem_file"\npath = "{(ca_dir / "fallback.pem").as_posix()}"\n'
        'trust = "fallback"\n\n'
        f'[[source]]\nkind = "pem_file"\npath = "{(ca_dir / "corp.pem").as_posix()}"\n'
        'trust = "always"\n'
    )
    hooksconfig = {} if enabled else {"certembed": {"enabled": False}}
    (folder / "clients.spec").write_text(_SPEC.format(hooksconfig=hooksconfig))
    exe = Path(sys.executable).with_name("pyinstaller")
    proc = subprocess.run(
        [str(exe), "--noconfirm", "--log-level", "WARN", "clients.spec"],
        cwd=folder,
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder / "dist" / "clients" / "clients"


@pytest.fixture(scope="module")
def bare(tmp_path_factory, ca_dir) -> Path:
    require_namespaces()
    return build_layout(tmp_path_factory.mktemp("bare"), "none", ca_dir / "distro.pem")


@pytest.fixture(scope="module")
def targets(cas, servers: dict[str, Server]) -> Iterator[dict[str, list[str]]]:
    pytest.importorskip("grpc")
    with (
        grpc_server(cas["corp"]) as g_corp,
        grpc_server(cas["fallback"]) as g_fallback,
        grpc_server(cas["rogue"]) as g_rogue,
    ):
        yield {
            "always": [servers["corp"].url, "grpc://" + g_corp],
            "fallback": [servers["fallback"].url, "grpc://" + g_fallback],
            "rogue": [servers["rogue"].url, "grpc://" + g_rogue],
        }


def _run_all(exe: Path, bare: Path, targets: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """{client: {role: outcome}} from one run of the frozen app."""
    urls = [url for role in ROLES for url in targets[role]]
    # The app's watchdog (120 s) ends a stuck run with every thread's stack on stderr. One such
    # run was seen in ~10 (in CI, under load; not reproduced since): it is retried once and
    # reported as a warning with the stacks, and a second stuck run fails the test.
    proc = run_in_layout(bare, [str(exe), "all", *urls], env=scrubbed_env(), timeout=300)
    if proc.returncode != 0:
        warnings.warn(f"clients app run failed, retrying once: {proc.stderr[-6000:]}", stacklevel=1)
        proc = run_in_layout(bare, [str(exe), "all", *urls], env=scrubbed_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    by_url = {url: role for role in ROLES for url in targets[role]}
    out: dict[str, dict[str, str]] = {}
    for key, outcome in raw.items():
        client, url = key.split(" ", 1)
        out.setdefault(client, {})[by_url[url]] = outcome
    return out


@pytest.fixture(scope="module")
def with_certembed(tmp_path_factory, ca_dir, bare, targets):
    exe = _freeze(tmp_path_factory.mktemp("clients-on"), ca_dir, enabled=True)
    assert (exe.parent / "_internal" / "certembed").is_dir()
    return _run_all(exe, bare, targets)


@pytest.fixture(scope="module")
def without_certembed(tmp_path_factory, ca_dir, bare, targets):
    exe = _freeze(tmp_path_factory.mktemp("clients-off"), ca_dir, enabled=False)
    assert not (exe.parent / "_internal" / "certembed").exists()
    return _run_all(exe, bare, targets)


@pytest.mark.parametrize("client", list(EXPECTED))
def test_client_on_a_bare_machine(client, with_certembed, without_certembed):
    (on, off) = EXPECTED[client]
    got_on = tuple(with_certembed[client][role] for role in ROLES)
    got_off = tuple(without_certembed[client][role] for role in ("always", "fallback"))
    assert got_on == on, (client, with_certembed[client])
    assert got_off == off, (client, without_certembed[client])


_MARK = {OK: "yes", FAIL: "no", NO_CA: "no (no CA file)"}


def test_docs_table_matches_the_tests():
    """docs/clients.md's table is EXPECTED, row for row."""
    text = DOCS.read_text()
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| `([\w.-]+)` \|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|", line)
        if match:
            rows[match.group(1)] = tuple(cell.strip() for cell in match.groups()[1:])
    want = {
        client: (_MARK[on[0]], _MARK[on[1]], _MARK[on[2]], _MARK[off[1]])
        for client, (on, off) in EXPECTED.items()
    }
    assert rows == want
