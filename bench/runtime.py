"""Runtime cost, measured in one run:
- ssl.create_default_context() with the bootstrap serving the embedded bundle (hashed dir)
  vs ssl.create_default_context(cafile=certifi.where()) (target >= 20x faster, <= 0.5 ms);
- importing and applying the bootstrap in a fresh interpreter (target <= 1 ms);
- per distro layout (Debian, RHEL, Fedora, openSUSE, Alpine, none; real files in private
  mount namespaces, as the tests build them): stock Python, certifi ``cafile``, truststore and
  certembed fill-gaps / merge / embedded-only — per-context cost (40 contexts in a process),
  first-context cost, start-up; min / median / max over alternating runs; the one-time cost of
  building the private hashed directory on a cold cache; end to end, one HTTPS request per new
  default context against verification off. Writes a plot next to the docs.

Usage: python bench/runtime.py [--quick] [--layouts-only | --no-layouts]   (layouts need root)
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import certifi
from _report import machine, median, scrubbed_env, write_section

from certembed.build import build_bundle_output
from certembed.config import load_config

# ssl (and its libssl) is imported first: every TLS-using app pays for that anyway.
IMPORT_PROBE = (
    "import os, sys, ssl, time; t = time.perf_counter(); import _certembed_bootstrap; "
    "print((time.perf_counter() - t) * 1000)"
)
CONTEXT_PROBE = """
import sys, json, ssl, timeit, certifi
where = certifi.where()  # certifi's own bundle: taken before the bootstrap patches certifi
sys.path.insert(0, sys.argv[1])
import _certembed_bootstrap
n = int(sys.argv[2])
boot = min(timeit.repeat(ssl.create_default_context, number=n, repeat=5)) / n
plain = min(timeit.repeat(lambda: ssl.create_default_context(cafile=where), number=n // 10 or 1,
                          repeat=5)) / (n // 10 or 1)
print(json.dumps({"bootstrap": boot, "certifi": plain}))
"""


def main() -> None:
    quick = "--quick" in sys.argv
    if "--layouts-only" not in sys.argv:
        embedded_section(quick)
    if "--no-layouts" in sys.argv:
        return
    from runtime_layouts import layouts_section

    layouts_section(quick)


def _import_runs(env: dict[str, str], runs: int) -> list[subprocess.CompletedProcess[str]]:
    """IMPORT_PROBE in ``runs`` fresh interpreters (``-S``), each required to exit 0."""
    return [
        subprocess.run(
            [sys.executable, "-S", "-c", IMPORT_PROBE],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        for _ in range(runs)
    ]


def embedded_section(quick: bool) -> None:
    env = scrubbed_env()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "certembed.toml"
        config.write_text('mode = "embedded-only"\ntargets = ["linux"]\n')
        payload = build_bundle_output(load_config(config), Path(tmp) / "out").out_dir / "linux"
        proc = subprocess.run(
            [sys.executable, "-c", CONTEXT_PROBE, str(payload), "200" if quick else "2000"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        contexts = json.loads(proc.stdout)
        runs = 10 if quick else 40
        imports = [
            float(out.stdout) for out in _import_runs(dict(env, PYTHONPATH=str(payload)), runs)
        ]
        # What CERTEMBED_DEBUG=1 prints as the bootstrap's own time (separate runs: printing
        # the line is not part of the import cost above).
        debug_env = dict(env, PYTHONPATH=str(payload), CERTEMBED_DEBUG="1")
        printed = []
        for out in _import_runs(debug_env, runs):
            found = re.search(r'"elapsed_ms": ([\d.]+)', out.stderr)
            if found:
                printed.append(float(found.group(1)))
    ratio = contexts["certifi"] / contexts["bootstrap"]
    # Stock create_default_context() on this machine, for reference (no bootstrap, same run).
    stock = min(timeit.repeat(ssl.create_default_context, number=50, repeat=5)) / 50
    lines = [
        f"Machine: {machine()}; certifi {certifi.__version__} (embedded, mode embedded-only)",
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        f"| `create_default_context()` via the bootstrap (hashed dir) | "
        f"{contexts['bootstrap'] * 1000:.3f} ms | <= 0.5 ms |",
        f"| `create_default_context(cafile=certifi.where())` | "
        f"{contexts['certifi'] * 1000:.3f} ms | |",
        f"| speed-up | {ratio:.0f}x | >= 20x |",
        f"| import + apply `_certembed_bootstrap`, `ssl` already imported (median, {runs} "
        "fresh interpreters) | "
        f"{median(imports):.3f} ms | <= 1 ms |",
        f"| stock `create_default_context()` here (loads the system PEM file), for reference | "
        f"{stock * 1000:.3f} ms | |",
    ]
    if printed:
        lines.append(
            f'| `"elapsed_ms"` that `CERTEMBED_DEBUG=1` prints at start-up (median, {runs} '
            f"fresh interpreters) | {median(printed):.3f} ms | |"
        )
    write_section("runtime", "\n".join(lines))


if __name__ == "__main__":
    main()
