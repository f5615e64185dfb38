"""`certembed openssl` on Linux, natively: a PyInstaller onedir app frozen here (its _ssl loads
the libssl.so.3/libcrypto.so.3 PyInstaller copied into _internal) upgraded from the OpenSSL of
a real manylinux wheel (psycopg2-binary 2.9.13, auditwheel-mangled names, pinned by SHA-256).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from elftools.elf.elffile import ELFFile

from certembed.cli import main
from certembed.errors import (
    AlreadyUpgraded,
    IncompleteSource,
    MacOSTarget,
    MissingSymbol,
    NotNewer,
    OnefileTarget,
    RollbackRefused,
    StaticTarget,
    SystemOpenSSL,
)
from certembed.openssl import ops
from certembed.openssl.target import BACKUP_DIR
from tests.support.binaries import VERSION_WITH_CONTEXT, write_elf, write_macho
from tests.support.env import scrubbed_env
from tests.support.fixtures import extract, wheel
from tests.support.openssl_apps import frozen_probe
from tests.support.tls import write_ca
from tests.support.trees import diff, snapshot

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux onedir apps")
NEW = "3.5.8"  # OpenSSL inside psycopg2-binary 2.9.13's manylinux wheel


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One analysis, two apps: dist/probe (onedir) and dist/probe-onefile."""
    return frozen_probe(tmp_path_factory)


@pytest.fixture(scope="module")
def onedir(frozen: Path) -> Path:
    return frozen / "probe"


@pytest.fixture
def app(onedir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "app"
    shutil.copytree(onedir, copy, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def manylinux_wheel() -> Path:
    return wheel("psycopg-linux")


def _run(app: Path, *args: str) -> dict[str, object]:
    proc = subprocess.run(
        [str(app / "probe"), *args], capture_output=True, text=True, env=scrubbed_env(), timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["openssl", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _port(server) -> str:  # type: ignore[no-untyped-def]
    return str(urlparse(server.url).port)


@pytest.mark.freeze
def test_onedir_upgrade_verifies_then_rollback_restores(
    app, manylinux_wheel, servers, cas, tmp_path, capsys
):
    right = write_ca(cas["distro"], tmp_path / "right.pem")
    wrong = write_ca(cas["rogue"], tmp_path / "wrong.pem")
    port = _port(servers["distro"])
    before_run = _run(app, port, str(right))
    assert before_run["version"].startswith("OpenSSL 3.0."), before_run
    before = snapshot(app)

    code, result = _cli(capsys, "upgrade", str(app), "--from", str(manylinux_wheel))
    assert code == 0, result
    plan = result["plan"]
    assert (plan["old_version"], plan["new_version"]) == (before_run["version"].split()[1], NEW)
    ssl_rep, crypto_rep = plan["replacements"]
    assert ssl_rep["path"] == "_internal/libssl.so.3"
    assert ssl_rep["rewrites"] == [["libcrypto-fb8d5b21.so.3", "libcrypto.so.3"]]
    assert crypto_rep["soname"] == "libcrypto.so.3"
    assert plan["post_check"].startswith("skipped: a pyinstaller-onedir runs only its own code")

    # The upgraded app runs natively, loads one libcrypto (its own) and verifies...
    after = _run(app, port, str(right))
    assert after["version"].startswith(f"OpenSSL {NEW} "), after
    assert after["libcrypto"] == [str(app / "_internal" / "libcrypto.so.3")]
    assert after["handshake"] == "verified TLSv1.3"
    # ...and fails with a wrong CA.
    failed = _run(app, port, str(wrong))
    assert failed["handshake"].startswith("failed: [SSL: CERTIFICATE_VERIFY_FAILED]"), failed
    # The new libssl imports libcrypto by the name _ssl uses, under the right SONAME.
    dynamic = subprocess.run(
        ["objdump", "-p", str(app / "_internal" / "libssl.so.3")], capture_output=True, text=True
    ).stdout
    assert "NEEDED               libcrypto.so.3" in dynamic
    assert "SONAME               libssl.so.3" in dynamic
    assert "fb8d5b21" not in dynamic

    # show, audit and the manifest say it is upgraded.
    code, shown = _cli(capsys, "show", str(app))
    assert code == 0
    assert shown["openssl"]["version"] == NEW
    assert shown["upgrade"]["old_version"] == plan["old_version"]
    assert [f["current"] for f in shown["upgrade"]["files"]] == ["as upgraded"] * 2
    assert main(["audit", str(app), "--json"]) == 0
    audited = json.loads(capsys.readouterr().out)
    assert audited["openssl_upgrade"]["new_version"] == NEW
    assert {lib["version"] for lib in audited["openssl"]["libraries"]} == {NEW}
    assert not any(BACKUP_DIR in lib["file"] for lib in audited["openssl"]["libraries"])

    code, rolled = _cli(capsys, "rollback", str(app))
    assert code == 0, rolled
    # Every file back byte for byte, with its mode and mtime (directory mtimes moved when the
    # backup folder came and went).
    assert diff(_no_dir_times(before), snapshot(app, dir_times=False)) == []
    assert _run(app, port, str(right))["version"] == before_run["version"]


def _no_dir_times(snap):  # type: ignore[no-untyped-def]
    return {k: v if v[0] != "dir" else (*v[:3], 0, "") for k, v in snap.items()}


class Boom(RuntimeError):
    pass


@pytest.mark.freeze
@pytest.mark.parametrize(
    "failing_step", ["backup _internal/libssl.so.3", "install _internal/libcrypto.so.3"]
)
def test_interrupted_upgrade_leaves_the_original(app, manylinux_wheel, failing_step):
    """A failure injected after the first rename (backup of libssl) and after the last one:
    every step is undone."""
    before = snapshot(app)
    steps: list[str] = []

    def fault(step: str) -> None:
        steps.append(step)
        if step == failing_step:
            raise Boom(step)

    with pytest.raises(Boom):
        ops.upgrade(app, manylinux_wheel, fault=fault)
    assert steps[-1] == failing_step
    assert diff(_no_dir_times(before), snapshot(app, dir_times=False)) == []
    assert not (app / BACKUP_DIR).exists()
    assert _run(app)["version"].startswith("OpenSSL 3.0.")


CRASH = """
import os, sys
from pathlib import Path
from certembed.openssl import ops
def fault(step):
    if step == sys.argv[3]:
        os._exit(17)  # the process dies between two renames: no undo runs
ops.upgrade(Path(sys.argv[1]), Path(sys.argv[2]), fault=fault)
"""


@pytest.mark.freeze
def test_crashed_upgrade_is_rolled_back_by_the_next_command(app, manylinux_wheel, capsys):
    before = snapshot(app)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASH,
            str(app),
            str(manylinux_wheel),
            "backup _internal/libcrypto.so.3",
        ],
        env=scrubbed_env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 17, proc.stderr
    assert not (app / "_internal" / "libcrypto.so.3").exists()  # moved into the backup
    code, shown = _cli(capsys, "show", str(app))
    assert code == 0
    assert shown["upgrade"]["state"] == "swapping"
    err = _refused(
        capsys, app, ["upgrade", str(app), "--from", str(manylinux_wheel)], AlreadyUpgraded
    )
    assert "interrupted mid-way" in err
    assert main(["openssl", "rollback", str(app)]) == 0
    assert diff(_no_dir_times(before), snapshot(app, dir_times=False)) == []


def _refused(capsys, app: Path, argv: list[str], error: type) -> str:  # type: ignore[no-untyped-def]
    before = snapshot(app)
    code = main(["openssl", *argv])
    err = capsys.readouterr().err
    assert code == error.exit_code, err
    assert diff(before, snapshot(app)) == []  # not a byte, not a timestamp
    return err


@pytest.mark.freeze
def test_refusals_leave_the_onedir_untouched(app, onedir, manylinux_wheel, tmp_path, capsys):
    libs = extract("psycopg-linux", tmp_path / "wheel") / "psycopg2_binary.libs"
    only_crypto = tmp_path / "only-crypto"
    only_crypto.mkdir()
    shutil.copy(libs / "libcrypto-fb8d5b21.so.3", only_crypto)
    err = _refused(capsys, app, ["upgrade", str(app), "--from", str(only_crypto)], IncompleteSource)
    assert "libcrypto-fb8d5b21.so.3 (libcrypto)" in err
    # A source whose libssl no longer exports SSL_CTX_new@OPENSSL_3.0.0 (its .dynstr name
    # renamed in a copy), which _ssl imports.
    broken = tmp_path / "broken"
    shutil.copytree(libs, broken)
    libssl = broken / "libssl-8bd944e8.so.3"
    with libssl.open("rb") as handle:
        elf = ELFFile(handle)
        dynsym = elf.get_section_by_name(".dynsym")
        symbol = next(s for s in dynsym.iter_symbols() if s.name == "SSL_CTX_new")
        at = elf.get_section_by_name(".dynstr")["sh_offset"] + symbol["st_name"]
    data = bytearray(libssl.read_bytes())
    assert data[at : at + 11] == b"SSL_CTX_new"
    data[at : at + 11] = b"SSL_CTX_neX"
    libssl.write_bytes(bytes(data))
    err = _refused(capsys, app, ["upgrade", str(app), "--from", str(broken)], MissingSymbol)
    assert "imports SSL_CTX_new@OPENSSL_3.0.0 from libssl.so.3; libssl-8bd944e8.so.3 lacks" in err
    # The app's own libraries as a source: the same version is not newer.
    err = _refused(capsys, app, ["upgrade", str(app), "--from", str(app / "_internal")], NotNewer)
    assert "--allow-downgrade" in err
    # A dry run prints the plan and changes nothing.
    before = snapshot(app)
    assert main(["openssl", "upgrade", str(app), "--from", str(manylinux_wheel), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "plan (dry run, nothing changed)" in out
    assert "imports libcrypto-fb8d5b21.so.3 rewritten to libcrypto.so.3" in out
    assert diff(before, snapshot(app)) == []
    # An upgrade in place: a second one is refused, and so is a rollback after a change.
    assert main(["openssl", "upgrade", str(app), "--from", str(manylinux_wheel)]) == 0
    capsys.readouterr()
    _refused(capsys, app, ["upgrade", str(app), "--from", str(manylinux_wheel)], AlreadyUpgraded)
    with (app / "_internal" / "libssl.so.3").open("ab") as handle:
        handle.write(b"\0")
    err = _refused(capsys, app, ["rollback", str(app)], RollbackRefused)
    assert "_internal/libssl.so.3: changed since the upgrade" in err
    # Accepted (backup removed by hand): the frozen app's original 3.0 libraries are older,
    # refused without --allow-downgrade, planned with it.
    shutil.rmtree(app / BACKUP_DIR)
    source = str(onedir / "_internal")
    err = _refused(capsys, app, ["upgrade", str(app), "--from", source], NotNewer)
    assert f"the source's libcrypto.so.3 (--from {source}) is OpenSSL 3.0." in err
    assert f"older than the target's OpenSSL {NEW} (_internal/libcrypto.so.3 in {app})" in err
    downgrade = ["--allow-downgrade", "--allow-eol", "--dry-run"]  # 3.0 ended on 2026-09-07
    code = main(["openssl", "upgrade", str(app), "--from", source, *downgrade])
    assert code == 0
    assert "(--allow-downgrade)" in capsys.readouterr().out


@pytest.mark.freeze
def test_onefile_refused(frozen, tmp_path, capsys):
    exe = frozen / "probe-onefile"
    before = (exe.stat(), exe.read_bytes())
    assert (
        main(["openssl", "upgrade", str(exe), "--from", str(tmp_path)]) == OnefileTarget.exit_code
    )
    assert "onefile" in capsys.readouterr().err
    after = exe.stat()
    assert (after.st_mtime_ns, after.st_size, exe.read_bytes()) == (
        before[0].st_mtime_ns,
        before[0].st_size,
        before[1],
    )


def _skip_unless_ci(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {why}")
    pytest.skip(why)


def test_venv_resolves_to_its_base_and_system_openssl_is_refused(capsys):
    """This test's own venv: its base Python's _ssl loads the distribution's libssl."""
    venv = Path(sys.prefix)
    if not (venv / "pyvenv.cfg").is_file():
        _skip_unless_ci("tests not running in a venv (.ci/run always uses one)")
    code = main(["openssl", "show", str(venv), "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert code == 0
    assert "is a virtual environment" in shown["notes"][0]
    if shown["exit_code"] != SystemOpenSSL.exit_code:
        _skip_unless_ci(f"the base Python carries its own OpenSSL: {shown['why_not_upgradable']}")
    assert "from the operating system" in shown["why_not_upgradable"]
    code = main(["openssl", "upgrade", str(venv), "--from", str(venv), "--dry-run"])
    assert code == SystemOpenSSL.exit_code


def test_static_and_macos_targets_refused(tmp_path, capsys):
    static = tmp_path / "static"
    dynload = static / "lib" / "python3.12" / "lib-dynload"
    dynload.mkdir(parents=True)
    (static / "bin").mkdir()
    write_elf(
        dynload / "_ssl.cpython-312-x86_64-linux-gnu.so",
        "x64",
        ["libc.so.6"],
        None,
        VERSION_WITH_CONTEXT,
    )
    err = _refused(capsys, static, ["upgrade", str(static), "--from", str(tmp_path)], StaticTarget)
    assert "linked in statically" in err
    mac = tmp_path / "mac"
    mac.mkdir()
    write_macho(mac / "_ssl.cpython-312-darwin.so", "arm64", ["@rpath/libssl.3.dylib"])
    err = _refused(capsys, mac, ["upgrade", str(mac), "--from", str(tmp_path)], MacOSTarget)
    assert "macOS" in err
