"""PyInstaller onedir freeze time and frozen start-up, with and without certembed, in one run
(targets: <= 5 % more freeze time, <= 3 % more start-up). Usage: python bench/freeze.py [--quick]

"Without" is the same app frozen with hooksconfig {"certembed": {"enabled": False}}, so the only
difference is certembed. Freezes alternate and use --clean; start-ups alternate too.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, median, scrubbed_env, write_section

APP = "import ssl, urllib.request\nssl.create_default_context()\n"
SPEC = """
a = Analysis(["app.py"], hooksconfig={{"certembed": {{"enabled": {enabled}}}}})
pyz = PYZ(a.pure)
exe = EXE(pyz, a.scripts, [], exclude_binaries=True, name="app", console=True)
coll = COLLECT(exe, a.binaries, a.datas, name="app")
"""


def freeze(folder: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--clean",
            "--log-level",
            "ERROR",
            "app.spec",
        ],
        cwd=folder,
        check=True,
        env=scrubbed_env(),
    )
    return time.perf_counter() - start


def start_up(exe: Path) -> float:
    start = time.perf_counter()
    subprocess.run([str(exe)], check=True, env=scrubbed_env())
    return time.perf_counter() - start


def main() -> None:
    quick = "--quick" in sys.argv
    freezes, starts = (1, 10) if quick else (3, 40)
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for label, enabled in (("with", True), ("without", False)):
            folder = Path(tmp) / label
            folder.mkdir()
            (folder / "app.py").write_text(APP)
            (folder / "app.spec").write_text(SPEC.format(enabled=enabled))
            folders[label] = folder
        times: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(freezes):
            for label in ("without", "with"):
                times[label].append(freeze(folders[label]))
        exes = {label: folders[label] / "dist" / "app" / "app" for label in folders}
        assert (folders["with"] / "dist/app/_internal/certembed/_certembed_bootstrap.py").exists()
        assert not (folders["without"] / "dist/app/_internal/certembed").exists()
        runs: dict[str, list[float]] = {"with": [], "without": []}
        for label in ("without", "with"):
            start_up(exes[label])  # warm the page cache
        for _ in range(starts):
            for label in ("without", "with"):
                runs[label].append(start_up(exes[label]))
    f_with, f_without = median(times["with"]), median(times["without"])
    s_with, s_without = median(runs["with"]), median(runs["without"])
    lines = [
        f"Machine: {machine()}; onedir, `--clean`, medians of {freezes} freezes and {starts} "
        "start-ups each, alternating",
        "",
        "| measurement | without certembed | with certembed | change | target |",
        "|---|---|---|---|---|",
        f"| freeze time | {f_without:.2f} s | {f_with:.2f} s | "
        f"{(f_with / f_without - 1) * 100:+.1f} % | <= +5 % |",
        f"| start-up (app creates a default SSL context) | {s_without * 1000:.1f} ms | "
        f"{s_with * 1000:.1f} ms | {(s_with / s_without - 1) * 100:+.1f} % | <= +3 % |",
    ]
    write_section("freeze", "\n".join(lines))


if __name__ == "__main__":
    main()
