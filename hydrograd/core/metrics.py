"""Efficiency and error metrics between observed and simulated discharge.

Every function takes ``obs`` and ``sim`` of shape ``(..., ntime)`` and reduces the last axis.
Observations below zero (smash's -99) or NaN are missing and excluded, together with the
simulated values at the same steps. Sums run in time order, one step after the other, with
the algebra smash uses, so that single-precision costs match smash's to the printed digit.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

Array = jnp.ndarray


def _valid(obs: Array, sim: Array) -> tuple[Array, Array, Array, Array]:
    mask = obs >= 0.0
    x = jnp.where(mask, obs, 0.0)
    y = jnp.where(mask, sim, 0.0)
    return mask, x, y, mask.sum(-1).astype(obs.dtype)


def sequential_sum(*terms: Array) -> tuple[Array, ...]:
    """Sums over the last axis accumulated step by step in time order (as a Fortran loop does)."""
    stacked = jnp.stack(terms)
    moved = jnp.moveaxis(stacked, -1, 0)
    total, _ = lax.scan(lambda acc, value: (acc + value, None), jnp.zeros_like(moved[0]), moved)
    return tuple(total)


def nse(obs: Array, sim: Array) -> Array:
    """Nash-Sutcliffe efficiency, in (-inf, 1]."""
    _, x, y, n = _valid(obs, sim)
    sum_x, sum_xx, sum_yy, sum_xy = sequential_sum(x, x * x, y * y, x * y)
    num = sum_xx - 2.0 * sum_xy + sum_yy
    mean_x = sum_x / n
    den = sum_xx - n * mean_x * mean_x
    return 1.0 - num / den


def nnse(obs: Array, sim: Array) -> Array:
    """Normalised NSE, ``1 / (2 - nse)``, in (0, 1]."""
    return 1.0 / (2.0 - nse(obs, sim))


def kge_components(obs: Array, sim: Array) -> tuple[Array, Array, Array]:
    """Correlation ``r``, variability ratio ``alpha`` and bias ratio ``beta`` of the KGE."""
    _, x, y, n = _valid(obs, sim)
    sum_x, sum_y, sum_xx, sum_yy, sum_xy = sequential_sum(x, y, x * x, y * y, x * y)
    mean_x, mean_y = sum_x / n, sum_y / n
    var_x = sum_xx / n - mean_x * mean_x
    var_y = sum_yy / n - mean_y * mean_y
    cov = sum_xy / n - mean_x * mean_y
    std_x, std_y = jnp.sqrt(var_x), jnp.sqrt(var_y)
    return cov / std_x / std_y, std_y / std_x, mean_y / mean_x


def kge(obs: Array, sim: Array) -> Array:
    """Kling-Gupta efficiency, in (-inf, 1]."""
    r, a, b = kge_components(obs, sim)
    return 1.0 - jnp.sqrt((r - 1.0) ** 2 + (b - 1.0) ** 2 + (a - 1.0) ** 2)


def mae(obs: Array, sim: Array) -> Array:
    """Mean absolute error (m3/s)."""
    mask, x, y, n = _valid(obs, sim)
    return sequential_sum(jnp.where(mask, jnp.abs(x - y), 0.0))[0] / n


def mape(obs: Array, sim: Array) -> Array:
    """Mean absolute percentage error (as a fraction)."""
    mask, x, y, n = _valid(obs, sim)
    safe_x = jnp.where(mask & (x != 0.0), x, 1.0)
    return sequential_sum(jnp.where(mask, jnp.abs((x - y) / safe_x), 0.0))[0] / n


def mse(obs: Array, sim: Array) -> Array:
    """Mean squared error (m6/s2)."""
    _, x, y, n = _valid(obs, sim)
    return sequential_sum((x - y) ** 2)[0] / n


def rmse(obs: Array, sim: Array) -> Array:
    """Root mean squared error (m3/s)."""
    return jnp.sqrt(mse(obs, sim))


def lgrm(obs: Array, sim: Array) -> Array:
    """Logarithmic error ``sum(obs * log(sim/obs)^2)`` over steps where both are positive."""
    both = (obs > 0.0) & (sim > 0.0)
    x = jnp.where(both, obs, 1.0)
    y = jnp.where(both, sim, 1.0)
    return sequential_sum(jnp.where(both, x * jnp.log(y / x) ** 2, 0.0))[0]


METRICS = {
    "nse": nse,
    "nnse": nnse,
    "kge": kge,
    "mae": mae,
    "mape": mape,
    "mse": mse,
    "rmse": rmse,
    "lgrm": lgrm,
}

# Metrics whose best value is 1 enter a cost as ``1 - metric``; the others as they are.
EFFICIENCIES = frozenset({"nse", "nnse", "kge"})
