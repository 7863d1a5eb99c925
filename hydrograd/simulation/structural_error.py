"""The structural error's mean and deviation of a simulated discharge (``Model.get_serr_mu``,
``Model.get_serr_sigma``), computed as smash does: discharge and parameters widened to float64,
the mapping of ``hydrograd.core.structural_error`` applied, the result rounded to float32."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd.core.structural_error import error_deviation, error_mean


def _in_double(function, mapping: str, par: np.ndarray, q: np.ndarray) -> np.ndarray:
    with jax.enable_x64(True):
        value = function(mapping, jnp.asarray(par, jnp.float64), jnp.asarray(q, jnp.float64))
        return np.asarray(value).astype(np.float32)


def serr_mu(mapping: str, par: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``mu`` ``(ng, ntime_step)`` float32 (m3/s) of mean mapping ``mapping`` with parameters
    ``par`` ``(ng, n)`` for discharge ``q`` ``(ng, ntime_step)`` m3/s (whatever it holds, smash's
    -99 of a model never run included)."""
    return _in_double(error_mean, mapping, par, q)


def serr_sigma(mapping: str, par: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``sigma`` ``(ng, ntime_step)`` float32 (m3/s) of deviation mapping ``mapping`` with
    parameters ``par`` ``(ng, n)`` for discharge ``q`` ``(ng, ntime_step)`` m3/s."""
    return _in_double(error_deviation, mapping, par, q)
