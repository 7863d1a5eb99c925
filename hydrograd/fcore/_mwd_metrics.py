"""smash's metric functions of two series, ``smash.fcore._mwd_metrics``, over hydrograd's metrics.

Each function takes ``(x, y)``: ``x`` the observed and ``y`` the simulated discharge, 1-D numpy
arrays, lists or scalars (one value), converted to float32 as smash's bindings convert them, and
returns a Python float holding the float32 value smash returns. The formulas are the core's
(``hydrograd.core.metrics``), evaluated in smash's single-precision arithmetic
(``hydrograd.simulation.evaluation.metric_values``).

Which steps count is smash's rule for these functions: a step is skipped where its observation is
negative (smash's missing value is -99); ``lgrm`` also skips a step where either value is 0 or
below. A NaN observation is not skipped, so it makes the result NaN (unless ``lgrm`` skips its
step), where hydrograd's own evaluation and costs treat it as missing. Without any counted step
the means are NaN and the sums (``se``, ``lgrm``) 0; a constant observation gives ``nse = -inf``
and an observation of 0 ``mape = inf``. Series of different lengths, or of more than one
dimension, are refused with a ``ValueError`` (smash reads past the end of the shorter one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hydrograd.core import metrics
from hydrograd.simulation.evaluation import metric_values

__all__ = ["kge", "lgrm", "mae", "mape", "mse", "nnse", "nse", "rmse", "se"]

_MIN_LENGTH = 64
"""Series are padded to the next power of two of their length, at least this."""


def _series(values: Any, name: str) -> np.ndarray:
    series = np.atleast_1d(np.asarray(values, dtype=np.float32))
    if series.ndim != 1:
        raise ValueError(f"{name} must be a 1-D series of discharge values, got an array of shape {series.shape}")
    return series


def _evaluate(metric: Callable, x: Any, y: Any, skips_nonpositive: bool = False) -> float:
    obs, sim = _series(x, "x (observed discharge)"), _series(y, "y (simulated discharge)")
    if obs.shape != sim.shape:
        raise ValueError(f"x (observed) and y (simulated) must have the same length, got {obs.size} and {sim.size}")
    read = ~(sim <= 0.0) if skips_nonpositive else np.ones(obs.shape, bool)
    if np.isnan(obs[read]).any():
        return float("nan")
    # Padded to a length of a few sizes, with missing observations that every metric skips (their
    # zero terms, added last, leave the sums unchanged), so that series of any length share a
    # handful of compiled programs.
    size = max(_MIN_LENGTH, 1 << (obs.size - 1).bit_length())
    padded_obs = np.full((1, size), -99.0, np.float32)
    padded_sim = np.zeros((1, size), np.float32)
    padded_obs[0, : obs.size], padded_sim[0, : sim.size] = obs, sim
    return float(metric_values((metric,), padded_obs, padded_sim)[0, 0])


def nse(x: Any, y: Any) -> float:
    """Nash-Sutcliffe efficiency of ``y`` (simulated) against ``x`` (observed), in (-inf, 1]."""
    return _evaluate(metrics.nse, x, y)


def nnse(x: Any, y: Any) -> float:
    """Normalised Nash-Sutcliffe efficiency, ``1 / (2 - nse)``, in (0, 1]."""
    return _evaluate(metrics.nnse, x, y)


def kge(x: Any, y: Any) -> float:
    """Kling-Gupta efficiency of ``y`` (simulated) against ``x`` (observed), in (-inf, 1]."""
    return _evaluate(metrics.kge, x, y)


def mae(x: Any, y: Any) -> float:
    """Mean absolute error (units of the series)."""
    return _evaluate(metrics.mae, x, y)


def mape(x: Any, y: Any) -> float:
    """Mean absolute percentage error, as a fraction of the observations."""
    return _evaluate(metrics.mape, x, y)


def se(x: Any, y: Any) -> float:
    """Sum of squared errors (squared units of the series)."""
    return _evaluate(metrics.se, x, y)


def mse(x: Any, y: Any) -> float:
    """Mean squared error (squared units of the series)."""
    return _evaluate(metrics.mse, x, y)


def rmse(x: Any, y: Any) -> float:
    """Root mean squared error (units of the series)."""
    return _evaluate(metrics.rmse, x, y)


def lgrm(x: Any, y: Any) -> float:
    """Logarithmic error ``sum(x ln(y / x)^2)`` over the steps where both are positive."""
    return _evaluate(metrics.lgrm, x, y, skips_nonpositive=True)
