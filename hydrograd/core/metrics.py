"""Efficiency and error metrics between observed and simulated discharge.

Every function takes ``obs`` and ``sim`` (m3/s) of shape ``(..., ntime)`` and reduces the last
axis. Observations below zero (smash's -99) or NaN are missing and excluded, together with the
simulated values at the same steps; simulated values are used as they are (a NaN spreads).

The arithmetic is smash's, operation for operation, so that single-precision metrics match its
compiled ones to the last digit: sums run in time order, one step after the other, with the
algebra smash uses (nse's ``1 - (Sxx - 2 Sxy + Syy) / (Sxx - n mean_x^2)``, kge's population
moments ``Sxx / n - mean_x^2``), and a product is fused into the addition that follows it (one
rounding, a fused multiply-add) exactly where smash's compiler fuses it: in nse's denominator,
in kge's sum of squares and in lgrm's accumulation. Under ``jit`` XLA fuses every product it can
into the next addition; :func:`_alone` keeps the others apart. Run outside ``jit``, nothing is
fused and those three can differ from smash in their last digit.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

Array = jnp.ndarray


@jax.custom_jvp
def _alone(x: Array) -> Array:
    """``x`` itself, rounded on its own: XLA can neither fuse the product that computes it into the
    operation that uses it nor merge the division that computes it with the next one (it rewrites
    ``(a / b) / c`` as ``a / (b c)`` and ``(a / n) / (b / n)`` as ``(a n) / (n b)``).
    ``nextafter(x, x)`` is ``x``, computed with integer operations."""
    return lax.nextafter(x, x)


@_alone.defjvp
def _alone_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    return _alone(primals[0]), tangents[0]


def _valid(obs: Array, sim: Array) -> tuple[Array, Array, Array, Array]:
    mask = obs >= 0.0
    x = jnp.where(mask, obs, 0.0)
    y = jnp.where(mask, sim, 0.0)
    return mask, x, y, mask.sum(-1).astype(obs.dtype)


def sequential_sum(*terms: Array) -> tuple[Array, ...]:
    """Sums over the last axis accumulated step by step in time order (as a Fortran loop does)."""
    stacked = jnp.stack(terms)
    moved = jnp.moveaxis(stacked, -1, 0)
    total, _ = lax.scan(lambda acc, value: (acc + value, None), jnp.zeros(moved.shape[1:], moved.dtype), moved)
    return tuple(total)


def nse(obs: Array, sim: Array) -> Array:
    """Nash-Sutcliffe efficiency, in (-inf, 1]; NaN without observations, ``-inf`` for constant ones."""
    _, x, y, n = _valid(obs, sim)
    sum_x, sum_xx, sum_yy, sum_xy = sequential_sum(x, x * x, y * y, x * y)
    num = sum_xx - 2.0 * sum_xy + sum_yy
    mean_x = _alone(sum_x / n)
    den = sum_xx - (n * mean_x) * mean_x
    return 1.0 - num / den


def nnse(obs: Array, sim: Array) -> Array:
    """Normalised NSE, ``1 / (2 - nse)``, in (0, 1]."""
    return 1.0 / (2.0 - nse(obs, sim))


def kge_components(obs: Array, sim: Array) -> tuple[Array, Array, Array]:
    """Correlation ``r``, variability ratio ``alpha`` (sim over obs) and bias ratio ``beta`` of the KGE."""
    _, x, y, n = _valid(obs, sim)
    sum_x, sum_y, sum_xx, sum_yy, sum_xy = sequential_sum(x, y, x * x, y * y, x * y)
    mean_x, mean_y = _alone(sum_x / n), _alone(sum_y / n)
    var_x = sum_xx / n - _alone(mean_x * mean_x)
    var_y = sum_yy / n - _alone(mean_y * mean_y)
    cov = sum_xy / n - _alone(mean_x * mean_y)
    std_x, std_y = jnp.sqrt(var_x), jnp.sqrt(var_y)
    return _alone(cov / std_x) / std_y, std_y / std_x, mean_y / mean_x


def kge(obs: Array, sim: Array) -> Array:
    """Kling-Gupta efficiency, in (-inf, 1]."""
    r, a, b = kge_components(obs, sim)
    squares = _alone((b - 1.0) * (b - 1.0)) + (r - 1.0) * (r - 1.0)
    return 1.0 - jnp.sqrt(squares + (a - 1.0) * (a - 1.0))


def mae(obs: Array, sim: Array) -> Array:
    """Mean absolute error (m3/s)."""
    mask, x, y, n = _valid(obs, sim)
    return sequential_sum(jnp.where(mask, jnp.abs(x - y), 0.0))[0] / n


def mape(obs: Array, sim: Array) -> Array:
    """Mean absolute percentage error (as a fraction); an observation of 0 makes it ``inf`` (or
    NaN where the simulation is 0 too), as in smash, with no gradient from that step."""
    mask, x, y, n = _valid(obs, sim)
    nonzero = x != 0.0
    ratio = jnp.abs((x - y) / jnp.where(nonzero, x, 1.0))
    term = jnp.where(nonzero, ratio, lax.stop_gradient(jnp.abs(x - y) / x))
    return sequential_sum(jnp.where(mask, term, 0.0))[0] / n


def _fused_sum(a: Array, b: Array) -> Array:
    """``sum(a b)`` over the last axis in time order, each step ``acc + a b`` one fused multiply-add
    (under ``jit``), as smash's compiled loops accumulate ``se`` and ``lgrm``."""
    pairs = (jnp.moveaxis(a, -1, 0), jnp.moveaxis(b, -1, 0))
    zero = jnp.zeros(pairs[0].shape[1:], pairs[0].dtype)
    total, _ = lax.scan(lambda acc, pair: (acc + pair[0] * pair[1], None), zero, pairs)
    return total


def se(obs: Array, sim: Array) -> Array:
    """Sum of squared errors (m6/s2), not divided by the number of observations."""
    _, x, y, _ = _valid(obs, sim)
    return _fused_sum(x - y, x - y)


def mse(obs: Array, sim: Array) -> Array:
    """Mean squared error (m6/s2)."""
    return se(obs, sim) / _valid(obs, sim)[3]


def rmse(obs: Array, sim: Array) -> Array:
    """Root mean squared error (m3/s)."""
    return jnp.sqrt(mse(obs, sim))


def _positive(x: Array) -> Array:
    """``x > 0``, read from the bits: true for subnormal ``x`` too, which XLA's CPU runtime reads as
    0 (it flushes subnormal numbers to zero), and for NaN with a clear sign bit."""
    width = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[x.dtype.itemsize]
    return lax.bitcast_convert_type(x, width) > 0


def _split(x: Array) -> tuple[Array, Array]:
    """``(m, e)`` with ``x = m 2^e`` exactly, ``m`` in [1, 2) (float32) and ``e`` an int32, for a
    positive finite float32 ``x``, subnormal ones included (their bits, not their value, which
    the CPU runtime reads as 0)."""
    bits = lax.bitcast_convert_type(x, jnp.int32)
    field = (bits >> 23) & 0xFF
    subnormal = field == 0
    scaled = lax.bitcast_convert_type((bits & 0x7FFFFF).astype(jnp.float32), jnp.int32)
    source = jnp.where(subnormal, scaled, bits)
    mantissa = lax.bitcast_convert_type((source & 0x7FFFFF) | 0x3F800000, jnp.float32)
    exponent = jnp.where(subnormal, ((scaled >> 23) & 0xFF) - 127 - 149, field - 127)
    return mantissa, exponent


def _power_of_two(e: Array) -> Array:
    """``2^e`` as float32 for an int32 ``e`` in [-126, 127]."""
    return lax.bitcast_convert_type((e + 127) << 23, jnp.float32)


def _wide_log(x: Array) -> Array:
    """``log(x)`` in float64 when JAX has it (``jax.enable_x64``), else in ``x``'s precision. The
    float64 logarithm rounded to float32 is the correctly rounded one, which is what the C
    library's ``logf`` behind smash gives in all but rare cases; XLA's float32 logarithm differs
    from it in the last digit for about one value in twelve."""
    return jnp.log(x.astype(jax.dtypes.canonicalize_dtype(jnp.float64)))


@jax.custom_jvp
def _log_ratio(sim: Array, obs: Array) -> Array:
    """``log(sim / obs)`` for positive ``sim`` and ``obs``, the quotient rounded as single
    precision rounds it, gradual underflow included: a quotient below the smallest normal
    float32 number (``2^-126``) keeps the multiple of ``2^-149`` it rounds to, and one that
    rounds to 0 gives ``-inf``, as in smash, where XLA's CPU runtime would flush it to 0. Subnormal
    ``sim`` and ``obs`` count with their own value; infinite and NaN ones give what ``log`` gives.
    Other dtypes divide as they are."""
    if sim.dtype != jnp.float32:
        return jnp.log(sim / obs)
    m_sim, e_sim = _split(sim)
    m_obs, e_obs = _split(obs)
    q = m_sim / m_obs
    e = e_sim - e_obs
    normal = (e > -126) | ((e == -126) & (q >= 1.0))
    half = jnp.clip(e // 2, -126, 127)
    quotient = q * _power_of_two(half) * _power_of_two(jnp.clip(e - half, -126, 127))
    steps = jnp.round(q * _power_of_two(jnp.clip(e + 149, -126, 127)))
    steps = jnp.where(e + 149 < -1, 0.0, steps)
    wide = _wide_log(jnp.where(normal, quotient, 1.0))
    underflow = _wide_log(jnp.where(steps > 0.0, steps, 1.0)) - 149.0 * math.log(2.0)
    log_ratio = jnp.where(normal, wide, jnp.where(steps > 0.0, underflow, -jnp.inf)).astype(sim.dtype)
    special = ~(jnp.isfinite(sim) & jnp.isfinite(obs))
    return jnp.where(special, jnp.log(sim / obs), log_ratio)


@_log_ratio.defjvp
def _log_ratio_jvp(primals: tuple[Array, Array], tangents: tuple[Array, Array]) -> tuple[Array, Array]:
    (sim, obs), (d_sim, d_obs) = primals, tangents

    def relative(d, v):
        positive = v > 0.0
        return jnp.where(positive, d / jnp.where(positive, v, 1.0), 0.0)

    return _log_ratio(sim, obs), relative(d_sim, sim) - relative(d_obs, obs)


def lgrm(obs: Array, sim: Array) -> Array:
    """Logarithmic error ``sum(obs * log(sim / obs)^2)`` (m3/s, not divided by the number of
    steps) over the steps where both are positive; subnormal values count (see
    :func:`_log_ratio`), a NaN simulation spreads. Each step adds ``(obs log) log`` to the sum in
    one fused multiply-add, as smash's compiled loop does."""
    both = _positive(obs) & ~jnp.isnan(obs) & (_positive(sim) | jnp.isnan(sim))
    x = jnp.where(both, obs, 1.0)
    log_ratio = _log_ratio(jnp.where(both, sim, 1.0), x)
    # x log is infinite with log (x > 0), also where x is subnormal and so read as 0.
    weighted = jnp.where(jnp.isinf(log_ratio), log_ratio, x * log_ratio)
    return _fused_sum(jnp.where(both, weighted, 0.0), jnp.where(both, log_ratio, 0.0))


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
"""The metrics smash evaluates and calibrates on, by name (``se`` is a function of this module
but neither an evaluation metric nor a cost component in smash)."""

# Metrics whose best value is 1 enter a cost as ``1 - metric``; the others as they are.
EFFICIENCIES = frozenset({"nse", "nnse", "kge"})
