"""Per-layout runtime cost of the fast path; run through ``python bench/runtime.py``.

Every measured process runs inside a private mount namespace holding one distro layout
(``tests/support/layouts.py``: the distro's bundle file, and for hashed layouts one file per
certificate plus hash links, with certifi's roots standing in for the distro's). Columns
alternate inside each run and the run order rotates, so a noisy neighbour hits every column.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import certifi
import trustme
from _report import machine, write_section

from certembed.build import build_bundle_output
from certembed.config import load_config
from tests.support.env import scrubbed_env
from tests.support.layouts import (
    BUNDLE_FILE,
    LAYOUTS,
    build_layout,
    namespaces_available,
    run_in_layout,
)
from tests.support.tls import tls_server

MODES = ("fill-gaps", "merge", "embedded-only")
COLUMNS = ("file", "stock", "certifi", "truststore", "bare", *MODES)
LABELS = {
    "file": "the distro's own bundle file (distro Python)",
    "stock": "stock Python (this build)",
    "certifi": "certifi cafile",
    "truststore": "truststore",
    "bare": "bare context (floor)",
    "capath": "a plain context with only the machine's hashed directory (floor for verifying)",
    "fill-gaps": "certembed fill-gaps",
    "merge": "certembed merge",
    "embedded-only": "certembed embedded-only",
}
CONTEXTS = 40
HASHED_DIR = {"debian": "/etc/ssl/certs"}  # for the end-to-end floor

# Runs inside the layout. argv: column, payload dir ("" for none), contexts, bundle file.
PROBE = r"""
import json, os, sys, time
column, payload, n, bundle = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
import ssl
t0 = time.perf_counter()
if payload:
    sys.path.insert(0, payload)
    import _certembed_bootstrap
    make = ssl.create_default_context
elif column == "truststore":
    import truststore
    truststore.inject_into_ssl()
    make = ssl.create_default_context
elif column == "certifi":
    import certifi
    where = certifi.where()
    make = lambda: ssl.create_default_context(cafile=where)
elif column == "bare":
    make = lambda: ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
elif column == "file":
    make = lambda: ssl.create_default_context(cafile=bundle or None)
else:
    make = ssl.create_default_context
t1 = time.perf_counter()
make()
t2 = time.perf_counter()
each = []
for _ in range(n):
    a = time.perf_counter()
    make()
    each.append(time.perf_counter() - a)
each.sort()
print(json.dumps({"startup": (t1 - t0) * 1e3, "first": (t2 - t1) * 1e3,
                  "per": each[len(each) // 2] * 1e3}))
"""

# One HTTPS request per new context, each paired with the same request over a context that does
# not verify (created fresh too), alternating in the same process. argv: column, payload, url,
# pairs, bundle file.
E2E = r"""
import http.client, json, ssl, sys, time
column, payload, url, n, bundle = sys.argv[1:6]
n = int(n)
plain = ssl.SSLContext  # before truststore replaces the class
def off():
    context = plain(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
if payload:
    sys.path.insert(0, payload)
    import _certembed_bootstrap
if column == "truststore":
    import truststore
    truststore.inject_into_ssl()
make = ssl.create_default_context
if column == "file":
    make = lambda: ssl.create_default_context(cafile=bundle)
if column == "capath":  # the floor for any verifying client: a hashed directory, nothing else
    def make():
        context = plain(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(capath="/etc/ssl/certs")
        return context
port = int(url.rsplit(":", 1)[1].strip("/"))
def once(factory):
    a = time.perf_counter()
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=factory(), timeout=10)
    conn.request("GET", "/")
    body = conn.getresponse().read()
    conn.close()
    assert body == b"certembed-ok", body
    return time.perf_counter() - a
if column == "truststore":  # its class replaces ssl.SSLContext: no plain context to pair
    once(make)
    mine = sorted(once(make) for _ in range(n))
    print(json.dumps({"request": mine[n // 2] * 1e3, "off": None, "ratio": None}))
    sys.exit(0)
once(make), once(off)
mine, offs, ratios = [], [], []
for i in range(n):
    if i % 2:
        b, a = once(off), once(make)
    else:
        a, b = once(make), once(off)
    mine.append(a); offs.append(b); ratios.append(a / b)
for values in (mine, offs, ratios):
    values.sort()
print(json.dumps({"request": mine[n // 2] * 1e3, "off": offs[n // 2] * 1e3,
                  "ratio": ratios[n // 2]}))
"""


def _payloads(tmp: Path) -> dict[str, Path]:
    out = {}
    for mode in MODES:
        folder = tmp / f"payload-{mode}"
        folder.mkdir()
        config = folder / "certembed.toml"
        config.write_text(f'mode = "{mode}"\ntargets = ["linux"]\n')
        out[mode] = build_bundle_output(load_config(config), folder / "out").out_dir / "linux"
    return out


def _certifi_roots() -> list[bytes]:
    text = Path(certifi.where()).read_bytes()
    end = b"-----END CERTIFICATE-----\n"
    return [
        block[block.index(b"-----BEGIN") :] + end
        for block in text.split(end)
        if b"-----BEGIN" in block
    ]


def _run(layout: Path, argv: list[str], cache: Path) -> dict[str, float]:
    env = scrubbed_env(XDG_CACHE_HOME=str(cache))
    proc = run_in_layout(layout, [sys.executable, *argv], env=env, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed in {layout}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _debug_line(layout: Path, payload: Path, cache: Path) -> dict[str, Any]:
    """What the bootstrap's CERTEMBED_DEBUG lines say in this layout (one default context)."""
    env = scrubbed_env(XDG_CACHE_HOME=str(cache), CERTEMBED_DEBUG="1")
    code = f"import sys, ssl; sys.path.insert(0, {str(payload)!r}); import _certembed_bootstrap; "
    code += "ssl.create_default_context()"
    proc = run_in_layout(layout, [sys.executable, "-c", code], env=env)
    found: dict[str, Any] = {}
    for line in proc.stderr.splitlines():
        if line.startswith("certembed: {"):
            found["install"] = json.loads(line[len("certembed: ") :])
        elif line.startswith("certembed: fastpath {"):
            found["fastpath"] = json.loads(line[len("certembed: fastpath ") :])
    return found


def _taken(found: dict[str, Any]) -> str:
    """What a debug run took from the private cache's records instead of reading the files:
    the bundle's SHA-256, the directory's coverage, the private directory's check, the
    embedded roles' checks."""
    fast = found.get("fastpath") or {}
    report = found.get("install") or {}
    parts = []
    if fast.get("file") == "unchanged":
        parts.append("bundle")
    if fast.get("coverage") == "cached":
        parts.append("coverage")
    if fast.get("cache") == "hit (unchanged)":
        parts.append("private dir")
    checked = report.get("embedded_checked") or {}
    parts += [f"embedded {role}" for role, how in sorted(checked.items()) if how == "unchanged"]
    read = [f"embedded {role}" for role, how in sorted(checked.items()) if how != "unchanged"]
    return " + ".join(parts) + (f" (read: {', '.join(read)})" if read else "") or "nothing"


def _stats(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def _fmt(values: list[float], digits: int = 2) -> str:
    low, mid, high = _stats(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


@contextmanager
def _server(tmp: Path) -> Iterator[tuple[str, Path]]:
    ca = trustme.CA(organization_name="certembed bench distro")
    pem = tmp / "distro.pem"
    pem.write_bytes(ca.cert_pem.bytes())
    with tls_server("distro", ca) as server:
        yield server.url, pem


def layouts_section(quick: bool) -> None:
    ok, why = namespaces_available()
    if not ok:
        print(f"skipping the per-layout table: {why}", file=sys.stderr)
        return
    runs = 2 if quick else 5
    roots = _certifi_roots()
    with tempfile.TemporaryDirectory() as name, _server(Path(name)) as (url, distro_pem):
        tmp = Path(name)
        os.chmod(tmp, 0o700)
        payloads = _payloads(tmp)
        layouts = {
            lay: build_layout(tmp / f"layout-{lay}", lay, distro_pem, roots) for lay in LAYOUTS
        }
        warm = tmp / "cache-warm"
        warm.mkdir(mode=0o700)
        # Nothing is recorded about files changed less than a second before they were read
        # (they may still be changing): as on a real machine, the layouts and payloads age a
        # second, the warm-up builds the private directories, and once those are a second old
        # too a second warm-up records them. Every timed process then finds a warm cache.
        for _ in range(2):
            time.sleep(1.1)
            for lay in LAYOUTS:
                for mode in MODES:
                    _run(layouts[lay], ["-c", PROBE, mode, str(payloads[mode]), "1", ""], warm)
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        ratios: dict[tuple[str, str], list[float]] = {}
        cold: dict[str, list[float]] = {}
        debug: dict[str, list[dict[str, Any]]] = {}
        for run in range(runs):
            for lay in LAYOUTS:
                shift = (run + LAYOUTS.index(lay)) % len(COLUMNS)
                per_run = {}
                for column in COLUMNS[shift:] + COLUMNS[:shift]:
                    payload = str(payloads[column]) if column in MODES else ""
                    argv = ["-c", PROBE, column, payload, str(CONTEXTS), BUNDLE_FILE[lay]]
                    got = _run(layouts[lay], argv, warm)
                    results.setdefault((lay, column), []).append(got)
                    per_run[column] = got["per"]
                for column in COLUMNS:
                    ratios.setdefault((lay, column), []).append(per_run["file"] / per_run[column])
                # Cold cache: a fresh private cache dir, fill-gaps, first context.
                fresh = tmp / f"cache-cold-{run}-{lay}"
                fresh.mkdir(mode=0o700)
                got = _run(
                    layouts[lay],
                    ["-c", PROBE, "fill-gaps", str(payloads["fill-gaps"]), "1", ""],
                    fresh,
                )
                cold.setdefault(lay, []).append(got["first"])
                debug.setdefault(lay, []).append(
                    _debug_line(layouts[lay], payloads["fill-gaps"], warm)
                )
            print(f"run {run + 1}/{runs} done", file=sys.stderr)
        e2e = _end_to_end(layouts, payloads["fill-gaps"], url, warm, runs, quick)
    _write(results, ratios, cold, debug, e2e, runs, len(roots) + 1)


E2E_COLUMNS = ("file", "truststore", "fill-gaps", "capath")


def _end_to_end(
    layouts: dict[str, Path], payload: Path, url: str, cache: Path, runs: int, quick: bool
) -> dict[tuple[str, str], list[dict[str, float]]]:
    out: dict[tuple[str, str], list[dict[str, float]]] = {}
    cols = E2E_COLUMNS
    for run in range(runs):
        for lay in ("debian", "rhel"):
            for column in cols[run % len(cols) :] + cols[: run % len(cols)]:
                if column == "capath" and lay not in HASHED_DIR:
                    continue
                argv = ["-c", E2E, column, str(payload) if column == "fill-gaps" else "", url]
                got = _run(layouts[lay], [*argv, "10" if quick else "60", BUNDLE_FILE[lay]], cache)
                out.setdefault((lay, column), []).append(got)
            # truststore: against the verification-off halves of the same run and layout
            offs = [out[(lay, c)][-1]["off"] for c in cols if (lay, c) in out and c != "truststore"]
            last = out[(lay, "truststore")][-1]
            last["ratio"] = last["request"] / statistics.median(offs)
    return out


def _write(
    results: dict[tuple[str, str], list[dict[str, float]]],
    ratios: dict[tuple[str, str], list[float]],
    cold: dict[str, list[float]],
    debug: dict[str, list[dict[str, Any]]],
    e2e: dict[tuple[str, str], list[dict[str, float]]],
    runs: int,
    roots: int,
) -> None:
    def figure(lay: str, column: str, key: str) -> list[float]:
        return [r[key] for r in results[(lay, column)]]

    head = "| | " + " | ".join(LAYOUTS) + " |"
    rule = "|---|" + "---|" * len(LAYOUTS)
    lines = [
        f"Machine: {machine()}; {roots} roots per layout (certifi {certifi.__version__} + one "
        f"distro root); {runs} alternating runs, a fresh process per cell. Figures: median over "
        "the runs (min–max across runs).",
        "",
        f"**Per default context**, ms (median of {CONTEXTS} contexts in a process), and how many "
        "times cheaper than loading the layout's bundle file (ratio within each run):",
        "",
        head,
        rule,
    ]
    for column in COLUMNS:
        cells = []
        for lay in LAYOUTS:
            cell = _fmt(figure(lay, column, "per"), 3)
            if column != "file" and lay != "none":
                cell += f"<br>**{_fmt(ratios[(lay, column)], 0)}×**"
            cells.append(cell)
        lines.append(f"| {LABELS[column]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**First default context** in a process, ms: for certembed this includes the one-time "
        "fast-path preparation (warm private cache); the last row is fill-gaps' first context "
        "on a cold cache, when the private hashed directory is built first (RHEL, Fedora):",
        "",
        head,
        rule,
    ]
    for column in COLUMNS:
        cells = [_fmt(figure(lay, column, "first")) for lay in LAYOUTS]
        lines.append(f"| {LABELS[column]} | " + " | ".join(cells) + " |")
    lines.append(
        "| certembed fill-gaps, cold cache | "
        + " | ".join(_fmt(cold[lay]) for lay in LAYOUTS)
        + " |"
    )

    def debug_ms(lay: str, key: str) -> str:
        values = [d[key]["elapsed_ms"] for d in debug[lay] if key in d]
        return _fmt(values) if values else "–"

    lines += [
        "",
        "**Start-up**, ms, `ssl` already imported: certembed `import _certembed_bootstrap` "
        "(import + install), truststore `import truststore; inject_into_ssl()`, certifi "
        "`import certifi; where()`; then the `elapsed_ms` of the bootstrap's two "
        "`CERTEMBED_DEBUG` lines (fill-gaps, one process per run): the install alone, and "
        "the fast-path preparation the first default context pays:",
        "",
        head,
        rule,
    ]
    for column in ("certifi", "truststore", *MODES):
        cells = [_fmt(figure(lay, column, "startup")) for lay in LAYOUTS]
        lines.append(f"| {LABELS[column]} | " + " | ".join(cells) + " |")
    lines.append(
        "| debug line `elapsed_ms`, install | "
        + " | ".join(debug_ms(lay, "install") for lay in LAYOUTS)
        + " |"
    )
    lines.append(
        "| debug line `elapsed_ms`, fast path | "
        + " | ".join(debug_ms(lay, "fastpath") for lay in LAYOUTS)
        + " |"
    )
    decided = []
    taken = []
    for lay in LAYOUTS:
        kinds = {d["fastpath"]["fastpath"] for d in debug[lay] if "fastpath" in d}
        decided.append(", ".join(sorted(kinds)) or "(no machine store)")
        taken.append(", ".join(sorted({_taken(d) for d in debug[lay]})))
    lines.append("| fast path decided | " + " | ".join(decided) + " |")
    lines.append(
        "| what the warm process took from records (else read) | " + " | ".join(taken) + " |"
    )
    lines += [
        "",
        "**End to end**: one HTTPS request to a local server (127.0.0.1, signed by a root of "
        "the layout's store) with a new default context each time, median ms per request, and "
        "the ratio to the same request over a new plain `ssl.SSLContext` that does not verify "
        "(`CERT_NONE`), the two alternating in the same process (median of the per-pair "
        "ratios; truststore replaces `ssl.SSLContext` itself, so its ratio is against the "
        "median of the other columns' verification-off requests in the same run):",
        "",
        "| | debian | rhel |",
        "|---|---|---|",
    ]
    for column in E2E_COLUMNS:
        cells = []
        for lay in ("debian", "rhel"):
            if (lay, column) not in e2e:
                cells.append("– (no machine directory)")
                continue
            got = e2e[(lay, column)]
            cells.append(
                f"{_fmt([g['request'] for g in got])} ms<br>**{_fmt([g['ratio'] for g in got])}×**"
            )
        lines.append(f"| {LABELS[column]} | " + " | ".join(cells) + " |")
    offs = [
        _fmt([g["off"] for c in E2E_COLUMNS for g in e2e.get((lay, c), []) if g["off"]])
        for lay in ("debian", "rhel")
    ]
    lines.append("| verification off (the pairs' other half) | " + " | ".join(offs) + " |")
    write_section("runtime-layouts", "\n".join(lines))
