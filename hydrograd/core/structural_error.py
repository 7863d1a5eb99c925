"""The structural-error model of Bayesian calibration and its log-posterior (smash's
``bayesian_optimize``).

Observed discharge at a gauge is the simulated discharge ``q`` plus a Gaussian error of mean
``mu(q)`` and deviation ``sigma(q)`` (both m3/s), widened by the observation's own deviation
``u`` (``u_response_data.q_stdev``):

    log L = -1/2 sum_{t, g} [ log(2 pi) + log(v) + (q_obs - q - mu)^2 / v ],  v = sigma^2 + u^2

over the steps where both ``q_obs`` and ``u`` are known (>= 0). ``mu`` and ``sigma`` follow the
mappings below, with one set of parameters per gauge (``mg0``, ``mg1``; ``sg0``, ``sg1``,
``sg2``). Priors on the control vector's raw values add ``log p(theta)``; the cost a
calibration minimises is ``-(log L + log p) / n`` with ``n`` the number of (step, gauge) pairs
of the cost window. Outside the model's support (``v <= 0``, a value outside a prior's support)
the cost is smash's ``-undef / n`` with ``undef = -999999999``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp

Array = jnp.ndarray

UNDEFINED = -999999999.0
"""smash's undefined log-posterior (outside the model's or a prior's support)."""


class ErrorMapping(NamedTuple):
    """One way of making ``mu`` or ``sigma`` depend on the simulated discharge: the parameters it
    takes (in order) and ``apply(par, q)``, ``par`` shaped ``(n_parameters, ...)`` broadcasting
    against ``q`` (m3/s)."""

    parameters: tuple[str, ...]
    apply: Callable[[Array, Array], Array]


def _saturating(power: int) -> Callable[[Array, Array], Array]:
    """``sg0 + (sg2 - sg0) (1 - exp(-(|q| / sg1)^power))``: ``sg0`` at no flow, ``sg2`` at high flows."""

    def apply(par, q):
        return par[0] + (par[2] - par[0]) * (1.0 - jnp.exp(-((jnp.abs(q) / par[1]) ** power)))

    return apply


MU_MAPPINGS: dict[str, ErrorMapping] = {
    "Zero": ErrorMapping((), lambda par, q: jnp.zeros_like(q)),
    "Constant": ErrorMapping(("mg0",), lambda par, q: par[0] + 0.0 * q),
    "Linear": ErrorMapping(("mg0", "mg1"), lambda par, q: par[0] + par[1] * q),
}
"""Mean of the structural error (``setup["serr_mu_mapping"]``)."""

SIGMA_MAPPINGS: dict[str, ErrorMapping] = {
    "Constant": ErrorMapping(("sg0",), lambda par, q: par[0] + 0.0 * q),
    "Linear": ErrorMapping(("sg0", "sg1"), lambda par, q: par[0] + par[1] * jnp.abs(q)),
    "Power": ErrorMapping(("sg0", "sg1", "sg2"), lambda par, q: par[0] + par[1] * jnp.abs(q) ** par[2]),
    "Exponential": ErrorMapping(("sg0", "sg1", "sg2"), _saturating(1)),
    "Gaussian": ErrorMapping(("sg0", "sg1", "sg2"), _saturating(2)),
}
"""Standard deviation of the structural error (``setup["serr_sigma_mapping"]``)."""


class Prior(NamedTuple):
    """A prior distribution of one control value: its parameter names, whether a parameter
    vector is valid, and ``log_pdf(x, par) -> (log density, inside the support)``."""

    parameters: tuple[str, ...]
    valid: Callable[[tuple[float, ...]], bool]
    log_pdf: Callable[[Array, tuple[float, ...]], tuple[Array, Array]]


_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _inside(x: Array) -> Array:
    return jnp.ones_like(x, dtype=bool)


def _flat(x, par):
    return jnp.zeros_like(x), _inside(x)


def _gaussian(x, par):
    mean, sd = par
    return -_HALF_LOG_2PI - math.log(sd) - 0.5 * ((x - mean) / sd) ** 2, _inside(x)


def _lognormal(x, par):
    mean_log, sd_log = par
    positive = x > 0
    safe = jnp.where(positive, x, 1.0)
    value = -_HALF_LOG_2PI - jnp.log(safe * sd_log) - 0.5 * ((jnp.log(safe) - mean_log) / sd_log) ** 2
    return value, positive


def _exponential(x, par):
    threshold, scale = par
    return -math.log(scale) - (x - threshold) / scale, x >= threshold


def _uniform(x, par):
    low, high = par
    return jnp.full_like(x, -math.log(high - low)), (x >= low) & (x <= high)


def _triangle(x, par):
    peak, low, high = par
    rising = jnp.log(jnp.maximum(x - low, 1e-300)) - math.log(peak - low)
    falling = jnp.log(jnp.maximum(high - x, 1e-300)) - math.log(high - peak)
    value = math.log(2.0) - math.log(high - low) + jnp.where(x <= peak, rising, falling)
    return value, (x >= low) & (x <= high)


PRIORS: dict[str, Prior] = {
    "FlatPrior": Prior((), lambda par: True, _flat),
    "Uniform": Prior(("lower_bound", "higher_bound"), lambda par: par[1] > par[0], _uniform),
    "Gaussian": Prior(("mean", "standard_deviation"), lambda par: par[1] > 0, _gaussian),
    "Exponential": Prior(("threshold", "scale"), lambda par: par[1] > 0, _exponential),
    "LogNormal": Prior(("mean_log", "standard_deviation_log"), lambda par: par[1] > 0, _lognormal),
    "Triangle": Prior(("peak", "lower_bound", "higher_bound"), lambda par: par[1] < par[0] < par[2], _triangle),
}
"""Prior distributions of ``cost_options["control_prior"]`` (smash's order)."""


class BayesianCost(NamedTuple):
    """Static description of the Bayesian cost (hashable, a ``jit`` static argument):
    the structural-error mappings, the ``priors`` of the control's leading entries (one
    ``(distribution, parameters)`` pair each), the ``gauges`` taking part and the first step of
    the cost window ``start``."""

    mu_mapping: str
    sigma_mapping: str
    priors: tuple[tuple[str, tuple[float, ...]], ...]
    gauges: tuple[int, ...]
    start: int


class LogPosterior(NamedTuple):
    """The terms of the cost: ``cost = -(log_lkh + log_prior + log_h) / n`` (``UNDEFINED`` taken
    for the sum outside the support, where ``feasible`` is False)."""

    cost: Array
    log_lkh: Array
    log_prior: Array
    log_h: Array
    feasible: Array


def error_mean(mapping: str, par: Array, q: Array) -> Array:
    """``mu`` (m3/s) for discharge ``q`` ``(ng, ntime)`` and parameters ``par`` ``(ng, n)``."""
    return MU_MAPPINGS[mapping].apply(par.T[..., None], q)


def error_deviation(mapping: str, par: Array, q: Array) -> Array:
    """``sigma`` (m3/s) for discharge ``q`` ``(ng, ntime)`` and parameters ``par`` ``(ng, n)``."""
    return SIGMA_MAPPINGS[mapping].apply(par.T[..., None], q)


def log_likelihood(
    spec: BayesianCost, q_sim: Array, q_obs: Array, q_stdev: Array, mu_par: Array, sigma_par: Array
) -> tuple[Array, Array]:
    """``(log L, feasible)`` over the gauges and window of ``spec``; discharges and deviations
    ``(ng, ntime)`` m3/s, error parameters ``(ng, n)``."""
    idx = jnp.asarray(spec.gauges, dtype=jnp.int32)
    sim = q_sim[idx, spec.start :]
    obs = q_obs[idx, spec.start :].astype(sim.dtype)
    u = q_stdev[idx, spec.start :].astype(sim.dtype)
    mu = error_mean(spec.mu_mapping, mu_par[idx].astype(sim.dtype), sim)
    sigma = error_deviation(spec.sigma_mapping, sigma_par[idx].astype(sim.dtype), sim)
    known = (obs >= 0) & (u >= 0)
    v = sigma**2 + u**2
    safe_v = jnp.where(known & (v > 0), v, 1.0)
    terms = -0.5 * (math.log(2.0 * math.pi) + jnp.log(safe_v) + (obs - sim - mu) ** 2 / safe_v)
    feasible = ~jnp.any(known & (v <= 0))
    return jnp.sum(jnp.where(known, terms, 0.0)), feasible


def log_prior(spec: BayesianCost, theta: Array) -> tuple[Array, Array]:
    """``(log p(theta), inside every prior's support)`` for the raw control values ``theta``
    (the leading ``len(spec.priors)`` entries: parameters and initial states)."""
    total = jnp.zeros((), theta.dtype)
    inside = jnp.ones((), bool)
    for i, (name, par) in enumerate(spec.priors):
        if name == "FlatPrior":
            continue
        value, ok = PRIORS[name].log_pdf(theta[i], par)
        total = total + jnp.where(ok, value, 0.0)
        inside = inside & ok
    return total, inside


def log_posterior(
    spec: BayesianCost,
    theta: Array,
    q_sim: Array,
    q_obs: Array,
    q_stdev: Array,
    mu_par: Array,
    sigma_par: Array,
) -> LogPosterior:
    """The Bayesian cost and its terms (see the module docstring)."""
    prior, inside = log_prior(spec, theta)
    lkh, feasible = log_likelihood(spec, q_sim, q_obs, q_stdev, mu_par, sigma_par)
    ok = inside & feasible
    n = len(spec.gauges) * (q_sim.shape[-1] - spec.start)
    log_h = jnp.zeros((), lkh.dtype)
    post = jnp.where(ok, lkh + prior + log_h, UNDEFINED)
    return LogPosterior(-post / n, lkh, prior, log_h, ok)
