"""The bootstrap in real python.org Windows CPython (3.9 and 3.13) under Wine, on a thin ROOT
store (the host's /etc/ssl hidden, so Wine's ROOT holds only its few built-in roots, like a
fresh Windows whose lazy store has not fetched anything yet).

Store facts are made through CryptoAPI itself (tests/support/winstore.py adds certificates to
the ROOT and Disallowed stores); every positive check has its negative twin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.support.certs import pem, same_key_root
from tests.support.project import build
from tests.support.tls import Server, tls_server, write_ca
from tests.support.wine import WineLane, WinePython, windows_path

pytestmark = pytest.mark.wine

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "apps" / "win_client.py"
WINSTORE = HERE / "support" / "winstore.py"
VERSIONS = ("3.9", "3.13")


@pytest.fixture(scope="module", params=VERSIONS)
def winpy(request: pytest.FixtureRequest, wine: WineLane) -> WinePython:
    return wine.python(request.param, packages=["requests"])


def store(python: WinePython, action: str, name: str, *pems: Path) -> int:
    """Add/remove certificates in the current user's ``name`` store; the store's new size."""
    proc = python.run(
        [windows_path(WINSTORE), action, name, "user", *(windows_path(p) for p in pems)],
        thin_store=True,
    )
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


@pytest.fixture(scope="module")
def in_root(wine: WineLane, ca_dir: Path) -> Iterator[Path]:
    """The session's ``distro`` CA is in the Windows ROOT store (as Windows Update put it)."""
    python = wine.python("3.13")
    pem = ca_dir / "distro.pem"
    store(python, "add", "ROOT", pem)
    try:
        yield pem
    finally:
        store(python, "remove", "ROOT", pem)


def payload(folder: Path, ca_dir: Path, mode: str = "fill-gaps", extra: str = "") -> Path:
    """A Windows-target payload built on this machine, in a path with spaces and non-ASCII."""
    result = build(folder / "prój ect dir", ca_dir, mode=mode, extra=extra, targets=("windows",))
    out = result.out_dir / "windows"
    assert (out / "_certembed_bootstrap.py").is_file()
    return out


def fetch(
    python: WinePython,
    out: Path | None,
    urls: list[str],
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
    requests: bool = True,
) -> tuple[dict[str, object], str]:
    """Run the client (urllib, and requests unless told not: importing it under Wine costs
    seconds) on the thin store; (its JSON report, its stderr)."""
    flags = ["--requests"] if requests else []
    args = [windows_path(CLIENT), windows_path(out) if out else "-", *flags, *extra, *urls]
    proc = python.run(args, env=env, thin_store=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def verdicts(report: dict[str, object], servers: dict[str, Server]) -> dict[str, str]:
    """{server name: verdict} when urllib and requests agree (asserted)."""
    out = {}
    for name, server in servers.items():
        urllib_verdict = report.get(f"urllib {server.url}")
        if f"requests {server.url}" in report:
            assert urllib_verdict == report[f"requests {server.url}"], (name, report)
        out[name] = str(urllib_verdict)
    return out


def test_fill_gaps_store_plus_fallback_plus_always(
    winpy: WinePython,
    in_root: Path,
    servers: dict[str, Server],
    ca_dir: Path,
    tmp_path: Path,
) -> None:
    out = payload(tmp_path, ca_dir)
    urls = [s.url for s in servers.values()]
    report, _ = fetch(winpy, out, urls)
    bootstrap = report["bootstrap"]
    assert isinstance(bootstrap, dict) and bootstrap["platform"] == "windows"
    assert verdicts(report, servers) == {
        "distro": "ok",  # in the ROOT store
        "fallback": "ok",  # the store lacks it: the embedded fallback fills the gap
        "corp": "ok",  # always
        "rogue": "verify-failed",
    }
    # Twin: the same Windows Python without certembed. urllib trusts only the store; requests
    # only certifi's bundle (not even the Windows store, which certembed gives it).
    twin, _ = fetch(winpy, None, urls)
    assert twin["bootstrap"] is None
    by_client = {
        client: {n: twin[f"{client} {s.url}"] for n, s in servers.items()}
        for client in ("urllib", "requests")
    }
    assert by_client == {
        "urllib": {
            "distro": "ok",
            "fallback": "verify-failed",
            "corp": "verify-failed",
            "rogue": "verify-failed",
        },
        "requests": dict.fromkeys(servers, "verify-failed"),
    }


@pytest.mark.parametrize(
    ("mode", "want"),
    [
        ("merge", {"distro": "ok", "fallback": "ok", "corp": "ok", "rogue": "verify-failed"}),
        (
            "embedded-only",
            {"distro": "verify-failed", "fallback": "ok", "corp": "ok", "rogue": "verify-failed"},
        ),
    ],
)
def test_other_modes_keep_their_meaning(
    winpy: WinePython,
    in_root: Path,
    servers: dict[str, Server],
    ca_dir: Path,
    tmp_path: Path,
    mode: str,
    want: dict[str, str],
) -> None:
    urls = [s.url for s in servers.values()]
    report, _ = fetch(winpy, payload(tmp_path, ca_dir, mode=mode), urls, requests=False)
    assert verdicts(report, servers) == want


def test_disallowed_wins_over_every_source(
    winpy: WinePython, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A root in Disallowed is never trusted: not from ROOT, not from the embedded fallback, not
    as an ``always`` root. Own CAs, so no other test sees this Disallowed store."""
    cas = {
        n: trustme.CA(organization_name=f"certembed disallowed {n}")
        for n in ("distro", "fallback", "corp")
    }
    folder = tmp_path_factory.mktemp("disallowed-cas")
    pems = {n: write_ca(ca, folder / f"{n}.pem") for n, ca in cas.items()}
    out = payload(tmp_path, folder)
    with (
        tls_server("distro", cas["distro"]) as d,
        tls_server("fallback", cas["fallback"]) as f,
        tls_server("corp", cas["corp"]) as c,
    ):
        own = {"distro": d, "fallback": f, "corp": c}
        urls = [s.url for s in own.values()]
        store(winpy, "add", "ROOT", pems["distro"])
        try:
            before, _ = fetch(winpy, out, urls)
            assert verdicts(before, own) == {"distro": "ok", "fallback": "ok", "corp": "ok"}
            store(winpy, "add", "Disallowed", *pems.values())
            try:
                after, stderr = fetch(winpy, out, urls, env={"CERTEMBED_DEBUG": "1"})
            finally:
                assert store(winpy, "remove", "Disallowed", *pems.values()) == 0
        finally:
            store(winpy, "remove", "ROOT", pems["distro"])
    assert verdicts(after, own) == {
        "distro": "verify-failed",
        "fallback": "verify-failed",
        "corp": "verify-failed",
    }
    assert "not trusting a ROOT entry that is in the Disallowed store" in stderr
    assert "not trusting an embedded root that is in the Disallowed store" in stderr


def _same_key_twin(ca: trustme.CA, path: Path) -> Path:
    """Another self-signed certificate with ``ca``'s key (a re-issued root): only its public key
    matches ``ca``'s certificate."""
    cert = same_key_root(ca.private_key_pem.bytes(), "certembed re-issued root", days=365)
    path.write_bytes(pem(cert))
    return path


def _sha256_of_pem(path: Path) -> str:
    import hashlib
    import ssl

    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(path.read_text())).hexdigest()


def test_disallowed_by_key_names_the_disallowed_entry(
    winpy: WinePython, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A root whose public key is that of a Disallowed certificate (not the root itself) is not
    trusted, and the debug line names both: the root's hash, and the Disallowed entry's own
    hash, matched by key. The twin: before the Disallowed entry, both roots verify."""
    cas = {n: trustme.CA(organization_name=f"certembed bykey {n}") for n in ("distro", "corp")}
    folder = tmp_path_factory.mktemp("bykey-cas")
    pems = {n: write_ca(ca, folder / f"{n}.pem") for n, ca in cas.items()}
    (folder / "fallback.pem").write_bytes(pems["corp"].read_bytes())  # payload() reads both
    twins = [_same_key_twin(cas[n], folder / f"{n}-twin.pem") for n in ("distro", "corp")]
    out = payload(tmp_path, folder)
    with tls_server("distro", cas["distro"]) as d, tls_server("corp", cas["corp"]) as c:
        own = {"distro": d, "corp": c}
        urls = [s.url for s in own.values()]
        store(winpy, "add", "ROOT", pems["distro"])
        try:
            before, _ = fetch(winpy, out, urls, requests=False)
            assert verdicts(before, own) == {"distro": "ok", "corp": "ok"}
            store(winpy, "add", "Disallowed", *twins)
            try:
                after, stderr = fetch(
                    winpy, out, urls, env={"CERTEMBED_DEBUG": "1"}, requests=False
                )
            finally:
                assert store(winpy, "remove", "Disallowed", *twins) == 0
        finally:
            store(winpy, "remove", "ROOT", pems["distro"])
    assert verdicts(after, own) == {"distro": "verify-failed", "corp": "verify-failed"}
    for what, name, twin in (
        ("a ROOT entry", "distro", twins[0]),
        ("an embedded root", "corp", twins[1]),
    ):
        line = (
            f"not trusting {what} (sha256 {_sha256_of_pem(pems[name])}) that has the public "
            f"key of Disallowed entry sha256 {_sha256_of_pem(twin)} (matched by key)"
        )
        assert line in stderr, stderr
    assert "that is in the Disallowed store" not in stderr  # neither root itself is there


def test_tampered_fallback_is_not_trusted(
    winpy: WinePython, in_root: Path, servers: dict[str, Server], ca_dir: Path, tmp_path: Path
) -> None:
    out = payload(tmp_path, ca_dir)
    pem = out / "_certembed_data" / "fallback.pem"
    # Swap the fallback anchor for the rogue CA in the PEM and in the hashed directory.
    rogue = (ca_dir / "rogue.pem").read_bytes()
    pem.write_bytes(rogue)
    for linked in (out / "_certembed_data" / "fallback").iterdir():
        linked.write_bytes(rogue)
    report, stderr = fetch(winpy, out, [s.url for s in servers.values()], requests=False)
    assert "does not match its SHA-256" in stderr or "unexpected files" in stderr
    assert verdicts(report, servers) == {
        "distro": "ok",
        "fallback": "verify-failed",
        "corp": "ok",
        "rogue": "verify-failed",
    }


@pytest.mark.parametrize("export", [True, False])
def test_export_env_under_localappdata(
    winpy: WinePython, servers: dict[str, Server], ca_dir: Path, tmp_path: Path, export: bool
) -> None:
    out = payload(tmp_path, ca_dir, extra=f"export_env = {'true' if export else 'false'}")
    url = servers["fallback"].url
    report, _ = fetch(winpy, out, [url], extra=("--child", url), requests=False)
    child = report["child"]
    assert isinstance(child, dict), child
    local = str(report["localappdata"])
    exported = child["env"]["SSL_CERT_FILE"]
    if export:
        assert exported and exported.lower().startswith(local.lower() + "\\certembed\\"), child
        assert child["env"]["REQUESTS_CA_BUNDLE"] == exported
        assert child["fetch"] == "ok"
    else:
        assert child["env"] == dict.fromkeys(child["env"])
        assert child["fetch"] == "verify-failed"


def test_debug_line_and_store_counts(
    winpy: WinePython, in_root: Path, servers: dict[str, Server], ca_dir: Path, tmp_path: Path
) -> None:
    out = payload(tmp_path, ca_dir)
    _, stderr = fetch(
        winpy, out, [servers["distro"].url], env={"CERTEMBED_DEBUG": "1"}, requests=False
    )
    decision = next(
        json.loads(line[len("certembed: ") :])
        for line in stderr.splitlines()
        if line.startswith("certembed: {")
    )
    assert decision["platform"] == "windows" and decision["mode"] == "fill-gaps"
    assert decision["applied"]["windows_store"] is True
    assert decision["applied"]["embedded_roles"] == ["fallback", "always"]
    counts = next(
        json.loads(line[len("certembed: windows store: ") :])
        for line in stderr.splitlines()
        if line.startswith("certembed: windows store: {")
    )
    # thin store: Wine's handful of built-in roots plus the distro CA this module added
    assert 1 < counts["ROOT"] < 20 and counts["loaded"] >= 1 and counts["malformed"] == 0
