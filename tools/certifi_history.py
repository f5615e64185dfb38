"""Regenerate src/certembed/audit/certifi_history.json from every certifi release on PyPI.

    python tools/certifi_history.py                 # all releases, downloads cached
    python tools/certifi_history.py --check         # exit 1 if the committed file is stale

Releases are listed with ``pip index versions certifi`` and fetched with ``pip download``
(wheel where one exists, else the sdist; nothing is built or installed) into
``~/.cache/certembed-test-fixtures/certifi-releases`` (or CERTEMBED_FIXTURE_CACHE). The output
pins every artifact's SHA-256; a rerun reuses cached files and rewrites identical bytes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from certembed.audit.history import HISTORY_FILE, build_history, dump  # noqa: E402

OUT = ROOT / "src" / "certembed" / "audit" / HISTORY_FILE
# Releases before certifi adopted date versions (0.0.x, 1.0.x: 2011-2013) ship no cacert.pem
# of their own layout; history starts with the first date-versioned release.
FIRST = "14.5.14"


def _cache() -> Path:
    base = os.environ.get("CERTEMBED_FIXTURE_CACHE") or str(
        Path.home() / ".cache" / "certembed-test-fixtures"
    )
    folder = Path(base) / "certifi-releases"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}


def versions() -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "certifi"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("Available versions:"))
    found = [v.strip() for v in line.split(":", 1)[1].split(",")]
    return [v for v in found if _key(v) >= _key(FIRST)]


def _key(version: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", version)]


def _file_version(name: str) -> str | None:
    match = re.match(r"certifi-(\d[\w.]*?)(?:-py|\.tar\.gz$|\.zip$)", name)
    return match.group(1) if match else None


def _cached(version: str, folder: Path) -> Path | None:
    for path in sorted(folder.iterdir()):
        found = _file_version(path.name)
        if found and _key(found) == _key(version):  # 14.05.14 on disk is 14.5.14
            return path
    return None


def fetch(version: str, folder: Path) -> Path:
    path = _cached(version, folder)
    if path is not None:
        return path
    base = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder)]
    # sdists: pip prepares their metadata in an isolated build environment (no install)
    for mode in (["--only-binary=:all:"], ["--no-binary=:all:"]):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [*base[:-1], tmp, *mode, f"certifi=={version}"],
                capture_output=True,
                text=True,
                env=_env(),
            )
            for got in Path(tmp).iterdir():
                found = _file_version(got.name)
                if found and _key(found) == _key(version):
                    target = folder / got.name
                    got.replace(target)
                    return target
    raise SystemExit(f"cannot download certifi=={version}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    folder = _cache()
    releases = []
    for version in versions():
        path = fetch(version, folder)
        releases.append((version, path.name, path.read_bytes()))
        print(f"{version}: {path.name}", file=sys.stderr)
    text = dump(build_history(releases))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python tools/certifi_history.py", file=sys.stderr)
            return 1
        print(f"{args.out} is current ({len(releases)} releases)")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(releases)} releases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
