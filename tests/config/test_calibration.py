"""``backward_run``'s arguments: smash's defaults and a clear error for each bad one, before any work."""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd
from hydrograd.config.calibration import check_backward


@pytest.fixture(scope="module")
def facts(synthetic_inputs):
    setup, mesh = synthetic_inputs
    return hydrograd.Model(dict(setup), mesh, verbose=False).facts(values=True)


def test_default_cotangents_are_ones_of_smash_shapes(facts):
    assert check_backward(facts).cotangent.shape == (1,)
    request = check_backward(facts, "q")
    assert request.cotangent.shape == (facts.nac, facts.ntime_step)
    assert np.all(request.cotangent == 1)
    assert request.calibration.options.optimizer == "sbs"


def test_a_number_is_broadcast_to_the_target_shape(facts):
    request = check_backward(facts, "q", 2)
    assert request.cotangent.shape == (facts.nac, facts.ntime_step)
    assert np.all(request.cotangent == 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"diff_target": "x"}, ValueError, "diff_target"),
        ({"diff_target": "q", "cotangent": np.ones((2, 3))}, ValueError, r"shape \(\d+, \d+\).*'q', got \(2, 3\)"),
        ({"cotangent": "1"}, TypeError, "cotangent must be a number"),
        ({"cotangent": np.nan}, ValueError, "NaN"),
        ({"cost_options": {"wjreg": 1.0}}, ValueError, "Unknown backward_run cost_options key 'wjreg'"),
        ({"returns": {"control_vector": True}}, ValueError, "control_vector"),
    ],
)
def test_bad_arguments_are_refused_by_name(facts, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_backward(facts, **kwargs)
