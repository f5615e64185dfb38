"""Hypothesis property tests, bounded for CI: every fuzzed config and PEM/DER input ends in a
result or a clear error with its exit code (see tests/support/fuzz.py). bench/fuzz.py runs the
same properties for much longer."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings

from tests.support.fuzz import (
    PreviousOutput,
    cert_bytes,
    check_build,
    check_inspect,
    check_runtime,
    projects,
    runtime_cases,
)
from tests.support.project import build

BOUNDED = settings(
    max_examples=60,
    deadline=None,  # speed is measured in bench/, never asserted
    derandomize=True,  # the same inputs in every CI run; bench/fuzz.py explores
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@pytest.fixture(scope="module")
def previous() -> Iterator[PreviousOutput]:
    made = PreviousOutput()
    yield made
    made.close()


def test_fuzzed_configs_and_inputs_end_in_a_result_or_a_clear_error(previous):
    """Every fuzzed project builds or fails with a clear error, and the generated projects
    reach a success and each error class (else they test little). The exit codes are counted
    by this test's own run of the property, so the check holds in any test order and alone."""
    seen: Counter[int] = Counter()

    @BOUNDED
    @given(project=projects())
    def property_holds(project: tuple[str, bytes, bytes]) -> None:
        seen[check_build(previous, project)] += 1

    property_holds()
    assert {0, 2, 3} <= set(seen), seen


@settings(BOUNDED, max_examples=80)
@given(data=cert_bytes())
def test_inspect_on_fuzzed_pem_and_der(data):
    with tempfile.TemporaryDirectory() as tmp:
        check_inspect(Path(tmp), data)


# -- run time: path metacharacters and special files ------------------------------------------


@pytest.fixture(scope="module")
def merge_payload(tmp_path_factory, ca_dir):
    return build(tmp_path_factory.mktemp("rt"), ca_dir, mode="merge").out_dir / "linux"


RUNTIME_CASES: Counter[str] = Counter()


@settings(BOUNDED, max_examples=30)
@example(
    case={
        "install": "opt:my app",
        "cache": "c;a:che",
        "env_file": "fifo",
        "env_dir_entry": "device",
        "cache_entry": None,
    }
)
@example(
    case={
        "install": "a\n\u00e9:b",
        "cache": "cache",
        "env_file": None,
        "env_dir_entry": "link-loop",
        "cache_entry": "fifo",
    }
)
@given(case=runtime_cases())
def test_runtime_paths_and_special_files_never_change_trust_nor_block(
    merge_payload, servers, ca_dir, case
):
    """An app installed (and cached) under any folder name, run from a cwd holding a rogue CA
    wherever a split path could point, with special files as SSL_CERT_FILE, in SSL_CERT_DIR and
    in its private cache: embedded and machine roots as decided, the rogue one never, no hang
    (tests/support/fuzz.py: check_runtime)."""
    urls = {name: servers[name].url for name in ("distro", "fallback", "corp", "rogue")}
    pems = {name: (ca_dir / f"{name}.pem").read_bytes() for name in urls}
    RUNTIME_CASES["split" if ":" in case["install"] + case["cache"] else "plain"] += 1
    check_runtime(merge_payload, case, urls, pems, str(sum(RUNTIME_CASES.values())))
