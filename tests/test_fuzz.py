"""Hypothesis property tests, bounded for CI: every fuzzed config and PEM/DER input ends in a
result or a clear error with its exit code (see tests/support/fuzz.py). bench/fuzz.py runs the
same properties for much longer."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.support.fuzz import PreviousOutput, cert_bytes, check_build, check_inspect, projects

BOUNDED = settings(
    max_examples=60,
    deadline=None,  # speed is measured in bench/, never asserted
    derandomize=True,  # the same inputs in every CI run; bench/fuzz.py explores
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
SEEN: Counter[int] = Counter()


@pytest.fixture(scope="module")
def previous() -> Iterator[PreviousOutput]:
    made = PreviousOutput()
    yield made
    made.close()


@BOUNDED
@given(project=projects())
def test_fuzzed_configs_and_inputs_end_in_a_result_or_a_clear_error(previous, project):
    SEEN[check_build(previous, project)] += 1


def test_the_fuzzing_reached_successes_and_each_error_class():
    """The generated inputs are not all rejected the same way (else they test little)."""
    if not SEEN:
        pytest.skip("runs after the property test")
    assert {0, 2, 3} <= set(SEEN), SEEN


@settings(BOUNDED, max_examples=80)
@given(data=cert_bytes())
def test_inspect_on_fuzzed_pem_and_der(data):
    with tempfile.TemporaryDirectory() as tmp:
        check_inspect(Path(tmp), data)
