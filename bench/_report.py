"""Write a benchmark's result table into docs/performance.md between its markers."""

from __future__ import annotations

import platform
import re
import ssl
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def machine() -> str:
    import os

    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{ssl.OPENSSL_VERSION}"
    )


def scrubbed_env() -> dict[str, str]:
    """This environment minus what changes TLS or import behaviour in the measured processes
    (this machine exports SSL_CERT_FILE & co.)."""
    import os

    drop = (
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "PYTHONPATH",
        "CERTEMBED_DEBUG",
    )
    return {k: v for k, v in os.environ.items() if k not in drop}


def write_section(name: str, body: str) -> None:
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = DOC.read_text(encoding="utf-8")
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")
    print(body)
    print(f"(written to {DOC.relative_to(DOC.parents[1])})", file=sys.stderr)
    redraw_plots()


def redraw_plots() -> None:
    """Redraw docs/img/bench-*.png from the tables (bench/plots.py); a docs drift test fails
    when a table changed without its plot."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib missing: run python bench/plots.py to redraw the plots", file=sys.stderr)
        return
    import plots

    plots.main()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
