"""The docs site builds strictly, generated references and plots match the
code and the bench results, every measured number in the docs comes from a bench run, and the
claims (Python versions, snippets, error messages) match what the code and tests show."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from certembed.docgen.cli_reference import END, START, render
from tests.support.env import scrubbed_env
from tests.support.tls import tls_server

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed (pip install -e '.[docs]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_mkdocs_build_strict(tmp_path):
    _need("mkdocs")
    _need("material")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=scrubbed_env(NO_MKDOCS_2_WARNING="1"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "troubleshooting" / "index.html").is_file()
    assert (tmp_path / "site" / "img" / "bench-runtime.png").is_file()


def test_every_page_is_in_the_nav():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*([\w./-]+\.md)\s*$", config, re.M))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - listed == set(), "add these pages to nav in mkdocs.yml"
    assert listed - pages == set(), "nav names pages that do not exist"


def test_cli_reference_is_current():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert START in text and END in text
    section = text[text.index(START) : text.index(END) + len(END)]
    assert section == render(), "run: python -m certembed.docgen.cli_reference docs/cli.md"


def test_cli_reference_lists_every_option():
    from certembed.cli import parser

    section = render()
    for action in parser()._subparsers._group_actions[0].choices["audit"]._actions:  # type: ignore[union-attr]
        for flag in action.option_strings:
            if flag not in ("-h", "--help"):
                assert f"`{flag}`" in section


def _code_text() -> str:
    """Source and tests, with implicitly concatenated string literals joined ("a "\n "b")."""
    text = "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for folder in (ROOT / "src", ROOT / "tests")
        for p in folder.rglob("*.py")
    )
    return re.sub(r"[\"']\s*\n\s*[rbfRBF]*[\"']", "", text)


def test_troubleshooting_quotes_real_messages():
    """Every message a heading quotes is printed by the code or reproduced by a test."""
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    quoted = re.findall(r"^### `(.+)`\s*$", text, re.M)
    assert len(quoted) >= 12
    code = _code_text()
    missing = [q for q in quoted if q not in code]
    assert not missing, f"troubleshooting.md quotes messages nothing prints: {missing}"


def test_tls_messages_in_troubleshooting_are_what_python_says(tmp_path):
    """The two TLS failures the troubleshooting page starts with, reproduced; the positive twin
    (right CA) verifies."""
    import urllib.error
    import urllib.request

    ca = trustme.CA()
    with tls_server("t", ca) as server:
        good = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
        assert urllib.request.urlopen(server.url, context=good).status == 200
        other = ssl.create_default_context(cadata=trustme.CA().cert_pem.bytes().decode())
        with pytest.raises(urllib.error.URLError) as info:
            urllib.request.urlopen(server.url, context=other)
        assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
        assert "unable to get local issuer certificate" in str(info.value.reason)
    # a server that sends its root along: the chain ends in an untrusted self-signed root
    chain = tmp_path / "chain.pem"
    leaf = ca.issue_cert("127.0.0.1")
    chain.write_bytes(
        leaf.private_key_pem.bytes()
        + b"".join(b.bytes() for b in leaf.cert_chain_pems)
        + ca.cert_pem.bytes()
    )
    from tests.support.tls import pem_server

    with pem_server(chain) as url:
        other = ssl.create_default_context(cadata=trustme.CA().cert_pem.bytes().decode())
        with pytest.raises(urllib.error.URLError) as info:
            urllib.request.urlopen(url, context=other)
        assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
        assert "self-signed certificate in certificate chain" in str(info.value.reason)


def _sections(text: str) -> dict[str, str]:
    return {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"<!-- bench:(\S+) -->\n(.*?)<!-- /bench:\1 -->", text, re.S)
    }


def test_plots_are_drawn_from_the_current_bench_tables():
    import hashlib

    index = json.loads((DOCS / "img" / "plots.json").read_text(encoding="utf-8"))
    found = _sections((DOCS / "performance.md").read_text(encoding="utf-8"))
    performance = (DOCS / "performance.md").read_text(encoding="utf-8")
    assert {"bench-build_bundle.png", "bench-runtime.png", "bench-freeze.png"} <= set(index)
    for png, entry in index.items():
        body = found[entry["section"]]
        assert hashlib.sha256(body.encode()).hexdigest() == entry["sha256"], (
            f"{entry['section']} changed since {png} was drawn: run python bench/plots.py"
        )
        assert (DOCS / "img" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(img/{png})" in performance, f"{png} is not shown in performance.md"


_MEASURE = re.compile(r"(?<![\w.])~?([-+]?\d[\d,]*(?:\.\d+)?)\s?(ms|s|%|x|MB|KB)(?![\w])")


def _measurements(text: str) -> list[tuple[float, str, str]]:
    out = []
    for match in _MEASURE.finditer(text):
        value = float(match.group(1).replace(",", ""))
        unit = match.group(2)
        if unit == "s":
            value, unit = value * 1000, "ms"
        out.append((abs(value), unit, match.group(0)))
    return out


def _prose(text: str) -> str:
    text = re.sub(r"<!-- bench:(\S+) -->.*?<!-- /bench:\1 -->", "", text, flags=re.S)
    return re.sub(r"```.*?```", "", text, flags=re.S)  # commands and sample output


def test_every_measured_number_in_the_docs_comes_from_a_bench_run():
    """A number with a unit in the prose (README, docs/) must be one the bench scripts wrote
    (within a factor of two, for "~0.1 ms"-style roundings): no hand-typed measurements."""
    measured: dict[str, list[float]] = {}
    for body in _sections((DOCS / "performance.md").read_text(encoding="utf-8")).values():
        for value, unit, _ in _measurements(body):
            measured.setdefault(unit, []).append(value)
    stray = []
    for page in [README, *sorted(DOCS.rglob("*.md"))]:
        for value, unit, raw in _measurements(_prose(page.read_text(encoding="utf-8"))):
            known = measured.get(unit, [])
            if not any(v / 2 <= value <= v * 2 for v in known if v):
                stray.append(f"{page.relative_to(ROOT)}: {raw}")
    assert not stray, f"numbers not from a bench run (run bench/, quote its tables): {stray}"


def test_debug_line_example_matches_what_the_bench_saw_it_print():
    """docs/runtime.md's sample debug line quotes the bench's printed elapsed_ms (x2), and the
    page explains why it exceeds the start-up cost (which the bench measures separately)."""
    runtime = (DOCS / "runtime.md").read_text(encoding="utf-8")
    (shown, fast_shown) = re.findall(r'"elapsed_ms": ([\d.]+)', runtime)
    sections = _sections((DOCS / "performance.md").read_text(encoding="utf-8"))
    bench = sections["runtime"]
    # The fast path's line (second sample) quotes the per-layout bench's fast-path row.
    (fast_row,) = [x for x in sections["runtime-layouts"].splitlines() if "fast path |" in x]
    fast_printed = [float(v) for v in re.findall(r"\| ([\d.]+) \(", fast_row)]
    assert any(v / 2 <= float(fast_shown) <= v * 2 for v in fast_printed), fast_row

    def row(label: str) -> float:
        (line,) = [x for x in bench.splitlines() if label in x]
        return float(re.findall(r"\| ([\d.]+) ms \|", line)[0])

    printed, startup = row("CERTEMBED_DEBUG=1"), row("import + apply")
    assert printed / 2 <= float(shown) <= printed * 2
    if printed > startup:
        assert "larger than the start-up cost" in runtime


def test_python_versions_claimed_match_the_code():
    from certembed.config.toml import tomllib

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    tool_minimum = re.fullmatch(r">=\s*(3\.\d+)", requires).group(1)  # type: ignore[union-attr]
    readme = README.read_text(encoding="utf-8")
    assert (
        re.search(r"certembed itself \(the build tool\) needs CPython ≥ (3\.\d+)", readme).group(1)
        == tool_minimum
    )  # type: ignore[union-attr]
    assert f"Python ≥ {tool_minimum}" in readme.split("## Quick start", 1)[1][:300]
    low, high = re.search(
        r"bootstrap it puts into apps runs on\s+CPython (3\.\d+)–(3\.\d+)", readme
    ).groups()  # type: ignore[union-attr]
    # the bootstrap's sources really are Python `low` syntax ...
    for module in sorted((ROOT / "src/certembed/bootstrap/runtime").glob("*.py")):
        ast.parse(module.read_text(encoding="utf-8"), feature_version=(3, int(low.split(".")[1])))
    # ... and the interpreter matrix the tests use starts there
    from tests.support.pythons import pyenv_pythons

    assert pyenv_pythons.__defaults__ == (int(low.split(".")[1]),)
    assert int(high.split(".")[1]) >= int(tool_minimum.split(".")[1])


def test_pyoxidizer_snippet_order_is_right():
    """certembed_add comes after the app's own resources in the recipe `certembed pyoxidizer`
    prints, which docs/pyoxidizer.md shows (tests/test_pyoxidizer.py compares the two)."""
    from certembed.integrations.pyoxidizer import recipe

    snippet = recipe()
    assert snippet.index("certembed_configure(python_config)") < snippet.index(
        "to_python_executable("
    )
    own = snippet.index("add_python_resources")
    assert own < snippet.index("certembed_add(exe)")
