"""How start-up and the first default context grow with the number of certificates.

For bundles of generated roots (150, 1,500 and 15,000): the bootstrap's size and its import cost
(an embedded-only payload of that many roots: fresh interpreters, ``ssl`` already imported), the
first default context of a process in embedded-only mode (the embedded data is verified then:
with the record an earlier process left in the private cache, and with none, as in a onefile
app just unpacked), and fill-gaps' first default context on a machine whose store holds that
many roots (RHEL: file only, the private hashed directory warm; Debian: file plus hashed
directory, the coverage finding warm), next to what loading that bundle file as a ``cafile``
costs. Each figure is the median over fresh processes (mount namespaces from
tests/support/layouts.py for the layouts). The files measured are a second old before any
warm-up (nothing is recorded about files changed within the clock's grain).

Usage: python bench/runtime_scale.py [--quick]   (the layout rows need root)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import machine, write_section
from build_bundle import generate

from certembed.build import build_bundle_output
from certembed.config import load_config
from tests.support.env import scrubbed_env
from tests.support.layouts import build_layout, namespaces_available, run_in_layout

IMPORT = (
    "import sys, ssl, time; sys.path.insert(0, sys.argv[1]); t = time.perf_counter(); "
    "import _certembed_bootstrap; t1 = time.perf_counter(); ssl.create_default_context(); "
    "t2 = time.perf_counter(); print((t1 - t) * 1e3, (t2 - t1) * 1e3)"
)
LAYOUT_PROBE = r"""
import sys, ssl, time
payload, cafile = sys.argv[1], sys.argv[2]
if payload:
    sys.path.insert(0, payload)
    import _certembed_bootstrap
t = time.perf_counter()
if payload:
    ssl.create_default_context()
else:
    ssl.create_default_context(cafile=cafile)
print((time.perf_counter() - t) * 1e3)
"""
BUNDLE = {
    "rhel": "/etc/pki/tls/certs/ca-bundle.crt",
    "debian": "/etc/ssl/certs/ca-certificates.crt",
}


def _payload(folder: Path, certs: Path, mode: str) -> Path:
    folder.mkdir()
    config = folder / "certembed.toml"
    config.write_text(
        f'mode = "{mode}"\ntargets = ["linux"]\n\n'
        f'[[source]]\nkind = "pem_dir"\npath = "{certs.as_posix()}"\ntrust = "fallback"\n'
    )
    return build_bundle_output(load_config(config), folder / "out").out_dir / "linux"


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = (150, 1500) if quick else (150, 1500, 15000)
    runs = 5
    env = scrubbed_env()
    layouts_ok, why = namespaces_available()
    rows = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        cache = tmp / "cache"
        cache.mkdir(mode=0o700)
        for size in sizes:
            certs = tmp / f"certs{size}"
            generate(certs, size)
            embedded = _payload(tmp / f"embedded{size}", certs, "embedded-only")
            fill = _payload(tmp / f"fill{size}", certs, "fill-gaps")
            module_kb = (embedded / "_certembed_bootstrap.py").stat().st_size / 1024
            time.sleep(1.1)  # see the module's docstring
            imports, firsts, unrecorded = [], [], []

            def once(xdg: Path, embedded: Path = embedded) -> list[str]:
                return subprocess.run(
                    [sys.executable, "-S", "-c", IMPORT, str(embedded)],
                    capture_output=True,
                    text=True,
                    env={**env, "XDG_CACHE_HOME": str(xdg)},
                    check=True,
                ).stdout.split()

            once(cache)  # warm: the record of the embedded data, and the .pyc
            for index in range(runs):
                out = once(cache)
                imports.append(float(out[0]))
                firsts.append(float(out[1]))
                fresh = tmp / f"cache-none-{size}-{index}"
                fresh.mkdir(mode=0o700)
                unrecorded.append(float(once(fresh)[1]))
            row = {
                "size": size,
                "module_kb": module_kb,
                "import": statistics.median(imports),
                "embedded_first": statistics.median(firsts),
                "embedded_unrecorded": statistics.median(unrecorded),
            }
            if layouts_ok:
                files = sorted(certs.iterdir())
                pems = [p.read_bytes() for p in files[1:]]
                for lay in ("rhel", "debian"):
                    root = build_layout(tmp / f"{lay}{size}", lay, files[0], pems)
                    lay_env = scrubbed_env(XDG_CACHE_HOME=str(cache))
                    for column, payload in (("fill", str(fill)), ("file", "")):
                        argv = [sys.executable, "-c", LAYOUT_PROBE, payload, BUNDLE[lay]]
                        if column == "fill":  # warm: build the private directory, record it
                            for _ in range(2):
                                time.sleep(1.1)  # see the module's docstring
                                run_in_layout(root, argv, env=lay_env, timeout=600)
                        got = []
                        # Loading a big bundle file takes long (superlinear): fewer repeats.
                        repeats = runs if column == "fill" or size <= 1500 else 1
                        for _ in range(repeats):
                            proc = run_in_layout(root, argv, env=lay_env, timeout=600)
                            if proc.returncode != 0:
                                raise RuntimeError(proc.stderr[-2000:])
                            got.append(float(proc.stdout.split()[-1]))
                        row[f"{lay}_{column}"] = statistics.median(got)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    _write(rows, runs, layouts_ok, why)


def _write(rows: list[dict[str, float]], runs: int, layouts_ok: bool, why: str) -> None:
    lines = [
        f"Machine: {machine()} (shared with other jobs); generated roots (one EC key, distinct "
        f"subjects); median of {runs} fresh processes per cell (one for the bundle file as "
        "`cafile` above 1,500 certificates), ms unless stated.",
        "",
        "| certificates | bootstrap module | import + install | first context, embedded-only "
        "| first context, embedded-only, no record | first context, fill-gaps, RHEL "
        "| the bundle file as `cafile`, RHEL "
        "| first context, fill-gaps, Debian | the bundle file as `cafile`, Debian |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            f"{int(row['size']):,}",
            f"{row['module_kb']:.1f} KB",
            f"{row['import']:.2f} ms",
            f"{row['embedded_first']:.2f} ms",
            f"{row['embedded_unrecorded']:.2f} ms",
        ]
        for key in ("rhel_fill", "rhel_file", "debian_fill", "debian_file"):
            cells.append(f"{row[key]:.2f} ms" if key in row else "–")
        lines.append("| " + " | ".join(cells) + " |")
    if not layouts_ok:
        lines += ["", f"(layout columns skipped: {why})"]
    write_section("runtime-scale", "\n".join(lines))


if __name__ == "__main__":
    main()
