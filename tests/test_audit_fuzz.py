"""Issue 13 item 14 (audit part): `certembed audit` on damaged binaries — truncated PE/ELF/
Mach-O files, flipped bytes, bogus import tables and load commands, broken wheels — ends in a
result or a clear error with its exit code, never a traceback (exit 1).

Bounded for CI (``max_examples`` below); ``bench/fuzz_audit.py`` runs the same property longer
and records how many inputs it tried in docs/performance.md."""

from __future__ import annotations

import io
import zipfile

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.damage import SEEDS, audit_holds, damaged


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(damaged())
@example(("onefile-app", SEEDS["onefile-app"][:-200] + b"MEI\x0c\x0b\x0a\x0b\x0e" * 12))
def test_damaged_binary_alone(tmp_path_factory, sample):
    name, data = sample
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(data)
    report = audit_holds(path)
    if data == SEEDS[name]:  # undamaged: every seed is or imports OpenSSL, and is found so
        openssl = report["openssl"]
        assert openssl["libraries"] or openssl["importers"]  # type: ignore[index]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(st.lists(damaged(), min_size=1, max_size=4))
def test_damaged_binaries_in_a_directory_and_a_wheel(tmp_path_factory, samples):
    folder = tmp_path_factory.mktemp("app")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for index, (name, data) in enumerate(samples):
            (folder / f"{index}-{name}").write_bytes(data)
            wheel.writestr(f"pkg/{index}-{name}", data)
    dir_report = audit_holds(folder)
    assert dir_report["kind"] == "directory"
    whl = folder.parent / "pkg-1.0-py3-none-any.whl"
    whl.write_bytes(buffer.getvalue())
    audit_holds(whl)
    # and a wheel cut short: a clear "not a readable wheel" error, exit 5
    whl.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert "not a readable wheel/zip" in audit_holds(whl)["error"]["message"]  # type: ignore[index]
