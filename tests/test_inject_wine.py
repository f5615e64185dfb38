"""``certembed inject`` into python.org's embeddable Windows CPython 3.13, as shipped (its
``python313._pth`` switches ``site`` off), injected from Linux and run under Wine on a thin ROOT
store with real TLS servers; eject restores the tree byte for byte (negative twin after)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from certembed import errors
from certembed.inject.state import PTH_NAME, STATE_DIR
from tests.support.env import scrubbed_env
from tests.support.project import toml_config
from tests.support.tls import Server
from tests.support.trees import diff, fresh_copy, snapshot
from tests.support.wine import WineLane, install_embed

pytestmark = pytest.mark.wine

FETCH = (
    "import json, sys, urllib.request\n"
    "out = {}\n"
    "for url in sys.argv[1:]:\n"
    "    try:\n"
    "        urllib.request.urlopen(url, timeout=20).read(); out[url] = 'ok'\n"
    "    except Exception as exc:\n"
    "        out[url] = 'verify-failed' if 'CERTIFICATE_VERIFY_FAILED' in str(exc) else repr(exc)\n"
    "out['bootstrap'] = '_certembed_bootstrap' in sys.modules\n"
    "print(json.dumps(out))\n"
)
PTH = "python313._pth"


def certembed(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certembed", *map(str, args)],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        timeout=300,
    )


@pytest.fixture(scope="module")
def embed_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embeddable CPython 3.13 as python.org ships it (``._pth`` untouched)."""
    home = tmp_path_factory.mktemp("embed-src") / "python-3.13-embed"
    install_embed("3.13", home, enable_site=False)
    return home


@pytest.fixture
def embed(embed_source: Path, tmp_path: Path) -> Path:
    return fresh_copy(embed_source, tmp_path)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, ca_dir: Path) -> Path:
    return toml_config(tmp_path_factory.mktemp("project"), ca_dir, targets=("windows",))


def fetch(wine: WineLane, home: Path, servers: dict[str, Server], *flags: str) -> dict:
    urls = [servers[n].url for n in ("fallback", "corp", "rogue")]
    proc = wine.run([home / "python.exe", "-B", *flags, "-c", FETCH, *urls], thin_store=True)
    assert proc.returncode == 0, proc.stderr
    assert "Error processing line" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"bootstrap": report["bootstrap"]} | {
        n: report[servers[n].url] for n in ("fallback", "corp", "rogue")
    }


def test_embeddable_python_injected_under_wine(
    wine: WineLane, embed: Path, config: Path, servers: dict[str, Server]
) -> None:
    shipped = (embed / PTH).read_bytes()
    assert b"\n#import site" in shipped  # site is off as python.org ships it
    before = snapshot(embed)
    proc = certembed("inject", embed, config, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["target"]["kind"] == "windows-embeddable"
    assert result["target"]["os"] == "windows" and result["target"]["version"] == "3.13"
    assert [c["op"] for c in result["changes"]] == ["create", "modify", "create"]
    assert result["changes"][1]["path"] == PTH
    # the one change: the commented line, uncommented; line ends kept
    assert (embed / PTH).read_bytes() == shipped.replace(b"#import site", b"import site")
    assert (embed / PTH_NAME).is_file() and (embed / STATE_DIR / "backup" / PTH).is_file()
    injected = {"bootstrap": True, "fallback": "ok", "corp": "ok", "rogue": "verify-failed"}
    # thin ROOT store: it lacks the fallback root, which fill-gaps supplies; corp is always
    assert fetch(wine, embed, servers) == injected
    assert fetch(wine, embed, servers, "-I") == injected
    proc = certembed("eject", embed)
    assert proc.returncode == 0, proc.stderr
    assert diff(before, snapshot(embed)) == []
    twin = {"bootstrap": False, "fallback": "verify-failed", "corp": "verify-failed"}
    assert fetch(wine, embed, servers) == twin | {"rogue": "verify-failed"}


def test_embeddable_zip_round_trip(embed: Path, config: Path, tmp_path: Path) -> None:
    """python.org ships the embeddable Python as a zip with the files at its root."""
    source = tmp_path / "python-3.13-embed-amd64.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(embed.rglob("*")):
            archive.write(path, path.relative_to(embed).as_posix())
    outs = [tmp_path / "a" / "patched.zip", tmp_path / "b" / "patched.zip"]
    for out in outs:
        proc = certembed("inject", source, config, "-o", out)
        assert proc.returncode == 0, proc.stderr
    assert (
        hashlib.sha256(outs[0].read_bytes()).digest()
        == hashlib.sha256(outs[1].read_bytes()).digest()
    )
    with zipfile.ZipFile(outs[0]) as patched, zipfile.ZipFile(source) as original:
        names = patched.namelist()
        assert names == sorted(names) and PTH_NAME in names
        assert patched.read(PTH) == original.read(PTH).replace(b"#import site", b"import site")
        kept = {i.filename: i.date_time for i in original.infolist()}
        assert all(patched.getinfo(n).date_time == t for n, t in kept.items())
        patched.extractall(tmp_path / "unpacked")
    assert certembed("eject", tmp_path / "unpacked").returncode == 0
    for path in sorted(embed.rglob("*")):
        rel = path.relative_to(embed)
        assert (tmp_path / "unpacked" / rel).read_bytes() == path.read_bytes(), rel
    assert sorted(
        p.relative_to(tmp_path / "unpacked") for p in (tmp_path / "unpacked").rglob("*")
    ) == sorted(p.relative_to(embed) for p in embed.rglob("*"))


def test_eject_refuses_a_pth_changed_since(embed: Path, config: Path) -> None:
    pth = embed / PTH
    before = snapshot(embed)
    assert certembed("inject", embed, config).returncode == 0
    injected = pth.read_bytes()
    pth.write_bytes(injected + b"Lib\\site-packages\r\n")
    edited = snapshot(embed)
    proc = certembed("eject", embed)
    assert proc.returncode == errors.EjectRefused.exit_code, proc.stderr
    assert str(pth) in proc.stderr and "nothing changed" in proc.stderr
    assert snapshot(embed) == edited
    pth.write_bytes(injected)
    assert certembed("eject", embed).returncode == 0
    assert diff(before, snapshot(embed)) == []


KILLER = (
    "import os, signal, sys\n"
    "import certembed.inject.apply as apply\n"
    "from certembed.cli import main\n"
    "at = sys.argv[1]\n"
    "apply.step = lambda name: os.kill(os.getpid(), signal.SIGKILL) if name == at else None\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def test_kill_points_around_the_pth_file(wine: WineLane, embed: Path, config: Path) -> None:
    """Killed between keeping the original ._pth and replacing it, or just after: the Python
    starts (under Wine), and eject restores the shipped ._pth."""
    before = snapshot(embed)
    for at in ("backup", "site", "eject-restore"):
        if at.startswith("eject"):
            assert certembed("inject", embed, config).returncode == 0
            argv = ["eject", str(embed)]
        else:
            argv = ["inject", str(embed), str(config), "-q"]
        proc = subprocess.run(
            [sys.executable, "-c", KILLER, at, *argv],
            capture_output=True,
            text=True,
            env=scrubbed_env(),
        )
        assert proc.returncode == -9, (at, proc.stderr)
        if at == "site":
            started = wine.run([embed / "python.exe", "-B", "-c", "print('up')"], thin_store=True)
            assert started.returncode == 0 and started.stdout.strip() == "up", started.stderr
        proc = certembed("eject", embed)
        assert proc.returncode == 0, (at, proc.stderr)
        assert diff(before, snapshot(embed)) == [], at
