"""Metrics against smash's compiled metrics, with missing observations."""

from __future__ import annotations

import jax
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


NAMES = (*sorted(metrics.METRICS), "se")


def _random_series(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Skewed observations with gaps (-99), simulations with zeros and subnormal values."""
    n = int(rng.integers(5, 400))
    obs = rng.gamma(0.7, 5.0, n).astype(np.float32)
    sim = (obs * rng.uniform(0.3, 2.0, n) + rng.normal(0.0, 1.0, n)).astype(np.float32)
    obs[rng.random(n) < 0.1] = -99.0
    sim[rng.random(n) < 0.05] = 0.0
    sim[rng.random(n) < 0.03] = np.float32(1e-40)
    return obs, sim


@pytest.mark.parity
@pytest.mark.parametrize("name", NAMES)
def test_metric_matches_smash(name):
    obs, sim = _series()
    expected = getattr(smash_metrics, name)(obs, sim)
    got = float(getattr(metrics, name)(jnp.asarray(obs), jnp.asarray(sim)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parity
@pytest.mark.parametrize("name", NAMES)
def test_compiled_metric_gives_smash_digits(name):
    """Under ``jit`` (as in a cost) every metric gives smash's float32 value to the last digit on
    random series with gaps, zeros and subnormal simulations; under ``jax.enable_x64`` lgrm's
    logarithm is the correctly rounded one, which smash's C library gives in all but rare cases,
    and in float32 XLA's logarithm moves lgrm by a few units in its last place."""
    rng = np.random.default_rng(11)
    series = [_random_series(rng) for _ in range(150)]
    # One compiled call on all series, each padded with missing observations (-99), which every
    # metric skips: adding their zero terms at the end of a sum leaves it unchanged.
    obs_rows = np.full((len(series), 400), -99.0, np.float32)
    sim_rows = np.zeros((len(series), 400), np.float32)
    for row, (obs, sim) in enumerate(series):
        obs_rows[row, : obs.size], sim_rows[row, : sim.size] = obs, sim
    for x64 in (True, False):
        with jax.enable_x64(x64):
            got = np.asarray(jax.jit(getattr(metrics, name))(obs_rows, sim_rows), dtype=np.float64)
        expected = np.array([getattr(smash_metrics, name)(obs, sim) for obs, sim in series])
        if name == "lgrm":
            exact = np.mean(got == expected)
            assert exact >= (0.97 if x64 else 0.6), exact
            np.testing.assert_allclose(got, expected, rtol=1e-6)
        else:
            np.testing.assert_array_equal(got, expected)


def test_lgrm_counts_subnormal_values_and_underflowing_ratios_as_smash_does():
    """A subnormal simulation counts with its own value (XLA's CPU runtime reads it as 0), a
    ratio that underflows to a subnormal number keeps its reduced precision, and one that rounds
    to 0 gives an infinite term."""
    cases = [
        ([1.0, 2.0, 3.0], [1.4e-45, 0.0, 3.0]),
        ([1.0, 2.0, 3.0], [4e-39, 0.0, 3.0]),
        ([10.0, 2.0, 3.0], [1.2e-38, 2.0, 3.0]),
        ([10.0, 2.0, 3.0], [1e-44, 2.0, 3.0]),
        ([100.0, 2.0], [1e-44, 2.0]),
        ([1e-40, 2.0, 3.0], [1.0, 2.0, 3.0]),
    ]
    with jax.enable_x64(True):
        compiled = jax.jit(metrics.lgrm)
        for obs, sim in cases:
            obs, sim = np.asarray(obs, np.float32), np.asarray(sim, np.float32)
            assert float(compiled(obs, sim)) == smash_metrics.lgrm(obs, sim), (obs, sim)


def test_lgrm_cost_is_differentiable_on_dry_series():
    """The lgrm cost component keeps a finite gradient where the simulation is 0, subnormal or
    negative, and takes no gradient from those steps."""
    obs = jnp.asarray([1.0, 2.0, 3.0, 4.0, 0.0, 5.0], jnp.float32)
    sim = jnp.asarray([1.5, 0.0, 1e-40, -1e-7, 2.0, 4.0], jnp.float32)
    value, grad = jax.jit(jax.value_and_grad(lambda s: metrics.lgrm(obs, s)))(sim)
    assert np.isfinite(value)
    assert np.isfinite(np.asarray(grad)).all()
    np.testing.assert_array_equal(np.asarray(grad)[1:5], 0.0)
    # d/ds obs log(s / obs)^2 = 2 obs log(s / obs) / s
    np.testing.assert_allclose(grad[0], 2.0 * np.log(1.5) / 1.5, rtol=1e-6)


def test_mape_with_a_zero_observation_is_infinite_as_in_smash_with_a_finite_gradient():
    obs = jnp.asarray([0.0, 2.0, 3.0], jnp.float32)
    sim = jnp.asarray([1.0, 2.0, 3.0], jnp.float32)
    value, grad = jax.value_and_grad(lambda s: metrics.mape(obs, s))(sim)
    assert float(value) == smash_metrics.mape(np.asarray(obs), np.asarray(sim)) == np.inf
    assert np.isfinite(np.asarray(grad)).all()
    assert np.isnan(float(metrics.mape(obs, jnp.asarray([0.0, 2.0, 3.0]))))


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
