"""Metrics against smash's compiled metrics, with missing observations."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from hydrograd.core import metrics
from hydrograd.core.cost import ObservationCost, observation_cost

smash_metrics = pytest.importorskip("smash.fcore._mwd_metrics")


def _series(seed=0, n=300):
    rng = np.random.default_rng(seed)
    obs = rng.gamma(2.0, 3.0, n).astype(np.float32)
    sim = (obs * rng.uniform(0.6, 1.4, n) + rng.normal(0, 0.5, n)).clip(0.01).astype(np.float32)
    obs[rng.choice(n, 30, replace=False)] = -99.0
    return obs, sim


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(metrics.METRICS))
def test_metric_matches_smash(name):
    obs, sim = _series()
    expected = getattr(smash_metrics, name)(obs, sim)
    got = float(metrics.METRICS[name](jnp.asarray(obs), jnp.asarray(sim)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_metrics_ignore_missing_and_nan_observations():
    obs, sim = _series(1)
    keep = obs >= 0
    clean = float(metrics.nse(jnp.asarray(obs[keep]), jnp.asarray(sim[keep])))
    obs_nan = obs.copy()
    obs_nan[~keep] = np.nan
    assert float(metrics.nse(jnp.asarray(obs), jnp.asarray(sim))) == pytest.approx(clean, rel=1e-5)
    assert float(metrics.nse(jnp.asarray(obs_nan), jnp.asarray(sim))) == pytest.approx(clean, rel=1e-5)


def test_perfect_simulation_scores():
    obs, _ = _series(2)
    x = jnp.asarray(obs)
    assert float(metrics.nse(x, x)) == pytest.approx(1.0)
    assert float(metrics.kge(x, x)) == pytest.approx(1.0, abs=1e-6)
    assert float(metrics.rmse(x, x)) == 0.0


def test_observation_cost_combines_components_and_gauges():
    obs = np.stack([_series(s)[0] for s in range(3)])
    sim = np.stack([_series(s)[1] for s in range(3)])
    spec = ObservationCost(("nse", "kge"), (0.25, 0.75), ("keep", "keep"), 10, (0, 2), (0.5, 0.5))
    got = float(observation_cost(jnp.asarray(sim), jnp.asarray(obs), spec))
    per_gauge = [
        0.25 * (1 - smash_metrics.nse(obs[g, 10:], sim[g, 10:]))
        + 0.75 * (1 - smash_metrics.kge(obs[g, 10:], sim[g, 10:]))
        for g in (0, 2)
    ]
    assert got == pytest.approx(0.5 * sum(per_gauge), rel=1e-5)
    median = spec._replace(gauges=(0, 1, 2), gauge_weights=None, gauge_quantile=0.5)
    per_gauge3 = [
        0.25 * (1 - smash_metrics.nse(obs[g, 10:], sim[g, 10:]))
        + 0.75 * (1 - smash_metrics.kge(obs[g, 10:], sim[g, 10:]))
        for g in range(3)
    ]
    assert float(observation_cost(jnp.asarray(sim), jnp.asarray(obs), median)) == pytest.approx(
        np.median(per_gauge3), rel=1e-5
    )
