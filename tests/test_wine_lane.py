"""The Wine lane itself (tests/support/wine.py): real python.org Windows CPython under Wine."""

from __future__ import annotations

import json

import pytest

from tests.support.tls import Server
from tests.support.wine import BUILDER, WineLane, windows_path

pytestmark = pytest.mark.wine

PROBE = (
    "import json, platform, ssl, sys;"
    "print(json.dumps({'platform': sys.platform, 'version': list(sys.version_info[:2]),"
    " 'openssl': ssl.OPENSSL_VERSION, 'root': len(ssl.enum_certificates('ROOT')),"
    " 'system': platform.system()}))"
)


@pytest.mark.parametrize(
    ("version", "openssl"),
    [("3.9", "OpenSSL 1.1.1"), ("3.12", "OpenSSL 3.0."), ("3.13", "OpenSSL 3.0.")],
)
def test_windows_cpython_runs(wine: WineLane, version: str, openssl: str) -> None:
    proc = wine.python(version).run(["-c", PROBE])
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stdout
    found = json.loads(proc.stdout)
    assert found["platform"] == "win32"
    assert found["version"] == [int(x) for x in version.split(".")]
    assert found["openssl"].startswith(openssl)
    # platform.* works: 3.12+'s _wmi.pyd (Wine 8 aborts in it) was removed from the install
    assert found["system"] == "Windows"


def test_thin_store_hides_host_roots(wine: WineLane) -> None:
    """Wine mirrors the host's /etc/ssl into ROOT; in the thin namespace only its few built-in
    roots remain (a fresh Windows' lazy store)."""
    python = wine.python("3.13")
    full = json.loads(python.run(["-c", PROBE]).stdout)["root"]
    thin_proc = python.run(["-c", PROBE], thin_store=True)
    assert thin_proc.returncode == 0, thin_proc.stderr
    thin = json.loads(thin_proc.stdout)["root"]
    assert 0 < thin < 20 < full, (thin, full)


def test_processprng_stand_in_loads_rust_wheels(wine: WineLane) -> None:
    """cryptography >= 43 (Rust) imports ProcessPrng: it loads with the stand-in DLL and fails
    without it (the override disables the prefix's bcryptprimitives.dll)."""
    # The install tests/test_windows_freeze.py uses (cryptography 46 comes with certembed).
    python = wine.python("3.13", **BUILDER)
    code = "from cryptography.hazmat.primitives import hashes; import os; print(len(os.urandom(8)))"
    ok = python.run(["-c", "import cryptography.hazmat.bindings._rust;" + code])
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "8"
    without = python.run(
        ["-c", "import cryptography.hazmat.bindings._rust"],
        env={"WINEDLLOVERRIDES": "mscoree,mshtml=;bcryptprimitives="},
    )
    assert without.returncode != 0
    assert "_rust" in without.stderr


def test_tls_to_host_server(wine: WineLane, servers: dict[str, Server], ca_dir: object) -> None:
    """A Windows Python reaches a server on 127.0.0.1 when given its CA, and fails without."""
    python = wine.python("3.9")
    url = servers["corp"].url
    cafile = windows_path(f"{ca_dir}/corp.pem")
    code = (
        "import ssl, sys, urllib.request;"
        "ctx = ssl.create_default_context(cafile=sys.argv[2] or None);"
        "print(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=30).read().decode())"
    )
    good = python.run(["-c", code, url, cafile], thin_store=True)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "certembed-ok"
    bad = python.run(["-c", code, url, ""], thin_store=True)
    assert bad.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in bad.stderr
