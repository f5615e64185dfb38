"""`certembed openssl` when things go wrong, on a PyInstaller onedir app frozen here (Linux) and
the OpenSSL 3.5.8 of psycopg2-binary 2.9.13's manylinux wheel (pinned by SHA-256):

- a process SIGKILLed after each step of an upgrade and of a rollback (the ``fault`` hook of
  ``ops.upgrade``/``ops.rollback`` names the step; the child kills itself there, no undo runs);
- a rename the OS refuses (an immutable file, ``chattr +i``) while another process has the
  library loaded: all or nothing, the manifest consistent;
- truncated and damaged copies of the wheel's real libraries;
- the source's end of life, from the table `certembed audit` uses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from certembed.cli import main
from certembed.errors import OpenSSLError, SourceEndOfLife, TargetBusy
from certembed.installation.files import WORK_PREFIX
from certembed.openssl import ops
from certembed.openssl.swap import MANIFEST
from certembed.openssl.target import BACKUP_DIR
from tests.support.env import scrubbed_env
from tests.support.fixtures import extract
from tests.support.openssl_apps import frozen_probe
from tests.support.trees import diff, snapshot

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="Linux onedir apps, chattr, /proc"),
    pytest.mark.freeze,
]
CRYPTO = "_internal/libcrypto.so.3"


@pytest.fixture(scope="module")
def onedir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return frozen_probe(tmp_path_factory) / "probe"


@pytest.fixture
def app(onedir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "app"
    shutil.copytree(onedir, copy, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manylinux wheel's libraries as a directory SOURCE (no unzip per upgrade)."""
    return extract("psycopg-linux", tmp_path_factory.mktemp("wheel")) / "psycopg2_binary.libs"


def _version(app: Path) -> str:
    """The app starts and reports the OpenSSL it loaded."""
    proc = subprocess.run(
        [str(app / "probe")], capture_output=True, text=True, env=scrubbed_env(), timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout.splitlines()[-1])["version"])


def _flat(snap):  # type: ignore[no-untyped-def]
    """Directory mtimes left out (renames in and out of a folder move them)."""
    return {k: v if v[0] != "dir" else (*v[:3], 0, "") for k, v in snap.items()}


def _killed_at(action: str, app: Path, step: str, libs: Path) -> None:
    """Run the upgrade or rollback in a forked child that SIGKILLs itself right after
    ``step`` (no undo, no exit handlers, no flush: as a power cut or `kill -9` would)."""

    def fault(name: str) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            if action == "upgrade":
                ops.upgrade(app, libs, fault=fault)
            else:
                ops.rollback(app, fault=fault)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (step, status)


def _steps(app: Path, libs: Path) -> tuple[list[str], list[str]]:
    up: list[str] = []
    back: list[str] = []
    ops.upgrade(app, libs, fault=up.append)
    ops.rollback(app, fault=back.append)
    return up, back


def test_killed_at_every_step_upgrade_and_rollback_still_work(app, libs, capsys):
    original = _flat(snapshot(app, dir_times=False))
    old = _version(app)
    upgrade_steps, rollback_steps = _steps(app, libs)
    assert upgrade_steps[:3] == [
        "backup folder made",
        "manifest written",
        "backup folder published",
    ]
    assert upgrade_steps[-1] == "upgraded"
    assert rollback_steps[0] == "rolling back recorded"
    assert rollback_steps[-1] == "backup folder retired"
    assert len(upgrade_steps) == 10 and len(rollback_steps) == 6
    published = upgrade_steps.index("backup folder published")

    for index, step in enumerate(upgrade_steps):
        _killed_at("upgrade", app, step, libs)
        leftovers = sorted(p.name for p in app.glob(WORK_PREFIX + "*"))
        if index < published:
            # Killed before the backup folder existed: only a temporary folder, with no
            # original in it; nothing to roll back, and the next command deletes it.
            assert leftovers == [p for p in leftovers if p.startswith(WORK_PREFIX + "partial-")]
            assert len(leftovers) == 1, leftovers
            assert main(["openssl", "rollback", str(app)]) == OpenSSLError.exit_code
            assert "no certembed OpenSSL upgrade to roll back" in capsys.readouterr().err
        else:
            assert leftovers == [BACKUP_DIR]
            assert (app / BACKUP_DIR / MANIFEST).is_file()
            assert main(["openssl", "rollback", str(app)]) == 0, capsys.readouterr().err
        assert diff(original, _flat(snapshot(app, dir_times=False))) == [], step
        assert _version(app) == old, step

    assert main(["openssl", "upgrade", str(app), "--from", str(libs)]) == 0
    upgraded = app.with_name("upgraded")
    shutil.copytree(app, upgraded, symlinks=True)  # timestamps kept: the same tree each time
    for step in rollback_steps:
        shutil.rmtree(app)
        shutil.copytree(upgraded, app, symlinks=True)
        _killed_at("rollback", app, step, libs)
        code = main(["openssl", "rollback", str(app)])
        err = capsys.readouterr().err
        if step == "backup folder retired":  # the rollback was complete but for clean-up
            assert code == OpenSSLError.exit_code, err
        else:
            assert code == 0, (step, err)
        assert diff(original, _flat(snapshot(app, dir_times=False))) == [], step
        assert _version(app) == old, step

    # And after all that, a plain upgrade and rollback.
    assert main(["openssl", "upgrade", str(app), "--from", str(libs)]) == 0
    assert _version(app).startswith("OpenSSL 3.5.8 ")
    assert main(["openssl", "rollback", str(app)]) == 0
    assert diff(original, _flat(snapshot(app, dir_times=False))) == []


HOLD = "import ctypes, sys; ctypes.CDLL(sys.argv[1]); print('loaded', flush=True); sys.stdin.read()"


@contextmanager
def holding(library: Path) -> Iterator[int]:
    """A real process with ``library`` loaded (dlopen), until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(library)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=scrubbed_env(),
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "loaded"
        yield proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """The kernel refuses to rename, replace or delete ``path`` (needs root and ext4/xfs)."""
    proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"chattr +i {path}: {proc.stderr}")  # root on ext4 in CI: must work
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _without_manifest_time(snap):  # type: ignore[no-untyped-def]
    key = f"{BACKUP_DIR}/{MANIFEST}"
    return {k: v if k != key else (*v[:3], 0, v[4]) for k, v in _flat(snap).items()}


def test_rollback_refused_by_the_os_changes_nothing(app, libs, capsys):
    original = _flat(snapshot(app, dir_times=False))
    assert main(["openssl", "upgrade", str(app), "--from", str(libs)]) == 0
    capsys.readouterr()
    upgraded = _without_manifest_time(snapshot(app, dir_times=False))
    crypto = app / CRYPTO
    # libssl comes first: it is moved aside and restored before libcrypto fails.
    with holding(crypto) as pid, immutable(crypto):
        code = main(["openssl", "rollback", str(app)])
        err = capsys.readouterr().err
        assert code == TargetBusy.exit_code, err
        assert f"rollback: cannot move {crypto} (Operation not permitted)" in err
        assert "every rename done was undone" in err
        assert f"Held by: pid {pid} (" in err and ") has it loaded" in err
        assert "immutable" in err
        # Every file where it was, the manifest unchanged in content and still "upgraded".
        assert diff(upgraded, _without_manifest_time(snapshot(app, dir_times=False))) == []
        assert main(["openssl", "show", str(app), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)["upgrade"]
        assert shown["state"] == "upgraded"
        assert [f["current"] for f in shown["files"]] == ["as upgraded"] * 2
    assert _version(app).startswith("OpenSSL 3.5.8 ")
    # Freed, while the other process still has it loaded (Linux renames regardless).
    with holding(crypto):
        assert main(["openssl", "rollback", str(app)]) == 0
    assert diff(original, _flat(snapshot(app, dir_times=False))) == []
    assert _version(app).startswith("OpenSSL 3.0.")


def test_upgrade_refused_by_the_os_changes_nothing(app, libs, capsys):
    before = _flat(snapshot(app, dir_times=False))
    crypto = app / CRYPTO
    with holding(crypto) as pid, immutable(crypto):
        code = main(["openssl", "upgrade", str(app), "--from", str(libs)])
        err = capsys.readouterr().err
        assert code == TargetBusy.exit_code, err
        assert f"upgrade: cannot move {crypto} (Operation not permitted)" in err
        assert f"Held by: pid {pid} (" in err
        assert diff(before, _flat(snapshot(app, dir_times=False))) == []
    assert _version(app).startswith("OpenSSL 3.0.")
    assert main(["openssl", "upgrade", str(app), "--from", str(libs)]) == 0
    assert _version(app).startswith("OpenSSL 3.5.8 ")


def _cut(data: bytes, how: str) -> bytes:
    if how == "two thirds":
        return data[: len(data) * 2 // 3]
    if how == "tail":  # patchelf leaves one spare byte at the end: cut into the last segment
        return data[:-64]
    # "headers": the section header table's offset (e_shoff, 8 bytes at 0x28) past the end
    return data[:0x28] + (len(data) * 4).to_bytes(8, "little") + data[0x30:]


@pytest.mark.parametrize(
    ("name", "how"),
    [
        ("libcrypto-fb8d5b21.so.3", "two thirds"),
        ("libcrypto-fb8d5b21.so.3", "tail"),
        ("libssl-8bd944e8.so.3", "headers"),
    ],
)
def test_damaged_source_library_is_named_not_short_of_symbols(
    app, libs, tmp_path, capsys, name, how
):
    source = tmp_path / "libs"
    source.mkdir()
    for lib in ("libcrypto-fb8d5b21.so.3", "libssl-8bd944e8.so.3"):
        shutil.copy2(libs / lib, source)
    (source / name).write_bytes(_cut((libs / name).read_bytes(), how))
    before = snapshot(app)
    code = main(["openssl", "upgrade", str(app), "--from", str(source), "--dry-run"])
    err = capsys.readouterr().err
    assert code == OpenSSLError.exit_code, err
    role = "libssl" if name.startswith("libssl") else "libcrypto"
    assert f"--from {source}: {name}: the source's {role} is damaged (" in err
    assert "lacks" not in err and "Traceback" not in err
    assert diff(before, snapshot(app)) == []


def test_damaged_target_library_is_named(app, libs, capsys):
    crypto = app / CRYPTO
    crypto.write_bytes(crypto.read_bytes()[:-4096])
    code = main(["openssl", "upgrade", str(app), "--from", str(libs), "--dry-run"])
    err = capsys.readouterr().err
    assert code == OpenSSLError.exit_code, err
    assert f"{app}: {CRYPTO}: the target's libcrypto is damaged (unreadable: " in err


def test_source_end_of_life_same_table_as_audit(app, libs, capsys):
    """3.5 (LTS) ends on 2030-04-08 in the table `audit` uses: supported now, a warning in the
    last 180 days, refused after it unless --allow-eol."""
    plan = ops.upgrade(app, libs, dry_run=True)["plan"]
    assert "end of life: OpenSSL 3.5 is supported until 2030-04-08" in plan["checks"]
    assert not [n for n in plan["notes"] if "end of life" in n]
    plan = ops.upgrade(app, libs, dry_run=True, today=date(2030, 1, 1))["plan"]
    assert "warning: OpenSSL 3.5 reaches its end of life on 2030-04-08, in 97 days" in "".join(
        plan["notes"]
    )
    before = snapshot(app)
    with pytest.raises(SourceEndOfLife) as refused:
        ops.upgrade(app, libs, today=date(2030, 4, 8))
    assert "is OpenSSL 3.5.8, whose 3.5 series reached its end of life on 2030-04-08" in str(
        refused.value
    )
    assert diff(before, snapshot(app)) == []
    plan = ops.upgrade(app, libs, dry_run=True, allow_eol=True, today=date(2030, 4, 8))["plan"]
    assert "end of life: OpenSSL 3.5 ended on 2030-04-08 (--allow-eol)" in plan["checks"]
    # audit judges the same library by the same date
    assert main(["audit", str(libs), "--json", "--as-of", "2030-04-08"]) == 0
    audited = json.loads(capsys.readouterr().out)
    crypto = next(e for e in audited["openssl"]["libraries"] if e["role"] == "libcrypto")
    assert (crypto["version"], crypto["end_of_life"]) == ("3.5.8", True)
