"""The garbage-collector pause of a calibration's first evaluation, and the calibrated maps'
program compiled ahead of time."""

from __future__ import annotations

import gc

import jax
import numpy as np
import pytest

import hydrograd as smash
from hydrograd.calibration.compilation import without_gc_on_first_call
from tests._inputs import read_catchment


def test_gc_is_paused_during_the_first_call_only():
    seen = []
    wrapped = without_gc_on_first_call(lambda x: seen.append(gc.isenabled()) or 2 * x)
    assert gc.isenabled()
    assert wrapped(3) == 6 and wrapped(4) == 8
    assert seen == [False, True]
    assert gc.isenabled()


def test_gc_comes_back_when_the_first_call_raises():
    def fail():
        raise RuntimeError("boom")

    wrapped = without_gc_on_first_call(fail)
    with pytest.raises(RuntimeError, match="boom"):
        wrapped()
    assert gc.isenabled()


def test_gc_left_off_when_the_caller_turned_it_off():
    gc.disable()
    try:
        seen = []
        without_gc_on_first_call(lambda: seen.append(gc.isenabled()))()
        assert seen == [False] and not gc.isenabled()
    finally:
        gc.enable()


def test_maps_compiled_ahead_of_time_match_the_jitted_maps():
    catchment = read_catchment(*smash.factory.load_dataset("Lez"))
    problem = catchment.problem("distributed", "lbfgsb", {"parameters": ["cp", "ct", "hp"]})
    x = problem.x0 + np.random.default_rng(0).uniform(-0.1, 0.1, problem.x0.shape)
    with jax.enable_x64(problem.double):
        expected = problem.maps(x)
        problem.compile_in_background()
        got = problem.maps(x)
    assert set(got) == {"cp", "ct", "hp"}
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
        assert not np.allclose(got[key], got[key][0])
