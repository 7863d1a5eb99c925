"""``hydrograd.fcore._mwd_metrics`` against smash's compiled ``smash.fcore._mwd_metrics``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hydrograd.fcore._mwd_metrics as ours

reference = pytest.importorskip("smash.fcore._mwd_metrics")

NAMES = ("nse", "nnse", "kge", "mae", "mape", "se", "mse", "rmse", "lgrm")

EDGE_CASES = [
    ([1, 2, 3, 4, -99, 5], [1.5, 1.8, 2.5, 4.5, 10, 0]),
    ([], []),
    (1.0, 1.0),
    ([1, 2, 3], [1, 2, 3]),
    ([-99, -99, -99], [1, 1, 1]),
    ([1, 1, 1], [1, 2, 3]),
    ([0, 2, 3], [1, 2, 3]),
    ([0, 2, 3], [0, 2, 3]),
    ([1, 2, 3], [1, -99, 3]),
    ([1, 2, 3], [1.4e-45, 0, 3]),
    ([10, 2, 3], [1e-44, 2, 3]),
    ([1e-40, 2, 3], [1, 2, 3]),
    ([1, np.nan, 3], [1, 0, 3]),
    ([1, np.nan, 3], [1, 1, 3]),
    ([1, 2, 3], [1, np.nan, 3]),
    ([1, 2, np.inf], [1, 2, 3]),
    ([1, 2, 3], [1, 2, np.inf]),
    (np.array([1, 2, 3], np.int64), [1, 2, 4]),
    (np.array([1.1, 2.2, 3.3], np.float64), np.array([1.0, 2.5, 3.0], np.float64)),
]


def _same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


@pytest.mark.parity
@pytest.mark.parametrize("name", NAMES)
def test_random_series_give_smash_values(name):
    """Python floats holding smash's float32 values, on random series with gaps, zeros and
    subnormal simulations (lgrm: the same in all but rare cases, see ``hydrograd.core.metrics``)."""
    rng = np.random.default_rng(3)
    mismatches = 0
    for _ in range(60):
        n = int(rng.integers(2, 300))
        obs = rng.gamma(0.7, 5.0, n).astype(np.float32)
        sim = (obs * rng.uniform(0.3, 2.0, n) + rng.normal(0.0, 1.0, n)).astype(np.float32)
        obs[rng.random(n) < 0.1] = -99.0
        sim[rng.random(n) < 0.05] = 0.0
        sim[rng.random(n) < 0.03] = np.float32(1e-40)
        got, expected = getattr(ours, name)(obs, sim), getattr(reference, name)(obs, sim)
        assert type(got) is float
        assert np.float32(got) == got
        if not _same(got, expected):
            mismatches += 1
            np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert mismatches <= (3 if name == "lgrm" else 0)


@pytest.mark.parity
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", range(len(EDGE_CASES)))
def test_edge_cases_give_smash_values(name, case):
    """Empty and all-missing series, constant observations, zeros, negative, NaN, infinite and
    subnormal values, lists, integers, float64 arrays and a scalar."""
    x, y = EDGE_CASES[case]
    got, expected = getattr(ours, name)(x, y), getattr(reference, name)(x, y)
    assert _same(got, expected), (x, y, got, expected)


@pytest.mark.parametrize("name", NAMES)
def test_series_that_smash_would_read_past_are_refused(name):
    with pytest.raises(ValueError, match="same length"):
        getattr(ours, name)([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="1-D"):
        getattr(ours, name)(np.ones((2, 3)), np.ones((2, 3)))


def test_programs_importing_smash_fcore_get_hydrograd():
    """A program that maps ``smash`` to hydrograd imports the metric functions from smash's path."""
    program = textwrap.dedent(
        """
        import sys
        import hydrograd
        sys.modules["smash"] = hydrograd
        from smash.fcore._mwd_metrics import lgrm, nse
        print(nse([1.0, 2.0, 3.0], [1.0, 2.5, 2.0]), lgrm([1.0, 2.0, 3.0], [1.4e-45, 0.0, 3.0]))
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0.375", "10666.537109375"]
