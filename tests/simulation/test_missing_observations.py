"""Observations with gaps: smash's -99 and NaN are both missing, dropped from every metric, cost and
signature; a gauge without any observation in the window warns in forward runs and evaluation
(where smash silently returns NaN) and is refused by optimize; a forward run whose cost is undefined
on its window for another reason warns too."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import hydrograd as smash
from hydrograd.core.cost import ObservationCost, observation_cost
from hydrograd.core.metrics import METRICS
from hydrograd.core.signatures import CONTINUOUS_SIGNATURES, signature_components

QUIET = {"verbose": False}


@pytest.fixture(scope="module")
def model():
    setup, mesh = smash.factory.load_dataset("Lez")
    m = smash.Model(setup, mesh, verbose=False)
    m.forward_run(common_options=QUIET)
    return m


def _series(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = rng.gamma(2.0, 2.0, (2, n)).astype(np.float32)
    sim = (obs * rng.uniform(0.7, 1.3, obs.shape)).astype(np.float32)
    gaps = np.zeros(obs.shape, dtype=bool)
    gaps[0, 20:60] = gaps[1, ::7] = True
    return obs, sim, gaps


@pytest.mark.parametrize("metric", list(METRICS))
def test_metrics_skip_minus_99_and_nan_alike(metric):
    obs, sim, gaps = _series()
    values = {}
    for marker in (-99.0, np.nan):
        with_gaps = np.where(gaps, np.float32(marker), obs)
        values[marker] = np.asarray(METRICS[metric](jnp.asarray(with_gaps), jnp.asarray(sim)))
    dropped = [
        float(METRICS[metric](jnp.asarray(o[~g]), jnp.asarray(s[~g]))) for o, s, g in zip(obs, sim, gaps, strict=True)
    ]
    np.testing.assert_array_equal(values[-99.0], values[np.nan])
    np.testing.assert_allclose(values[np.nan], dropped, rtol=1e-5)
    assert np.isfinite(values[np.nan]).all()


@pytest.mark.parametrize("transform", ["keep", "sqrt", "inv"])
def test_costs_and_signatures_skip_nan_like_minus_99(transform):
    obs, sim, gaps = _series(1)
    spec = ObservationCost(("nse", "kge"), (0.5, 0.5), (transform, "keep"), 0, (0, 1), (0.5, 0.5))
    costs = [
        float(observation_cost(jnp.asarray(sim), jnp.asarray(np.where(gaps, np.float32(m), obs)), spec))
        for m in (-99.0, np.nan)
    ]
    assert np.isfinite(costs[0]) and costs[0] == pytest.approx(costs[1], rel=1e-6)
    rain = np.random.default_rng(2).gamma(1.0, 3.0, obs.shape).astype(np.float32)
    signatures = [
        np.asarray(
            signature_components(
                CONTINUOUS_SIGNATURES, jnp.asarray(np.where(gaps, np.float32(m), obs)), jnp.asarray(sim), rain
            )
        )
        for m in (-99.0, np.nan)
    ]
    np.testing.assert_array_equal(signatures[0], signatures[1])
    assert np.isfinite(signatures[1]).all()


def test_forward_run_cost_warns_about_a_gauge_without_observations(model):
    m = model.copy()
    m.response_data.q[0, :] = -99.0
    m.response_data.q[1, :] = np.where(np.arange(m.setup.ntime_step) % 2, np.nan, m.response_data.q[1])
    with pytest.warns(UserWarning, match=r"No observed discharge .* in the cost window at gauge\(s\) \['Y3204040'\]"):
        _, ret = smash.forward_run(
            m, cost_options={"gauge": "all"}, return_options={"cost": True}, common_options=QUIET
        )
    assert np.isnan(ret.cost)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, ret = smash.forward_run(
            m, cost_options={"gauge": ["Y3204030", "Y3204010"]}, return_options={"cost": True}, common_options=QUIET
        )
    assert np.isfinite(ret.cost)


def test_forward_run_warns_when_its_cost_is_undefined_on_the_window(model):
    """A cost window of a single step (``end_warmup`` one step before the end): NSE's denominator is zero,
    the cost infinite, and a warning says why instead of a bare ``inf``."""
    last = model.setup.time_index()[-2].strftime("%Y-%m-%d %H:%M")
    with pytest.warns(UserWarning, match=r"The cost is inf over the cost window \(1 time step\(s\)"):
        _, ret = smash.forward_run(
            model, cost_options={"end_warmup": last}, return_options={"cost": True}, common_options=QUIET
        )
    assert np.isinf(ret.cost)


def test_evaluation_warns_and_gives_nan_for_an_unobserved_gauge(model):
    m = model.copy()
    m.response_data.q[2, :200] = np.nan
    m.response_data.q[2, 200:] = -99.0
    with pytest.warns(UserWarning, match=r"between start_eval and end_eval at gauge\(s\) \['Y3204010'\]"):
        values = smash.evaluation(m, metric=["nse", "kge", "rmse"])
    assert np.isnan(values[2]).all() and np.isfinite(values[:2]).all()


def test_evaluation_window_without_observations_warns_only_for_that_window(model):
    m = model.copy()
    m.response_data.q[0, 100:] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        smash.evaluation(m, end_eval="2012-10-01")
    with pytest.warns(UserWarning, match="Y3204040"):
        smash.evaluation(m, start_eval="2013-01-01")


def test_optimize_refuses_a_gauge_whose_observations_are_all_nan(model):
    m = model.copy()
    m.response_data.q[1, :] = np.nan
    before = m.rr_parameters.values.copy()
    with pytest.raises(ValueError, match=r"No observed discharge in the cost window at gauge\(s\) \['Y3204030'\]"):
        m.optimize(cost_options={"gauge": "all"}, common_options=QUIET)
    np.testing.assert_array_equal(m.rr_parameters.values, before)
