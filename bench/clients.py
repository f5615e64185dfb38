"""The clients people use, end to end, per distro layout: one HTTPS request per new client.

requests (a new ``Session`` per call), httpx (a new ``Client``), urllib3 (a new ``PoolManager``,
and one given ``ca_certs=certifi.where()``), aiohttp (a new ``ClientSession``, and one given
``ssl.create_default_context(cafile=certifi.where())``), each against a local HTTPS server
(127.0.0.1) signed by a root of the layout's store, in a fresh process inside a private mount
namespace (tests/support/layouts.py), with the bootstrap (fill-gaps) and without it (the same
call in the same layout). The floor is the cheapest verifying request: ``http.client`` with a
new ``ssl.create_default_context()`` in the bootstrap's process. Each client's own floor (the
same client with no per-call trust loading: one context made once, or requests' ``verify=False``)
runs in the bootstrap's process and in a third one without certembed that runs only those, so a
second table shows how far above the floor the client itself is with no certembed in the
process at all. Calls alternate client by client inside a process and the run order rotates,
so a noisy neighbour hits every column.

Targets (docs/performance.md): each client >= 5x cheaper with the bootstrap than without, and
within 1.3x of the floor measured in the same run.

Usage: python bench/clients.py [--quick]   (needs root for the mount namespaces)
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import certifi
import trustme
from _report import machine, write_section

from certembed.build import build_bundle_output
from certembed.config import load_config
from tests.support.env import scrubbed_env
from tests.support.layouts import build_layout, namespaces_available, run_in_layout
from tests.support.tls import tls_server

LAYOUTS = ("debian", "rhel", "none")
CLIENTS = (
    "floor",
    "requests",
    "httpx",
    "urllib3",
    "urllib3-certifi",
    "aiohttp",
    "aiohttp-certifi",
)
LABELS = {
    "floor": "floor: `http.client` + new `create_default_context()` (with certembed)",
    "requests": "requests, new `Session` per call",
    "httpx": "httpx, new `Client` per call",
    "urllib3": "urllib3, new `PoolManager()` per call",
    "urllib3-certifi": "urllib3, new `PoolManager(ca_certs=certifi.where())`",
    "aiohttp": "aiohttp, new `ClientSession` per call",
    "aiohttp-certifi": "aiohttp, new session with `create_default_context(cafile=certifi.where())`",
}
HOW = {
    "floor": "default context",
    "requests": "`load_verify_locations(certifi.where())` per pool",
    "httpx": "`create_default_context(cafile=certifi.where())` per client",
    "urllib3": "`load_default_certs()` per connection",
    "urllib3-certifi": "`load_verify_locations(certifi.where())` per connection",
    "aiohttp": "one default context made at import, shared",
    "aiohttp-certifi": "`create_default_context(cafile=certifi.where())` per session",
}

# Runs inside the layout. argv: payload dir ("" for none), url, calls per client.
PROBE = r"""
import asyncio, http.client, json, os, ssl, sys, time
payload, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if payload:
    sys.path.insert(0, payload)
    import _certembed_bootstrap
import aiohttp, certifi, httpx, requests, urllib3
port = int(url.rsplit(":", 1)[1].strip("/"))
loop = asyncio.new_event_loop()
def floor():
    conn = http.client.HTTPSConnection(
        "127.0.0.1", port, context=ssl.create_default_context(), timeout=10)
    conn.request("GET", "/")
    body = conn.getresponse().read()
    conn.close()
    return body
def with_requests():
    with requests.Session() as session:
        return session.get(url, timeout=10).content
def with_httpx():
    with httpx.Client() as client:
        return client.get(url, timeout=10).content
def with_urllib3():
    pool = urllib3.PoolManager()
    try:
        return pool.request("GET", url, timeout=10, retries=False).data
    finally:
        pool.clear()
def with_urllib3_certifi():
    pool = urllib3.PoolManager(ca_certs=certifi.where())
    try:
        return pool.request("GET", url, timeout=10, retries=False).data
    finally:
        pool.clear()
async def aio(ssl_arg):
    connector = aiohttp.TCPConnector(ssl=ssl_arg) if ssl_arg is not None else None
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(url) as response:
            return await response.read()
def with_aiohttp():
    return loop.run_until_complete(aio(None))
def with_aiohttp_certifi():
    return loop.run_until_complete(aio(ssl.create_default_context(cafile=certifi.where())))
ready = ssl.create_default_context()  # one context made once: the clients' own floors
def requests_unverified():
    with requests.Session() as session:
        return session.get(url, timeout=10, verify=False).content
def httpx_ready():
    with httpx.Client(verify=ready) as client:
        return client.get(url, timeout=10).content
def urllib3_ready():
    pool = urllib3.PoolManager(ssl_context=ready)
    try:
        return pool.request("GET", url, timeout=10, retries=False).data
    finally:
        pool.clear()
def aiohttp_ready():
    return loop.run_until_complete(aio(ready))
urllib3.disable_warnings()
calls = {"requests/floor": requests_unverified, "httpx/floor": httpx_ready,
         "urllib3/floor": urllib3_ready, "aiohttp/floor": aiohttp_ready,
         "floor": floor, "requests": with_requests, "httpx": with_httpx,
         "urllib3": with_urllib3, "urllib3-certifi": with_urllib3_certifi,
         "aiohttp": with_aiohttp, "aiohttp-certifi": with_aiohttp_certifi}
names = sys.argv[4].split(",")
def once(name):
    a = time.perf_counter()
    try:
        ok = calls[name]() == b"certembed-ok"
    except Exception as exc:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" not in text and "certificate verify failed" not in text:
            raise
        ok = False
    return time.perf_counter() - a, ok
for name in names:  # warm: imports inside the clients, the fast path's one-time preparation
    once(name)
times = {name: [] for name in names}
oks = {name: set() for name in names}
for i in range(n):
    shift = i % len(names)
    for name in names[shift:] + names[:shift]:
        took, ok = once(name)
        times[name].append(took)
        oks[name].add(ok)
out = {}
for name in names:
    values = sorted(times[name])
    out[name] = {"ms": values[len(values) // 2] * 1e3, "ok": sorted(oks[name])}
# the roots a default context holds in memory here (a machine file loaded; 0 without one)
out["_default_roots"] = ready.cert_store_stats()["x509_ca"]
if payload:
    # What a client pays certembed for its own context: certembed's certifi.where() file as
    # cafile (httpx, requests' pool, aiohttp with certifi) against a plain new default context,
    # alternating, per call (median of 200 each).
    made = {"default": [], "certifi": []}
    for i in range(200):
        a = time.perf_counter()
        ssl.create_default_context()
        b = time.perf_counter()
        ssl.create_default_context(cafile=certifi.where())
        c = time.perf_counter()
        made["default"].append(b - a)
        made["certifi"].append(c - b)
    for key, values in made.items():
        out["_ctx_" + key + "_us"] = sorted(values)[len(values) // 2] * 1e6
print(json.dumps(out))
"""


def _roots() -> list[bytes]:
    text = Path(certifi.where()).read_bytes()
    end = b"-----END CERTIFICATE-----\n"
    return [b[b.index(b"-----BEGIN") :] + end for b in text.split(end) if b"-----BEGIN" in b]


def _payload(tmp: Path, distro_pem: Path) -> Path:
    """fill-gaps, certifi's roots plus the bench's distro root as the embedded fallback (so the
    bare layout verifies the server too)."""
    tmp.mkdir()
    config = tmp / "certembed.toml"
    config.write_text(
        'mode = "fill-gaps"\ntargets = ["linux"]\n\n'
        '[[source]]\nkind = "certifi"\ntrust = "fallback"\n\n'
        f'[[source]]\nkind = "pem_file"\npath = "{distro_pem.as_posix()}"\ntrust = "fallback"\n'
    )
    return build_bundle_output(load_config(config), tmp / "out").out_dir / "linux"


# The same client without per-call trust loading (urllib3, httpx and aiohttp handed one context
# made once; requests has no such switch: verify=False, no verification at all): what is left
# of "with / floor" above that is the client's own work, not certembed's.
OWN_FLOOR = {
    "requests": "requests/floor",
    "httpx": "httpx/floor",
    "urllib3": "urllib3/floor",
    "urllib3-certifi": "urllib3/floor",
    "aiohttp": "aiohttp/floor",
    "aiohttp-certifi": "aiohttp/floor",
}
OWN_FLOORS = sorted(set(OWN_FLOOR.values()))
OWN_LABELS = {
    "requests/floor": "requests, new `Session`, `verify=False` (no verification at all)",
    "httpx/floor": "httpx, new `Client(verify=ctx)`, `ctx` made once",
    "urllib3/floor": "urllib3, new `PoolManager(ssl_context=ctx)`, `ctx` made once",
    "aiohttp/floor": "aiohttp, new session with `TCPConnector(ssl=ctx)`, `ctx` made once",
}


# The processes per layout and run: with the bootstrap, every client and the own floors;
# without it, the clients; without it again, the own floors alone. They get a process of their
# own because, alternated with calls that load certifi's whole bundle (~20 ms each), a cheap
# call measures slower in the same process.
COLUMNS = ("with", "without", "own")


def _run(
    layout: Path, column: str, payload: Path, url: str, calls: int, cache: Path
) -> dict[str, Any]:
    env = scrubbed_env(XDG_CACHE_HOME=str(cache))
    names = {
        "with": [*CLIENTS, *OWN_FLOORS],
        "without": list(CLIENTS[1:]),
        "own": OWN_FLOORS,
    }[column]
    argv = [
        sys.executable,
        "-c",
        PROBE,
        str(payload) if column == "with" else "",
        url,
        str(calls),
        ",".join(names),
    ]
    proc = run_in_layout(layout, argv, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"clients probe failed in {layout}: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ok, why = namespaces_available()
    if not ok:
        print(f"skipping: {why}", file=sys.stderr)
        return
    quick = "--quick" in sys.argv
    runs, calls = (2, 8) if quick else (3, 25)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        ca = trustme.CA(organization_name="certembed bench distro")
        distro = tmp / "distro.pem"
        distro.write_bytes(ca.cert_pem.bytes())
        payload = _payload(tmp / "payload", distro)
        roots = _roots()
        layouts = {lay: build_layout(tmp / f"layout-{lay}", lay, distro, roots) for lay in LAYOUTS}
        cache = tmp / "cache"
        cache.mkdir(mode=0o700)
        got: dict[tuple[str, str], list[dict[str, Any]]] = {}
        with tls_server("distro", ca) as server:
            for run in range(runs):
                for lay in LAYOUTS:
                    shift = (run + LAYOUTS.index(lay)) % len(COLUMNS)
                    for column in COLUMNS[shift:] + COLUMNS[:shift]:
                        result = _run(layouts[lay], column, payload, server.url, calls, cache)
                        got.setdefault((lay, column), []).append(result)
                print(f"run {run + 1}/{runs} done", file=sys.stderr)
    _write(got, runs, calls, len(roots) + 1)


def _fmt(values: list[float], digits: int = 2) -> str:
    mid = statistics.median(values)
    return f"{mid:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def _write(
    got: dict[tuple[str, str], list[dict[str, Any]]], runs: int, calls: int, roots: int
) -> None:
    lines = [
        f"Machine: {machine()} (shared with other jobs); {roots} roots per layout (certifi "
        f"{certifi.__version__} + one distro root, the server's); fill-gaps; {runs} alternating "
        f"runs, a fresh process per cell, {calls} calls per client per process (median). "
        "Figures: median over the runs (min–max).",
        "",
        "| client | how it loads trust | layout | with certembed, ms | without, ms | "
        "without / with | with / floor | with / the client's own floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for client in CLIENTS:
        for lay in LAYOUTS:
            mine = got[(lay, "with")]
            theirs = got[(lay, "without")]
            with_ms = [r[client]["ms"] for r in mine]
            floor = [r["floor"]["ms"] for r in mine]
            to_floor = _fmt([w / f for w, f in zip(with_ms, floor)])
            own = "–"
            if client in OWN_FLOOR:
                base = [r[OWN_FLOOR[client]]["ms"] for r in mine]
                own = _fmt([w / b for w, b in zip(with_ms, base)]) + "×"
            if client == "floor":
                without_cell = ratio = "–"
            else:
                without_ms = [r[client]["ms"] for r in theirs]
                failed = any(False in r[client]["ok"] for r in theirs)
                without_cell = _fmt(without_ms) + (" (verify fails)" if failed else "")
                ratio = "**" + _fmt([b / a for a, b in zip(with_ms, without_ms)], 1) + "×**"
            assert all(r[client]["ok"] == [True] for r in mine), (client, lay, mine)
            lines.append(
                f"| {LABELS[client]} | {HOW[client]} | {lay} | {_fmt(with_ms)} | {without_cell} | "
                f"{ratio} | {to_floor}× | {own} |"
            )
    write_section("clients-own-floor", _own_floor_table(got))
    write_section("clients-context", _context_table(got))
    write_section("clients", "\n".join(lines))


def _context_table(got: dict[tuple[str, str], list[dict[str, Any]]]) -> str:
    """certembed's own share of a client's new context: ``create_default_context(cafile=
    certifi.where())`` (certembed's file, served by hashed directories) against a plain new
    ``create_default_context()`` in the same process, and that difference against the floor."""
    lines = [
        "In the processes with certembed of the same runs: a new context as httpx, requests' "
        "pool and certifi-minded aiohttp code make it, `create_default_context(cafile="
        "certifi.where())`, against a plain new `create_default_context()`, alternating, median "
        "of 200 each per process; µs, median over the runs (min–max). The difference is all "
        "that certembed adds to such a client's call, shown against the floor request.",
        "",
        "| layout | `create_default_context()`, µs | `create_default_context(cafile="
        "certifi.where())`, µs | difference, µs | difference / floor request |",
        "|---|---|---|---|---|",
    ]
    for lay in LAYOUTS:
        mine = got[(lay, "with")]
        plain = [r["_ctx_default_us"] for r in mine]
        served = [r["_ctx_certifi_us"] for r in mine]
        diff = [b - a for a, b in zip(plain, served)]
        share = [d / (r["floor"]["ms"] * 1e3) * 100 for d, r in zip(diff, mine)]
        lines.append(
            f"| {lay} | {_fmt(plain, 1)} | {_fmt(served, 1)} | {_fmt(diff, 1)} | "
            f"{_fmt(share, 1)} % |"
        )
    return "\n".join(lines)


def _own_floor_table(got: dict[tuple[str, str], list[dict[str, Any]]]) -> str:
    """Each client's own floor in the process with certembed and in one without it (the own
    floors alone), both against the floor of the same run (measured with certembed): the share
    of "with / floor" that is the client's own per-call work."""
    lines = [
        "Each client with no per-call trust loading, in the same runs as the table above: in the "
        "process with certembed and in one without it that runs only these (the same layout), "
        "each against the floor (`http.client` + new `create_default_context()`, with "
        "certembed) of the same run. "
        'Figures: median over the runs (min–max). "loads the machine file": without '
        "certembed, stock Python finds a store file in this layout, and urllib3 loads the default "
        "certificates into every new connection's context even with `verify=False`, so that "
        "cell is not requests' own work alone.",
        "",
        "| the client's own floor | layout | with certembed, ms | without certembed, ms | "
        "with / floor | without / floor |",
        "|---|---|---|---|---|---|",
    ]
    for own in OWN_FLOORS:
        for lay in LAYOUTS:
            mine, theirs = got[(lay, "with")], got[(lay, "own")]
            assert all(r[own]["ok"] == [True] for r in mine), (own, lay, mine)
            floor = [r["floor"]["ms"] for r in mine]
            with_ms = [r[own]["ms"] for r in mine]
            without_ms = [r[own]["ms"] for r in theirs]
            without_cell = _fmt(without_ms)
            if own == "requests/floor" and any(r["_default_roots"] for r in theirs):
                without_cell += " (loads the machine file)"
            failed = any(False in r[own]["ok"] for r in theirs)
            assert not (failed and own == "requests/floor"), (own, lay, theirs)  # no verification
            if failed:
                # a stock context that finds no store here: the handshake fails, no speed to say
                without_cell += " (verify fails)"
                without_ratio = "–"
            else:
                without_ratio = _fmt([w / f for w, f in zip(without_ms, floor)]) + "×"
            lines.append(
                f"| {OWN_LABELS[own]} | {lay} | {_fmt(with_ms)} | {without_cell} | "
                f"{_fmt([w / f for w, f in zip(with_ms, floor)])}× | {without_ratio} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
