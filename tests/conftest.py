from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.env import scrubbed_env
from tests.support.tls import Server, tls_server, write_ca
from tests.support.wine import WineLane, require_wine, session_root, shutdown

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def cas() -> dict[str, trustme.CA]:
    """distro: plays the machine's store; fallback: an embedded fallback root; corp: an
    ``always`` corporate root; rogue: trusted by nobody."""
    return {
        name: trustme.CA(organization_name=f"certembed test {name}")
        for name in ("distro", "fallback", "corp", "rogue")
    }


@pytest.fixture(scope="session")
def servers(cas: dict[str, trustme.CA]) -> Iterator[dict[str, Server]]:
    with (
        tls_server("distro", cas["distro"]) as d,
        tls_server("fallback", cas["fallback"]) as f,
        tls_server("corp", cas["corp"]) as c,
        tls_server("rogue", cas["rogue"]) as r,
    ):
        yield {"distro": d, "fallback": f, "corp": c, "rogue": r}


@pytest.fixture(scope="session")
def ca_dir(tmp_path_factory: pytest.TempPathFactory, cas: dict[str, trustme.CA]) -> Path:
    folder = tmp_path_factory.mktemp("cas")
    for name, ca in cas.items():
        write_ca(ca, folder / f"{name}.pem")
    return folder


@pytest.fixture(autouse=True)
def _no_env_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests see no SSL_* variables from this machine."""
    for key in list(os.environ):
        if key in (
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "SOURCE_DATE_EPOCH",
            "CERTEMBED_DEBUG",
            "CERTEMBED_CONFIG",
        ):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WineLane]:
    """The session's Wine lane (tests/support/wine.py): ``wine.python("3.13", packages=[...],
    certembed=True).run([...])``, ``wine.run([exe, ...])``. Skips without wine, fails if CI=true."""
    require_wine()
    lane = WineLane(session_root(tmp_path_factory))
    try:
        yield lane
    finally:
        shutdown(lane)


@pytest.fixture(scope="session")
def project_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout built as a wheel once per session (the engine and Nuitka resolve tests)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        env=scrubbed_env(),
    )
    (wheel,) = out.glob("certembed-*.whl")
    return wheel
