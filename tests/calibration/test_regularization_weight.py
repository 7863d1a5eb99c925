"""Automatic regularization weight (``wjreg="fast"``/``"lcurve"``): the L-curve geometry, the
cycles, and a calibration that uses them."""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd as smash
from hydrograd.calibration.regularization_weight import choose_wjreg, fast_weight, lcurve_distances, lcurve_weight


def test_lcurve_picks_the_point_farthest_below_the_diagonal():
    # Misfit range 0.5 -> 1.0, regularization range 0 -> 10. Normalized points (x, y):
    # (0, 1) above, (1, 1) on the diagonal, (0.8, 0.2) at (0.8 - 0.2) / sqrt(2), (0.2, 0) at 0.2 / sqrt(2).
    jobs = np.array([1.0, 0.5, 0.6, 0.9])
    jreg = np.array([10.0, 10.0, 2.0, 0.0])
    weights = np.array([0.0, 1.0, 2.0, 3.0])
    chosen, distances = lcurve_weight(weights, jobs, jreg)
    assert chosen == 2.0
    np.testing.assert_allclose(distances[2:], [0.6 / np.sqrt(2), 0.2 / np.sqrt(2)])
    assert np.isnan(distances[:2]).all()


def test_lcurve_without_trade_off_chooses_no_regularization():
    assert np.isnan(lcurve_distances(np.array([0.5, 0.5]), np.array([1.0, 2.0]))).all()
    assert lcurve_weight(np.array([0.0, 1.0]), np.array([0.5, 0.5]), np.array([1.0, 2.0]))[0] == 0.0


def test_fast_weight_balances_the_gain_and_is_zero_without_a_move():
    assert fast_weight(0.8, 0.3, 2.0) == pytest.approx(0.25)
    assert fast_weight(0.8, 0.8, 0.0) == 0.0


def _cycles(results):
    calls = []

    def cycle(wjreg):
        calls.append(wjreg)
        return results(wjreg)

    return cycle, calls


def test_fast_runs_one_unregularized_cycle():
    cycle, calls = _cycles(lambda w: {"cost": 0.3, "jobs": 0.3, "jreg": 2.0})
    lines = []
    chosen, curve = choose_wjreg("fast", 0.8, cycle, lines.append)
    assert calls == [0.0] and curve is None
    assert chosen == pytest.approx(0.25)
    assert lines[-1].strip() == "FAST WJREG LAST CYCLE. wjreg: 2.50000e-01"


def test_lcurve_spans_two_thirds_of_a_decade_each_side_of_the_fast_weight():
    # A made-up trade-off: the misfit grows and the regularization term shrinks with the weight.
    cycle, calls = _cycles(lambda w: {"cost": 0.3 + w, "jobs": 0.3 + 0.2 * w, "jreg": 2.0 / (1.0 + 10.0 * w)})
    chosen, curve = choose_wjreg("lcurve", 0.8, cycle, lambda line: None)
    np.testing.assert_allclose(calls, [0.0, *(0.25 * 10.0 ** np.array([-0.66, -0.33, 0.0, 0.33, 0.66]))])
    np.testing.assert_allclose(curve["wjreg"], calls)
    assert curve["wjreg_approx"] == pytest.approx(0.25)
    assert chosen == curve["wjreg_opt"] and chosen in calls[1:]
    assert set(curve) == {"wjreg_opt", "wjreg_approx", "distance", "cost", "jobs", "jreg", "wjreg"}


def test_lcurve_stops_after_one_cycle_when_calibration_gains_under_five_percent():
    cycle, calls = _cycles(lambda w: {"cost": 0.78, "jobs": 0.78, "jreg": 2.0})
    chosen, curve = choose_wjreg("lcurve", 0.8, cycle, lambda line: None)
    assert calls == [0.0] and chosen == 0.0 and curve["wjreg_approx"] == 0.0
    assert curve["wjreg"].tolist() == [0.0]


@pytest.fixture(scope="module")
def model():
    return smash.Model(*smash.factory.load_dataset("Lez"), verbose=False)


def test_distributed_calibration_with_fast_weight(model, capsys):
    m = model.copy()
    ret = m.optimize(
        mapping="distributed",
        optimize_options={"parameters": ["cp", "ct"], "termination_crit": {"maxiter": 3}},
        cost_options={"wjreg": "FAST", "jreg_cmpt": ["prior", "smoothing"]},
        return_options={"cost": True, "jobs": True, "jreg": True},
    )
    text = capsys.readouterr().out
    weight = float(text.split("FAST WJREG LAST CYCLE. wjreg:")[1].split()[0])
    assert weight > 0 and ret.jreg > 0
    assert ret.cost == pytest.approx(ret.jobs + np.float32(weight) * ret.jreg, rel=1e-4)
    assert text.count("STOP:") == 2
    assert not np.allclose(m.get_rr_parameters("cp"), model.get_rr_parameters("cp"))


def test_unknown_automatic_weight_is_refused(model):
    with pytest.raises(ValueError, match=r"wjreg.*'fast', 'lcurve'"):
        model.copy().optimize(cost_options={"wjreg": "quick"}, common_options={"verbose": False})
