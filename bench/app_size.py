"""Frozen app size with and without certembed installed in the build environment.

Two fresh virtual environments with the same PyInstaller and requests; one also has certembed
(and so its build-time dependencies: cryptography, jinja2, starlark-go, pefile, ...). The same
requests app is frozen (onedir) in each; the difference should be certembed's payload alone.
Usage: python bench/app_size.py [--keep DIR]   (needs PyPI access for the two venvs)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, scrubbed_env, write_section

REPO = Path(__file__).resolve().parents[1]
APP = "import requests\n\nprint(requests.certs.where())\n"


def _pins() -> list[str]:
    """The PyInstaller and requests of this environment, so both venvs freeze alike."""
    from importlib.metadata import version

    return [f"pyinstaller=={version('pyinstaller')}", f"requests=={version('requests')}"]


def _venv(folder: Path, extra: list[str]) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *_pins(), *extra],
        check=True,
        env=scrubbed_env(),
    )
    return python


def _freeze(python: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "app.py").write_text(APP)
    subprocess.run(
        [str(python), "-m", "PyInstaller", "--noconfirm", "--log-level", "ERROR", "app.py"],
        cwd=folder,
        check=True,
        env=scrubbed_env(),
    )
    return folder / "dist" / "app"


def _sizes(dist: Path) -> dict[str, int]:
    """Top-level entry of ``_internal`` (package dir or file) -> bytes."""
    internal = dist / "_internal"
    out: dict[str, int] = {}
    for root, _dirs, files in os.walk(dist):
        for name in files:
            path = Path(root) / name
            rel = path.relative_to(internal) if internal in path.parents else Path("(exe)")
            out[rel.parts[0]] = out.get(rel.parts[0], 0) + path.lstat().st_size
    return out


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", help="build in this directory and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        without = _sizes(_freeze(_venv(work / "venv-without", []), work / "without"))
        with_ = _sizes(_freeze(_venv(work / "venv-with", [str(REPO)]), work / "with"))
    total_without, total_with = sum(without.values()), sum(with_.values())
    extra = sorted(
        ((name, with_.get(name, 0) - without.get(name, 0)) for name in set(with_) | set(without)),
        key=lambda item: -abs(item[1]),
    )
    rows = [f"| `{name}` | {_mb(delta)} |" for name, delta in extra if abs(delta) >= 1000]
    payload = with_.get("certembed", 0)
    body = "\n".join(
        [
            f"Machine: {machine()}; a requests app (`{APP.splitlines()[0]}`), PyInstaller "
            "onedir, two fresh venvs that differ only by certembed being installed.",
            "",
            "| app | size |",
            "|---|---|",
            f"| without certembed installed | {_mb(total_without)} |",
            f"| with certembed installed | {_mb(total_with)} |",
            f"| difference | {_mb(total_with - total_without)} |",
            f"| certembed's payload (`_internal/certembed`) | {_mb(payload)} |",
            "",
            "| what differs (`_internal/` entry) | bytes with minus without |",
            "|---|---|",
            *rows,
        ]
    )
    write_section("app_size", body)


if __name__ == "__main__":
    main()
