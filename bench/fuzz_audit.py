"""Fuzz `certembed audit` longer than CI does: damaged PE/ELF/Mach-O files and PyInstaller
onefile archives (tests/support/damage.py), each audited as a user would; the count of inputs
tried and of failures goes into docs/performance.md.

    python bench/fuzz_audit.py [--examples 5000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from _report import machine, write_section  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.support.damage import FORMATS, audit_holds, damaged  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=5000)
    args = parser.parse_args()
    tried: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        @settings(
            max_examples=args.examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(damaged())
        def run(sample: tuple[str, bytes]) -> None:
            name, data = sample
            tried[name] = tried.get(name, 0) + 1
            path = folder / name
            path.write_bytes(data)
            audit_holds(path)

        start = time.perf_counter()
        failure = ""
        try:
            run()
        except AssertionError as exc:
            failure = str(exc).splitlines()[0]
        elapsed = time.perf_counter() - start
    total = sum(tried.values())
    rows = "\n".join(f"| `{name}` | {tried.get(name, 0):,} |" for name in FORMATS)
    body = (
        f"Machine: {machine()}; Hypothesis, {elapsed:.0f} s\n\n"
        "| seed | damaged inputs audited |\n|---|---|\n"
        f"{rows}\n| **total** | **{total:,}** |\n\n"
        + (
            f"Property violated: {failure}"
            if failure
            else "Every input ended in a report (exit 0/6) or a clear error (exit 5), "
            "never a traceback."
        )
    )
    write_section("fuzz_audit", body)
    return 1 if failure else 0


if __name__ == "__main__":
    raise SystemExit(main())
