"""Draw the bench results in docs/performance.md as plots (docs/img/bench-*.png).

    python bench/plots.py            # after any bench script rewrote its section

The numbers come only from the tables the bench scripts wrote between their
``<!-- bench:NAME -->`` markers; docs/img/plots.json records the SHA-256 of each section a plot
was drawn from, and tests/test_docs_site.py fails when a section changed without its plot.
bench/_report.write_section calls this after every bench run (when matplotlib is installed).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
IMG = ROOT / "docs" / "img"
INDEX = IMG / "plots.json"
_NUMBER = re.compile(r"([-+]?[\d,]*\.?\d+)\s*(ms|s|%|x)?")


def sections(text: str) -> dict[str, str]:
    return {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"<!-- bench:(\S+) -->\n(.*?)<!-- /bench:\1 -->", text, re.S)
    }


def digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def table(body: str) -> list[list[str]]:
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in body.splitlines()
        if line.startswith("|")
    ]
    return rows[2:]


def number(cell: str) -> float | None:
    match = _NUMBER.search(cell.replace("**", ""))
    if not match:
        return None
    value = float(match.group(1).replace(",", ""))
    return value * 1000 if match.group(2) == "s" else value  # seconds -> ms


def _label(text: str) -> str:
    return textwrap.fill(re.sub(r"[`*]", "", text), 44)


def _bars(ax, labels: list[str], values: list[float], unit: str) -> None:  # type: ignore[no-untyped-def]
    bars = ax.barh([_label(x) for x in labels], values, color="#3f6fb5")
    ax.bar_label(bars, labels=[f"{v:,.4g} {unit}" for v in values], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.margins(x=0.3)
    ax.tick_params(axis="y", labelsize=8)


def _build_bundle(fig, rows: list[list[str]]) -> str:  # type: ignore[no-untyped-def]
    _bars(fig.subplots(), [r[0] for r in rows], [number(r[2]) or 0.0 for r in rows], "ms")
    return "Building the bundle: build time by input size"


def _runtime(fig, rows: list[list[str]]) -> str:  # type: ignore[no-untyped-def]
    timed = [r for r in rows if r[1].endswith("ms")]
    ax = fig.subplots()
    _bars(ax, [r[0] for r in timed], [number(r[1]) or 0.0 for r in timed], "ms")
    ax.set_xscale("log")
    return "At run time (log scale)"


def _freeze(fig, rows: list[list[str]]) -> str:  # type: ignore[no-untyped-def]
    axes = fig.subplots(1, len(rows))
    for ax, row in zip(axes if len(rows) > 1 else [axes], rows):
        values = [number(row[1]) or 0.0, number(row[2]) or 0.0]
        _bars(ax, ["without certembed", "with certembed"], values, "ms")
        ax.set_title(_label(row[0]), fontsize=8)
    return "Freezing with PyInstaller (medians)"


def _fuzz_audit(fig, rows: list[list[str]]) -> str:  # type: ignore[no-untyped-def]
    seeds = [r for r in rows if not r[0].startswith("**")]
    values = [number(r[1]) or 0.0 for r in seeds]
    _bars(fig.subplots(), [r[0] for r in seeds], values, "inputs")
    return "Fuzzing certembed audit: damaged inputs audited per seed"


# The column order bench/runtime_layouts.py writes (tests/support/layouts.py's LAYOUTS).
_LAYOUTS = ("none", "debian", "rhel", "fedora43", "opensuse", "alpine")
_SPREAD = re.compile(r"\(([\d.]+)–([\d.]+)\)")


def _runtime_layouts(fig, rows: list[list[str]]) -> str:  # type: ignore[no-untyped-def]
    per_context = []
    for row in rows:  # the first table only: it ends where the next header starts
        if not row[0] or row[0].startswith("---"):
            break
        per_context.append(row)
    ax = fig.subplots()
    width = 0.8 / len(per_context)
    for index, row in enumerate(per_context):
        mids, lows, highs = [], [], []
        for cell in row[1 : 1 + len(_LAYOUTS)]:
            mid = number(cell) or 0.0
            spread = _SPREAD.search(cell)
            low, high = (float(spread.group(1)), float(spread.group(2))) if spread else (mid, mid)
            mids.append(mid)
            lows.append(mid - low)
            highs.append(high - mid)
        xs = [i + (index - len(per_context) / 2 + 0.5) * width for i in range(len(_LAYOUTS))]
        ax.bar(xs, mids, width, yerr=[lows, highs], label=_label(row[0]), capsize=2)
    ax.set_yscale("log")
    ax.set_xticks(range(len(_LAYOUTS)))
    ax.set_xticklabels(_LAYOUTS)
    ax.set_ylabel("ms per default context (log)")
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    return "ssl.create_default_context() per distro layout (median, min–max over runs)"


def _clients(fig, rows: list[list[str]]) -> str:  # type: ignore[no-untyped-def]
    layouts = list(dict.fromkeys(r[2] for r in rows))
    clients = [c for c in dict.fromkeys(r[0] for r in rows) if not c.startswith("floor")]
    axes = fig.subplots(1, len(layouts), sharey=True)
    for ax, lay in zip(axes if len(layouts) > 1 else [axes], layouts):
        mine = {r[0]: r for r in rows if r[2] == lay}
        ys = range(len(clients))
        with_ms = [number(mine[c][3]) or 0.0 for c in clients]
        without_ms = [number(mine[c][4]) or 0.0 for c in clients]
        ax.barh([y - 0.2 for y in ys], without_ms, 0.4, label="without certembed", color="#b0b0b0")
        ax.barh([y + 0.2 for y in ys], with_ms, 0.4, label="with certembed", color="#3f6fb5")
        floor = [number(r[3]) or 0.0 for r in rows if r[2] == lay and r[0].startswith("floor")]
        if floor:
            ax.axvline(floor[0], color="#c04040", linestyle="--", linewidth=1, label="floor")
        ax.set_yticks(list(ys))
        ax.set_yticklabels([_label(c) for c in clients], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(lay, fontsize=9)
        ax.set_xlabel("ms per call")
    (axes[0] if len(layouts) > 1 else axes).legend(fontsize=7, loc="lower right")
    return "One HTTPS request per new client (median ms; dashed: http.client + default context)"


def _runtime_scale(fig, rows: list[list[str]]) -> str:  # type: ignore[no-untyped-def]
    header = [
        "import + install",
        "first context, embedded-only",
        "first context, fill-gaps, RHEL",
        "bundle file as cafile, RHEL",
        "first context, fill-gaps, Debian",
        "bundle file as cafile, Debian",
    ]
    sizes = [number(r[0]) or 0.0 for r in rows]
    ax = fig.subplots()
    for index, label in enumerate(header):
        values = [number(r[2 + index]) for r in rows]
        points = [(x, y) for x, y in zip(sizes, values) if y is not None]
        if points:
            ax.plot(*zip(*points), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("certificates in the bundle")
    ax.set_ylabel("ms (log)")
    ax.legend(fontsize=7)
    return "Start-up and first default context by bundle size"


PLOTS: dict[str, Callable[..., str]] = {
    "build_bundle": _build_bundle,
    "runtime": _runtime,
    "freeze": _freeze,
    "fuzz_audit": _fuzz_audit,
    "runtime-layouts": _runtime_layouts,
    "clients": _clients,
    "runtime-scale": _runtime_scale,
}


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = sections(DOC.read_text(encoding="utf-8"))
    IMG.mkdir(parents=True, exist_ok=True)
    index: dict[str, dict[str, str]] = {}
    for name, draw in PLOTS.items():
        rows = table(found.get(name, ""))
        if not rows:
            continue
        height = 6.5 if name in ("runtime-layouts", "clients") else 1.2 + 0.5 * max(3, len(rows))
        wide = name in ("runtime-layouts", "clients")
        fig = plt.figure(figsize=(12 if name == "clients" else 10 if wide else 9, height), dpi=100)
        fig.suptitle(draw(fig, rows), fontsize=10)
        machine = found[name].splitlines()[0]
        fig.text(0.01, 0.01, machine[:140], fontsize=6, color="#666666")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        png = IMG / f"bench-{name}.png"
        fig.savefig(png, metadata={"Software": None})
        plt.close(fig)
        index[png.name] = {"section": name, "sha256": digest(found[name])}
        print(f"wrote {png.relative_to(ROOT)}", file=sys.stderr)
    INDEX.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
