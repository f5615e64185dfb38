"""``certembed inject`` / ``eject`` on real CPython trees: a copied pyenv prefix and a venv,
real handshakes in distro layouts (negative twins after eject), byte-for-byte eject, kill
points, archives and bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from certembed import errors
from certembed.inject.state import PTH_NAME, STATE_DIR
from tests.support.env import scrubbed_env
from tests.support.layouts import build_layout, require_namespaces, run_in_layout
from tests.support.project import toml_config
from tests.support.pythons import copy_prefix, require_python
from tests.support.trees import diff, fresh_copy, snapshot

pytestmark = pytest.mark.namespace

# Try each URL with urllib, print {url: "ok" | exception name} and whether the bootstrap ran.
FETCH = (
    "import json, sys, urllib.request\n"
    "out = {}\n"
    "for url in sys.argv[1:]:\n"
    "    try:\n"
    "        urllib.request.urlopen(url, timeout=10).read(); out[url] = 'ok'\n"
    "    except Exception as exc:\n"
    "        out[url] = 'verify-failed' if 'CERTIFICATE_VERIFY_FAILED' in str(exc) else repr(exc)\n"
    "out['bootstrap'] = '_certembed_bootstrap' in sys.modules\n"
    "print(json.dumps(out))\n"
)
SITE = "lib/python3.12/site-packages"
# The copied prefix has no bytecode caches: its Python must not write them (they would be
# differences eject is not responsible for). -I ignores PYTHONDONTWRITEBYTECODE: -B too.
RUN_ENV = scrubbed_env(PYTHONDONTWRITEBYTECODE="1")


def certembed(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certembed", *map(str, args)],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def prefix_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_prefix(12, tmp_path_factory.mktemp("prefix-src") / "cpython-3.12")


@pytest.fixture
def prefix(prefix_source: Path, tmp_path: Path) -> Path:
    return fresh_copy(prefix_source, tmp_path)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, ca_dir: Path) -> Path:
    """fill-gaps; fallback = the session's "fallback" CA, always = its "corp" CA."""
    return toml_config(tmp_path_factory.mktemp("project"), ca_dir)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory, ca_dir: Path) -> dict[str, Path]:
    require_namespaces()
    return {
        name: build_layout(tmp_path_factory.mktemp(name), name, ca_dir / "distro.pem")
        for name in ("none", "rhel", "debian")
    }


def fetch(layout: Path, python: Path, servers: dict, flags: tuple[str, ...] = ()) -> dict:
    urls = [servers[n].url for n in ("distro", "fallback", "corp", "rogue")]
    proc = run_in_layout(layout, [str(python), "-B", *flags, "-c", FETCH, *urls], env=RUN_ENV)
    assert proc.returncode == 0, proc.stderr
    assert "Error processing line" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    verdicts = {n: report[servers[n].url] for n in ("distro", "fallback", "corp", "rogue")}
    return {"bootstrap": report["bootstrap"], **verdicts}


def expected(layout: str, injected: bool) -> dict:
    store = layout != "none"
    # Without certembed this Debian-built OpenSSL finds only Debian's layout (/usr/lib/ssl):
    # RHEL's store is there but unused, the trap inject exists for.
    found = store if injected else layout == "debian"
    return {
        "bootstrap": injected,
        "distro": "ok" if found else "verify-failed",
        # fill-gaps: the embedded fallback only where the machine has no store
        "fallback": "ok" if injected and not store else "verify-failed",
        "corp": "ok" if injected else "verify-failed",  # always
        "rogue": "verify-failed",
    }


def check_round_trip(
    target: Path, python: Path, tree: Path, config: Path, layouts: dict, servers: dict
) -> None:
    before = snapshot(tree)
    proc = certembed("inject", target, config, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["record"]["mode"] == "fill-gaps" and result["record"]["always"] == 1
    for name, layout in layouts.items():
        for flags in ((), ("-I",)):
            assert fetch(layout, python, servers, flags) == expected(name, True), (name, flags)
    # python -S skips site, and so the policy (documented as out of reach)
    assert fetch(layouts["none"], python, servers, ("-S",))["corp"] == "verify-failed"
    proc = certembed("eject", target, "--json")
    assert proc.returncode == 0, proc.stderr
    assert diff(before, snapshot(tree)) == []
    for name, layout in layouts.items():  # negative twins: the same Python, ejected
        assert fetch(layout, python, servers, ("-I",)) == expected(name, False), name


def test_prefix_injected_verifies_and_ejects_byte_for_byte(
    prefix: Path, config: Path, layouts: dict, servers: dict
) -> None:
    python = prefix / "bin" / "python3.12"
    check_round_trip(prefix, python, prefix, config, layouts, servers)


def test_venv_injected_through_its_python(
    tmp_path: Path, config: Path, layouts: dict, servers: dict
) -> None:
    venv = tmp_path / "venv"
    base = require_python(12)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    check_round_trip(python, python, venv, config, layouts, servers)


def test_second_inject_replaces_the_first(
    prefix: Path, config: Path, ca_dir: Path, tmp_path: Path, layouts: dict, servers: dict
) -> None:
    before = snapshot(prefix)
    assert certembed("inject", prefix, config).returncode == 0
    other = toml_config(tmp_path / "other", ca_dir, corp="rogue.pem")
    proc = certembed("inject", prefix, other, "--json")
    assert proc.returncode == 0, proc.stderr
    assert [c["op"] for c in json.loads(proc.stdout)["changes"]] == ["create", "replace"]
    report = fetch(layouts["debian"], prefix / "bin" / "python3", servers)
    assert (report["corp"], report["rogue"]) == ("verify-failed", "ok")
    shown = json.loads(certembed("inspect", prefix, "--json").stdout)
    assert shown["injection"]["config"] == str(other)
    assert {r["trust"] for r in shown["certificates"]} == {"fallback", "always"}
    assert certembed("eject", prefix).returncode == 0
    assert diff(before, snapshot(prefix)) == []


def test_dry_run_changes_nothing_and_audit_shows_the_injection(prefix: Path, config: Path) -> None:
    before = snapshot(prefix)
    proc = certembed("inject", prefix, config, "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] and plan["target"]["version"] == "3.12"
    assert {c["path"] for c in plan["changes"]} == {f"{SITE}/{STATE_DIR}", f"{SITE}/{PTH_NAME}"}
    assert diff(before, snapshot(prefix)) == []
    assert certembed("inject", prefix, config).returncode == 0
    # the same config again: the same payload bytes (the time is only in the record)
    again = json.loads(certembed("inject", prefix, config, "--json").stdout)
    assert [c["op"] for c in again["changes"]] == ["keep"]
    audited = json.loads(certembed("audit", prefix, "--json").stdout)
    assert audited["injection"]["mode"] == "fill-gaps"
    assert audited["injection"]["when"]  # when lives in the record, not in the payload
    assert certembed("eject", prefix, "--dry-run").returncode == 0
    assert (prefix / SITE / PTH_NAME).is_file()


INJECT_STEPS = ("journal", "payload", "pth", "done")
EJECT_STEPS = ("eject-journal", "eject-pth", "eject-restore", "eject-rename")
KILLER = (
    "import os, signal, sys\n"
    "import certembed.inject.apply as apply\n"
    "from certembed.cli import main\n"
    "at = sys.argv[1]\n"
    "apply.step = lambda name: os.kill(os.getpid(), signal.SIGKILL) if name == at else None\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def killed(at: str, *args: str | Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, at, *map(str, args)],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
    )
    assert proc.returncode == -9, (at, proc.returncode, proc.stderr)


def starts(python: Path) -> None:
    proc = subprocess.run(
        [str(python), "-I", "-B", "-c", "import ssl; ssl.create_default_context(); print('up')"],
        capture_output=True,
        text=True,
        env=RUN_ENV,
    )
    assert proc.returncode == 0 and proc.stdout == "up\n", proc.stderr


def test_kill_points_never_leave_a_python_that_cannot_start(
    prefix: Path, config: Path, ca_dir: Path, tmp_path: Path
) -> None:
    python = prefix / "bin" / "python3.12"
    before = snapshot(prefix)
    before_flat = snapshot(prefix, dir_times=False)
    for at in INJECT_STEPS:
        killed(at, "inject", prefix, config, "-q")
        starts(python)
        proc = certembed("eject", prefix)
        assert proc.returncode == 0, (at, proc.stderr)
        assert diff(before, snapshot(prefix)) == [], at
    # a killed inject is finished by the next inject (which ejects it first)
    killed("payload", "inject", prefix, config, "-q")
    assert certembed("inject", prefix, config).returncode == 0
    starts(python)
    # a second inject (another config) killed at each step: the first or the second applies
    other = toml_config(tmp_path / "other", ca_dir, corp="rogue.pem")
    for at in ("payload", "journal", "pth", "done"):
        killed(at, "inject", prefix, other, "-q")
        starts(python)
    for at in EJECT_STEPS:
        killed(at, "eject", prefix)
        starts(python)
        proc = certembed("eject", prefix)
        assert proc.returncode == 0, (at, proc.stderr)
        assert diff(before, snapshot(prefix)) == [], at
        assert certembed("inject", prefix, config).returncode == 0
    # Killed after the state folder is gone, before the site folder's times are put back: the
    # files are restored, only that folder's mtime is not (documented).
    killed("eject-state", "eject", prefix)
    starts(python)
    assert certembed("eject", prefix).returncode == errors.InjectError.exit_code
    assert diff(before_flat, snapshot(prefix, dir_times=False)) == []


def test_existing_sitecustomize_is_composed_not_overwritten(
    prefix: Path, config: Path, layouts: dict, servers: dict
) -> None:
    custom = prefix / SITE / "sitecustomize.py"
    custom.write_text("import sys\nsys.stderr.write('site-customized\\n')\n")
    before = snapshot(prefix)
    assert certembed("inject", prefix, config).returncode == 0
    assert custom.read_text().startswith("import sys")
    proc = run_in_layout(
        layouts["none"],
        [str(prefix / "bin" / "python3"), "-I", "-B", "-c", FETCH, servers["corp"].url],
        env=RUN_ENV,
    )
    assert proc.returncode == 0 and "site-customized" in proc.stderr
    report = json.loads(proc.stdout)
    assert report[servers["corp"].url] == "ok" and report["bootstrap"]
    assert certembed("eject", prefix).returncode == 0
    assert diff(before, snapshot(prefix)) == []


def make_archive(tree: Path, out: Path, top: str) -> Path:
    """A tar.gz with every entry of ``tree`` below ``top/`` (like python-build-standalone)."""
    with tarfile.open(out, "w:gz", compresslevel=1) as archive:
        archive.add(tree, arcname=top)
    return out


def test_archive_round_trip_is_deterministic(
    prefix: Path, config: Path, tmp_path: Path, layouts: dict, servers: dict
) -> None:
    source = make_archive(prefix, tmp_path / "cpython-3.12-install_only.tar.gz", "python")
    first, second = tmp_path / "a" / "patched.tar.gz", tmp_path / "b" / "patched.tar.gz"
    for out in (first, second):
        proc = certembed("inject", source, config, "-o", out, "--json")
        assert proc.returncode == 0, proc.stderr
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)}
    assert len(digests) == 1  # same archive, config and certembed: same bytes
    assert json.loads(proc.stdout)["archive"]["installation"] == "python"
    with tarfile.open(source) as a, tarfile.open(first) as b:
        old = {m.name: m for m in a.getmembers()}
        new = {m.name: m for m in b.getmembers()}
        assert [m.name for m in b.getmembers()] == sorted(new)
        for name, member in old.items():  # owner, mode and mtime of every source entry kept
            kept = new[name]
            assert (kept.mode, kept.uid, kept.gid, kept.mtime, kept.type) == (
                member.mode,
                member.uid,
                member.gid,
                int(member.mtime),
                member.type,
            ), name
        assert f"python/{SITE}/{PTH_NAME}" in new
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    with tarfile.open(first) as archive:
        archive.extractall(unpacked)
    python = unpacked / "python" / "bin" / "python3.12"
    assert fetch(layouts["none"], python, servers, ("-I",)) == expected("none", True)
    assert certembed("eject", unpacked / "python").returncode == 0
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    with tarfile.open(source) as archive:
        archive.extractall(pristine)
    assert diff(unpacked_view(pristine), unpacked_view(unpacked)) == []


def unpacked_view(root: Path) -> dict:
    """A snapshot without folder and link times (tarfile's extractall sets neither)."""
    return {
        rel: (kind, mode, size, 0 if kind == "link" else mtime, digest)
        for rel, (kind, mode, size, mtime, digest) in snapshot(root, dir_times=False).items()
    }


# --- bad input: a clear error naming the path, its own exit code, nothing changed ---------


def refused(target: Path, code: int, *args: str | Path, tree: Path | None = None) -> str:
    tree = tree or target
    before = snapshot(tree) if tree.is_dir() else tree.read_bytes()
    proc = certembed("inject", target, *args)
    assert proc.returncode == code, proc.stderr
    assert str(target) in proc.stderr and "nothing changed" in proc.stderr, proc.stderr
    after = snapshot(tree) if tree.is_dir() else tree.read_bytes()
    assert after == before
    return proc.stderr


def test_not_a_python(tmp_path: Path, config: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "bin").mkdir(parents=True)
    (folder / "README").write_text("no Python here\n")
    refused(folder, errors.NotAPython.exit_code, config)
    refused(folder / "README", errors.NotAPython.exit_code, config, tree=folder)


def test_python_older_than_3_8(tmp_path: Path, config: Path) -> None:
    exe = Path(require_python(7)).resolve()
    old = tmp_path / "cpython-3.7"
    (old / "bin").mkdir(parents=True)
    shutil.copy2(exe, old / "bin" / "python3.7")
    (old / "lib" / "python3.7" / "site-packages").mkdir(parents=True)
    shutil.copy2(exe.parent.parent / "lib" / "python3.7" / "os.py", old / "lib" / "python3.7")
    assert "3.7" in refused(old, errors.PythonTooOld.exit_code, config)


def test_read_only_prefix(prefix: Path, config: Path) -> None:
    require_namespaces()
    before = snapshot(prefix)
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    proc = subprocess.run(
        [
            *("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"),
            *(str(prefix), sys.executable, "-m", "certembed", "inject", str(prefix), str(config)),
        ],
        capture_output=True,
        text=True,
        env=scrubbed_env(),
    )
    assert proc.returncode == errors.ReadOnlyTarget.exit_code, proc.stderr
    assert str(prefix / SITE) in proc.stderr and "nothing changed" in proc.stderr
    assert diff(before, snapshot(prefix)) == []


def test_foreign_os_target(prefix: Path, config: Path) -> None:
    from tests.support.binaries import write_macho

    write_macho(prefix / "bin" / "python3.12", "arm64", ["/usr/lib/libSystem.B.dylib"])
    assert "macOS" in refused(prefix, errors.ForeignTarget.exit_code, config)


def test_archive_with_two_installations(prefix_source: Path, tmp_path: Path, config: Path) -> None:
    source = tmp_path / "two.zip"
    with zipfile.ZipFile(source, "w") as archive:
        for top in ("one", "two"):
            for rel in ("bin/python3.12", "lib/python3.12/os.py"):
                archive.write(prefix_source / rel, f"{top}/{rel}")
    out = tmp_path / "out.zip"
    stderr = refused(source, errors.TwoInstallations.exit_code, config, "-o", out)
    assert "one, two" in stderr and not out.exists()


def test_eject_without_injection(prefix: Path) -> None:
    proc = certembed("eject", prefix)
    assert proc.returncode == errors.InjectError.exit_code
    assert "nothing to eject" in proc.stderr and str(prefix) in proc.stderr


def test_archive_input_that_cannot_be_served(
    prefix_source: Path, tmp_path: Path, config: Path
) -> None:
    unsafe = tmp_path / "unsafe.tar.gz"
    with tarfile.open(unsafe, "w:gz") as archive:
        archive.add(prefix_source / "bin" / "python3.12", "../escape/python3.12")
    stderr = refused(unsafe, errors.ArchiveUnsupported.exit_code, config, "-o", tmp_path / "o.tgz")
    assert "../escape/python3.12" in stderr and not (tmp_path / "escape").exists()
    # an archive without -o: the source is never changed in place
    refused(unsafe, errors.ArchiveUnsupported.exit_code, config)


def test_doctor_reports_the_injection_of_its_python(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from certembed import doctor

    venv = tmp_path / "venv"
    subprocess.run([require_python(12), "-m", "venv", "--without-pip", str(venv)], check=True)
    assert certembed("inject", venv, config).returncode == 0
    monkeypatch.setattr(sys, "prefix", str(venv))
    record = doctor._injection_state()
    assert record is not None and record["config"] == str(config)
    assert record["mode"] == "fill-gaps" and record["applied_here"] is False
    assert certembed("eject", venv).returncode == 0
    assert doctor._injection_state() is None


def test_tar_zst_archive_round_trip(prefix: Path, config: Path, tmp_path: Path) -> None:
    """python-build-standalone's full archives: ``python/install/`` inside a .tar.zst."""
    if os.environ.get("CI") != "true":
        pytest.importorskip("zstandard", reason="zstandard is in the [test] extra")
    import zstandard

    source = tmp_path / "cpython-3.12-full.tar.zst"
    with (
        source.open("wb") as raw,
        zstandard.ZstdCompressor(level=1).stream_writer(raw) as z,
        tarfile.open(fileobj=z, mode="w|") as archive,
    ):
        archive.add(prefix, arcname="python/install")
    out = tmp_path / "patched.tar.zst"
    proc = certembed("inject", source, config, "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["archive"]["installation"] == "python/install"
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    with (
        out.open("rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw) as z,
        tarfile.open(fileobj=z, mode="r|") as archive,
    ):
        archive.extractall(unpacked)
    assert (unpacked / "python" / "install" / SITE / PTH_NAME).is_file()
    assert certembed("eject", unpacked / "python" / "install").returncode == 0
    assert diff(unpacked_view(prefix), unpacked_view(unpacked / "python" / "install")) == []
