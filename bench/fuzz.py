"""The longer fuzz run: the properties of tests/test_fuzz.py with many more, non-derandomized
examples; the count of inputs tried and how each ended go into docs/performance.md.
Usage: python bench/fuzz.py [--examples N]   (default 1500 builds + 1500 inspects)"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.fuzz
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section
from hypothesis import HealthCheck, given, settings

from tests.support.fuzz import PreviousOutput, cert_bytes, check_build, check_inspect, projects

MEANING = {0: "built", 2: "configuration error", 3: "certificate error", 8: "not found"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=1500)
    args = parser.parse_args()
    long_run = settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    builds: Counter[int] = Counter()
    inspects: Counter[int] = Counter()
    previous = PreviousOutput()

    @long_run
    @given(project=projects())
    def build(project: tuple[str, bytes, bytes]) -> None:
        builds[check_build(previous, project)] += 1

    @long_run
    @given(data=cert_bytes())
    def inspect(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            inspects[check_inspect(Path(tmp), data)] += 1

    start = time.perf_counter()
    try:
        build()
        inspect()
    finally:
        previous.close()
    seconds = time.perf_counter() - start

    def row(name: str, counts: Counter[int], success: str) -> str:
        meaning = {**MEANING, 0: success}
        ends = ", ".join(f"{meaning.get(c, c)} (exit {c}): {n}" for c, n in sorted(counts.items()))
        return f"| {name} | {sum(counts.values())} | {ends} |"

    body = "\n".join(
        [
            f"`python bench/fuzz.py --examples {args.examples}` on {machine()}: "
            f"{sum(builds.values()) + sum(inspects.values())} generated inputs in "
            f"{seconds:.0f} s, no traceback, no exit 1, no half-written output.",
            "",
            "| property | inputs tried | how they ended |",
            "|---|---|---|",
            row("`certembed build` (TOML/Starlark config + PEM/DER input)", builds, "built"),
            row("`certembed inspect` (PEM/DER file)", inspects, "listed"),
        ]
    )
    write_section("fuzz", body)


if __name__ == "__main__":
    main()
