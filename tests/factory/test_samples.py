"""``factory.generate_samples`` and ``Samples``: smash's draws for the same seed, its slicing and
conversions, and clear errors for bad problems and arguments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hydrograd
from hydrograd.factory import generate_samples

PROBLEM = {
    "num_vars": 4,
    "names": ["cp", "ct", "kexc", "llr"],
    "bounds": [[1, 2000], [1, 1000], [-20, 5], [1, 1000]],
}
DRAWS = [
    {"generator": "uniform", "n": 20, "random_state": 11},
    {"generator": "normal", "n": 20, "random_state": 11, "mean": {"ct": 100.0}, "coef_std": 2},
    {"generator": "Gaussian", "n": 7, "random_state": 0},
    {"generator": "normal", "n": 5, "random_state": 4_294_967_295, "mean": {"kexc": -30}, "coef_std": 0.5},
    {"generator": "uniform", "n": 1e3, "random_state": 99.0},
]


def _attributes(samples) -> dict:
    return dict(vars(samples))


@pytest.mark.parity
@pytest.mark.parametrize("kwargs", DRAWS, ids=lambda k: f"{k['generator']}-{k['n']}")
def test_draws_match_smash_draw_by_draw(kwargs):
    smash = pytest.importorskip("smash")
    expected = _attributes(smash.factory.generate_samples(PROBLEM, **kwargs))
    got = _attributes(generate_samples(PROBLEM, **kwargs))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert got[key].dtype == value.dtype, key
            np.testing.assert_array_equal(got[key], value, err_msg=key)
        else:
            assert got[key] == value and type(got[key]) is type(value), key


@pytest.mark.parity
def test_unseeded_draws_follow_numpys_global_stream_as_smash():
    smash = pytest.importorskip("smash")
    np.random.seed(123)
    expected = smash.factory.generate_samples(PROBLEM, generator="normal", n=9).to_numpy()
    np.random.seed(123)
    got = generate_samples(PROBLEM, generator="normal", n=9).to_numpy()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parity
def test_slices_conversions_and_repr_match_smash():
    smash = pytest.importorskip("smash")
    expected = smash.factory.generate_samples(PROBLEM, n=5, random_state=1)
    got = generate_samples(PROBLEM, n=5, random_state=1)
    assert repr(got) == repr(expected)
    long = {"num_vars": 2, "names": ["a_rather_long_name", "x"], "bounds": [(0, 1), (2, 3)]}
    assert repr(generate_samples(long, n=2)) == repr(smash.factory.generate_samples(long, n=2))
    for axis in (0, -1):
        np.testing.assert_array_equal(got.to_numpy(axis=axis), expected.to_numpy(axis=axis))
    pd.testing.assert_frame_equal(got.to_dataframe(), expected.to_dataframe())
    for start, end in ((0, 2), (3, 5), (2, 2)):
        np.testing.assert_array_equal(got.slice(end, start).to_numpy(), expected.slice(end, start).to_numpy())
        assert got.slice(end, start).n_sample == end - start
    for by in (1, 2, 5):
        got_slices = [s.to_numpy(axis=-1) for s in got.iterslice(by)]
        expected_slices = [s.to_numpy(axis=-1) for s in expected.iterslice(by)]
        assert len(got_slices) == len(expected_slices)
        for a, b in zip(got_slices, expected_slices, strict=True):
            np.testing.assert_array_equal(a, b)
    part = got.slice(4, 1)
    np.testing.assert_array_equal(part._dst_cp, got._dst_cp[1:4])
    assert part._problem == got._problem and part.generator == "uniform"


def test_uniform_draws_stay_in_bounds_with_their_density():
    samples = generate_samples(PROBLEM, n=500, random_state=3)
    for name, (low, high) in zip(PROBLEM["names"], PROBLEM["bounds"], strict=True):
        values = getattr(samples, name)
        assert values.shape == (500,) and values.dtype == np.float64
        assert low <= values.min() and values.max() < high
        np.testing.assert_allclose(getattr(samples, f"_dst_{name}"), 1.0 / (high - low))


def test_gaussian_draws_are_truncated_to_the_bounds_around_the_mean():
    samples = generate_samples(PROBLEM, generator="normal", n=2000, random_state=5, mean={"cp": 500.0}, coef_std=20)
    assert samples.cp.min() >= 1 and samples.cp.max() <= 2000
    assert abs(np.median(samples.cp) - 500.0) < 10.0  # standard deviation ~100: the bounds barely cut
    assert abs(np.std(samples.cp) - 1999 / 20) < 5.0
    assert abs(np.median(samples.kexc) + 7.5) < 0.5  # default: the centre of the bounds
    wide = generate_samples(PROBLEM, generator="normal", n=2000, random_state=5, coef_std=0.1)
    assert wide.kexc.min() >= -20 and wide.kexc.max() <= 5  # nearly uniform, still inside
    assert np.all(samples._dst_cp > 0)


def test_a_seeded_draw_leaves_numpys_global_stream_alone():
    np.random.seed(7)
    first = np.random.uniform()
    np.random.seed(7)
    generate_samples(PROBLEM, n=3, random_state=1)
    assert np.random.uniform() == first


def test_iterslice_covers_every_set_once():
    samples = generate_samples(PROBLEM, n=7, random_state=2)
    pieces = list(samples.iterslice(3))
    assert [p.n_sample for p in pieces] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([p.cp for p in pieces]), samples.cp)


def test_samples_is_exported_under_smashs_names():
    assert hydrograd.Samples is type(generate_samples(PROBLEM, n=1))
    assert hydrograd.factory.generate_samples is generate_samples


@pytest.mark.parametrize(
    ("problem", "kwargs", "error", "match"),
    [
        ([1, 2], {}, TypeError, "problem argument must be a dictionary"),
        ({"names": ["cp"], "bounds": [[0, 1]]}, {}, KeyError, "num_vars"),
        ({**PROBLEM, "bound": 1}, {}, ValueError, "Unknown problem key 'bound'. Did you mean 'bounds'"),
        ({**PROBLEM, "num_vars": 3}, {}, ValueError, "'num_vars' must be the number of names"),
        ({**PROBLEM, "names": "cp"}, {}, TypeError, "'names' must be a list of str"),
        ({**PROBLEM, "names": ["cp", "cp", "ct", "llr"]}, {}, ValueError, "repeats a name"),
        ({**PROBLEM, "bounds": [[1, 2]] * 3}, {}, ValueError, "3 pairs for 4 names"),
        ({**PROBLEM, "bounds": [[2, 1]] * 4}, {}, ValueError, "low < high"),
        ({**PROBLEM, "bounds": [[0, np.inf]] * 4}, {}, ValueError, "two finite numbers"),
        (PROBLEM, {"generator": "sobol"}, ValueError, "Unknown generator 'sobol'"),
        (PROBLEM, {"generator": 1}, TypeError, "generator must be a str"),
        (PROBLEM, {"n": 0}, ValueError, "n argument must be greater than 0"),
        (PROBLEM, {"n": 2.5}, ValueError, "whole number"),
        (PROBLEM, {"n": "10"}, TypeError, "n argument must be a number"),
        (PROBLEM, {"random_state": -1}, ValueError, "between 0 and 2\\*\\*32 - 1"),
        (PROBLEM, {"random_state": 1.5}, TypeError, "random_state must be an integer"),
        (PROBLEM, {"generator": "normal", "mean": {"kexd": 1.0}}, ValueError, "Unknown name 'kexd'.*mean 'kexc'"),
        (PROBLEM, {"generator": "normal", "mean": {"cp": "1"}}, TypeError, "mean value of 'cp'"),
        (PROBLEM, {"generator": "normal", "mean": [1.0]}, TypeError, "mean argument must be a dictionary"),
        (PROBLEM, {"generator": "normal", "coef_std": 0}, ValueError, "coef_std argument must be greater than 0"),
    ],
)
def test_bad_problems_and_arguments_are_refused_clearly(problem, kwargs, error, match):
    with pytest.raises(error, match=match):
        generate_samples(problem, **kwargs)


def test_bad_slices_are_refused_clearly():
    samples = generate_samples(PROBLEM, n=4, random_state=0)
    with pytest.raises(ValueError, match="must be lower than end"):
        samples.slice(1, 2)
    with pytest.raises(ValueError, match="greater or equal to 0"):
        samples.slice(2, -1)
    with pytest.raises(ValueError, match="lower or equal to the sample size 4"):
        samples.slice(5)
    with pytest.raises(ValueError, match="lower or equal to the sample size 4"):
        list(samples.iterslice(5))
    with pytest.raises(ValueError, match="positive int"):
        list(samples.iterslice(0))
