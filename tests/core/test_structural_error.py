"""The structural-error model and the Bayesian log-posterior against their textbook forms
(numpy written out here, scipy.stats for the prior densities)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from hydrograd.core.parameters import SERR_MU_MAPPINGS, SERR_SIGMA_MAPPINGS
from hydrograd.core.structural_error import (
    PRIORS,
    UNDEFINED,
    BayesianCost,
    error_deviation,
    error_mean,
    log_likelihood,
    log_posterior,
    log_prior,
)

RNG = np.random.default_rng(3)
NG, NT = 3, 50
Q_SIM = RNG.gamma(2.0, 5.0, (NG, NT))
Q_OBS = Q_SIM * RNG.lognormal(0.0, 0.2, (NG, NT))
Q_OBS[1, 7] = -99.0  # missing observation
MU_PAR = np.array([[0.5, 0.1], [-0.2, 0.05], [0.0, -0.1]])
SIGMA_PAR = np.array([[1.0, 0.2, 1.5], [0.5, 0.3, 2.0], [2.0, 4.0, 8.0]])


def _mu(mapping, par, q):
    return {"Zero": 0.0 * q, "Constant": par[:, :1] + 0.0 * q, "Linear": par[:, :1] + par[:, 1:2] * q}[mapping]


def _sigma(mapping, par, q):
    s0, s1, s2 = par[:, :1], par[:, 1:2], par[:, 2:3]
    return {
        "Constant": s0 + 0.0 * q,
        "Linear": s0 + s1 * np.abs(q),
        "Power": s0 + s1 * np.abs(q) ** s2,
        "Exponential": s0 + (s2 - s0) * (1 - np.exp(-np.abs(q) / s1)),
        "Gaussian": s0 + (s2 - s0) * (1 - np.exp(-((np.abs(q) / s1) ** 2))),
    }[mapping]


@pytest.mark.parametrize("mapping", list(SERR_MU_MAPPINGS))
def test_error_mean(mapping):
    par = MU_PAR[:, : len(SERR_MU_MAPPINGS[mapping])]
    with jax.enable_x64(True):
        got = np.asarray(error_mean(mapping, jnp.asarray(par), jnp.asarray(Q_SIM)))
    np.testing.assert_allclose(got, _mu(mapping, MU_PAR, Q_SIM), rtol=1e-12)


@pytest.mark.parametrize("mapping", list(SERR_SIGMA_MAPPINGS))
def test_error_deviation(mapping):
    par = SIGMA_PAR[:, : len(SERR_SIGMA_MAPPINGS[mapping])]
    with jax.enable_x64(True):
        got = np.asarray(error_deviation(mapping, jnp.asarray(par), jnp.asarray(Q_SIM)))
    np.testing.assert_allclose(got, _sigma(mapping, SIGMA_PAR, Q_SIM), rtol=1e-12)


def _spec(mu="Linear", sigma="Power", priors=(), gauges=(0, 1, 2), start=0):
    return BayesianCost(mu, sigma, priors, gauges, start)


@pytest.mark.parametrize(("mu", "sigma"), [("Zero", "Linear"), ("Linear", "Power"), ("Constant", "Gaussian")])
def test_log_likelihood_is_the_gaussian_density_of_the_residuals(mu, sigma):
    u = np.full((NG, NT), 0.3)
    u[2, 3] = -1.0  # unknown deviation: the step is left out
    spec = _spec(mu, sigma, gauges=(0, 2), start=5)
    with jax.enable_x64(True):
        value, feasible = log_likelihood(spec, *(jnp.asarray(a) for a in (Q_SIM, Q_OBS, u, MU_PAR[:, :2], SIGMA_PAR)))
        value = float(value)
    residual = Q_OBS - Q_SIM - _mu(mu, MU_PAR, Q_SIM)
    scale = np.sqrt(_sigma(sigma, SIGMA_PAR, Q_SIM) ** 2 + u**2)
    density = stats.norm.logpdf(residual, scale=scale)
    known = (Q_OBS >= 0) & (u >= 0)
    expected = sum(density[g, 5:][known[g, 5:]].sum() for g in (0, 2))
    assert bool(feasible)
    assert value == pytest.approx(expected, rel=1e-12)


def test_a_null_deviation_is_outside_the_support():
    sigma = np.zeros((NG, 3))
    spec = _spec("Zero", "Constant")
    zeros = np.zeros((NG, NT))
    terms = log_posterior(spec, jnp.zeros(1), *(jnp.asarray(a) for a in (Q_SIM, Q_OBS, zeros, MU_PAR, sigma)))
    assert not bool(terms.feasible)
    assert float(terms.cost) == pytest.approx(-UNDEFINED / (NG * NT))


SCIPY = {
    "Gaussian": ((2.0, 3.0), lambda x, p: stats.norm.logpdf(x, p[0], p[1])),
    "LogNormal": ((0.5, 0.8), lambda x, p: stats.lognorm.logpdf(x, p[1], scale=math.exp(p[0]))),
    "Exponential": ((1.0, 2.0), lambda x, p: stats.expon.logpdf(x, loc=p[0], scale=p[1])),
    "Uniform": ((-1.0, 4.0), lambda x, p: stats.uniform.logpdf(x, p[0], p[1] - p[0])),
    "Triangle": (
        (1.0, -2.0, 5.0),
        lambda x, p: stats.triang.logpdf(x, (p[0] - p[1]) / (p[2] - p[1]), loc=p[1], scale=p[2] - p[1]),
    ),
}


@pytest.mark.parametrize("name", list(SCIPY))
def test_prior_densities(name):
    par, reference = SCIPY[name]
    xs = np.array([-3.0, -0.5, 0.2, 1.0, 1.7, 3.9, 6.0])
    for x in xs:
        expected = reference(x, par)
        value, inside = PRIORS[name].log_pdf(jnp.asarray(x), par)
        assert bool(inside) == np.isfinite(expected), (name, x)
        if np.isfinite(expected):
            assert float(value) == pytest.approx(expected, rel=1e-5, abs=1e-6), (name, x)


def test_log_prior_sums_the_entries_it_has_priors_for():
    priors = (("Gaussian", (2.0, 3.0)), ("FlatPrior", ()), ("Uniform", (0.0, 10.0)))
    theta = jnp.asarray([1.0, 123.0, 4.0, 55.0])
    value, inside = log_prior(_spec(priors=priors), theta)
    assert bool(inside)
    assert float(value) == pytest.approx(stats.norm.logpdf(1.0, 2.0, 3.0) - math.log(10.0), rel=1e-6)
    _, inside = log_prior(_spec(priors=priors), theta.at[2].set(11.0))
    assert not bool(inside)


def test_cost_is_the_negative_log_posterior_per_observation():
    priors = (("Gaussian", (2.0, 3.0)),)
    spec = _spec("Linear", "Linear", priors, gauges=(1,), start=10)
    u = np.zeros((NG, NT))
    arrays = [jnp.asarray(a) for a in (Q_SIM, Q_OBS, u, MU_PAR, SIGMA_PAR)]
    with jax.enable_x64(True):
        terms = log_posterior(spec, jnp.asarray([1.5]), *arrays)
        expected = -(float(terms.log_lkh) + float(terms.log_prior)) / (NT - 10)
        assert float(terms.log_h) == 0.0
        assert float(terms.cost) == pytest.approx(expected, rel=1e-12)


def test_gradient_matches_finite_differences():
    spec = _spec("Linear", "Exponential", (("LogNormal", (0.5, 0.8)),))
    u = np.full((NG, NT), 0.1)

    def cost(x):
        mu = jnp.asarray(MU_PAR) * x[1]
        sigma = jnp.asarray(SIGMA_PAR) * x[2]
        return log_posterior(spec, x[:1], jnp.asarray(Q_SIM) * x[3], jnp.asarray(Q_OBS), jnp.asarray(u), mu, sigma).cost

    with jax.enable_x64(True):
        x = jnp.asarray([1.3, 0.9, 1.1, 0.95])
        grad = np.asarray(jax.grad(cost)(x))
        h = 1e-6
        fd = [(float(cost(x.at[i].add(h))) - float(cost(x.at[i].add(-h)))) / (2 * h) for i in range(4)]
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
